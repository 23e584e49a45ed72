//! The Rust half of `kwasm.ko`.
//!
//! The C glue (`../kwasm_glue.c`) owns module init/exit and the misc device;
//! it calls the four `kwasm_rust_*` entry points below and nothing else.
//! Everything that touches the kernel goes through [`platform`], the thin
//! layer that owns all FFI; the rest of the crate is ordinary Rust.
#![no_std]

extern crate alloc;

mod device;
mod list;
mod platform;
mod run;
mod selftest;

use core::ffi::{c_int, c_long, c_uint, c_ulong};
use platform::user::UserPtr;

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

/// `open()` on `/dev/kwasm`. Returns 0 or -errno.
#[no_mangle]
pub extern "C" fn kwasm_rust_open() -> c_int {
    match device::open() {
        Ok(()) => 0,
        Err(e) => -e.errno(),
    }
}

/// `ioctl()` on `/dev/kwasm`. Returns 0 or -errno.
#[no_mangle]
pub extern "C" fn kwasm_rust_ioctl(cmd: c_uint, arg: c_ulong) -> c_long {
    match device::ioctl(cmd, UserPtr::new(arg as usize)) {
        Ok(()) => 0,
        Err(e) => -(e.errno() as c_long),
    }
}
