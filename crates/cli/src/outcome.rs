//! What `kwasm run` prints and exits with for each way a run ends, shaped
//! like `wasmtime run`:
//!
//! * the program exited (`proc_exit`, or `_start` returned): exit with its
//!   code, print nothing (wasmtime: `std::process::exit(code)`);
//! * `--invoke` returned: each result on its own line on stdout, exit 0;
//! * a wasm trap: `Error: failed to run main module ... Caused by: ...` on
//!   stderr, here prefixed `kwasm:`, exit 134 (128 + SIGABRT, what wasmtime
//!   exits with for traps on Unix);
//! * `--timeout` and `--fuel` running out are traps in wasmtime (an
//!   interrupt, "all fuel consumed"): the same 134, with a message that
//!   names the flag;
//! * a signal ended it (Ctrl-C): 130, as a shell reports a SIGINT death;
//! * the image or the instance was refused: the module's reason, exit 1
//!   (wasmtime's exit code for errors that are not traps).

use kwasm_abi::Outcome;

use crate::invoke::format_value;
use crate::request::Reply;

/// Exit code for a trap: 128 + SIGABRT, as `wasmtime run` on Unix.
pub const EXIT_TRAP: i32 = 128 + libc::SIGABRT;
/// Exit code for a run ended by a signal: 128 + SIGINT.
pub const EXIT_INTERRUPTED: i32 = 128 + libc::SIGINT;
/// Exit code when the program could not run.
pub const EXIT_FAILURE: i32 = 1;

/// How the run was asked for, for messages.
pub struct RunContext<'a> {
    /// The module as named on the command line.
    pub module: &'a str,
    pub invoke: Option<&'a str>,
    /// `--timeout` as given.
    pub timeout: Option<&'a str>,
    pub fuel: Option<u64>,
}

/// What to print and the exit code.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub stdout: Vec<String>,
    pub stderr: Option<String>,
    pub exit_code: i32,
}

fn failure(ctx: &RunContext, cause: &str) -> String {
    let what = match ctx.invoke {
        Some(name) => format!("failed to invoke `{name}` in `{}`", ctx.module),
        None => format!("failed to run main module `{}`", ctx.module),
    };
    let mut s = format!("kwasm: {what}\n\nCaused by:");
    for line in cause.trim_end().lines() {
        s.push_str("\n    ");
        s.push_str(line);
    }
    s
}

/// The kernel's message, or a stand-in if it sent none.
fn message_or(reply: &Reply, fallback: &str) -> String {
    if reply.message.trim().is_empty() {
        fallback.to_string()
    } else {
        reply.message.clone()
    }
}

pub fn report(reply: &Reply, ctx: &RunContext) -> Report {
    let err = |exit_code, text: String| Report {
        stdout: vec![],
        stderr: Some(text),
        exit_code,
    };
    let Some(outcome) = reply.outcome() else {
        return err(
            EXIT_FAILURE,
            format!(
                "kwasm: kwasm.ko answered with outcome {}, which this kwasm does not know: install a kwasm command and module from the same release",
                reply.outcome
            ),
        );
    };
    match outcome {
        Outcome::Exited => Report {
            stdout: vec![],
            stderr: None,
            exit_code: reply.exit_code,
        },
        Outcome::Returned => {
            let mut stdout = Vec::new();
            for v in &reply.results {
                match format_value(v) {
                    Ok(s) => stdout.push(s),
                    Err(e) => return err(EXIT_FAILURE, format!("kwasm: {e}")),
                }
            }
            Report {
                stdout,
                stderr: None,
                exit_code: 0,
            }
        }
        Outcome::Trapped => {
            let m = message_or(reply, "wasm trap (kwasm.ko gave no details)");
            let cause = if m.contains("wasm trap") {
                m
            } else {
                format!("wasm trap: {m}")
            };
            err(EXIT_TRAP, failure(ctx, &cause))
        }
        Outcome::TimedOut => {
            let cause = match ctx.timeout {
                Some(limit) => format!(
                    "timed out after {limit} (--timeout {limit}, or less if kwasm.ko's max_timeout_ms is lower); raise --timeout to give it longer\nwasm trap: interrupt"
                ),
                None => "timed out: kwasm.ko's time limit (module parameter max_timeout_ms) ran out\nwasm trap: interrupt"
                    .to_string(),
            };
            err(EXIT_TRAP, failure(ctx, &cause))
        }
        Outcome::OutOfFuel => {
            let fuel = ctx.fuel.map_or("?".to_string(), |f| f.to_string());
            let cause = format!(
                "ran out of fuel (--fuel {fuel}); raise --fuel to let it run longer\nwasm trap: all fuel consumed by WebAssembly"
            );
            err(EXIT_TRAP, failure(ctx, &cause))
        }
        Outcome::Interrupted => err(
            EXIT_INTERRUPTED,
            failure(ctx, &message_or(reply, "interrupted by a signal")),
        ),
        Outcome::LoadFailed => err(
            EXIT_FAILURE,
            failure(
                ctx,
                &format!(
                    "kwasm.ko could not load the compiled module: {}",
                    message_or(reply, "no reason given")
                ),
            ),
        ),
        Outcome::InstantiateFailed => err(
            EXIT_FAILURE,
            failure(
                ctx,
                &format!(
                    "kwasm.ko could not instantiate the module: {}",
                    message_or(reply, "no reason given")
                ),
            ),
        ),
        Outcome::BadCall => err(
            EXIT_FAILURE,
            failure(ctx, &message_or(reply, "kwasm.ko refused the call")),
        ),
        Outcome::NotRun => err(
            EXIT_FAILURE,
            "kwasm: kwasm.ko accepted the request but did not run it (outcome not set): this is a kwasm.ko bug"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwasm_abi::run::{VALUE_F64, VALUE_I32};
    use kwasm_abi::Value;

    const CTX: RunContext = RunContext {
        module: "app.wasm",
        invoke: None,
        timeout: Some("2s"),
        fuel: Some(5000),
    };

    fn reply(outcome: Outcome, exit_code: i32, message: &str) -> Reply {
        Reply {
            outcome: outcome as u32,
            exit_code,
            results: vec![],
            message: message.into(),
        }
    }

    #[test]
    fn exits_with_the_programs_code_and_prints_nothing() {
        for code in [0, 3, 125, 255, 256, -1] {
            let r = report(&reply(Outcome::Exited, code, ""), &CTX);
            assert_eq!(
                r,
                Report {
                    stdout: vec![],
                    stderr: None,
                    exit_code: code
                }
            );
        }
    }

    #[test]
    fn invoke_results_print_one_per_line() {
        let mut r = reply(Outcome::Returned, 0, "");
        r.results = vec![
            Value {
                kind: VALUE_I32,
                bits: 0xffff_fffe,
                ..Value::default()
            },
            Value {
                kind: VALUE_F64,
                bits: 2.5f64.to_bits(),
                ..Value::default()
            },
        ];
        let rep = report(&r, &CTX);
        assert_eq!(
            (rep.stdout, rep.stderr, rep.exit_code),
            (vec!["-2".to_string(), "2.5".to_string()], None, 0)
        );
        r.results[0].kind = 77;
        let rep = report(&r, &CTX);
        assert_eq!(rep.exit_code, EXIT_FAILURE);
        assert!(rep.stderr.unwrap().contains("unknown kind 77"));
    }

    #[test]
    fn traps_print_like_wasmtime_and_exit_134() {
        let r = report(
            &reply(Outcome::Trapped, 0, "wasm trap: integer divide by zero\n  0: f\n"),
            &CTX,
        );
        assert_eq!(r.exit_code, 134);
        assert_eq!(
            r.stderr.unwrap(),
            "kwasm: failed to run main module `app.wasm`\n\nCaused by:\n    wasm trap: integer divide by zero\n      0: f"
        );
        // A bare message gets the "wasm trap:" kind; invoke names the export.
        let ctx = RunContext {
            invoke: Some("div"),
            ..CTX
        };
        let r = report(&reply(Outcome::Trapped, 0, "integer overflow"), &ctx);
        assert_eq!(
            r.stderr.unwrap(),
            "kwasm: failed to invoke `div` in `app.wasm`\n\nCaused by:\n    wasm trap: integer overflow"
        );
        let r = report(&reply(Outcome::Trapped, 0, ""), &CTX);
        assert!(r.stderr.unwrap().contains("wasm trap (kwasm.ko gave no details)"));
    }

    #[test]
    fn limits_name_their_flag() {
        let r = report(&reply(Outcome::TimedOut, 0, ""), &CTX);
        assert_eq!(r.exit_code, EXIT_TRAP);
        assert!(r.stderr.unwrap().contains("timed out after 2s (--timeout 2s"));
        let no_flag = RunContext { timeout: None, ..CTX };
        let r = report(&reply(Outcome::TimedOut, 0, ""), &no_flag);
        assert!(r.stderr.unwrap().contains("max_timeout_ms"));
        let r = report(&reply(Outcome::OutOfFuel, 0, ""), &CTX);
        assert_eq!(r.exit_code, EXIT_TRAP);
        assert!(r.stderr.unwrap().contains("ran out of fuel (--fuel 5000)"));
    }

    #[test]
    fn signals_exit_130() {
        let r = report(&reply(Outcome::Interrupted, 0, ""), &CTX);
        assert_eq!(r.exit_code, 130);
        assert!(r.stderr.unwrap().contains("interrupted by a signal"));
    }

    #[test]
    fn refusals_pass_the_modules_reason_and_exit_1() {
        let r = report(
            &reply(Outcome::InstantiateFailed, 0, "unknown import module `env` (import `env::f`)"),
            &CTX,
        );
        assert_eq!(r.exit_code, 1);
        let e = r.stderr.unwrap();
        assert!(
            e.contains("could not instantiate") && e.contains("unknown import module `env` (import `env::f`)"),
            "{e}"
        );
        let r = report(
            &reply(Outcome::LoadFailed, 0, "compiled for AVX2, this CPU lacks it"),
            &CTX,
        );
        assert_eq!(r.exit_code, 1);
        assert!(r.stderr.unwrap().contains("compiled for AVX2"));
    }

    #[test]
    fn unknown_and_unset_outcomes_are_errors() {
        let mut r = reply(Outcome::Exited, 0, "");
        r.outcome = 42;
        let rep = report(&r, &CTX);
        assert_eq!(rep.exit_code, 1);
        assert!(rep.stderr.unwrap().contains("outcome 42"));
        let rep = report(&reply(Outcome::NotRun, 0, ""), &CTX);
        assert_eq!(rep.exit_code, 1);
        assert!(rep.stderr.unwrap().contains("did not run"));
    }
}
