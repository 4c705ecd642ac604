//! Separate debug files, and the proof that one belongs to its object: where to look (by
//! build-id, `usr/lib/debug/.build-id/xx/yyyy.debug`, then by `.gnu_debuglink`), and what a
//! file found there must show before it is used, as gdb checks it: the object's build-id, and
//! for a debuglink file also the CRC-32 the link records. A file that fails says so (gdb's "CRC
//! mismatch") and is not used: the object's own symbols are.
//!
//! A target in a container (its `/proc/PID/root` is not `/`) has its files looked up inside its
//! root only. The one exception is a build-id file of this system: the build-id proves the
//! match, and it is how debug symbols for a container's image are installed on a host. A
//! debuglink's CRC is only 32 bits, so a host file of the same name is never tried, unless the
//! object itself is this system's file (loaded before the process changed its root).

use super::elf::ElfFile;
use super::MappedObject;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// How a candidate was found, which says what it must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Its path is the object's build-id: it must have that build-id.
    BuildId,
    /// Its name is the object's `.gnu_debuglink`: its CRC-32 must be the link's (and its
    /// build-id the object's, when both have one).
    Debuglink,
}

/// A place a separate debug file may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub path: PathBuf,
    pub via: Via,
}

/// What the search found.
#[derive(Default)]
pub(crate) struct Search {
    /// The debug file that matches, and where.
    pub found: Option<(PathBuf, ElfFile)>,
    /// The files that were there but are not this object's, each in words naming both files.
    pub rejected: Vec<String>,
}

/// The directory under which the target's files are visible: `/proc/PID/root` when the object
/// is opened through `/proc/PID/root/...` or `/proc/PID/map_files/...`, else `/`.
pub(crate) fn target_root(path: &Path) -> PathBuf {
    let mut parts = path.components();
    if let (Some(Component::RootDir), Some(proc_), Some(Component::Normal(pid)), Some(kind)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let is_pid = pid
            .to_str()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        let kind = kind.as_os_str();
        if proc_.as_os_str() == "proc" && is_pid && (kind == "root" || kind == "map_files") {
            return Path::new("/proc").join(pid).join("root");
        }
    }
    PathBuf::from("/")
}

/// `root` joined with an absolute path inside it.
fn under(root: &Path, absolute: &Path) -> PathBuf {
    root.join(absolute.strip_prefix("/").unwrap_or(absolute))
}

/// The target's root, then, when it is not this system's, `/` for files proven by build-id.
fn roots_by_build_id(object_path: Option<&Path>) -> Vec<PathBuf> {
    let root = object_path.map_or_else(|| PathBuf::from("/"), target_root);
    let mut roots = vec![root];
    if roots[0] != Path::new("/") {
        roots.push(PathBuf::from("/"));
    }
    roots
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a separate debug file for `obj` may be, best first: by build-id
/// (`usr/lib/debug/.build-id/xx/yyyy.debug`) under the target's root, then this system's; then
/// by `.gnu_debuglink` (the object's directory, its `.debug/` subdirectory,
/// `usr/lib/debug/<dir>/`) under the target's root only.
pub(crate) fn candidates(obj: &MappedObject, file: &ElfFile) -> Vec<Candidate> {
    let mut out = vec![];
    if let Some(id) = file.build_id.as_deref().filter(|id| id.len() >= 2) {
        let rel = format!(
            "usr/lib/debug/.build-id/{}/{}.debug",
            hex(&id[..1]),
            hex(&id[1..])
        );
        out.extend(
            roots_by_build_id(obj.path.as_deref())
                .iter()
                .map(|r| Candidate {
                    path: r.join(&rel),
                    via: Via::BuildId,
                }),
        );
    }
    let name = obj.name.strip_suffix(" (deleted)").unwrap_or(&obj.name);
    let link = file
        .debuglink
        .as_deref()
        .and_then(|l| std::str::from_utf8(l).ok())
        .filter(|l| !l.is_empty() && !l.contains('/'));
    if let (Some(link), Some(dir)) = (link, Path::new(name).parent()) {
        // A directory with `..` in it (a core's file note can say anything) leads nowhere.
        if dir.is_absolute() && !dir.components().any(|c| c == Component::ParentDir) {
            let root = debuglink_root(obj, name, file);
            let debug_dir = Path::new("/usr/lib/debug").join(dir.strip_prefix("/").unwrap_or(dir));
            for path in [
                dir.join(link),
                dir.join(".debug").join(link),
                debug_dir.join(link),
            ] {
                out.push(Candidate {
                    path: under(&root, &path),
                    via: Via::Debuglink,
                });
            }
        }
    }
    out
}

/// Where `obj`'s debuglink file is looked for: the target's root, unless the object itself
/// is not there but is this system's file of that name, the same inode (a daemon that loaded
/// its libraries and then changed its root): the debug files of a host file are the host's.
fn debuglink_root(obj: &MappedObject, name: &str, file: &ElfFile) -> PathBuf {
    let root = obj
        .path
        .as_deref()
        .map_or_else(|| PathBuf::from("/"), target_root);
    let Some(id) = file.identity.filter(|_| root != Path::new("/")) else {
        return root;
    };
    let is_object = |path: PathBuf| {
        super::open::open_regular(&path)
            .and_then(|f| f.metadata().map_err(|e| e.to_string()))
            .is_ok_and(|m| (m.dev(), m.ino()) == (id.dev, id.ino))
    };
    let name = Path::new(name);
    if !is_object(under(&root, name)) && is_object(name.to_path_buf()) {
        return PathBuf::from("/");
    }
    root
}

/// `obj`'s DWARF package, `NAME.dwp` beside it inside the target's root (where `dwp` writes
/// it), when there is one. Its units are matched to the object's by their dwo ids.
pub(crate) fn find_dwp(obj: &MappedObject) -> Option<PathBuf> {
    let root = obj
        .path
        .as_deref()
        .map_or_else(|| PathBuf::from("/"), target_root);
    let path = under(&root, Path::new(&format!("{}.dwp", obj.name)));
    path.is_file().then_some(path)
}

/// The first candidate that is an ELF object other than `obj` itself and proves it belongs to
/// it (see [`Via`]); the ones that fail the proof are said, not used.
/// What to say of an object with no DWARF of its own and no debug file found: which file it
/// is, by build-id, where it was looked for, what its frames show without it, and what it
/// would add. `names` says whether its symbol table still names its functions (`strip` leaves
/// only the dynamic symbols: a program's own functions are then addresses).
pub(crate) fn missing(obj: &MappedObject, file: &ElfFile, names: bool) -> String {
    let id = (file.build_id.as_deref()).map_or_else(
        || "no build-id".to_string(),
        |id| format!("build-id {}", hex(id)),
    );
    let looked: Vec<String> = candidates(obj, file)
        .iter()
        .map(|c| c.path.display().to_string())
        .collect();
    let looked = if looked.is_empty() {
        String::new()
    } else {
        format!(" (looked for {})", looked.join(", "))
    };
    let (shows, adds) = if names {
        (
            "function names from its symbol table, without file:line or inlined frames",
            "file:line, inlined frames",
        )
    } else {
        (
            "addresses only (it is stripped): what libc and the kernel show still stands \
             (the waits, join targets, futex owners and signal frames in system libraries)",
            "its function names, file:line, inlined frames",
        )
    };
    format!(
        "{} has no debug information and no debug file was found for its {id}{looked}: its \
         frames show {shows}. Its debug file (or a build with -g) would add {adds}, and the \
         locks its guards hold",
        obj.name
    )
}

pub(crate) fn find(obj: &MappedObject, file: &ElfFile) -> Search {
    let mut search = Search::default();
    for candidate in candidates(obj, file) {
        let Ok(debug) = ElfFile::open(&candidate.path) else {
            continue;
        };
        let inode = |f: &ElfFile| f.identity.map(|i| (i.dev, i.ino));
        if inode(&debug).is_some() && inode(&debug) == inode(file) {
            continue;
        }
        match mismatch(file, &candidate, &debug) {
            None => {
                search.found = Some((candidate.path, debug));
                break;
            }
            Some(why) => search.rejected.push(format!(
                "the debug information found in \"{}\" does not match \"{}\" ({why}); not used",
                candidate.path.display(),
                obj.name
            )),
        }
    }
    search
}

/// Why `debug`, found as `candidate`, is not `file`'s debug file; None if it proves it is.
fn mismatch(file: &ElfFile, candidate: &Candidate, debug: &ElfFile) -> Option<String> {
    match (&file.build_id, &debug.build_id) {
        (Some(a), Some(b)) if a != b => {
            return Some(format!("build-id {} is not {}", hex(b), hex(a)))
        }
        (_, None) if candidate.via == Via::BuildId => return Some("it has no build-id".into()),
        _ => {}
    }
    if candidate.via == Via::BuildId {
        return None;
    }
    let Some(want) = file.debuglink_crc else {
        return Some("the object's debuglink has no CRC".into());
    };
    let got = crc32fast::hash(&debug.data);
    (got != want).then(|| format!("CRC mismatch: {got:08x}, the debuglink says {want:08x}"))
}

/// The dwz supplementary file named by `debug`'s `.gnu_debugaltlink`, if it exists and has the
/// build-id the link names: absolute names are looked up under the target's root, then (proven
/// by that build-id) this system's; relative ones next to the debug file.
pub(crate) fn find_alt(obj: &MappedObject, debug_path: &Path, debug: &ElfFile) -> Option<PathBuf> {
    let name = std::str::from_utf8(debug.altlink.as_deref()?).ok()?;
    let name = Path::new(name);
    let candidates: Vec<PathBuf> = if name.is_absolute() {
        roots_by_build_id(obj.path.as_deref())
            .iter()
            .map(|r| under(r, name))
            .collect()
    } else {
        vec![debug_path.parent()?.join(name)]
    };
    candidates.into_iter().find(|c| {
        ElfFile::open(c).is_ok_and(|alt| alt.build_id.is_some() && alt.build_id == debug.altlink_id)
    })
}
