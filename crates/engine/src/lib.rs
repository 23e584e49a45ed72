//! The one Wasmtime configuration of kwasm.
//!
//! `kwasm` precompiles a module in user space and `kwasm.ko` deserializes and
//! runs it; Wasmtime accepts the image only if both built the same `Config`.
//! This crate builds that `Config`, for both sides, from [`Settings`] — the
//! few choices a run can make — and names it with a [`Settings::fingerprint`]
//! the module checks before it touches an image.
//!
//! What is fixed for every kwasm engine, and why:
//! * native code's linear memories, by default, sit in a 4 GiB reservation
//!   followed by a 32 MiB guard region (Wasmtime's own defaults on 64-bit
//!   hosts): Cranelift emits no bounds checks, and an access outside the
//!   memory faults, which kwasm.ko turns into a wasm trap (signals-based
//!   traps: division by zero and `unreachable` fault too). [`Bounds::Explicit`]
//!   keeps the other way: explicit checks, no reservation, linear memory a
//!   plain kernel allocation. Pulley always checks explicitly;
//! * no copy-on-write memory images (nothing to map them from in ring 0);
//! * epoch interruption: the module's timer bumps the epoch so long-running
//!   code yields (rescheduling, signals, timeouts);
//! * the wasm proposals both sides support, spelled out, so a default that
//!   differs between a `std` and a `no_std` Wasmtime build cannot split them.
#![no_std]

extern crate alloc;

mod cpu;
pub mod image;
mod spectest;

use alloc::format;
use alloc::string::String;
use core::fmt;
pub use cpu::{CpuFeature, CpuFeatures, CPU_FEATURES, REQUIRED_CPU_FEATURES};
use kwasm_abi::run::{ENGINE_FLAGS_ALL, ENGINE_FLAG_EXPLICIT_BOUNDS, ENGINE_FLAG_FUEL};
use kwasm_abi::{EngineSpec, ENGINE_NATIVE, ENGINE_PULLEY};
pub use spectest::{define_spectest, SPECTEST_MEMORY};
use wasmtime::{Collector, Config, Result, WasmFeatures};

/// The Wasmtime release both sides are built with (pinned in Cargo.toml).
pub const WASMTIME_VERSION: &str = "50.0.1";

/// Bump whenever [`Settings::config`] changes in a way that changes
/// compiled code or what the runtime accepts. 2: externref (the GC heap);
/// 3: images are sealed ([`image::seal`]); 4: guard regions ([`Bounds`]).
const CONFIG_REVISION: u32 = 4;

/// A guarded linear memory's reservation: all of a 32-bit index space.
pub const GUARD_RESERVATION: u64 = 1 << 32;
/// The guard region after it: a static offset up to this needs no check.
pub const GUARD_SIZE: u64 = 32 << 20;

/// How native code keeps linear-memory accesses in bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bounds {
    /// A reservation and guard region catch every out-of-bounds access in
    /// hardware (a fault the module turns into a trap): no checks in code.
    Guard,
    /// A compare and branch before every access; no reservation.
    Explicit,
}

impl Bounds {
    pub const fn name(self) -> &'static str {
        match self {
            Bounds::Guard => "guard",
            Bounds::Explicit => "explicit",
        }
    }
}

/// Which engine runs the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// x86-64 machine code from Cranelift.
    Native,
    /// Pulley bytecode, interpreted: no executable memory.
    Pulley,
}

impl EngineKind {
    pub const fn abi(self) -> u32 {
        match self {
            EngineKind::Native => ENGINE_NATIVE,
            EngineKind::Pulley => ENGINE_PULLEY,
        }
    }

    pub const fn from_abi(v: u32) -> Option<EngineKind> {
        match v {
            ENGINE_NATIVE => Some(EngineKind::Native),
            ENGINE_PULLEY => Some(EngineKind::Pulley),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::Pulley => "pulley",
        }
    }

    /// The target triple Wasmtime compiles for.
    pub const fn target(self) -> &'static str {
        match self {
            EngineKind::Native => "x86_64-unknown-none",
            EngineKind::Pulley => "pulley64",
        }
    }
}

/// Everything about an engine that a run may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Settings {
    pub kind: EngineKind,
    /// Meter fuel (`--fuel`); costs speed, so only when asked for.
    pub fuel: bool,
    /// CPU features native code may use; empty for Pulley.
    pub cpu: CpuFeatures,
    /// Guard regions or explicit checks; always explicit for Pulley.
    pub bounds: Bounds,
}

impl Settings {
    pub fn pulley(fuel: bool) -> Settings {
        Settings {
            kind: EngineKind::Pulley,
            fuel,
            cpu: CpuFeatures::NONE,
            bounds: Bounds::Explicit,
        }
    }

    /// Native code with guard regions (the default).
    pub fn native(fuel: bool, cpu: CpuFeatures) -> Settings {
        Settings {
            kind: EngineKind::Native,
            fuel,
            cpu,
            bounds: Bounds::Guard,
        }
    }

    /// These settings with explicit bounds checks (Pulley has them anyway).
    pub fn with_explicit_bounds(self) -> Settings {
        Settings {
            bounds: Bounds::Explicit,
            ..self
        }
    }

    /// A readable name of this engine, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("wasmtime {WASMTIME_VERSION} {}", self.kind.name());
        if self.fuel {
            s.push_str(" +fuel");
        }
        if self.kind == EngineKind::Native {
            if self.bounds == Bounds::Explicit {
                s.push_str(" +explicit-bounds");
            }
            s.push_str(" [");
            s.push_str(&self.cpu.names());
            s.push(']');
        }
        s
    }

    /// Names this exact configuration: equal fingerprints mean the image
    /// and the runtime agree. FNV-1a over a canonical description (stable
    /// across builds and machines, unlike `core::hash`).
    pub fn fingerprint(&self) -> u64 {
        let text = format!(
            "kwasm-engine/{CONFIG_REVISION}/wasmtime-{WASMTIME_VERSION}/{}/fuel={}/cpu={:#x}/bounds={}",
            self.kind.target(),
            self.fuel,
            self.cpu.bits(),
            self.bounds.name()
        );
        fnv1a(text.as_bytes())
    }

    /// What a request says about an image compiled with these settings:
    /// the inverse of [`Settings::accept`].
    pub fn spec(&self) -> EngineSpec {
        EngineSpec {
            engine: self.kind.abi(),
            flags: if self.fuel { ENGINE_FLAG_FUEL } else { 0 }
                | if self.kind == EngineKind::Native && self.bounds == Bounds::Explicit {
                    ENGINE_FLAG_EXPLICIT_BOUNDS
                } else {
                    0
                },
            fingerprint: self.fingerprint(),
            cpu_features: self.cpu.bits(),
        }
    }

    /// The settings and wasm proposals common to both sides.
    fn common(&self) -> Result<Config> {
        let mut config = Config::new();
        config.target(self.kind.target())?;
        match self.bounds {
            // The GC heap (externref) follows these settings.
            Bounds::Guard => config
                .signals_based_traps(true)
                .memory_reservation(GUARD_RESERVATION)
                .memory_guard_size(GUARD_SIZE)
                .guard_before_linear_memory(false)
                .memory_may_move(false),
            Bounds::Explicit => config
                .signals_based_traps(false)
                .memory_reservation(0)
                .memory_guard_size(0),
        };
        config
            .memory_reservation_for_growth(0)
            .memory_init_cow(false)
            .epoch_interruption(true)
            .consume_fuel(self.fuel)
            // Proposals: the setters that exist in every build of Wasmtime
            // first, then the raw flags for those whose setters only exist
            // with Cargo features one side lacks.
            .wasm_bulk_memory(true)
            .wasm_multi_value(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(false)
            .wasm_tail_call(true)
            .wasm_extended_const(true)
            .wasm_multi_memory(true)
            .wasm_memory64(false)
            .wasm_gc(false)
            .wasm_stack_switching(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            .wasm_features(WasmFeatures::REFERENCE_TYPES, true)
            // externref: GC types without the GC proposal itself, on the
            // deferred reference-counting collector. Its heap follows the
            // memory settings above.
            .wasm_features(WasmFeatures::GC_TYPES, true)
            .wasm_features(WasmFeatures::FUNCTION_REFERENCES, false)
            .wasm_features(WasmFeatures::EXCEPTIONS, false)
            .wasm_features(WasmFeatures::THREADS, false)
            .wasm_features(WasmFeatures::COMPONENT_MODEL, false);
        config.collector(Collector::DeferredReferenceCounting);
        // SAFETY: x86-64 native code always runs with SSE available (the
        // module enables the FPU around it), so Cranelift's float ABI is
        // sound even though the kernel crate itself is soft-float.
        unsafe {
            config.x86_float_abi_ok(true);
        }
        Ok(config)
    }

    /// The configuration `kwasm` compiles with.
    #[cfg(feature = "compiler")]
    pub fn compiler_config(&self) -> Result<Config> {
        let mut config = self.common()?;
        for feature in self.cpu.iter() {
            // SAFETY: the flags are Cranelift's own x86 settings; the module
            // checks the running CPU has each one before loading the code.
            unsafe {
                config.cranelift_flag_enable(feature.cranelift_flag);
            }
        }
        Ok(config)
    }

    /// The configuration `kwasm.ko` runs with. `detect` answers, for a
    /// Cranelift flag name, whether this CPU has the feature (Wasmtime asks
    /// for every flag the image was compiled with).
    pub fn runtime_config(&self, detect: fn(&str) -> Option<bool>) -> Result<Config> {
        let mut config = self.common()?;
        // SAFETY: `detect` reports the running CPU's features truthfully
        // (the caller's contract).
        unsafe {
            config.detect_host_feature(detect);
        }
        Ok(config)
    }
}

/// Why the module refuses the engine a request names (the image is never
/// touched then). Each says what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `EngineSpec::engine` is neither native nor Pulley.
    UnknownEngine(u32),
    /// `EngineSpec::flags` has bits this release does not define.
    UnknownFlags(u32),
    /// The image claims CPU features this release does not know.
    UnknownCpuFeatures(u64),
    /// A Pulley image that claims CPU features: no compiler makes one.
    PulleyWithCpuFeatures(CpuFeatures),
    /// Native code compiled without the features every float operation
    /// needs inline ([`REQUIRED_CPU_FEATURES`]).
    BelowBaseline(CpuFeatures),
    /// The image's fingerprint is not the one these settings have.
    Fingerprint { image: u64, ours: Settings },
    /// Native code that uses features this CPU lacks.
    CpuLacks(CpuFeatures),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownEngine(e) => write!(f, "unknown engine {e}"),
            Refusal::UnknownFlags(bits) => write!(f, "unknown engine flags {bits:#x}"),
            Refusal::UnknownCpuFeatures(bits) => write!(
                f,
                "the image uses CPU features this kwasm.ko does not know (bits {bits:#x}): use kwasm and kwasm.ko from the same release"
            ),
            Refusal::PulleyWithCpuFeatures(cpu) => write!(
                f,
                "a Pulley image that claims x86 CPU features ({}): not made by kwasm",
                cpu.names()
            ),
            Refusal::BelowBaseline(missing) => write!(
                f,
                "native code must be compiled with at least {} (it lacks {}): recompile it with kwasm",
                REQUIRED_CPU_FEATURES.names(),
                missing.names()
            ),
            Refusal::Fingerprint { image, ours } => write!(
                f,
                "the image was compiled for another engine (fingerprint {image:#018x}); this kwasm.ko runs {} as {:#018x}: use kwasm and kwasm.ko from the same release",
                ours.describe(),
                ours.fingerprint()
            ),
            Refusal::CpuLacks(missing) => write!(
                f,
                "the image was compiled for {}, which this CPU lacks: recompile it on this machine (kwasm run does) or use --engine pulley",
                missing.names()
            ),
        }
    }
}

impl Settings {
    /// The settings a request's [`EngineSpec`] names, if a module running on
    /// a CPU with `available` features can run its images: a known engine
    /// and known features, a fingerprint that matches them, and for native
    /// code the baseline features and nothing this CPU lacks. The module
    /// asks this before it reads an image.
    pub fn accept(spec: &EngineSpec, available: CpuFeatures) -> Result<Settings, Refusal> {
        let kind = EngineKind::from_abi(spec.engine).ok_or(Refusal::UnknownEngine(spec.engine))?;
        if spec.flags & !ENGINE_FLAGS_ALL != 0 {
            return Err(Refusal::UnknownFlags(spec.flags & !ENGINE_FLAGS_ALL));
        }
        let cpu = CpuFeatures::from_bits(spec.cpu_features).ok_or(Refusal::UnknownCpuFeatures(spec.cpu_features))?;
        if kind == EngineKind::Pulley && !cpu.is_empty() {
            return Err(Refusal::PulleyWithCpuFeatures(cpu));
        }
        let explicit = spec.flags & ENGINE_FLAG_EXPLICIT_BOUNDS != 0;
        if kind == EngineKind::Pulley && explicit {
            return Err(Refusal::UnknownFlags(ENGINE_FLAG_EXPLICIT_BOUNDS));
        }
        let settings = Settings {
            kind,
            fuel: spec.flags & ENGINE_FLAG_FUEL != 0,
            cpu,
            bounds: if kind == EngineKind::Pulley || explicit {
                Bounds::Explicit
            } else {
                Bounds::Guard
            },
        };
        if settings.fingerprint() != spec.fingerprint {
            return Err(Refusal::Fingerprint {
                image: spec.fingerprint,
                ours: settings,
            });
        }
        if kind == EngineKind::Native {
            let below = REQUIRED_CPU_FEATURES.missing_from(cpu);
            if !below.is_empty() {
                return Err(Refusal::BelowBaseline(below));
            }
            let missing = cpu.missing_from(available);
            if !missing.is_empty() {
                return Err(Refusal::CpuLacks(missing));
            }
        }
        Ok(settings)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_settings_apart() {
        let base = Settings::native(false, REQUIRED_CPU_FEATURES);
        let fuel = Settings::native(true, REQUIRED_CPU_FEATURES);
        let avx2 = Settings::native(false, REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2));
        let pulley = Settings::pulley(false);
        let explicit = base.with_explicit_bounds();
        let all = [base, fuel, avx2, pulley, Settings::pulley(true), explicit];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a.fingerprint(), a.fingerprint());
            for b in &all[i + 1..] {
                assert_ne!(a.fingerprint(), b.fingerprint(), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn fingerprint_is_stable_across_builds() {
        // FNV-1a of the empty string and of a known text: the algorithm is
        // part of the contract between user space and the module.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn describe_names_engine_and_features() {
        let d = Settings::native(true, REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2)).describe();
        assert!(d.contains("native") && d.contains("+fuel") && d.contains("AVX2"), "{d}");
        assert_eq!(Settings::pulley(false).describe(), "wasmtime 50.0.1 pulley");
    }

    #[test]
    fn engine_kinds_round_trip_through_the_abi() {
        for kind in [EngineKind::Native, EngineKind::Pulley] {
            assert_eq!(EngineKind::from_abi(kind.abi()), Some(kind));
        }
        assert_eq!(EngineKind::from_abi(0), None);
    }

    #[test]
    fn accept_takes_what_kwasm_compiles() {
        let cpu = REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2);
        for s in [
            Settings::pulley(false),
            Settings::pulley(true),
            Settings::native(true, REQUIRED_CPU_FEATURES),
            Settings::native(false, cpu),
            Settings::native(false, cpu).with_explicit_bounds(),
        ] {
            assert_eq!(Settings::accept(&s.spec(), cpu), Ok(s));
        }
    }

    #[test]
    fn accept_refuses_each_mismatch() {
        let base = Settings::native(false, REQUIRED_CPU_FEATURES);
        let avx2 = Settings::native(false, REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2));
        let bare = Settings::native(false, CpuFeatures::SSE3);
        let pulley_cpu = Settings {
            cpu: CpuFeatures::SSE3,
            ..Settings::pulley(false)
        };
        let mut flipped = base.spec();
        flipped.fingerprint ^= 1;
        let mut unknown_bits = base.spec();
        unknown_bits.cpu_features |= 1 << 40;
        let mut fuel_flag = base.spec();
        fuel_flag.flags = ENGINE_FLAG_FUEL;
        let mut unknown_flag = base.spec();
        unknown_flag.flags = 1 << 9;
        let mut pulley_explicit = Settings::pulley(false).spec();
        pulley_explicit.flags = ENGINE_FLAG_EXPLICIT_BOUNDS;
        let mut guard_flagged_explicit = base.spec();
        guard_flagged_explicit.flags = ENGINE_FLAG_EXPLICIT_BOUNDS;
        let have = REQUIRED_CPU_FEATURES;
        let refusals = [
            (EngineSpec::default(), Refusal::UnknownEngine(0)),
            (unknown_flag, Refusal::UnknownFlags(1 << 9)),
            (pulley_explicit, Refusal::UnknownFlags(ENGINE_FLAG_EXPLICIT_BOUNDS)),
            (unknown_bits, Refusal::UnknownCpuFeatures(unknown_bits.cpu_features)),
            (pulley_cpu.spec(), Refusal::PulleyWithCpuFeatures(CpuFeatures::SSE3)),
            (
                bare.spec(),
                Refusal::BelowBaseline(CpuFeatures::SSSE3.with(CpuFeatures::SSE41)),
            ),
            (
                flipped,
                Refusal::Fingerprint {
                    image: flipped.fingerprint,
                    ours: base,
                },
            ),
            (
                fuel_flag,
                Refusal::Fingerprint {
                    image: base.fingerprint(),
                    ours: Settings::native(true, REQUIRED_CPU_FEATURES),
                },
            ),
            (
                guard_flagged_explicit,
                Refusal::Fingerprint {
                    image: base.fingerprint(),
                    ours: base.with_explicit_bounds(),
                },
            ),
            (avx2.spec(), Refusal::CpuLacks(CpuFeatures::AVX2)),
        ];
        for (spec, want) in refusals {
            let got = Settings::accept(&spec, have);
            assert_eq!(got, Err(want), "{spec:?}");
            assert!(!alloc::format!("{want}").is_empty());
        }
        let text = alloc::format!("{}", Refusal::CpuLacks(CpuFeatures::AVX2));
        assert!(text.contains("AVX2") && text.contains("--engine pulley"), "{text}");
    }

    #[test]
    fn both_sides_build_a_config() {
        Settings::pulley(false).runtime_config(|_| None).unwrap();
        Settings::native(false, REQUIRED_CPU_FEATURES)
            .runtime_config(|_| Some(true))
            .unwrap();
        Settings::native(false, REQUIRED_CPU_FEATURES)
            .with_explicit_bounds()
            .runtime_config(|_| Some(true))
            .unwrap();
    }
}
