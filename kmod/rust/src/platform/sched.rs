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

/// What the calling task's pending signals will do once it is back in user
/// space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    Nothing,
    /// End the process: SIGKILL, or a signal whose action is the default
    /// one and that default is to terminate or dump core.
    Fatal,
    /// Something the process survives: a stop, the freezer, a tracer, a
    /// handler.
    Survivable,
}

/// What the calling task's pending signals will do ([`Pending`]). Leaves
/// the wasm section for it, if the task is in one (a yield point is): it
/// takes the task's `siglock`, a spinlock_t, which on PREEMPT_RT is
/// a sleeping lock and may not be taken with preemption off.
pub fn pending_signal() -> Pending {
    // SAFETY: reads the current task's signal state under its lock, in
    // process context outside any wasm section.
    match section::suspended(|| unsafe { ffi::kwasm_pending_signal_kind() }) {
        0 => Pending::Nothing,
        1 => Pending::Fatal,
        _ => Pending::Survivable,
    }
}

/// A counted reference to the calling task: identifies it for as long as
/// it is held (the task's memory cannot be reused for another).
pub struct TaskRef(*mut core::ffi::c_void);

impl TaskRef {
    pub fn current() -> TaskRef {
        // SAFETY: takes a reference on the current task, released on drop.
        TaskRef(unsafe { ffi::kwasm_task_get() })
    }

    /// This is the calling task.
    pub fn is_current(&self) -> bool {
        // SAFETY: reading `current` is valid in any process context.
        self.0 == unsafe { ffi::kwasm_current() }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `current`.
        unsafe { ffi::kwasm_task_put(self.0) }
    }
}

// SAFETY: a task reference may be dropped by any task.
unsafe impl Send for TaskRef {}

/// Sends `sig` (Linux number) to the calling task, as `raise(3)`.
pub fn raise(sig: i32) -> Result<(), i32> {
    // SAFETY: signals the current task, which is alive.
    ffi::int_result(unsafe { ffi::send_sig(sig, ffi::kwasm_current(), 0) })
}
