//! Building a RUN request: the buffers it points into, owned together so
//! the pointers stay valid for the ioctl, and the reply read back out.

use anyhow::{bail, Result};
use kwasm_abi::run::{
    MAX_IMAGE_LEN, MAX_INVOKE_LEN, MAX_MESSAGE_LEN, MAX_STRINGS_COUNT, MAX_STRINGS_LEN, MAX_VALUES, RUN_FLAG_FUEL,
};
use kwasm_abi::{Outcome, RunRequest, UserBuf, Value};
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

/// Limits of one run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: Option<u64>,
    pub timeout_ns: u64,
    pub max_memory: u64,
}

/// Everything one RUN ioctl reads and writes.
pub struct Run {
    engine: u32,
    flags: u32,
    fingerprint: u64,
    cpu_features: u64,
    limits: Limits,
    image: Vec<u8>,
    args: StringList,
    env: StringList,
    invoke: String,
    params: Vec<Value>,
    results: Vec<Value>,
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
}

impl Run {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: &Settings,
        image: Vec<u8>,
        args: StringList,
        env: StringList,
        invoke: Option<String>,
        params: Vec<Value>,
        limits: Limits,
    ) -> Result<Run> {
        if settings.fuel != limits.fuel.is_some() {
            bail!("internal error: the image's fuel metering and --fuel disagree");
        }
        if image.len() as u64 > MAX_IMAGE_LEN {
            bail!(
                "the compiled module is {} MiB; kwasm.ko accepts at most {} MiB",
                image.len() >> 20,
                MAX_IMAGE_LEN >> 20
            );
        }
        let invoke = invoke.unwrap_or_default();
        if invoke.len() as u64 > MAX_INVOKE_LEN {
            bail!(
                "--invoke name is {} bytes long; kwasm.ko accepts at most {MAX_INVOKE_LEN}",
                invoke.len()
            );
        }
        if params.len() as u64 > MAX_VALUES {
            bail!(
                "{} arguments for --invoke; kwasm.ko accepts at most {MAX_VALUES}",
                params.len()
            );
        }
        Ok(Run {
            engine: settings.kind.abi(),
            flags: if limits.fuel.is_some() { RUN_FLAG_FUEL } else { 0 },
            fingerprint: settings.fingerprint(),
            cpu_features: settings.cpu.bits(),
            limits,
            image,
            args,
            env,
            invoke,
            params,
            results: vec![Value::default(); MAX_VALUES as usize],
            message: vec![0; MESSAGE_CAPACITY],
        })
    }

    /// The request, pointing into `self`'s buffers. Valid while `self` is
    /// neither moved nor changed.
    pub fn request(&mut self) -> RunRequest {
        fn buf<T>(v: &[T]) -> UserBuf {
            if v.is_empty() {
                UserBuf::default()
            } else {
                UserBuf {
                    ptr: v.as_ptr() as u64,
                    len: std::mem::size_of_val(v) as u64,
                }
            }
        }
        let mut req = RunRequest::new();
        req.engine = self.engine;
        req.flags = self.flags;
        req.fingerprint = self.fingerprint;
        req.cpu_features = self.cpu_features;
        req.image = buf(&self.image);
        req.args = buf(&self.args.bytes);
        req.args_count = self.args.count;
        req.env = buf(&self.env.bytes);
        req.env_count = self.env.count;
        req.invoke = buf(self.invoke.as_bytes());
        req.params = buf(&self.params);
        req.fuel = self.limits.fuel.unwrap_or(0);
        req.timeout_ns = self.limits.timeout_ns;
        req.max_memory = self.limits.max_memory;
        req.results = buf(&self.results);
        req.message = buf(&self.message);
        req
    }

    /// Runs the program in the kernel; blocks until it ends.
    pub fn submit(&mut self, device: &Device) -> Result<Reply, DeviceError> {
        let mut req = self.request();
        // SAFETY: `req` points only into buffers `self` owns, with their
        // exact lengths; `self` is borrowed mutably (neither moved, freed
        // nor touched) until the ioctl returns. Inputs are initialized;
        // `results` and `message` are writable.
        unsafe { device.run(&mut req)? };
        Ok(self.reply(&req))
    }

    /// Reads the module's answer out of `req` and the output buffers,
    /// never trusting its counts beyond the buffers' sizes.
    pub fn reply(&self, req: &RunRequest) -> Reply {
        let n = (req.results_count as usize).min(self.results.len());
        let m = (req.message_len as usize).min(self.message.len());
        Reply {
            outcome: req.outcome,
            exit_code: req.exit_code,
            results: self.results[..n].to_vec(),
            message: String::from_utf8_lossy(&self.message[..m]).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwasm_abi::run::VALUE_I64;

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
            StringList::pack("arguments", &["app.wasm", "x"]).unwrap(),
            StringList::pack("environment variables", &["A=1"]).unwrap(),
            Some("f".into()),
            vec![Value {
                kind: VALUE_I64,
                reserved: 0,
                bits: 5,
            }],
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
        assert_eq!(req.engine, kwasm_abi::ENGINE_PULLEY);
        assert_eq!(req.flags, RUN_FLAG_FUEL);
        assert_eq!((req.fuel, req.timeout_ns, req.max_memory), (1000, 7, 1 << 20));
        assert_eq!(req.fingerprint, settings.fingerprint());
        assert_eq!(req.cpu_features, 0);
        assert_eq!((req.image.ptr, req.image.len), (run.image.as_ptr() as u64, 5));
        assert_eq!((req.args.len, req.args_count), (11, 2));
        assert_eq!((req.env.len, req.env_count), (4, 1));
        assert_eq!(req.invoke.len, 1);
        assert_eq!(req.params.len, 16);
        assert_eq!(req.results.len, 16 * MAX_VALUES);
        assert_eq!(req.message.len, MESSAGE_CAPACITY as u64);
        assert_eq!(req.outcome, Outcome::NotRun as u32);
        assert_eq!(req.check(), Ok(()), "the module's own validation accepts it");
        // Without --invoke, the name is empty and its pointer null.
        let mut plain = Run::new(
            &Settings::pulley(false),
            vec![1],
            StringList::default(),
            StringList::default(),
            None,
            vec![],
            Limits::default(),
        )
        .unwrap();
        let req = plain.request();
        assert_eq!(
            (req.invoke, req.params, req.flags),
            (UserBuf::default(), UserBuf::default(), 0)
        );
    }

    #[test]
    fn fuel_must_match_the_image() {
        assert!(sample(&Settings::pulley(false), Some(1)).is_err());
        assert!(sample(&Settings::pulley(true), None).is_err());
    }

    #[test]
    fn replies_are_clamped_to_the_buffers() {
        let mut run = sample(&Settings::pulley(false), None).unwrap();
        let mut req = run.request();
        run.message[..5].copy_from_slice(b"trap!");
        run.results[0] = Value {
            kind: VALUE_I64,
            reserved: 0,
            bits: 9,
        };
        req.outcome = Outcome::Returned as u32;
        req.results_count = 1;
        req.message_len = 5;
        let r = run.reply(&req);
        assert_eq!(
            (r.outcome(), r.results.len(), r.message.as_str()),
            (Some(Outcome::Returned), 1, "trap!")
        );
        req.results_count = u32::MAX;
        req.message_len = u32::MAX;
        let r = run.reply(&req);
        assert_eq!(
            (r.results.len(), r.message.len()),
            (MAX_VALUES as usize, MESSAGE_CAPACITY)
        );
    }
}
