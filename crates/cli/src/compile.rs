//! Turning a `.wasm` (or `.wat`) into an image kwasm.ko loads: choosing the
//! engine settings, precompiling with Wasmtime + Cranelift, and caching the
//! result by content hash and engine fingerprint.

use anyhow::{bail, Context, Result};
use kwasm_engine::{CpuFeatures, EngineKind, Settings, CPU_FEATURES, REQUIRED_CPU_FEATURES};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The engine `kwasm run` uses without `--engine`.
pub const DEFAULT_ENGINE: EngineKind = EngineKind::Native;

/// The CPU features of this machine that kwasm knows.
pub fn host_cpu_features() -> CpuFeatures {
    CPU_FEATURES
        .iter()
        .filter(|f| cpu_has(f.cranelift_flag))
        .fold(CpuFeatures::NONE, |acc, f| {
            acc.with(CpuFeatures::from_bits(f.bit).unwrap())
        })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has(cranelift_flag: &str) -> bool {
    use std::arch::is_x86_feature_detected as has;
    match cranelift_flag {
        "has_sse3" => has!("sse3"),
        "has_ssse3" => has!("ssse3"),
        "has_sse41" => has!("sse4.1"),
        "has_sse42" => has!("sse4.2"),
        "has_popcnt" => has!("popcnt"),
        "has_avx" => has!("avx"),
        "has_avx2" => has!("avx2"),
        "has_fma" => has!("fma"),
        "has_bmi1" => has!("bmi1"),
        "has_bmi2" => has!("bmi2"),
        "has_lzcnt" => has!("lzcnt"),
        "has_cmpxchg16b" => has!("cmpxchg16b"),
        // A feature kwasm-engine learned about after this code: not used.
        _ => false,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has(_cranelift_flag: &str) -> bool {
    false
}

/// The settings for a run: Pulley needs no CPU features; native code uses
/// everything this CPU has, and needs at least [`REQUIRED_CPU_FEATURES`].
pub fn settings_for(kind: EngineKind, fuel: bool, host: CpuFeatures) -> Result<Settings> {
    Ok(match kind {
        EngineKind::Pulley => Settings::pulley(fuel),
        EngineKind::Native => {
            let missing = REQUIRED_CPU_FEATURES.missing_from(host);
            if !missing.is_empty() {
                bail!(
                    "the native engine needs {} but this CPU lacks {}: use --engine pulley",
                    REQUIRED_CPU_FEATURES.names(),
                    missing.names()
                );
            }
            Settings::native(fuel, REQUIRED_CPU_FEATURES.with(host))
        }
    })
}

/// The program as wasm bytes: `.wasm` as is, WebAssembly text converted.
pub fn read_wasm(path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let wasm = wat::parse_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "`{}` is neither a wasm binary nor valid WebAssembly text",
                path.display()
            )
        })?;
    Ok(wasm.into_owned())
}

/// Compiles `wasm` for `settings`, without the cache.
pub fn precompile(wasm: &[u8], settings: &Settings) -> Result<Vec<u8>> {
    let config = settings
        .compiler_config()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("cannot configure {}", settings.describe()))?;
    let engine = wasmtime::Engine::new(&config)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("cannot create {}", settings.describe()))?;
    engine
        .precompile_module(wasm)
        .map(kwasm_engine::image::seal)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("compiling the module failed")
}

/// Where compiled images are cached: `$KWASM_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/kwasm`, else `$HOME/.cache/kwasm`; `None` if none of
/// them is set.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("KWASM_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kwasm")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("kwasm")))
}

/// How an image was obtained, for `--verbose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from this cache file.
    Hit(PathBuf),
    /// Compiled and stored in this file.
    Stored(PathBuf),
    /// Compiled; the cache could not be used (the reason).
    Uncached(String),
}

/// The compiled image of one program for one engine.
pub struct Compiled {
    pub image: Vec<u8>,
    pub cache: CacheStatus,
}

/// The cache file name: content hash of the wasm, then the fingerprint.
pub fn cache_key(wasm: &[u8], settings: &Settings) -> String {
    let hash = Sha256::digest(wasm);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{:016x}.cwasm", settings.fingerprint())
}

/// A cache entry is this magic, the SHA-256 of the image, then the image: a
/// torn or corrupted file is detected and recompiled, never handed to the
/// kernel.
const ENTRY_MAGIC: &[u8; 8] = b"KWASMC01";
const ENTRY_HEADER: usize = ENTRY_MAGIC.len() + 32;

fn encode_entry(image: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRY_HEADER + image.len());
    out.extend_from_slice(ENTRY_MAGIC);
    out.extend_from_slice(&Sha256::digest(image));
    out.extend_from_slice(image);
    out
}

fn decode_entry(mut entry: Vec<u8>) -> Option<Vec<u8>> {
    if entry.len() < ENTRY_HEADER || &entry[..ENTRY_MAGIC.len()] != ENTRY_MAGIC {
        return None;
    }
    let ok = Sha256::digest(&entry[ENTRY_HEADER..]).as_slice() == &entry[ENTRY_MAGIC.len()..ENTRY_HEADER];
    ok.then(|| entry.split_off(ENTRY_HEADER))
}

/// Compiles `wasm` for `settings`, through the cache in `dir` if given. A
/// missing, corrupt or unreadable entry is recompiled; an unwritable cache
/// only costs the next run a compile.
pub fn compile_cached(wasm: &[u8], settings: &Settings, dir: Option<&Path>) -> Result<Compiled> {
    let Some(dir) = dir else {
        return Ok(Compiled {
            image: precompile(wasm, settings)?,
            cache: CacheStatus::Uncached("no cache directory: set KWASM_CACHE_DIR or HOME".into()),
        });
    };
    let path = dir.join(cache_key(wasm, settings));
    if let Some(image) = fs::read(&path).ok().and_then(decode_entry) {
        return Ok(Compiled {
            image,
            cache: CacheStatus::Hit(path),
        });
    }
    let image = precompile(wasm, settings)?;
    let cache = match store(dir, &path, &image) {
        Ok(()) => CacheStatus::Stored(path),
        Err(e) => CacheStatus::Uncached(format!("cannot write {}: {e:#}", path.display())),
    };
    Ok(Compiled { image, cache })
}

/// Writes the entry atomically: a private temporary file in the same
/// directory, renamed over the final name.
fn store(dir: &Path, path: &Path, image: &[u8]) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".tmp-{}-{nonce}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&encode_entry(image))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (func (export "add") (param i32 i32) (result i32)
        local.get 0 local.get 1 i32.add))"#;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kwasm-cli-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn cache_key_changes_with_content_and_settings() {
        let a = wat::parse_str(WAT).unwrap();
        let b = wat::parse_str(WAT.replace("i32.add", "i32.sub")).unwrap();
        let pulley = Settings::pulley(false);
        let fuel = Settings::pulley(true);
        let native = Settings::native(false, REQUIRED_CPU_FEATURES);
        assert_eq!(cache_key(&a, &pulley), cache_key(&a, &pulley));
        assert_ne!(cache_key(&a, &pulley), cache_key(&b, &pulley));
        assert_ne!(cache_key(&a, &pulley), cache_key(&a, &fuel));
        assert_ne!(cache_key(&a, &pulley), cache_key(&a, &native));
        assert!(cache_key(&a, &pulley).ends_with(&format!("-{:016x}.cwasm", pulley.fingerprint())));
    }

    #[test]
    fn native_needs_the_required_features() {
        let e = settings_for(EngineKind::Native, false, CpuFeatures::SSE3).unwrap_err();
        assert!(e.to_string().contains("--engine pulley"), "{e}");
        assert!(e.to_string().contains("SSE4.1"), "{e}");
        let s = settings_for(EngineKind::Native, true, REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2)).unwrap();
        assert_eq!(s.cpu, REQUIRED_CPU_FEATURES.with(CpuFeatures::AVX2));
        assert!(s.fuel);
        assert_eq!(
            settings_for(EngineKind::Pulley, false, CpuFeatures::NONE).unwrap(),
            Settings::pulley(false)
        );
    }

    #[test]
    fn entries_detect_corruption() {
        let e = encode_entry(b"image bytes");
        assert_eq!(decode_entry(e.clone()).as_deref(), Some(&b"image bytes"[..]));
        let mut flipped = e.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode_entry(flipped), None);
        assert_eq!(decode_entry(e[..e.len() - 1].to_vec()), None);
        assert_eq!(decode_entry(b"KWASMC01".to_vec()), None);
        assert_eq!(decode_entry(vec![]), None);
    }

    /// The whole path without a device: compile, store, hit, recover from a
    /// corrupted entry. The image is real: it deserializes into the runtime
    /// configuration and computes (Pulley runs on the host too).
    #[test]
    fn compiles_caches_and_recovers_from_corruption() {
        let dir = temp_dir("cache");
        let wasm = wat::parse_str(WAT).unwrap();
        let settings = Settings::pulley(false);
        let first = compile_cached(&wasm, &settings, Some(&dir)).unwrap();
        let CacheStatus::Stored(path) = &first.cache else {
            panic!("first compile not stored: {:?}", first.cache)
        };
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let second = compile_cached(&wasm, &settings, Some(&dir)).unwrap();
        assert_eq!(second.cache, CacheStatus::Hit(path.clone()));
        assert_eq!(second.image, first.image);
        assert_eq!(add_with(&second.image, 2, 40), 42);

        // Truncate the entry: recompiled and stored again, not fatal.
        let len = fs::metadata(path).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let third = compile_cached(&wasm, &settings, Some(&dir)).unwrap();
        assert_eq!(third.cache, CacheStatus::Stored(path.clone()));
        assert_eq!(third.image, first.image);
        // Garbage with the right length: same.
        fs::write(path, vec![0xAA; len as usize]).unwrap();
        let fourth = compile_cached(&wasm, &settings, Some(&dir)).unwrap();
        assert_eq!(fourth.cache, CacheStatus::Stored(path.clone()));
        assert_eq!(
            compile_cached(&wasm, &settings, Some(&dir)).unwrap().cache,
            CacheStatus::Hit(path.clone())
        );
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_cache_still_compiles() {
        // A regular file where the cache directory should be.
        let blocker = temp_dir("blocker");
        fs::write(&blocker, b"not a directory").unwrap();
        let wasm = wat::parse_str(WAT).unwrap();
        let c = compile_cached(&wasm, &Settings::pulley(false), Some(&blocker.join("kwasm"))).unwrap();
        assert!(matches!(c.cache, CacheStatus::Uncached(_)), "{:?}", c.cache);
        assert_eq!(add_with(&c.image, 5, 6), 11);
        fs::remove_file(&blocker).unwrap();
    }

    #[test]
    fn native_images_compile() {
        let wasm = wat::parse_str(WAT).unwrap();
        let s = settings_for(EngineKind::Native, false, REQUIRED_CPU_FEATURES).unwrap();
        let image = precompile(&wasm, &s).unwrap();
        assert!(image.starts_with(b"\x7fELF"), "not an ELF image");
    }

    #[test]
    fn text_and_garbage_input() {
        let dir = temp_dir("input");
        fs::create_dir_all(&dir).unwrap();
        let wat = dir.join("add.wat");
        fs::write(&wat, WAT).unwrap();
        assert_eq!(read_wasm(&wat).unwrap(), wat::parse_str(WAT).unwrap());
        let junk = dir.join("junk.wasm");
        fs::write(&junk, b"\0asm\x01\0\0\0\xff").unwrap();
        let e = precompile(&read_wasm(&junk).unwrap(), &Settings::pulley(false)).unwrap_err();
        assert!(format!("{e:#}").contains("compiling the module failed"), "{e:#}");
        fs::write(&junk, b"(module (func $f (result i32) i32.const))").unwrap();
        let e = read_wasm(&junk).unwrap_err();
        assert!(
            format!("{e:#}").contains("neither a wasm binary nor valid WebAssembly text"),
            "{e:#}"
        );
        let e = read_wasm(&dir.join("missing.wasm")).unwrap_err();
        assert!(format!("{e:#}").contains("cannot read"), "{e:#}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs the image the way kwasm.ko's Pulley engine would configure it.
    fn add_with(image: &[u8], a: i32, b: i32) -> i32 {
        let config = Settings::pulley(false).runtime_config(|_| None).unwrap();
        let engine = wasmtime::Engine::new(&config).unwrap();
        // SAFETY: the image was just produced by `precompile` with the same
        // settings, in this process.
        let image = kwasm_engine::image::unseal(image).unwrap();
        let module = unsafe { wasmtime::Module::deserialize(&engine, image) }.unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_epoch_deadline(1);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
        add.call(&mut store, (a, b)).unwrap()
    }
}
