//! The epoch ticker: a kernel timer that bumps a Wasmtime engine's epoch
//! every jiffy while an instance runs, so running wasm reaches its epoch
//! deadline and yields (see `run::exec`).

use super::ffi;
use core::ffi::c_void;
use wasmtime::Engine;

pub struct Ticker {
    timer: *mut c_void,
    /// Boxed so the timer's data pointer stays put.
    engine: alloc::boxed::Box<Engine>,
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
        unsafe { ffi::kwasm_ticker_arm(timer) };
        Some(Ticker { timer, engine })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // SAFETY: shuts the timer down (waiting for a running callback) and
        // frees it; afterwards nothing refers to `self.engine`.
        unsafe { ffi::kwasm_ticker_free(self.timer) };
        let _ = &self.engine;
    }
}

/// The timer callback (softirq context): one atomic add, then re-arm for
/// the next jiffy (a no-op once Drop has shut the timer down).
#[no_mangle]
pub unsafe extern "C" fn kwasm_rust_tick(timer: *mut c_void, data: *mut c_void) {
    // SAFETY: `data` is the boxed Engine a live Ticker owns.
    let engine = unsafe { &*(data as *const Engine) };
    engine.increment_epoch();
    // SAFETY: `timer` is the ticker this callback belongs to.
    unsafe { ffi::kwasm_ticker_arm(timer) };
}
