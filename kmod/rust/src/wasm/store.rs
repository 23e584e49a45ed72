//! The store instances live in, and each stretch of running wasm in it.
//!
//! Long-running code is kept in check by epochs: the ticker bumps the
//! engine's epoch every millisecond while wasm runs and, at each deadline,
//! [`yield_point`] deals with a pending signal ([`Parking`]), ends the run
//! on an expired timeout, and otherwise lets the scheduler run something
//! else. Fuel, when asked for, is Wasmtime's own.
//!
//! Native code runs in the wasm section (platform/section.rs): each stretch
//! ([`enter`]) is one section, from before Wasmtime calls into wasm to
//! after it returns. A host call stays inside unless its function may
//! sleep ([`host_call`]); Wasmtime's own work around the call (checking
//! arguments, instantiating) runs inside too, leaving it only where it
//! allocates. No call hook: one would cost every host call two more calls.

use super::parking::{Parking, Stop};
use super::poller::NetState;
use super::report::{load_failed, Report};
use crate::platform::file::FileRef;
use crate::platform::memory::{Charge, MemoryAccount};
use crate::platform::sched;
use crate::platform::task::{Status, TaskClaim};
use crate::platform::ticker::Ticker;
use crate::platform::section::{self, Section};
use crate::platform::{clock, params};
use crate::pr_err;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kwasm_abi::list::{STATE_LOADING, STATE_RUNNING};
use kwasm_abi::Error as AbiError;
use kwasm_engine::{EngineKind, Settings};
use wasmtime::{
    AsContextMut, Caller, Engine, Error, Memory, Module, ResourceLimiter, Result, Store, StoreLimits, StoreLimitsBuilder,
    UpdateDeadline,
};

/// What one table element costs, for capping tables by the memory limit.
const TABLE_ELEMENT_BYTES: usize = 8;

/// The most elements a table may have, whatever the memory limit. Filling
/// a table (`table.fill`, and `table.grow`, which fills what it adds) is a
/// loop Wasmtime emits with no yield point in it, so its length is how long
/// a program can keep its CPU from the scheduler on a kernel without
/// involuntary preemption. In the rig's emulated guest, Pulley fills 2^20
/// elements in about a second; 10 million took more than the 4 s its
/// watchdog allows. (Wasmtime's pooling allocator caps tables at 20 000
/// elements by default, browsers at 10 000 000.)
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The program's WASI state: its files are references on `struct file`s.
pub type WasiContext = kwasm_wasi::Wasi<FileRef>;

/// The store's data: what host functions and yield points need.
pub struct RunState {
    pub wasi: WasiContext,
    /// kwasm_net's pollers (each registration holds its own reference on
    /// its socket).
    pub net: NetState,
    /// The memory host calls use, when the store has one instance (a
    /// session's several instances each have their own: looked up by the
    /// calling instance's export instead).
    pub memory: Option<Memory>,
    limits: Limits,
    /// What `kwasm ps` shows: the entry of the task running wasm now.
    status: &'static Status,
    /// Native code runs in the wasm section (Pulley needs none).
    native: bool,
    /// The wasm section of the task running wasm now (native code only).
    section: Section,
    /// Time limit of each stretch of running wasm.
    timeout_ns: Option<u64>,
    /// Monotonic time at which the current stretch times out.
    deadline_ns: Option<u64>,
    /// What a signal the process survives does to the run.
    pub parking: Parking,
    /// The kernel memory the run holds, counted as its process's.
    account: Arc<MemoryAccount>,
    /// The code of the modules loaded into the store.
    code: Vec<Charge>,
}

impl RunState {
    /// Monotonic time at which the current stretch of wasm times out.
    pub fn deadline_ns(&self) -> Option<u64> {
        self.deadline_ns
    }

    /// Counts `module`'s code (loaded for this store: its instances keep it
    /// until the store goes) as the run's memory.
    pub fn hold_code(&mut self, module: &Module) {
        let code = module.image_range();
        self.code.push(Charge::new(&self.account, code.end as usize - code.start as usize));
    }

    /// Shows the run's kernel memory in `kwasm ps`.
    fn show_memory(&self) {
        self.status.memory_bytes.store(self.account.bytes() as u64, Ordering::Relaxed);
    }
}

/// Wasmtime's limits; tables are charged to the run's account here (linear
/// memories charge themselves, see `platform::memory`).
struct Limits {
    inner: StoreLimits,
    account: Arc<MemoryAccount>,
    /// Bytes of table granted so far, and of the growth being attempted.
    tables: usize,
    growing: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> Result<bool> {
        self.inner.memory_growing(current, desired, maximum)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> Result<bool> {
        let granted = self.inner.table_growing(current, desired, maximum)?;
        if granted {
            self.growing = desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES);
            self.tables += self.growing;
            self.account.charge(self.growing);
        }
        Ok(granted)
    }

    fn table_grow_failed(&mut self, _error: Error) -> Result<()> {
        self.tables -= self.growing;
        self.account.uncharge(core::mem::take(&mut self.growing));
        Ok(())
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }
}

impl Drop for Limits {
    fn drop(&mut self) {
        self.account.uncharge(self.tables);
    }
}

/// The cap on each of a run's linear memories: the request's, tightened by
/// the module's `max_memory_mib`.
pub fn memory_cap(limits: &kwasm_abi::Limits) -> Option<usize> {
    params::tighter(limits.max_memory, params::max_memory()).map(|max| usize::try_from(max).unwrap_or(usize::MAX))
}

/// Claims the calling task's entry for running wasm (Wasmtime's
/// thread-local state, the wasm section, `kwasm ps`) and fills in what
/// `ps` shows. `Busy` once the module runs `max_instances` programs.
pub fn claim_task(engine: u32, max_memory: u64, name: &[u8]) -> Result<TaskClaim, AbiError> {
    let task = TaskClaim::claim(params::max_instances()).ok_or(AbiError::Busy)?;
    let status = task.status();
    status.engine.store(engine, Ordering::Relaxed);
    status.state.store(STATE_LOADING, Ordering::Relaxed);
    status.memory_bytes.store(0, Ordering::Relaxed);
    status.memory_limit.store(
        params::tighter(max_memory, params::max_memory()).unwrap_or(0),
        Ordering::Relaxed,
    );
    status.cpu_ns.store(clock::task_cputime_ns(), Ordering::Relaxed);
    status.started_ns.store(clock::monotonic_ns(), Ordering::Relaxed);
    status.publish(name);
    Ok(task)
}

/// A store for `settings`' engine: the request's limits tightened by the
/// module's parameters, fuel, yield points, and (for native code) the wasm
/// section around every stretch of wasm.
pub fn new_store(
    engine: &Engine,
    settings: &Settings,
    wasi: WasiContext,
    limits: &kwasm_abi::Limits,
    max_instances: usize,
    status: &'static Status,
    account: Arc<MemoryAccount>,
) -> Result<Store<RunState>, Report> {
    let mut builder = StoreLimitsBuilder::new()
        .instances(max_instances)
        .table_elements(MAX_TABLE_ELEMENTS);
    if let Some(max) = memory_cap(limits) {
        // Tables are kernel memory too: the same cap bounds each table,
        // at a pointer per element.
        builder = builder
            .memory_size(max)
            .table_elements((max / TABLE_ELEMENT_BYTES).min(MAX_TABLE_ELEMENTS));
    }
    let state = RunState {
        net: NetState::new(),
        memory: None,
        wasi,
        limits: Limits {
            inner: builder.build(),
            account: account.clone(),
            tables: 0,
            growing: 0,
        },
        status,
        native: settings.kind == EngineKind::Native,
        section: Section::NONE,
        timeout_ns: params::tighter(limits.timeout_ns, params::max_timeout_ns()),
        deadline_ns: None,
        parking: Parking::new(status),
        account,
        code: Vec::new(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    if settings.fuel {
        store.set_fuel(limits.fuel).map_err(|e| load_failed(format!("{e:?}")))?;
    }
    store.epoch_deadline_callback(|state| yield_point(state.data()));
    Ok(store)
}

/// Runs `f`, which enters wasm (instantiates or calls), as one stretch:
/// accounted to `status`, under the time limit, with the epoch ticking,
/// native code in the wasm section. Every call into wasm is made through
/// here. However wasm was left (a trap unwinds), the section has ended
/// when this returns.
pub fn enter<S: AsContextMut<Data = RunState>, R>(
    store: &mut S,
    status: &'static Status,
    f: impl FnOnce(&mut S) -> R,
) -> Result<R, Report> {
    let mut cx = store.as_context_mut();
    let ticker = Ticker::start(cx.engine()).ok_or_else(|| load_failed("the epoch ticker has no free slot"))?;
    let state = cx.data_mut();
    state.status = status;
    state.section = if state.native { Section::current() } else { Section::NONE };
    state.parking.status.set(status);
    state.parking.ticker_slot.set(Some(ticker.slot()));
    state.deadline_ns = state.timeout_ns.map(|t| clock::monotonic_ns().saturating_add(t));
    let section = state.section;
    cx.set_epoch_deadline(1);
    status.state.store(STATE_RUNNING, Ordering::Relaxed);
    section.enter();
    let result = f(store);
    let mut cx = store.as_context_mut();
    let state = cx.data_mut();
    state.section.leave();
    state.section = Section::NONE;
    store.as_context_mut().data().show_memory();
    store.as_context_mut().data_mut().parking.ticker_slot.set(None);
    drop(ticker);
    Ok(result)
}

/// Whether a host function may sleep (block, take a sleeping lock, call
/// into a file system or the network stack).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sleeps {
    /// Never: it runs inside the wasm section, as the wasm calling it.
    /// Allocation and rescheduling inside leave the section themselves.
    Never,
    /// It may: it runs outside the section.
    Maybe,
}

/// Runs the host function `f` for `caller` inside the wasm section or
/// outside it, as `sleeps` says (outside always on PREEMPT_RT, see
/// [`section::quick_host_calls`]).
pub fn host_call<R>(caller: &mut Caller<'_, RunState>, sleeps: Sleeps, f: impl FnOnce(&mut Caller<'_, RunState>) -> R) -> R {
    if sleeps == Sleeps::Never && section::quick_host_calls() {
        f(caller)
    } else {
        caller.data().section.suspended(|| f(caller))
    }
}

/// A broken section invariant is reported once.
static OUTSIDE_REPORTED: AtomicBool = AtomicBool::new(false);

/// Runs at every epoch deadline (about once a millisecond of wasm execution).
fn yield_point(state: &RunState) -> Result<UpdateDeadline> {
    // Native code runs only inside its section; a call into wasm that
    // bypassed `enter` would run with the task's user FPU registers live.
    if state.native && !state.section.is_open() && !OUTSIDE_REPORTED.swap(true, Ordering::Relaxed) {
        pr_err!("BUG: native wasm running outside the wasm section");
    }
    if sched::signal_pending() || state.parking.cancelled.get() {
        state.parking.on_signal()?;
    }
    if state.deadline_ns.is_some_and(|d| clock::monotonic_ns() >= d) {
        return Err(Error::new(Stop::TimedOut));
    }
    state.status.cpu_ns.store(clock::task_cputime_ns(), Ordering::Relaxed);
    state.show_memory();
    sched::cond_resched();
    Ok(UpdateDeadline::Continue(1))
}
