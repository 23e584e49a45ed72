//! Wasmtime in ring 0: what the one-shot RUN and sessions share — the
//! engine an image names, the store instances live in, the stretch of
//! running wasm between a yield-checked entry and its exit, values, and how
//! an error from Wasmtime becomes a report for user space; the imports
//! it offers (WASI preview1, kwasm_net). (The spec
//! testsuite's `spectest` module is `kwasm_engine::define_spectest`.)

mod engine;
mod net;
mod poller;
mod report;
mod store;
mod values;
mod wasi;

pub use engine::{engine_for, load};
pub use report::{instantiate_failed, write_reply, Report};
pub use store::{claim_task, enter, memory_cap, new_store, RunState};
pub use values::{from_val, to_vals};
pub use wasi::{context as wasi_context, linker, Context as WasiContext};
