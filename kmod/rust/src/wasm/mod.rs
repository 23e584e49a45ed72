//! Wasmtime in ring 0: what the one-shot RUN and sessions share — the
//! engine an image names, the store instances live in, the stretch of
//! running wasm between a yield-checked entry and its exit, values, and how
//! an error from Wasmtime becomes a report for user space; the imports
//! it offers (WASI preview1, kwasm_net). (The spec
//! testsuite's `spectest` module is `kwasm_engine::define_spectest`.)
//!
//! Layers, each using only those below it: `parking` (signals, why a run
//! stops) ← `poller` (kwasm_net's wait sets) ← `store` (the store's data,
//! yield points) ← `wasi` and `net` (the imports; `net`'s `close` is
//! WASI's `fd_close`) ← [`linker`] here, which binds both.

mod engine;
mod net;
mod parking;
mod poller;
mod report;
mod store;
mod values;
mod wasi;

pub use engine::{engine_for, load};
pub use report::{instantiate_failed, write_reply, Report};
pub use store::{claim_task, enter, memory_cap, new_store, RunState, WasiContext};
pub use values::{from_val, to_vals};
pub use wasi::context as wasi_context;

use wasmtime::{Engine, Linker, Result};

/// A linker with every function of `wasi_snapshot_preview1` and of
/// kwasm_net.
pub fn linker(engine: &Engine) -> Result<Linker<RunState>> {
    let mut l = Linker::new(engine);
    wasi::add_to_linker(&mut l)?;
    net::add_to_linker(&mut l)?;
    Ok(l)
}
