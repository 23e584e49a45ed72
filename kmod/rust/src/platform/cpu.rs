//! The CPU features native wasm code may use, read with CPUID (and XGETBV
//! for the AVX register state the kernel enabled).

use core::arch::x86_64::{__cpuid, __cpuid_count};
use kwasm_engine::CpuFeatures;

fn bit(reg: u32, n: u32) -> bool {
    reg & (1 << n) != 0
}

/// XCR0: which register states the kernel enabled for XSAVE.
fn xcr0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV(0) is valid when CPUID reports OSXSAVE (checked by
    // the caller); it only reads XCR0.
    unsafe { core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (hi as u64) << 32 | lo as u64
}

/// The features of the CPU the module runs on.
pub fn features() -> CpuFeatures {
    let c1 = __cpuid(1).ecx;
    let b7 = if __cpuid(0).eax >= 7 {
        __cpuid_count(7, 0).ebx
    } else {
        0
    };
    let ext = __cpuid(0x8000_0001);
    // AVX state (XMM and YMM) must be enabled by the kernel, not only
    // present in the CPU.
    let avx_state = bit(c1, 27) && xcr0() & 0b110 == 0b110;
    let avx = bit(c1, 28) && avx_state;
    let mut f = CpuFeatures::NONE;
    let mut add = |yes: bool, feature: CpuFeatures| {
        if yes {
            f = f.with(feature);
        }
    };
    add(bit(c1, 0), CpuFeatures::SSE3);
    add(bit(c1, 9), CpuFeatures::SSSE3);
    add(bit(c1, 19), CpuFeatures::SSE41);
    add(bit(c1, 20), CpuFeatures::SSE42);
    add(bit(c1, 23), CpuFeatures::POPCNT);
    add(bit(c1, 13), CpuFeatures::CMPXCHG16B);
    add(avx, CpuFeatures::AVX);
    add(avx && bit(c1, 12), CpuFeatures::FMA);
    add(avx && bit(b7, 5), CpuFeatures::AVX2);
    add(bit(b7, 3), CpuFeatures::BMI1);
    add(bit(b7, 8), CpuFeatures::BMI2);
    add(bit(ext.ecx, 5), CpuFeatures::LZCNT);
    f
}

/// Wasmtime's question "does this CPU have feature X?", asked with the
/// name `is_x86_feature_detected!` uses ("sse4.1" for `has_sse41`).
pub fn detect(name: &str) -> Option<bool> {
    CpuFeatures::by_detect_name(name).map(|f| features().bits() & f.bit != 0)
}
