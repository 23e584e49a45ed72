//! Bad input from user space, against the real module: specific errnos for
//! the classic bad requests and images, then a seeded stress that sends
//! thousands of random and mutated requests through raw ioctls, and a
//! check that the module still serves a normal program afterwards (the
//! host fails the run on any kernel warning; `run-unload-module`, last,
//! proves nothing leaked a reference).
//!
//! The stress is deterministic: request `i` of seed `S` is built from
//! `Rng::for_iteration(S, i)` alone, and the seed is printed, so
//! `kwasm-guest-tests --fuzz S N` (in `cargo xtask boot --kernel 6.12
//! --shell`, after `insmod /lib/modules/kwasm.ko`) replays a failure. Any image may be corrupted: the module
//! refuses one whose seal (kwasm_engine::image) does not hold before
//! Wasmtime sees it — without the seal, the host fuzzer showed a corrupted
//! image making Wasmtime run garbage, an oops in the kernel.

use crate::raw::{buf, compile, GuardedPage, RawDevice};
use crate::{expect, Test};
use kwasm_abi::errno::{
    E2BIG, EBADFD, EBADMSG, EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, ENOTDIR, ENOTTY, EOPNOTSUPP, EPROTO,
};
use kwasm_abi::ioctl::{self, ioc, DIR_READ, DIR_WRITE, MAGIC};
use kwasm_abi::run::{MAX_IMAGE_LEN, MAX_NAME_LEN, MAX_VALUES, VALUE_SIZE};
use kwasm_abi::session::SESSION_SPECTEST;
use kwasm_abi::{
    EngineSpec, InstanceInfo, InstanceRequest, InstantiateRequest, ListRequest, Outcome, RequestHeader, RunRequest,
    SessionRequest, UserBuf, Value, VersionInfo, ABI_VERSION,
};
use kwasm_engine::image::{seal, unseal};
use kwasm_engine::{CpuFeatures, Settings, REQUIRED_CPU_FEATURES};
use kwasm_fuzz::{mutate, Rng};
use std::mem::size_of;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const TESTS: &[Test] = &[
    ("bad-input-errnos", bad_input_errnos),
    ("fuzz-requests", || fuzz_requests(SEED, REQUESTS, BUDGET).map(|_| ())),
    ("fuzz-sessions", || {
        fuzz_sessions(SEED, SESSION_STEPS, BUDGET).map(|_| ())
    }),
    ("fuzz-aftermath", aftermath),
];

/// The stress's fixed seed, and its bounds: whichever of the count and the
/// time runs out first (the count is reached on a quiet machine).
const SEED: u64 = kwasm_fuzz::DEFAULT_SEED;
const REQUESTS: u64 = 20_000;
const SESSION_STEPS: u64 = 3000;
const BUDGET: Duration = Duration::from_secs(25);

/// Every errno a kwasm ioctl may answer with (kwasm_abi::Error), and
/// nothing else.
const ERRNOS: [i32; 12] = [
    EINVAL, E2BIG, EOPNOTSUPP, EBADMSG, EPROTO, EFAULT, ENOTTY, ENOMEM, EBUSY, EEXIST, EBADFD, ENOENT,
];

/// No start function and no `_start`: a library of exports.
const LIBRARY: &str = r#"(module
    (memory (export "memory") 1 4)
    (table 4 funcref)
    (global (export "g") (mut i32) (i32.const 7))
    (data (i32.const 16) "kwasm fuzz data")
    (elem (i32.const 0) $a $b)
    (func $a (export "a") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
    (func $b (export "b") (result i64) i64.const -1)
    (func (export "c") (param f64 i64) (result f64) local.get 0 f64.sqrt))"#;

/// A WASI command that returns at once, and a module whose start function
/// does.
const COMMAND: &str = r#"(module (func (export "_start")))"#;
const STARTER: &str = r#"(module (global $n (mut i32) (i32.const 0))
    (func $s global.get $n i32.const 1 i32.add global.set $n) (start $s)
    (func (export "n") (result i32) global.get $n))"#;

struct Images {
    library: [Vec<u8>; 2],
    command: [Vec<u8>; 2],
    starter: [Vec<u8>; 2],
    specs: [EngineSpec; 2],
}

fn native_settings() -> Settings {
    Settings::native(false, REQUIRED_CPU_FEATURES)
}

/// Index 0: Pulley, 1: native.
fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let settings = [Settings::pulley(false), native_settings()];
        let each = |wat| settings.map(|s| compile(&s, wat));
        Images {
            library: each(LIBRARY),
            command: each(COMMAND),
            starter: each(STARTER),
            specs: settings.map(|s| s.spec()),
        }
    })
}

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: the ABI structs are #[repr(C)] integers without padding
    // (pinned by kwasm-abi's tests), so every byte is initialised.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }.to_vec()
}

fn from_bytes<T: Copy>(b: &[u8]) -> T {
    assert!(b.len() >= size_of::<T>());
    // SAFETY: as above, any bytes are a valid value; the read is unaligned.
    unsafe { std::ptr::read_unaligned(b.as_ptr() as *const T) }
}

fn send<T: Copy>(dev: &RawDevice, cmd: u32, req: &mut T) -> Result<(), i32> {
    dev.ioctl(cmd, req as *mut T as usize)
}

fn outcome(reply: &kwasm_abi::Reply) -> Option<Outcome> {
    Outcome::from_u32(reply.outcome)
}

fn message(m: &[u8], reply: &kwasm_abi::Reply) -> String {
    String::from_utf8_lossy(&m[..(reply.message_len as usize).min(m.len())]).into_owned()
}

/// A RUN request for `image` on engine `spec`, with a message buffer.
fn run_request(spec: EngineSpec, image: &[u8], args: &[u8], message: &mut [u8]) -> RunRequest {
    let mut r = RunRequest::new();
    r.engine = spec;
    r.image = buf(image);
    r.wasi.args = buf(args);
    r.wasi.args_count = args.iter().filter(|&&b| b == 0).count() as u32;
    r.reply.message = UserBuf {
        ptr: message.as_mut_ptr() as u64,
        len: message.len() as u64,
    };
    r
}

/// Addresses no caller may hand the kernel: the kernel's direct map and
/// text, a non-canonical address, the top of the address space.
const KERNEL_POINTERS: [u64; 4] = [
    0xffff_8880_0000_0000,
    0xffff_ffff_8100_0000,
    0x8000_0000_0000_0000,
    u64::MAX - 7,
];

/// One page mapped read-only: readable requests, unwritable replies.
struct ReadOnlyPage(*mut u8);

impl ReadOnlyPage {
    fn new(contents: &[u8]) -> ReadOnlyPage {
        assert!(contents.len() <= 4096);
        // SAFETY: a fresh private anonymous mapping of one page.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap failed");
        // SAFETY: the page is writable and holds `contents`; then it is made
        // read-only, which only this value relies on.
        unsafe {
            std::ptr::copy_nonoverlapping(contents.as_ptr(), p as *mut u8, contents.len());
            assert_eq!(libc::mprotect(p, 4096, libc::PROT_READ), 0);
        }
        ReadOnlyPage(p as *mut u8)
    }
}

impl Drop for ReadOnlyPage {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the page mapped in new().
        unsafe { libc::munmap(self.0 as *mut _, 4096) };
    }
}

/// The classic bad inputs, each with the errno or outcome the ABI names.
/// (module.rs covers VERSION's sizes, pointers and unknown numbers, run.rs
/// garbage images and RUN's field checks, session.rs the session order.)
fn bad_input_errnos() -> Result<(), String> {
    let im = images();
    let dev = RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    let mut msg = vec![0u8; 1024];
    let args = b"prog\0".to_vec();
    let pulley = im.specs[0];
    let native = im.specs[1];

    // Images: each refused with LoadFailed and a message, nothing run.
    let mut truncated = im.command[0].clone();
    truncated.truncate(truncated.len() / 2);
    let mut flipped_magic = im.command[1].clone();
    flipped_magic[1] ^= 0x20; // "\x7fELF" -> "\x7feLF"
    let mut flipped_code = im.library[1].clone();
    let middle = flipped_code.len() / 2;
    flipped_code[middle] ^= 0x01;
    let mut oversized = im.command[0].clone();
    oversized.extend(std::iter::repeat_n(0x5a, 64 * 1024));
    let mut resealed_damage = unseal(&im.library[0]).map_err(|e| e.to_string())?.to_vec();
    resealed_damage.truncate(resealed_damage.len() / 2);
    let resealed_damage = seal(resealed_damage);
    let version = wasmtime_version_patched(&im.command[0])?;
    let avx512ish = EngineSpec {
        cpu_features: native.cpu_features | 1 << 40,
        ..native
    };
    let fuel = Settings::pulley(true).spec();
    let pulley_cpu = EngineSpec {
        cpu_features: CpuFeatures::SSE3.bits(),
        fingerprint: Settings {
            cpu: CpuFeatures::SSE3,
            ..Settings::pulley(false)
        }
        .fingerprint(),
        ..pulley
    };
    let cases: [(&str, EngineSpec, &[u8], &str); 10] = [
        ("truncated image", pulley, &truncated, "seal"),
        ("bit-flipped ELF magic", native, &flipped_magic, "corrupt"),
        ("bit flipped in the middle", native, &flipped_code, "corrupt"),
        ("image with 64 KiB appended", pulley, &oversized, "seal"),
        ("truncated image sealed again", pulley, &resealed_damage, "refused"),
        ("image of another Wasmtime version", pulley, &version, "refused"),
        ("Pulley image sent as native", native, &im.command[0], "refused"),
        (
            "CPU features this module does not know",
            avx512ish,
            &im.command[1],
            "does not know",
        ),
        (
            "image compiled without the fuel it claims",
            fuel,
            &im.command[0],
            "refused",
        ),
        (
            "Pulley image claiming x86 features",
            pulley_cpu,
            &im.command[0],
            "Pulley",
        ),
    ];
    for (what, spec, image, needle) in cases {
        let mut r = run_request(spec, image, &args, &mut msg);
        let got = send(&dev, ioctl::RUN, &mut r);
        let text = message(&msg, &r.reply);
        expect(
            got == Ok(())
                && outcome(&r.reply) == Some(Outcome::LoadFailed)
                && text.contains(needle)
                && !text.is_empty(),
            || {
                format!(
                    "{what}: ioctl {got:?}, outcome {:?}, message {text:?}",
                    outcome(&r.reply)
                )
            },
        )?;
    }
    // The intact image runs, so the refusals above were about the damage.
    let mut r = run_request(pulley, &im.command[0], &args, &mut msg);
    let got = send(&dev, ioctl::RUN, &mut r);
    expect(got == Ok(()) && outcome(&r.reply) == Some(Outcome::Exited), || {
        format!(
            "intact command: {got:?} {:?} {}",
            outcome(&r.reply),
            message(&msg, &r.reply)
        )
    })?;

    // Requests: pointers, lengths, sizes.
    let page = GuardedPage::new();
    let template = run_request(pulley, &im.command[0], &args, &mut msg);
    type Case = (&'static str, fn(&mut RunRequest), i32);
    // Preopens: fd 0 is not a directory, fd 999 is not open.
    static NOT_A_DIR: [u32; 1] = [0];
    static NOT_OPEN: [u32; 1] = [999];
    static NAME: &[u8] = b"/x\0";
    fn preopen(r: &mut RunRequest, fds: &'static [u32; 1]) {
        r.wasi.preopen_fds = UserBuf {
            ptr: fds.as_ptr() as u64,
            len: 4,
        };
        r.wasi.preopen_names = UserBuf {
            ptr: NAME.as_ptr() as u64,
            len: NAME.len() as u64,
        };
        r.wasi.preopen_count = 1;
    }
    let cases: [Case; 13] = [
        ("a preopen that is not a directory", |r| preopen(r, &NOT_A_DIR), ENOTDIR),
        ("a preopen fd that is not open", |r| preopen(r, &NOT_OPEN), ENOTDIR),
        (
            "preopen fds not 4 bytes each",
            |r| {
                preopen(r, &NOT_A_DIR);
                r.wasi.preopen_fds.len = 8;
            },
            EBADMSG,
        ),
        ("a stdio terminal bit past fd 2", |r| r.wasi.stdio_terminals = 1 << 3, EBADMSG),
        (
            "image in kernel memory",
            |r| r.image.ptr = 0xffff_ffff_8100_0000,
            EFAULT,
        ),
        (
            "image pointer + length wrapping",
            |r| r.image.ptr = u64::MAX - 15,
            EFAULT,
        ),
        (
            "non-canonical image pointer",
            |r| r.image.ptr = 0x8000_0000_0000_0000,
            EFAULT,
        ),
        (
            "arguments in kernel memory",
            |r| r.wasi.args.ptr = 0xffff_8880_0000_0000,
            EFAULT,
        ),
        (
            "image length above the limit",
            |r| r.image.len = MAX_IMAGE_LEN + 1,
            E2BIG,
        ),
        ("image length u64::MAX", |r| r.image.len = u64::MAX, E2BIG),
        (
            "argument count above the strings",
            |r| r.wasi.args_count = u32::MAX,
            EBADMSG,
        ),
        (
            // (with an image one byte short, so that there is a message)
            "message buffer in kernel memory",
            |r| {
                r.reply.message.ptr = 0xffff_8880_0000_0000;
                r.image.len -= 1;
            },
            EFAULT,
        ),
        ("one byte short", |r| r.header.size -= 1, EINVAL),
    ];
    for (what, mutate, want) in cases {
        let mut r = template;
        mutate(&mut r);
        let got = send(&dev, ioctl::RUN, &mut r);
        expect(got == Err(want), || {
            format!("RUN with {what}: got {got:?}, want errno {want}")
        })?;
    }
    // The request itself: in kernel memory, straddling a hole, read-only
    // (the reply cannot be written back), unaligned (fine: copied bytewise).
    for addr in KERNEL_POINTERS {
        let got = dev.ioctl(ioctl::RUN, addr as usize);
        expect(got == Err(EFAULT), || format!("RUN request at {addr:#x}: {got:?}"))?;
    }
    let bytes = bytes_of(&template);
    let at = page.tail(64);
    // SAFETY: the first 64 bytes of the request fit before the hole.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, 64) };
    let got = dev.ioctl(ioctl::RUN, at as usize);
    expect(got == Err(EFAULT), || format!("RUN request straddling a hole: {got:?}"))?;
    let ro = ReadOnlyPage::new(&bytes);
    let got = dev.ioctl(ioctl::RUN, ro.0 as usize);
    expect(got == Err(EFAULT), || {
        format!("RUN request on a read-only page: {got:?}")
    })?;
    let mut unaligned = vec![0u8; bytes.len() + 8];
    unaligned[3..3 + bytes.len()].copy_from_slice(&bytes);
    let got = dev.ioctl(ioctl::RUN, unaligned.as_mut_ptr() as usize + 3);
    let reply: RunRequest = from_bytes(&unaligned[3..]);
    expect(got == Ok(()) && outcome(&reply.reply) == Some(Outcome::Exited), || {
        format!("unaligned RUN request: {got:?} {:?}", outcome(&reply.reply))
    })?;

    // One byte short, for every command that takes a request.
    let short = |size: usize| RequestHeader {
        abi_version: ABI_VERSION,
        size: size as u32 - 1,
    };
    let shorts = [
        (ioctl::LIST, short(size_of::<ListRequest>())),
        (ioctl::SESSION, short(size_of::<SessionRequest>())),
        (ioctl::INSTANTIATE, short(size_of::<InstantiateRequest>())),
        (ioctl::CALL, short(size_of::<InstanceRequest>())),
    ];
    let fresh = RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    let mut s = SessionRequest::new();
    s.engine = pulley;
    send(&fresh, ioctl::SESSION, &mut s).map_err(|e| format!("SESSION: errno {e}"))?;
    for (cmd, header) in shorts {
        let mut room = vec![0u8; 256];
        room[..8].copy_from_slice(&bytes_of(&header));
        let got = fresh.ioctl(cmd, room.as_mut_ptr() as usize);
        expect(got == Err(EINVAL), || {
            format!("command {cmd:#x} with a request one byte short: {got:?}")
        })?;
        let mut newer = room.clone();
        newer[..4].copy_from_slice(&(ABI_VERSION + 1).to_ne_bytes());
        newer[4..8].copy_from_slice(&256u32.to_ne_bytes());
        let got = fresh.ioctl(cmd, newer.as_mut_ptr() as usize);
        expect(got == Err(EPROTO), || {
            format!("command {cmd:#x} of ABI {}: {got:?}", ABI_VERSION + 1)
        })?;
    }
    // Session values: lengths that overflow, names above the limit.
    let mut i = InstanceRequest::new(1);
    i.params = UserBuf {
        ptr: 0x1000,
        len: u64::MAX / VALUE_SIZE * VALUE_SIZE,
    };
    let got = send(&fresh, ioctl::CALL, &mut i);
    expect(got == Err(E2BIG), || format!("CALL with 2^64 bytes of params: {got:?}"))?;
    let mut i = InstanceRequest::new(1);
    i.params.len = (MAX_VALUES + 1) * VALUE_SIZE;
    let got = send(&fresh, ioctl::CALL, &mut i);
    expect(got == Err(E2BIG), || {
        format!("CALL with {} params: {got:?}", MAX_VALUES + 1)
    })?;
    let mut i = InstanceRequest::new(1);
    i.name.len = MAX_NAME_LEN + 1;
    let got = send(&fresh, ioctl::GET, &mut i);
    expect(got == Err(E2BIG), || {
        format!("GET with a name above the limit: {got:?}")
    })?;
    let mut i = InstanceRequest::new(1);
    i.name = UserBuf {
        ptr: 0xffff_8880_0000_0000,
        len: 8,
    };
    let got = send(&fresh, ioctl::GET, &mut i);
    expect(got == Err(EFAULT), || {
        format!("GET with a kernel name pointer: {got:?}")
    })?;
    let mut l = ListRequest::new(UserBuf {
        ptr: 0x1000,
        len: size_of::<InstanceInfo>() as u64 + 1,
    });
    let got = send(&fresh, ioctl::LIST, &mut l);
    expect(got == Err(EBADMSG), || format!("LIST with a ragged array: {got:?}"))?;

    // Unknown numbers around the known ones, and known ones sent the
    // wrong way; and kwasm's numbers on a file that is not /dev/kwasm.
    let mut room = vec![0u8; 256];
    let mut unknown = vec![
        ioc(DIR_READ | DIR_WRITE, MAGIC, ioctl::nr::DESTROY + 1, 104),
        ioc(DIR_READ | DIR_WRITE, MAGIC, 0xff, 0),
    ];
    for nr in 0..=ioctl::nr::DESTROY {
        for dir in [0, DIR_READ, DIR_WRITE] {
            unknown.push(ioc(dir, MAGIC, nr, 64));
        }
    }
    for cmd in unknown {
        let got = dev.ioctl(cmd, room.as_mut_ptr() as usize);
        expect(got == Err(ENOTTY), || format!("command {cmd:#x}: {got:?}, want ENOTTY"))?;
    }
    let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    // SAFETY: an ioctl on a file this test owns, with a buffer it owns.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&null),
            ioctl::RUN as _,
            room.as_mut_ptr(),
        )
    };
    let e = crate::raw::errno();
    expect(rc == -1 && e == ENOTTY, || {
        format!("RUN on /dev/null: rc {rc}, errno {e}")
    })?;

    // The device still answers properly afterwards.
    let mut v = VersionInfo::request();
    let got = dev.version(&mut v);
    expect(got == Ok(()) && v.module_abi_version == ABI_VERSION, || {
        format!("VERSION after: {got:?}")
    })
}

/// `image` with the Wasmtime version in its `.wasmtime.engine` section
/// changed, and sealed again: what another release of kwasm would send.
fn wasmtime_version_patched(image: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = unseal(image).map_err(|e| e.to_string())?.to_vec();
    let at = engine_section(&out).ok_or("no .wasmtime.engine section in the image")?;
    // The section starts with a format byte, then the version string's
    // length and bytes (Wasmtime's major version, "50").
    let digit = at + 2;
    expect(out.get(digit).is_some_and(u8::is_ascii_digit), || {
        format!("unexpected engine section: {:?}", &out[at..(at + 8).min(out.len())])
    })?;
    out[digit] = if out[digit] == b'4' { b'3' } else { b'4' };
    Ok(seal(out))
}

/// Offset of the `.wasmtime.engine` section's data in an ELF64 image.
fn engine_section(elf: &[u8]) -> Option<usize> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?) as usize);
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?) as usize);
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?) as usize);
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 0x18)?;
    (0..shnum).find_map(|i| {
        let name_at = names + u32_at(header(i))?;
        let name = elf.get(name_at..name_at + 17)?;
        (name == b".wasmtime.engine\0")
            .then(|| u64_at(header(i) + 0x18))
            .flatten()
    })
}

/// The buffers of one request, bump-allocated in the scratch region.
#[derive(Default)]
struct Arena {
    next: usize,
}

/// The memory the stress points requests into.
struct Memory {
    scratch: Scratch,
    guard: GuardedPage,
    read_only: ReadOnlyPage,
}

/// 16 MiB of read-write memory in the middle of a 1 GiB reservation that
/// is otherwise inaccessible. Every buffer of a stress request lives here:
/// a mutated length or a pointer with a low bit flipped makes the module
/// write past a buffer, which is the caller's own doing and must not
/// corrupt the test's heap; it lands here or faults (EFAULT).
struct Scratch(*mut u8);

impl Scratch {
    const RESERVED: usize = 1 << 30;
    const OFFSET: usize = 512 << 20;
    const LEN: usize = 16 << 20;

    fn new() -> Scratch {
        // SAFETY: a fresh private anonymous reservation, no access.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::RESERVED,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap of the scratch reservation failed");
        // SAFETY: the range lies inside the reservation just made.
        let data = unsafe { (base as *mut u8).add(Self::OFFSET) };
        // SAFETY: as above; only this value uses the range.
        let rc = unsafe { libc::mprotect(data as *mut _, Self::LEN, libc::PROT_READ | libc::PROT_WRITE) };
        assert_eq!(rc, 0, "mprotect of the scratch region failed");
        Scratch(data)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the reservation made in new().
        unsafe { libc::munmap(self.0.sub(Self::OFFSET) as *mut _, Self::RESERVED) };
    }
}

impl Arena {
    /// A buffer holding `bytes`, and a pointer to it that is good, or one
    /// of the bad kinds: null, unmapped, kernel, running into a hole,
    /// read-only, wrapping, unaligned.
    fn place(&mut self, rng: &mut Rng, mem: &Memory, bytes: Vec<u8>, bad_one_in: u64) -> UserBuf {
        let len = bytes.len() as u64;
        if !rng.one_in(bad_one_in) {
            let shift = if rng.one_in(4) { 1 + rng.index(7) } else { 0 };
            let at = self.next + shift;
            assert!(
                at + bytes.len() <= Scratch::LEN,
                "a stress request outgrew the scratch region"
            );
            // SAFETY: the range is inside the scratch region (checked above),
            // which nothing but the stress's requests uses.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), mem.scratch.0.add(at), bytes.len()) };
            self.next = (at + bytes.len() + 64).next_multiple_of(16);
            return UserBuf {
                ptr: mem.scratch.0 as u64 + at as u64,
                len,
            };
        }
        let ptr = match rng.below(6) {
            0 => 0,
            1 => 0xdead_0000,
            2 => *rng.pick(&KERNEL_POINTERS),
            3 => mem.guard.tail(1 + rng.index(64)) as u64,
            4 => mem.read_only.0 as u64,
            _ => u64::MAX - rng.below(len.max(1)),
        };
        UserBuf { ptr, len }
    }

    /// An image: a library, a command or a starter, intact or corrupted;
    /// garbage; or a huge length. The index of the engine it was built for.
    fn image(&mut self, rng: &mut Rng, mem: &Memory) -> (UserBuf, usize) {
        let im = images();
        let e = rng.index(2);
        let mut bytes = match rng.below(8) {
            0 => im.command[e].clone(),
            1 => im.starter[e].clone(),
            2 => {
                let mut g = vec![0u8; rng.index(8192)];
                rng.fill(&mut g);
                g
            }
            _ => im.library[e].clone(),
        };
        if !rng.one_in(3) {
            for _ in 0..1 + rng.below(4) {
                mutate(rng, &mut bytes, Some(256));
            }
        }
        let mut b = self.place(rng, mem, bytes, 16);
        if rng.one_in(32) {
            // Lengths the checks must catch (or, below the limit, that the
            // copy must fault on) — rarely, each costs an allocation.
            b.len = rng.interesting_u64(&[MAX_IMAGE_LEN, 1 << 20]);
            if b.len > 1 << 20 && b.len <= MAX_IMAGE_LEN && !rng.one_in(4) {
                b.len = MAX_IMAGE_LEN + 1 + rng.below(1 << 20);
            }
        }
        (b, e)
    }

    fn strings(&mut self, rng: &mut Rng, mem: &Memory) -> (UserBuf, u32) {
        let mut s = Vec::new();
        let n = rng.below(5);
        for i in 0..n {
            s.extend_from_slice(format!("s{i}=x").as_bytes());
            s.push(0);
        }
        let mut count = n as u32;
        if rng.one_in(4) {
            mutate(rng, &mut s, None);
            count = count.wrapping_add(rng.below(3) as u32).wrapping_sub(1);
        }
        (self.place(rng, mem, s, 24), count)
    }

    fn message(&mut self, rng: &mut Rng, mem: &Memory) -> UserBuf {
        let len = *rng.pick(&[0usize, 1, 7, 64, 4096]);
        self.place(rng, mem, vec![0u8; len], 24)
    }

    fn values(&mut self, rng: &mut Rng, mem: &Memory) -> UserBuf {
        let n = if rng.one_in(2) { rng.index(3) } else { rng.index(6) };
        let mut vals = Vec::new();
        for _ in 0..n {
            let v = match rng.below(4) {
                0 => Value::i32(rng.next_u32() as i32),
                1 => Value::i64(rng.next_u64() as i64),
                2 => Value::f64_bits(rng.next_u64()),
                _ => Value {
                    kind: rng.interesting_u32(&[6, 7]),
                    flags: rng.next_u32() & 3,
                    bits: rng.next_u64(),
                    bits_high: rng.next_u64(),
                },
            };
            vals.extend_from_slice(&bytes_of(&v));
        }
        let mut b = self.place(rng, mem, vals, 16);
        if rng.one_in(8) {
            b.len = rng.interesting_u64(&[VALUE_SIZE, MAX_VALUES * VALUE_SIZE]);
        }
        b
    }

    fn name(&mut self, rng: &mut Rng, mem: &Memory) -> UserBuf {
        let mut n = rng
            .pick(&["a", "b", "c", "g", "memory", "n", "_start", "", "m"])
            .as_bytes()
            .to_vec();
        if rng.one_in(6) {
            mutate(rng, &mut n, None);
        }
        let mut b = self.place(rng, mem, n, 16);
        if rng.one_in(16) {
            b.len = rng.interesting_u64(&[MAX_NAME_LEN]);
        }
        b
    }
}

/// Random or mutated bytes of request `T`, with a header whose size and
/// version are sometimes wrong, and trailing room for a bigger claimed size.
fn shape<T: Copy>(rng: &mut Rng, valid: T) -> Vec<u8> {
    let mut bytes = bytes_of(&valid);
    if rng.one_in(8) {
        rng.fill(&mut bytes);
    }
    let header = RequestHeader::for_request::<T>();
    let mut h = header;
    if rng.one_in(6) {
        h.size = rng.interesting_u32(&[size_of::<T>() as u64, 4096, 8]);
    }
    if rng.one_in(12) {
        h.abi_version = rng.interesting_u32(&[ABI_VERSION as u64]);
    }
    if !rng.one_in(8) {
        bytes[..8].copy_from_slice(&bytes_of(&h));
    }
    if rng.one_in(6) {
        mutate(rng, &mut bytes, None);
    }
    let extra = if rng.one_in(8) { rng.index(256) } else { 0 };
    bytes.extend(std::iter::repeat_n(0u8, extra));
    bytes
}

fn random_spec(rng: &mut Rng, e: usize) -> EngineSpec {
    let im = images();
    let mut spec = im.specs[if rng.one_in(10) { 1 - e } else { e }];
    match rng.below(12) {
        0 => spec.engine = rng.interesting_u32(&[1, 2]),
        1 => spec.flags = rng.interesting_u32(&[1]),
        2 => spec.fingerprint ^= 1 << rng.below(64),
        3 => spec.cpu_features ^= 1 << rng.below(64),
        _ => {}
    }
    spec
}

/// One random request of any kind (or an unknown number) on `dev`.
fn random_request(rng: &mut Rng, dev: &RawDevice, mem: &Memory) -> Result<Result<(), i32>, String> {
    let mut arena = Arena::default();
    let cmds = [
        ioctl::VERSION,
        ioctl::RUN,
        ioctl::LIST,
        ioctl::SESSION,
        ioctl::INSTANTIATE,
        ioctl::CALL,
        ioctl::GET,
        ioctl::REGISTER,
        ioctl::DESTROY,
    ];
    let mut cmd = *rng.pick(&cmds);
    let bytes = match cmd {
        ioctl::VERSION => shape(rng, VersionInfo::request()),
        ioctl::RUN => {
            let (image, e) = arena.image(rng, mem);
            let mut r = RunRequest::new();
            r.engine = random_spec(rng, e);
            r.image = image;
            (r.wasi.args, r.wasi.args_count) = arena.strings(rng, mem);
            (r.wasi.env, r.wasi.env_count) = arena.strings(rng, mem);
            r.limits.timeout_ns = *rng.pick(&[0, 1, 1_000_000_000, u64::MAX]);
            r.limits.max_memory = *rng.pick(&[0, 1, 65536, u64::MAX]);
            r.reply.message = arena.message(rng, mem);
            shape(rng, r)
        }
        ioctl::LIST => {
            let n = rng.index(4);
            let entries = arena.place(rng, mem, vec![0u8; n * size_of::<InstanceInfo>()], 8);
            shape(rng, ListRequest::new(entries))
        }
        ioctl::SESSION => {
            let mut r = SessionRequest::new();
            let e = rng.index(2);
            r.engine = random_spec(rng, e);
            (r.wasi.args, r.wasi.args_count) = arena.strings(rng, mem);
            r.options = if rng.one_in(8) {
                rng.next_u32()
            } else {
                SESSION_SPECTEST * rng.below(2) as u32
            };
            r.reply.message = arena.message(rng, mem);
            shape(rng, r)
        }
        ioctl::INSTANTIATE => {
            let mut r = InstantiateRequest::new();
            (r.image, _) = arena.image(rng, mem);
            r.reply.message = arena.message(rng, mem);
            shape(rng, r)
        }
        _ => {
            let mut r = InstanceRequest::new(rng.interesting_u32(&[1, 2]));
            r.name = arena.name(rng, mem);
            r.params = arena.values(rng, mem);
            r.results = arena.values(rng, mem);
            r.reply.message = arena.message(rng, mem);
            shape(rng, r)
        }
    };
    if rng.one_in(16) {
        // An unknown number, or a known one with another direction or size.
        cmd = match rng.below(3) {
            0 => rng.next_u32(),
            1 => ioc(
                DIR_READ | DIR_WRITE,
                MAGIC,
                9 + rng.below(247) as u8,
                rng.index(1 << 14),
            ),
            _ => ioc(rng.below(4) as u32, MAGIC, rng.below(9) as u8, rng.index(1 << 14)),
        };
    }
    let arg = arena.place(rng, mem, bytes, 12);
    let start = Instant::now();
    let got = dev.ioctl(cmd, arg.ptr as usize);
    check_answer(cmd, got, start.elapsed())?;
    Ok(got)
}

/// How many answers of each kind a stress got: "ok", or the error's name.
#[derive(Default)]
struct Tally(std::collections::BTreeMap<String, u64>);

impl Tally {
    fn add(&mut self, got: Result<(), i32>) {
        let key = match got {
            Ok(()) => "ok".to_string(),
            Err(e) => kwasm_abi::Error::from_errno(e).map_or(format!("errno {e}"), |e| format!("{e:?}")),
        };
        *self.0.entry(key).or_default() += 1;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{k} {n}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// Every answer is Ok or one of the ABI's errnos, and prompt.
fn check_answer(cmd: u32, got: Result<(), i32>, took: Duration) -> Result<(), String> {
    if let Err(e) = got {
        expect(ERRNOS.contains(&e), || {
            format!("command {cmd:#x}: errno {e} is not one the ABI names")
        })?;
    }
    expect(took < Duration::from_secs(10), || {
        format!("command {cmd:#x} took {took:?}")
    })
}

fn memory() -> Memory {
    Memory {
        scratch: Scratch::new(),
        guard: GuardedPage::new(),
        read_only: ReadOnlyPage::new(&[0x41; 4096]),
    }
}

/// `count` random requests on a few fds (reopened now and then), within
/// `budget`; returns how many were sent.
pub fn fuzz_requests(seed: u64, count: u64, budget: Duration) -> Result<u64, String> {
    let _ = images();
    println!("fuzz-requests: seed {seed:#x}, up to {count} requests or {budget:?}");
    let mem = memory();
    let mut fds: Vec<RawDevice> = Vec::new();
    let start = Instant::now();
    let mut sent = 0;
    let mut tally = Tally::default();
    while sent < count && start.elapsed() < budget {
        let mut rng = Rng::for_iteration(seed, sent);
        if fds.len() < 3 || rng.one_in(50) {
            if fds.len() >= 3 {
                fds.remove(rng.index(fds.len()));
            }
            fds.push(RawDevice::open().map_err(|e| format!("open: errno {e}"))?);
        }
        let dev = &fds[rng.index(fds.len())];
        let got = random_request(&mut rng, dev, &mem).map_err(|e| format!("request {sent} of seed {seed:#x}: {e}"))?;
        tally.add(got);
        sent += 1;
    }
    println!("fuzz-requests: {sent} requests in {:?}: {tally}", start.elapsed());
    Ok(sent)
}

/// A session fd and the handles of its live instances.
struct Fd {
    dev: RawDevice,
    engine: Option<usize>,
    intact: Vec<u32>,
}

/// Random sequences of SESSION, INSTANTIATE, CALL, GET, REGISTER, DESTROY
/// and close on four fds, checking what an intact instance answers.
pub fn fuzz_sessions(seed: u64, steps: u64, budget: Duration) -> Result<u64, String> {
    let im = images();
    println!("fuzz-sessions: seed {seed:#x}, up to {steps} steps or {budget:?}");
    let mem = memory();
    let open = || -> Result<Fd, String> {
        Ok(Fd {
            dev: RawDevice::open().map_err(|e| format!("open: errno {e}"))?,
            engine: None,
            intact: vec![],
        })
    };
    let mut fds = (0..4).map(|_| open()).collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let (mut step, mut calls_checked, mut instances) = (0, 0u64, 0u64);
    while step < steps && start.elapsed() < budget {
        let mut rng = Rng::for_iteration(seed ^ 0x5e55, step);
        let which = rng.index(fds.len());
        let r = session_step(&mut rng, &mut fds[which], &mem, im, &mut calls_checked, &mut instances);
        r.map_err(|e| format!("step {step} of seed {seed:#x} on fd {which}: {e}"))?;
        if rng.one_in(40) {
            // Close with whatever instances live in it.
            fds[which] = open()?;
        }
        step += 1;
    }
    println!(
        "fuzz-sessions: {step} steps, {instances} instances made, {calls_checked} results checked, in {:?}",
        start.elapsed()
    );
    Ok(step)
}

fn session_step(
    rng: &mut Rng,
    fd: &mut Fd,
    mem: &Memory,
    im: &Images,
    calls_checked: &mut u64,
    instances: &mut u64,
) -> Result<(), String> {
    let mut arena = Arena::default();
    let mut msg = vec![0u8; 512];
    let message = UserBuf {
        ptr: msg.as_mut_ptr() as u64,
        len: msg.len() as u64,
    };
    let op = rng.below(10);
    let sent = Instant::now();
    match (op, fd.engine) {
        (0, _) | (_, None) if rng.one_in(2) || fd.engine.is_none() => {
            let e = rng.index(2);
            let mut r = SessionRequest::new();
            r.engine = if rng.one_in(4) {
                random_spec(rng, e)
            } else {
                im.specs[e]
            };
            r.options = SESSION_SPECTEST * rng.below(2) as u32;
            r.limits.timeout_ns = 2_000_000_000;
            r.reply.message = message;
            let got = send(&fd.dev, ioctl::SESSION, &mut r);
            check_answer(ioctl::SESSION, got, sent.elapsed())?;
            match (fd.engine, got) {
                (Some(_), _) => {
                    // Field checks come first, then "already a session".
                    let want = if r.check().is_ok() { Err(EEXIST) } else { got };
                    expect(got.is_err() && got == want, || format!("second SESSION: {got:?}"))?
                }
                (None, Ok(())) if outcome(&r.reply) == Some(Outcome::Returned) => {
                    expect(r.engine == im.specs[e] || r.engine == im.specs[1 - e], || {
                        format!("SESSION for {:?} accepted", r.engine)
                    })?;
                    fd.engine = Some(if r.engine == im.specs[0] { 0 } else { 1 });
                }
                (None, _) => {}
            }
        }
        (1..=3, Some(e)) => {
            // An image for this session's engine, intact or damaged, or
            // one for the other engine (which must be refused).
            let original = if rng.one_in(3) { &im.starter[e] } else { &im.library[e] };
            let mut image = original.clone();
            let damaged = match rng.below(3) {
                0 => {
                    for _ in 0..1 + rng.below(4) {
                        mutate(rng, &mut image, Some(256));
                    }
                    image != *original
                }
                1 if rng.one_in(3) => {
                    image = im.library[1 - e].clone();
                    true
                }
                _ => false,
            };
            let mut r = InstantiateRequest::new();
            r.image = arena.place(rng, mem, image, 20);
            r.reply.message = message;
            let got = send(&fd.dev, ioctl::INSTANTIATE, &mut r);
            check_answer(ioctl::INSTANTIATE, got, sent.elapsed())?;
            if got == Ok(()) && outcome(&r.reply) == Some(Outcome::Returned) {
                *instances += 1;
                expect(!damaged, || {
                    "a damaged image (or one for the other engine) was instantiated".into()
                })?;
                let known = fd.intact.contains(&r.handle);
                expect(r.handle != 0 && !known, || {
                    format!("INSTANTIATE gave handle {} again", r.handle)
                })?;
                fd.intact.push(r.handle);
            }
        }
        (4..=6, Some(_)) if !fd.intact.is_empty() => {
            // Call an intact instance: the answer must be right.
            let h = *rng.pick(&fd.intact);
            let x = rng.next_u32() as i32;
            let (name, params, want) = match rng.below(4) {
                0 => ("a", vec![Value::i32(x)], Some(vec![Value::i32(x.wrapping_add(1))])),
                1 => ("b", vec![], Some(vec![Value::i64(-1)])),
                2 => ("a", vec![Value::i64(x as i64)], None),
                _ => ("nope", vec![], None),
            };
            let (got, results, o) = instance_op(&fd.dev, ioctl::CALL, h, name, &params, message);
            check_answer(ioctl::CALL, got, sent.elapsed())?;
            match &want {
                Some(want) if got == Ok(()) && o == Some(Outcome::Returned) => {
                    expect(&results == want, || {
                        format!("CALL {name} on {h}: {results:?}, want {want:?}")
                    })?;
                    *calls_checked += 1;
                }
                None if got == Ok(()) => {
                    expect(o == Some(Outcome::BadCall), || format!("bad CALL {name} on {h}: {o:?}"))?
                }
                _ => {}
            }
            if name == "a" && want.is_some() && got == Ok(()) {
                // The starter has no "a": either the answer above or BadCall.
                expect(matches!(o, Some(Outcome::Returned | Outcome::BadCall)), || {
                    format!("CALL a on {h}: {o:?}")
                })?;
            }
        }
        (7, Some(_)) => {
            // GET, REGISTER or DESTROY on any handle, known or not.
            let pool = fd.intact.clone();
            let h = if pool.is_empty() || rng.one_in(4) {
                // Handles no session can hold (random requests on this fd
                // may have made instances the pool does not know).
                *rng.pick(&[0, 10_001, 65_536, u32::MAX])
            } else {
                *rng.pick(&pool)
            };
            let cmd = *rng.pick(&[ioctl::GET, ioctl::REGISTER, ioctl::DESTROY]);
            let name = *rng.pick(&["g", "a", "memory", "m", "x"]);
            let (got, _, _) = instance_op(&fd.dev, cmd, h, name, &[], message);
            check_answer(cmd, got, sent.elapsed())?;
            let live = pool.contains(&h);
            expect(live || got == Err(ENOENT), || {
                format!("op {cmd:#x} on unknown handle {h}: {got:?}")
            })?;
            if cmd == ioctl::DESTROY && got == Ok(()) {
                fd.intact.retain(|&x| x != h);
            }
        }
        _ => {
            // Anything at all on this fd (it may be a session or not).
            random_request(rng, &fd.dev, mem)?.ok();
        }
    }
    Ok(())
}

fn instance_op(
    dev: &RawDevice,
    cmd: u32,
    handle: u32,
    name: &str,
    params: &[Value],
    message: UserBuf,
) -> (Result<(), i32>, Vec<Value>, Option<Outcome>) {
    let mut results = vec![Value::default(); 4];
    let mut r = InstanceRequest::new(handle);
    r.name = buf(name.as_bytes());
    r.params = UserBuf {
        ptr: params.as_ptr() as u64,
        len: std::mem::size_of_val(params) as u64,
    };
    r.results = UserBuf {
        ptr: results.as_mut_ptr() as u64,
        len: std::mem::size_of_val(&results[..]) as u64,
    };
    r.reply.message = message;
    let got = send(dev, cmd, &mut r);
    results.truncate((r.results_count as usize).min(4));
    (got, results, outcome(&r.reply))
}

/// After the stress: nothing is left running, a normal program runs on
/// both engines, and the kernel log holds no panic or warning from us.
fn aftermath() -> Result<(), String> {
    let mut l = ListRequest::new(UserBuf::NONE);
    let dev = RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    send(&dev, ioctl::LIST, &mut l).map_err(|e| format!("LIST: errno {e}"))?;
    expect(l.running == 0, || {
        format!("{} programs still listed after the stress", l.running)
    })?;
    for engine in ["native", "pulley"] {
        let out = Command::new("kwasm")
            .args([
                "run",
                "--engine",
                engine,
                "/share/kwasm/examples/hello.wasm",
                "after-fuzz",
            ])
            .output()
            .map_err(|e| format!("cannot run kwasm: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        expect(
            out.status.success() && stdout.contains("argv[1] = \"after-fuzz\""),
            || {
                format!(
                    "hello on {engine} after the stress: {} {stdout} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            },
        )?;
    }
    let bad = crate::kernel_log_problems(&["kwasm: panic", "WARNING:", "BUG:", "Oops", "Call Trace"])?;
    expect(bad.is_empty(), || format!("kernel log after the stress: {bad:?}"))
}

/// `--fuzz SEED COUNT`: the stress alone, for replaying a failure.
pub fn replay(seed: u64, count: u64) -> std::process::ExitCode {
    let long = Duration::from_secs(3600);
    let r = fuzz_requests(seed, count, long).and_then(|_| fuzz_sessions(seed, count, long));
    match r {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "another Wasmtime version" image is refused by Wasmtime itself
    /// for exactly that reason (checked here on the host, where Pulley runs).
    #[test]
    fn version_patch_hits_the_version_check() {
        let settings = Settings::pulley(false);
        let image = compile(&settings, COMMAND);
        let patched = wasmtime_version_patched(&image).unwrap();
        let engine = wasmtime::Engine::new(&settings.runtime_config(|_| None).unwrap()).unwrap();
        // SAFETY: deserialization stops at the version check, before any
        // code of the image is trusted.
        let err = unsafe { wasmtime::Module::deserialize(&engine, unseal(&patched).unwrap()) }.unwrap_err();
        assert!(format!("{err:?}").contains("incompatible version"), "{err:?}");
        // SAFETY: the intact image, compiled just now with these settings.
        assert!(unsafe { wasmtime::Module::deserialize(&engine, unseal(&image).unwrap()) }.is_ok());
    }
}
