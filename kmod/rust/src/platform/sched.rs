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

/// Sends `sig` (Linux number) to the calling task, as `raise(3)`.
pub fn raise(sig: i32) -> Result<(), i32> {
    // SAFETY: signals the current task, which is alive.
    ffi::int_result(unsafe { ffi::send_sig(sig, ffi::kwasm_current(), 0) })
}
