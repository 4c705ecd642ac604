//! Opening a target's files without letting the target choose what is opened. A path under a
//! target's root (`/proc/PID/root/...`: its mapped objects' fallback, its debug files) is
//! resolved inside that root (`openat2` with `RESOLVE_IN_ROOT`): an absolute symlink or a `..`
//! the target planted cannot lead to a host file. Every file is first opened as a bare handle
//! (`O_PATH`, which opens nothing) and read only if it is a regular file: a FIFO would block
//! hangscan forever and a device node could act on being opened.

use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Opens `path` for reading, as described above; the error says why in words.
pub(crate) fn open_regular(path: &Path) -> Result<File, String> {
    let fail = |e: nix::Error| format!("cannot open {}: {}", path.display(), e.desc());
    let handle = match split_target_root(path) {
        Some((root, inside)) => open_in_root(&root, inside).map_err(fail)?,
        None => open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(fail)?,
    };
    let st = fstat(&handle).map_err(fail)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(format!("{} is not a regular file", path.display()));
    }
    // Reopen the very inode the handle names, now for reading.
    let fd = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    open(fd.as_str(), flags, Mode::empty())
        .map(File::from)
        .map_err(fail)
}

/// `/proc/PID/root` and the rest of the path, for a path inside a target's root.
fn split_target_root(path: &Path) -> Option<(PathBuf, &Path)> {
    let mut parts = path.components();
    let (Some(Component::RootDir), Some(proc_), Some(Component::Normal(pid)), Some(root)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let is_pid = pid
        .to_str()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (proc_.as_os_str() == "proc" && is_pid && root.as_os_str() == "root")
        .then(|| (Path::new("/proc").join(pid).join("root"), parts.as_path()))
}

#[cfg(target_os = "linux")]
fn open_in_root(root: &Path, inside: &Path) -> nix::Result<OwnedFd> {
    use nix::fcntl::{openat2, OpenHow, ResolveFlag};
    let dir = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(&dir, inside, how)
}

#[cfg(not(target_os = "linux"))]
fn open_in_root(root: &Path, inside: &Path) -> nix::Result<OwnedFd> {
    open(
        &root.join(inside),
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hangscan-open-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fifo_or_a_directory_is_refused_without_blocking() {
        let dir = scratch("fifo");
        let fifo = dir.join("lib.so");
        nix::unistd::mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        let err = open_regular(&fifo).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(open_regular(&dir).is_err());
        std::fs::write(dir.join("real"), b"x").unwrap();
        assert!(open_regular(&dir.join("real")).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A process chrooted into a directory where `lib.so` is an absolute symlink to a host
    /// file and `up` climbs with `..`: through its `/proc/PID/root`, neither leaves the chroot.
    #[test]
    fn a_targets_symlinks_and_dotdots_stay_inside_its_root() {
        let dir = scratch("root");
        let secret = dir.join("host-secret");
        std::fs::write(&secret, b"host").unwrap();
        let root = dir.join("target");
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("usr/lib/own.so"), b"target's own").unwrap();
        symlink(&secret, root.join("usr/lib/lib.so")).unwrap();
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: chroot needs root");
            return;
        }
        let path = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: the child only makes system calls (chroot, pause, _exit) before it is killed.
        let guard = match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                if libc::chroot(path.as_ptr()) != 0 {
                    libc::_exit(1);
                }
                loop {
                    libc::pause();
                }
            },
            nix::unistd::ForkResult::Parent { child } => Chrooted(child),
        };
        let child = guard.0;
        let in_root = |rel: &str| PathBuf::from(format!("/proc/{child}/root/{rel}"));
        // Wait for the chroot to take effect.
        for _ in 0..2000 {
            if in_root("usr/lib/own.so").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let read = |rel: &str| {
            open_regular(&in_root(rel)).map(|mut f| {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut f, &mut s).unwrap();
                s
            })
        };
        assert_eq!(read("usr/lib/own.so").unwrap(), "target's own");
        assert!(
            read("usr/lib/lib.so").is_err(),
            "the symlink points inside the root"
        );
        let climb = format!("../../../..{}", secret.display());
        assert!(read(&climb).is_err(), "`..` stops at the root");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The chrooted child, killed however the test ends (it shares the harness's stdout).
    struct Chrooted(nix::unistd::Pid);

    impl Drop for Chrooted {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(self.0, None);
        }
    }
}
