//! Building requests: the engine, arguments and limits every request that
//! runs wasm carries, the RUN request with the buffers it points into
//! (owned together so the pointers stay valid for the ioctl), and the reply
//! read back out.

use anyhow::{bail, Result};
use kwasm_abi::run::{MAX_IMAGE_LEN, MAX_MESSAGE_LEN, MAX_PREOPENS, MAX_STRINGS_COUNT, MAX_STRINGS_LEN};
use kwasm_abi::{EngineSpec, Outcome, RunRequest, UserBuf, Value, WasiArgs};
use kwasm_engine::Settings;

use crate::device::{Device, DeviceError};

/// Room for the module's message (trap text, refusal reason).
pub const MESSAGE_CAPACITY: usize = 16 * 1024;
const _: () = assert!(MESSAGE_CAPACITY as u64 <= MAX_MESSAGE_LEN);

/// Strings as the ABI carries them: each NUL-terminated, back to back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StringList {
    pub bytes: Vec<u8>,
    pub count: u32,
}

impl StringList {
    /// Packs `items`; `what` names the list in errors ("arguments").
    pub fn pack<S: AsRef<str>>(what: &str, items: &[S]) -> Result<StringList> {
        let mut bytes = Vec::new();
        for s in items {
            let s = s.as_ref();
            if s.contains('\0') {
                bail!("{what} cannot contain NUL bytes: {s:?}");
            }
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
        }
        if bytes.len() as u64 > MAX_STRINGS_LEN {
            bail!(
                "{what} take {} bytes; kwasm.ko accepts at most {MAX_STRINGS_LEN}",
                bytes.len()
            );
        }
        if items.len() as u64 > MAX_STRINGS_COUNT as u64 {
            bail!("{} {what}; kwasm.ko accepts at most {MAX_STRINGS_COUNT}", items.len());
        }
        Ok(StringList {
            bytes,
            count: items.len() as u32,
        })
    }
}

/// Limits of one run, as the command line gives them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: Option<u64>,
    pub timeout_ns: u64,
    pub max_memory: u64,
}

impl Limits {
    pub fn abi(&self) -> kwasm_abi::Limits {
        kwasm_abi::Limits {
            fuel: self.fuel.unwrap_or(0),
            timeout_ns: self.timeout_ns,
            max_memory: self.max_memory,
        }
    }
}

/// The engine an image was compiled for, as the module checks it.
pub fn engine_spec(settings: &Settings, limits: &Limits) -> Result<EngineSpec> {
    if settings.fuel != limits.fuel.is_some() {
        bail!("internal error: the image's fuel metering and --fuel disagree");
    }
    Ok(settings.spec())
}

/// A buffer of the ABI over `v` (null and empty for an empty slice).
pub fn buf<T>(v: &[T]) -> UserBuf {
    if v.is_empty() {
        UserBuf::NONE
    } else {
        UserBuf {
            ptr: v.as_ptr() as u64,
            len: std::mem::size_of_val(v) as u64,
        }
    }
}

/// A buffer of the ABI the module writes into.
pub fn buf_mut<T>(v: &mut [T]) -> UserBuf {
    UserBuf {
        ptr: v.as_mut_ptr() as u64,
        len: std::mem::size_of_val(v) as u64,
    }
}

/// Refuses an image the module would refuse for its size, with a message.
pub fn check_image_size(image: &[u8]) -> Result<()> {
    if image.len() as u64 > MAX_IMAGE_LEN {
        bail!(
            "the compiled module is {} MiB; kwasm.ko accepts at most {} MiB",
            image.len() >> 20,
            MAX_IMAGE_LEN >> 20
        );
    }
    Ok(())
}

/// What a program sees of the world: its arguments, its environment, the
/// directories it may use and the sockets it listens on.
#[derive(Debug, Default)]
pub struct Wasi {
    pub args: StringList,
    pub env: StringList,
    pub dirs: Preopens,
    pub listeners: Listeners,
}

impl Wasi {
    /// The ABI's view, pointing into `self`'s buffers.
    pub fn abi(&self) -> WasiArgs {
        WasiArgs {
            args: buf(&self.args.bytes),
            env: buf(&self.env.bytes),
            args_count: self.args.count,
            env_count: self.env.count,
            preopen_fds: buf(bytes_of_u32s(&self.dirs.fds)),
            preopen_names: buf(&self.dirs.names.bytes),
            preopen_count: self.dirs.names.count,
            stdio_terminals: stdio_terminals(),
            listen_fds: buf(bytes_of_u32s(&self.listeners.fds)),
            listen_count: self.listeners.fds.len() as u32,
            reserved: 0,
        }
    }
}

/// Which of this process's fds 0–2 are terminals (`isatty`).
fn stdio_terminals() -> u32 {
    (0..3)
        // SAFETY: isatty only inspects the fd number it is given.
        .filter(|&fd| unsafe { libc::isatty(fd) } == 1)
        .fold(0, |bits, fd| bits | 1 << fd)
}

fn bytes_of_u32s(v: &[u32]) -> &[u8] {
    // SAFETY: u32 has no padding and u8 no alignment need; the slice covers
    // exactly the same memory, borrowed for as long as `v`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

/// Preopened directories (`--dir HOST_DIR[::GUEST_PATH]`, wasmtime's
/// syntax): opened here, with the caller's own permissions, and handed to
/// the module as fds; the program reaches nothing outside them.
#[derive(Debug, Default)]
pub struct Preopens {
    /// The directories, open while the request runs (`fds` are theirs).
    _open: Vec<std::fs::File>,
    fds: Vec<u32>,
    names: StringList,
}

impl Preopens {
    /// Opens each `HOST_DIR[::GUEST_PATH]` (GUEST_PATH defaults to HOST_DIR).
    pub fn open(specs: &[String]) -> Result<Preopens> {
        use std::os::fd::AsRawFd;
        if specs.len() as u64 > u64::from(MAX_PREOPENS) {
            bail!("{} --dir flags; kwasm.ko accepts at most {MAX_PREOPENS}", specs.len());
        }
        let mut files = Vec::new();
        let mut names = Vec::new();
        for spec in specs {
            let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
            if host.is_empty() || guest.is_empty() {
                bail!("--dir `{spec}`: use --dir HOST_DIR or --dir HOST_DIR::GUEST_PATH");
            }
            let file = std::fs::File::open(host).map_err(|e| anyhow::anyhow!("--dir `{host}`: {e}"))?;
            if !file.metadata().map_err(|e| anyhow::anyhow!("--dir `{host}`: {e}"))?.is_dir() {
                bail!("--dir `{host}`: not a directory");
            }
            files.push(file);
            names.push(guest.to_string());
        }
        let fds = files.iter().map(|f| f.as_raw_fd() as u32).collect();
        Ok(Preopens {
            _open: files,
            fds,
            names: StringList::pack("--dir guest paths", &names)?,
        })
    }
}

/// Listening TCP sockets (`--tcplisten ADDR:PORT`, wasmtime's flag): bound
/// and listening here, as this process, and handed to the program as fds
/// 3, 4, ... (before its directories); it accepts connections on them.
#[derive(Debug, Default)]
pub struct Listeners {
    /// The sockets, open while the request runs (`fds` are theirs).
    _open: Vec<std::net::TcpListener>,
    fds: Vec<u32>,
}

impl Listeners {
    pub fn bind(addrs: &[String]) -> Result<Listeners> {
        use std::os::fd::AsRawFd;
        if addrs.len() as u64 > u64::from(MAX_PREOPENS) {
            bail!("{} --tcplisten flags; kwasm.ko accepts at most {MAX_PREOPENS}", addrs.len());
        }
        let sockets = addrs
            .iter()
            .map(|a| std::net::TcpListener::bind(a.as_str()).map_err(|e| anyhow::anyhow!("--tcplisten `{a}`: {e}")))
            .collect::<Result<Vec<_>>>()?;
        let fds = sockets.iter().map(|s| s.as_raw_fd() as u32).collect();
        Ok(Listeners { _open: sockets, fds })
    }
}

/// Room for the module's message.
pub fn message_room() -> Vec<u8> {
    vec![0; MESSAGE_CAPACITY]
}

/// Everything one RUN ioctl reads and writes.
pub struct Run {
    engine: EngineSpec,
    limits: Limits,
    image: Vec<u8>,
    wasi: Wasi,
    message: Vec<u8>,
}

/// What the module answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The raw outcome (see [`Outcome::from_u32`]).
    pub outcome: u32,
    pub exit_code: i32,
    pub results: Vec<Value>,
    pub message: String,
}

impl Reply {
    pub fn outcome(&self) -> Option<Outcome> {
        Outcome::from_u32(self.outcome)
    }

    /// Reads the module's answer out of `reply` and the message buffer,
    /// never trusting its length beyond the buffer's size.
    pub fn read(reply: &kwasm_abi::Reply, message: &[u8], results: Vec<Value>) -> Reply {
        let m = (reply.message_len as usize).min(message.len());
        Reply {
            outcome: reply.outcome,
            exit_code: reply.exit_code,
            results,
            message: String::from_utf8_lossy(&message[..m]).into_owned(),
        }
    }
}

impl Run {
    pub fn new(settings: &Settings, image: Vec<u8>, wasi: Wasi, limits: Limits) -> Result<Run> {
        check_image_size(&image)?;
        Ok(Run {
            engine: engine_spec(settings, &limits)?,
            limits,
            image,
            wasi,
            message: message_room(),
        })
    }

    /// The request, pointing into `self`'s buffers. Valid while `self` is
    /// neither moved nor changed.
    pub fn request(&mut self) -> RunRequest {
        let mut req = RunRequest::new();
        req.engine = self.engine;
        req.image = buf(&self.image);
        req.wasi = self.wasi.abi();
        req.limits = self.limits.abi();
        req.reply.message = buf_mut(&mut self.message);
        req
    }

    /// Runs the program in the kernel; blocks until it ends.
    pub fn submit(&mut self, device: &Device) -> Result<Reply, DeviceError> {
        let mut req = self.request();
        // SAFETY: `req` points only into buffers `self` owns, with their
        // exact lengths; `self` is borrowed mutably (neither moved, freed
        // nor touched) until the ioctl returns. Inputs are initialized;
        // `message` is writable.
        unsafe { device.run(&mut req)? };
        Ok(Reply::read(&req.reply, &self.message, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwasm_abi::run::ENGINE_FLAG_FUEL;

    #[test]
    fn strings_are_packed_nul_terminated_with_a_count() {
        let l = StringList::pack("arguments", &["hello.wasm", "", "a b"]).unwrap();
        assert_eq!(l.bytes, b"hello.wasm\0\0a b\0");
        assert_eq!(l.count, 3);
        let empty = StringList::pack::<&str>("arguments", &[]).unwrap();
        assert_eq!((empty.bytes.len(), empty.count), (0, 0));
        let utf8 = StringList::pack("environment variables", &["K=é"]).unwrap();
        assert_eq!(utf8.bytes, "K=é\0".as_bytes());
    }

    #[test]
    fn string_lists_over_the_limits_are_refused() {
        let e = StringList::pack("arguments", &["a\0b"]).unwrap_err().to_string();
        assert!(e.contains("NUL"), "{e}");
        let big = vec!["x".repeat(1024); 1024];
        let e = StringList::pack("arguments", &big).unwrap_err().to_string();
        assert!(e.contains("at most 1048576"), "{e}");
        let many = vec![""; MAX_STRINGS_COUNT as usize + 1];
        let e = StringList::pack("arguments", &many).unwrap_err().to_string();
        assert!(e.contains("at most 65536"), "{e}");
    }

    fn sample(settings: &Settings, fuel: Option<u64>) -> Result<Run> {
        Run::new(
            settings,
            b"image".to_vec(),
            Wasi {
                args: StringList::pack("arguments", &["app.wasm", "x"]).unwrap(),
                env: StringList::pack("environment variables", &["A=1"]).unwrap(),
                dirs: Preopens::open(&["/".to_string(), "/tmp::sandbox".to_string()]).unwrap(),
                listeners: Listeners::bind(&["127.0.0.1:0".to_string()]).unwrap(),
            },
            Limits {
                fuel,
                timeout_ns: 7,
                max_memory: 1 << 20,
            },
        )
    }

    #[test]
    fn the_request_points_at_the_buffers() {
        let settings = Settings::pulley(true);
        let mut run = sample(&settings, Some(1000)).unwrap();
        let req = run.request();
        assert_eq!(req.header, RunRequest::new().header);
        assert_eq!(req.engine.engine, kwasm_abi::ENGINE_PULLEY);
        assert_eq!(req.engine.flags, ENGINE_FLAG_FUEL);
        let l = req.limits;
        assert_eq!((l.fuel, l.timeout_ns, l.max_memory), (1000, 7, 1 << 20));
        assert_eq!(req.engine.fingerprint, settings.fingerprint());
        assert_eq!(req.engine.cpu_features, 0);
        assert_eq!((req.image.ptr, req.image.len), (run.image.as_ptr() as u64, 5));
        assert_eq!((req.wasi.args.len, req.wasi.args_count), (11, 2));
        assert_eq!((req.wasi.env.len, req.wasi.env_count), (4, 1));
        assert_eq!((req.wasi.preopen_count, req.wasi.preopen_fds.len), (2, 8));
        assert_eq!(req.wasi.preopen_names.len, b"/\0sandbox\0".len() as u64);
        assert_eq!((req.wasi.listen_count, req.wasi.listen_fds.len), (1, 4));
        assert_eq!(req.reply.message.len, MESSAGE_CAPACITY as u64);
        assert_eq!(req.reply.outcome, Outcome::NotRun as u32);
        assert_eq!(req.check(), Ok(()), "the module's own validation accepts it");
        // No environment: a null, empty buffer.
        let mut plain = Run::new(
            &Settings::pulley(false),
            vec![1],
            Wasi::default(),
            Limits::default(),
        )
        .unwrap();
        let req = plain.request();
        assert_eq!((req.wasi.env, req.engine.flags), (UserBuf::NONE, 0));
        assert_eq!((req.wasi.preopen_fds, req.wasi.preopen_count), (UserBuf::NONE, 0));
    }

    #[test]
    fn dirs_are_opened_here_and_checked() {
        let e = Preopens::open(&["/nonexistent-kwasm-dir".into()]).unwrap_err().to_string();
        assert!(e.contains("--dir `/nonexistent-kwasm-dir`"), "{e}");
        let e = Preopens::open(&["/etc/hostname".into()]).unwrap_err().to_string();
        assert!(e.contains("not a directory") || e.contains("No such file"), "{e}");
        let e = Preopens::open(&["/tmp::".into()]).unwrap_err().to_string();
        assert!(e.contains("HOST_DIR::GUEST_PATH"), "{e}");
        let p = Preopens::open(&["/tmp".into(), "/::root".into()]).unwrap();
        assert_eq!(p.names.bytes, b"/tmp\0root\0");
    }

    #[test]
    fn listeners_are_bound_here() {
        let l = Listeners::bind(&["127.0.0.1:0".into()]).unwrap();
        assert_eq!(l.fds.len(), 1);
        let e = Listeners::bind(&["not an address".into()]).unwrap_err().to_string();
        assert!(e.contains("--tcplisten `not an address`"), "{e}");
    }

    #[test]
    fn fuel_must_match_the_image() {
        assert!(sample(&Settings::pulley(false), Some(1)).is_err());
        assert!(sample(&Settings::pulley(true), None).is_err());
    }

    #[test]
    fn replies_are_clamped_to_the_buffers() {
        let mut message = vec![0u8; 8];
        message[..5].copy_from_slice(b"trap!");
        let mut reply = kwasm_abi::Reply {
            outcome: Outcome::Trapped as u32,
            message_len: 5,
            ..Default::default()
        };
        let r = Reply::read(&reply, &message, vec![Value::i64(9)]);
        assert_eq!(
            (r.outcome(), r.results.len(), r.message.as_str()),
            (Some(Outcome::Trapped), 1, "trap!")
        );
        reply.message_len = u32::MAX;
        assert_eq!(Reply::read(&reply, &message, vec![]).message.len(), 8);
    }
}
