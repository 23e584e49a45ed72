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
//! that may sleep, yield points, allocations made by Wasmtime's libcalls
//! (memory.grow, traps). [`Section::suspended`] leaves the section around
//! such code and re-enters it afterwards. This is sound because the System V
//! ABI makes every vector register caller-saved: at any call out of wasm, no
//! wasm value lives in them. Host functions that never sleep stay inside
//! (see [`quick_host_calls`]): leaving and re-entering is most of what a
//! host call would otherwise cost.

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

/// The wasm section of one run: its task entry, found once per stretch of
/// wasm, so that crossing the section's edge needs no lookup.
#[derive(Clone, Copy)]
pub struct Section(Option<&'static task::Entry>);

impl Section {
    /// The calling task's (none if it runs no instance: every method is
    /// then a no-op).
    pub fn current() -> Section {
        Section(task::current_entry())
    }

    pub const NONE: Section = Section(None);

    fn inside(self) -> Option<&'static task::Entry> {
        self.0.filter(|e| e.in_section.load(Ordering::Relaxed))
    }

    /// Whether the task is inside the section now.
    pub fn is_open(self) -> bool {
        self.inside().is_some()
    }

    /// Enters the section (before native wasm runs). No-op if already inside.
    pub fn enter(self) {
        if let Some(e) = self.0 {
            if !e.in_section.load(Ordering::Relaxed) {
                enter_raw(e);
            }
        }
    }

    /// Leaves the section (after native wasm returned). No-op if not inside.
    pub fn leave(self) {
        if let Some(e) = self.inside() {
            leave_raw(e);
        }
    }

    /// Runs `f` outside the section if the task is inside it, and
    /// re-enters it afterwards.
    pub fn suspended<R>(self, f: impl FnOnce() -> R) -> R {
        match self.inside() {
            Some(e) => {
                leave_raw(e);
                let r = f();
                enter_raw(e);
                r
            }
            None => f(),
        }
    }
}

/// [`Section::suspended`] for the calling task, for code that does not
/// know its run (allocation, scheduling, signals).
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    Section::current().suspended(f)
}

/// Whether host functions that never sleep may run inside the section.
/// Not on PREEMPT_RT: there spinlock_t and local_lock sleep when contended,
/// so even the kernel's "atomic-safe" calls (get_random_bytes, the CPU-time
/// seqlocks) may sleep, and every host call leaves the section.
pub fn quick_host_calls() -> bool {
    // SAFETY: reads a compile-time constant of the kernel's configuration.
    !unsafe { ffi::kwasm_preempt_rt() }
}
