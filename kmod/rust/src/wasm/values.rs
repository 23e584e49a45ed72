//! Wasm values across the ABI: bits in, `Val`s out, and back.

use super::report::Report;
use alloc::format;
use alloc::vec::Vec;
use kwasm_abi::run::{
    VALUE_EXTERNREF, VALUE_F32, VALUE_F64, VALUE_FLAG_NONNULL, VALUE_FUNCREF, VALUE_I32, VALUE_I64, VALUE_V128,
};
use kwasm_abi::{Outcome, Value};
use wasmtime::{Val, ValType, V128};

fn to_val(v: &Value, ty: &ValType) -> Option<Val> {
    Some(match v.kind {
        VALUE_I32 if ty.is_i32() => Val::I32(v.bits as u32 as i32),
        VALUE_I64 if ty.is_i64() => Val::I64(v.bits as i64),
        VALUE_F32 if ty.is_f32() => Val::F32(v.bits as u32),
        VALUE_F64 if ty.is_f64() => Val::F64(v.bits),
        VALUE_V128 if ty.is_v128() => Val::V128(V128::from(v.v128_bits())),
        // Only null references can be made from bits: a function or host
        // object cannot be named across the ABI.
        VALUE_FUNCREF if ty.is_funcref() && v.is_null() => Val::FuncRef(None),
        VALUE_EXTERNREF if ty.is_externref() && v.is_null() => Val::ExternRef(None),
        _ => return None,
    })
}

/// The arguments of a call, checked against the function's parameters.
pub fn to_vals(values: &[Value], types: impl ExactSizeIterator<Item = ValType>) -> Result<Vec<Val>, Report> {
    if types.len() != values.len() {
        return Err(Report::new(
            Outcome::BadCall,
            format!("the function takes {} arguments, {} given", types.len(), values.len()),
        ));
    }
    values
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (v, t))| {
            to_val(v, &t).ok_or_else(|| {
                Report::new(
                    Outcome::BadCall,
                    format!("argument {i} does not fit parameter type {t} (references can only be passed as null)"),
                )
            })
        })
        .collect()
}

pub fn from_val(v: &Val) -> Option<Value> {
    let reference = |kind, non_null: bool| Value {
        kind,
        flags: if non_null { VALUE_FLAG_NONNULL } else { 0 },
        ..Value::default()
    };
    Some(match v {
        Val::I32(x) => Value::i32(*x),
        Val::I64(x) => Value::i64(*x),
        Val::F32(x) => Value::f32_bits(*x),
        Val::F64(x) => Value::f64_bits(*x),
        Val::V128(x) => Value::v128(x.as_u128()),
        Val::FuncRef(f) => reference(VALUE_FUNCREF, f.is_some()),
        Val::ExternRef(r) => reference(VALUE_EXTERNREF, r.is_some()),
        _ => return None,
    })
}
