//! The epoch ticker: a periodic hard-irq timer (1 ms, `kwasm_glue.c`) that
//! bumps a Wasmtime engine's epoch while an instance runs, so running wasm
//! reaches its epoch deadline and yields (see `run::exec`). Hard irq rather
//! than a `timer_list`: softirqs may be deferred to ksoftirqd, which on a
//! non-preemptible kernel cannot run until the wasm yields — which it does
//! only on a tick.

use super::ffi;
use core::ffi::c_void;
use wasmtime::Engine;

pub struct Ticker {
    timer: *mut c_void,
    /// Never read here: the timer reads it through its data pointer. Boxed
    /// so that pointer stays put; dropped only after the timer is gone.
    _engine: alloc::boxed::Box<Engine>,
}

impl Ticker {
    /// Starts ticking `engine`'s epoch; `None` if out of memory.
    pub fn start(engine: &Engine) -> Option<Ticker> {
        let engine = alloc::boxed::Box::new(engine.clone());
        let data = &*engine as *const Engine as *mut c_void;
        // SAFETY: the timer gets a pointer to the boxed engine, which lives
        // until Drop has shut the timer down.
        let timer = unsafe { ffi::kwasm_ticker_new(data) };
        if timer.is_null() {
            return None;
        }
        // SAFETY: a fresh timer from kwasm_ticker_new.
        unsafe { ffi::kwasm_ticker_start(timer) };
        Some(Ticker { timer, _engine: engine })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // SAFETY: cancels the timer (waiting for a running callback) and
        // frees it; afterwards nothing refers to `self._engine`.
        unsafe { ffi::kwasm_ticker_free(self.timer) };
    }
}

/// The timer callback (hard irq context): one atomic add.
#[no_mangle]
pub unsafe extern "C" fn kwasm_rust_tick(data: *mut c_void) {
    // SAFETY: `data` is the boxed Engine a live Ticker owns.
    let engine = unsafe { &*(data as *const Engine) };
    engine.increment_epoch();
}
