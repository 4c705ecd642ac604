//! Fixture programs run inside a new PID and mount namespace (`unshare --fork --pid
//! --mount-proc`), as in a container, optionally chrooted into a root holding only the program
//! and its libraries. The program is pid 1 there; the test knows it by its host pid.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A directory holding `exe` as `/NAME` and the libraries it loads (from `ldd`), to chroot
/// into. Removed on drop.
pub struct Root(pub PathBuf);

impl Root {
    pub fn with(exe: &Path) -> Root {
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        let dir = std::env::temp_dir().join(format!(
            "hangscan-root-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let copy = |from: &Path| {
            let to = dir.join(from.strip_prefix("/").unwrap_or(from));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, &to).unwrap();
        };
        std::fs::copy(exe, dir.join(&name)).unwrap();
        let ldd = Command::new("ldd").arg(exe).output().expect("ldd runs");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            // `libc.so.6 => /lib/.../libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`
            let path = line.split_whitespace().find(|w| w.starts_with('/'));
            if let Some(p) = path {
                copy(Path::new(p));
            }
        }
        Root(dir)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fixture running inside new PID and mount namespaces, having printed `READY 1`. Its
/// namespace (and so the program) ends on drop.
pub struct Namespaced {
    /// The program's pid on the host.
    pub pid: u32,
    unshare: Child,
}

impl Namespaced {
    /// Runs `exe` in new namespaces; chrooted into `root` (then `exe` is its file name there).
    pub fn start(exe: &Path, root: Option<&Root>) -> Namespaced {
        Self::start_with(exe, &[], root)
    }

    /// [`Namespaced::start`], `exe` given `args` (a script for an interpreter).
    pub fn start_with(exe: &Path, args: &[&Path], root: Option<&Root>) -> Namespaced {
        let mut command = Command::new("unshare");
        command.args(["--fork", "--pid", "--mount-proc"]);
        match root {
            Some(r) => {
                let name = exe.file_name().unwrap().to_string_lossy();
                command.arg("--root").arg(&r.0).arg(format!("/{name}"));
            }
            None => {
                command.arg(exe);
            }
        }
        command.args(args);
        let mut unshare = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run unshare");
        let stdout = unshare.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("READY ") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(line);
                    }
                }
            }
        });
        let u = unshare.id();
        let mut me = Namespaced { pid: 0, unshare };
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{} did not get READY in its namespace", exe.display()));
        assert_eq!(line, "READY 1", "the program is pid 1 in its namespace");
        let children = std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).unwrap();
        me.pid = children.trim().parse().expect("unshare's one child");
        // main prints READY just before its last blocking call: let it get there.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && super::state_letter(me.pid) != Some('S') {
            std::thread::sleep(Duration::from_millis(5));
        }
        me
    }
}

impl Drop for Namespaced {
    fn drop(&mut self) {
        if self.pid != 0 {
            // The namespace's init: the kernel ends every process in it.
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
