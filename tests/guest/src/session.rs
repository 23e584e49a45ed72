//! Sessions: instance handles through raw ioctls, and the WebAssembly spec
//! testsuite run in the kernel by `kwasm wast` against the baseline.

use crate::raw::{buf, compile, RawDevice};
use crate::{expect, Test};
use kwasm_abi::errno::{EBADFD, EBADMSG, EBUSY, EEXIST, ENOENT};
use kwasm_abi::run::{ENGINE_PULLEY, VALUE_SIZE};
use kwasm_abi::session::SESSION_SPECTEST;
use kwasm_abi::{ioctl, InstanceRequest, InstantiateRequest, Outcome, SessionRequest, UserBuf, Value};
use kwasm_engine::Settings;
use kwasm_wast::tsv::Line;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const SPEC: &str = "/share/kwasm/spec";

pub const TESTS: &[Test] = &[
    ("session-requests", session_requests),
    ("session-busy-and-timeout", session_busy_and_timeout),
    ("spec-native", || spec("native")),
    ("spec-pulley", || spec("pulley")),
];

const MODULE: &str = r#"(module
    (global (export "g") i32 (i32.const 42))
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "spin") (loop br 0)))"#;

fn image() -> Vec<u8> {
    compile(&Settings::pulley(false), MODULE)
}

/// A raw session on a fresh open of /dev/kwasm.
struct Raw {
    dev: RawDevice,
    message: Vec<u8>,
}

impl Raw {
    fn open() -> Result<Raw, String> {
        Ok(Raw {
            dev: RawDevice::open().map_err(|e| format!("open: errno {e}"))?,
            message: vec![0; 4096],
        })
    }

    fn session(&mut self, fingerprint: u64, timeout_ns: u64) -> Result<Outcome, i32> {
        let mut r = SessionRequest::new();
        r.engine.engine = ENGINE_PULLEY;
        r.engine.fingerprint = fingerprint;
        r.limits.timeout_ns = timeout_ns;
        r.options = SESSION_SPECTEST;
        r.reply.message = buf(&self.message);
        self.dev.ioctl(ioctl::SESSION, &mut r as *mut _ as usize)?;
        Ok(Outcome::from_u32(r.reply.outcome).unwrap_or(Outcome::NotRun))
    }

    fn instantiate(&mut self, image: &[u8]) -> Result<(Outcome, u32), i32> {
        let mut r = InstantiateRequest::new();
        r.image = buf(image);
        r.reply.message = buf(&self.message);
        self.dev.ioctl(ioctl::INSTANTIATE, &mut r as *mut _ as usize)?;
        Ok((Outcome::from_u32(r.reply.outcome).unwrap_or(Outcome::NotRun), r.handle))
    }

    fn op(&self, cmd: u32, handle: u32, name: &str, params: &[Value]) -> Result<(Outcome, Vec<Value>), i32> {
        let mut results = vec![Value::default(); 4];
        let mut r = InstanceRequest::new(handle);
        r.name = buf(name.as_bytes());
        r.params = buf(params);
        r.results = buf(&results);
        r.reply.message = buf(&self.message);
        self.dev.ioctl(cmd, &mut r as *mut _ as usize)?;
        results.truncate(r.results_count as usize);
        Ok((Outcome::from_u32(r.reply.outcome).unwrap_or(Outcome::NotRun), results))
    }
}

/// Each instance operation does what it says, and every misuse gets its
/// own errno or a BadCall outcome.
fn session_requests() -> Result<(), String> {
    let image = image();
    let fingerprint = Settings::pulley(false).fingerprint();
    let mut s = Raw::open()?;
    let got = s.instantiate(&image);
    expect(got == Err(EBADFD), || format!("INSTANTIATE before SESSION: {got:?}"))?;
    let got = s.op(ioctl::CALL, 1, "add", &[]);
    expect(got == Err(EBADFD), || format!("CALL before SESSION: {got:?}"))?;
    let got = s.session(fingerprint ^ 1, 0);
    expect(got == Ok(Outcome::LoadFailed), || {
        format!("SESSION for another engine: {got:?}")
    })?;
    let got = s.session(fingerprint, 0);
    expect(got == Ok(Outcome::Returned), || format!("SESSION: {got:?}"))?;
    let got = s.session(fingerprint, 0);
    expect(got == Err(EEXIST), || format!("second SESSION: {got:?}"))?;

    let got = s.instantiate(&[0x55; 64]);
    expect(matches!(got, Ok((Outcome::LoadFailed, 0))), || {
        format!("garbage image: {got:?}")
    })?;
    let (outcome, h) = s.instantiate(&image).map_err(|e| format!("INSTANTIATE: errno {e}"))?;
    expect(outcome == Outcome::Returned && h != 0, || {
        format!("INSTANTIATE: {outcome:?} {h}")
    })?;
    let (_, h2) = s.instantiate(&image).map_err(|e| format!("INSTANTIATE: errno {e}"))?;
    expect(h2 != h, || "two instances share a handle".into())?;

    let got = s.op(ioctl::CALL, h, "add", &[Value::i32(2), Value::i32(40)]);
    expect(got == Ok((Outcome::Returned, vec![Value::i32(42)])), || {
        format!("CALL add: {got:?}")
    })?;
    let got = s.op(ioctl::GET, h, "g", &[]);
    expect(got == Ok((Outcome::Returned, vec![Value::i32(42)])), || {
        format!("GET g: {got:?}")
    })?;
    for (what, cmd, name, params) in [
        ("CALL of a missing export", ioctl::CALL, "nope", vec![]),
        ("CALL with too few arguments", ioctl::CALL, "add", vec![Value::i32(1)]),
        (
            "CALL with an i64 for an i32",
            ioctl::CALL,
            "add",
            vec![Value::i64(1), Value::i32(1)],
        ),
        ("GET of a function", ioctl::GET, "add", vec![]),
    ] {
        let got = s.op(cmd, h, name, &params);
        expect(matches!(got, Ok((Outcome::BadCall, _))), || format!("{what}: {got:?}"))?;
    }
    let got = s.op(ioctl::REGISTER, h, "m", &[]);
    expect(matches!(got, Ok((Outcome::Returned, _))), || {
        format!("REGISTER: {got:?}")
    })?;
    for handle in [0, 999] {
        let got = s.op(ioctl::CALL, handle, "add", &[]);
        expect(got == Err(ENOENT), || format!("CALL on handle {handle}: {got:?}"))?;
    }
    let got = s.op(ioctl::DESTROY, h, "", &[]);
    expect(matches!(got, Ok((Outcome::Returned, _))), || {
        format!("DESTROY: {got:?}")
    })?;
    let got = s.op(ioctl::CALL, h, "add", &[Value::i32(1), Value::i32(1)]);
    expect(got == Err(ENOENT), || format!("CALL after DESTROY: {got:?}"))?;
    let got = s.op(ioctl::CALL, h2, "add", &[Value::i32(1), Value::i32(1)]);
    expect(matches!(got, Ok((Outcome::Returned, _))), || {
        format!("the other instance after DESTROY: {got:?}")
    })?;

    // A params buffer that is not a whole number of values.
    let mut r = InstanceRequest::new(h2);
    r.params = UserBuf {
        ptr: image.as_ptr() as u64,
        len: VALUE_SIZE + 1,
    };
    let got = s.dev.ioctl(ioctl::CALL, &mut r as *mut _ as usize);
    expect(got == Err(EBADMSG), || format!("ragged params: {got:?}"))?;
    // Closing the file with live instances frees them (checked by the
    // module unloading cleanly at the end of the run).
    Ok(())
}

/// A second thread on a busy session gets EBUSY at once; the session's time
/// limit ends a runaway call, and the session stays usable.
fn session_busy_and_timeout() -> Result<(), String> {
    let image = image();
    let mut s = Raw::open()?;
    let got = s.session(Settings::pulley(false).fingerprint(), 2_000_000_000);
    expect(got == Ok(Outcome::Returned), || format!("SESSION: {got:?}"))?;
    let (_, h) = s.instantiate(&image).map_err(|e| format!("INSTANTIATE: errno {e}"))?;
    let s = std::sync::Arc::new(s);
    let spinner = {
        let s = s.clone();
        std::thread::spawn(move || s.op(ioctl::CALL, h, "spin", &[]))
    };
    std::thread::sleep(Duration::from_millis(500));
    let got = s.op(ioctl::CALL, h, "add", &[Value::i32(1), Value::i32(1)]);
    expect(got == Err(EBUSY), || {
        format!("CALL while another thread's call runs: {got:?}")
    })?;
    let got = spinner.join().map_err(|_| "the spinning thread panicked".to_string())?;
    expect(matches!(got, Ok((Outcome::TimedOut, _))), || {
        format!("runaway call: {got:?}")
    })?;
    let got = s.op(ioctl::CALL, h, "add", &[Value::i32(1), Value::i32(1)]);
    expect(got == Ok((Outcome::Returned, vec![Value::i32(2)])), || {
        format!("CALL after the timeout: {got:?}")
    })
}

/// Every script of the suite, in the kernel: no directive fails, and no
/// script passes fewer directives than the baseline says it did.
fn spec(engine: &str) -> Result<(), String> {
    let mut scripts = Vec::new();
    for dir in std::fs::read_dir(SPEC).map_err(|e| format!("{SPEC}: {e}"))? {
        let dir = dir.map_err(|e| e.to_string())?.path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
                scripts.push(f.map_err(|e| e.to_string())?.path());
            }
        }
    }
    scripts.sort();
    // Two `kwasm wast` at a time, every other script each (the guest has
    // two vCPUs; compiling each module in the guest is most of the time).
    let halves: Vec<Vec<&std::path::PathBuf>> = (0..2).map(|k| scripts.iter().skip(k).step_by(2).collect()).collect();
    let outs = std::thread::scope(|scope| {
        let runs: Vec<_> = halves
            .iter()
            .map(|half| {
                scope.spawn(move || {
                    Command::new("kwasm")
                        .args(["wast", "--engine", engine, "--tsv"])
                        .args(half)
                        .stdin(Stdio::null())
                        .output()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("kwasm wast runner")).collect::<Result<Vec<_>, _>>()
    })
    .map_err(|e| format!("cannot run kwasm wast: {e}"))?;
    let stdout: String = outs.iter().map(|o| String::from_utf8_lossy(&o.stdout)).collect();
    let stderr: String = outs.iter().map(|o| String::from_utf8_lossy(&o.stderr)).collect();
    let status = outs.iter().map(|o| o.status).find(|s| !s.success()).unwrap_or(outs[0].status);
    let mut passed: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = 0;
    for line in stdout.lines().filter_map(Line::parse) {
        if let Line::Counts {
            engine: e,
            script,
            counts,
            ..
        } = line
        {
            if e == engine {
                *passed.entry(script).or_default() += counts.passed;
                failed += counts.failed;
            }
        }
    }
    for summary in stdout.lines().filter(|l| l.starts_with("kwasm wast")) {
        println!("{summary}");
    }
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("FAIL") || l.contains(": FAIL"))
        .take(8)
        .collect();
    expect(failed == 0 && status.success(), || {
        format!(
            "{failed} directives failed (exit {:?}): {}; stderr: {}",
            status.code(),
            failures.join(" | "),
            stderr.trim()
        )
    })?;
    let baseline = std::fs::read_to_string(format!("{SPEC}/baseline.tsv")).map_err(|e| format!("baseline: {e}"))?;
    let mut regressions = Vec::new();
    for line in baseline.lines().filter(|l| !l.starts_with('#')) {
        if let [e, script, want] = line.split('\t').collect::<Vec<_>>().as_slice() {
            let want: usize = want.parse().unwrap_or(0);
            let got = passed.get(*script).copied().unwrap_or(0);
            if *e == engine && got < want {
                regressions.push(format!("{script}: {got} passed, baseline {want}"));
            }
        }
    }
    expect(regressions.is_empty(), || {
        format!("fewer directives pass than before: {}", regressions.join("; "))
    })
}
