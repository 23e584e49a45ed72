//! `cargo xtask bench --profile`: where the servers' vCPU spends its time.
//!
//! A sampling profiler from outside the guest: QEMU's human monitor, on a
//! Unix socket, is asked for every vCPU's registers (`info registers -a`)
//! about a thousand times a second of host time, and each sample counts
//! the instruction pointer of the vCPU the benchmark runs its servers on.
//! Kernel functions are named from the symbols of Debian's debug vmlinux
//! (`linux-image-<release>-dbg`, fetched once, as for symbolized traces),
//! moved by the guest's KASLR offset; kwasm.ko's and kwasm_bench_ref.ko's
//! come from the guest's /proc/kallsyms. Both arrive as `KWASM-KSYM` lines
//! (tests/guest/src/bench/mod.rs): the module's symbols and the kernel's
//! `_text`. Samples in user space are only counted.
//!
//! Every sample also goes to the measurement window it fell in: the guest
//! prints `KWASM-BENCH-WINDOW <variant> <workload> <conns>` when one starts
//! and its `KWASM-BENCH` result line when it ends, and the sampler follows
//! the console log as it grows. So the report can say where one variant's
//! server (say kwasm's HTTP server) spends its time, apart from the others.
//!
//! Each sample stops the machine (`stop`, `cont`): only then is a TCG
//! vCPU's instruction pointer exact (the start of the translation block it
//! was about to run). The guest's clock stops with it, so the samples do
//! not show up in the guest's own figures beyond the host time they take.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// Samples between two requests: the monitor's own round trip is most of it.
const INTERVAL: Duration = Duration::from_micros(500);
/// Functions shown for the whole run, and for each window.
const TOP: usize = 40;
const TOP_PER_WINDOW: usize = 12;
/// Kernel addresses start here (x86-64, 4- and 5-level paging alike).
const KERNEL_START: u64 = 0xffff_8000_0000_0000;
/// The kernel image's 1 GiB (KASLR moves it within): everything from
/// [`KERNEL_START`] up to here that runs is vmalloc'd code, which for
/// kwasm is native wasm code and Cranelift's trampolines.
const KERNEL_TEXT: u64 = 0xffff_ffff_8000_0000;

/// What one vCPU was doing when sampled.
#[derive(Default)]
pub struct Samples {
    /// Kernel instruction pointers and how often each was seen.
    pub kernel: HashMap<u64, u64>,
    pub user: u64,
    /// Halted (idle).
    pub idle: u64,
}

/// The whole run's samples, and those of each measurement window by
/// `<variant> <workload>` (every connection count together).
#[derive(Default)]
pub struct Profile {
    pub all: Samples,
    pub windows: BTreeMap<String, Samples>,
}

impl Samples {
    fn count(&mut self, seen: &Seen) {
        match *seen {
            Seen::Idle => self.idle += 1,
            Seen::At(rip) if rip >= KERNEL_START => *self.kernel.entry(rip).or_default() += 1,
            Seen::At(_) => self.user += 1,
        }
    }

    fn total(&self) -> u64 {
        self.kernel.values().sum::<u64>() + self.user + self.idle
    }
}

/// Follows the guest's console log as it grows: which measurement window
/// is open.
struct Windows {
    log: PathBuf,
    read: u64,
    partial: Vec<u8>,
    open: Option<String>,
}

impl Windows {
    fn update(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.log) else { return };
        if f.seek(SeekFrom::Start(self.read)).is_err() {
            return;
        }
        let mut new = Vec::new();
        let Ok(n) = f.read_to_end(&mut new) else { return };
        self.read += n as u64;
        self.partial.extend_from_slice(&new);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.see(String::from_utf8_lossy(&line).trim());
        }
    }

    fn see(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("KWASM-BENCH-WINDOW ") {
            let mut w = rest.split_whitespace();
            self.open = match (w.next(), w.next()) {
                (Some(variant), Some(workload)) => Some(format!("{variant} {workload}")),
                _ => None,
            };
        } else if line.starts_with("KWASM-BENCH ") {
            self.open = None;
        }
    }
}

/// The sampler, running while the guest does.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Profile>,
}

/// QEMU's arguments for the monitor socket the sampler reads.
pub fn qemu_args(socket: &Path) -> Vec<String> {
    vec!["-monitor".into(), format!("unix:{},server=on,wait=off", socket.display())]
}

impl Sampler {
    /// Samples vCPU `cpu` through `socket` until [`Sampler::finish`] (or
    /// until QEMU goes away), from when the guest's console (`serial_log`,
    /// as the boot writes it) shows `start` on: the boot is not profiled.
    pub fn start(socket: PathBuf, cpu: u32, serial_log: PathBuf, start: &'static str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut profile = Profile::default();
            while !flag.load(Ordering::Relaxed) {
                let log = std::fs::read(&serial_log).unwrap_or_default();
                if log.windows(start.len()).any(|w| w == start.as_bytes()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let mut windows = Windows {
                log: serial_log,
                read: 0,
                partial: Vec::new(),
                open: None,
            };
            if let Some(stream) = connect(&socket, &flag) {
                sample(stream, cpu, &flag, &mut windows, &mut profile);
            }
            profile
        });
        Sampler { stop, thread }
    }

    pub fn finish(self) -> Profile {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Connects once QEMU has made the socket (it starts after us).
fn connect(socket: &Path, stop: &AtomicBool) -> Option<UnixStream> {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(s) = UnixStream::connect(socket) {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn sample(stream: UnixStream, cpu: u32, stop: &AtomicBool, windows: &mut Windows, profile: &mut Profile) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    if read_to_prompt(&mut reader).is_err() {
        return;
    }
    let mut ask = |command: &[u8]| -> Option<String> {
        writer.write_all(command).ok()?;
        read_to_prompt(&mut reader).ok()
    };
    while !stop.load(Ordering::Relaxed) {
        // Stopped, a vCPU's instruction pointer is exact; running, it is
        // only as of its last indirect branch or exit from translated
        // code. The guest's clock stops with it.
        let Some(_) = ask(b"stop\n") else { return };
        let reply = ask(b"info registers -a\n");
        // While stopped, the console log holds all the guest printed.
        windows.update();
        let Some(_) = ask(b"cont\n") else { return };
        let Some(reply) = reply else { return };
        if let Some(seen) = parse_registers(&reply, cpu) {
            profile.all.count(&seen);
            if let Some(window) = &windows.open {
                profile.windows.entry(window.clone()).or_default().count(&seen);
            }
        }
        std::thread::sleep(INTERVAL);
    }
}

/// The monitor's output up to its next `(qemu) ` prompt.
fn read_to_prompt(r: &mut impl Read) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"(qemu) ") {
        if r.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        out.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Debug, PartialEq)]
enum Seen {
    Idle,
    At(u64),
}

/// vCPU `cpu`'s state in an `info registers -a` reply: its `RIP=` and
/// whether it is halted (`HLT=1`).
fn parse_registers(reply: &str, cpu: u32) -> Option<Seen> {
    let block = reply.split(&format!("CPU#{cpu}")).nth(1)?;
    let block = block.split("CPU#").next()?;
    let rip = block.split_whitespace().find_map(|w| w.strip_prefix("RIP="))?;
    let rip = u64::from_str_radix(rip, 16).ok()?;
    if block.split_whitespace().any(|w| w == "HLT=1") {
        Some(Seen::Idle)
    } else {
        Some(Seen::At(rip))
    }
}

/// Function start addresses and names, sorted.
pub struct Symbols(Vec<(u64, String)>);

impl Symbols {
    /// Text symbols of the kernel (`nm` output of its vmlinux: `addr type
    /// name`) moved to where the guest's `_text` is, and of the guest's
    /// modules (`KWASM-KSYM addr type name [module]` lines).
    pub fn load(kernel_nm: &str, guest_output: &[String]) -> Result<Symbols> {
        let guest: Vec<&str> = guest_output
            .iter()
            .filter_map(|l| l.trim().strip_prefix("KWASM-KSYM "))
            .collect();
        let text = |lines: &mut dyn Iterator<Item = &str>| {
            lines.filter_map(text_symbol).find(|(_, name)| name == "_text").map(|(a, _)| a)
        };
        let built = text(&mut kernel_nm.lines()).context("the kernel's symbols have no _text")?;
        let running = text(&mut guest.iter().copied()).context("the guest printed no _text")?;
        let mut syms: Vec<(u64, String)> = kernel_nm
            .lines()
            .filter_map(text_symbol)
            .map(|(a, name)| (a.wrapping_add(running.wrapping_sub(built)), name))
            .chain(guest.iter().filter(|l| l.ends_with(']')).filter_map(|l| text_symbol(l)))
            .collect();
        syms.sort();
        Ok(Symbols(syms))
    }

    /// The function `addr` lies in (the nearest symbol at or below it).
    fn name(&self, addr: u64) -> &str {
        if addr < KERNEL_TEXT {
            return "(vmalloc'd code: wasm compiled by kwasm, or a BPF program)";
        }
        match self.0.partition_point(|(a, _)| *a <= addr) {
            0 => "?",
            i => &self.0[i - 1].1,
        }
    }
}

/// `addr type name [module]` if it is a text symbol, the name demangled
/// and tagged with its module.
fn text_symbol(line: &str) -> Option<(u64, String)> {
    let mut w = line.split_whitespace();
    let (addr, kind, name, module) = (w.next()?, w.next()?, w.next()?, w.next());
    if !matches!(kind, "t" | "T" | "w" | "W") {
        return None;
    }
    let addr = u64::from_str_radix(addr, 16).ok()?;
    let name = format!("{:#}", rustc_demangle::demangle(name));
    Some((addr, module.map_or(name.clone(), |m| format!("{name} {m}"))))
}

/// The report's section: the vCPU's time by function.
pub fn markdown(samples: &Samples, symbols: &Symbols, cpu: u32) -> String {
    let kernel: u64 = samples.kernel.values().sum();
    let total = kernel + samples.user + samples.idle;
    let mut md = format!(
        "\n## Profile of vCPU {cpu}\n\n{total} samples of the vCPU the servers run on, from the first \
         measurement to the end (every part and variant together): {} in the kernel, {} in user \
         space, {} idle. The kernel's samples by function, most first (kwasm.ko's and bench/kref's \
         marked by module):\n\n\
         | samples | % of the kernel's | function |\n|---:|---:|---|\n",
        kernel, samples.user, samples.idle
    );
    for (name, n) in ranked(samples, symbols).into_iter().take(TOP) {
        let _ = writeln!(md, "| {n} | {:.1} | `{}` |", percent(n, kernel), name.replace('|', "\\|"));
    }
    md
}

/// The report's section for the measurement windows: where each variant's
/// time went, workload by workload, then each window's top functions.
pub fn windows_markdown(windows: &BTreeMap<String, Samples>, symbols: &Symbols) -> String {
    let mut md = String::from(
        "\n## Profile by measurement window\n\nThe same samples, each counted in the window \
         (variant and workload, every connection count together) it fell in. Shares of the \
         window's samples: idle, user space, wasm code (vmalloc'd: kwasm's compiled wasm and \
         its trampolines), kwasm.ko, bench/kref's module, the rest of the kernel (the network \
         stack, the scheduler, ...).\n\n\
         | window | samples | idle % | user % | wasm code % | kwasm.ko % | kref % | kernel % |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (window, samples) in windows {
        let total = samples.total();
        let (mut wasm, mut kwasm, mut kref, mut kernel) = (0, 0, 0, 0);
        for (&rip, &n) in &samples.kernel {
            let name = symbols.name(rip);
            let bucket = if rip < KERNEL_TEXT {
                &mut wasm
            } else if name.ends_with(" [kwasm]") {
                &mut kwasm
            } else if name.ends_with(" [kwasm_bench_ref]") {
                &mut kref
            } else {
                &mut kernel
            };
            *bucket += n;
        }
        let _ = writeln!(
            md,
            "| {window} | {total} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            percent(samples.idle, total),
            percent(samples.user, total),
            percent(wasm, total),
            percent(kwasm, total),
            percent(kref, total),
            percent(kernel, total)
        );
    }
    for (window, samples) in windows {
        let total = samples.total();
        let _ = write!(
            md,
            "\n### {window}\n\n| samples | % of the window's | function |\n|---:|---:|---|\n"
        );
        for (name, n) in ranked(samples, symbols).into_iter().take(TOP_PER_WINDOW) {
            let _ = writeln!(md, "| {n} | {:.1} | `{}` |", percent(n, total), name.replace('|', "\\|"));
        }
    }
    md
}

/// The kernel's samples by function, most first.
fn ranked<'a>(samples: &Samples, symbols: &'a Symbols) -> Vec<(&'a str, u64)> {
    let mut by_fn: BTreeMap<&str, u64> = BTreeMap::new();
    for (&rip, &n) in &samples.kernel {
        *by_fn.entry(symbols.name(rip)).or_default() += n;
    }
    let mut ranked: Vec<(&str, u64)> = by_fn.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
}

fn percent(n: u64, of: u64) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

/// Every kernel address sampled and how often, most first, named: the
/// raw material of the table (`profile.tsv`).
pub fn tsv(samples: &Samples, symbols: &Symbols) -> String {
    let mut rows: Vec<(u64, u64)> = samples.kernel.iter().map(|(&a, &n)| (a, n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out = String::from("address\tsamples\tfunction\n");
    for (a, n) in rows {
        let _ = writeln!(out, "{a:#x}\t{n}\t{}", symbols.name(a));
    }
    out
}

/// The monitor socket of a boot, under `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("bench-monitor.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_of_one_cpu() {
        let reply = "info registers -a\r\n\r\nCPU#0\r\nRAX=0000000000000000 RBX=1\r\n\
                     RIP=ffffffff81000000 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n\
                     \r\nCPU#1\r\nRAX=0000000000000001\r\n\
                     RIP=ffffffffc0a01234 RFL=00000202 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n(qemu) ";
        assert_eq!(parse_registers(reply, 0), Some(Seen::Idle));
        assert_eq!(parse_registers(reply, 1), Some(Seen::At(0xffffffffc0a01234)));
        assert_eq!(parse_registers(reply, 2), None);
    }

    #[test]
    fn addresses_name_their_function() {
        let nm = "ffffffff81000000 T _text\nffffffff81000100 t helper\nffffffff81000200 D data\n";
        let guest = vec![
            "KWASM-KSYM ffffffff9a000000 T _text".to_string(),
            "KWASM-KSYM ffffffffc0a01000 t _RNvCs1234_5kwasm3run\t[kwasm]".to_string(),
        ];
        let syms = Symbols::load(nm, &guest).unwrap();
        assert_eq!(syms.name(0xffffffff9a000180), "helper");
        assert_eq!(syms.name(0xffffffff9a000300), "helper");
        assert_eq!(syms.name(0xffffffffc0a01010), "kwasm::run [kwasm]");
        assert_eq!(syms.name(0xffffffff80000000), "?");
        assert!(Symbols::load(nm, &guest[1..]).is_err());
        assert!(syms.name(0xffffc90000001000).starts_with("(vmalloc"));
        let samples = Samples {
            kernel: HashMap::from([(0xffffffff9a000180, 3), (0xffffffffc0a01010, 1)]),
            user: 2,
            idle: 4,
        };
        let md = markdown(&samples, &syms, 1);
        assert!(md.contains("10 samples"), "{md}");
        assert!(md.contains("| 3 | 75.0 | `helper` |"), "{md}");
        let windows = BTreeMap::from([("kwasm http-keepalive".to_string(), samples)]);
        let md = windows_markdown(&windows, &syms);
        // 10 samples: 4 idle, 2 user, kwasm.ko 1, the kernel 3.
        assert!(md.contains("| kwasm http-keepalive | 10 | 40.0 | 20.0 | 0.0 | 10.0 | 0.0 | 30.0 |"), "{md}");
        assert!(md.contains("### kwasm http-keepalive"), "{md}");
        assert!(md.contains("| 3 | 30.0 | `helper` |"), "{md}");
    }

    #[test]
    fn windows_follow_the_console() {
        let dir = std::env::temp_dir().join(format!("kwasm-profile-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("serial.log");
        std::fs::write(&log, "boot\r\nKWASM-BENCH-WINDOW kwasm echo-pingpong 16\r\nKWASM-BEN").unwrap();
        let mut w = Windows {
            log: log.clone(),
            read: 0,
            partial: Vec::new(),
            open: None,
        };
        w.update();
        assert_eq!(w.open.as_deref(), Some("kwasm echo-pingpong"));
        // The result line ends the window, once it is whole.
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"CH 1 kwasm echo-pingpong 16 ok {}").unwrap();
        w.update();
        assert_eq!(w.open.as_deref(), Some("kwasm echo-pingpong"));
        f.write_all(b"\r\n").unwrap();
        w.update();
        assert_eq!(w.open, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
