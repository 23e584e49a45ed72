//! Each directive passes when the engine does what the script says, and
//! fails (or is skipped, for what the engine cannot run) when it does not.
//! Scripts run on kwasm's Pulley engine in user space, except value
//! plumbing the engine cannot show (host references), which runs on a
//! target that echoes its arguments.

mod pulley_target;

use kwasm_wast::{run_script, DirectiveKind, Failure, Handle, ScriptReport, Status, Target, Val};
use pulley_target::{pulley_engine, PulleyTarget};
use std::sync::OnceLock;
use DirectiveKind as K;

/// What a directive should yield; the text must occur in the reason.
#[derive(Debug)]
enum Expect {
    Pass,
    Fail(&'static str),
    Skip(&'static str),
}
use Expect::{Fail, Pass, Skip};

fn on_pulley(script: &str) -> ScriptReport {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(pulley_engine);
    run_script("test.wast", script, &mut PulleyTarget::new(engine))
}

/// Runs `script` and checks every directive's kind and status, in order.
fn check(report: ScriptReport, expected: &[(DirectiveKind, Expect)]) {
    let listing = || {
        report
            .directives
            .iter()
            .map(|d| format!("  line {}: {}: {}", d.line, d.kind, d.status))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        report.directives.len(),
        expected.len(),
        "one result per directive:\n{}",
        listing()
    );
    for (i, (got, (kind, want))) in report.directives.iter().zip(expected).enumerate() {
        let ok = got.kind == *kind
            && match (want, &got.status) {
                (Pass, Status::Pass) => true,
                (Fail(text), Status::Fail(why)) | (Skip(text), Status::Skip(why)) => why.contains(text),
                _ => false,
            };
        assert!(
            ok,
            "directive {i} (line {}): expected {kind} {want:?}, got {} {}\n{}",
            got.line,
            got.kind,
            got.status,
            listing()
        );
    }
}

#[test]
fn assert_return_compares_values_and_arity() {
    let script = r#"
        (module
          (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
          (func (export "wide") (param i64) (result i64) (local.get 0))
          (global (export "g") i32 (i32.const 42)))
        (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
        (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))
        (assert_return (invoke "add" (i32.const 1) (i32.const 2)))
        (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i64.const 3))
        (assert_return (invoke "add" (i32.const -1) (i32.const 0)) (i32.const 0xffffffff))
        (assert_return (invoke "wide" (i64.const -2)) (i64.const -2))
        (assert_return (invoke "wide" (i64.const -2)) (i64.const 2))
        (assert_return (get "g") (i32.const 42))
        (assert_return (get "g") (i32.const 41))
        (assert_return (get "nope") (i32.const 42))
        (assert_return (invoke "nope") (i32.const 42))
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("got [i32:0x3], expected [i32.const 4]")),
            (K::AssertReturn, Fail("expected []")),
            (K::AssertReturn, Fail("expected [i64.const 3]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("i64:0xfffffffffffffffe")),
            (K::Get, Pass),
            (K::Get, Fail("got [i32:0x2a], expected [i32.const 41]")),
            (K::Get, Fail("no exported global")),
            (K::AssertReturn, Fail("no exported function")),
        ],
    );
}

#[test]
fn float_results_compare_bits_and_nan_patterns() {
    let script = r#"
        (module
          (func (export "f32") (param f32) (result f32) (local.get 0))
          (func (export "f64") (param f64) (result f64) (local.get 0))
          (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0))))
        (assert_return (invoke "f32" (f32.const 1.5)) (f32.const 1.5))
        (assert_return (invoke "f32" (f32.const -0)) (f32.const 0))
        (assert_return (invoke "f32" (f32.const nan)) (f32.const nan:canonical))
        (assert_return (invoke "f32" (f32.const -nan)) (f32.const nan:canonical))
        (assert_return (invoke "f32" (f32.const nan:0x600000)) (f32.const nan:arithmetic))
        (assert_return (invoke "f32" (f32.const nan:0x600000)) (f32.const nan:canonical))
        (assert_return (invoke "f32" (f32.const nan:0x200000)) (f32.const nan:arithmetic))
        (assert_return (invoke "f32" (f32.const 1.5)) (f32.const nan:arithmetic))
        (assert_return (invoke "f32" (f32.const nan:0x200000)) (f32.const nan:0x200000))
        (assert_return (invoke "nan") (f32.const nan:arithmetic))
        (assert_return (invoke "f64" (f64.const -nan)) (f64.const nan:canonical))
        (assert_return (invoke "f64" (f64.const nan:0x4000000000000)) (f64.const nan:canonical))
        (assert_return (invoke "f64" (f64.const 2.5)) (f64.const nan:canonical))
        (assert_return (invoke "f64" (f64.const 2.5)) (f64.const 2.5))
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("got [f32:-0 (0x80000000)]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("expected [f32.const nan:canonical]")),
            // A signalling NaN is not arithmetic.
            (K::AssertReturn, Fail("0x7fa00000")),
            (K::AssertReturn, Fail("expected [f32.const nan:arithmetic]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("0x7ff4000000000000")),
            (K::AssertReturn, Fail("f64:2.5")),
            (K::AssertReturn, Pass),
        ],
    );
}

#[test]
fn v128_results_compare_every_lane_shape() {
    let script = r#"
        (module (func (export "v") (param v128) (result v128) (local.get 0)))
        (assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 4))
        (assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i8x16 1 0 0 0 2 0 0 0 3 0 0 0 4 0 0 0))
        (assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i16x8 1 0 2 0 3 0 4 0))
        (assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i64x2 0x200000001 0x400000003))
        (assert_return (invoke "v" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 5))
        (assert_return (invoke "v" (v128.const i8x16 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0)) (v128.const i8x16 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))
        (assert_return (invoke "v" (v128.const i8x16 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0)) (v128.const i16x8 -1 0 0 0 0 0 0 0))
        (assert_return (invoke "v" (v128.const f32x4 nan 1 -0 nan:0x600000)) (v128.const f32x4 nan:canonical 1 -0 nan:arithmetic))
        (assert_return (invoke "v" (v128.const f32x4 nan 1 -0 nan:0x600000)) (v128.const f32x4 nan:canonical nan:canonical -0 nan:arithmetic))
        (assert_return (invoke "v" (v128.const f32x4 nan 1 -0 nan:0x600000)) (v128.const f32x4 nan:canonical 1 0 nan:arithmetic))
        (assert_return (invoke "v" (v128.const f64x2 nan 1)) (v128.const f64x2 nan:canonical 1))
        (assert_return (invoke "v" (v128.const f64x2 nan 1)) (v128.const f64x2 nan:arithmetic nan:arithmetic))
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("expected [v128.const i32x4 1 2 3 5]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("expected [v128.const i16x8 -1 0")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("f32x4 nan:canonical nan:canonical")),
            (
                K::AssertReturn,
                Fail("f32x4 nan:canonical 1 (0x3f800000) 0 (0x00000000)"),
            ),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("f64x2 nan:arithmetic nan:arithmetic")),
        ],
    );
}

#[test]
fn funcref_results_and_arguments() {
    let script = r#"
        (module
          (table $t 2 funcref)
          (elem (table $t) (i32.const 0) func $f)
          (func $f)
          (func (export "get") (param i32) (result funcref) (table.get $t (local.get 0)))
          (func (export "is_null") (param funcref) (result i32) (ref.is_null (local.get 0))))
        (assert_return (invoke "get" (i32.const 0)) (ref.func))
        (assert_return (invoke "get" (i32.const 1)) (ref.null func))
        (assert_return (invoke "get" (i32.const 1)) (ref.null))
        (assert_return (invoke "get" (i32.const 0)) (ref.null func))
        (assert_return (invoke "get" (i32.const 1)) (ref.func))
        (assert_return (invoke "get" (i32.const 1)) (ref.null extern))
        (assert_return (invoke "is_null" (ref.null func)) (i32.const 1))
        (assert_trap (invoke "get" (i32.const 2)) "out of bounds table access")
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("got [ref.func], expected [ref.null func]")),
            (K::AssertReturn, Fail("got [ref.null func], expected [ref.func]")),
            (K::AssertReturn, Fail("expected [ref.null extern]")),
            (K::AssertReturn, Pass),
            (K::AssertTrap, Pass),
        ],
    );
}

/// Hands every call's arguments back as its results: shows how host
/// references and `either` are checked, which Pulley without Wasmtime's
/// `gc` feature cannot.
struct EchoTarget;

impl Target for EchoTarget {
    fn instantiate(&mut self, _: &[u8]) -> Result<Handle, Failure> {
        Ok(0)
    }
    fn compile(&mut self, _: &[u8]) -> Result<(), Failure> {
        Ok(())
    }
    fn register(&mut self, _: Handle, _: &str) -> Result<(), Failure> {
        Ok(())
    }
    fn call(&mut self, _: Handle, _: &str, args: &[Val]) -> Result<Vec<Val>, Failure> {
        Ok(args.to_vec())
    }
    fn get(&mut self, _: Handle, _: &str) -> Result<Val, Failure> {
        Err(Failure::Other("no globals".into()))
    }
}

#[test]
fn externref_and_either_results() {
    let script = r#"
        (module)
        (assert_return (invoke "echo" (ref.extern 1)) (ref.extern 1))
        (assert_return (invoke "echo" (ref.extern 1)) (ref.extern 2))
        (assert_return (invoke "echo" (ref.extern 1)) (ref.extern))
        (assert_return (invoke "echo" (ref.null extern)) (ref.extern))
        (assert_return (invoke "echo" (ref.null extern)) (ref.null extern))
        (assert_return (invoke "echo" (ref.null extern)) (ref.null func))
        (assert_return (invoke "echo" (i32.const 1)) (either (i32.const 0) (i32.const 1)))
        (assert_return (invoke "echo" (i32.const 1)) (either (i32.const 2) (i32.const 3)))
        (assert_return (invoke "echo" (i32.const 1)) (ref.i31))
        (assert_return (invoke "echo" (ref.host 1)) (ref.host 1))
    "#;
    check(
        run_script("echo.wast", script, &mut EchoTarget),
        &[
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("got [ref.extern 1], expected [ref.extern 2]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("got [ref.null extern], expected [ref.extern]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("expected [ref.null func]")),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Fail("expected [either i32.const 2, i32.const 3]")),
            (
                K::AssertReturn,
                Skip("the runner cannot check ref.i31 results (GC proposal)"),
            ),
            (
                K::AssertReturn,
                Skip("the runner cannot pass ref.host arguments (GC proposal)"),
            ),
        ],
    );
}

#[test]
fn invoke_and_assert_trap_and_exhaustion() {
    let script = r#"
        (module
          (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
          (func (export "nothing"))
          (func $rec (export "rec") (call $rec))
          (func (export "unreachable") unreachable))
        (invoke "div" (i32.const 4) (i32.const 2))
        (invoke "div" (i32.const 4) (i32.const 0))
        (invoke "missing")
        (assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
        (assert_trap (invoke "div" (i32.const 0x80000000) (i32.const -1)) "integer overflow")
        (assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer overflow")
        (assert_trap (invoke "div" (i32.const 4) (i32.const 2)) "integer divide by zero")
        (assert_trap (invoke "nothing") "unreachable")
        (assert_trap (invoke "unreachable") "unreachable")
        (assert_trap (invoke "missing") "unreachable")
        (assert_exhaustion (invoke "rec") "call stack exhausted")
        (assert_exhaustion (invoke "nothing") "call stack exhausted")
        (assert_exhaustion (invoke "unreachable") "call stack exhausted")
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::Invoke, Pass),
            (K::Invoke, Fail("trap: wasm trap: integer divide by zero")),
            (K::Invoke, Fail("no exported function \"missing\"")),
            (K::AssertTrap, Pass),
            (K::AssertTrap, Pass),
            (
                K::AssertTrap,
                Fail("trapped with \"wasm trap: integer divide by zero\", expected \"integer overflow\""),
            ),
            (
                K::AssertTrap,
                Fail("returned [i32:0x2], expected a trap \"integer divide by zero\""),
            ),
            (K::AssertTrap, Fail("completed, expected a trap \"unreachable\"")),
            (K::AssertTrap, Pass),
            (K::AssertTrap, Fail("no exported function")),
            (K::AssertExhaustion, Pass),
            (
                K::AssertExhaustion,
                Fail("completed, expected a trap \"call stack exhausted\""),
            ),
            (K::AssertExhaustion, Fail("expected \"call stack exhausted\"")),
        ],
    );
}

#[test]
fn module_traps_during_instantiation() {
    let script = r#"
        (assert_trap (module (func $s unreachable) (start $s)) "unreachable")
        (assert_trap (module (memory 1) (data (i32.const 65536) "a")) "out of bounds memory access")
        (assert_trap (module (table 1 funcref) (elem (i32.const 1) func $f) (func $f)) "out of bounds table access")
        (assert_trap (module (func)) "unreachable")
        (assert_trap (module (func $s unreachable) (start $s)) "integer overflow")
        (assert_trap (module (import "nowhere" "f" (func))) "unreachable")
    "#;
    check(
        on_pulley(script),
        &[
            (K::AssertUninstantiable, Pass),
            (K::AssertUninstantiable, Pass),
            (K::AssertUninstantiable, Pass),
            (K::AssertUninstantiable, Fail("completed, expected a trap")),
            (
                K::AssertUninstantiable,
                Fail("trapped with \"wasm trap: wasm `unreachable`"),
            ),
            (K::AssertUninstantiable, Fail("link error: unknown import")),
        ],
    );
}

#[test]
fn assert_invalid_and_malformed_need_a_rejection() {
    let script = r#"
        (assert_invalid (module (func (result i32) (i64.const 0))) "type mismatch")
        (assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch")
        (assert_malformed (module quote "(func (result i32) (i32.const nope))") "unknown operator")
        (assert_malformed (module quote "(func)") "unknown operator")
        (assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
        (assert_malformed (module binary "\00asm\01\00\00\00") "unknown binary version")
        (assert_invalid (module (memory 1) (memory 1)) "multiple memories")
    "#;
    check(
        on_pulley(script),
        &[
            (K::AssertInvalid, Pass),
            (
                K::AssertInvalid,
                Fail("module compiled, expected a compile error \"type mismatch\""),
            ),
            (K::AssertMalformed, Pass),
            (K::AssertMalformed, Fail("module compiled")),
            (K::AssertMalformed, Pass),
            (
                K::AssertMalformed,
                Fail("module compiled, expected a compile error \"unknown binary version\""),
            ),
            (K::AssertInvalid, Skip("multi-memory proposal kwasm enables")),
        ],
    );
}

#[test]
fn modules_register_link_and_instantiate_definitions() {
    let script = r#"
        (module $M
          (func (export "f") (result i32) (i32.const 7))
          (global (export "g") i32 (i32.const 9)))
        (register "M" $M)
        (module (import "M" "f" (func $f (result i32))) (func (export "call") (result i32) (call $f)))
        (assert_return (invoke "call") (i32.const 7))
        (assert_return (invoke $M "f") (i32.const 7))
        (assert_return (get $M "g") (i32.const 9))
        (assert_unlinkable (module (import "M" "nope" (func))) "unknown import")
        (assert_unlinkable (module (import "M" "f" (func (param i32)))) "incompatible import type")
        (assert_unlinkable (module (import "M" "f" (func (result i32)))) "unknown import")
        (assert_unlinkable (module (func $s unreachable) (start $s)) "unknown import")
        (module definition $D (func (export "h") (result i32) (i32.const 5)))
        (module instance $I $D)
        (assert_return (invoke $I "h") (i32.const 5))
        (assert_return (invoke "h") (i32.const 5))
        (invoke $nope "f")
        (register "N" $nope)
        (module
          (import "spectest" "print_i32" (func $print (param i32)))
          (import "spectest" "global_i32" (global $g i32))
          (import "spectest" "global_f64" (global $h f64))
          (import "spectest" "table" (table 10 20 funcref))
          (import "spectest" "memory" (memory 1 2))
          (func (export "print") (call $print (i32.const 1)))
          (func (export "g") (result i32 f64) (global.get $g) (global.get $h))
          (func (export "grow") (result i32) (memory.grow (i32.const 2))))
        (invoke "print")
        (assert_return (invoke "g") (i32.const 666) (f64.const 666.6))
        (assert_return (invoke "grow") (i32.const -1))
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::Register, Pass),
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::Get, Pass),
            (K::AssertUnlinkable, Pass),
            (K::AssertUnlinkable, Pass),
            (K::AssertUnlinkable, Fail("module instantiated, expected a link error")),
            (K::AssertUnlinkable, Fail("trap: wasm trap")),
            (K::Module, Pass),
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
            (K::Invoke, Fail("no module named $nope")),
            (K::Register, Fail("no module named $nope")),
            (K::Module, Pass),
            (K::Invoke, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Pass),
        ],
    );
}

#[test]
fn unsupported_modules_skip_everything_that_needs_them() {
    // kwasm's engine leaves memory64 off: modules with a 64-bit memory are
    // unsupported, not invalid.
    let script = r#"
        (module $A
          (memory i64 1)
          (func (export "f") (param i64) (result i64) (local.get 0))
          (func (export "k") (result i32) (i32.const 3)))
        (assert_return (invoke "f" (i64.const 1)) (i64.const 1))
        (register "A" $A)
        (module (import "A" "k" (func (result i32))) (func (export "x")))
        (invoke "x")
        (assert_unlinkable (module (import "A" "k" (func (param i32)))) "incompatible import type")
        (module $B (func (export "g") (result i32) (i32.const 1)))
        (assert_return (invoke "g") (i32.const 1))
        (assert_return (invoke $A "f" (i64.const 2)) (i64.const 2))
        (assert_trap (invoke $A "f" (i64.const 2)) "unreachable")
        (invoke $A "f" (i64.const 2))
        (assert_invalid (module (memory i64 1) (func (result i32) (i64.const 0))) "type mismatch")
        (assert_unlinkable (module (import "A" "f" (func (param i64) (result i64)))) "unknown import")
        (assert_trap (module (memory i64 1) (func $s (unreachable)) (start $s)) "unreachable")
        (module (memory i64 1) (func (export "h") (result i64) (i64.const 5)))
        (assert_return (invoke "h") (i64.const 5))
        (assert_return (invoke $B "g") (i32.const 1))
    "#;
    let why = "memory64 must be enabled";
    check(
        on_pulley(script),
        &[
            (K::Module, Skip(why)),
            (K::AssertReturn, Skip(why)),
            (K::Register, Skip(why)),
            // Needs what $A would have exported.
            (K::Module, Skip(why)),
            (K::Invoke, Skip(why)),
            (K::AssertUnlinkable, Skip(why)),
            (K::Module, Pass),
            (K::AssertReturn, Pass),
            (K::AssertReturn, Skip(why)),
            (K::AssertTrap, Skip(why)),
            (K::Invoke, Skip(why)),
            (K::AssertInvalid, Skip(why)),
            (K::AssertUnlinkable, Skip(why)),
            (K::AssertUninstantiable, Skip(why)),
            (K::Module, Skip(why)),
            (K::AssertReturn, Skip(why)),
            (K::AssertReturn, Pass),
        ],
    );
}

#[test]
fn broken_modules_fail_with_everything_that_needs_them() {
    let script = r#"
        (module (func (export "f") (result i32) (i64.const 0)))
        (assert_return (invoke "f") (i32.const 0))
        (module quote "(func (result i32) (i32.const nope))")
        (module (func $s unreachable) (start $s))
        (module (import "nowhere" "f" (func)))
        (assert_trap (invoke "f") "unreachable")
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Fail("module at line 2: compile error")),
            (K::AssertReturn, Fail("module at line 2: compile error")),
            (K::Module, Fail("text does not encode")),
            (K::Module, Fail("trap: wasm trap: wasm `unreachable`")),
            (K::Module, Fail("link error: unknown import")),
            (K::AssertTrap, Fail("module at line 6: link error")),
        ],
    );
}

#[test]
fn actions_before_any_module_fail() {
    check(
        on_pulley(r#"(assert_return (invoke "f") (i32.const 0))"#),
        &[(K::AssertReturn, Fail("no module instantiated yet"))],
    );
}

#[test]
fn directives_the_runner_does_not_check_are_skipped() {
    let script = r#"
        (module (func (export "f")))
        (thread $T (invoke "f"))
        (wait $T)
        (assert_exception (invoke "f"))
        (assert_return (invoke "f"))
    "#;
    check(
        on_pulley(script),
        &[
            (K::Module, Pass),
            (K::Other, Skip("threads")),
            (K::Other, Skip("threads")),
            (K::Other, Skip("exception handling")),
            (K::AssertReturn, Pass),
        ],
    );
}

#[test]
fn a_script_that_does_not_parse_is_one_failure() {
    let report = on_pulley("(module)\n(assert_return (bogus))\n");
    check(report.clone(), &[(K::Other, Fail("script does not parse"))]);
    assert_eq!(report.directives[0].line, 2);
}
