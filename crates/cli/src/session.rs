//! A session with kwasm.ko (see `kwasm_abi::session`): instances that live
//! in the kernel across requests, addressed by handles. `kwasm run
//! --invoke` and `kwasm wast` use it.

use anyhow::{bail, Result};
use kwasm_abi::run::{MAX_NAME_LEN, MAX_VALUES};
use kwasm_abi::session::SESSION_SPECTEST;
use kwasm_abi::{ioctl, InstanceRequest, InstantiateRequest, Outcome, SessionRequest, Value};
use kwasm_engine::Settings;

use crate::device::{Device, DeviceError};
use crate::request::{buf, buf_mut, check_image_size, engine_spec, message_room, Limits, Reply, Wasi};

/// An open `/dev/kwasm` made a session.
pub struct Session {
    device: Device,
    message: Vec<u8>,
}

/// How a request on the session went: refused by the module (an errno), or
/// answered with a [`Reply`].
pub type Answer = Result<Reply, DeviceError>;

/// What the session is for.
pub struct SessionOptions<'a> {
    pub settings: &'a Settings,
    pub wasi: &'a Wasi,
    pub limits: Limits,
    /// Provide the spec testsuite's `spectest` module.
    pub spectest: bool,
}

impl Session {
    /// Opens `/dev/kwasm` as a new session. `Ok(Err(reply))` when the
    /// module cannot run the engine (the reply says why).
    pub fn open(options: &SessionOptions) -> Result<Result<Session, Reply>> {
        let device = Device::open()?;
        let mut message = message_room();
        let mut req = SessionRequest::new();
        req.engine = engine_spec(options.settings, &options.limits)?;
        req.wasi = options.wasi.abi();
        req.limits = options.limits.abi();
        req.options = if options.spectest { SESSION_SPECTEST } else { 0 };
        req.reply.message = buf_mut(&mut message);
        // SAFETY: SESSION takes a SessionRequest; its buffers point into
        // `options`' string lists (read) and `message` (written), all alive
        // and untouched for the call.
        unsafe { device.request(ioctl::SESSION, "the session request", &mut req)? };
        let reply = Reply::read(&req.reply, &message, Vec::new());
        Ok(match reply.outcome() {
            Some(Outcome::Returned) => Ok(Session { device, message }),
            _ => Err(reply),
        })
    }

    /// Loads `image` (compiled for the session's engine) and instantiates
    /// it: the handle, or the reply saying why not.
    pub fn instantiate(&mut self, image: &[u8]) -> Result<Result<u32, Reply>> {
        check_image_size(image)?;
        let mut req = InstantiateRequest::new();
        req.image = buf(image);
        req.reply.message = buf_mut(&mut self.message);
        // SAFETY: INSTANTIATE takes an InstantiateRequest; `image` is read
        // and `self.message` written, both alive for the call.
        unsafe {
            self.device
                .request(ioctl::INSTANTIATE, "the instantiate request", &mut req)?
        };
        let reply = Reply::read(&req.reply, &self.message, Vec::new());
        Ok(match reply.outcome() {
            Some(Outcome::Returned) if req.handle != 0 => Ok(req.handle),
            _ => Err(reply),
        })
    }

    /// Calls export `name` of instance `handle`.
    pub fn call(&mut self, handle: u32, name: &str, params: &[Value]) -> Result<Answer> {
        if params.len() as u64 > MAX_VALUES {
            bail!("{} arguments; kwasm.ko accepts at most {MAX_VALUES}", params.len());
        }
        self.instance_op(ioctl::CALL, "the call request", handle, name, params)
    }

    /// Reads global export `name` of instance `handle`.
    pub fn get(&mut self, handle: u32, name: &str) -> Result<Answer> {
        self.instance_op(ioctl::GET, "the get request", handle, name, &[])
    }

    /// Makes instance `handle`'s exports importable as module `name`.
    pub fn register(&mut self, handle: u32, name: &str) -> Result<Answer> {
        self.instance_op(ioctl::REGISTER, "the register request", handle, name, &[])
    }

    fn instance_op(
        &mut self,
        cmd: u32,
        what: &'static str,
        handle: u32,
        name: &str,
        params: &[Value],
    ) -> Result<Answer> {
        if name.len() as u64 > MAX_NAME_LEN {
            bail!(
                "the name `{name}` is {} bytes long; kwasm.ko accepts at most {MAX_NAME_LEN}",
                name.len()
            );
        }
        let mut results = vec![Value::default(); MAX_VALUES as usize];
        let mut req = InstanceRequest::new(handle);
        req.name = buf(name.as_bytes());
        req.params = buf(params);
        req.results = buf_mut(&mut results);
        req.reply.message = buf_mut(&mut self.message);
        // SAFETY: CALL/GET/REGISTER/DESTROY take an InstanceRequest; `name`
        // and `params` are read, `results` and `self.message` written, all
        // alive and untouched for the call.
        if let Err(e) = unsafe { self.device.request(cmd, what, &mut req) } {
            return Ok(Err(e));
        }
        results.truncate((req.results_count as usize).min(MAX_VALUES as usize));
        Ok(Ok(Reply::read(&req.reply, &self.message, results)))
    }
}
