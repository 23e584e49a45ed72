//! x86-64 CPU features that native code may use, as one bit set shared by
//! the compiler (which enables them), the ABI (which carries them) and the
//! module (which checks the CPU has them before loading code).

use alloc::string::String;

/// One feature: its bit, Cranelift's flag, the name Rust's
/// `is_x86_feature_detected!` (and Wasmtime's host check) uses, and its
/// common name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuFeature {
    pub bit: u64,
    pub cranelift_flag: &'static str,
    pub detect_name: &'static str,
    pub name: &'static str,
}

/// A set of [`CpuFeature`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuFeatures(u64);

macro_rules! features {
    ($($konst:ident = $bit:literal, $flag:literal, $detect:literal, $name:literal;)*) => {
        impl CpuFeatures {
            $(pub const $konst: CpuFeatures = CpuFeatures(1 << $bit);)*
        }
        /// Every feature kwasm knows, in bit order.
        pub const CPU_FEATURES: &[CpuFeature] = &[
            $(CpuFeature { bit: 1 << $bit, cranelift_flag: $flag, detect_name: $detect, name: $name },)*
        ];
    };
}

features! {
    SSE3 = 0, "has_sse3", "sse3", "SSE3";
    SSSE3 = 1, "has_ssse3", "ssse3", "SSSE3";
    SSE41 = 2, "has_sse41", "sse4.1", "SSE4.1";
    SSE42 = 3, "has_sse42", "sse4.2", "SSE4.2";
    POPCNT = 4, "has_popcnt", "popcnt", "POPCNT";
    AVX = 5, "has_avx", "avx", "AVX";
    AVX2 = 6, "has_avx2", "avx2", "AVX2";
    FMA = 7, "has_fma", "fma", "FMA";
    BMI1 = 8, "has_bmi1", "bmi1", "BMI1";
    BMI2 = 9, "has_bmi2", "bmi2", "BMI2";
    LZCNT = 10, "has_lzcnt", "lzcnt", "LZCNT";
    CMPXCHG16B = 11, "has_cmpxchg16b", "cmpxchg16b", "CMPXCHG16B";
}

/// Native code needs at least these: with SSE4.1 Cranelift lowers every
/// float operation (rounding included) inline, never to a libcall the
/// module could not provide.
pub const REQUIRED_CPU_FEATURES: CpuFeatures =
    CpuFeatures(CpuFeatures::SSE3.0 | CpuFeatures::SSSE3.0 | CpuFeatures::SSE41.0);

impl CpuFeatures {
    pub const NONE: CpuFeatures = CpuFeatures(0);

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Only the bits kwasm knows; `None` if `bits` has others.
    pub fn from_bits(bits: u64) -> Option<CpuFeatures> {
        let known = CPU_FEATURES.iter().fold(0, |acc, f| acc | f.bit);
        (bits & !known == 0).then_some(CpuFeatures(bits))
    }

    pub const fn with(self, other: CpuFeatures) -> CpuFeatures {
        CpuFeatures(self.0 | other.0)
    }

    pub const fn contains(self, other: CpuFeatures) -> bool {
        self.0 & other.0 == other.0
    }

    /// The features in `self` that `available` lacks.
    pub const fn missing_from(self, available: CpuFeatures) -> CpuFeatures {
        CpuFeatures(self.0 & !available.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = &'static CpuFeature> {
        CPU_FEATURES.iter().filter(move |f| self.0 & f.bit != 0)
    }

    /// The feature Cranelift calls `flag`, if kwasm knows it.
    pub fn by_cranelift_flag(flag: &str) -> Option<&'static CpuFeature> {
        CPU_FEATURES.iter().find(|f| f.cranelift_flag == flag)
    }

    /// The feature `is_x86_feature_detected!` calls `name` (the name
    /// Wasmtime's `detect_host_feature` asks about), if kwasm knows it.
    pub fn by_detect_name(name: &str) -> Option<&'static CpuFeature> {
        CPU_FEATURES.iter().find(|f| f.detect_name == name)
    }

    /// "SSE3 SSSE3 SSE4.1" — for messages.
    pub fn names(self) -> String {
        let mut s = String::new();
        for f in self.iter() {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(f.name);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_distinct_and_known() {
        let all = CPU_FEATURES.iter().fold(0u64, |acc, f| {
            assert_eq!(acc & f.bit, 0, "{} reuses a bit", f.name);
            acc | f.bit
        });
        assert_eq!(CpuFeatures::from_bits(all).map(|f| f.bits()), Some(all));
        assert_eq!(CpuFeatures::from_bits(1 << 63), None);
    }

    #[test]
    fn missing_features_are_named() {
        let image = REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2);
        let cpu = REQUIRED_CPU_FEATURES;
        assert_eq!(image.missing_from(cpu).names(), "AVX2");
        assert!(image.contains(cpu));
        assert!(!cpu.contains(image));
        assert_eq!(CpuFeatures::by_cranelift_flag("has_avx2").map(|f| f.name), Some("AVX2"));
        assert_eq!(CpuFeatures::by_detect_name("sse4.1").map(|f| f.name), Some("SSE4.1"));
    }
}
