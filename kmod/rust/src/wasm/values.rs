//! Wasm values across the ABI: bits in, `Val`s out, and back.

use super::report::Report;
use alloc::format;
use alloc::vec::Vec;
use kwasm_abi::run::{
    VALUE_EXTERNREF, VALUE_F32, VALUE_F64, VALUE_FLAG_NONNULL, VALUE_FUNCREF, VALUE_I32, VALUE_I64, VALUE_V128,
};
use kwasm_abi::{Outcome, Value};
use wasmtime::{AsContext, AsContextMut, ExternRef, Val, ValType, V128};

fn to_val(mut store: impl AsContextMut, v: &Value, ty: &ValType) -> Option<Val> {
    Some(match v.kind {
        VALUE_I32 if ty.is_i32() => Val::I32(v.bits as u32 as i32),
        VALUE_I64 if ty.is_i64() => Val::I64(v.bits as i64),
        VALUE_F32 if ty.is_f32() => Val::F32(v.bits as u32),
        VALUE_F64 if ty.is_f64() => Val::F64(v.bits),
        VALUE_V128 if ty.is_v128() => Val::V128(V128::from(v.v128_bits())),
        // A function cannot be named across the ABI: only null funcrefs.
        VALUE_FUNCREF if ty.is_funcref() && v.is_null() => Val::FuncRef(None),
        VALUE_EXTERNREF if ty.is_externref() && v.is_null() => Val::ExternRef(None),
        // A host reference carries its 32-bit payload (`ref.extern N`).
        VALUE_EXTERNREF if ty.is_externref() => Val::ExternRef(Some(ExternRef::new(&mut store, v.bits as u32).ok()?)),
        _ => return None,
    })
}

/// The arguments of a call, checked against the function's parameters.
/// Host references are rooted in `store`'s current root scope.
pub fn to_vals(
    mut store: impl AsContextMut,
    values: &[Value],
    types: impl ExactSizeIterator<Item = ValType>,
) -> Result<Vec<Val>, Report> {
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
            to_val(&mut store, v, &t).ok_or_else(|| {
                Report::new(
                    Outcome::BadCall,
                    format!("argument {i} does not fit parameter type {t} (a funcref can only be passed as null)"),
                )
            })
        })
        .collect()
}

/// A result as the ABI carries it; an externref made by the host comes back
/// with its payload, one made by wasm code (none can be, without GC
/// proposal instructions) without.
pub fn from_val(store: impl AsContext, v: &Val) -> Option<Value> {
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
        Val::ExternRef(None) => reference(VALUE_EXTERNREF, false),
        Val::ExternRef(Some(r)) => {
            let payload = r.data(&store).ok().flatten().and_then(|d| d.downcast_ref::<u32>()).copied();
            Value {
                bits: payload.unwrap_or(0) as u64,
                ..reference(VALUE_EXTERNREF, true)
            }
        }
        _ => return None,
    })
}
