//! A [`Target`] on user-space Wasmtime with kwasm's own Pulley `Config`:
//! the code the kernel would run, interpreted here, so the runner can be
//! proven on the host.

use kwasm_engine::Settings;
use kwasm_wast::{Failure, Handle, Target, Val};
use wasmtime::{
    AsContext, AsContextMut, Engine, Error, Extern, ExternRef, Func, Instance, Linker, Module, RootScope, Store, Trap,
    UnknownImportError, ValType, V128,
};

/// kwasm's Pulley engine, without fuel. Build once and share: compiling an
/// `Engine` is the slow part of a fresh target.
pub fn pulley_engine() -> Engine {
    let config = Settings::pulley(false)
        .compiler_config()
        .expect("kwasm's Pulley config");
    Engine::new(&config).expect("a Pulley engine")
}

/// One store and one linker: instances see each other's registered exports.
pub struct PulleyTarget {
    store: Store<()>,
    linker: Linker<()>,
    instances: Vec<Instance>,
}

impl PulleyTarget {
    pub fn new(engine: &Engine) -> PulleyTarget {
        let mut store = Store::new(engine, ());
        // kwasm's Config compiles epoch checks in (the module's timer drives
        // them); here nothing bumps the epoch, so a deadline that never
        // comes makes them no-ops.
        store.set_epoch_deadline(u64::MAX);
        let mut linker = Linker::new(engine);
        kwasm_engine::define_spectest(&mut linker, &mut store).expect("the spectest module");
        // Host Wasmtime can make the memory itself (kwasm_engine::SPECTEST_MEMORY
        // is for the kernel, which cannot).
        let memory = wasmtime::Memory::new(&mut store, wasmtime::MemoryType::new(1, Some(2))).expect("spectest.memory");
        linker.define(&mut store, "spectest", "memory", memory).expect("spectest.memory");
        PulleyTarget {
            store,
            linker,
            instances: Vec::new(),
        }
    }

    fn instance(&self, handle: Handle) -> Result<Instance, Failure> {
        self.instances
            .get(handle as usize)
            .copied()
            .ok_or_else(|| Failure::Other(format!("no instance {handle}")))
    }

    fn compile_module(&self, wasm: &[u8]) -> Result<Module, Failure> {
        Module::new(self.store.engine(), wasm).map_err(|e| compile_failure(&e))
    }
}

impl Target for PulleyTarget {
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Handle, Failure> {
        let module = self.compile_module(wasm)?;
        let instance = self
            .linker
            .instantiate(&mut self.store, &module)
            .map_err(|e| instantiate_failure(&e))?;
        self.instances.push(instance);
        Ok((self.instances.len() - 1) as Handle)
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<(), Failure> {
        self.compile_module(wasm).map(drop)
    }

    fn register(&mut self, handle: Handle, name: &str) -> Result<(), Failure> {
        let instance = self.instance(handle)?;
        self.linker
            .instance(&mut self.store, name, instance)
            .map(drop)
            .map_err(|e| Failure::Other(format!("{e:#}")))
    }

    fn call(&mut self, handle: Handle, export: &str, args: &[Val]) -> Result<Vec<Val>, Failure> {
        let func: Func = self
            .instance(handle)?
            .get_func(&mut self.store, export)
            .ok_or_else(|| Failure::Other(format!("no exported function \"{export}\"")))?;
        let mut store = RootScope::new(&mut self.store);
        let params = args
            .iter()
            .map(|v| to_wasmtime(&mut store, v))
            .collect::<Result<Vec<_>, _>>()?;
        let ty = func.ty(&store);
        let mut results: Vec<wasmtime::Val> = ty.results().map(|t| default_val(&t)).collect();
        func.call(&mut store, &params, &mut results)
            .map_err(|e| run_failure(&e))?;
        results.iter().map(|v| from_wasmtime(&store, v)).collect()
    }

    fn get(&mut self, handle: Handle, name: &str) -> Result<Val, Failure> {
        let global = match self.instance(handle)?.get_export(&mut self.store, name) {
            Some(Extern::Global(global)) => global,
            _ => return Err(Failure::Other(format!("no exported global \"{name}\""))),
        };
        let mut store = RootScope::new(&mut self.store);
        let value = global.get(&mut store);
        from_wasmtime(&store, &value)
    }
}

fn compile_failure(e: &Error) -> Failure {
    Failure::from_wasmtime_compile_error(&format!("{e:#}"))
}

fn instantiate_failure(e: &Error) -> Failure {
    if e.downcast_ref::<UnknownImportError>().is_some() || format!("{e:#}").contains("incompatible import type") {
        Failure::Link(format!("{e:#}"))
    } else {
        run_failure(e)
    }
}

fn run_failure(e: &Error) -> Failure {
    match e.downcast_ref::<Trap>() {
        Some(trap) => Failure::Trap(trap.to_string()),
        None => Failure::Other(format!("{e:#}")),
    }
}

fn to_wasmtime(store: impl AsContextMut, v: &Val) -> Result<wasmtime::Val, Failure> {
    Ok(match *v {
        Val::I32(v) => wasmtime::Val::I32(v as i32),
        Val::I64(v) => wasmtime::Val::I64(v as i64),
        Val::F32(bits) => wasmtime::Val::F32(bits),
        Val::F64(bits) => wasmtime::Val::F64(bits),
        Val::V128(v) => wasmtime::Val::V128(V128::from(v)),
        Val::FuncRef { null: true } => wasmtime::Val::FuncRef(None),
        Val::ExternRef(None) => wasmtime::Val::ExternRef(None),
        Val::ExternRef(Some(n)) => wasmtime::Val::ExternRef(Some(
            ExternRef::new(store, n).map_err(|e| Failure::Other(format!("{e:#}")))?,
        )),
        Val::FuncRef { null: false } => {
            return Err(Failure::Unsupported(format!(
                "argument {v}: a function cannot be named from a script"
            )))
        }
    })
}

fn from_wasmtime(store: impl AsContext, v: &wasmtime::Val) -> Result<Val, Failure> {
    Ok(match v {
        wasmtime::Val::I32(v) => Val::I32(*v as u32),
        wasmtime::Val::I64(v) => Val::I64(*v as u64),
        wasmtime::Val::F32(bits) => Val::F32(*bits),
        wasmtime::Val::F64(bits) => Val::F64(*bits),
        wasmtime::Val::V128(v) => Val::V128(v.as_u128()),
        wasmtime::Val::FuncRef(f) => Val::FuncRef { null: f.is_none() },
        wasmtime::Val::ExternRef(None) => Val::ExternRef(None),
        wasmtime::Val::ExternRef(Some(r)) => {
            let data = r.data(&store).map_err(|e| Failure::Other(format!("{e:#}")))?;
            Val::ExternRef(data.and_then(|d| d.downcast_ref::<u32>()).copied())
        }
        other => return Err(Failure::Unsupported(format!("result {other:?}"))),
    })
}

/// A placeholder of the right type for `Func::call` to overwrite.
fn default_val(ty: &ValType) -> wasmtime::Val {
    match ty {
        ValType::I32 => wasmtime::Val::I32(0),
        ValType::I64 => wasmtime::Val::I64(0),
        ValType::F32 => wasmtime::Val::F32(0),
        ValType::F64 => wasmtime::Val::F64(0),
        ValType::V128 => wasmtime::Val::V128(V128::from(0u128)),
        ValType::Ref(r) => wasmtime::Val::null_ref(r.heap_type()),
    }
}
