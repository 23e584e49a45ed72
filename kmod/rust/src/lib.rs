//! The Rust half of `kwasm.ko`.
//!
//! The C glue (`../kwasm_glue.c`) owns module init/exit and the misc device;
//! it calls the `kwasm_rust_*` entry points below and nothing else.
//! Everything that touches the kernel goes through [`platform`], the thin
//! layer that owns all FFI; the rest of the crate is ordinary Rust.
#![no_std]

extern crate alloc;

mod device;
mod list;
mod platform;
mod run;
mod selftest;
mod session;
mod softfloat;
mod wasm;

use core::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use core::sync::atomic::AtomicPtr;
use platform::user::UserPtr;
use session::Session;

/// The module's release, `MODULE_VERSION` in the glue (Kbuild reads it from
/// this crate's Cargo.toml).
pub const MODULE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a failed self-test makes `insmod` report.
const EIO: c_int = 5;

/// Called from `module_init` before `/dev/kwasm` exists. Returns 0 or -errno;
/// a failure aborts the load.
#[no_mangle]
pub extern "C" fn kwasm_rust_init(run_selftest: bool) -> c_int {
    if run_selftest {
        match selftest::run() {
            Ok(checks) => pr_info!("selftest passed ({checks} checks)"),
            Err(failure) => {
                pr_err!("selftest failed: {failure}; refusing to load");
                return -EIO;
            }
        }
    }
    pr_info!("version {MODULE_VERSION} loaded (ABI {})", kwasm_abi::ABI_VERSION);
    0
}

/// Called from `module_exit` after `/dev/kwasm` is gone, and when init fails
/// after [`kwasm_rust_init`] succeeded.
#[no_mangle]
pub extern "C" fn kwasm_rust_exit() {
    pr_info!("unloaded");
}

/// The open file's `private_data`, as the session slot it is to Rust.
///
/// # Safety
/// `private_data` points to the `private_data` field of an open `struct
/// file`, which outlives the call.
unsafe fn session_slot<'a>(private_data: *mut *mut c_void) -> &'a AtomicPtr<Session> {
    // SAFETY: AtomicPtr<T> has the layout of *mut T; the field is only
    // ever accessed through this slot once the file is open (the glue
    // hands it over and never reads it but to pass it back to Rust).
    unsafe { AtomicPtr::from_ptr(private_data as *mut *mut Session) }
}

/// `open()` on `/dev/kwasm`. Returns 0 or -errno.
///
/// # Safety
/// `private_data` is `&file->private_data` of the file being opened.
#[no_mangle]
pub unsafe extern "C" fn kwasm_rust_open(private_data: *mut *mut c_void) -> c_int {
    match device::open() {
        Ok(()) => {
            // The misc device left its own pointer here; the file starts
            // without a session.
            // SAFETY: the glue passes &file->private_data of the file being opened.
            unsafe { *private_data = core::ptr::null_mut() };
            0
        }
        Err(e) => -e.errno(),
    }
}

/// The kernel's "restart this system call once the task has been to user
/// space" (`ERESTARTNOINTR`, include/linux/errno.h): never seen by user
/// space, whatever the task's signal handlers' flags.
const ERESTARTNOINTR: c_long = 513;

/// `ioctl()` on `/dev/kwasm`. Returns 0 or -errno.
///
/// # Safety
/// `private_data` is `&file->private_data` of the file the ioctl is on.
#[no_mangle]
pub unsafe extern "C" fn kwasm_rust_ioctl(private_data: *mut *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: the glue passes &file->private_data of the file the ioctl is on.
    let slot = unsafe { session_slot(private_data) };
    match device::ioctl(slot, cmd, UserPtr::new(arg as usize)) {
        Ok(run::Ended::Replied) => 0,
        Ok(run::Ended::Parked) => -ERESTARTNOINTR,
        Err(e) => -(e.errno() as c_long),
    }
}

/// `/sys/class/misc/kwasm/memory_bytes`: the kernel memory programs hold
/// (linear memories, tables, code), as their processes' RSS counts it.
#[no_mangle]
pub extern "C" fn kwasm_rust_memory_bytes() -> u64 {
    platform::memory::held_bytes() as u64
}

/// The address space linear memories hold now (reserved, mostly
/// unmapped: `platform::guard`).
#[no_mangle]
pub extern "C" fn kwasm_rust_reserved_bytes() -> u64 {
    platform::guard::reserved_bytes() as u64
}

/// Last `close()` of an open `/dev/kwasm`: ends its parked runs and its
/// session, if any.
///
/// # Safety
/// `private_data` is `&file->private_data` of the file being released,
/// after every ioctl on it has returned.
#[no_mangle]
pub unsafe extern "C" fn kwasm_rust_release(private_data: *mut *mut c_void) {
    // SAFETY: the glue passes &file->private_data of the file being released.
    device::release(unsafe { session_slot(private_data) });
}
