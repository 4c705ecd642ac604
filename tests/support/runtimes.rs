//! Fixtures on a language runtime, built by its own toolchain (`javac`, `go build`) and made to
//! write their runtime's own dump to standard error, which these helpers send to a file: a Go
//! program's goroutines on SIGQUIT or in its fatal error, CPython's faulthandler on SIGUSR1, a
//! JVM's threads on SIGQUIT; the dump is read back once whole.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `fixtures/programs/LANGUAGE`.
pub fn programs(language: &str) -> PathBuf {
    super::programs_dir().join(language)
}

/// Runs `command` to build a fixture; panics with its output when it fails.
pub fn build(command: &mut Command) {
    let out = command.output().expect("the compiler runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `javac`s `Ready.java` and the `sources` of `fixtures/programs/java` into `classes`.
pub fn javac(classes: &Path, sources: &[&str]) {
    let mut javac = Command::new("javac");
    javac.arg("-d").arg(classes).arg("Ready.java").args(sources);
    build(javac.current_dir(programs("java")));
}

/// `java -cp CLASSES NAME`.
pub fn java(classes: &Path, name: &str) -> Command {
    let mut java = Command::new("java");
    java.arg("-cp").arg(classes).arg(name);
    java
}

/// Where Debian's `golang-*-dev` packages put Go sources (golang.org/x/sync): the GOPATH the Go
/// fixtures are built in, with no module download (the module proxy is out of reach).
pub const GOPATH: &str = "/usr/share/gocode";

/// `go build`s `fixtures/programs/go/NAME.go` into `dir`, in GOPATH mode on [`GOPATH`].
pub fn build_go(dir: &Path, name: &str) -> PathBuf {
    build_go_with(dir, name, "")
}

/// [`build_go`] with the linker's flags `ldflags` (`-s -w`: no symbol table, no DWARF).
pub fn build_go_with(dir: &Path, name: &str, ldflags: &str) -> PathBuf {
    let exe = dir.join(name);
    let mut go = Command::new("go");
    go.args(["build", "-ldflags", ldflags, "-o"])
        .arg(&exe)
        .arg(programs("go").join(format!("{name}.go")))
        .env("GOCACHE", dir.join("cache"))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH);
    build(&mut go);
    exe
}

/// `command` run with its standard error sent to `file` (where a runtime writes its own dump
/// on a signal), same process id.
pub fn with_stderr_to(file: &Path, command: &[&Path]) -> Command {
    let mut sh = Command::new("sh");
    sh.args(["-c", "exec \"$@\" 2>\"$0\""])
        .arg(file)
        .args(command);
    sh
}

/// Sends `signal` (`-QUIT`, `-USR1`) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

/// The goroutine dump of a Go program started with its standard error sent to `err`
/// ([`with_stderr_to`]): SIGQUIT makes the runtime write it and exit, which is waited for.
pub fn quit_go(hung: &mut super::HungProcess, err: &Path) -> String {
    signal(hung.pid, "-QUIT");
    hung.wait();
    std::fs::read_to_string(err).unwrap()
}

/// The dump in `file` once it holds its last line, `until` (the runtime writes it as soon as it
/// handles the signal; bounded only so that a broken test ends, not a timing assertion).
pub fn dump_in(file: &Path, until: &str) -> String {
    for _ in 0..500 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(until) {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no dump in {}", file.display());
}
