//! The store instances live in, and each stretch of running wasm in it.
//!
//! Long-running code is kept in check by epochs: the ticker bumps the
//! engine's epoch every millisecond while wasm runs and, at each deadline,
//! [`yield_point`] deals with a pending signal ([`Parking`]), ends the run
//! on an expired timeout, and otherwise lets the scheduler run something
//! else. Fuel, when asked for, is Wasmtime's own.

use super::report::{load_failed, Report};
use crate::platform::fiber::{Resume, Suspender};
use crate::platform::memory::{Charge, MemoryAccount};
use crate::platform::sched::{self, Pending};
use crate::platform::task::{Status, TaskClaim};
use crate::platform::ticker::{self, Ticker};
use crate::platform::{clock, params, section};
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::sync::atomic::Ordering;
use kwasm_abi::list::{STATE_LOADING, STATE_RUNNING, STATE_STOPPED};
use kwasm_abi::Error as AbiError;
use kwasm_engine::{EngineKind, Settings};
use wasmtime::{
    AsContextMut, CallHook, Engine, Error, Memory, Module, ResourceLimiter, Result, Store, StoreLimits, StoreLimitsBuilder,
    UpdateDeadline,
};

/// What one table element costs, for capping tables by the memory limit.
const TABLE_ELEMENT_BYTES: usize = 8;

/// Why the host ended a run; travels through Wasmtime as an error.
#[derive(Debug)]
pub enum Stop {
    Exit(i32),
    Interrupted,
    TimedOut,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Exit(code) => write!(f, "exited with code {code}"),
            Stop::Interrupted => f.write_str("interrupted by a signal"),
            Stop::TimedOut => f.write_str("the time limit ran out (--timeout, or the module's max_timeout_ms)"),
        }
    }
}

impl core::error::Error for Stop {}

/// The store's data: what host functions and yield points need.
pub struct RunState {
    pub wasi: super::WasiContext,
    /// kwasm_net's pollers (each registration holds its own reference on
    /// its socket).
    pub net: super::net::NetState,
    /// The memory host calls use, when the store has one instance (a
    /// session's several instances each have their own: looked up by the
    /// calling instance's export instead).
    pub memory: Option<Memory>,
    limits: Limits,
    /// What `kwasm ps` shows: the entry of the task running wasm now.
    status: &'static Status,
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

/// How a run meets a pending signal. One that ends the process (SIGKILL,
/// SIGINT or SIGTERM left at their default, ...) ends the run, as the
/// process is about to end anyway. Any other — a stop, the freezer, a
/// tracer, a handler — is the kernel's to deal with, in user space: the
/// run parks (its fiber suspends, `crate::run` returns from the ioctl to
/// have it restarted) and carries on where it was once the task is back.
/// A store that cannot park (a session's) ends the call instead.
pub struct Parking {
    suspender: Option<Suspender>,
    /// The run's `kwasm ps` entry, to show it stopped.
    status: Cell<&'static Status>,
    /// The run's epoch ticker registration (`enter`), paused while parked.
    ticker_slot: Cell<Option<usize>>,
    /// The run was resumed only to end (its file was closed while it was
    /// parked): every later signal check ends it.
    cancelled: Cell<bool>,
}

impl Parking {
    fn new(status: &'static Status) -> Parking {
        Parking {
            suspender: None,
            status: Cell::new(status),
            ticker_slot: Cell::new(None),
            cancelled: Cell::new(false),
        }
    }

    /// Lets the run park by suspending its fiber (`None`: it cannot).
    pub fn allow(&mut self, suspender: Option<Suspender>) {
        self.suspender = suspender;
    }

    /// Deals with the calling task's pending signal, if any: `Ok(true)`
    /// once a signal the process survives was handled while the run was
    /// parked (retry whatever it interrupted), `Ok(false)` if none is
    /// pending, `Err` when the run must end.
    pub fn on_signal(&self) -> Result<bool, Stop> {
        if self.cancelled.get() {
            return Err(Stop::Interrupted);
        }
        let suspender = match (sched::pending_signal(), &self.suspender) {
            (Pending::Nothing, _) => return Ok(false),
            (Pending::Survivable, Some(suspender)) => suspender,
            (Pending::Fatal, _) | (Pending::Survivable, None) => return Err(Stop::Interrupted),
        };
        let status = self.status.get();
        status.state.store(STATE_STOPPED, Ordering::Relaxed);
        let resumed = {
            let _paused = self.ticker_slot.get().map(ticker::Paused::new);
            section::suspended(|| suspender.suspend())
        };
        status.state.store(STATE_RUNNING, Ordering::Relaxed);
        match resumed {
            Resume::Continue => Ok(true),
            Resume::Cancel => {
                self.cancelled.set(true);
                Err(Stop::Interrupted)
            }
        }
    }
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
    wasi: super::WasiContext,
    limits: &kwasm_abi::Limits,
    max_instances: usize,
    status: &'static Status,
    account: Arc<MemoryAccount>,
) -> Result<Store<RunState>, Report> {
    let mut builder = StoreLimitsBuilder::new().instances(max_instances);
    if let Some(max) = memory_cap(limits) {
        // Tables are kernel memory too: the same cap bounds each table,
        // at a pointer per element.
        builder = builder.memory_size(max).table_elements(max / TABLE_ELEMENT_BYTES);
    }
    let state = RunState {
        net: super::net::NetState::new(),
        memory: None,
        wasi,
        limits: Limits {
            inner: builder.build(),
            account: account.clone(),
            tables: 0,
            growing: 0,
        },
        status,
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
    if settings.kind == EngineKind::Native {
        // Native code runs in the wasm section; host functions outside it.
        store.call_hook(|_, hook| {
            match hook {
                CallHook::CallingWasm | CallHook::ReturningFromHost => section::enter(),
                CallHook::ReturningFromWasm | CallHook::CallingHost => section::leave(),
            }
            Ok(())
        });
    }
    Ok(store)
}

/// Runs `f`, which enters wasm (instantiates or calls), as one stretch:
/// accounted to `status`, under the time limit, with the epoch ticking.
/// However wasm was left (a trap unwinds past the call hooks), the wasm
/// section has ended when this returns.
pub fn enter<S: AsContextMut<Data = RunState>, R>(
    store: &mut S,
    status: &'static Status,
    f: impl FnOnce(&mut S) -> R,
) -> Result<R, Report> {
    let mut cx = store.as_context_mut();
    let ticker = Ticker::start(cx.engine()).ok_or_else(|| load_failed("the epoch ticker has no free slot"))?;
    let state = cx.data_mut();
    state.status = status;
    state.parking.status.set(status);
    state.parking.ticker_slot.set(Some(ticker.slot()));
    state.deadline_ns = state.timeout_ns.map(|t| clock::monotonic_ns().saturating_add(t));
    cx.set_epoch_deadline(1);
    status.state.store(STATE_RUNNING, Ordering::Relaxed);
    let result = f(store);
    section::leave();
    store.as_context_mut().data().show_memory();
    store.as_context_mut().data_mut().parking.ticker_slot.set(None);
    drop(ticker);
    Ok(result)
}

/// Runs at every epoch deadline (about once a millisecond of wasm execution).
fn yield_point(state: &RunState) -> Result<UpdateDeadline> {
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
