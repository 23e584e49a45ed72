//! Readiness through the kernel's wait queues, what kwasm_net's pollers
//! are built on (epoll's mechanism). A [`Waiter`] hooks a [`WakeTarget`]
//! onto an open file's wait queues, so the file's own wake-ups call the
//! target — in whatever context the file wakes its waiters, often interrupt
//! context: a target only sets atomics and wakes a [`Task`]. The task
//! sleeps with [`wait`], which loses no wake-up between its last look and
//! its sleep.

use super::ffi;
use super::file::FileRef;
use core::ffi::c_void;
use core::ptr::NonNull;

/// What a wake-up calls: embedded in the object it belongs to (first, in a
/// `#[repr(C)]` struct, so the callback can find that object).
#[repr(C)]
pub struct WakeTarget {
    /// Called with the target and the wake-up's `EPOLL*` mask (0: not
    /// told). Runs under the wait queue's lock, maybe in interrupt context.
    wake: unsafe fn(*const WakeTarget, u32),
}

impl WakeTarget {
    pub const fn new(wake: unsafe fn(*const WakeTarget, u32)) -> WakeTarget {
        WakeTarget { wake }
    }
}

/// Called by the glue's wait-queue callback.
#[no_mangle]
extern "C" fn kwasm_rust_ready(owner: *mut c_void, mask: u32) {
    let target = owner.cast::<WakeTarget>().cast_const();
    // SAFETY: `owner` is the target a live Waiter was armed with; Waiter's
    // contract keeps it valid until the Waiter is dropped, and dropping it
    // waits out callbacks (kwasm_waiter_free).
    unsafe { ((*target).wake)(target, mask) }
}

/// A target's hooks on one file's wait queues; dropping it unhooks them.
pub struct Waiter {
    raw: NonNull<ffi::Waiter>,
}

impl Waiter {
    /// Hooks `target` onto `file`'s wait queues; returns the waiter and
    /// the file's `EPOLL*` readiness now. Err(ENOMEM).
    ///
    /// # Safety
    /// `target` must stay valid (and not move) until the waiter is dropped.
    pub unsafe fn arm(file: &FileRef, target: *const WakeTarget) -> Result<(Waiter, u32), i32> {
        // SAFETY: allocation only; `target` is stored, not used, here.
        let raw = NonNull::new(unsafe { ffi::kwasm_waiter_new(target.cast_mut().cast()) }).ok_or(12)?;
        // SAFETY: `raw` is a fresh waiter; `file` is held, and the waiter
        // (which now sits on its wait queues) is unhooked before the
        // reference goes (the caller holds it at least as long).
        let mask = unsafe { ffi::kwasm_waiter_arm(raw.as_ptr(), file.raw()) };
        Ok((Waiter { raw }, mask))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // SAFETY: our waiter, armed once; after this no callback runs.
        unsafe { ffi::kwasm_waiter_free(self.raw.as_ptr()) }
    }
}

/// A task wake-ups are for (the task that created it).
pub struct Task {
    raw: *mut c_void,
}

// SAFETY: a task_struct pointer may be used from any context to wake it;
// whoever holds a Task guarantees the task outlives it (see `current`).
unsafe impl Send for Task {}
unsafe impl Sync for Task {}

impl Task {
    /// The calling task. The Task must be dropped before the task exits
    /// (it is kept by objects of one run, which end with the run).
    pub fn current() -> Task {
        // SAFETY: reads `current`.
        Task { raw: unsafe { ffi::kwasm_current() } }
    }

    /// Wakes the task if it sleeps in [`wait`]; safe in any context.
    pub fn wake(&self) {
        // SAFETY: the task is alive (see `current`); wake_up_process is
        // safe from interrupt context.
        unsafe { ffi::kwasm_wake_task(self.raw) }
    }
}

/// Sleeps interruptibly until `ready()` holds (checked once after the
/// task is marked sleeping, so a `Task::wake` after that check is not
/// lost), a signal is pending, or monotonic time `deadline_ns`. Returns
/// when any of them happened or on a spurious wake-up: callers look again.
pub fn wait(ready: impl FnOnce() -> bool, deadline_ns: Option<u64>) {
    // SAFETY: process context, outside the wasm section (a host call); the
    // prepare/cancel/wait_until sequence leaves the task running.
    unsafe {
        ffi::kwasm_wait_prepare();
        if ready() || ffi::kwasm_signal_pending() {
            ffi::kwasm_wait_cancel();
        } else {
            ffi::kwasm_wait_until(deadline_ns.unwrap_or(u64::MAX));
        }
    }
}
