//! The ids a core's threads have inside the process's own PID namespace. gdb's `gcore` run on
//! the host writes host tids in `NT_PRSTATUS`, while the process's memory (lock owners, futex
//! words, join targets) holds the ids of the namespace it lives in (a container). glibc keeps
//! each thread's own tid in its `struct pthread`, reached through the thread pointer (`fs_base`
//! on x86-64). Where in it, glibc says itself, in the descriptor it publishes for debuggers
//! (`_thread_db_pthread_tid`: bit size, count, offset; what libthread_db reads), taken from the
//! very libc the core maps (its build-id checked by the core reader). Each thread pointer is
//! checked first: the x86-64 TLS ABI has it point at a word holding its own value. A
//! kernel-written core already holds the process's own ids, and then both agree; a debugger's
//! core without that descriptor (no glibc, or its libc not found here) cannot be checked, and
//! says so.

use crate::model::Diagnostic;
use crate::objects::elf::ElfFile;
use crate::objects::glibc::pthread_tid_offset;
use crate::stackwalk::NsTids;
use crate::unwind::AddressSpace;
use std::collections::BTreeMap;

/// Each thread's (`(tid, fs_base)`) id in the process's namespace, read from memory with
/// `read`, and the warning when they cannot all be read. Without glibc's descriptor (a program
/// without glibc, or its libc not found on this machine), a kernel's core (not
/// `by_debugger`) uses the process's own ids; a debugger's cannot be checked.
pub fn namespace_tids(
    threads: &[(u64, u64)],
    space: &AddressSpace,
    by_debugger: bool,
    read: impl Fn(u64, usize) -> Vec<u8>,
) -> (NsTids, Option<Diagnostic>) {
    let note = |message: String| {
        Some(Diagnostic {
            line: None,
            message,
        })
    };
    let Some(offset) = tid_offset(space) else {
        if !by_debugger {
            return (NsTids::Same, None);
        }
        // A program that maps no libc (a static Go program) keeps no glibc descriptor to
        // find: asking for its libc would be wrong advice.
        let why = if maps_libc(space) {
            "glibc's description of where a thread keeps its own id \
             (`_thread_db_pthread_tid` in libc) was not found (pass the process's own libc \
             with --sysroot)"
        } else {
            "the program maps no glibc, whose description of where a thread keeps its own id \
             would tell (a core the kernel writes, or attaching live, keeps the process's own \
             ids)"
        };
        return (
            NsTids::Unknown,
            note(format!(
                "a debugger wrote this core (gcore), naming threads by the ids of its own PID \
                 namespace, and whether the process's memory uses the same ones (not, in a \
                 container seen from the host) cannot be checked: {why}; so no lock owner or \
                 joined thread read from memory is matched to a thread"
            )),
        );
    };
    let word = |addr: u64, n: usize| {
        let b = read(addr, n);
        (b.len() == n).then(|| b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x)))
    };
    let own_tid = |fs_base: u64| {
        let pointer_ok = fs_base != 0 && word(fs_base, 8) == Some(fs_base);
        pointer_ok
            .then(|| word(fs_base.checked_add(offset)?, 4))
            .flatten()
            .filter(|&t| t != 0 && t < 1 << 31)
    };
    let own: Vec<(u64, Option<u64>)> = threads
        .iter()
        .map(|&(tid, fs_base)| (tid, own_tid(fs_base)))
        .collect();
    let differ: BTreeMap<u64, u64> = own
        .iter()
        .filter_map(|&(tid, o)| Some((tid, o?)).filter(|(t, o)| t != o))
        .collect();
    let unread = own.iter().filter(|(_, o)| o.is_none()).count();
    let note = |message: String| {
        Some(Diagnostic {
            line: None,
            message,
        })
    };
    match (differ.is_empty(), unread) {
        (true, 0) => (NsTids::Same, None),
        (true, _) if unread < own.len() => (NsTids::Same, None),
        (false, 0) => (NsTids::Mapped(differ), None),
        _ => (
            NsTids::Unknown,
            note(format!(
                "the thread ids this core names may not be the ones the process's memory holds \
                 (a PID namespace, as in a container, seen from outside): {unread} of {} \
                 threads' own ids could not be read from glibc's thread descriptors, so no lock \
                 owner or joined thread read from memory is matched to a thread",
                own.len()
            )),
        ),
    }
}

/// The offset of `tid` in glibc's `struct pthread`, from the descriptor in a mapped object.
/// Whether the process maps a C library (`libc.so.6`, `libc-2.31.so`, musl's `libc.so`).
fn maps_libc(space: &AddressSpace) -> bool {
    (space.objects.iter()).any(|o| {
        let base = o.name.rsplit('/').next().unwrap_or(&o.name);
        base.starts_with("libc.so") || base.starts_with("libc-")
    })
}

fn tid_offset(space: &AddressSpace) -> Option<u64> {
    let mut seen = Vec::new();
    space
        .objects
        .iter()
        .filter_map(|o| o.path.as_ref())
        .filter(|p| {
            let new = !seen.contains(p);
            seen.push(*p);
            new
        })
        .find_map(|p| pthread_tid_offset(&ElfFile::open(p).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unwind::MappedObject;

    /// This machine's libc as the only mapping, and two threads' TCBs at 0x1000 and 0x2000
    /// whose `struct pthread.tid` holds `own`; `broken` spoils the second's self-pointer.
    fn map(own: [u64; 2], broken: bool) -> (NsTids, Option<Diagnostic>) {
        let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("a glibc to read the descriptor from");
        let space = AddressSpace {
            objects: vec![MappedObject {
                start: 0x7000_0000,
                end: 0x7100_0000,
                offset: 0,
                name: libc.into(),
                path: Some(libc.into()),
                executable: true,
                inode: None,
            }],
            vdso: None,
            started: None,
        };
        let offset = tid_offset(&space).expect("glibc publishes the tid's offset");
        let mut memory = vec![0u8; 0x3000];
        for (i, tcb) in [0x1000usize, 0x2000].into_iter().enumerate() {
            let selfp = if broken && i == 1 { 0 } else { tcb as u64 };
            memory[tcb..tcb + 8].copy_from_slice(&selfp.to_le_bytes());
            let at = tcb + offset as usize;
            memory[at..at + 4].copy_from_slice(&(own[i] as u32).to_le_bytes());
        }
        let read = |a: u64, n: usize| {
            let a = a as usize;
            memory.get(a..a + n).map(<[u8]>::to_vec).unwrap_or_default()
        };
        namespace_tids(&[(100, 0x1000), (101, 0x2000)], &space, true, read)
    }

    #[test]
    fn ids_from_glibcs_thread_descriptors_map_or_are_said_unknown() {
        assert_eq!(map([100, 101], false), (NsTids::Same, None));
        let (mapped, note) = map([1, 2], false);
        assert_eq!(
            mapped,
            NsTids::Mapped([(100, 1), (101, 2)].into_iter().collect())
        );
        assert!(note.is_none());
        // One thread pointer that is not one: its id is not guessed, and nothing is matched.
        let (unknown, note) = map([1, 2], true);
        assert_eq!(unknown, NsTids::Unknown);
        assert!(note.unwrap().message.contains("1 of 2"));
        // In hangscan's namespace, one unreadable thread does not make the others unknown.
        assert_eq!(map([100, 101], true).0, NsTids::Same);
    }

    #[test]
    fn without_glibcs_descriptor_only_a_debuggers_core_is_in_doubt() {
        let none = AddressSpace::default();
        let threads = [(100, 0x1000)];
        let kernel = namespace_tids(&threads, &none, false, |_, _| Vec::new());
        assert_eq!(kernel, (NsTids::Same, None));
        // A program that maps no libc (a static Go program): nothing to pass.
        let (gcore, note) = namespace_tids(&threads, &none, true, |_, _| Vec::new());
        assert_eq!(gcore, NsTids::Unknown);
        let said = note.unwrap().message;
        assert!(
            said.contains("maps no glibc") && !said.contains("--sysroot"),
            "{said}"
        );
        // Its libc not found on this machine: the process's own libc is asked for.
        let gone = "/nonexistent/lib/x86_64-linux-gnu/libc.so.6";
        let elsewhere = AddressSpace {
            objects: vec![MappedObject {
                start: 0x7000_0000,
                end: 0x7100_0000,
                offset: 0,
                name: gone.into(),
                path: Some(gone.into()),
                executable: true,
                inode: None,
            }],
            vdso: None,
            started: None,
        };
        let (_, note) = namespace_tids(&threads, &elsewhere, true, |_, _| Vec::new());
        assert!(note.unwrap().message.contains("--sysroot"));
    }
}
