//! Scheduling and signals of the calling task.

use super::ffi;

/// Gives the CPU to another task if one should run (any preemption model).
pub fn cond_resched() {
    // SAFETY: process context, no locks held (every caller).
    unsafe { ffi::kwasm_cond_resched() }
}

/// A signal is pending for the calling task (Ctrl-C, kill, ...).
pub fn signal_pending() -> bool {
    // SAFETY: reads the current task's signal state.
    unsafe { ffi::kwasm_signal_pending() }
}
