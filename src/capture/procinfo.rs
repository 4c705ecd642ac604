//! Per-thread facts from `/proc` (through the procfs crate): name, scheduling state, CPU time
//! and context switches, wchan. Read before the threads are stopped (a stopped thread shows
//! state `t`), twice, so that a thread that ran in between can be told from a stuck one.

use crate::model::KernelState;
use rayon::prelude::*;
use std::collections::HashMap;

/// One reading of one thread.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// `comm`.
    pub name: Option<String>,
    /// State letter mapped to the model.
    pub state: KernelState,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Voluntary + involuntary context switches.
    pub switches: u64,
    /// `wchan`, when the kernel exposes it.
    pub wchan: Option<String>,
}

/// Reads every thread of `pid`; threads that vanish meanwhile are left out. `switches` reads
/// each thread's `status` too (only worth it when two samples are compared).
pub fn sample(pid: i32, switches: bool) -> HashMap<i32, Sample> {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return HashMap::new();
    };
    let Ok(tasks) = process.tasks() else {
        return HashMap::new();
    };
    let tasks: Vec<procfs::process::Task> = tasks.flatten().collect();
    // Three small files per thread: read them from every core.
    tasks
        .par_iter()
        .filter_map(|task| Some((task.tid, read_task(pid, task, switches)?)))
        .collect()
}

fn read_task(pid: i32, task: &procfs::process::Task, switches: bool) -> Option<Sample> {
    let stat = task.stat().ok()?;
    let switches = if switches {
        task.status()
            .map(|s| {
                s.voluntary_ctxt_switches.unwrap_or(0) + s.nonvoluntary_ctxt_switches.unwrap_or(0)
            })
            .unwrap_or(0)
    } else {
        0
    };
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/task/{}/wchan", task.tid))
        .ok()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty() && w != "0");
    Some(Sample {
        name: Some(stat.comm.clone()),
        state: state_of(stat.state),
        cpu_ticks: stat.utime + stat.stime,
        switches,
        wchan,
    })
}

fn state_of(c: char) -> KernelState {
    match c {
        'R' => KernelState::Running,
        'S' | 'I' => KernelState::Sleeping,
        'D' => KernelState::DiskSleep,
        'T' | 't' => KernelState::Stopped,
        'Z' | 'X' => KernelState::Zombie,
        _ => KernelState::Unknown,
    }
}
