//! The platform layer: the only code in the crate that calls the kernel.
//!
//! Each submodule wraps one kernel facility in a safe Rust API; `ffi` holds
//! the raw declarations and is private to this layer. The list is short on
//! purpose (compare Wasmtime's `min-platform`): logging, memory, user-space
//! copies, credentials, the panic path; for running wasm: the caller's
//! files and paths beneath its preopens (`fs`), sockets (`net`) and
//! wait-queue readiness (`waiter`), clocks and randomness, scheduling and
//! signals, a private stack, an epoch timer, CPU features, page protection
//! (`pte`: W^X code memory, stack guard pages), guard regions for linear
//! memories and the faults in them (`guard`),
//! the wasm section (FPU, IBT), and the hooks Wasmtime's `no_std` build
//! asks its embedder for (`task`: thread-local slots, `sync`: locks).

// First, so the pr_* macros exist for the modules below.
#[macro_use]
pub mod printk;

pub mod alloc;
pub mod clock;
pub mod codemem;
pub mod cpu;
pub mod cred;
mod ffi;
pub mod file;
pub mod fs;
pub mod guard;
pub mod memory;
pub mod net;
mod panic;
pub mod params;
pub mod pte;
pub mod sched;
pub mod section;
pub mod fiber;
pub mod stack;
pub mod sync;
pub mod task;
pub mod ticker;
pub mod waiter;
pub mod user;
