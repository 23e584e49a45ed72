//! Runs the WebAssembly spec testsuite's `.wast` scripts against an engine.
//!
//! The runner ([`run_script`]) parses a script with the `wast` crate, walks
//! its directives in order and asks a [`Target`] to compile, instantiate,
//! link and call modules. The target is whatever runs the code: Wasmtime in
//! user space for host tests, `kwasm.ko` for the real thing. The runner
//! knows nothing about either; it only judges what the target reports.
//!
//! Every directive yields exactly one [`DirectiveResult`]: `Pass`, `Fail`
//! with what differed, or `Skip` with why it could not be checked. Nothing
//! is dropped silently, so a report's totals always equal the script's
//! directive count. The verdicts:
//!
//! * A module the target reports [`Failure::Unsupported`] is skipped, and
//!   so is everything that needs it: actions on it (by name, or while it is
//!   the current module), its registration, and modules importing from that
//!   registration. A module that fails otherwise is a failure, and so is
//!   everything that needs it.
//! * `assert_trap` and `assert_exhaustion` need a [`Failure::Trap`] whose
//!   message says what the script expects ([`trap_message_matches`]);
//!   `assert_trap` on a module is reported as `assert_uninstantiable`.
//! * `assert_invalid` and `assert_malformed` need a [`Failure::Compile`]
//!   (error texts differ between engines, so they are not compared). Text
//!   the `wast` crate itself cannot encode counts as rejected.
//!   Two core 2.0 rejections that multi-memory lifts (kwasm always enables
//!   it) are skipped when the target accepts the module.
//! * `assert_unlinkable` needs a [`Failure::Link`].
//! * Threads, exceptions, components and custom-section assertions are
//!   skipped.

mod report;
mod runner;
pub mod tsv;
mod values;

pub use report::{Counts, DirectiveKind, DirectiveResult, ScriptReport, Status};
pub use runner::run_script;
pub use values::trap_message_matches;

use std::fmt;

/// A wasm value as the spec scripts use it. Floats are kept as their bits,
/// so NaN payloads survive the trip through the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    I32(u32),
    I64(u64),
    /// `f32` bits.
    F32(u32),
    /// `f64` bits.
    F64(u64),
    /// Little-endian: lane 0 is the least significant bits.
    V128(u128),
    /// A `funcref`; scripts can only pass null ones and only ask whether a
    /// returned one is null.
    FuncRef {
        null: bool,
    },
    /// An `externref`: `None` is null, `Some(n)` is the host value
    /// `ref.extern n` (the target must hand back the same `n`).
    ExternRef(Option<u32>),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "i32:{v:#x}"),
            Val::I64(v) => write!(f, "i64:{v:#x}"),
            Val::F32(bits) => write!(f, "f32:{} ({bits:#010x})", f32::from_bits(bits)),
            Val::F64(bits) => write!(f, "f64:{} ({bits:#018x})", f64::from_bits(bits)),
            Val::V128(v) => write!(f, "v128:{v:#034x}"),
            Val::FuncRef { null: true } => f.write_str("ref.null func"),
            Val::FuncRef { null: false } => f.write_str("ref.func"),
            Val::ExternRef(None) => f.write_str("ref.null extern"),
            Val::ExternRef(Some(n)) => write!(f, "ref.extern {n}"),
        }
    }
}

/// Why an action failed, as the target classifies it. The runner decides
/// from the variant whether a directive passed, failed or must be skipped,
/// so a target must classify carefully; the text is only shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The module did not decode or validate.
    Compile(String),
    /// The engine cannot run this module because a wasm feature is not
    /// built in or not enabled (e.g. `externref` needs Wasmtime's `gc`
    /// feature). Directives that depend on it are skipped, not failed.
    Unsupported(String),
    /// Instantiation failed at link time: unknown import, or an import of
    /// an incompatible type.
    Link(String),
    /// A wasm trap, with the engine's message (e.g. `wasm trap: integer
    /// divide by zero`). Stack exhaustion is a trap whose message contains
    /// `call stack exhausted`.
    Trap(String),
    /// Anything else: the target itself failed, an export is missing, …
    Other(String),
}

impl Failure {
    /// Classifies the text of a Wasmtime compile error: a proposal the
    /// engine leaves disabled, or one its Cargo features leave out, is
    /// [`Failure::Unsupported`] (without the byte offset, so equal reasons
    /// group together in reports); anything else is [`Failure::Compile`].
    pub fn from_wasmtime_compile_error(text: &str) -> Failure {
        // e.g. "gc types are disallowed but found type which requires gc"
        // (externref without the `gc` feature), "threads support is not
        // enabled", "memory64 must be enabled for 64-bit memories", "...
        // disabled at compile time".
        const UNSUPPORTED: &[&str] = &[
            "support is not enabled",
            "must be enabled",
            "disabled at compile time",
            "not supported",
            "gc types are disallowed",
        ];
        if UNSUPPORTED.iter().any(|m| text.contains(m)) {
            let reason = text.split(" (at offset").next().unwrap_or(text);
            Failure::Unsupported(reason.to_string())
        } else {
            Failure::Compile(text.to_string())
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Compile(m) => write!(f, "compile error: {m}"),
            Failure::Unsupported(m) => write!(f, "unsupported: {m}"),
            Failure::Link(m) => write!(f, "link error: {m}"),
            Failure::Trap(m) => write!(f, "trap: {m}"),
            Failure::Other(m) => write!(f, "error: {m}"),
        }
    }
}

impl std::error::Error for Failure {}

/// Names an instance the target created.
pub type Handle = u32;

/// An engine the scripts run on. A fresh target is used for each script.
///
/// The target provides the `spectest` host module itself (functions
/// `print`, `print_i32`, `print_i64`, `print_f32`, `print_f64`,
/// `print_i32_f32`, `print_f64_f64` returning nothing; immutable globals
/// `global_i32`/`global_i64` = 666 and `global_f32`/`global_f64` = 666.6;
/// `table`: 10..20 funcref; `memory`: 1..2 pages); the runner never
/// defines it.
pub trait Target {
    /// Compiles and instantiates a binary module, running its start
    /// function. An import that is missing or of the wrong type is a
    /// [`Failure::Link`]; a trap while initializing segments or in the start
    /// function is a [`Failure::Trap`] (the scripts tell the two apart).
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Handle, Failure>;
    /// Only compiles (validates) a binary module.
    fn compile(&mut self, wasm: &[u8]) -> Result<(), Failure>;
    /// Makes the instance's exports importable under module name `name`.
    fn register(&mut self, instance: Handle, name: &str) -> Result<(), Failure>;
    /// Calls an exported function.
    fn call(&mut self, instance: Handle, export: &str, args: &[Val]) -> Result<Vec<Val>, Failure>;
    /// Reads an exported global.
    fn get(&mut self, instance: Handle, global: &str) -> Result<Val, Failure>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_errors_tell_missing_features_from_invalid_modules() {
        let gc = "failed to parse WebAssembly module: gc types are disallowed but found type which requires gc \
                  (at offset 0x21)";
        assert_eq!(
            Failure::from_wasmtime_compile_error(gc),
            Failure::Unsupported(
                "failed to parse WebAssembly module: gc types are disallowed but found type which requires gc".into()
            )
        );
        let invalid = "failed to parse WebAssembly module: type mismatch: expected i32, found i64 (at offset 0x1d)";
        assert_eq!(
            Failure::from_wasmtime_compile_error(invalid),
            Failure::Compile(invalid.into())
        );
    }
}
