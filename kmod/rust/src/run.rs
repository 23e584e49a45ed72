//! The RUN ioctl: one WASI command, run to completion on a fiber in the
//! caller's context — parked meanwhile whenever the caller's process is
//! stopped, frozen, traced or runs a signal handler.
//!
//! Parking (see `wasm::parking::Parking` for when): the run's fiber
//! suspends, the ioctl returns `-ERESTARTNOINTR` and the run waits in
//! [`PARKED`], keyed by its task, its open file and the request's address.
//! The task goes back to user space, where the kernel stops it, freezes
//! it, reports it to its tracer or runs its handler — and then restarts
//! the ioctl with the same arguments (that errno is never seen by user
//! space), which finds the run and resumes it. Closing the file cancels
//! the file's parked runs: each is resumed once to end (its wasm unwinds
//! as for a fatal signal), in whatever task closed it. A task that exits
//! while parked closes its files, so its runs end there; an open file
//! pins the module, so `rmmod` waits until then.

use crate::platform::fiber::{Fiber, Resume, Step};
use crate::platform::memory::MemoryAccount;
use crate::platform::sched::TaskRef;
use crate::platform::stack::Stack;
use crate::platform::sync::Lock;
use crate::platform::task::{Status, TaskClaim};
use crate::platform::user::{read_request, UserPtr};
use crate::wasm::{self, instantiate_failed, Report, RunState};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use kwasm_abi::list::STATE_ENDING;
use kwasm_abi::{Error, Outcome, RunRequest};
use wasmtime::Store;

use crate::pr_err;

/// How a RUN ioctl ended.
pub enum Ended {
    /// The run ended and its reply is written.
    Replied,
    /// The run is parked: return `-ERESTARTNOINTR`.
    Parked,
}

/// A run between ioctls: the request (for its reply), the task entry it
/// holds and the fiber it runs on.
struct Run {
    req: RunRequest,
    claim: TaskClaim,
    fiber: Fiber<'static, Report>,
}

/// A parked run and what the restarted ioctl must match to resume it.
struct Parked {
    task: TaskRef,
    /// The open file (the address of its `private_data`).
    file: usize,
    arg: usize,
    run: Run,
}

// SAFETY: a parked run is used by one task at a time: the one that parked
// it, until it is in PARKED, then whoever takes it out (the same task
// resuming it, or the one closing its file).
unsafe impl Send for Parked {}

/// Every parked run.
static PARKED: Lock<Vec<Parked>> = Lock::new(Vec::new());

pub fn ioctl(file: usize, arg: UserPtr) -> Result<Ended, Error> {
    let addr = arg.addr();
    let parked = PARKED.with(|parked| {
        let i = parked
            .iter()
            .position(|p| p.file == file && p.arg == addr && p.task.is_current())?;
        Some(parked.swap_remove(i).run)
    });
    let run = match parked {
        Some(run) => run,
        None => start(arg)?,
    };
    drive(run, file, arg)
}

/// Reads the request and sets up its run, not started yet.
fn start(arg: UserPtr) -> Result<Run, Error> {
    let req: RunRequest = read_request(arg)?;
    let image = UserPtr::new(req.image.ptr as usize).read_bytes(req.image.len as usize)?;
    let wasi = wasm::wasi_context(&req.wasi)?;
    let claim = wasm::claim_task(req.engine.engine, req.limits.max_memory, wasi.args.get(0).unwrap_or(b"?"))?;
    let status = claim.status();
    let stack = Stack::new().ok_or(Error::OutOfMemory)?;
    let request = req.clone();
    let fiber = Fiber::new(stack, move |suspender| {
        let allow_parking = |store: &mut Store<RunState>| store.data_mut().parking.allow(Some(suspender));
        let report = match run(&request, image, wasi, status, allow_parking) {
            Ok(report) | Err(report) => report,
        };
        status.state.store(STATE_ENDING, Ordering::Relaxed);
        report
    });
    Ok(Run { req, claim, fiber })
}

/// Runs `run` until it ends (the reply is written) or parks.
fn drive(mut run: Run, file: usize, arg: UserPtr) -> Result<Ended, Error> {
    run.claim.attach();
    match run.fiber.resume(Resume::Continue) {
        Step::Done(report) => {
            let Run { mut req, claim, fiber } = run;
            // The stack and whatever the closure left on it go first.
            drop(fiber);
            wasm::write_reply(&mut req.reply, &report)?;
            let written = arg.write(&req);
            drop(claim);
            written.map(|_| Ended::Replied)
        }
        Step::Suspended => {
            run.claim.detach();
            let parked = Parked {
                task: TaskRef::current(),
                file,
                arg: arg.addr(),
                run,
            };
            PARKED.with(|p| p.push(parked));
            Ok(Ended::Parked)
        }
    }
}

/// The last close of an open file: its parked runs end, each resumed once
/// in the calling task to unwind (nothing is written back: no ioctl
/// waits for them).
pub fn release(file: usize) {
    let mine = PARKED.with(|parked| {
        let (mine, others) = core::mem::take(parked).into_iter().partition(|p| p.file == file);
        *parked = others;
        mine
    });
    for Parked { run, .. } in mine {
        let Run { claim, mut fiber, .. } = run;
        claim.attach();
        // A cancelled run ends at its next signal check, which is the one
        // it is parked in: it cannot park again.
        if let Step::Suspended = fiber.resume(Resume::Cancel) {
            pr_err!("a cancelled run parked again; its stack is kept");
            core::mem::forget(fiber);
            continue;
        }
        drop(fiber);
        drop(claim);
    }
}

fn run(
    req: &RunRequest,
    image: Vec<u8>,
    wasi: wasm::WasiContext,
    status: &'static Status,
    prepare: impl FnOnce(&mut Store<RunState>),
) -> Result<Report, Report> {
    let account = MemoryAccount::for_current();
    let (settings, engine) = wasm::engine_for(&req.engine, &account, wasm::memory_cap(&req.limits))?;
    let module = wasm::load(&engine, &image)?;
    drop(image);
    for import in module.imports() {
        if let Some(why) = kwasm_wasi::unsupported_import(import.module(), import.name()) {
            return Err(instantiate_failed(why));
        }
    }
    let mut store: Store<RunState> = wasm::new_store(&engine, &settings, wasi, &req.limits, 1, status, account)?;
    store.data_mut().hold_code(&module);
    prepare(&mut store);
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
