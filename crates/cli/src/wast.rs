//! `kwasm wast`: runs WebAssembly spec testsuite scripts in the kernel.
//!
//! Each script gets its own session with the `spectest` module; every
//! module of the script is compiled here (so `assert_invalid` and
//! `assert_malformed` are decided in user space, where compilation
//! happens) and instantiated, linked, called and read in kwasm.ko.

use anyhow::{Context, Result};
use clap::Args;
use kwasm_abi::run::{
    VALUE_EXTERNREF, VALUE_F32, VALUE_F64, VALUE_FLAG_NONNULL, VALUE_FUNCREF, VALUE_I32, VALUE_I64, VALUE_V128,
};
use kwasm_abi::{Outcome, Value};
use kwasm_engine::Settings;
use kwasm_wast::tsv::Line;
use kwasm_wast::{Counts, Failure, Handle, ScriptReport, Target, Val};
use std::path::{Path, PathBuf};

use crate::compile;
use crate::device::DeviceError;
use crate::request::{Limits, Reply, StringList, Wasi};
use crate::run::{default_engine, with_bounds, BoundsArg, EngineArg};
use crate::session::{Session, SessionOptions};

/// Run WebAssembly spec testsuite scripts (.wast) in the kernel
#[derive(Args, Debug)]
pub struct WastArgs {
    /// The engine that runs the modules
    #[arg(long, value_enum)]
    engine: Option<EngineArg>,
    /// How native code keeps memory accesses in bounds (as `kwasm run`)
    #[arg(long, value_enum, value_name = "MODE")]
    bounds_checks: Option<BoundsArg>,
    /// Also print machine-readable rows: `tsv ENGINE SCRIPT KIND PASSED
    /// FAILED SKIPPED` per script and directive kind, `skip ENGINE SCRIPT
    /// COUNT REASON` per skip reason
    #[arg(long)]
    tsv: bool,
    /// The scripts
    #[arg(required = true)]
    scripts: Vec<PathBuf>,
}

/// Runs the scripts; exit code 0 when no directive failed.
pub fn wast(args: WastArgs) -> Result<i32> {
    let kind = args.engine.unwrap_or_else(default_engine).kind();
    let settings = compile::settings_for(kind, false, compile::host_cpu_features())?;
    let settings = with_bounds(settings, args.bounds_checks)?;
    let config = settings.compiler_config().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let compiler = wasmtime::Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut total = Counts::default();
    for path in &args.scripts {
        let name = script_name(path);
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let mut target = KernelTarget::open(&settings, &compiler)?;
        let report = kwasm_wast::run_script(&name, &text, &mut target);
        print_report(&report, args.tsv.then_some(kind.name()));
        total += report.counts();
    }
    println!(
        "kwasm wast ({}): {} scripts, {} directives: {} passed, {} failed, {} skipped",
        settings.describe(),
        args.scripts.len(),
        total.total(),
        total.passed,
        total.failed,
        total.skipped
    );
    Ok(if total.failed == 0 { 0 } else { 1 })
}

/// `suite/file.wast`: the file and the folder it is in.
fn script_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match path.parent().and_then(Path::file_name) {
        Some(dir) => format!("{}/{file}", dir.to_string_lossy()),
        None => file,
    }
}

fn print_report(report: &ScriptReport, tsv: Option<&str>) {
    let c = report.counts();
    let verdict = if c.failed == 0 { "ok  " } else { "FAIL" };
    println!(
        "{verdict} {}: {} passed, {} failed, {} skipped",
        report.name, c.passed, c.failed, c.skipped
    );
    for line in report.failure_lines() {
        println!("     {line}");
    }
    for (reason, count) in report.skip_reasons() {
        println!("     skipped {count}: {reason}");
    }
    if let Some(engine) = tsv {
        for line in Line::of(report, engine) {
            println!("{line}");
        }
    }
}

/// kwasm.ko as the runner's target: one session per script.
struct KernelTarget<'a> {
    settings: &'a Settings,
    compiler: &'a wasmtime::Engine,
    session: Session,
}

impl<'a> KernelTarget<'a> {
    fn open(settings: &'a Settings, compiler: &'a wasmtime::Engine) -> Result<KernelTarget<'a>> {
        let wasi = Wasi {
            args: StringList::pack("arguments", &["spectest"])?,
            ..Wasi::default()
        };
        let options = SessionOptions {
            settings,
            wasi: &wasi,
            limits: Limits::default(),
            spectest: true,
        };
        let mut target = match Session::open(&options)? {
            Ok(session) => KernelTarget {
                settings,
                compiler,
                session,
            },
            Err(reply) => anyhow::bail!("kwasm.ko cannot run {}: {}", settings.describe(), reply.message),
        };
        let memory = wat::parse_str(kwasm_engine::SPECTEST_MEMORY).map_err(|e| anyhow::anyhow!("{e}"))?;
        target
            .instantiate(&memory)
            .and_then(|h| target.register(h, "spectest"))
            .map_err(|e| anyhow::anyhow!("cannot define spectest.memory: {e:?}"))?;
        Ok(target)
    }

    fn compile_image(&self, wasm: &[u8]) -> Result<Vec<u8>, Failure> {
        self.compiler
            .precompile_module(wasm)
            .map(kwasm_engine::image::seal)
            .map_err(|e| Failure::from_wasmtime_compile_error(&format!("{e:#}")))
    }
}

fn other(e: impl std::fmt::Display) -> Failure {
    Failure::Other(e.to_string())
}

/// A reply that is not a plain return, as the runner classifies it.
fn failure(reply: &Reply) -> Failure {
    let m = reply.message.clone();
    match reply.outcome() {
        Some(Outcome::Trapped) => Failure::Trap(m),
        Some(Outcome::InstantiateFailed) => Failure::Link(m),
        Some(o) => Failure::Other(format!("{o:?}: {m}")),
        None => Failure::Other(format!("unknown outcome {}: {m}", reply.outcome)),
    }
}

/// The reply of an instance operation: refused (an errno), or answered.
fn answered(answer: Result<Result<Reply, DeviceError>>) -> Result<Reply, Failure> {
    let reply = answer.map_err(other)?.map_err(other)?;
    match reply.outcome() {
        Some(Outcome::Returned) => Ok(reply),
        _ => Err(failure(&reply)),
    }
}

impl Target for KernelTarget<'_> {
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Handle, Failure> {
        let image = self.compile_image(wasm)?;
        match self.session.instantiate(&image).map_err(other)? {
            Ok(handle) => Ok(handle),
            Err(reply) => Err(failure(&reply)),
        }
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<(), Failure> {
        self.compile_image(wasm).map(drop)
    }

    fn register(&mut self, instance: Handle, name: &str) -> Result<(), Failure> {
        answered(self.session.register(instance, name)).map(drop)
    }

    fn call(&mut self, instance: Handle, export: &str, args: &[Val]) -> Result<Vec<Val>, Failure> {
        let params = args.iter().map(to_abi).collect::<Result<Vec<_>, _>>()?;
        let reply = answered(self.session.call(instance, export, &params))?;
        reply.results.iter().map(from_abi).collect()
    }

    fn get(&mut self, instance: Handle, global: &str) -> Result<Val, Failure> {
        let reply = answered(self.session.get(instance, global))?;
        match reply.results.as_slice() {
            [v] => from_abi(v),
            other => Err(Failure::Other(format!("GET returned {} values", other.len()))),
        }
    }
}

impl std::fmt::Debug for KernelTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KernelTarget({})", self.settings.describe())
    }
}

fn to_abi(v: &Val) -> Result<Value, Failure> {
    Ok(match *v {
        Val::I32(x) => Value::i32(x as i32),
        Val::I64(x) => Value::i64(x as i64),
        Val::F32(bits) => Value::f32_bits(bits),
        Val::F64(bits) => Value::f64_bits(bits),
        Val::V128(x) => Value::v128(x),
        Val::FuncRef { null: true } => Value {
            kind: VALUE_FUNCREF,
            ..Value::default()
        },
        Val::ExternRef(None) => Value {
            kind: VALUE_EXTERNREF,
            ..Value::default()
        },
        Val::ExternRef(Some(n)) => Value {
            kind: VALUE_EXTERNREF,
            flags: VALUE_FLAG_NONNULL,
            bits: n as u64,
            ..Value::default()
        },
        Val::FuncRef { null: false } => {
            return Err(Failure::Unsupported(format!(
                "argument {v}: a function cannot be named across kwasm's ABI"
            )))
        }
    })
}

fn from_abi(v: &Value) -> Result<Val, Failure> {
    Ok(match v.kind {
        VALUE_I32 => Val::I32(v.bits as u32),
        VALUE_I64 => Val::I64(v.bits),
        VALUE_F32 => Val::F32(v.bits as u32),
        VALUE_F64 => Val::F64(v.bits),
        VALUE_V128 => Val::V128(v.v128_bits()),
        VALUE_FUNCREF => Val::FuncRef {
            null: v.flags & VALUE_FLAG_NONNULL == 0,
        },
        VALUE_EXTERNREF if v.is_null() => Val::ExternRef(None),
        VALUE_EXTERNREF => Val::ExternRef(Some(v.bits as u32)),
        k => {
            return Err(Failure::Other(format!(
                "kwasm.ko returned a value of kind {k} the runner cannot compare"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_abi() {
        let vals = [
            Val::I32(u32::MAX),
            Val::I64(1 << 63),
            Val::F32(0x7fc0_0001),
            Val::F64(0xfff8_0000_0000_0001),
            Val::V128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
            Val::FuncRef { null: true },
            Val::ExternRef(None),
            Val::ExternRef(Some(7)),
        ];
        for v in vals {
            assert_eq!(from_abi(&to_abi(&v).unwrap()).unwrap(), v);
        }
        assert!(matches!(
            to_abi(&Val::FuncRef { null: false }),
            Err(Failure::Unsupported(_))
        ));
        let non_null = Value {
            kind: VALUE_FUNCREF,
            flags: VALUE_FLAG_NONNULL,
            ..Value::default()
        };
        assert_eq!(from_abi(&non_null).unwrap(), Val::FuncRef { null: false });
    }

    #[test]
    fn script_names_keep_their_suite() {
        assert_eq!(
            script_name(Path::new("/share/spec/simd/simd_lane.wast")),
            "simd/simd_lane.wast"
        );
        assert_eq!(script_name(Path::new("i32.wast")), "i32.wast");
    }
}
