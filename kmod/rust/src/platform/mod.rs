//! The platform layer: the only code in the crate that calls the kernel.
//!
//! Each submodule wraps one kernel facility in a safe Rust API; `ffi` holds
//! the raw declarations and is private to this layer. The list is short on
//! purpose (compare Wasmtime's `min-platform`): logging, memory, user-space
//! copies, credentials, and the panic path.

// First, so the pr_* macros exist for the modules below.
#[macro_use]
pub mod printk;

pub mod alloc;
pub mod cred;
mod ffi;
mod panic;
pub mod user;
