//! Script values: arguments into [`Val`]s, results against expectations,
//! trap messages against the spec's wording.

use crate::Val;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64};
use wast::{WastArg, WastRet};

/// Spec wording, and the part of Wasmtime's trap message that says the
/// same. Everything else matches as a substring: Wasmtime's messages
/// contain the spec's (`wasm trap: integer divide by zero`, `wasm trap:
/// wasm \`unreachable\` instruction executed`, `wasm trap: undefined
/// element: out of bounds table access`).
const TRAP_ALIASES: &[(&str, &str)] = &[
    // bulk.wast names the element (`uninitialized element 2`); Wasmtime
    // does not say which.
    ("uninitialized element", "uninitialized element"),
];

/// Whether a trap message `actual` says what the script `expected`: the
/// expected text is contained in it, or a known alias of it is.
pub fn trap_message_matches(expected: &str, actual: &str) -> bool {
    actual.contains(expected)
        || TRAP_ALIASES
            .iter()
            .any(|(spec, engine)| expected.starts_with(spec) && actual.contains(engine))
}

/// A script argument as a [`Val`], or why the runner cannot pass it.
pub(crate) fn arg(arg: &WastArg<'_>) -> Result<Val, String> {
    let WastArg::Core(core) = arg else {
        return Err("component-model arguments".to_string());
    };
    Ok(match core {
        WastArgCore::I32(v) => Val::I32(*v as u32),
        WastArgCore::I64(v) => Val::I64(*v as u64),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(heap) => match null_kind(heap) {
            Some(RefKind::Func) => Val::FuncRef { null: true },
            Some(RefKind::Extern) => Val::ExternRef(None),
            None => return Err(format!("ref.null {} arguments", heap_name(heap))),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(*n)),
        WastArgCore::RefHost(_) => return Err("ref.host arguments (GC proposal)".to_string()),
    })
}

enum RefKind {
    Func,
    Extern,
}

/// Which of the two reference-types hierarchies a `ref.null` names; `None`
/// for GC, exception and typed-function references.
fn null_kind(heap: &HeapType<'_>) -> Option<RefKind> {
    match heap {
        HeapType::Abstract { shared: false, ty } => match ty {
            AbstractHeapType::Func | AbstractHeapType::NoFunc => Some(RefKind::Func),
            AbstractHeapType::Extern | AbstractHeapType::NoExtern => Some(RefKind::Extern),
            _ => None,
        },
        _ => None,
    }
}

fn heap_name(heap: &HeapType<'_>) -> String {
    match heap {
        HeapType::Abstract { shared, ty } => {
            let ty = format!("{ty:?}").to_lowercase();
            if *shared {
                format!("(shared {ty})")
            } else {
                ty
            }
        }
        HeapType::Concrete(index) | HeapType::Exact(index) => format!("{index:?}"),
    }
}

/// How actual results compare with a script's expectations.
pub(crate) enum Verdict {
    Match,
    /// What differed.
    Mismatch(String),
    /// The script expects a value the runner cannot check.
    Unchecked(String),
}

pub(crate) fn check_results(actual: &[Val], expected: &[WastRet<'_>]) -> Verdict {
    let mut unchecked = None;
    let mut mismatch = actual.len() != expected.len();
    for (value, want) in actual.iter().zip(expected) {
        let WastRet::Core(want) = want else {
            unchecked = Some("component-model results".to_string());
            continue;
        };
        match matches(value, want) {
            Ok(true) => {}
            Ok(false) => mismatch = true,
            Err(why) => unchecked = Some(why),
        }
    }
    if mismatch {
        Verdict::Mismatch(format!(
            "got [{}], expected [{}]",
            list(actual.iter().map(Val::to_string)),
            list(expected.iter().map(describe_ret))
        ))
    } else if let Some(why) = unchecked {
        Verdict::Unchecked(why)
    } else {
        Verdict::Match
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Whether `value` is what `want` describes; `Err` when the runner cannot
/// tell (GC references).
fn matches(value: &Val, want: &WastRetCore<'_>) -> Result<bool, String> {
    Ok(match (want, value) {
        (WastRetCore::I32(w), Val::I32(v)) => *v == *w as u32,
        (WastRetCore::I64(w), Val::I64(v)) => *v == *w as u64,
        (WastRetCore::F32(w), Val::F32(v)) => f32_matches(*v, w),
        (WastRetCore::F64(w), Val::F64(v)) => f64_matches(*v, w),
        (WastRetCore::V128(w), Val::V128(v)) => v128_matches(*v, w),
        (WastRetCore::RefNull(None), v) => matches!(v, Val::FuncRef { null: true } | Val::ExternRef(None)),
        (WastRetCore::RefNull(Some(heap)), v) => match null_kind(heap) {
            Some(RefKind::Func) => *v == Val::FuncRef { null: true },
            Some(RefKind::Extern) => *v == Val::ExternRef(None),
            None => return Err(format!("ref.null {} results", heap_name(heap))),
        },
        (WastRetCore::RefFunc(_), v) => *v == Val::FuncRef { null: false },
        (WastRetCore::RefExtern(None), v) => matches!(v, Val::ExternRef(Some(_))),
        (WastRetCore::RefExtern(Some(w)), v) => *v == Val::ExternRef(Some(*w)),
        (WastRetCore::Either(alternatives), v) => {
            let mut unchecked = None;
            for alternative in alternatives {
                match matches(v, alternative) {
                    Ok(true) => return Ok(true),
                    Ok(false) => {}
                    Err(why) => unchecked = Some(why),
                }
            }
            return unchecked.map_or(Ok(false), Err);
        }
        (
            WastRetCore::RefHost(_)
            | WastRetCore::RefAny
            | WastRetCore::RefEq
            | WastRetCore::RefArray
            | WastRetCore::RefStruct
            | WastRetCore::RefI31
            | WastRetCore::RefI31Shared,
            _,
        ) => return Err(format!("{} results (GC proposal)", describe(want))),
        // A value of another type than expected.
        _ => false,
    })
}

const F32_EXP_QUIET: u32 = 0x7fc0_0000;
const F64_EXP_QUIET: u64 = 0x7ff8_0000_0000_0000;

/// A canonical NaN has only the quiet bit of the payload set (either
/// sign); an arithmetic NaN has at least the quiet bit. Other values
/// compare bit for bit, so NaN payloads and the sign of zero count.
fn f32_matches(bits: u32, want: &NanPattern<F32>) -> bool {
    match want {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == F32_EXP_QUIET,
        NanPattern::ArithmeticNan => bits & F32_EXP_QUIET == F32_EXP_QUIET,
        NanPattern::Value(w) => bits == w.bits,
    }
}

fn f64_matches(bits: u64, want: &NanPattern<F64>) -> bool {
    match want {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == F64_EXP_QUIET,
        NanPattern::ArithmeticNan => bits & F64_EXP_QUIET == F64_EXP_QUIET,
        NanPattern::Value(w) => bits == w.bits,
    }
}

fn v128_matches(value: u128, want: &V128Pattern) -> bool {
    let bytes = value.to_le_bytes();
    let lanes = |width: usize| {
        bytes
            .chunks_exact(width)
            .map(|c| c.iter().rev().fold(0u64, |a, b| a << 8 | *b as u64))
    };
    match want {
        V128Pattern::I8x16(w) => lanes(1).zip(w).all(|(v, w)| v == *w as u8 as u64),
        V128Pattern::I16x8(w) => lanes(2).zip(w).all(|(v, w)| v == *w as u16 as u64),
        V128Pattern::I32x4(w) => lanes(4).zip(w).all(|(v, w)| v == *w as u32 as u64),
        V128Pattern::I64x2(w) => lanes(8).zip(w).all(|(v, w)| v == *w as u64),
        V128Pattern::F32x4(w) => lanes(4).zip(w).all(|(v, w)| f32_matches(v as u32, w)),
        V128Pattern::F64x2(w) => lanes(8).zip(w).all(|(v, w)| f64_matches(v, w)),
    }
}

fn describe_ret(ret: &WastRet<'_>) -> String {
    match ret {
        WastRet::Core(core) => describe(core),
        #[allow(unreachable_patterns)]
        _ => "component value".to_string(),
    }
}

/// An expected result in script syntax, for failure messages.
fn describe(want: &WastRetCore<'_>) -> String {
    fn nan<T>(p: &NanPattern<T>, value: impl Fn(&T) -> String) -> String {
        match p {
            NanPattern::CanonicalNan => "nan:canonical".to_string(),
            NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
            NanPattern::Value(v) => value(v),
        }
    }
    let f32 = |w: &F32| format!("{} ({:#010x})", f32::from_bits(w.bits), w.bits);
    let f64 = |w: &F64| format!("{} ({:#018x})", f64::from_bits(w.bits), w.bits);
    let lanes = |items: Vec<String>| items.join(" ");
    match want {
        WastRetCore::I32(w) => format!("i32.const {w}"),
        WastRetCore::I64(w) => format!("i64.const {w}"),
        WastRetCore::F32(w) => format!("f32.const {}", nan(w, f32)),
        WastRetCore::F64(w) => format!("f64.const {}", nan(w, f64)),
        WastRetCore::V128(p) => match p {
            V128Pattern::I8x16(w) => format!("v128.const i8x16 {}", lanes(w.iter().map(i8::to_string).collect())),
            V128Pattern::I16x8(w) => format!("v128.const i16x8 {}", lanes(w.iter().map(i16::to_string).collect())),
            V128Pattern::I32x4(w) => format!("v128.const i32x4 {}", lanes(w.iter().map(i32::to_string).collect())),
            V128Pattern::I64x2(w) => format!("v128.const i64x2 {}", lanes(w.iter().map(i64::to_string).collect())),
            V128Pattern::F32x4(w) => format!("v128.const f32x4 {}", lanes(w.iter().map(|p| nan(p, f32)).collect())),
            V128Pattern::F64x2(w) => format!("v128.const f64x2 {}", lanes(w.iter().map(|p| nan(p, f64)).collect())),
        },
        WastRetCore::RefNull(None) => "ref.null".to_string(),
        WastRetCore::RefNull(Some(heap)) => format!("ref.null {}", heap_name(heap)),
        WastRetCore::RefExtern(None) => "ref.extern".to_string(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::RefHost(n) => format!("ref.host {n}"),
        WastRetCore::RefFunc(_) => "ref.func".to_string(),
        WastRetCore::RefAny => "ref.any".to_string(),
        WastRetCore::RefEq => "ref.eq".to_string(),
        WastRetCore::RefArray => "ref.array".to_string(),
        WastRetCore::RefStruct => "ref.struct".to_string(),
        WastRetCore::RefI31 => "ref.i31".to_string(),
        WastRetCore::RefI31Shared => "ref.i31_shared".to_string(),
        WastRetCore::Either(alternatives) => format!("either {}", list(alternatives.iter().map(describe))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_patterns_follow_the_spec() {
        // Canonical: quiet bit only, either sign.
        assert!(f32_matches(0x7fc0_0000, &NanPattern::CanonicalNan));
        assert!(f32_matches(0xffc0_0000, &NanPattern::CanonicalNan));
        assert!(!f32_matches(0x7fc0_0001, &NanPattern::CanonicalNan));
        assert!(!f32_matches(0x7fa0_0000, &NanPattern::CanonicalNan));
        // Arithmetic: quiet bit and any payload.
        assert!(f32_matches(0x7fc0_0001, &NanPattern::ArithmeticNan));
        assert!(f32_matches(0xffe0_0000, &NanPattern::ArithmeticNan));
        assert!(!f32_matches(0x7fa0_0000, &NanPattern::ArithmeticNan)); // signalling
        assert!(!f32_matches(0x3f80_0000, &NanPattern::ArithmeticNan)); // 1.0
        assert!(f64_matches(0xfff8_0000_0000_0000, &NanPattern::CanonicalNan));
        assert!(!f64_matches(0x7ff8_0000_0000_0001, &NanPattern::CanonicalNan));
        assert!(f64_matches(0x7ff8_0000_0000_0001, &NanPattern::ArithmeticNan));
        assert!(!f64_matches(0x7ff0_0000_0000_0001, &NanPattern::ArithmeticNan));
        // Values compare bits: -0 is not +0.
        assert!(!f32_matches(0x8000_0000, &NanPattern::Value(F32 { bits: 0 })));
    }

    #[test]
    fn v128_lanes_are_little_endian() {
        let v = u128::from_le_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(v128_matches(v, &V128Pattern::I32x4([1, 2, 3, -1])));
        assert!(!v128_matches(v, &V128Pattern::I32x4([-1, 3, 2, 1])));
        assert!(v128_matches(v, &V128Pattern::I16x8([1, 0, 2, 0, 3, 0, -1, -1])));
        assert!(v128_matches(v, &V128Pattern::I64x2([0x2_0000_0001, -0xffff_fffd])));
    }

    #[test]
    fn trap_messages_match_by_substring_and_alias() {
        assert!(trap_message_matches(
            "unreachable",
            "wasm trap: wasm `unreachable` instruction executed"
        ));
        assert!(trap_message_matches(
            "undefined element",
            "wasm trap: undefined element: out of bounds table access"
        ));
        assert!(trap_message_matches(
            "uninitialized element 2",
            "wasm trap: uninitialized element"
        ));
        assert!(!trap_message_matches(
            "integer overflow",
            "wasm trap: integer divide by zero"
        ));
        assert!(!trap_message_matches(
            "out of bounds memory access",
            "wasm trap: out of bounds table access"
        ));
    }
}
