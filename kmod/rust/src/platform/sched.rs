//! Scheduling and signals of the calling task.

use super::{ffi, section};

/// Gives the CPU to another task if one should run (any preemption model).
/// Leaves the wasm section for it, if the task is in one.
pub fn cond_resched() {
    // SAFETY: process context, no locks held (every caller), outside any
    // wasm section.
    section::suspended(|| unsafe { ffi::kwasm_cond_resched() })
}

/// A signal is pending for the calling task (Ctrl-C, kill, ...).
pub fn signal_pending() -> bool {
    // SAFETY: reads the current task's signal state.
    unsafe { ffi::kwasm_signal_pending() }
}
