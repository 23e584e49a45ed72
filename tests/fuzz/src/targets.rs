//! The fuzz targets. Each builds one input from the generator (random
//! bytes, or a valid input with a few fields set to values that break
//! checks), runs the code the module runs on it, and asserts that code's
//! promises against an independent statement of the documented limits.

use crate::{mutate, Rng, Target};
use kwasm_abi::ioctl::{self, Command};
use kwasm_abi::run::{
    ENGINE_FLAGS_ALL, MAX_IMAGE_LEN, MAX_NAME_LEN, MAX_PREOPENS, MAX_STRINGS_COUNT, MAX_STRINGS_LEN, MAX_VALUES, VALUE_SIZE,
};
use kwasm_abi::session::SESSION_OPTIONS_ALL;
use kwasm_abi::{
    EngineSpec, Error, InstanceRequest, InstantiateRequest, RequestHeader, RunRequest, SessionRequest, UserBuf,
    WasiArgs, ABI_VERSION, ENGINE_NATIVE, ENGINE_PULLEY, MAX_REQUEST_SIZE,
};
use kwasm_engine::{CpuFeatures, EngineKind, Refusal, Settings, CPU_FEATURES, REQUIRED_CPU_FEATURES};
use kwasm_wasi::StringList;
use std::mem::size_of;

/// Every target, by name.
pub const ALL: &[(&str, Target)] = &[
    ("header", header),
    ("run-request", run_request),
    ("session-request", session_request),
    ("instantiate-request", instantiate_request),
    ("instance-request", instance_request),
    ("command-decode", command_decode),
    ("string-list", string_list),
    ("engine-accept", engine_accept),
    ("image-load", crate::targets::image_load),
];

/// A value of a request type made of random bytes (the module sees
/// exactly this: `copy_from_user` of whatever the caller had).
fn random_plain<T: Copy + Default>(rng: &mut Rng) -> T {
    let mut bytes = vec![0u8; size_of::<T>()];
    rng.fill(&mut bytes);
    // SAFETY: the request types are #[repr(C)] structs of integers with no
    // padding (kwasm-abi pins every layout), so any bytes are a valid value.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const T) }
}

fn header_for<T>(rng: &mut Rng) -> RequestHeader {
    let mut h = RequestHeader::for_request::<T>();
    if rng.one_in(4) {
        h.size = rng.interesting_u32(&[size_of::<T>() as u64, MAX_REQUEST_SIZE as u64, 8]);
    }
    if rng.one_in(8) {
        h.abi_version = rng.interesting_u32(&[ABI_VERSION as u64]);
    }
    h
}

fn buf(rng: &mut Rng, limits: &[u64]) -> UserBuf {
    UserBuf {
        ptr: rng.interesting_u64(&[0x1000, 0x7fff_ffff_f000, 0xffff_8000_0000_0000]),
        len: if rng.one_in(3) {
            rng.below(256)
        } else {
            rng.interesting_u64(limits)
        },
    }
}

fn engine_spec(rng: &mut Rng) -> EngineSpec {
    if rng.one_in(3) {
        return random_plain(rng);
    }
    let settings = random_settings(rng);
    let mut spec = settings.spec();
    match rng.below(6) {
        0 => spec.engine = rng.interesting_u32(&[1, 2]),
        1 => spec.flags = rng.interesting_u32(&[ENGINE_FLAGS_ALL as u64]),
        2 => spec.fingerprint ^= 1 << rng.below(64),
        3 => spec.cpu_features ^= 1 << rng.below(64),
        _ => {}
    }
    spec
}

fn wasi_args(rng: &mut Rng) -> WasiArgs {
    let limits = [MAX_STRINGS_LEN, MAX_STRINGS_COUNT as u64];
    // Half the time no preopens, so the other fields' checks get reached.
    let preopens = if rng.one_in(2) { 0 } else { rng.interesting_u32(&[MAX_PREOPENS as u64, 1]) };
    let listeners = if rng.one_in(2) { 0 } else { rng.interesting_u32(&[MAX_PREOPENS as u64, 1]) };
    WasiArgs {
        args: buf(rng, &limits),
        env: buf(rng, &limits),
        args_count: rng.interesting_u32(&limits),
        env_count: rng.interesting_u32(&limits),
        preopen_fds: if rng.one_in(4) {
            buf(rng, &[MAX_PREOPENS as u64 * 4, 4])
        } else {
            UserBuf { ptr: 0x1000, len: u64::from(preopens) * 4 }
        },
        preopen_names: if preopens == 0 { UserBuf::NONE } else { buf(rng, &limits) },
        preopen_count: preopens,
        stdio_terminals: if rng.one_in(8) { rng.next_u32() } else { rng.next_u32() & 0b111 },
        listen_fds: if rng.one_in(4) {
            buf(rng, &[MAX_PREOPENS as u64 * 4, 4])
        } else {
            UserBuf { ptr: 0x1000, len: u64::from(listeners) * 4 }
        },
        listen_count: listeners,
        reserved: u32::from(rng.one_in(8)),
    }
}

/// What [`WasiArgs::check`] promises, stated independently.
fn wasi_ok(w: &WasiArgs) -> bool {
    w.args.len >= w.args_count as u64
        && w.env.len >= w.env_count as u64
        && w.args.len <= MAX_STRINGS_LEN
        && w.env.len <= MAX_STRINGS_LEN
        && w.args_count <= MAX_STRINGS_COUNT
        && w.env_count <= MAX_STRINGS_COUNT
        && w.preopen_fds.len == u64::from(w.preopen_count) * 4
        && w.preopen_names.len >= u64::from(w.preopen_count)
        && w.preopen_names.len <= MAX_STRINGS_LEN
        && w.preopen_count <= MAX_PREOPENS
        && w.stdio_terminals & !0b111 == 0
        && w.listen_fds.len == u64::from(w.listen_count) * 4
        && w.listen_count <= MAX_PREOPENS
        && w.reserved == 0
}

fn engine_ok(e: &EngineSpec) -> bool {
    (e.engine == ENGINE_NATIVE || e.engine == ENGINE_PULLEY) && e.flags & !ENGINE_FLAGS_ALL == 0
}

fn image_ok(b: &UserBuf) -> bool {
    b.len != 0 && b.len <= MAX_IMAGE_LEN
}

/// An errno a refusal of a well-sized request may carry: never a pointer,
/// session or permission error, which checks without memory cannot know.
fn assert_check_error(what: &str, e: Error) {
    assert!(
        matches!(e, Error::Unsupported | Error::Malformed | Error::Oversized),
        "{what}: check() answered {e:?}, which no field check may"
    );
}

fn header(rng: &mut Rng) {
    let h: RequestHeader = if rng.one_in(2) {
        random_plain(rng)
    } else {
        header_for::<RunRequest>(rng)
    };
    let need = *rng.pick(&[0usize, 8, 48, 64, 104, 136, 144, 4096, 4097]);
    let size = h.check_size(need);
    let fits = h.size as usize >= need && h.size <= MAX_REQUEST_SIZE;
    assert_eq!(size.is_ok(), fits, "{h:?} need {need}: {size:?}");
    if let Err(e) = size {
        let want = if (h.size as usize) < need {
            Error::Truncated
        } else {
            Error::Oversized
        };
        assert_eq!(e, want, "{h:?} need {need}");
    }
    assert_eq!(h.check_version().is_ok(), h.abi_version == ABI_VERSION, "{h:?}");
}

fn run_request(rng: &mut Rng) {
    let r: RunRequest = if rng.one_in(4) {
        random_plain(rng)
    } else {
        let mut r = RunRequest::new();
        r.header = header_for::<RunRequest>(rng);
        r.engine = engine_spec(rng);
        r.image = buf(rng, &[MAX_IMAGE_LEN]);
        r.wasi = wasi_args(rng);
        r
    };
    let got = r.check();
    let ok = engine_ok(&r.engine) && image_ok(&r.image) && wasi_ok(&r.wasi);
    assert_eq!(got.is_ok(), ok, "{r:?}: {got:?}");
    if let Err(e) = got {
        assert_check_error("RunRequest", e);
    }
}

fn session_request(rng: &mut Rng) {
    let r: SessionRequest = if rng.one_in(4) {
        random_plain(rng)
    } else {
        let mut r = SessionRequest::new();
        r.header = header_for::<SessionRequest>(rng);
        r.engine = engine_spec(rng);
        r.wasi = wasi_args(rng);
        if rng.one_in(4) {
            r.options = rng.interesting_u32(&[SESSION_OPTIONS_ALL as u64]);
        }
        if rng.one_in(8) {
            r.reserved = rng.next_u32();
        }
        r
    };
    let got = r.check();
    let ok = engine_ok(&r.engine) && r.options & !SESSION_OPTIONS_ALL == 0 && r.reserved == 0 && wasi_ok(&r.wasi);
    assert_eq!(got.is_ok(), ok, "{r:?}: {got:?}");
    if let Err(e) = got {
        assert_check_error("SessionRequest", e);
    }
}

fn instantiate_request(rng: &mut Rng) {
    let r: InstantiateRequest = if rng.one_in(4) {
        random_plain(rng)
    } else {
        let mut r = InstantiateRequest::new();
        r.image = buf(rng, &[MAX_IMAGE_LEN]);
        if rng.one_in(8) {
            r.reserved = rng.next_u32();
        }
        r
    };
    let got = r.check();
    assert_eq!(got.is_ok(), r.reserved == 0 && image_ok(&r.image), "{r:?}: {got:?}");
    if let Err(e) = got {
        assert_check_error("InstantiateRequest", e);
    }
}

fn instance_request(rng: &mut Rng) {
    let r: InstanceRequest = if rng.one_in(4) {
        random_plain(rng)
    } else {
        let mut r = InstanceRequest::new(rng.interesting_u32(&[1, 10_000]));
        r.name = buf(rng, &[MAX_NAME_LEN]);
        let values = [VALUE_SIZE, MAX_VALUES * VALUE_SIZE, u64::MAX / VALUE_SIZE * VALUE_SIZE];
        r.params = buf(rng, &values);
        r.results = buf(rng, &values);
        if rng.one_in(8) {
            r.reserved = rng.next_u32();
        }
        if rng.one_in(8) {
            r.reserved2 = rng.next_u32();
        }
        r
    };
    let got = r.check();
    let ok = r.reserved == 0
        && r.reserved2 == 0
        && r.params.len.is_multiple_of(VALUE_SIZE)
        && r.results.len.is_multiple_of(VALUE_SIZE)
        && r.name.len <= MAX_NAME_LEN
        && r.params.len <= MAX_VALUES * VALUE_SIZE;
    assert_eq!(got.is_ok(), ok, "{r:?}: {got:?}");
    if let Err(e) = got {
        assert_check_error("InstanceRequest", e);
    }
    if got.is_ok() {
        // What the module then allocates from these lengths is bounded.
        assert!(r.params.len / VALUE_SIZE <= MAX_VALUES);
    }
}

const COMMANDS: [(u32, Command); 9] = [
    (ioctl::VERSION, Command::Version),
    (ioctl::RUN, Command::Run),
    (ioctl::LIST, Command::List),
    (ioctl::SESSION, Command::Session),
    (ioctl::INSTANTIATE, Command::Instantiate),
    (ioctl::CALL, Command::Call),
    (ioctl::GET, Command::Get),
    (ioctl::REGISTER, Command::Register),
    (ioctl::DESTROY, Command::Destroy),
];

fn command_decode(rng: &mut Rng) {
    let (known, command) = *rng.pick(&COMMANDS);
    // The encoding round-trips through its fields.
    assert_eq!(
        ioctl::ioc(
            ioctl::dir(known),
            ioctl::ty(known),
            ioctl::nr(known),
            ioctl::size(known)
        ),
        known
    );
    assert_eq!(Command::decode(known), Some(command));
    let cmd = match rng.below(3) {
        0 => rng.next_u32(),
        1 => known ^ (1 << rng.below(32)),
        _ => ioctl::ioc(
            rng.below(4) as u32,
            *rng.pick(&[ioctl::MAGIC, ioctl::MAGIC ^ 1, b'T', 0]),
            rng.below(16) as u8,
            rng.index(1 << 14),
        ),
    };
    let got = Command::decode(cmd);
    let ours = ioctl::ty(cmd) == ioctl::MAGIC && ioctl::dir(cmd) == ioctl::DIR_READ | ioctl::DIR_WRITE;
    let by_nr = COMMANDS
        .iter()
        .find(|(n, _)| ioctl::nr(*n) == ioctl::nr(cmd))
        .map(|c| c.1);
    assert_eq!(got, if ours { by_nr } else { None }, "command {cmd:#x}");
    // The size field never changes what a command means.
    if let Some(c) = got {
        let resized = ioctl::ioc(ioctl::dir(cmd), ioctl::ty(cmd), ioctl::nr(cmd), rng.index(1 << 14));
        assert_eq!(Command::decode(resized), Some(c));
    }
}

fn string_list(rng: &mut Rng) {
    let len = match rng.below(4) {
        0 => 0,
        1 => rng.index(8),
        2 => rng.index(64),
        _ => rng.index(4096),
    };
    let mut bytes = vec![0u8; len];
    let nul_one_in = 1 + rng.below(16);
    for b in bytes.iter_mut() {
        *b = if rng.one_in(nul_one_in) {
            0
        } else {
            1 + rng.below(255) as u8
        };
    }
    let nuls = bytes.iter().filter(|&&b| b == 0).count() as u64;
    let count = match rng.below(4) {
        0 => nuls as u32,
        1 => (nuls as u32).wrapping_add(rng.below(3) as u32).wrapping_sub(1),
        2 => rng.interesting_u32(&[MAX_STRINGS_COUNT as u64, nuls]),
        _ => rng.next_u32() >> rng.below(32),
    };
    let well_formed = bytes.last().is_none_or(|&b| b == 0) && nuls == count as u64;
    let list = StringList::from_packed(bytes.clone(), count);
    assert_eq!(list.is_some(), well_formed, "{len} bytes, {nuls} NULs, count {count}");
    let Some(list) = list else { return };
    assert_eq!(list.len(), count as usize);
    let mut joined = Vec::new();
    for i in 0..list.len() {
        let s = list.get(i).expect("an accepted list has every string");
        assert!(!s.contains(&0));
        joined.extend_from_slice(s);
        joined.push(0);
    }
    assert_eq!(joined, bytes, "the strings are exactly the buffer");
    assert!(list.get(list.len()).is_none());
    assert!(list.get(usize::MAX).is_none());
}

/// Every engine kwasm can compile for: both kinds, with and without
/// fuel, and for native any set of known features above the baseline, with
/// guard regions or explicit bounds checks.
fn random_settings(rng: &mut Rng) -> Settings {
    let fuel = rng.one_in(2);
    if rng.one_in(3) {
        return Settings::pulley(fuel);
    }
    let mut cpu = REQUIRED_CPU_FEATURES;
    for f in CPU_FEATURES {
        if rng.one_in(2) {
            cpu = cpu.with(CpuFeatures::from_bits(f.bit).unwrap());
        }
    }
    let native = Settings::native(fuel, cpu);
    if rng.one_in(2) {
        native.with_explicit_bounds()
    } else {
        native
    }
}

fn random_cpu(rng: &mut Rng) -> CpuFeatures {
    let known = CPU_FEATURES.iter().fold(0, |acc, f| acc | f.bit);
    CpuFeatures::from_bits(rng.next_u64() & known).unwrap()
}

fn engine_accept(rng: &mut Rng) {
    let available = random_cpu(rng);
    // A spec kwasm made for a CPU that has everything it uses is taken.
    let made = random_settings(rng);
    let got = Settings::accept(&made.spec(), available.with(made.cpu));
    assert_eq!(got, Ok(made));
    // Any spec: what is accepted is consistent and runnable here.
    let spec = engine_spec(rng);
    match Settings::accept(&spec, available) {
        Ok(s) => {
            assert!(engine_ok(&spec), "accepted an engine check() refuses: {spec:?}");
            assert_eq!(s.fingerprint(), spec.fingerprint, "{spec:?}");
            assert_eq!(s.kind.abi(), spec.engine);
            assert_eq!(s.cpu.bits(), spec.cpu_features);
            match s.kind {
                EngineKind::Pulley => assert!(s.cpu.is_empty(), "{spec:?}"),
                EngineKind::Native => {
                    assert!(s.cpu.contains(REQUIRED_CPU_FEATURES), "{spec:?}");
                    assert!(available.contains(s.cpu), "{spec:?} on {available:?}");
                }
            }
        }
        Err(why) => {
            assert!(!format!("{why}").is_empty());
            if let Refusal::Fingerprint { ours, .. } = why {
                assert_ne!(ours.fingerprint(), spec.fingerprint);
            }
        }
    }
    // Two different engines never share a fingerprint.
    let other = random_settings(rng);
    if other != made {
        assert_ne!(other.fingerprint(), made.fingerprint(), "{other:?} vs {made:?}");
    }
}

/// A damaged image, loaded as the module loads it: the seal first
/// (kwasm_engine::image), then — only for what passes — Wasmtime's
/// deserialization with kwasm's runtime configuration (Pulley, which the
/// host runs) and instantiation. What passes the seal must be exactly the
/// image kwasm compiled. (Before the seal, iteration 18 of the CI seed
/// made Wasmtime give the module a start function and run garbage: a
/// segfault here, an oops in the kernel.)
pub fn image_load(rng: &mut Rng) {
    images::load_mutated(rng);
}

mod images {
    use super::*;
    use kwasm_engine::image::{seal, unseal, ImageError};
    use std::sync::OnceLock;
    use wasmtime::{Engine, Linker, Module, Store};

    const WAT: &str = r#"(module
        (memory (export "memory") 1 2)
        (table 4 funcref)
        (global $g (mut i32) (i32.const 7))
        (data (i32.const 16) "kwasm fuzz data")
        (elem (i32.const 0) $a $b)
        (func $a (export "a") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
        (func $b (export "b") (result i64) i64.const -1)
        (func (export "c") (param f64) (result f64) local.get 0 f64.sqrt))"#;

    struct Fixture {
        sealed: Vec<u8>,
        engine: Engine,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let settings = Settings::pulley(false);
            let compiler = Engine::new(&settings.compiler_config().unwrap()).unwrap();
            let image = compiler.precompile_module(&wat::parse_str(WAT).unwrap()).unwrap();
            let engine = Engine::new(&settings.runtime_config(|_| None).unwrap()).unwrap();
            Fixture {
                sealed: seal(image),
                engine,
            }
        })
    }

    pub fn load_mutated(rng: &mut Rng) {
        let f = fixture();
        let mut image = f.sealed.clone();
        let rounds = 1 + rng.below(4);
        for _ in 0..rounds {
            // Half the mutations aim at the ELF header, where Wasmtime's
            // own checks are, the rest anywhere (the seal at the end too).
            mutate(rng, &mut image, Some(256));
        }
        let body = match unseal(&image) {
            Err(ImageError::Unsealed | ImageError::Corrupt) => {
                assert_ne!(image, f.sealed, "the intact image was refused");
                return;
            }
            Ok(body) => body,
        };
        assert_eq!(image, f.sealed, "a damaged image passed the seal");
        // SAFETY: the seal shows this is the image just compiled with the
        // same settings.
        let module = unsafe { Module::deserialize(&f.engine, body) }.expect("the intact image loads");
        let mut store = Store::new(&f.engine, ());
        store.set_epoch_deadline(1);
        let instance = Linker::new(&f.engine).instantiate(&mut store, &module).unwrap();
        let a = instance.get_typed_func::<i32, i32>(&mut store, "a").unwrap();
        assert_eq!(a.call(&mut store, 41).unwrap(), 42);
    }
}
