//! Float conversions with the hardware's NaN rules.
//!
//! The module is built soft-float (the kernel's own rule), so Pulley's
//! float instructions run as compiler-builtins' software routines. Those
//! follow IEEE 754's "preserve signalling NaN" reading for `f32 → f64`,
//! while every x86 CPU (and the WebAssembly spec: `f64.promote_f32` of a
//! NaN gives an arithmetic, i.e. quiet, NaN) sets the quiet bit. The spec
//! testsuite's conversions.wast caught the difference. compiler-builtins
//! defines its routines weak so they can be replaced: this strong
//! definition replaces the one that differs. (Narrowing, `__truncdfsf2`,
//! already quiets NaNs.)

/// `f32 → f64`, exact; a NaN keeps its sign and payload and becomes quiet.
#[no_mangle]
pub extern "C" fn __extendsfdf2(a: f32) -> f64 {
    f64::from_bits(extend(a.to_bits()))
}

const F64_QUIET: u64 = 1 << 51;

fn extend(bits: u32) -> u64 {
    let sign = ((bits >> 31) as u64) << 63;
    let exponent = (bits >> 23) & 0xff;
    let fraction = (bits & 0x7f_ffff) as u64;
    match exponent {
        // Infinity, or NaN: made quiet as the CPU does.
        0xff => {
            let quiet = if fraction != 0 { F64_QUIET } else { 0 };
            sign | 0x7ff0_0000_0000_0000 | quiet | (fraction << 29)
        }
        0 if fraction == 0 => sign,
        // Subnormal f32: normal in f64. The highest set bit `top` becomes
        // the implicit one; the value is 1.f × 2^(top - 149).
        0 => {
            let top = 63 - fraction.leading_zeros() as u64;
            let exponent = top + 1023 - 149;
            let fraction = (fraction << (52 - top)) & ((1 << 52) - 1);
            sign | (exponent << 52) | fraction
        }
        _ => sign | ((exponent as u64 + 1023 - 127) << 52) | (fraction << 29),
    }
}
