//! What the second look at a live process says each thread did between the sample before the
//! stop and the one after it ([`crate::model::ThreadLook`]): nothing, spun on a lock, ran, woke
//! and slept again over and over, or moved a little. Pure: from the counters in the snapshot and
//! whether the thread's frames say it waits for a lock. Threads with no second look (dumps,
//! cores, `--samples 1`) have none.

use crate::model::Thread;
use serde::Serialize;

/// CPU time, in percent of the time between the looks, from which a thread ran (hangscan's own
/// stop costs a thread microseconds; a thread that wakes a few thousand times a second to retry
/// uses a few percent).
const RAN_PERCENT: u64 = 10;
/// CPU time, in percent, from which a thread whose frames wait for a lock, and which did not go
/// to sleep over and over, spins on it (a waiter that sleeps uses next to none; a spinner on a
/// crowded machine may get little more than its share of a CPU).
const SPIN_PERCENT: u64 = 5;
/// Wake-ups a second from which a thread that used little CPU cycles (a retry or polling loop
/// with a back-off of a few milliseconds at most); below it, it only woke now and then.
const CYCLING_PER_SECOND: u64 = 200;

/// What a thread did between the two looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Motion {
    /// Nothing: no CPU, no wake-up, and the same wait.
    Still,
    /// Used CPU time while waiting for a lock, seldom sleeping: spins on it (a spinlock, an
    /// adaptive mutex).
    Spinning,
    /// Used CPU time.
    Ran,
    /// Woke and slept again over and over, using little CPU: a retry or polling loop.
    Cycling,
    /// Woke now and then, used a little CPU, or left the wait it was in: moved, a little.
    Stirred,
}

/// What thread `th` did between the looks; `on_lock`: its frames say it waits for a lock.
pub fn of(th: &Thread, on_lock: bool) -> Option<Motion> {
    let look = th.kernel.as_ref()?.second_look?;
    let us = look.interval_ms.max(1) * 1000;
    let cycles = look.voluntary * 1_000_000 >= us * CYCLING_PER_SECOND;
    // A spinner keeps to its CPU; a worker that takes a busy lock between bouts of work
    // (caught waiting for it by the stop) goes to sleep on it over and over.
    if on_lock && !cycles && look.cpu_us * 100 >= us * SPIN_PERCENT {
        return Some(Motion::Spinning);
    }
    if look.cpu_us * 100 >= us * RAN_PERCENT {
        return Some(Motion::Ran);
    }
    if cycles {
        return Some(Motion::Cycling);
    }
    // A little CPU (1 %: far more than the microseconds hangscan's stop costs) is a stir too.
    let stirred = look.voluntary > 0 || look.same_wait == Some(false) || look.cpu_us * 100 >= us;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KernelInfo, KernelState, ThreadLook};

    /// A thread the second look saw use `cpu_us` and sleep `voluntary` times in 100 ms.
    fn seen(cpu_us: u64, voluntary: u64, same_wait: Option<bool>) -> Thread {
        Thread {
            kernel: Some(KernelInfo {
                second_look: Some(ThreadLook {
                    interval_ms: 100,
                    cpu_us,
                    voluntary,
                    involuntary: 0,
                    state: KernelState::Sleeping,
                    same_wait,
                }),
                ..KernelInfo::default()
            }),
            ..Thread::default()
        }
    }

    #[test]
    fn the_counters_say_what_a_thread_did() {
        assert_eq!(of(&seen(6, 0, Some(true)), true), Some(Motion::Still));
        // Spinning: CPU on a lock, without going to sleep over and over.
        assert_eq!(of(&seen(60_000, 0, None), true), Some(Motion::Spinning));
        assert_eq!(of(&seen(60_000, 3, None), true), Some(Motion::Spinning));
        // A worker caught waiting for a busy lock between bouts of work sleeps on it often.
        assert_eq!(of(&seen(60_000, 80, None), true), Some(Motion::Ran));
        assert_eq!(of(&seen(60_000, 0, None), false), Some(Motion::Ran));
        // 200 wake-ups a second with little CPU: a retry loop.
        assert_eq!(of(&seen(900, 20, None), false), Some(Motion::Cycling));
        assert_eq!(of(&seen(6_000, 20, None), false), Some(Motion::Cycling));
        assert_eq!(of(&seen(6_000, 0, None), true), Some(Motion::Spinning));
        assert_eq!(of(&seen(6_000, 0, None), false), Some(Motion::Stirred));
        assert_eq!(of(&seen(900, 19, None), false), Some(Motion::Stirred));
        assert_eq!(of(&seen(10, 0, Some(false)), false), Some(Motion::Stirred));
        // No second look: nothing said.
        assert_eq!(of(&Thread::default(), true), None);
    }
}
