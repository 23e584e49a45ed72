//! How wasm ended, as user space learns it.

use super::parking::Stop;
use crate::platform::user::UserPtr;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kwasm_abi::run::MAX_MESSAGE_LEN;
use kwasm_abi::{Error, Outcome, Reply, Value};
use wasmtime::Trap;

/// How a request that ran wasm ended, to be written back.
pub struct Report {
    pub outcome: Outcome,
    pub exit_code: i32,
    pub results: Vec<Value>,
    pub message: String,
}

impl Report {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Report {
        Report {
            outcome,
            exit_code: 0,
            results: Vec::new(),
            message: message.into(),
        }
    }

    /// The report for wasm that ended with an error from Wasmtime: the
    /// host's own stops, fuel, or a trap.
    pub fn ended(e: wasmtime::Error) -> Report {
        if let Some(stop) = e.downcast_ref::<Stop>() {
            return match stop {
                Stop::Exit(code) => Report {
                    exit_code: *code,
                    ..Report::new(Outcome::Exited, String::new())
                },
                Stop::Interrupted => Report::new(Outcome::Interrupted, stop.to_string()),
                Stop::TimedOut => Report::new(Outcome::TimedOut, stop.to_string()),
            };
        }
        let mut message = format!("{e:?}");
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => return Report::new(Outcome::OutOfFuel, message),
            // Wasmtime says "call stack exhausted"; name it as users search for it.
            Some(Trap::StackOverflow) => {
                message.truncate(message.trim_end().len());
                message.push_str(" (stack overflow)");
            }
            _ => {}
        }
        Report::new(Outcome::Trapped, message)
    }

    /// Whether Wasmtime's error came from running wasm (a trap or a host
    /// stop) rather than from refusing to (a link error, say).
    pub fn is_run_error(e: &wasmtime::Error) -> bool {
        e.downcast_ref::<Stop>().is_some() || e.downcast_ref::<Trap>().is_some()
    }
}

pub fn load_failed(message: impl Into<String>) -> Report {
    Report::new(Outcome::LoadFailed, message)
}

pub fn instantiate_failed(message: impl Into<String>) -> Report {
    Report::new(Outcome::InstantiateFailed, message)
}

/// Writes the report's outcome and message (cut at a character boundary
/// that fits the caller's room) into `reply`, which the caller copies out.
pub fn write_reply(reply: &mut Reply, report: &Report) -> Result<(), Error> {
    let cap = reply.message.len.min(MAX_MESSAGE_LEN) as usize;
    let mut len = report.message.len().min(cap);
    while !report.message.is_char_boundary(len) {
        len -= 1;
    }
    UserPtr::new(reply.message.ptr as usize).write_bytes(&report.message.as_bytes()[..len])?;
    reply.outcome = report.outcome as u32;
    reply.exit_code = report.exit_code;
    reply.message_len = len as u32;
    Ok(())
}
