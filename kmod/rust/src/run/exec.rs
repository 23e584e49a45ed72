//! One run: build the engine the image was compiled for, load the image,
//! instantiate it with WASI, call `_start` (or the invoked export), and say
//! how it ended.
//!
//! Long-running code is kept in check by epochs: the ticker bumps the
//! engine's epoch every millisecond and, at each deadline, [`yield_point`] ends
//! the run on a pending signal or an expired timeout, and otherwise lets the
//! scheduler run something else. Fuel, when asked for, is Wasmtime's own.

use super::{wasi, Input, Report};
use crate::platform::task::Status;
use crate::platform::{clock, codemem::KernelCodeMemory, cpu, params, sched, section, ticker::Ticker};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering;
use kwasm_abi::list::{STATE_ENDING, STATE_RUNNING};
use kwasm_abi::run::{RUN_FLAG_FUEL, VALUE_F32, VALUE_F64, VALUE_I32, VALUE_I64};
use kwasm_abi::{Outcome, RunRequest, Value};
use kwasm_engine::{CpuFeatures, EngineKind, Settings};
use wasmtime::{
    CallHook, Config, Engine, Error, Func, Module, ResourceLimiter, Result, Store, StoreLimits, StoreLimitsBuilder,
    Trap, UpdateDeadline, Val, ValType,
};

/// Most stack wasm frames may use (Pulley keeps them on a heap stack of
/// this size; native code on the run's private stack, which leaves room
/// below for the host code wasm calls).
const MAX_WASM_STACK: usize = 512 * 1024;

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
    pub wasi: kwasm_wasi::Context,
    limits: Limits,
    /// What `kwasm ps` shows.
    status: &'static Status,
    /// Monotonic time at which the run times out.
    deadline_ns: Option<u64>,
}

/// Wasmtime's limits, reporting the memory granted to `kwasm ps`.
struct Limits {
    inner: StoreLimits,
    status: &'static Status,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> Result<bool> {
        let granted = self.inner.memory_growing(current, desired, maximum)?;
        if granted && maximum.is_none_or(|m| desired <= m) {
            self.status.memory_bytes.store(desired as u64, Ordering::Relaxed);
        }
        Ok(granted)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

pub fn run(req: &RunRequest, input: Input, status: &'static Status) -> Report {
    let report = match run_checked(req, input, status) {
        Ok(report) | Err(report) => report,
    };
    status.state.store(STATE_ENDING, Ordering::Relaxed);
    report
}

fn load_failed(message: impl Into<String>) -> Report {
    Report::new(Outcome::LoadFailed, message.into())
}

fn instantiate_failed(message: impl Into<String>) -> Report {
    Report::new(Outcome::InstantiateFailed, message.into())
}

/// The engine settings the image claims, checked against this module.
fn settings(req: &RunRequest) -> Result<Settings, Report> {
    let kind = EngineKind::from_abi(req.engine).ok_or_else(|| load_failed("unknown engine"))?;
    let cpu = CpuFeatures::from_bits(req.cpu_features).ok_or_else(|| {
        load_failed(format!(
            "the image uses CPU features this kwasm.ko does not know (bits {:#x}): use kwasm and kwasm.ko from the same release",
            req.cpu_features
        ))
    })?;
    let settings = Settings {
        kind,
        fuel: req.flags & RUN_FLAG_FUEL != 0,
        cpu,
    };
    if settings.fingerprint() != req.fingerprint {
        return Err(load_failed(format!(
            "the image was compiled for another engine (fingerprint {:#018x}); this kwasm.ko runs {} as {:#018x}: use kwasm and kwasm.ko from the same release",
            req.fingerprint,
            settings.describe(),
            settings.fingerprint()
        )));
    }
    if kind == EngineKind::Native {
        let missing = cpu.missing_from(cpu::features());
        if !missing.is_empty() {
            return Err(load_failed(format!(
                "the image was compiled for {}, which this CPU lacks: recompile it on this machine (kwasm run does) or use --engine pulley",
                missing.names()
            )));
        }
    }
    Ok(settings)
}

/// The runtime configuration for `settings`: the shared one, plus what only
/// the kernel side has (CPU detection, W^X code memory, the stack limit).
fn config(settings: &Settings) -> Result<Config> {
    let mut config = settings.runtime_config(cpu::detect)?;
    config.max_wasm_stack(MAX_WASM_STACK);
    if settings.kind == EngineKind::Native {
        config.with_custom_code_memory(Some(Arc::new(KernelCodeMemory)));
    }
    Ok(config)
}

fn run_checked(req: &RunRequest, input: Input, status: &'static Status) -> Result<Report, Report> {
    let settings = settings(req)?;
    let config = config(&settings).map_err(|e| load_failed(format!("{e:?}")))?;
    let engine = Engine::new(&config).map_err(|e| load_failed(format!("cannot build the engine: {e:?}")))?;
    // SAFETY: deserializing trusts the image's code. Only callers with
    // CAP_SYS_ADMIN reach this (checked at open), the same trust as insmod;
    // Wasmtime still checks the image's header, version and configuration.
    let module = unsafe { Module::deserialize(&engine, &input.image) }
        .map_err(|e| load_failed(format!("the image was refused: {e:?}")))?;
    drop(input.image);
    for import in module.imports() {
        if let Some(why) = kwasm_wasi::unsupported_import(import.module(), import.name()) {
            return Err(instantiate_failed(why));
        }
    }

    // The request's limits, tightened by the module's parameters.
    let mut limits = StoreLimitsBuilder::new();
    if let Some(max) = params::tighter(req.max_memory, params::max_memory()) {
        limits = limits.memory_size(usize::try_from(max).unwrap_or(usize::MAX));
    }
    let timeout_ns = params::tighter(req.timeout_ns, params::max_timeout_ns());
    let state = RunState {
        wasi: kwasm_wasi::Context {
            args: input.args,
            env: input.env,
        },
        limits: Limits {
            inner: limits.build(),
            status,
        },
        status,
        deadline_ns: timeout_ns.map(|t| clock::monotonic_ns().saturating_add(t)),
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.limits);
    if settings.fuel {
        store.set_fuel(req.fuel).map_err(|e| load_failed(format!("{e:?}")))?;
    }
    store.set_epoch_deadline(1);
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
    let _ticker = Ticker::start(&engine).ok_or_else(|| load_failed("out of memory starting the epoch timer"))?;

    let linker = wasi::linker(&engine).map_err(|e| instantiate_failed(format!("{e:?}")))?;
    status.state.store(STATE_RUNNING, Ordering::Relaxed);
    let instance = linker.instantiate(&mut store, &module);
    // Whatever way wasm was left (a trap unwinds past the hooks), the
    // section ends here.
    section::leave();
    let instance = instance.map_err(|e| match ended(e) {
        // A start function that traps or exits still tells how it ended.
        r if r.outcome == Outcome::Trapped => Report::new(Outcome::InstantiateFailed, r.message),
        r => r,
    })?;

    match &input.invoke {
        None => {
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start").map_err(|_| {
                instantiate_failed("no `_start` function: not a WASI command (use --invoke to call an export)")
            })?;
            let result = start.call(&mut store, ());
            section::leave();
            Ok(match result {
                Ok(()) => Report::new(Outcome::Exited, String::new()),
                Err(e) => ended(e),
            })
        }
        Some(name) => {
            let func = instance
                .get_func(&mut store, name)
                .ok_or_else(|| instantiate_failed(format!("no exported function `{name}`")))?;
            invoke(&mut store, func, &input.params)
        }
    }
}

/// Runs at every epoch deadline (about once a millisecond of wasm execution).
fn yield_point(state: &RunState) -> Result<UpdateDeadline> {
    if sched::signal_pending() {
        return Err(Error::new(Stop::Interrupted));
    }
    if state.deadline_ns.is_some_and(|d| clock::monotonic_ns() >= d) {
        return Err(Error::new(Stop::TimedOut));
    }
    state.status.cpu_ns.store(clock::task_cputime_ns(), Ordering::Relaxed);
    sched::cond_resched();
    Ok(UpdateDeadline::Continue(1))
}

/// The report for a run that ended with an error from Wasmtime.
fn ended(e: Error) -> Report {
    if let Some(stop) = e.downcast_ref::<Stop>() {
        return match stop {
            Stop::Exit(code) => Report {
                exit_code: *code,
                ..Report::new(Outcome::Exited, String::new())
            },
            Stop::Interrupted => Report::new(Outcome::Interrupted, stop.to_string()),
            Stop::TimedOut => Report::new(Outcome::TimedOut, stop.to_string()),
        };
    }
    let mut message = format!("{e:?}");
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return Report::new(Outcome::OutOfFuel, message),
        // Wasmtime says "call stack exhausted"; name it as users search for it.
        Some(Trap::StackOverflow) => {
            message.truncate(message.trim_end().len());
            message.push_str(" (stack overflow)");
        }
        _ => {}
    }
    Report::new(Outcome::Trapped, message)
}

fn to_val(v: &Value, ty: &ValType) -> Option<Val> {
    Some(match (v.kind, ty) {
        (VALUE_I32, ValType::I32) => Val::I32(v.bits as u32 as i32),
        (VALUE_I64, ValType::I64) => Val::I64(v.bits as i64),
        (VALUE_F32, ValType::F32) => Val::F32(v.bits as u32),
        (VALUE_F64, ValType::F64) => Val::F64(v.bits),
        _ => return None,
    })
}

fn from_val(v: &Val) -> Option<Value> {
    let (kind, bits) = match v {
        Val::I32(x) => (VALUE_I32, *x as u32 as u64),
        Val::I64(x) => (VALUE_I64, *x as u64),
        Val::F32(x) => (VALUE_F32, *x as u64),
        Val::F64(x) => (VALUE_F64, *x),
        _ => return None,
    };
    Some(Value {
        kind,
        reserved: 0,
        bits,
    })
}

fn invoke(store: &mut Store<RunState>, func: Func, params: &[Value]) -> Result<Report, Report> {
    let ty = func.ty(&*store);
    if ty.params().len() != params.len() {
        return Err(instantiate_failed(format!(
            "the function takes {} arguments, {} given",
            ty.params().len(),
            params.len()
        )));
    }
    let args = params
        .iter()
        .zip(ty.params())
        .map(|(v, t)| to_val(v, &t))
        .collect::<Option<Vec<Val>>>()
        .ok_or_else(|| instantiate_failed("argument types do not match the function's (or are not i32/i64/f32/f64)"))?;
    let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
    let result = func.call(&mut *store, &args, &mut results);
    section::leave();
    if let Err(e) = result {
        return Ok(ended(e));
    }
    let values = results
        .iter()
        .map(from_val)
        .collect::<Option<Vec<Value>>>()
        .ok_or_else(|| instantiate_failed("the function returns a type --invoke cannot show (only i32/i64/f32/f64)"))?;
    Ok(Report {
        results: values,
        ..Report::new(Outcome::Returned, String::new())
    })
}
