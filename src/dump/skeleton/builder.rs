//! The snapshot a parser fills: threads in input order, the frames of the one being read, what
//! could not be read, the evidence and the runtime's own claims. The caps of
//! [`crate::limits`] hold here, while the dump is read: a thread past [`MAX_THREADS`] is
//! counted, not kept, so that no input (64 MiB of one-line threads) builds more than the cap,
//! and a stack deeper than [`MAX_FRAMES`] sheds its middle as its frames come
//! ([`push_bounded`]), so that one endless stack costs no more than a deep one.

use super::intern::DumpMap;
use crate::limits::{deep_stacks, elide_middle, threads_dropped, MAX_FRAMES, MAX_THREADS};
use crate::model::{Claim, Diagnostic, Evidence, Frame, Gap, Snapshot, Thread};

/// Adds a frame to a stack being read, leaving out the middle of a stack past [`MAX_FRAMES`]
/// as it grows (its innermost and outermost frames are kept, as [`elide_middle`] keeps them);
/// returns how many frames this push left out.
pub fn push_bounded(frames: &mut Vec<Frame>, frame: Frame) -> usize {
    let shed = if frames.len() >= 2 * MAX_FRAMES {
        elide_middle(frames)
    } else {
        0
    };
    frames.push(frame);
    shed
}

/// What one [`Builder`] filled from a piece of a dump ([`Builder::into_part`]).
pub struct Part {
    /// The threads in input order, each with the frames left out of its stack's middle.
    pub threads: Vec<(Thread, usize)>,
    /// What could not be read.
    pub diagnostics: Vec<Diagnostic>,
    /// Values the dump printed from the target's memory.
    pub evidence: Vec<Evidence>,
    /// What the dump's runtime concluded by itself.
    pub claims: Vec<Claim>,
    /// The process id, when the piece names it.
    pub pid: Option<u32>,
    /// Threads past the cap.
    pub dropped: usize,
    /// The last line of the piece read, and the last of a stack with its thread
    /// ([`Builder::seen`], [`Builder::stack_line`]).
    pub ends: (usize, Option<(usize, usize)>),
}

/// A snapshot being filled. While one is alive, [`super::intern::share`] shares equal texts.
pub struct Builder {
    /// Every thread kept so far, in input order.
    pub threads: Vec<Thread>,
    /// What could not be read.
    pub diagnostics: Vec<Diagnostic>,
    /// Values the dump printed from the target's memory.
    pub evidence: Vec<Evidence>,
    /// What the dump's runtime concluded by itself.
    pub claims: Vec<Claim>,
    /// The process id, when the dump names it.
    pub pid: Option<u32>,
    /// Threads past the cap, counted and left out.
    dropped: usize,
    /// Frames left out of the middle of each deep stack so far, by thread index.
    elided: DumpMap<usize, usize>,
    /// The last thread started was past the cap: its frames go nowhere.
    dropping: bool,
    /// How many frames the thread before the one being filled had.
    last_len: usize,
    /// That nothing was found has been said already, in the format's own words.
    said_nothing: bool,
    /// What the input shows is missing ([`Builder::gap`]).
    gaps: Vec<Gap>,
    /// The last non-blank line read.
    last_seen: usize,
    /// The last line read that belongs to a stack, with that stack's thread.
    stack_end: Option<(usize, usize)>,
}

impl Default for Builder {
    fn default() -> Self {
        super::intern::open();
        Self {
            threads: Vec::new(),
            diagnostics: Vec::new(),
            evidence: Vec::new(),
            claims: Vec::new(),
            pid: None,
            dropped: 0,
            elided: DumpMap::default(),
            dropping: false,
            last_len: 0,
            said_nothing: false,
            gaps: Vec::new(),
            last_seen: 0,
            stack_end: None,
        }
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        super::intern::close();
    }
}

impl Builder {
    /// Starts a new thread; its frames follow. Its index, or `None` when it is past the cap
    /// (then its frames are dropped with it).
    pub fn thread(&mut self, thread: Thread) -> Option<usize> {
        if self.full() {
            self.dropped += 1;
            self.dropping = true;
            return None;
        }
        self.dropping = false;
        if let Some(last) = self.threads.last() {
            self.last_len = last.frames.len();
        }
        self.threads.push(thread);
        Some(self.threads.len() - 1)
    }

    /// Whether the thread cap is reached: a new thread would be dropped.
    pub fn full(&self) -> bool {
        self.threads.len() >= MAX_THREADS
    }

    /// The thread frames go to, if any has started (and was kept).
    pub fn last(&mut self) -> Option<&mut Thread> {
        if self.dropping {
            return None;
        }
        self.threads.last_mut()
    }

    /// Adds a frame to the last thread, or to a new unidentified one when no header came first
    /// (a pasted excerpt).
    pub fn frame(&mut self, frame: Frame) {
        if self.threads.is_empty() && !self.dropping {
            self.thread(Thread::default());
        }
        if !self.dropping && !self.threads.is_empty() {
            self.push(self.threads.len() - 1, frame);
        }
    }

    /// Adds a frame to thread `t`, held to [`MAX_FRAMES`] ([`push_bounded`]).
    pub fn push(&mut self, t: usize, frame: Frame) {
        let frames = &mut self.threads[t].frames;
        // Stacks in one dump tend to be alike: a stack filled here starts at the size of the
        // one before.
        if frames.capacity() == 0 {
            frames.reserve(self.last_len);
        }
        let shed = push_bounded(frames, frame);
        if shed > 0 {
            *self.elided.entry(t).or_default() += shed;
        }
    }

    /// Says that thread `t`'s stack, read elsewhere with [`push_bounded`] and put in whole,
    /// had `shed` frames left out of its middle.
    pub fn shed(&mut self, t: usize, shed: usize) {
        if shed > 0 {
            self.elided.insert(t, shed);
        } else {
            self.elided.remove(&t);
        }
    }

    /// Whether the last thread started was past the cap (its frames are dropped).
    pub fn dropping(&self) -> bool {
        self.dropping
    }

    /// What was filled, for a format that read its dump in [`super::pieces`] to put the
    /// parts together: each thread with the frames left out of its middle so far.
    pub fn into_part(mut self) -> Part {
        let elided = std::mem::take(&mut self.elided);
        let threads = std::mem::take(&mut self.threads)
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, elided.get(&i).copied().unwrap_or(0)))
            .collect();
        Part {
            threads,
            diagnostics: std::mem::take(&mut self.diagnostics),
            evidence: std::mem::take(&mut self.evidence),
            claims: std::mem::take(&mut self.claims),
            pid: self.pid,
            dropped: self.dropped,
            ends: (self.last_seen, self.stack_end),
        }
    }

    /// Takes in the next part of a dump whose threads are all its own (no piece names another's
    /// thread again): its threads after those found so far, and the rest ([`Builder::absorb`]).
    pub fn append(&mut self, mut part: Part) {
        let (last, stack) = part.ends;
        let mut placed = Vec::with_capacity(part.threads.len());
        for (t, shed) in std::mem::take(&mut part.threads) {
            let i = self.thread(t);
            if let Some(i) = i {
                self.shed(i, shed);
            }
            placed.push(i);
        }
        let stack = stack.and_then(|(t, line)| Some((placed.get(t).copied().flatten()?, line)));
        self.ended(last, stack);
        self.absorb(part);
    }

    /// Says how a piece read apart ended: its last line, and the last line of a stack with the
    /// thread (here) it belongs to. A piece that read nothing changes nothing.
    pub fn ended(&mut self, last: usize, stack: Option<(usize, usize)>) {
        if last > 0 {
            self.last_seen = last;
            self.stack_end = stack;
        }
    }

    /// The last non-blank line read.
    pub fn last_seen(&self) -> usize {
        self.last_seen
    }

    /// Records that input line `no` (not blank) was read.
    pub fn seen(&mut self, no: usize) {
        self.last_seen = no;
    }

    /// Records that input line `no` belongs to the stack of the thread being filled (a frame,
    /// or a line that goes with one): an input that ends here may end inside that stack.
    pub fn stack_line(&mut self, no: usize) {
        self.last_seen = no;
        if !self.dropping && !self.threads.is_empty() {
            self.stack_end = Some((self.threads.len() - 1, no));
        }
    }

    /// Records that input line `no` belongs to the stack of thread `t` (a format that places
    /// its stacks itself).
    pub fn stack_line_of(&mut self, t: usize, no: usize) {
        self.last_seen = self.last_seen.max(no);
        self.stack_end = Some((t, no));
    }

    /// Records evidence that the input does not show the whole process.
    pub fn gap(&mut self, gap: Gap) {
        self.gaps.push(gap);
    }

    /// Takes in a part's all but its threads (which the format places itself, with
    /// [`Builder::thread`] and [`Builder::shed`]): what could not be read, the evidence, the
    /// claims, the pid when none was found before, the threads past the cap.
    pub fn absorb(&mut self, part: Part) {
        self.diagnostics.extend(part.diagnostics);
        self.evidence.extend(part.evidence);
        self.claims.extend(part.claims);
        if self.pid.is_none() {
            self.pid = part.pid;
        }
        self.dropped += part.dropped;
    }

    /// When no thread was found, says so now in the format's own words (instead of the
    /// generic ones [`Builder::finish`] would add at the end).
    pub fn nothing_found(&mut self, message: &str) {
        if self.threads.is_empty() && !self.said_nothing {
            self.note(message);
            self.said_nothing = true;
        }
    }

    /// Records what could not be read at a 1-based input line.
    pub fn diag(&mut self, line: usize, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            line: Some(line),
            message: message.into(),
        });
    }

    /// Records something about the dump as a whole.
    pub fn note(&mut self, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            line: None,
            message: message.into(),
        });
    }

    /// The snapshot (saying so when nothing was found); `complete` only stands when some
    /// thread was found, none was left out and no gap was recorded. An incomplete snapshot
    /// says why in its gaps ([`Gap::Unsaid`] when nothing more is known); an input whose last
    /// line belongs to a stack gets [`Gap::EndsInStack`], for the analysis to decide.
    pub fn finish(mut self, producer: &str, origin: &str, complete: bool) -> Snapshot {
        self.nothing_found("no thread or frame found in the input");
        if let Some(d) = threads_dropped(self.dropped) {
            self.diagnostics.push(d);
        }
        let partial: Vec<&Thread> = self.threads.iter().filter(|t| t.partial).collect();
        if !partial.is_empty() {
            self.gaps.push(Gap::NoStack {
                count: partial.len(),
                threads: partial.iter().take(8).map(|t| t.label()).collect(),
            });
        }
        let complete = complete
            && !self.threads.is_empty()
            && self.dropped == 0
            && self.gaps.iter().all(Gap::undecided);
        if !complete && self.gaps.iter().all(Gap::undecided) {
            self.gaps.push(Gap::Unsaid);
        }
        match self.stack_end {
            Some((thread, line)) if line == self.last_seen && thread < self.threads.len() => {
                self.gaps.push(Gap::EndsInStack { thread, line })
            }
            _ => {}
        }
        let mut deep = Vec::new();
        for (i, t) in self.threads.iter_mut().enumerate() {
            let before = self.elided.get(&i).copied().unwrap_or(0);
            let depth = t.frames.len() + before;
            if before + elide_middle(&mut t.frames) > 0 {
                deep.push((i, depth));
            }
        }
        let mut snap = Snapshot {
            producer: producer.to_string(),
            origin: origin.to_string(),
            pid: self.pid,
            complete,
            gaps: std::mem::take(&mut self.gaps),
            threads: std::mem::take(&mut self.threads),
            evidence: std::mem::take(&mut self.evidence),
            diagnostics: std::mem::take(&mut self.diagnostics),
            claims: std::mem::take(&mut self.claims),
            process: None,
        };
        if let Some(d) = deep_stacks(&snap, &deep) {
            snap.diagnostics.push(d);
        }
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_builder_says_so() {
        let s = Builder::default().finish("x", "o", true);
        assert!(!s.complete);
        assert_eq!(s.diagnostics.len(), 1);
    }

    #[test]
    fn threads_past_the_cap_are_counted_not_kept() {
        let mut b = Builder::default();
        for _ in 0..MAX_THREADS + 3 {
            b.thread(Thread::default());
            b.frame(Frame::default());
        }
        assert!(b.last().is_none());
        let s = b.finish("x", "o", true);
        assert_eq!(s.threads.len(), MAX_THREADS);
        assert!(s.threads.iter().all(|t| t.frames.len() == 1));
        assert!(!s.complete);
        assert!(
            s.diagnostics[0].message.contains("3 more not analysed"),
            "{:?}",
            s.diagnostics
        );
    }

    #[test]
    fn deep_stacks_shed_their_middle_as_they_are_read() {
        let frame = |i: usize| Frame {
            index: Some(i as u32),
            ..Frame::default()
        };
        let mut b = Builder::default();
        b.thread(Thread::default());
        for i in 0..10_000 {
            b.frame(frame(i));
            assert!(b.threads[0].frames.len() <= 2 * MAX_FRAMES);
        }
        b.thread(Thread::default());
        b.frame(frame(0));
        let s = b.finish("x", "o", true);
        let kept = &s.threads[0].frames;
        assert_eq!(kept.len(), MAX_FRAMES);
        assert_eq!(
            kept[MAX_FRAMES / 2 - 1].index,
            Some(MAX_FRAMES as u32 / 2 - 1)
        );
        assert_eq!(
            kept[MAX_FRAMES / 2].index,
            Some(10_000 - MAX_FRAMES as u32 / 2)
        );
        assert_eq!(kept[MAX_FRAMES - 1].index, Some(9_999));
        assert_eq!(s.diagnostics.len(), 1);
        let said = &s.diagnostics[0].message;
        assert!(
            said.ends_with("left out: unidentified thread (10000 frames)"),
            "{said}"
        );
    }
}
