//! The module's life and its device: load, identity, the handshake, bad
//! requests, permissions, unload. Tests run in order and build on each other
//! the way an administrator's session would.

use crate::raw::{GuardedPage, RawDevice};
use crate::{expect, Test};
use kwasm_abi::errno::{E2BIG, EFAULT, EINVAL, ENOTTY, EPERM, EPROTO};
use kwasm_abi::ioctl::{self, ioc, DIR_READ, DIR_WRITE, MAGIC};
use kwasm_abi::{RequestHeader, VersionInfo, ABI_VERSION, DEVICE_PATH};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

const MODULE: &str = "/lib/modules/kwasm.ko";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const NOBODY: u32 = 65534;

pub const TESTS: &[Test] = &[
    ("insmod-selftest", insmod_selftest),
    ("insmod", insmod),
    ("modinfo", modinfo),
    ("device-node", device_node),
    ("version", version),
    ("check", check),
    ("abi-mismatch", abi_mismatch),
    ("bad-requests", bad_requests),
    ("non-root", non_root),
    ("check-non-root", check_non_root),
    ("rmmod", rmmod),
    ("check-not-loaded", check_not_loaded),
    ("not-loaded", not_loaded),
];

fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = run(cmd)?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed ({}): {text}", out.status))
    }
}

fn dmesg() -> Result<String, String> {
    run_ok(&mut Command::new("dmesg"))
}

fn loaded() -> bool {
    fs::read_to_string("/proc/modules")
        .map(|m| m.lines().any(|l| l.starts_with("kwasm ")))
        .unwrap_or(false)
}

/// Loading with selftest=1 runs the allocator checks in the kernel.
fn insmod_selftest() -> Result<(), String> {
    run_ok(Command::new("insmod").arg(MODULE).arg("selftest=1"))?;
    let log = dmesg()?;
    expect(log.contains("kwasm: selftest passed"), || {
        format!("no 'selftest passed' in dmesg:\n{log}")
    })?;
    let param = fs::read_to_string("/sys/module/kwasm/parameters/selftest").map_err(|e| e.to_string())?;
    expect(param.trim() == "Y", || format!("selftest parameter reads {param:?}"))?;
    run_ok(Command::new("rmmod").arg("kwasm"))?;
    expect(!loaded(), || "still in /proc/modules after rmmod".into())
}

fn insmod() -> Result<(), String> {
    run_ok(Command::new("insmod").arg(MODULE))?;
    expect(loaded(), || "kwasm missing from /proc/modules".into())?;
    let log = dmesg()?;
    let banner = format!("kwasm: version {VERSION} loaded (ABI {ABI_VERSION})");
    expect(log.contains(&banner), || format!("no '{banner}' in dmesg"))
}

/// Installed the way `make install && depmod` does, `modinfo kwasm` shows
/// the module's identity.
fn modinfo() -> Result<(), String> {
    let release = run_ok(Command::new("uname").arg("-r"))?;
    let dir = format!("/lib/modules/{}/extra", release.trim());
    fs::create_dir_all(&dir).map_err(|e| format!("{dir}: {e}"))?;
    fs::copy(MODULE, format!("{dir}/kwasm.ko")).map_err(|e| format!("install: {e}"))?;
    run_ok(Command::new("depmod").arg("-a"))?;
    let out = run_ok(Command::new("modinfo").arg("kwasm"))?;
    let field = |name: &str| {
        out.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.trim_start().strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
    };
    expect(field("version").as_deref() == Some(VERSION), || {
        format!("version is not {VERSION}:\n{out}")
    })?;
    expect(field("license").as_deref() == Some("GPL"), || {
        format!("license is not GPL:\n{out}")
    })?;
    expect(field("description").is_some_and(|d| d.contains("WebAssembly")), || {
        format!("no description:\n{out}")
    })?;
    let sys = fs::read_to_string("/sys/module/kwasm/version").map_err(|e| e.to_string())?;
    expect(sys.trim() == VERSION, || {
        format!("/sys/module/kwasm/version reads {sys:?}")
    })
}

fn device_node() -> Result<(), String> {
    let meta = fs::metadata(DEVICE_PATH).map_err(|e| format!("{DEVICE_PATH}: {e}"))?;
    expect(meta.file_type().is_char_device(), || {
        format!("{DEVICE_PATH} is not a character device")
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    expect(mode == 0o600, || format!("{DEVICE_PATH} has mode {mode:o}, want 600"))?;
    expect(meta.uid() == 0 && meta.gid() == 0, || {
        format!("{DEVICE_PATH} owned by {}:{}", meta.uid(), meta.gid())
    })?;
    let major = (meta.rdev() >> 8) & 0xfff;
    expect(major == 10, || {
        format!("{DEVICE_PATH} has major {major}, want 10 (misc)")
    })
}

fn version() -> Result<(), String> {
    let out = run_ok(Command::new("kwasm").arg("version"))?;
    let cli = format!("kwasm {VERSION} (ABI {ABI_VERSION})");
    let module = format!("kwasm.ko {VERSION} (ABI {ABI_VERSION})");
    expect(out.lines().any(|l| l == cli), || format!("no line '{cli}' in:\n{out}"))?;
    expect(out.lines().any(|l| l == module), || {
        format!("no line '{module}' in:\n{out}")
    })
}

/// `kwasm check` with the module loaded, as root: every check passes,
/// including a trial run on each engine, and the exit status says so.
fn check() -> Result<(), String> {
    let out = run(Command::new("kwasm").arg("check"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    expect(out.status.success(), || format!("kwasm check failed ({}):\n{text}", out.status))?;
    for line in [
        format!("ok    module: kwasm.ko {VERSION} loaded, ABI {ABI_VERSION}"),
        "ok    permission: CAP_SYS_ADMIN".to_string(),
        "ok    native trial run: an empty program ran (wasmtime".to_string(),
        "ok    pulley trial run: an empty program ran (wasmtime".to_string(),
        "note  parameters: max_instances=".to_string(),
        "kwasm run would work here".to_string(),
    ] {
        expect(text.lines().any(|l| l.starts_with(&line)), || format!("no line '{line}…' in:\n{text}"))?;
    }
    Ok(())
}

/// A caller of another ABI version is refused with EPROTO, yet learns the
/// module's version from the reply.
fn abi_mismatch() -> Result<(), String> {
    let dev = RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    for caller in [0, ABI_VERSION + 1, u32::MAX] {
        let mut req = VersionInfo::request();
        req.header.abi_version = caller;
        let got = dev.version(&mut req);
        expect(got == Err(EPROTO), || format!("ABI {caller}: got {got:?}, want EPROTO"))?;
        expect(req.module_abi_version == ABI_VERSION, || {
            format!("ABI {caller}: reply says {}", req.module_abi_version)
        })?;
    }
    let mut req = VersionInfo::request();
    let got = dev.version(&mut req);
    expect(got == Ok(()), || format!("a well-formed request got {got:?}"))
}

/// Short, oversized, misplaced and unknown requests get their own errno and
/// leave the caller's memory alone.
fn bad_requests() -> Result<(), String> {
    let dev = RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    for (size, want) in [(0, EINVAL), (8, EINVAL), (47, EINVAL), (4097, E2BIG), (u32::MAX, E2BIG)] {
        let mut req = VersionInfo::request();
        req.header.size = size;
        let got = dev.version(&mut req);
        expect(got == Err(want), || {
            format!("size {size}: got {got:?}, want errno {want}")
        })?;
        expect(req.module_abi_version == 0, || {
            format!("size {size}: the refused request was written to")
        })?;
    }
    // Null and unmapped pointers.
    for addr in [0usize, 0xdead_0000, usize::MAX - 7] {
        let got = dev.ioctl(ioctl::VERSION, addr);
        expect(got == Err(EFAULT), || {
            format!("pointer {addr:#x}: got {got:?}, want EFAULT")
        })?;
    }
    // A header that is readable but whose struct runs into an unmapped page.
    let page = GuardedPage::new();
    let header = RequestHeader::for_request::<VersionInfo>();
    let at = page.tail(size_of::<RequestHeader>());
    // SAFETY: `at` has room for exactly one RequestHeader before the hole.
    unsafe { (at as *mut RequestHeader).write_unaligned(header) };
    let got = dev.ioctl(ioctl::VERSION, at as usize);
    expect(got == Err(EFAULT), || {
        format!("struct straddling a hole: got {got:?}, want EFAULT")
    })?;
    // Unknown numbers, wrong direction, a foreign magic.
    let unknown = [
        ioc(DIR_READ | DIR_WRITE, MAGIC, 0x7f, 48),
        ioc(DIR_WRITE, MAGIC, ioctl::nr::VERSION, 48),
        ioc(DIR_READ | DIR_WRITE, b'T', 0, 48),
        0,
    ];
    let mut req = VersionInfo::request();
    for cmd in unknown {
        let got = dev.ioctl(cmd, &mut req as *mut _ as usize);
        expect(got == Err(ENOTTY), || {
            format!("command {cmd:#x}: got {got:?}, want ENOTTY")
        })?;
    }
    // The device still answers properly afterwards.
    let mut req = VersionInfo::request();
    let got = dev.version(&mut req);
    expect(got == Ok(()) && req.module_abi_version == ABI_VERSION, || {
        format!("after bad requests: {got:?}")
    })
}

/// errno that open(/dev/kwasm) gives a process running as `nobody`.
fn open_errno_as_nobody() -> Result<i32, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = run_ok(Command::new(exe).arg("--probe-open").uid(NOBODY).gid(NOBODY))?;
    out.trim().parse().map_err(|_| format!("probe printed {out:?}"))
}

/// `kwasm version` as nobody: (exit success, stderr).
fn kwasm_version_as_nobody() -> Result<(bool, String), String> {
    let out = run(Command::new("kwasm").arg("version").uid(NOBODY).gid(NOBODY))?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// `kwasm check` as nobody: it fails, naming the device's mode and the
/// missing capability, each with its fix.
fn check_non_root() -> Result<(), String> {
    let out = run(Command::new("kwasm").arg("check").uid(NOBODY).gid(NOBODY))?;
    let text = String::from_utf8_lossy(&out.stdout);
    expect(out.status.code() == Some(1), || format!("kwasm check as nobody: {}\n{text}", out.status))?;
    expect(
        text.contains("FAIL  module: /dev/kwasm is there, but its mode keeps this user out")
            && text.contains("FAIL  permission: no CAP_SYS_ADMIN")
            && text.contains("fix: run as root")
            && text.contains("kwasm run would not work here: 2 problem(s)"),
        || format!("as nobody: unhelpful report:\n{text}"),
    )
}

/// Without root: the 0600 node keeps users out (EACCES), and if an
/// administrator opens the node up, the module itself still refuses
/// callers without CAP_SYS_ADMIN (EPERM). Both with a message that says why.
fn non_root() -> Result<(), String> {
    let errno = open_errno_as_nobody()?;
    expect(errno == libc::EACCES, || {
        format!("open as nobody on the 0600 node: errno {errno}, want EACCES")
    })?;
    let (ok, err) = kwasm_version_as_nobody()?;
    expect(!ok && err.contains("root-only"), || {
        format!("kwasm version as nobody: success={ok}, stderr: {err}")
    })?;

    fs::set_permissions(DEVICE_PATH, fs::Permissions::from_mode(0o666)).map_err(|e| e.to_string())?;
    let opened_up = (|| {
        let errno = open_errno_as_nobody()?;
        expect(errno == EPERM, || {
            format!("open as nobody on a 0666 node: errno {errno}, want EPERM")
        })?;
        let (ok, err) = kwasm_version_as_nobody()?;
        expect(!ok && err.contains("CAP_SYS_ADMIN"), || {
            format!("kwasm version as nobody: success={ok}, stderr: {err}")
        })
    })();
    fs::set_permissions(DEVICE_PATH, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    opened_up?;
    // Root still gets in.
    expect(RawDevice::open().is_ok(), || "root cannot open the device".into())
}

fn rmmod() -> Result<(), String> {
    run_ok(Command::new("rmmod").arg("kwasm"))?;
    expect(!loaded(), || "kwasm still in /proc/modules".into())?;
    expect(fs::metadata(DEVICE_PATH).is_err(), || {
        format!("{DEVICE_PATH} still exists")
    })?;
    let log = dmesg()?;
    expect(log.contains("kwasm: unloaded"), || {
        "no 'kwasm: unloaded' in dmesg".into()
    })
}

/// `kwasm check` with no module: it fails, and says how to load it.
fn check_not_loaded() -> Result<(), String> {
    let out = run(Command::new("kwasm").arg("check"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    expect(out.status.code() == Some(1), || format!("kwasm check with no module: {}\n{text}", out.status))?;
    expect(
        text.contains("FAIL  module: kwasm.ko is not loaded") && text.contains("fix: modprobe kwasm"),
        || format!("no module: unhelpful report:\n{text}"),
    )
}

fn not_loaded() -> Result<(), String> {
    let out = run(Command::new("kwasm").arg("version"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    expect(!out.status.success(), || {
        "kwasm version succeeded with no module".into()
    })?;
    expect(err.contains("kwasm.ko is not loaded"), || {
        format!("unhelpful message: {err}")
    })?;
    // Loading again after an unload works: nothing stale was left behind.
    run_ok(Command::new("insmod").arg(MODULE))?;
    let again = run_ok(Command::new("kwasm").arg("version"))?;
    run_ok(Command::new("rmmod").arg("kwasm"))?;
    expect(again.contains(&format!("kwasm.ko {VERSION}")), || {
        format!("after reload: {again}")
    })
}
