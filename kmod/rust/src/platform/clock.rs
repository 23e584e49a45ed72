//! Kernel clocks, in nanoseconds.

use super::ffi;

pub fn realtime_ns() -> u64 {
    // SAFETY: timekeeping reads are valid in any context.
    unsafe { ffi::kwasm_clock_realtime_ns() }
}

pub fn monotonic_ns() -> u64 {
    // SAFETY: as above.
    unsafe { ffi::kwasm_clock_monotonic_ns() }
}

/// CPU time the calling task has used (as of its last accounting update).
pub fn task_cputime_ns() -> u64 {
    // SAFETY: reads the current task's scheduler statistics.
    unsafe { ffi::kwasm_clock_task_cputime_ns() }
}

/// Fills `buf` from the kernel's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) {
    // SAFETY: `buf` is a valid writable buffer of its length.
    unsafe { ffi::get_random_bytes(buf.as_mut_ptr().cast(), buf.len()) }
}
