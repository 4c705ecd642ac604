//! What the second look at a live process says each thread did between the sample before the
//! stop and the one after it ([`crate::model::ThreadLook`]): nothing, spun on a lock, ran, woke
//! and slept again over and over, or moved a little. Pure: from the counters in the snapshot and
//! whether the thread's frames say it waits for a lock. Threads with no second look (dumps,
//! cores, `--samples 1`) have none.

use crate::model::Thread;
use serde::Serialize;

/// CPU time, in percent of the time between the looks, from which a thread ran (hangscan's own
/// stop costs a thread microseconds).
const RAN_PERCENT: u64 = 5;
/// Wake-ups a second from which a thread that used little CPU cycles (a retry or polling loop
/// with a back-off of a few milliseconds at most); below it, it only woke now and then.
const CYCLING_PER_SECOND: u64 = 200;

/// What a thread did between the two looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Motion {
    /// Nothing: no CPU, no wake-up, no I/O, and the same wait.
    Still,
    /// Used CPU time while waiting for a lock: spins on it (a spinlock, an adaptive mutex).
    Spinning,
    /// Used CPU time.
    Ran,
    /// Woke and slept again over and over, using little CPU: a retry or polling loop.
    Cycling,
    /// Woke now and then, did I/O or left the wait it was in: moved, a little.
    Stirred,
}

/// What thread `th` did between the looks; `on_lock`: its frames say it waits for a lock.
pub fn of(th: &Thread, on_lock: bool) -> Option<Motion> {
    let look = th.kernel.as_ref()?.second_look?;
    let us = look.interval_ms.max(1) * 1000;
    if look.cpu_us * 100 >= us * RAN_PERCENT {
        return Some(if on_lock {
            Motion::Spinning
        } else {
            Motion::Ran
        });
    }
    if look.voluntary * 1_000_000 >= us * CYCLING_PER_SECOND {
        return Some(Motion::Cycling);
    }
    let stirred =
        look.voluntary > 0 || look.io_bytes.is_some_and(|b| b > 0) || look.same_wait == Some(false);
    Some(if stirred {
        Motion::Stirred
    } else {
        Motion::Still
    })
}

impl Motion {
    /// Whether the thread moved at all.
    pub fn moved(self) -> bool {
        self != Motion::Still
    }
}
