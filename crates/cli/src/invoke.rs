//! `--invoke NAME`: the export's signature, its arguments parsed from the
//! command line, and its results printed, as `wasmtime run --invoke` does.

use anyhow::{bail, Context, Result};
use kwasm_abi::run::{VALUE_F32, VALUE_F64, VALUE_I32, VALUE_I64};
use kwasm_abi::Value;
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType};

/// Parameter and result types of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

/// The signature of the function `wasm` exports as `name`.
pub fn export_signature(wasm: &[u8], name: &str) -> Result<Signature> {
    let mut types: Vec<Option<Signature>> = Vec::new();
    // Type index of every function, imported ones first.
    let mut funcs: Vec<u32> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("cannot read the module's sections")? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let f = ty.context("cannot read the type section")?;
                    types.push(Some(Signature {
                        params: f.params().to_vec(),
                        results: f.results().to_vec(),
                    }));
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Func(ty) = import.context("cannot read the import section")?.ty {
                        funcs.push(ty);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    funcs.push(ty.context("cannot read the function section")?);
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.context("cannot read the export section")?;
                    exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    let Some((_, kind, index)) = exports.iter().find(|(n, _, _)| n == name) else {
        let funcs: Vec<&str> = exports
            .iter()
            .filter(|(_, k, _)| *k == ExternalKind::Func)
            .map(|(n, _, _)| n.as_str())
            .collect();
        bail!(
            "the module exports no function `{name}` (its function exports: {})",
            if funcs.is_empty() {
                "none".to_string()
            } else {
                funcs.join(", ")
            }
        );
    };
    if *kind != ExternalKind::Func {
        bail!("export `{name}` is not a function (it is a {kind:?}): --invoke calls functions");
    }
    funcs
        .get(*index as usize)
        .and_then(|ty| types.get(*ty as usize))
        .and_then(|s| s.clone())
        .with_context(|| format!("export `{name}` names a function the module does not define"))
}

/// Parses the command-line arguments of `--invoke name` by the function's
/// parameter types: integers in decimal or `0x` hex, floats as Rust parses
/// them (`1.5`, `-inf`, `NaN`), exactly as many as it takes.
pub fn parse_args(name: &str, sig: &Signature, args: &[String]) -> Result<Vec<Value>> {
    if args.len() != sig.params.len() {
        bail!(
            "`{name}` takes {} argument(s) ({}) but {} were given after the module",
            sig.params.len(),
            sig.params.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
            args.len()
        );
    }
    for ty in &sig.results {
        if value_kind(*ty).is_none() {
            bail!("`{name}` returns a {ty}: --invoke supports only i32, i64, f32 and f64 results");
        }
    }
    sig.params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (ty, arg))| {
            parse_value(*ty, arg)
                .with_context(|| format!("argument {} of `{name}` (`{arg}`) is not a valid {ty}", i + 1))
        })
        .collect()
}

fn value_kind(ty: ValType) -> Option<u32> {
    Some(match ty {
        ValType::I32 => VALUE_I32,
        ValType::I64 => VALUE_I64,
        ValType::F32 => VALUE_F32,
        ValType::F64 => VALUE_F64,
        _ => return None,
    })
}

fn parse_value(ty: ValType, s: &str) -> Result<Value> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    let bits = match ty {
        ValType::I32 => {
            (match hex {
                Some(h) => i32::from_str_radix(h, 16)?,
                None => s.parse::<i32>()?,
            }) as u32 as u64
        }
        ValType::I64 => {
            (match hex {
                Some(h) => i64::from_str_radix(h, 16)?,
                None => s.parse::<i64>()?,
            }) as u64
        }
        ValType::F32 => s.parse::<f32>()?.to_bits() as u64,
        ValType::F64 => s.parse::<f64>()?.to_bits(),
        other => bail!("--invoke supports only i32, i64, f32 and f64 parameters, not {other}"),
    };
    Ok(Value {
        kind: value_kind(ty).unwrap(),
        bits,
        ..Value::default()
    })
}

/// One result as `wasmtime run --invoke` prints it: integers in signed
/// decimal, floats as Rust's `Display` prints them.
pub fn format_value(v: &Value) -> Result<String> {
    Ok(match v.kind {
        VALUE_I32 => (v.bits as u32 as i32).to_string(),
        VALUE_I64 => (v.bits as i64).to_string(),
        VALUE_F32 => f32::from_bits(v.bits as u32).to_string(),
        VALUE_F64 => f64::from_bits(v.bits).to_string(),
        k => bail!("kwasm.ko returned a value of unknown kind {k}: is kwasm.ko newer than this kwasm?"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"(module
        (import "env" "f" (func $imported (param i64)))
        (memory (export "memory") 1)
        (func (export "all") (param i32 i64 f32 f64) (result f64 i32) f64.const 0 i32.const 0)
        (func (export "none"))
        (func (export "takes_ref") (param externref))
        (func (export "gives_v128") (result v128) v128.const i64x2 0 0)
        (export "imported_again" (func $imported)))"#;

    fn sig(name: &str) -> Result<Signature> {
        export_signature(&wat::parse_str(MODULE).unwrap(), name)
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn signatures_come_from_the_module() {
        let all = sig("all").unwrap();
        assert_eq!(all.params, [ValType::I32, ValType::I64, ValType::F32, ValType::F64]);
        assert_eq!(all.results, [ValType::F64, ValType::I32]);
        assert_eq!(
            sig("none").unwrap(),
            Signature {
                params: vec![],
                results: vec![]
            }
        );
        // Imported functions count in the function index space.
        assert_eq!(sig("imported_again").unwrap().params, [ValType::I64]);
    }

    #[test]
    fn missing_and_non_function_exports_are_named() {
        let e = sig("nope").unwrap_err().to_string();
        assert!(e.contains("no function `nope`") && e.contains("all, none"), "{e}");
        let e = sig("memory").unwrap_err().to_string();
        assert!(e.contains("not a function"), "{e}");
    }

    #[test]
    fn arguments_are_parsed_per_type() {
        let s = sig("all").unwrap();
        let v = parse_args("all", &s, &args(&["-7", "0x10", "1.5", "-inf"])).unwrap();
        assert_eq!(
            v[0],
            Value {
                kind: VALUE_I32,
                bits: (-7i32) as u32 as u64,
                ..Value::default()
            }
        );
        assert_eq!(
            v[1],
            Value {
                kind: VALUE_I64,
                bits: 16,
                ..Value::default()
            }
        );
        assert_eq!(
            v[2],
            Value {
                kind: VALUE_F32,
                bits: 1.5f32.to_bits() as u64,
                ..Value::default()
            }
        );
        assert_eq!(
            v[3],
            Value {
                kind: VALUE_F64,
                bits: f64::NEG_INFINITY.to_bits(),
                ..Value::default()
            }
        );
        let v = parse_args(
            "all",
            &s,
            &args(&["2147483647", "-9223372036854775808", "NaN", "1e300"]),
        )
        .unwrap();
        assert_eq!(v[0].bits, 0x7fff_ffff);
        assert_eq!(v[1].bits, 1 << 63);
        assert!(f32::from_bits(v[2].bits as u32).is_nan());
        assert_eq!(f64::from_bits(v[3].bits), 1e300);
    }

    #[test]
    fn bad_arguments_say_which_and_why() {
        let s = sig("all").unwrap();
        let e = parse_args("all", &s, &args(&["1", "2"])).unwrap_err().to_string();
        assert!(
            e.contains("takes 4 argument(s) (i32, i64, f32, f64) but 2 were given"),
            "{e}"
        );
        let e = format!("{:#}", parse_args("all", &s, &args(&["1", "2", "x", "4"])).unwrap_err());
        assert!(e.contains("argument 3 of `all` (`x`) is not a valid f32"), "{e}");
        let e = format!(
            "{:#}",
            parse_args("all", &s, &args(&["2147483648", "2", "3", "4"])).unwrap_err()
        );
        assert!(e.contains("argument 1") && e.contains("i32"), "{e}");
        let e = format!(
            "{:#}",
            parse_args("all", &s, &args(&["1.0", "2", "3", "4"])).unwrap_err()
        );
        assert!(e.contains("argument 1"), "{e}");
    }

    #[test]
    fn unsupported_types_are_refused() {
        let e = format!(
            "{:#}",
            parse_args("takes_ref", &sig("takes_ref").unwrap(), &args(&["0"])).unwrap_err()
        );
        assert!(e.contains("only i32, i64, f32 and f64 parameters"), "{e}");
        let e = parse_args("gives_v128", &sig("gives_v128").unwrap(), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("returns a v128"), "{e}");
    }

    #[test]
    fn results_print_like_wasmtime() {
        let v = |kind, bits| Value {
            kind,
            bits,
            ..Value::default()
        };
        assert_eq!(format_value(&v(VALUE_I32, 0xffff_ffff)).unwrap(), "-1");
        assert_eq!(format_value(&v(VALUE_I64, u64::MAX)).unwrap(), "-1");
        assert_eq!(format_value(&v(VALUE_I64, 1 << 40)).unwrap(), "1099511627776");
        assert_eq!(format_value(&v(VALUE_F32, 1.5f32.to_bits() as u64)).unwrap(), "1.5");
        assert_eq!(format_value(&v(VALUE_F32, 3f32.to_bits() as u64)).unwrap(), "3");
        assert_eq!(format_value(&v(VALUE_F64, 0.1f64.to_bits())).unwrap(), "0.1");
        assert_eq!(format_value(&v(VALUE_F64, f64::NAN.to_bits())).unwrap(), "NaN");
        assert_eq!(
            format_value(&v(VALUE_F64, f64::NEG_INFINITY.to_bits())).unwrap(),
            "-inf"
        );
        assert!(format_value(&v(9, 0))
            .unwrap_err()
            .to_string()
            .contains("unknown kind 9"));
    }
}
