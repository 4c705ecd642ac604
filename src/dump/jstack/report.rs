//! The JVM's own deadlock report: `Found one Java-level deadlock:`, one entry per thread
//! (`"name":`, what it waits to lock, `which is held by "other"`), then `Java stack information
//! for the threads listed above:` repeating their stacks.
//!
//! Each report becomes a [`Claim`] naming its threads, for the analysis to cross-check rather
//! than repeat. Entries name threads only by name, and names repeat, so an entry is matched to
//! the listed thread of that name that waits for the object it names. The report's `which is
//! held by` lines are owner statements like `- locked`: where the thread list does not already
//! say who owns an object (plain `jstack` omits ownable synchronizers), the report's owner
//! becomes [`Evidence::LockOwner`]. A report without a thread list (an excerpt) brings its
//! threads along: their stacks come from the report's stack section, their waits are restated
//! as the notes jstack itself would print for them, and the owners the report names stay its
//! claim (by the thread's name, as such threads have no id).

use super::lines::{self, ReportLine};
use crate::model::{Claim, Evidence, Frame, Thread};

/// One deadlock report being read.
pub struct Report {
    line: usize,
    text: String,
    entries: Vec<Entry>,
    /// In the `Java stack information` part.
    stacks: bool,
    /// Entries were matched to threads.
    resolved: bool,
    /// The report-only thread whose stack is being read.
    target: Option<usize>,
}

struct Entry {
    name: String,
    waits: Option<Waited>,
    holder: Option<String>,
    held_line: usize,
    /// The thread (index) the entry is about, once resolved.
    thread: usize,
    /// Its stack was read from the report's stack section.
    stacked: bool,
}

struct Waited {
    monitor: bool,
    address: u64,
    class: String,
}

impl Report {
    /// A report starting at line `line` with the header `text`.
    pub fn new(line: usize, text: &str) -> Self {
        Report {
            line,
            text: text.to_string(),
            entries: Vec::new(),
            stacks: false,
            resolved: false,
            target: None,
        }
    }

    /// Reads one line; false when it is not the report's.
    /// Whether its list of who waits for whom is whole: its stacks part has begun.
    pub fn listed_whole(&self) -> bool {
        self.stacks
    }

    pub fn line(
        &mut self,
        no: usize,
        line: &str,
        trimmed: &str,
        threads: &mut Vec<Thread>,
        listed: usize,
    ) -> bool {
        if trimmed.starts_with("===") {
            return true;
        }
        if trimmed.starts_with("Java stack information") {
            self.resolve(threads, listed);
            self.stacks = true;
            return true;
        }
        if self.stacks {
            return self.stack_line(line, trimmed, threads, listed);
        }
        match lines::report_line(trimmed) {
            Some(ReportLine::Entry(name)) => self.entries.push(Entry {
                name: name.to_string(),
                waits: None,
                holder: None,
                held_line: no,
                thread: usize::MAX,
                stacked: false,
            }),
            Some(ReportLine::Waits {
                monitor,
                address,
                class,
            }) => {
                if let Some(e) = self.entries.last_mut() {
                    e.waits = Some(Waited {
                        monitor,
                        address,
                        class: class.to_string(),
                    });
                }
            }
            Some(ReportLine::HeldBy(holder)) => {
                if let Some(e) = self.entries.last_mut() {
                    e.holder = holder.map(str::to_string);
                    e.held_line = no;
                }
            }
            None => return false,
        }
        true
    }

    /// A line of the stack section: kept only for threads the report alone brings.
    fn stack_line(
        &mut self,
        line: &str,
        trimmed: &str,
        threads: &mut [Thread],
        listed: usize,
    ) -> bool {
        if let Some(ReportLine::Entry(name)) = line
            .starts_with('"')
            .then(|| lines::report_line(trimmed))
            .flatten()
        {
            let e = self
                .entries
                .iter_mut()
                .find(|e| e.name == name && !e.stacked);
            self.target = e.and_then(|e| {
                e.stacked = true;
                (e.thread >= listed).then_some(e.thread)
            });
            return true;
        }
        let Some(t) = self.target.and_then(|t| threads.get_mut(t)) else {
            return trimmed.starts_with("at ") || trimmed.starts_with("- ");
        };
        if let Some(text) = trimmed.strip_prefix("at ") {
            match lines::frame(text) {
                Some(f) => t.frames.push(f),
                None => t.partial = true,
            }
        } else if let Some(note) = trimmed.strip_prefix("- ") {
            if t.frames.is_empty() {
                t.frames.push(Frame::default());
            }
            if let Some(f) = t.frames.last_mut() {
                f.notes.push(note.trim().to_string());
            }
        } else {
            return false;
        }
        true
    }

    /// Matches each entry to a listed thread, or adds the thread the report alone shows.
    fn resolve(&mut self, threads: &mut Vec<Thread>, listed: usize) {
        if self.resolved {
            return;
        }
        self.resolved = true;
        for e in &mut self.entries {
            let named: Vec<usize> = (0..listed)
                .filter(|&t| threads[t].name.as_deref() == Some(e.name.as_str()))
                .collect();
            let found = named
                .iter()
                .copied()
                .find(|&t| {
                    e.waits
                        .as_ref()
                        .is_some_and(|w| waits_on(&threads[t], w.address))
                })
                .or_else(|| named.first().copied());
            e.thread = found.unwrap_or_else(|| {
                threads.push(Thread {
                    name: Some(e.name.clone()),
                    partial: true,
                    ..Thread::default()
                });
                threads.len() - 1
            });
        }
    }

    /// Ends the report: owners, the report-only threads' waits, and the claim.
    pub fn finish(
        mut self,
        threads: &mut Vec<Thread>,
        listed: usize,
        evidence: &mut Vec<Evidence>,
        claims: &mut Vec<Claim>,
    ) {
        self.resolve(threads, listed);
        for e in &self.entries {
            let Some(w) = &e.waits else { continue };
            if e.thread >= listed && !waits_on(&threads[e.thread], w.address) {
                let verb = if w.monitor {
                    "waiting to lock"
                } else {
                    "parking to wait for "
                };
                let note = format!("{verb} <0x{:016x}> (a {})", w.address, w.class);
                threads[e.thread].frames.insert(
                    0,
                    Frame {
                        notes: vec![note],
                        ..Frame::default()
                    },
                );
            }
            let Some(holder) = e
                .holder
                .as_deref()
                .and_then(|h| self.holder(h, w, threads, listed))
            else {
                continue;
            };
            // The holder is the report's word: by its tid when the dump gives one, else by
            // its name (a thread only the report lists has no id).
            let (owner_tid, owner_name) = match threads[holder].tid {
                Some(tid) => (tid, None),
                None => (0, threads[holder].name.clone()),
            };
            let known = evidence.iter().any(
                |ev| matches!(ev, Evidence::LockOwner { address, .. } if *address == w.address),
            );
            if !known {
                evidence.push(Evidence::LockOwner {
                    address: w.address,
                    owner_tid,
                    owner_name,
                    source: format!(
                        "the JVM's deadlock report: `which is held by \"{}\"` (line {})",
                        e.holder.as_deref().unwrap_or_default(),
                        e.held_line
                    ),
                    by_claim: true,
                });
            }
        }
        claims.push(Claim {
            text: self.text.trim_end_matches(':').to_string(),
            threads: self
                .entries
                .iter()
                .map(|e| id_of(&threads[e.thread]))
                .collect(),
            deadlock: true,
            line: Some(self.line),
        });
    }

    /// The thread an entry's `which is held by "name"` means: among the report's own entries
    /// first (the holder of a cycle's lock is in the cycle), preferring one that the thread
    /// list shows holding the object; then any listed thread of that name.
    fn holder(&self, name: &str, w: &Waited, threads: &[Thread], listed: usize) -> Option<usize> {
        let in_report: Vec<usize> = self
            .entries
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.thread)
            .collect();
        let listed_named: Vec<usize> = (0..listed)
            .filter(|&t| threads[t].name.as_deref() == Some(name))
            .collect();
        let candidates = if in_report.is_empty() {
            listed_named
        } else {
            in_report
        };
        candidates
            .iter()
            .copied()
            .find(|&t| holds(&threads[t], w.address))
            .or_else(|| candidates.first().copied())
    }
}

/// Whether a thread's frame notes say it waits for the object at `address`.
fn waits_on(t: &Thread, address: u64) -> bool {
    t.frames
        .iter()
        .flat_map(|f| &f.notes)
        .any(|n| lines::note_waits_for(n) && lines::note_address(n) == Some(address))
}

/// Whether a thread's notes say it holds the object at `address`.
fn holds(t: &Thread, address: u64) -> bool {
    let frame_notes = t.frames.iter().flat_map(|f| &f.notes);
    frame_notes
        .filter(|n| n.starts_with("locked "))
        .chain(&t.notes)
        .any(|n| lines::note_address(n) == Some(address))
}

/// How a claim names a thread: its OS tid, else the dump's own id, else its name.
fn id_of(t: &Thread) -> String {
    match (t.tid, &t.debugger_id, &t.name) {
        (Some(tid), _, _) => tid.to_string(),
        (None, Some(id), _) => id.clone(),
        (None, None, Some(name)) => name.clone(),
        (None, None, None) => String::new(),
    }
}
