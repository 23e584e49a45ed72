//! The RUN ioctl: one WASI command, run to completion on a private stack in
//! the caller's context.

use crate::platform::stack::Stack;
use crate::platform::task::Status;
use crate::platform::user::{read_request, UserPtr};
use crate::wasm::{self, instantiate_failed, Report, RunState};
use alloc::string::String;
use core::sync::atomic::Ordering;
use kwasm_abi::list::STATE_ENDING;
use kwasm_abi::{Error, Outcome, RunRequest};
use wasmtime::Store;

pub fn ioctl(arg: UserPtr) -> Result<(), Error> {
    let mut req: RunRequest = read_request(arg)?;
    let image = UserPtr::new(req.image.ptr as usize).read_bytes(req.image.len as usize)?;
    let wasi = wasm::wasi_context(&req.wasi)?;
    let task = wasm::claim_task(req.engine.engine, req.limits.max_memory, wasi.args.get(0).unwrap_or(b"?"))?;
    let status = task.status();
    let mut stack = Stack::new().ok_or(Error::OutOfMemory)?;
    let report = stack.run(|| {
        let report = match run(&req, image, wasi, status) {
            Ok(report) | Err(report) => report,
        };
        status.state.store(STATE_ENDING, Ordering::Relaxed);
        report
    });
    drop(stack);
    wasm::write_reply(&mut req.reply, &report)?;
    arg.write(&req)
}

fn run(
    req: &RunRequest,
    image: alloc::vec::Vec<u8>,
    wasi: wasm::WasiContext,
    status: &'static Status,
) -> Result<Report, Report> {
    let (settings, engine) = wasm::engine_for(&req.engine)?;
    let module = wasm::load(&engine, &image)?;
    drop(image);
    for import in module.imports() {
        if let Some(why) = kwasm_wasi::unsupported_import(import.module(), import.name()) {
            return Err(instantiate_failed(why));
        }
    }
    let mut store: Store<RunState> = wasm::new_store(&engine, &settings, wasi, &req.limits, 1, status)?;
    let linker = wasm::linker(&engine).map_err(|e| instantiate_failed(alloc::format!("{e:?}")))?;
    let instance = wasm::enter(&mut store, status, |store| linker.instantiate(store, &module))?.map_err(|e| {
        match Report::ended(e) {
            // A start function that traps still says how it ended.
            r if r.outcome == Outcome::Trapped => Report::new(Outcome::InstantiateFailed, r.message),
            r => r,
        }
    })?;
    // The only instance of the store: its memory is every host call's.
    store.data_mut().memory = instance.get_memory(&mut store, "memory");
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|_| instantiate_failed("no `_start` function: not a WASI command (use --invoke to call an export)"))?;
    Ok(match wasm::enter(&mut store, status, |store| start.call(store, ()))? {
        Ok(()) => Report::new(Outcome::Exited, String::new()),
        Err(e) => Report::ended(e),
    })
}
