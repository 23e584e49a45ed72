//! The module parameters (`modinfo kwasm`, `/sys/module/kwasm/parameters/`):
//! module-wide limits an administrator sets, read afresh at every run.

use super::ffi;
use core::ptr::{addr_of, read_volatile};

/// Most programs running at once.
pub fn max_instances() -> usize {
    // SAFETY: a u32 the kernel's param code writes with a plain store;
    // reading it whole is all we need (a run sees the old or new value).
    unsafe { read_volatile(addr_of!(ffi::kwasm_param_max_instances)) as usize }
}

/// Cap on a program's linear memory in bytes; `None` for no cap.
pub fn max_memory() -> Option<u64> {
    // SAFETY: as max_instances.
    let mib = unsafe { read_volatile(addr_of!(ffi::kwasm_param_max_memory_mib)) } as u64;
    (mib != 0).then(|| mib.saturating_mul(1 << 20))
}

/// Cap on a program's run time in nanoseconds; `None` for no cap.
pub fn max_timeout_ns() -> Option<u64> {
    // SAFETY: as max_instances.
    let ms = unsafe { read_volatile(addr_of!(ffi::kwasm_param_max_timeout_ms)) } as u64;
    (ms != 0).then(|| ms.saturating_mul(1_000_000))
}

/// The tighter of a request's limit (0: none) and the module's cap.
pub fn tighter(requested: u64, cap: Option<u64>) -> Option<u64> {
    match (requested, cap) {
        (0, cap) => cap,
        (r, Some(c)) => Some(r.min(c)),
        (r, None) => Some(r),
    }
}
