//! Sessions (see `kwasm_abi::session`): a store of instances that outlives
//! one ioctl, owned by the open file. Each ioctl that runs wasm claims the
//! calling task and runs on the session's private stack, exactly as RUN
//! does; instances stay until the file is closed.

use crate::platform::fiber::{self, Fiber, Resume, Step};
use crate::platform::memory::MemoryAccount;
use crate::platform::sched::TaskRef;
use crate::platform::stack::Stack;
use crate::platform::task::{Status, TaskClaim};
use crate::pr_err;
use crate::run::Ended;
use crate::platform::user::{read_name, read_request, read_values, write_values, UserPtr};
use crate::wasm::{self, instantiate_failed, Report, RunState};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kwasm_abi::session::{MAX_SESSION_INSTANCES, SESSION_SPECTEST};
use kwasm_abi::{Error, InstanceRequest, InstantiateRequest, Outcome, SessionRequest, Value};
use wasmtime::{AsContext, Instance, Linker, RootScope, Store, Val};

/// What an open file's `private_data` points to once it is a session.
pub struct Session {
    /// Set while an ioctl uses the session: a second thread gets `EBUSY`
    /// instead of waiting behind a long call.
    busy: AtomicBool,
    inner: UnsafeCell<Inner>,
}

struct Inner {
    engine: u32,
    max_memory: u64,
    /// argv[0], for `kwasm ps`.
    name: Vec<u8>,
    stack: Stack,
    /// `None` only while the session is being dropped.
    live: Option<Live>,
    /// A CALL parked for a signal (see `crate::run`), until the same task
    /// restarts it; any other request gets `Busy` meanwhile.
    parked: Option<ParkedCall>,
}

/// A CALL between ioctls: the request (for its reply), the task entry it
/// holds and the fiber it runs on (on the session's stack).
struct Call {
    req: InstanceRequest,
    claim: TaskClaim,
    fiber: Fiber<'static, Report>,
}

/// A parked CALL and what the restarted ioctl must match.
struct ParkedCall {
    task: TaskRef,
    arg: usize,
    call: Call,
}

struct Live {
    store: Store<RunState>,
    linker: Linker<RunState>,
    /// Handle `h` is `instances[h - 1]`; `None` once destroyed.
    instances: Vec<Option<Instance>>,
}

/// SESSION: makes the open file (its `private_data` slot) a session.
pub fn create(slot: &AtomicPtr<Session>, arg: UserPtr) -> Result<(), Error> {
    let mut req: SessionRequest = read_request(arg)?;
    if !slot.load(Ordering::Acquire).is_null() {
        return Err(Error::SessionExists);
    }
    let wasi = wasm::wasi_context(&req.wasi)?;
    let name = wasi.args.get(0).unwrap_or(b"?").to_vec();
    let task = wasm::claim_task(req.engine.engine, req.limits.max_memory, &name)?;
    let mut stack = Stack::new().ok_or(Error::OutOfMemory)?;
    let live = fiber::run_on(&mut stack, || Live::new(&req, wasi, task.status()));
    drop(task);
    let report = match live {
        Err(report) => report,
        Ok(live) => {
            let session = Box::new(Session {
                busy: AtomicBool::new(false),
                inner: UnsafeCell::new(Inner {
                    engine: req.engine.engine,
                    max_memory: req.limits.max_memory,
                    name,
                    stack,
                    live: Some(live),
                    parked: None,
                }),
            });
            let ptr = Box::into_raw(session);
            if slot
                .compare_exchange(core::ptr::null_mut(), ptr, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Another thread made it a session first.
                // SAFETY: `ptr` came from Box::into_raw above and was never shared.
                release(unsafe { Box::from_raw(ptr) });
                return Err(Error::SessionExists);
            }
            Report::new(Outcome::Returned, String::new())
        }
    };
    wasm::write_reply(&mut req.reply, &report)?;
    arg.write(&req)
}

/// Ends the session in `slot`, if the file is one, when the file is
/// closed (after every ioctl on it has returned).
pub fn release_slot(slot: &AtomicPtr<Session>) {
    let ptr = slot.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !ptr.is_null() {
        // SAFETY: a non-null slot holds a session published by `create`
        // (Box::into_raw), taken out of the slot just now, once.
        release(unsafe { Box::from_raw(ptr) });
    }
}

/// Ends a session: every instance, its memories and code go with the
/// store.
fn release(session: Box<Session>) {
    let mut inner = session.inner.into_inner();
    if let Some(ParkedCall { call, .. }) = inner.parked.take() {
        // Resumed once, in the closing task, to unwind (as a parked RUN).
        let Call { claim, mut fiber, .. } = call;
        claim.attach();
        if let Step::Suspended = fiber.resume(Resume::Cancel) {
            pr_err!("a cancelled call parked again; the session's stack is kept");
            core::mem::forget(fiber);
            core::mem::forget(inner);
            return;
        }
    }
    let live = inner.live.take();
    // Dropping a store frees its instances; do it on the private stack
    // where they ran, not on the task's small kernel stack.
    fiber::run_on(&mut inner.stack, move || drop(live));
}

/// Runs `f` on the session in `slot`, if there is one and no other thread
/// is using it.
fn with(slot: &AtomicPtr<Session>, f: impl FnOnce(&mut Inner) -> Result<Ended, Error>) -> Result<Ended, Error> {
    let ptr = slot.load(Ordering::Acquire);
    if ptr.is_null() {
        return Err(Error::NoSession);
    }
    // SAFETY: a published session lives until the file is released, which
    // cannot happen while an ioctl on it runs (the ioctl holds a file
    // reference).
    let session = unsafe { &*ptr };
    if session.busy.swap(true, Ordering::Acquire) {
        return Err(Error::Busy);
    }
    // SAFETY: `busy` makes this the only reference to `inner` until it is
    // cleared below.
    let result = f(unsafe { &mut *session.inner.get() });
    session.busy.store(false, Ordering::Release);
    result
}

/// INSTANTIATE
pub fn instantiate(slot: &AtomicPtr<Session>, arg: UserPtr) -> Result<Ended, Error> {
    with(slot, |inner| {
        if inner.parked.is_some() {
            return Err(Error::Busy);
        }
        let mut req: InstantiateRequest = read_request(arg)?;
        let image = UserPtr::new(req.image.ptr as usize).read_bytes(req.image.len as usize)?;
        let task = wasm::claim_task(inner.engine, inner.max_memory, &inner.name)?;
        let live = inner.live.as_mut().ok_or(Error::NoSession)?;
        let result = fiber::run_on(&mut inner.stack, || live.instantiate(image, task.status()));
        drop(task);
        let report = match result {
            Ok(handle) => {
                req.handle = handle;
                Report::new(Outcome::Returned, String::new())
            }
            Err(report) => report,
        };
        wasm::write_reply(&mut req.reply, &report)?;
        arg.write(&req).map(|()| Ended::Replied)
    })
}

/// The operations of [`InstanceRequest`].
#[derive(Clone, Copy)]
pub enum Op {
    Call,
    Get,
    Register,
    Destroy,
}

/// CALL, GET, REGISTER, DESTROY
pub fn instance_op(slot: &AtomicPtr<Session>, op: Op, arg: UserPtr) -> Result<Ended, Error> {
    with(slot, |inner| {
        if let Some(parked) = inner.parked.take() {
            if let (Op::Call, true) = (op, parked.arg == arg.addr() && parked.task.is_current()) {
                return drive(inner, parked.call, arg);
            }
            inner.parked = Some(parked);
            return Err(Error::Busy);
        }
        let req: InstanceRequest = read_request(arg)?;
        let name = read_name(req.name)?;
        let live = inner.live.as_mut().ok_or(Error::NoSession)?;
        let instance = live.instance(req.handle)?;
        let report = match op {
            Op::Call => {
                let params = read_values(req.params)?;
                let claim = wasm::claim_task(inner.engine, inner.max_memory, &inner.name)?;
                let status = claim.status();
                let live: *mut Live = live;
                // SAFETY: the session's stack is free (no other call runs:
                // `busy`, and a parked call makes every other request
                // Busy) and outlives the fiber (release ends a parked call
                // before the stack goes). `live` is not touched by anyone
                // else while the fiber exists, for the same reasons.
                let fiber = unsafe {
                    Fiber::on(inner.stack.top(), move |suspender| {
                        let live = &mut *live;
                        live.store.data_mut().parking.allow(Some(suspender));
                        let report = live.call(instance, &name, &params, status);
                        live.store.data_mut().parking.allow(None);
                        report
                    })
                };
                return drive(inner, Call { req, claim, fiber }, arg);
            }
            Op::Get => live.get(instance, &name),
            Op::Register => live.register(instance, &name),
            Op::Destroy => {
                live.instances[req.handle as usize - 1] = None;
                Report::new(Outcome::Returned, String::new())
            }
        };
        reply(req, &report, arg)
    })
}

/// Runs a CALL until it returns (the reply is written) or parks.
fn drive(inner: &mut Inner, mut call: Call, arg: UserPtr) -> Result<Ended, Error> {
    call.claim.attach();
    match call.fiber.resume(Resume::Continue) {
        Step::Done(report) => {
            let Call { req, claim, fiber } = call;
            drop(fiber);
            drop(claim);
            reply(req, &report, arg)
        }
        Step::Suspended => {
            call.claim.detach();
            inner.parked = Some(ParkedCall {
                task: TaskRef::current(),
                arg: arg.addr(),
                call,
            });
            Ok(Ended::Parked)
        }
    }
}

fn reply(mut req: InstanceRequest, report: &Report, arg: UserPtr) -> Result<Ended, Error> {
    write_values(req.results, &report.results)?;
    req.results_count = report.results.len() as u32;
    wasm::write_reply(&mut req.reply, report)?;
    arg.write(&req).map(|()| Ended::Replied)
}

impl Live {
    fn new(req: &SessionRequest, wasi: wasm::WasiContext, status: &'static Status) -> Result<Live, Report> {
        let account = MemoryAccount::for_current();
        let (settings, engine) = wasm::engine_for(&req.engine, &account, wasm::memory_cap(&req.limits))?;
        let mut store = wasm::new_store(
            &engine,
            &settings,
            wasi,
            &req.limits,
            MAX_SESSION_INSTANCES as usize,
            status,
            account,
        )?;
        let mut linker = wasm::linker(&engine).map_err(|e| instantiate_failed(format!("{e:?}")))?;
        // Later registrations replace earlier ones of the same name, as
        // the spec testsuite expects.
        linker.allow_shadowing(true);
        if req.options & SESSION_SPECTEST != 0 {
            kwasm_engine::define_spectest(&mut linker, &mut store).map_err(|e| instantiate_failed(format!("{e:?}")))?;
        }
        Ok(Live {
            store,
            linker,
            instances: Vec::new(),
        })
    }

    fn instance(&self, handle: u32) -> Result<Instance, Error> {
        let index = (handle as usize).checked_sub(1).ok_or(Error::NoSuchInstance)?;
        self.instances
            .get(index)
            .copied()
            .flatten()
            .ok_or(Error::NoSuchInstance)
    }

    fn instantiate(&mut self, image: Vec<u8>, status: &'static Status) -> Result<u32, Report> {
        if self.instances.len() >= MAX_SESSION_INSTANCES as usize {
            return Err(instantiate_failed(format!(
                "the session already holds {MAX_SESSION_INSTANCES} instances"
            )));
        }
        let module = wasm::load(self.store.engine(), &image)?;
        drop(image);
        // Host calls take the store's one memory only while it has one
        // instance (see RunState::memory); from here on, a start function
        // included, each finds its caller's.
        self.store.data_mut().memory = None;
        let linker = &self.linker;
        let instance =
            wasm::enter(&mut self.store, status, |store| linker.instantiate(store, &module))?.map_err(|e| {
                if Report::is_run_error(&e) {
                    // The start function trapped or was stopped.
                    Report::ended(e)
                } else {
                    instantiate_failed(format!("{e:?}"))
                }
            })?;
        self.instances.push(Some(instance));
        if self.instances.len() == 1 {
            self.store.data_mut().memory = instance.get_memory(&mut self.store, "memory");
        }
        self.store.data_mut().hold_code(&module);
        Ok(self.instances.len() as u32)
    }

    fn call(&mut self, instance: Instance, name: &str, params: &[Value], status: &'static Status) -> Report {
        let Some(func) = instance.get_func(&mut self.store, name) else {
            return Report::new(Outcome::BadCall, format!("no exported function `{name}`"));
        };
        // Host references made for this call are unrooted when it ends.
        let mut store = RootScope::new(&mut self.store);
        let ty = func.ty(&store);
        let args = match wasm::to_vals(&mut store, params, ty.params()) {
            Ok(args) => args,
            Err(report) => return report,
        };
        let mut results = vec![Val::I32(0); ty.results().len()];
        match wasm::enter(&mut store, status, |s| func.call(s, &args, &mut results)) {
            Err(report) => report,
            Ok(Err(e)) => Report::ended(e),
            Ok(Ok(())) => results_report(&store, &results),
        }
    }

    fn get(&mut self, instance: Instance, name: &str) -> Report {
        let mut store = RootScope::new(&mut self.store);
        match instance.get_global(&mut store, name) {
            Some(global) => {
                let value = global.get(&mut store);
                results_report(&store, &[value])
            }
            None => Report::new(Outcome::BadCall, format!("no exported global `{name}`")),
        }
    }

    fn register(&mut self, instance: Instance, name: &str) -> Report {
        match self.linker.instance(&mut self.store, name, instance) {
            Ok(_) => Report::new(Outcome::Returned, String::new()),
            Err(e) => Report::new(Outcome::BadCall, format!("{e:?}")),
        }
    }
}

fn results_report(store: impl AsContext, values: &[Val]) -> Report {
    let store = store.as_context();
    match values
        .iter()
        .map(|v| wasm::from_val(&store, v))
        .collect::<Option<Vec<Value>>>()
    {
        Some(results) => Report {
            results,
            ..Report::new(Outcome::Returned, String::new())
        },
        None => Report::new(Outcome::BadCall, "a result has a type that cannot cross the ABI"),
    }
}
