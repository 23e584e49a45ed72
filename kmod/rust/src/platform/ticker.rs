//! The epoch ticker: one periodic hard-irq timer for the whole module
//! (1 ms, `kwasm_glue.c`), running while any instance runs wasm; each tick
//! bumps the epoch of every registered engine, so running wasm reaches its
//! epoch deadline and yields (see `wasm::store`). One timer, not one per
//! instance: a program asleep in a host call, or preempted, costs no
//! interrupts of its own (32 instances used to mean 32 000 timer callbacks
//! a second). Hard irq rather than a `timer_list`: softirqs may be deferred
//! to ksoftirqd, which on a non-preemptible kernel cannot run until the
//! wasm yields — which it does only on a tick.
//!
//! The timer stops itself when nothing is registered. Whoever flips
//! `RUNNING` from false to true arms it: a registration that finds it
//! stopped, or the callback itself when a registration arrived while it
//! was deciding to stop. So it is never armed twice, never left stopped
//! with an engine registered, and never forwarded while armed.

use super::{ffi, task::MAX_RUNNING};
use alloc::boxed::Box;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use wasmtime::Engine;

/// The engines ticked; one per claimed task at most.
static ENGINES: [AtomicPtr<Engine>; MAX_RUNNING] = [const { AtomicPtr::new(null_mut()) }; MAX_RUNNING];
/// How many entries of `ENGINES` are set.
static REGISTERED: AtomicUsize = AtomicUsize::new(0);
/// The timer is armed or its callback will re-arm it.
static RUNNING: AtomicBool = AtomicBool::new(false);
/// The callback is reading `ENGINES` (it never runs on two CPUs at once).
static IN_TICK: AtomicBool = AtomicBool::new(false);

/// An engine registered with the ticker; unregistered on drop.
pub struct Ticker {
    slot: usize,
    /// Never read here: the callback reads it through `ENGINES`. Boxed so
    /// that pointer stays put; freed only after the callback let go of it.
    _engine: Box<Engine>,
}

impl Ticker {
    /// Starts ticking `engine`'s epoch; `None` if every slot is taken.
    pub fn start(engine: &Engine) -> Option<Ticker> {
        let engine = Box::new(engine.clone());
        let ptr = &*engine as *const Engine as *mut Engine;
        let slot = ENGINES
            .iter()
            .position(|s| s.compare_exchange(null_mut(), ptr, SeqCst, SeqCst).is_ok())?;
        REGISTERED.fetch_add(1, SeqCst);
        arm();
        Some(Ticker { slot, _engine: engine })
    }

    /// Identifies this registration for [`Paused::new`].
    pub fn slot(&self) -> usize {
        self.slot
    }
}

/// Arms the timer if it is stopped (see the module comment).
fn arm() {
    if RUNNING.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
        // SAFETY: arms the module's timer (initialised at load); this
        // caller won the right to arm it.
        unsafe { ffi::kwasm_ticker_start() };
    }
}

/// A registration taken out of the ticker for a while (a parked run costs
/// no ticks); put back on drop.
pub struct Paused {
    slot: usize,
    engine: *mut Engine,
}

impl Paused {
    /// Pauses the live [`Ticker`] with this slot. The Ticker must outlive
    /// the returned guard.
    pub fn new(slot: usize) -> Paused {
        let engine = ENGINES[slot].swap(null_mut(), SeqCst);
        if !engine.is_null() {
            REGISTERED.fetch_sub(1, SeqCst);
            while IN_TICK.load(SeqCst) {
                core::hint::spin_loop();
            }
        }
        Paused { slot, engine }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if !self.engine.is_null() {
            ENGINES[self.slot].store(self.engine, SeqCst);
            REGISTERED.fetch_add(1, SeqCst);
            arm();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        ENGINES[self.slot].store(null_mut(), SeqCst);
        REGISTERED.fetch_sub(1, SeqCst);
        // A callback that may have read the pointer before it was cleared
        // is still running; one that starts now sees null.
        while IN_TICK.load(SeqCst) {
            core::hint::spin_loop();
        }
    }
}

/// The timer callback (hard irq context): bumps every registered engine's
/// epoch; returns whether the timer should fire again.
#[no_mangle]
pub extern "C" fn kwasm_rust_tick() -> bool {
    IN_TICK.store(true, SeqCst);
    for slot in &ENGINES {
        let engine = slot.load(SeqCst);
        if !engine.is_null() {
            // SAFETY: a registered engine stays allocated until its Ticker
            // has cleared the slot and seen IN_TICK false.
            unsafe { (*engine).increment_epoch() };
        }
    }
    IN_TICK.store(false, SeqCst);
    if REGISTERED.load(SeqCst) != 0 {
        return true;
    }
    RUNNING.store(false, SeqCst);
    // A registration between the load above and the store found the timer
    // running and did not arm it: keep going, unless it armed it itself.
    REGISTERED.load(SeqCst) != 0 && RUNNING.compare_exchange(false, true, SeqCst, SeqCst).is_ok()
}
