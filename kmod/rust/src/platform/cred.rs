//! Credentials of the calling task.

use super::ffi;

/// `CAP_SYS_ADMIN` from `include/uapi/linux/capability.h` (stable UAPI).
const CAP_SYS_ADMIN: core::ffi::c_int = 21;

/// Whether the calling task has CAP_SYS_ADMIN in the initial user namespace
/// (`capable()`, which also records the use for auditing).
pub fn capable_sys_admin() -> bool {
    // SAFETY: capable() only reads the current task's credentials; it may be
    // called from any process context, which is where every caller is.
    unsafe { ffi::capable(CAP_SYS_ADMIN) }
}
