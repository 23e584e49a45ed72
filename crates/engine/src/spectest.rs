//! The `spectest` host module the WebAssembly spec testsuite imports
//! (defined by the reference interpreter): print functions, four globals,
//! a table and a memory. kwasm.ko's sessions get it when they ask for it;
//! the runner's host tests use the same definition.
//!
//! All but the memory are host objects ([`define_spectest`]). The memory is
//! a module's ([`SPECTEST_MEMORY`]), which the runner instantiates and
//! registers as `spectest`: Wasmtime makes a host memory (`Memory::new`)
//! with its own allocator, which in the kernel (no virtual memory in
//! Wasmtime's platform layer) cannot make a memory with a guard region,
//! while a memory a module defines comes from kwasm's memory creator.

use wasmtime::{Global, GlobalType, Linker, Mutability, Ref, RefType, Result, Store, Table, TableType, Val, ValType};

/// `spectest.memory`: instantiate this and register it as `spectest`.
pub const SPECTEST_MEMORY: &str = r#"(module (memory (export "memory") 1 2))"#;

/// `666.6` as f32 and f64 bit patterns (the kernel side is soft-float;
/// the values are fixed by the testsuite).
const F32_666_6: u32 = 0x4426_A666;
const F64_666_6: u64 = 0x4084_D4CC_CCCC_CCCD;

/// Defines `spectest` in `linker`, its globals and table in `store` (the
/// memory: [`SPECTEST_MEMORY`]).
pub fn define_spectest<T: 'static>(linker: &mut Linker<T>, store: &mut Store<T>) -> Result<()> {
    const M: &str = "spectest";
    // The print functions only have to link and accept their arguments:
    // no script asserts on what they print.
    linker.func_wrap(M, "print", || {})?;
    linker.func_wrap(M, "print_i32", |_: i32| {})?;
    linker.func_wrap(M, "print_i64", |_: i64| {})?;
    linker.func_wrap(M, "print_f32", |_: f32| {})?;
    linker.func_wrap(M, "print_f64", |_: f64| {})?;
    linker.func_wrap(M, "print_i32_f32", |_: i32, _: f32| {})?;
    linker.func_wrap(M, "print_f64_f64", |_: f64, _: f64| {})?;

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(F32_666_6)),
        ("global_f64", ValType::F64, Val::F64(F64_666_6)),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
        linker.define(&mut *store, M, name, global)?;
    }
    let table = Table::new(
        &mut *store,
        TableType::new(RefType::FUNCREF, 10, Some(20)),
        Ref::Func(None),
    )?;
    linker.define(&mut *store, M, "table", table)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_globals_hold_666_6() {
        assert_eq!(F32_666_6, 666.6f32.to_bits());
        assert_eq!(F64_666_6, 666.6f64.to_bits());
    }
}
