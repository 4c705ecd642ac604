//! What a test needs from the machine (a tool: gdb, gcore, eu-stack, a JDK, `unshare`; a library
//! by its pkg-config package; or root)
//! and what happens when it is missing: under `CI` (the env var set) the test fails, so a test
//! cannot pass there by not running; elsewhere it says loudly on stderr that it skipped.

use std::io::Write;
use std::process::{Command, Stdio};

/// Whether `need` is here: `"gdb"`, `"gcore"`, `"eu-stack"`, `"llvm-dwp"`, `"jdk"` (javac, java and jstack),
/// `"python3"`, `"py-spy"`, `"debian-python3.11"` (Debian's `/usr/bin/python3.11` and its
/// headers, python3.11 and python3.11-dev), `"go"` (the Go toolchain), `"go-errgroup"` (the Go toolchain and
/// golang.org/x/sync's source as Debian's golang-golang-x-sync-dev installs it, for GOPATH builds),
/// `"unshare"` (PID and mount namespaces: `unshare --fork --pid --mount-proc`), `"unshare-user"`
/// (a user namespace: `unshare --user --map-root-user`), `"strace"`, `"root"`, or a
/// library fixtures are built against, by its pkg-config package (`"glib-2.0"`,
/// `"absl_synchronization"`, `"Qt5Core"`, `"Qt5Concurrent"`, `"tbb"`, `"libuv"`, `"grpc++"`,
/// `"python-3.11-embed"`: Debian's libpython3.11 to embed), or
/// `"boost-thread"` (Boost.Thread's headers and library, which have no pkg-config file), or
/// `"boost-asio"` (Boost.Asio's headers: header-only, with Boost.System's).
/// When it is not, see [`skip`]: the caller returns, outside CI only.
pub fn require(need: &str) -> bool {
    let here = match need {
        "gdb" | "eu-stack" | "llvm-dwp" | "python3" | "py-spy" | "strace" => {
            runs(need, &["--version"])
        }
        // The distribution's CPython as Debian ships it (stripped), and its headers.
        "debian-python3.11" => {
            runs("/usr/bin/python3.11", &["--version"])
                && std::path::Path::new("/usr/include/python3.11/internal/pycore_frame.h").exists()
        }
        "go" => runs("go", &["version"]),
        "go-errgroup" => {
            runs("go", &["version"])
                && std::path::Path::new(super::runtimes::GOPATH)
                    .join("src/golang.org/x/sync/errgroup")
                    .is_dir()
        }
        // A shell script shipped with gdb: it has no `--version`.
        "gcore" => runs("gdb", &["--version"]) && runs("sh", &["-c", "command -v gcore"]),
        // `jstack -version` is an error: its help is what succeeds.
        "jdk" => {
            runs("javac", &["-version"]) && runs("java", &["-version"]) && runs("jstack", &["-h"])
        }
        "unshare" => runs("unshare", &["--fork", "--pid", "--mount-proc", "true"]),
        "unshare-user" => runs("unshare", &["--user", "--map-root-user", "true"]),
        // util-linux's `script`: runs a command on a terminal of its own.
        "script" => runs("script", &["--version"]),
        "root" => std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")),
        "glib-2.0"
        | "absl_synchronization"
        | "Qt5Core"
        | "Qt5Concurrent"
        | "tbb"
        | "libuv"
        | "grpc++"
        | "python-3.11-embed" => runs("pkg-config", &["--exists", need]),
        // Boost.Thread: its headers, and its library (a shared_mutex needs it).
        "boost-thread" => runs(
            "sh",
            &[
                "-c",
                "printf '#include <boost/thread/shared_mutex.hpp>\\nint main() { \
                 boost::shared_mutex m; m.lock(); m.unlock(); }\\n' \
                 | g++ -x c++ - -lboost_thread -o /dev/null",
            ],
        ),
        // Boost.Asio: header-only; a thread_pool builds with its headers alone.
        "boost-asio" => runs(
            "sh",
            &[
                "-c",
                "printf '#include <boost/asio/thread_pool.hpp>\\nint main() { \
                 boost::asio::thread_pool p(1); p.join(); }\\n' \
                 | g++ -x c++ - -pthread -o /dev/null",
            ],
        ),
        other => panic!("support::require: unknown need {other:?}"),
    };
    if !here {
        skip(&format!("no {need}"));
    }
    here
}

/// The test cannot run here, for `why` (a missing tool, or a setting such as no kernel thread
/// in sight): fails under `CI`; elsewhere prints `SKIPPED (why): the test's name` on stderr,
/// past the harness's capture.
pub fn skip(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs what is missing here ({why}): required when CI is set (.ci/run installs the tools)"
    );
    // Straight to the process's stderr: the test harness captures `eprintln!` of a test that
    // passes, which would hide the skip.
    let _ = writeln!(std::io::stderr(), "SKIPPED ({why}): {test}");
}

/// Whether `program ARGS` runs and succeeds.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
