//! The engine an image was compiled for, built in the kernel, and the image
//! loaded into it.

use super::report::{instantiate_failed, load_failed, Report};
use crate::platform::memory::{KernelMemoryCreator, MemoryAccount};
use crate::platform::{codemem::KernelCodeMemory, cpu, guard};
use alloc::format;
use alloc::sync::Arc;
use kwasm_abi::EngineSpec;
use kwasm_engine::{Bounds, EngineKind, Settings};
use wasmtime::{Config, Engine, Module, Result};

/// Most stack wasm frames may use (Pulley keeps them on a heap stack of
/// this size; native code on the run's private stack, which leaves room
/// below for the host code wasm calls).
const MAX_WASM_STACK: usize = 512 * 1024;

/// The engine settings the request names, if this module runs them on
/// this CPU (the rules live in `kwasm_engine`, where the host fuzzer
/// exercises them).
fn settings(spec: &EngineSpec) -> Result<Settings, Report> {
    let settings = Settings::accept(spec, cpu::features()).map_err(|why| load_failed(format!("{why}")))?;
    if settings.bounds == Bounds::Guard && !guard::available() {
        return Err(load_failed(
            "this kernel does not let kwasm.ko catch native code's faults, so it cannot run code without bounds checks (the kernel log says why at module load): use --bounds-checks explicit",
        ));
    }
    Ok(settings)
}

/// The runtime configuration for `settings`: the shared one, plus what only
/// the kernel side has (CPU detection, W^X code memory, the stack limit,
/// linear memory charged to `account` and capped at `memory_cap`).
fn config(settings: &Settings, account: &Arc<MemoryAccount>, memory_cap: Option<usize>) -> Result<Config> {
    let mut config = settings.runtime_config(cpu::detect)?;
    config.max_wasm_stack(MAX_WASM_STACK);
    config.with_host_memory(Arc::new(KernelMemoryCreator::new(account.clone(), memory_cap)));
    if settings.kind == EngineKind::Native {
        config.with_custom_code_memory(Some(Arc::new(KernelCodeMemory)));
    }
    Ok(config)
}

/// The engine `spec` names, if this module runs it on this CPU, for one
/// run or session: its linear memories are charged to `account` and none
/// grows beyond `memory_cap`.
pub fn engine_for(
    spec: &EngineSpec,
    account: &Arc<MemoryAccount>,
    memory_cap: Option<usize>,
) -> Result<(Settings, Engine), Report> {
    let settings = settings(spec)?;
    let config = config(&settings, account, memory_cap).map_err(|e| load_failed(format!("{e:?}")))?;
    let engine = Engine::new(&config).map_err(|e| load_failed(format!("cannot build the engine: {e:?}")))?;
    Ok((settings, engine))
}

/// Loads a precompiled image. Imports from WASI must be ones kwasm
/// provides (other import modules are left to the linker).
pub fn load(engine: &Engine, image: &[u8]) -> Result<Module, Report> {
    // Wasmtime trusts what follows an image's header: a damaged image must
    // not reach it (see kwasm_engine::image).
    let image = kwasm_engine::image::unseal(image).map_err(|e| load_failed(format!("{e}")))?;
    // SAFETY: deserializing trusts the image's code. Only callers with
    // CAP_SYS_ADMIN reach this (checked at open), the same trust as insmod;
    // the seal has just shown the image is the one kwasm compiled, and
    // Wasmtime still checks its header, version and configuration.
    let module = unsafe { Module::deserialize(engine, image) }
        .map_err(|e| load_failed(format!("the image was refused: {e:?}")))?;
    for import in module.imports() {
        if import.module() == kwasm_wasi::MODULE {
            if let Some(why) = kwasm_wasi::unsupported_import(import.module(), import.name()) {
                return Err(instantiate_failed(why));
            }
        }
    }
    Ok(module)
}
