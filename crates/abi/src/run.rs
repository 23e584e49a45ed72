//! The RUN request (one WASI command, run to completion inside one ioctl)
//! and the pieces every program-running request shares: the engine an
//! image was compiled for, WASI arguments, limits, values and the reply.

use crate::{Error, RequestHeader};

/// Native x86-64 code compiled by Cranelift.
pub const ENGINE_NATIVE: u32 = 1;
/// Wasmtime's Pulley interpreter: no executable memory at all.
pub const ENGINE_PULLEY: u32 = 2;

/// `EngineSpec::flags`: the image meters fuel; `Limits::fuel` is the budget.
pub const ENGINE_FLAG_FUEL: u32 = 1 << 0;
/// `EngineSpec::flags`: native code with explicit bounds checks on every
/// linear-memory access (no guard region). Without it, native code relies
/// on the module's guard regions and fault handling; Pulley images always
/// check explicitly and never set it.
pub const ENGINE_FLAG_EXPLICIT_BOUNDS: u32 = 1 << 1;
/// Every flag this ABI defines; the module refuses others.
pub const ENGINE_FLAGS_ALL: u32 = ENGINE_FLAG_FUEL | ENGINE_FLAG_EXPLICIT_BOUNDS;

/// Limits the module enforces on a request before reading its buffers.
pub const MAX_IMAGE_LEN: u64 = 256 << 20;
/// Total bytes of argument strings, and of environment strings.
pub const MAX_STRINGS_LEN: u64 = 1 << 20;
/// Most strings in `args` or `env`.
pub const MAX_STRINGS_COUNT: u32 = 64 * 1024;
/// Most preopened directories (`kwasm run --dir`), and most listening
/// sockets (`--tcplisten`).
pub const MAX_PREOPENS: u32 = 256;
/// Longest export or registration name.
pub const MAX_NAME_LEN: u64 = 4096;
/// Most parameters of a called function.
pub const MAX_VALUES: u64 = 1024;
/// The module writes at most this many bytes of message.
pub const MAX_MESSAGE_LEN: u64 = 64 * 1024;

/// A buffer in the caller's memory. `ptr` is a user address (0 with len 0
/// for "none").
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserBuf {
    pub ptr: u64,
    pub len: u64,
}

impl UserBuf {
    pub const NONE: UserBuf = UserBuf { ptr: 0, len: 0 };
}

/// Which engine an image was compiled for, and with what; the module
/// refuses an image whose fingerprint is not the one it computes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineSpec {
    /// [`ENGINE_NATIVE`] or [`ENGINE_PULLEY`].
    pub engine: u32,
    /// `ENGINE_FLAG_*`.
    pub flags: u32,
    /// `kwasm_engine::Settings::fingerprint` of the compiling side.
    pub fingerprint: u64,
    /// The CPU features the image's code uses (`kwasm_engine` bits).
    pub cpu_features: u64,
}

impl EngineSpec {
    pub const fn check(&self) -> Result<(), Error> {
        if self.engine != ENGINE_NATIVE && self.engine != ENGINE_PULLEY {
            return Err(Error::Unsupported);
        }
        if self.flags & !ENGINE_FLAGS_ALL != 0 {
            return Err(Error::Unsupported);
        }
        Ok(())
    }
}

/// What a WASI program sees as its arguments and environment.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WasiArgs {
    /// `args_count` NUL-terminated strings back to back (argv[0] first).
    pub args: UserBuf,
    /// `env_count` NUL-terminated `KEY=VALUE` strings back to back.
    pub env: UserBuf,
    pub args_count: u32,
    pub env_count: u32,
    /// `preopen_count` u32 fds of the caller, each an open directory the
    /// program gets as a preopen (fds 3, 4, ... in this order). The module
    /// takes its own reference on each file: the caller may close them
    /// once the request returns.
    pub preopen_fds: UserBuf,
    /// `preopen_count` NUL-terminated guest paths back to back, one per fd.
    pub preopen_names: UserBuf,
    pub preopen_count: u32,
    /// `STDIO_TERMINAL` bit `fd` set: the caller's fd 0, 1 or 2 is a
    /// terminal (`isatty`), so the program is told its stream is one.
    pub stdio_terminals: u32,
    /// `listen_count` u32 fds of the caller, each a listening socket the
    /// program gets (`--tcplisten`): fds 3, 4, ... before the preopened
    /// directories, as `wasmtime run` numbers them.
    pub listen_fds: UserBuf,
    pub listen_count: u32,
    pub reserved: u32,
}

/// Bits of `WasiArgs::stdio_terminals`: one per standard stream.
pub const STDIO_TERMINALS_ALL: u32 = 0b111;

impl WasiArgs {
    pub const fn check(&self) -> Result<(), Error> {
        if self.args.len < self.args_count as u64 || self.env.len < self.env_count as u64 {
            // Each string needs at least its NUL.
            return Err(Error::Malformed);
        }
        if self.preopen_fds.len != self.preopen_count as u64 * 4
            || self.preopen_names.len < self.preopen_count as u64
            || self.listen_fds.len != self.listen_count as u64 * 4
            || self.stdio_terminals & !STDIO_TERMINALS_ALL != 0
            || self.reserved != 0
        {
            return Err(Error::Malformed);
        }
        if self.args.len > MAX_STRINGS_LEN
            || self.env.len > MAX_STRINGS_LEN
            || self.preopen_names.len > MAX_STRINGS_LEN
            || self.args_count > MAX_STRINGS_COUNT
            || self.env_count > MAX_STRINGS_COUNT
            || self.preopen_count > MAX_PREOPENS
            || self.listen_count > MAX_PREOPENS
        {
            return Err(Error::Oversized);
        }
        Ok(())
    }
}

/// Limits on running wasm; the module's parameters may tighten them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Fuel budget when [`ENGINE_FLAG_FUEL`] is set.
    pub fuel: u64,
    /// Wall-clock limit in nanoseconds (for RUN, the whole run; in a
    /// session, each instantiation and each call); 0 for none.
    pub timeout_ns: u64,
    /// Cap on each linear memory, in bytes; 0 for the module's own maximum.
    pub max_memory: u64,
}

/// How a request that ran wasm ended: every such request ends with one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reply {
    /// In: room for a message; out: `message_len` bytes of UTF-8 written.
    pub message: UserBuf,
    /// Out: an [`Outcome`].
    pub outcome: u32,
    /// Out: the exit code when `outcome` is [`Outcome::Exited`].
    pub exit_code: i32,
    pub message_len: u32,
    pub reserved: u32,
}

/// `Value::kind`
pub const VALUE_I32: u32 = 0;
pub const VALUE_I64: u32 = 1;
pub const VALUE_F32: u32 = 2;
pub const VALUE_F64: u32 = 3;
pub const VALUE_V128: u32 = 4;
pub const VALUE_FUNCREF: u32 = 5;
pub const VALUE_EXTERNREF: u32 = 6;

/// `Value::flags` of a reference: set for a non-null one.
pub const VALUE_FLAG_NONNULL: u32 = 1 << 0;

/// A wasm value crossing the ABI: its type and its bits (floats as their
/// IEEE bit patterns, so NaN payloads survive; a v128 as `bits` = low and
/// `bits_high` = high 64 bits). A reference is null or not
/// ([`VALUE_FLAG_NONNULL`]); an externref's payload is `bits`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Value {
    pub kind: u32,
    pub flags: u32,
    pub bits: u64,
    pub bits_high: u64,
}

impl Value {
    pub const fn i32(v: i32) -> Value {
        Value::scalar(VALUE_I32, v as u32 as u64)
    }
    pub const fn i64(v: i64) -> Value {
        Value::scalar(VALUE_I64, v as u64)
    }
    pub const fn f32_bits(v: u32) -> Value {
        Value::scalar(VALUE_F32, v as u64)
    }
    pub const fn f64_bits(v: u64) -> Value {
        Value::scalar(VALUE_F64, v)
    }
    pub const fn v128(v: u128) -> Value {
        Value {
            kind: VALUE_V128,
            flags: 0,
            bits: v as u64,
            bits_high: (v >> 64) as u64,
        }
    }
    const fn scalar(kind: u32, bits: u64) -> Value {
        Value {
            kind,
            flags: 0,
            bits,
            bits_high: 0,
        }
    }
    pub const fn v128_bits(&self) -> u128 {
        (self.bits_high as u128) << 64 | self.bits as u128
    }
    pub const fn is_null(&self) -> bool {
        self.flags & VALUE_FLAG_NONNULL == 0
    }
}

/// Size of one [`Value`] in a buffer.
pub const VALUE_SIZE: u64 = core::mem::size_of::<Value>() as u64;

/// How a request that ran wasm ended ([`Reply::outcome`]).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not run (the value before the module writes one).
    NotRun = 0,
    /// The program exited (`proc_exit`, or `_start` returned: code 0).
    Exited = 1,
    /// The call returned (its results are written), or the instance was
    /// created (its start function, if any, returned).
    Returned = 2,
    /// A wasm trap; `message` says which and where.
    Trapped = 3,
    /// A signal ended the run (Ctrl-C, kill).
    Interrupted = 4,
    /// The time limit ran out.
    TimedOut = 5,
    /// The fuel budget ran out.
    OutOfFuel = 6,
    /// The image was refused (corrupt, another engine, missing CPU
    /// features); `message` says why. Nothing ran.
    LoadFailed = 7,
    /// Instantiation failed (unsupported or unknown import, incompatible
    /// import type, memory limit); `message` says why. Nothing ran.
    InstantiateFailed = 8,
    /// The instance has no such export, or not of that kind, or the
    /// values do not fit its type; `message` says which. Nothing ran.
    BadCall = 9,
}

impl Outcome {
    pub const fn from_u32(v: u32) -> Option<Outcome> {
        Some(match v {
            0 => Outcome::NotRun,
            1 => Outcome::Exited,
            2 => Outcome::Returned,
            3 => Outcome::Trapped,
            4 => Outcome::Interrupted,
            5 => Outcome::TimedOut,
            6 => Outcome::OutOfFuel,
            7 => Outcome::LoadFailed,
            8 => Outcome::InstantiateFailed,
            9 => Outcome::BadCall,
            _ => return None,
        })
    }
}

/// `ioctl(fd, RUN, &mut RunRequest)`: run a precompiled WASI command
/// (`_start`) in the caller's context.
///
/// The ioctl blocks until the program ends and returns 0 whenever the
/// request itself was well formed, whatever the program did; `reply` says
/// what happened. It fails with an errno only for a malformed request
/// (sizes, flags, limits, pointers). Calling one export of a module is a
/// session's work (see [`crate::session`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunRequest {
    pub header: RequestHeader,
    /// In: what the image was compiled for.
    pub engine: EngineSpec,
    /// In: the precompiled module.
    pub image: UserBuf,
    /// In: the program's arguments and environment.
    pub wasi: WasiArgs,
    /// In: limits of the run.
    pub limits: Limits,
    /// In/out: how it ended.
    pub reply: Reply,
}

impl RunRequest {
    /// A request with the header filled and everything else empty.
    pub fn new() -> RunRequest {
        RunRequest {
            header: RequestHeader::for_request::<RunRequest>(),
            ..Default::default()
        }
    }

    /// Checks every field the module reads against this ABI's rules and
    /// limits, before any buffer is copied.
    pub const fn check(&self) -> Result<(), Error> {
        if let Err(e) = self.engine.check() {
            return Err(e);
        }
        if let Err(e) = check_image(self.image) {
            return Err(e);
        }
        self.wasi.check()
    }
}

/// An image buffer: not empty, not above [`MAX_IMAGE_LEN`].
pub const fn check_image(image: UserBuf) -> Result<(), Error> {
    if image.len == 0 {
        Err(Error::Malformed)
    } else if image.len > MAX_IMAGE_LEN {
        Err(Error::Oversized)
    } else {
        Ok(())
    }
}

impl crate::Request for RunRequest {
    fn header(&self) -> &RequestHeader {
        &self.header
    }

    fn check_fields(&self) -> Result<(), Error> {
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts_are_pinned() {
        assert_eq!(size_of::<UserBuf>(), 16);
        assert_eq!(size_of::<Value>(), 24);
        assert_eq!(size_of::<EngineSpec>(), 24);
        assert_eq!(size_of::<WasiArgs>(), 104);
        assert_eq!(size_of::<Limits>(), 24);
        assert_eq!(size_of::<Reply>(), 32);
        assert_eq!(size_of::<RunRequest>(), 208);
        assert_eq!(offset_of!(RunRequest, engine), 8);
        assert_eq!(offset_of!(RunRequest, image), 32);
        assert_eq!(offset_of!(RunRequest, wasi), 48);
        assert_eq!(offset_of!(RunRequest, limits), 152);
        assert_eq!(offset_of!(RunRequest, reply), 176);
        assert_eq!(offset_of!(Reply, outcome), 16);
        assert_eq!(offset_of!(Reply, exit_code), 20);
        assert_eq!(offset_of!(Reply, message_len), 24);
    }

    fn valid() -> RunRequest {
        let mut r = RunRequest::new();
        r.engine.engine = ENGINE_PULLEY;
        r.image = UserBuf { ptr: 0x1000, len: 100 };
        r.wasi.args = UserBuf { ptr: 0x2000, len: 5 };
        r.wasi.args_count = 1;
        r
    }

    #[test]
    fn check_accepts_a_plain_request() {
        assert_eq!(valid().check(), Ok(()));
        let mut r = valid();
        r.engine.flags = ENGINE_FLAG_FUEL;
        r.engine.engine = ENGINE_NATIVE;
        assert_eq!(r.check(), Ok(()));
    }

    #[test]
    fn check_refuses_each_bad_field() {
        type Case = (fn(&mut RunRequest), Error);
        let cases: [Case; 8] = [
            (|r| r.engine.engine = 0, Error::Unsupported),
            (|r| r.engine.engine = 3, Error::Unsupported),
            (|r| r.engine.flags = 1 << 5, Error::Unsupported),
            (|r| r.image.len = 0, Error::Malformed),
            (|r| r.wasi.args_count = 6, Error::Malformed),
            (|r| r.image.len = MAX_IMAGE_LEN + 1, Error::Oversized),
            (
                |r| {
                    r.wasi.env = UserBuf {
                        ptr: 1,
                        len: MAX_STRINGS_LEN + 1,
                    }
                },
                Error::Oversized,
            ),
            (
                |r| {
                    r.wasi.args.len = MAX_STRINGS_LEN;
                    r.wasi.args_count = MAX_STRINGS_COUNT + 1;
                },
                Error::Oversized,
            ),
        ];
        for (i, (mutate, want)) in cases.iter().enumerate() {
            let mut r = valid();
            mutate(&mut r);
            assert_eq!(r.check(), Err(*want), "case {i}");
        }
    }

    #[test]
    fn outcomes_round_trip() {
        for v in 0..10 {
            assert_eq!(Outcome::from_u32(v).map(|o| o as u32), Some(v));
        }
        assert_eq!(Outcome::from_u32(10), None);
    }

    #[test]
    fn v128_values_keep_all_bits() {
        let v = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        assert_eq!(Value::v128(v).v128_bits(), v);
        assert!(Value::default().is_null());
    }
}
