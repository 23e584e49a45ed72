//! The RUN ioctl: copy the request in, run the program on a private stack
//! in the caller's context, copy the outcome back.

mod exec;
mod wasi;

use crate::platform::stack::Stack;
use crate::platform::task::TaskClaim;
use crate::platform::user::UserPtr;
use crate::platform::{clock, params};
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::size_of;
use core::sync::atomic::Ordering;
use kwasm_abi::list::STATE_LOADING;
use kwasm_abi::run::{MAX_MESSAGE_LEN, VALUE_SIZE};
use kwasm_abi::{Error, Outcome, RunRequest, UserBuf, Value};
use kwasm_wasi::StringList;

/// Everything the program needs, copied out of the caller's memory.
pub struct Input {
    pub image: Vec<u8>,
    pub args: StringList,
    pub env: StringList,
    pub invoke: Option<String>,
    pub params: Vec<Value>,
}

/// How the run ended, to be written back.
pub struct Report {
    pub outcome: Outcome,
    pub exit_code: i32,
    pub results: Vec<Value>,
    pub message: String,
}

impl Report {
    pub fn new(outcome: Outcome, message: String) -> Report {
        Report {
            outcome,
            exit_code: 0,
            results: Vec::new(),
            message,
        }
    }
}

fn user(buf: UserBuf) -> UserPtr {
    UserPtr::new(buf.ptr as usize)
}

fn strings(buf: UserBuf, count: u32) -> Result<StringList, Error> {
    let bytes = user(buf).read_bytes(buf.len as usize)?;
    StringList::from_packed(bytes, count).ok_or(Error::Malformed)
}

fn copy_in(req: &RunRequest) -> Result<Input, Error> {
    let invoke = match req.invoke.len {
        0 => None,
        n => Some(String::from_utf8(user(req.invoke).read_bytes(n as usize)?).map_err(|_| Error::Malformed)?),
    };
    let mut params = Vec::new();
    let count = (req.params.len / VALUE_SIZE) as usize;
    params.try_reserve_exact(count).map_err(|_| Error::OutOfMemory)?;
    for i in 0..count {
        params.push(user(req.params).offset(i * size_of::<Value>()).read::<Value>()?);
    }
    Ok(Input {
        image: user(req.image).read_bytes(req.image.len as usize)?,
        args: strings(req.args, req.args_count)?,
        env: strings(req.env, req.env_count)?,
        invoke,
        params,
    })
}

fn copy_out(arg: UserPtr, mut req: RunRequest, report: &Report) -> Result<(), Error> {
    let room = (req.results.len / VALUE_SIZE) as usize;
    let results = &report.results[..report.results.len().min(room)];
    for (i, v) in results.iter().enumerate() {
        user(req.results).offset(i * size_of::<Value>()).write(v)?;
    }
    // Cut the message at a character boundary that fits.
    let cap = req.message.len.min(MAX_MESSAGE_LEN) as usize;
    let mut len = report.message.len().min(cap);
    while !report.message.is_char_boundary(len) {
        len -= 1;
    }
    user(req.message).write_bytes(&report.message.as_bytes()[..len])?;
    req.outcome = report.outcome as u32;
    req.exit_code = report.exit_code;
    req.results_count = results.len() as u32;
    req.message_len = len as u32;
    arg.write(&req)
}

pub fn ioctl(arg: UserPtr) -> Result<(), Error> {
    let req: RunRequest = arg.read()?;
    req.header.check_size(size_of::<RunRequest>())?;
    req.header.check_version()?;
    req.check()?;
    let input = copy_in(&req)?;
    // Wasmtime's thread-local state (and the wasm section's) follows this
    // task for the whole run.
    let task = TaskClaim::claim(params::max_instances()).ok_or(Error::Busy)?;
    let status = task.status();
    status.engine.store(req.engine, Ordering::Relaxed);
    status.state.store(STATE_LOADING, Ordering::Relaxed);
    status.memory_bytes.store(0, Ordering::Relaxed);
    status.memory_limit.store(
        params::tighter(req.max_memory, params::max_memory()).unwrap_or(0),
        Ordering::Relaxed,
    );
    status.cpu_ns.store(clock::task_cputime_ns(), Ordering::Relaxed);
    status.started_ns.store(clock::monotonic_ns(), Ordering::Relaxed);
    status.publish(input.args.get(0).unwrap_or(b"?"));
    let mut stack = Stack::new().ok_or(Error::OutOfMemory)?;
    let report = stack.run(|| exec::run(&req, input, status));
    drop(stack);
    copy_out(arg, req, &report)
}
