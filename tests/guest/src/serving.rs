//! Servers under test and the load generator that checks them, shared by
//! the network tests and the benchmark: start a server, wait until it says
//! it listens, drive it with `kwasm-loadgen` (which verifies every
//! response), stop it and see how it ended.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Compiling a server in the guest (TCG) takes a while before it listens.
pub const READY_FOR: Duration = Duration::from_secs(300);
/// How long a server may take to end after a signal.
pub const STOP_FOR: Duration = Duration::from_secs(5);

/// The last TAIL_BYTES a child wrote.
type Tail = Arc<Mutex<VecDeque<u8>>>;

const TAIL_BYTES: usize = 2048;

fn tail_text(tail: &Tail) -> String {
    let t = tail.lock().unwrap();
    String::from_utf8_lossy(&t.iter().copied().collect::<Vec<u8>>())
        .trim()
        .replace('\n', " | ")
}

/// Copies what `from` says into `tail`, and tells `ready` when a line
/// says "listening on".
fn drain(from: impl Read + Send + 'static, tail: Tail, ready: Option<mpsc::Sender<()>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(from).split(b'\n') {
            let Ok(line) = line else { return };
            if String::from_utf8_lossy(&line).contains("listening on") {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
            let mut t = tail.lock().unwrap();
            t.extend(line.iter().chain(b"\n"));
            let excess = t.len().saturating_sub(TAIL_BYTES);
            t.drain(..excess);
        }
    })
}

/// Lets the command's process have `n` open files (a server holding
/// thousands of connections needs more than the default 1024).
pub fn with_open_files(cmd: &mut Command, n: u64) -> &mut Command {
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    }
}

/// A server under test.
pub struct Server {
    pub name: String,
    child: Child,
    output: Tail,
}

impl Server {
    /// Starts `cmd` and waits for its "listening on" line (on stdout or
    /// stderr).
    pub fn start(name: &str, cmd: &mut Command) -> Result<Server, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {name} server: {e}"))?;
        let output = Tail::default();
        let (tx, rx) = mpsc::channel();
        drain(child.stdout.take().unwrap(), output.clone(), Some(tx.clone()));
        drain(child.stderr.take().unwrap(), output.clone(), Some(tx));
        let mut server = Server {
            name: name.to_string(),
            child,
            output,
        };
        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => return Ok(server),
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < READY_FOR => {
                    if let Some(why) = server.ended() {
                        return Err(why);
                    }
                }
                Err(_) => {
                    let why = format!(
                        "the {name} server did not say it listens within {READY_FOR:?}: {}",
                        tail_text(&server.output)
                    );
                    let _ = server.kill();
                    return Err(why);
                }
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What it printed last.
    pub fn output(&self) -> String {
        tail_text(&self.output)
    }

    /// Why the server is no longer running, if it is not.
    pub fn ended(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(format!("the {} server ended ({status}): {}", self.name, self.output())),
            Err(e) => Some(format!("waiting for the {} server: {e}", self.name)),
        }
    }

    /// Sends `signal` and waits up to STOP_FOR for the end: its status and
    /// how long it took, or Err if it still runs.
    pub fn signal(&mut self, signal: i32) -> Result<(ExitStatus, Duration), String> {
        // SAFETY: signalling our own child, not reaped yet (the caller saw
        // it running), so the pid is still its.
        unsafe { libc::kill(self.pid(), signal) };
        let sent = Instant::now();
        while sent.elapsed() < STOP_FOR {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ok((status, sent.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("the {} server did not end {STOP_FOR:?} after signal {signal}", self.name))
    }

    /// SIGTERM (then SIGKILL): Err if it had already ended, needed
    /// SIGKILL, or would not end.
    pub fn stop(mut self) -> Result<(), String> {
        if let Some(why) = self.ended() {
            return Err(why);
        }
        match self.signal(libc::SIGTERM) {
            Ok(_) => Ok(()),
            Err(why) => {
                let killed = self.kill();
                Err(format!("{why}{}", killed.err().map(|e| format!("; {e}")).unwrap_or_default()))
            }
        }
    }

    fn kill(&mut self) -> Result<(), String> {
        self.signal(libc::SIGKILL).map(|_| ())
    }
}

/// One loadgen run's figures (its JSON line).
pub struct Load {
    pub json: String,
    pub ops: u64,
}

/// A number field of a flat JSON object.
pub fn json_number(json: &str, key: &str) -> Option<f64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = json[at..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// What a command that ran to its end said.
pub struct Finished {
    pub status: ExitStatus,
    /// The last bytes of its stdout and stderr.
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` (`what` names it in errors) and waits at most `limit` for
/// it; Err if it could not start or ran over (it is killed then).
pub fn run_limited(cmd: &mut Command, what: &str, limit: Duration) -> Result<Finished, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let (stdout, stderr) = (Tail::default(), Tail::default());
    let readers = [
        drain(child.stdout.take().unwrap(), stdout.clone(), None),
        drain(child.stderr.take().unwrap(), stderr.clone(), None),
    ];
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} ran over {limit:?}: {}", tail_text(&stderr)));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The readers end once the pipes close with the process.
    for r in readers {
        let _ = r.join();
    }
    Ok(Finished {
        status,
        stdout: tail_text(&stdout),
        stderr: tail_text(&stderr),
    })
}

/// Runs `kwasm-loadgen ARGS` (through `prefix`, e.g. `nsenter`, if any)
/// and waits at most `limit` for it. Err: it could not run, hung, or
/// found wrong responses (its own message).
pub fn loadgen(prefix: &[&str], args: &[&str], limit: Duration) -> Result<Load, String> {
    let argv: Vec<&str> = prefix.iter().copied().chain(["kwasm-loadgen"]).chain(args.iter().copied()).collect();
    let what = format!("kwasm-loadgen {}", args.join(" "));
    let done = run_limited(Command::new(argv[0]).args(&argv[1..]), &what, limit)?;
    let json = done.stdout;
    let ops = json_number(&json, "ops").unwrap_or(0.0) as u64;
    let errors = json_number(&json, "errors").unwrap_or(0.0) as u64;
    if !done.status.success() || errors > 0 {
        return Err(format!("{what}: {}, {errors} errors: {} (stdout {json})", done.status, done.stderr));
    }
    if ops == 0 {
        return Err(format!("{what}: no operation completed: {json}"));
    }
    Ok(Load { json, ops })
}

#[cfg(test)]
mod tests {
    use super::json_number;

    #[test]
    fn reads_numbers_of_the_loadgen_line() {
        let j = r#"{"workload":"echo-pingpong","conns":16,"ops":1234,"ops_per_s":617.5,"errors":0}"#;
        assert_eq!(json_number(j, "ops"), Some(1234.0));
        assert_eq!(json_number(j, "ops_per_s"), Some(617.5));
        assert_eq!(json_number(j, "errors"), Some(0.0));
        assert_eq!(json_number(j, "missing"), None);
    }
}
