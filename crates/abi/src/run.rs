//! The RUN request: one wasm program, run to completion in the caller's
//! context, inside one ioctl.

use crate::{Error, RequestHeader};

/// Native x86-64 code compiled by Cranelift.
pub const ENGINE_NATIVE: u32 = 1;
/// Wasmtime's Pulley interpreter: no executable memory at all.
pub const ENGINE_PULLEY: u32 = 2;

/// `RunRequest::flags`: the image meters fuel; `fuel` is the budget.
pub const RUN_FLAG_FUEL: u32 = 1 << 0;
/// Every flag this ABI defines; the module refuses others.
pub const RUN_FLAGS_ALL: u32 = RUN_FLAG_FUEL;

/// Limits the module enforces on a request before reading its buffers.
pub const MAX_IMAGE_LEN: u64 = 256 << 20;
/// Total bytes of argument strings, and of environment strings.
pub const MAX_STRINGS_LEN: u64 = 1 << 20;
/// Most strings in `args` or `env`.
pub const MAX_STRINGS_COUNT: u32 = 64 * 1024;
/// Longest export name for `invoke`.
pub const MAX_INVOKE_LEN: u64 = 4096;
/// Most parameters or results of an invoked function.
pub const MAX_VALUES: u64 = 64;
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

/// `Value::kind`
pub const VALUE_I32: u32 = 0;
pub const VALUE_I64: u32 = 1;
pub const VALUE_F32: u32 = 2;
pub const VALUE_F64: u32 = 3;

/// A wasm value crossing the ABI: its type and its bits (floats as their
/// IEEE bit patterns, so NaN payloads survive).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Value {
    pub kind: u32,
    pub reserved: u32,
    pub bits: u64,
}

/// How a run ended (`RunRequest::outcome`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not run (the value before the module writes one).
    NotRun = 0,
    /// The program exited (`proc_exit`, or `_start` returned: code 0).
    Exited = 1,
    /// The invoked function returned; `results` holds its results.
    Returned = 2,
    /// A wasm trap; `message` says which and where.
    Trapped = 3,
    /// A signal ended the run (Ctrl-C, kill).
    Interrupted = 4,
    /// `timeout_ns` ran out.
    TimedOut = 5,
    /// The fuel budget ran out.
    OutOfFuel = 6,
    /// The image was refused (corrupt, another engine, missing CPU
    /// features); `message` says why. Nothing ran.
    LoadFailed = 7,
    /// Instantiation failed (unsupported import, start function trap,
    /// memory limit); `message` says why.
    InstantiateFailed = 8,
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
            _ => return None,
        })
    }
}

/// `ioctl(fd, RUN, &mut RunRequest)`: run a precompiled wasm program.
///
/// The ioctl blocks until the program ends and returns 0 whenever the
/// request itself was well formed, whatever the program did; `outcome`,
/// `exit_code`, `results` and `message` say what happened. It fails with an
/// errno only for a malformed request (sizes, flags, limits, pointers).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRequest {
    pub header: RequestHeader,
    /// In: [`ENGINE_NATIVE`] or [`ENGINE_PULLEY`].
    pub engine: u32,
    /// In: `RUN_FLAG_*`.
    pub flags: u32,
    /// In: the engine fingerprint the image was compiled with
    /// (`kwasm_engine::Settings::fingerprint`).
    pub fingerprint: u64,
    /// In: the CPU features the image's code uses (`kwasm_engine` bits).
    pub cpu_features: u64,
    /// In: the precompiled module.
    pub image: UserBuf,
    /// In: `args_count` NUL-terminated strings back to back (argv[0] first).
    pub args: UserBuf,
    /// In: `env_count` NUL-terminated `KEY=VALUE` strings back to back.
    pub env: UserBuf,
    pub args_count: u32,
    pub env_count: u32,
    /// In: name of the export to call (UTF-8, no NUL); empty runs the WASI
    /// command (`_start`).
    pub invoke: UserBuf,
    /// In: parameters of `invoke`, an array of [`Value`].
    pub params: UserBuf,
    /// In: fuel budget when [`RUN_FLAG_FUEL`] is set.
    pub fuel: u64,
    /// In: wall-clock limit in nanoseconds; 0 for none.
    pub timeout_ns: u64,
    /// In: cap on linear memory, in bytes; 0 for the module's own maximum.
    pub max_memory: u64,
    /// In: room for results (array of [`Value`]); out: `results_count` filled.
    pub results: UserBuf,
    /// In: room for a message; out: `message_len` bytes of UTF-8 written.
    pub message: UserBuf,
    /// Out: an [`Outcome`].
    pub outcome: u32,
    /// Out: the exit code when `outcome` is [`Outcome::Exited`].
    pub exit_code: i32,
    pub results_count: u32,
    pub message_len: u32,
}

impl RunRequest {
    /// A request with the header filled and everything else empty.
    pub const fn new() -> RunRequest {
        let none = UserBuf { ptr: 0, len: 0 };
        RunRequest {
            header: RequestHeader::for_request::<RunRequest>(),
            engine: 0,
            flags: 0,
            fingerprint: 0,
            cpu_features: 0,
            image: none,
            args: none,
            env: none,
            args_count: 0,
            env_count: 0,
            invoke: none,
            params: none,
            fuel: 0,
            timeout_ns: 0,
            max_memory: 0,
            results: none,
            message: none,
            outcome: Outcome::NotRun as u32,
            exit_code: 0,
            results_count: 0,
            message_len: 0,
        }
    }
}

impl RunRequest {
    /// Checks every field the module reads against this ABI's rules and
    /// limits, before any buffer is copied.
    pub const fn check(&self) -> Result<(), Error> {
        if self.engine != ENGINE_NATIVE && self.engine != ENGINE_PULLEY {
            return Err(Error::Unsupported);
        }
        if self.flags & !RUN_FLAGS_ALL != 0 {
            return Err(Error::Unsupported);
        }
        if self.image.len == 0 {
            return Err(Error::Malformed);
        }
        if self.params.len % VALUE_SIZE != 0 || self.results.len % VALUE_SIZE != 0 {
            return Err(Error::Malformed);
        }
        if self.args.len < self.args_count as u64 || self.env.len < self.env_count as u64 {
            // Each string needs at least its NUL.
            return Err(Error::Malformed);
        }
        if self.image.len > MAX_IMAGE_LEN
            || self.args.len > MAX_STRINGS_LEN
            || self.env.len > MAX_STRINGS_LEN
            || self.args_count > MAX_STRINGS_COUNT
            || self.env_count > MAX_STRINGS_COUNT
            || self.invoke.len > MAX_INVOKE_LEN
            || self.params.len > MAX_VALUES * VALUE_SIZE
        {
            return Err(Error::Oversized);
        }
        Ok(())
    }
}

/// Size of one [`Value`] in a buffer.
pub const VALUE_SIZE: u64 = core::mem::size_of::<Value>() as u64;

impl Default for RunRequest {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts_are_pinned() {
        assert_eq!(size_of::<UserBuf>(), 16);
        assert_eq!(size_of::<Value>(), 16);
        assert_eq!(size_of::<RunRequest>(), 192);
        assert_eq!(offset_of!(RunRequest, engine), 8);
        assert_eq!(offset_of!(RunRequest, fingerprint), 16);
        assert_eq!(offset_of!(RunRequest, cpu_features), 24);
        assert_eq!(offset_of!(RunRequest, image), 32);
        assert_eq!(offset_of!(RunRequest, args), 48);
        assert_eq!(offset_of!(RunRequest, env), 64);
        assert_eq!(offset_of!(RunRequest, args_count), 80);
        assert_eq!(offset_of!(RunRequest, env_count), 84);
        assert_eq!(offset_of!(RunRequest, invoke), 88);
        assert_eq!(offset_of!(RunRequest, params), 104);
        assert_eq!(offset_of!(RunRequest, fuel), 120);
        assert_eq!(offset_of!(RunRequest, timeout_ns), 128);
        assert_eq!(offset_of!(RunRequest, max_memory), 136);
        assert_eq!(offset_of!(RunRequest, results), 144);
        assert_eq!(offset_of!(RunRequest, message), 160);
        assert_eq!(offset_of!(RunRequest, outcome), 176);
        assert_eq!(offset_of!(RunRequest, exit_code), 180);
        assert_eq!(offset_of!(RunRequest, results_count), 184);
        assert_eq!(offset_of!(RunRequest, message_len), 188);
    }

    fn valid() -> RunRequest {
        let mut r = RunRequest::new();
        r.engine = ENGINE_PULLEY;
        r.image = UserBuf { ptr: 0x1000, len: 100 };
        r.args = UserBuf { ptr: 0x2000, len: 5 };
        r.args_count = 1;
        r
    }

    #[test]
    fn check_accepts_a_plain_request() {
        assert_eq!(valid().check(), Ok(()));
        let mut r = valid();
        r.flags = RUN_FLAG_FUEL;
        r.engine = ENGINE_NATIVE;
        r.params.len = MAX_VALUES * VALUE_SIZE;
        r.results.len = 1000 * VALUE_SIZE; // results are clamped, not refused
        assert_eq!(r.check(), Ok(()));
    }

    #[test]
    fn check_refuses_each_bad_field() {
        let cases: [(fn(&mut RunRequest), Error); 11] = [
            (|r| r.engine = 0, Error::Unsupported),
            (|r| r.engine = 3, Error::Unsupported),
            (|r| r.flags = 1 << 5, Error::Unsupported),
            (|r| r.image.len = 0, Error::Malformed),
            (|r| r.params.len = 17, Error::Malformed),
            (|r| r.results.len = 8, Error::Malformed),
            (|r| r.args_count = 6, Error::Malformed),
            (|r| r.image.len = MAX_IMAGE_LEN + 1, Error::Oversized),
            (
                |r| {
                    r.env = UserBuf {
                        ptr: 1,
                        len: MAX_STRINGS_LEN + 1,
                    }
                },
                Error::Oversized,
            ),
            (|r| r.invoke.len = MAX_INVOKE_LEN + 1, Error::Oversized),
            (|r| r.params.len = (MAX_VALUES + 1) * VALUE_SIZE, Error::Oversized),
        ];
        for (i, (mutate, want)) in cases.iter().enumerate() {
            let mut r = valid();
            mutate(&mut r);
            assert_eq!(r.check(), Err(*want), "case {i}");
        }
    }

    #[test]
    fn outcomes_round_trip() {
        for v in 0..9 {
            assert_eq!(Outcome::from_u32(v).map(|o| o as u32), Some(v));
        }
        assert_eq!(Outcome::from_u32(9), None);
    }
}
