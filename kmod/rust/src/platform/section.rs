//! The wasm section: the state native wasm code runs in.
//!
//! Native code uses SSE/AVX registers, which kernel code may only touch
//! between `kernel_fpu_begin()` and `kernel_fpu_end()` (preemption off).
//! On IBT kernels it also jumps to code with no ENDBR landing pads
//! (Cranelift emits none), so while it runs this CPU's supervisor IBT is
//! switched off (MSR_IA32_S_CET.ENDBR_EN) — which is only sound while
//! preemption is off, so that no other task ever runs on this CPU without
//! IBT. Entering the section does both; leaving restores IBT first and
//! then ends the FPU section.
//!
//! Anything that may sleep must run outside the section: host functions
//! (left through Wasmtime's call hooks), yield points, allocations made by
//! Wasmtime's libcalls (memory.grow, traps). [`suspended`] leaves the section
//! around such code and re-enters it afterwards. This is sound because the
//! System V ABI makes every vector register caller-saved: at any call out of
//! wasm, no wasm value lives in them.

use super::{ffi, task};
use core::sync::atomic::Ordering;

/// MSR_IA32_S_CET.ENDBR_EN (Intel SDM, CET): enforce ENDBR at indirect
/// branch targets in supervisor mode.
const CET_ENDBR_EN: u64 = 1 << 2;

fn enter_raw(entry: &task::Entry) {
    // SAFETY: process context with no FPU section open on this task
    // (`in_section` is false), so the begin/end pair stays balanced.
    unsafe { ffi::kwasm_fpu_begin() };
    // SAFETY: preemption is now off until kwasm_fpu_end, so the MSR change
    // stays on this CPU and is undone (leave_raw) before anything else can
    // run here.
    if unsafe { ffi::kwasm_cpu_has_ibt() } {
        let cet = unsafe { ffi::kwasm_read_s_cet() };
        entry.saved_cet.store(cet, Ordering::Relaxed);
        unsafe { ffi::kwasm_write_s_cet(cet & !CET_ENDBR_EN) };
    }
    entry.in_section.store(true, Ordering::Relaxed);
}

fn leave_raw(entry: &task::Entry) {
    entry.in_section.store(false, Ordering::Relaxed);
    // SAFETY: still inside the section entered by enter_raw on this CPU
    // (preemption off); restore IBT, then end the FPU section.
    unsafe {
        if ffi::kwasm_cpu_has_ibt() {
            ffi::kwasm_write_s_cet(entry.saved_cet.load(Ordering::Relaxed));
        }
        ffi::kwasm_fpu_end();
    }
}

/// Enters the section (before native wasm runs). No-op if already inside.
pub fn enter() {
    if let Some(e) = task::current_entry() {
        if !e.in_section.load(Ordering::Relaxed) {
            enter_raw(e);
        }
    }
}

/// Leaves the section (after native wasm returned). No-op if not inside.
pub fn leave() {
    if let Some(e) = task::current_entry() {
        if e.in_section.load(Ordering::Relaxed) {
            leave_raw(e);
        }
    }
}

/// Runs `f` outside the section if the calling task is inside one, and
/// re-enters it afterwards.
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    match task::current_entry().filter(|e| e.in_section.load(Ordering::Relaxed)) {
        Some(e) => {
            leave_raw(e);
            let r = f();
            enter_raw(e);
            r
        }
        None => f(),
    }
}
