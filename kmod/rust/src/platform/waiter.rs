//! Readiness through the kernel's wait queues, what kwasm_net's pollers
//! are built on (epoll's mechanism). A [`Waiter`] hooks a [`WakeTarget`]
//! onto an open file's wait queues, so the file's own wake-ups call the
//! target — in whatever context the file wakes its waiters, often interrupt
//! context: a target only sets atomics and wakes a [`WaitQueue`], on which
//! the waiting task sleeps without losing a wake-up between its last look
//! and its sleep.

use super::ffi;
use super::file::FileRef;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::AtomicPtr;

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

/// A wait queue a task sleeps on until something it waits for is ready
/// (a poller's, as epoll's `ep->wq`). Wake-ups go through the queue's
/// lock, so one never reaches a task that has stopped waiting.
pub struct WaitQueue {
    raw: NonNull<ffi::WaitQueueHead>,
}

// SAFETY: a wait queue head is made to be used from any context and CPU.
unsafe impl Send for WaitQueue {}
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    /// None if out of memory.
    pub fn new() -> Option<WaitQueue> {
        // SAFETY: allocation and initialisation only.
        NonNull::new(unsafe { ffi::kwasm_waitq_new() }).map(|raw| WaitQueue { raw })
    }

    /// Wakes the task sleeping in [`wait`](Self::wait), if any; safe in any
    /// context.
    pub fn wake(&self) {
        // SAFETY: the head is alive while self is.
        unsafe { ffi::kwasm_waitq_wake(self.raw.as_ptr()) }
    }

    /// Sleeps interruptibly until woken, unless `ready` is non-null
    /// (looked at once the task is queued, so a `wake` after a push there
    /// is not lost); at most until monotonic time `deadline_ns`, and not at
    /// all with a signal pending. Callers look again: this returns on
    /// spurious wake-ups too.
    pub fn wait<T>(&self, ready: &AtomicPtr<T>, deadline_ns: Option<u64>) {
        // SAFETY: process context outside the wasm section (host calls);
        // `ready` outlives the call; the glue dequeues the task itself.
        unsafe {
            ffi::kwasm_waitq_wait(self.raw.as_ptr(), ready.as_ptr().cast(), deadline_ns.unwrap_or(u64::MAX))
        }
    }
}

impl Drop for WaitQueue {
    fn drop(&mut self) {
        // SAFETY: nothing sleeps on it (a waiter only sleeps inside wait(),
        // which borrows self) and its owner unhooked every wake source.
        unsafe { ffi::kwasm_waitq_free(self.raw.as_ptr()) }
    }
}
