//! The WAT programs the guest's safety tests run (tests/guest/wasm/), run
//! here on the host through the same pipeline as kwasm.ko's Pulley engine:
//! compiled with the compiler config, deserialized with the runtime config.
//! This proves each program parses, validates and does what its comments
//! promise, so a failure in the guest is the kernel's, not the program's.

use kwasm_engine::{Settings, REQUIRED_CPU_FEATURES};
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::{Engine, Instance, Module, Store, Trap, Val};

fn wat_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/guest/wasm")
        .join(name)
}

fn wasm(name: &str) -> Vec<u8> {
    wat::parse_file(wat_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Program {
    store: Store<()>,
    instance: Instance,
}

fn load(name: &str) -> Program {
    let settings = Settings::pulley(false);
    let compiler = Engine::new(&settings.compiler_config().unwrap()).unwrap();
    let image = compiler.precompile_module(&wasm(name)).unwrap();
    let engine = Engine::new(&settings.runtime_config(|_| None).unwrap()).unwrap();
    // SAFETY: the image was compiled just above with the same settings.
    let module = unsafe { Module::deserialize(&engine, &image) }.unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(1);
    store.epoch_deadline_trap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    Program { store, instance }
}

impl Program {
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, wasmtime::Error> {
        let f = self
            .instance
            .get_func(&mut self.store, name)
            .unwrap_or_else(|| panic!("no export {name}"));
        let mut results = vec![Val::I32(0); f.ty(&self.store).results().len()];
        f.call(&mut self.store, args, &mut results)?;
        Ok(results)
    }

    fn i32(&mut self, name: &str, args: &[Val]) -> i32 {
        self.call(name, args).unwrap()[0].unwrap_i32()
    }

    fn trap(&mut self, name: &str, args: &[Val]) -> Trap {
        let e = self.call(name, args).expect_err(name);
        *e.downcast_ref::<Trap>()
            .unwrap_or_else(|| panic!("{name}: not a trap: {e:?}"))
    }
}

#[test]
fn every_program_also_compiles_natively() {
    let settings = Settings::native(false, REQUIRED_CPU_FEATURES);
    let compiler = Engine::new(&settings.compiler_config().unwrap()).unwrap();
    for name in ["oob-load.wat", "recursion.wat", "loop.wat", "float.wat", "traps.wat"] {
        compiler
            .precompile_module(&wasm(name))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn out_of_bounds_accesses_trap() {
    let mut p = load("oob-load.wat");
    p.call("store", &[Val::I32(65532), Val::I32(7)]).unwrap();
    assert_eq!(p.i32("load", &[Val::I32(65532)]), 7);
    for addr in [65533, 65535, 65536, i32::MAX, -1, i32::MIN] {
        assert_eq!(
            p.trap("load", &[Val::I32(addr)]),
            Trap::MemoryOutOfBounds,
            "load {addr}"
        );
        assert_eq!(
            p.trap("store", &[Val::I32(addr), Val::I32(1)]),
            Trap::MemoryOutOfBounds,
            "store {addr}"
        );
    }
    assert_eq!(p.trap("load_offset_2g", &[]), Trap::MemoryOutOfBounds);
    assert_eq!(p.trap("load_offset_4g", &[]), Trap::MemoryOutOfBounds);
    assert_eq!(p.trap("store_offset_2g", &[Val::I32(1)]), Trap::MemoryOutOfBounds);
    // Growth up to the maximum, then -1; the new page is usable.
    assert_eq!(p.i32("grow", &[Val::I32(2)]), -1);
    assert_eq!(p.i32("grow", &[Val::I32(1)]), 1);
    assert_eq!(p.i32("size", &[]), 2);
    assert_eq!(p.i32("grow", &[Val::I32(1)]), -1);
    p.call("store", &[Val::I32(131068), Val::I32(9)]).unwrap();
    assert_eq!(p.i32("load", &[Val::I32(131068)]), 9);
    assert_eq!(p.trap("load", &[Val::I32(131069)]), Trap::MemoryOutOfBounds);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let mut p = load("recursion.wat");
    assert_eq!(p.i32("bounded", &[Val::I32(1000)]), 1000);
    assert_eq!(p.trap("deep", &[Val::I32(0)]), Trap::StackOverflow);
    assert_eq!(p.trap("deep_wide", &[Val::I32(0)]), Trap::StackOverflow);
}

#[test]
fn endless_loops_stop_at_an_epoch_deadline() {
    let mut p = load("loop.wat");
    assert_eq!(p.call("count", &[Val::I64(1000)]).unwrap()[0].unwrap_i64(), 1000);
    for name in ["spin", "spin_calls"] {
        let engine = p.store.engine().clone();
        let bump = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            engine.increment_epoch();
        });
        assert_eq!(p.trap(name, &[]), Trap::Interrupt, "{name}");
        bump.join().unwrap();
        p.store.set_epoch_deadline(1);
    }
}

#[test]
fn float_and_simd_results_are_exact() {
    let mut p = load("float.wat");
    let f64_of = |v: &Val| v.unwrap_f64();
    let f32_of = |v: &Val| v.unwrap_f32();
    let want64: f64 = (0..1000).map(|i| (i as f64).sqrt()).sum();
    let want32: f32 = (0..1000).map(|i| (i as f32).sqrt()).sum();
    let got = p.call("f64_sqrt_sum", &[Val::I32(1000)]).unwrap();
    assert_eq!(f64_of(&got[0]).to_bits(), want64.to_bits());
    let got = p.call("f32_sqrt_sum", &[Val::I32(1000)]).unwrap();
    assert_eq!(f32_of(&got[0]).to_bits(), want32.to_bits());
    assert_eq!(f32_of(&p.call("f32x4_dot", &[]).unwrap()[0]), 70.0);
    assert_eq!(f64_of(&p.call("f64x2_mul_add", &[]).unwrap()[0]), 27.0);
    assert_eq!(p.i32("i32x4_sum", &[Val::I32(7)]), 70);
    assert_eq!(f64_of(&p.call("f64_rounding", &[]).unwrap()[0]), -1.0);
    // nearest(3.5) + floor(-1.5) + ceil(1.2) + trunc(-3.7) = 4 - 2 + 2 - 3
    assert_eq!(f32_of(&p.call("f32_rounding", &[]).unwrap()[0]), 1.0);
    assert_eq!(
        f32_of(&p.call("simd_loop", &[Val::I32(100_000)]).unwrap()[0]),
        400_000.0
    );
    assert_eq!(f64_of(&p.call("f64_loop", &[Val::I32(100_001)]).unwrap()[0]), 50_000.5);
}

#[test]
fn each_trap_export_traps_its_way() {
    let mut p = load("traps.wat");
    let cases = [
        ("div_zero", Trap::IntegerDivisionByZero),
        ("rem_zero", Trap::IntegerDivisionByZero),
        ("div_overflow", Trap::IntegerOverflow),
        ("trunc_overflow", Trap::IntegerOverflow),
        ("trunc_nan", Trap::BadConversionToInteger),
        ("unreachable", Trap::UnreachableCodeReached),
        ("call_wrong_type", Trap::BadSignature),
        ("call_null", Trap::IndirectCallToNull),
        ("call_out_of_table", Trap::TableOutOfBounds),
    ];
    for (name, want) in cases {
        assert_eq!(p.trap(name, &[]), want, "{name}");
    }
    assert_eq!(p.i32("div", &[Val::I32(84), Val::I32(2)]), 42);
    assert_eq!(p.trap("div", &[Val::I32(1), Val::I32(0)]), Trap::IntegerDivisionByZero);
    assert_eq!(p.i32("call_ok", &[]), 42);
}
