//! `kwasm check`: would `kwasm run` work here, and if not, what fixes it
//! (as `bpftool feature probe` does for BPF). It looks at the kernel, the
//! module and its ABI, the caller's permission, the CPU, the module's
//! parameters and the compile cache, and ends with a trial run of an empty
//! program on each engine, which is the only proof that running works.

use crate::compile;
use crate::device::{Device, DeviceError, ModuleVersion};
use crate::outcome::{self, RunContext};
use crate::request::{Limits, Run, StringList, Wasi};
use anyhow::Result;
use kwasm_abi::{ABI_VERSION, DEVICE_PATH};
use kwasm_engine::{EngineKind, REQUIRED_CPU_FEATURES};
use std::fs;
use std::path::Path;

/// The oldest kernel line kwasm is tested on.
const OLDEST_TESTED: (u32, u32) = (6, 1);
const PARAMETERS: &str = "/sys/module/kwasm/parameters";
const RESERVED: &str = "/sys/class/misc/kwasm/reserved_bytes";
/// Bit 21 of the capability sets.
const CAP_SYS_ADMIN: u32 = 21;
/// The trial program: an empty command with one page of memory (so the
/// native run takes a guarded linear memory, as real programs do).
const TRIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Worth knowing; `kwasm run` works anyway.
    Note,
    /// `kwasm run` will not work until this is fixed.
    Fail,
}

#[derive(Debug)]
pub struct Finding {
    pub verdict: Verdict,
    pub what: &'static str,
    pub detail: String,
    /// The command or step that fixes it.
    pub fix: Option<String>,
}

impl Finding {
    fn new(verdict: Verdict, what: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            verdict,
            what,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Prints every finding; exit status 0 only if none fails.
pub fn check() -> Result<i32> {
    let uname = uname();
    let mut findings = vec![kernel(&uname), preemption(&uname), cpu()];
    let device = match Device::open().and_then(|d| d.version().map(|v| (d, v))) {
        Ok((device, version)) => {
            findings.push(module(Ok(&version)));
            Some(device)
        }
        Err(e) => {
            findings.push(module(Err(&e)));
            if matches!(e, DeviceError::NotLoaded) {
                findings.extend(module_loading());
            }
            None
        }
    };
    findings.push(permission(capabilities()));
    findings.extend(parameters());
    findings.push(cache());
    if let Some(device) = &device {
        findings.extend(trials(device));
    }
    print!("{}", render(&findings));
    Ok(if findings.iter().any(|f| f.verdict == Verdict::Fail) { 1 } else { 0 })
}

/// The findings as the user reads them, and the conclusion.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let mark = match f.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Note => "note",
            Verdict::Fail => "FAIL",
        };
        out.push_str(&format!("{mark}  {}: {}\n", f.what, f.detail));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    let failed = findings.iter().filter(|f| f.verdict == Verdict::Fail).count();
    if failed == 0 {
        out.push_str("kwasm run would work here\n");
    } else {
        out.push_str(&format!("kwasm run would not work here: {failed} problem(s) above\n"));
    }
    out
}

/// The kernel's release, version (build string) and machine.
struct Uname {
    release: String,
    version: String,
    machine: String,
}

fn uname() -> Uname {
    // SAFETY: utsname is plain bytes; uname fills it and cannot fail with
    // a valid pointer.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Uname {
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
    }
}

fn kernel(uname: &Uname) -> Finding {
    let Uname { release, machine, .. } = uname;
    if machine != "x86_64" {
        return Finding::new(Verdict::Fail, "kernel", format!("{release} on {machine}"))
            .fix("kwasm runs on x86-64 only");
    }
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if version < OLDEST_TESTED {
        return Finding::new(
            Verdict::Note,
            "kernel",
            format!(
                "{release} (x86_64) is older than any kernel kwasm is tested on ({}.{})",
                OLDEST_TESTED.0, OLDEST_TESTED.1
            ),
        );
    }
    Finding::new(Verdict::Ok, "kernel", format!("{release} (x86_64)"))
}

/// The preemption model, from the scheduler's debugfs file when it can be
/// read, else from the build string and the command line.
fn preemption(uname: &Uname) -> Finding {
    let Uname { release, version, .. } = uname;
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let config = fs::read_to_string(format!("/boot/config-{release}")).ok();
    let model = preemption_model(
        fs::read_to_string("/sys/kernel/debug/sched/preempt").ok().as_deref(),
        &version,
        &cmdline,
        config.as_deref(),
    );
    let ibt = fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().any(|l| l.starts_with("flags") && l.split_whitespace().any(|w| w == "ibt")))
        .unwrap_or(false);
    let mut detail = format!("preemption {model}; IBT {}", if ibt { "on" } else { "off" });
    if model.starts_with("none") || model.starts_with("voluntary") {
        detail.push_str(" (kernel code is not preempted: a program lets others run at kwasm's yield points, every millisecond)");
    }
    Finding::new(Verdict::Note, "scheduling", detail)
}

/// `debugfs` is the scheduler's own "none (voluntary) full" with the model
/// in force in parentheses; without it, the build string names RT and
/// dynamic builds, `preempt=` on the command line picks a dynamic one, and
/// the build's config (`/boot/config-RELEASE`) names its default.
pub fn preemption_model(debugfs: Option<&str>, version: &str, cmdline: &str, config: Option<&str>) -> String {
    if let Some(current) = debugfs.and_then(|s| s.split(['(', ')']).nth(1)) {
        return current.to_string();
    }
    if version.contains("PREEMPT_RT") {
        return "rt".into();
    }
    if version.contains("PREEMPT_DYNAMIC") {
        return match cmdline.split_whitespace().find_map(|w| w.strip_prefix("preempt=")) {
            Some(model) => model.to_string(),
            None => match config.and_then(config_default) {
                Some(model) => format!("{model} (the build's default)"),
                None => "dynamic (the build's default)".into(),
            },
        };
    }
    if version.contains("PREEMPT ") {
        return "full".into();
    }
    "none or voluntary (a build without PREEMPT)".into()
}

/// The preemption model a kernel config selects.
fn config_default(config: &str) -> Option<&'static str> {
    let set = |option: &str| config.lines().any(|l| l == format!("{option}=y"));
    [
        ("CONFIG_PREEMPT_NONE", "none"),
        ("CONFIG_PREEMPT_VOLUNTARY", "voluntary"),
        ("CONFIG_PREEMPT_LAZY", "lazy"),
        ("CONFIG_PREEMPT", "full"),
    ]
    .into_iter()
    .find(|(option, _)| set(option))
    .map(|(_, model)| model)
}

fn cpu() -> Finding {
    let missing = REQUIRED_CPU_FEATURES.missing_from(compile::host_cpu_features());
    if missing.is_empty() {
        Finding::new(
            Verdict::Ok,
            "cpu",
            format!("has what native code needs ({})", REQUIRED_CPU_FEATURES.names()),
        )
    } else {
        Finding::new(
            Verdict::Fail,
            "cpu",
            format!("native code (the default engine) needs {}, and this CPU lacks it", missing.names()),
        )
        .fix("kwasm run --engine pulley (the interpreter needs no CPU features)")
    }
}

/// What opening the device and the version handshake said.
pub fn module(handshake: Result<&ModuleVersion, &DeviceError>) -> Finding {
    let ours = env!("CARGO_PKG_VERSION");
    match handshake {
        Ok(m) if m.version != ours => Finding::new(
            Verdict::Note,
            "module",
            format!(
                "kwasm.ko {} is loaded; this command is {ours} (both ABI {ABI_VERSION}, so they work together)",
                m.version
            ),
        ),
        Ok(m) => Finding::new(Verdict::Ok, "module", format!("kwasm.ko {} loaded, ABI {}", m.version, m.abi_version)),
        Err(DeviceError::NotLoaded) => Finding::new(
            Verdict::Fail,
            "module",
            format!("kwasm.ko is not loaded ({DEVICE_PATH} does not exist)"),
        )
        .fix("modprobe kwasm (an installed module) or insmod kwasm.ko (a built one)"),
        Err(DeviceError::AbiMismatch { module }) => Finding::new(
            Verdict::Fail,
            "module",
            format!("kwasm.ko speaks ABI {module}, this command ABI {ABI_VERSION}"),
        )
        .fix("install the kwasm command and kwasm.ko from the same release (then rmmod kwasm; modprobe kwasm)"),
        Err(DeviceError::AccessDenied) => Finding::new(
            Verdict::Fail,
            "module",
            format!("{DEVICE_PATH} is there, but its mode keeps this user out (root-only, 0600)"),
        )
        .fix("run as root"),
        Err(DeviceError::NotPermitted) => Finding::new(
            Verdict::Fail,
            "module",
            "kwasm.ko refuses callers without CAP_SYS_ADMIN",
        )
        .fix("run as root"),
        Err(e) => Finding::new(Verdict::Fail, "module", e.to_string()),
    }
}

/// Why loading kwasm.ko could not work on this kernel, if it could not.
fn module_loading() -> Option<Finding> {
    if !Path::new("/proc/modules").exists() {
        return Some(
            Finding::new(Verdict::Fail, "module loading", "this kernel was built without module support")
                .fix("boot a kernel that can load modules (CONFIG_MODULES)"),
        );
    }
    let disabled = fs::read_to_string("/proc/sys/kernel/modules_disabled").ok()?;
    (disabled.trim() == "1").then(|| {
        Finding::new(
            Verdict::Fail,
            "module loading",
            "disabled until the next boot (kernel.modules_disabled = 1)",
        )
        .fix("load kwasm.ko early in boot, before modules_disabled is set (e.g. /etc/modules-load.d/)")
    })
}

/// The effective capability set, from /proc/self/status.
fn capabilities() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

pub fn permission(effective: Option<u64>) -> Finding {
    match effective {
        Some(caps) if caps & (1 << CAP_SYS_ADMIN) != 0 => Finding::new(
            Verdict::Ok,
            "permission",
            "CAP_SYS_ADMIN (loading code into the kernel needs it)",
        ),
        Some(_) => Finding::new(
            Verdict::Fail,
            "permission",
            "no CAP_SYS_ADMIN: kwasm.ko runs programs only for callers with it",
        )
        .fix("run as root"),
        None => Finding::new(Verdict::Note, "permission", "cannot read this process's capabilities"),
    }
}

/// The module's parameters in force, and the address space its linear
/// memories reserve now.
fn parameters() -> Option<Finding> {
    let mut entries: Vec<_> = fs::read_dir(PARAMETERS).ok()?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    let mut detail = entries
        .iter()
        .filter_map(|e| {
            let value = fs::read_to_string(e.path()).ok()?;
            Some(format!("{}={}", e.file_name().to_string_lossy(), value.trim()))
        })
        .collect::<Vec<_>>()
        .join(" ");
    if let Ok(bytes) = fs::read_to_string(RESERVED) {
        detail.push_str(&format!("; address space linear memories reserve now: {} bytes", bytes.trim()));
    }
    Some(Finding::new(Verdict::Note, "parameters", detail))
}

fn cache() -> Finding {
    let Some(dir) = compile::cache_dir() else {
        return Finding::new(
            Verdict::Note,
            "compile cache",
            "none (no KWASM_CACHE_DIR, XDG_CACHE_HOME or HOME): every run compiles",
        );
    };
    match cache_usage(&dir) {
        Some((files, bytes)) => Finding::new(
            Verdict::Ok,
            "compile cache",
            format!("{} ({files} images, {:.1} MiB; delete it to drop them)", dir.display(), bytes as f64 / (1 << 20) as f64),
        ),
        None => Finding::new(
            Verdict::Ok,
            "compile cache",
            format!("{} (not created yet)", dir.display()),
        ),
    }
}

fn cache_usage(dir: &Path) -> Option<(usize, u64)> {
    let entries = fs::read_dir(dir).ok()?;
    let sizes: Vec<u64> = entries
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .collect();
    Some((sizes.len(), sizes.iter().sum()))
}

/// An empty program run on each engine: what any refusal says is what
/// `kwasm run` would say. Only the default engine's failure fails the check.
fn trials(device: &Device) -> Vec<Finding> {
    let mut findings = Vec::new();
    let wasm = match wat::parse_str(TRIAL) {
        Ok(wasm) => wasm,
        Err(e) => return vec![Finding::new(Verdict::Fail, "trial run", format!("the trial program: {e}"))],
    };
    for kind in [EngineKind::Native, EngineKind::Pulley] {
        let what = match kind {
            EngineKind::Native => "native trial run",
            EngineKind::Pulley => "pulley trial run",
        };
        let verdict_if_broken = if kind == compile::DEFAULT_ENGINE { Verdict::Fail } else { Verdict::Note };
        match trial(device, kind, &wasm) {
            Ok(engine) => findings.push(Finding::new(Verdict::Ok, what, format!("an empty program ran ({engine})"))),
            Err(why) => findings.push(Finding::new(verdict_if_broken, what, why)),
        }
    }
    findings
}

/// Runs the trial program on `kind`: the engine's description, or why it
/// did not run.
fn trial(device: &Device, kind: EngineKind, wasm: &[u8]) -> Result<String, String> {
    let settings = compile::settings_for(kind, false, compile::host_cpu_features()).map_err(|e| format!("{e:#}"))?;
    let image = compile::precompile(wasm, &settings).map_err(|e| format!("compiling: {e:#}"))?;
    // No environment, directories or sockets.
    let wasi = Wasi {
        args: StringList::pack("arguments", &["kwasm-check"]).map_err(|e| format!("{e:#}"))?,
        ..Wasi::default()
    };
    let limits = Limits {
        fuel: None,
        timeout_ns: 0,
        max_memory: 0,
    };
    let mut run = Run::new(&settings, image, wasi, limits).map_err(|e| format!("{e:#}"))?;
    let reply = run.submit(device).map_err(|e| e.to_string())?;
    let ctx = RunContext {
        module: "the trial program",
        invoke: None,
        timeout: None,
        fuel: None,
    };
    let report = outcome::report(&reply, &ctx);
    if report.exit_code == 0 {
        Ok(settings.describe())
    } else {
        Err(report.stderr.unwrap_or_else(|| format!("exit status {}", report.exit_code)).replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_abi_fails_and_says_what_to_install() {
        let f = module(Err(&DeviceError::AbiMismatch { module: ABI_VERSION + 1 }));
        assert_eq!(f.verdict, Verdict::Fail);
        assert!(f.detail.contains(&format!("ABI {}", ABI_VERSION + 1)));
        assert!(f.fix.unwrap().contains("same release"));
    }

    #[test]
    fn missing_module_fails_with_modprobe() {
        let f = module(Err(&DeviceError::NotLoaded));
        assert_eq!(f.verdict, Verdict::Fail);
        assert!(f.fix.unwrap().contains("modprobe kwasm"));
    }

    #[test]
    fn another_release_with_the_same_abi_is_only_a_note() {
        let v = ModuleVersion {
            version: "0.0.0-other".into(),
            abi_version: ABI_VERSION,
        };
        assert_eq!(module(Ok(&v)).verdict, Verdict::Note);
    }

    #[test]
    fn permission_is_cap_sys_admin() {
        assert_eq!(permission(Some(1 << CAP_SYS_ADMIN)).verdict, Verdict::Ok);
        assert_eq!(permission(Some(!(1 << CAP_SYS_ADMIN))).verdict, Verdict::Fail);
    }

    #[test]
    fn one_failure_makes_the_verdict() {
        let ok = Finding::new(Verdict::Ok, "a", "fine");
        let note = Finding::new(Verdict::Note, "b", "fyi");
        assert!(render(&[ok, note]).ends_with("kwasm run would work here\n"));
        let fail = Finding::new(Verdict::Fail, "c", "broken").fix("do this");
        let text = render(&[fail]);
        assert!(text.contains("FAIL  c: broken\n      fix: do this\n"));
        assert!(text.ends_with("1 problem(s) above\n"));
    }

    #[test]
    fn preemption_model_from_each_source() {
        assert_eq!(preemption_model(Some("none (voluntary) full\n"), "", "", None), "voluntary");
        let dynamic = "#1 SMP PREEMPT_DYNAMIC Debian";
        assert_eq!(preemption_model(None, dynamic, "ro preempt=none quiet", None), "none");
        assert_eq!(preemption_model(None, "#1 SMP PREEMPT_RT Debian", "", None), "rt");
        assert!(preemption_model(None, dynamic, "", None).starts_with("dynamic"));
        let config = "# CONFIG_PREEMPT_NONE is not set\nCONFIG_PREEMPT_VOLUNTARY=y\nCONFIG_PREEMPT_DYNAMIC=y\n";
        assert_eq!(preemption_model(None, dynamic, "", Some(config)), "voluntary (the build's default)");
    }
}
