//! How a run meets the signals of its process, and why the host ends a
//! run: the lowest layer of the wasm side, used by the store, its yield
//! points and every blocking host call.

use crate::platform::fiber::{Resume, Suspender};
use crate::platform::sched::{self, Pending};
use crate::platform::section;
use crate::platform::task::Status;
use crate::platform::ticker;
use core::cell::Cell;
use core::fmt;
use core::sync::atomic::Ordering;
use kwasm_abi::list::{STATE_RUNNING, STATE_STOPPED};

/// Why the host ended a run; travels through Wasmtime as an error.
#[derive(Debug)]
pub enum Stop {
    Exit(i32),
    Interrupted,
    TimedOut,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Exit(code) => write!(f, "exited with code {code}"),
            Stop::Interrupted => f.write_str("interrupted by a signal"),
            Stop::TimedOut => f.write_str("the time limit ran out (--timeout, or the module's max_timeout_ms)"),
        }
    }
}

impl core::error::Error for Stop {}

/// How a run meets a pending signal. One that ends the process (SIGKILL,
/// SIGINT or SIGTERM left at their default, ...) ends the run, as the
/// process is about to end anyway. Any other — a stop, the freezer, a
/// tracer, a handler — is the kernel's to deal with, in user space: the
/// run parks (its fiber suspends, `crate::run` returns from the ioctl to
/// have it restarted) and carries on where it was once the task is back.
/// A store that cannot park (a session's) ends the call instead.
pub struct Parking {
    suspender: Option<Suspender>,
    /// The run's `kwasm ps` entry, to show it stopped.
    pub(super) status: Cell<&'static Status>,
    /// The run's epoch ticker registration (`enter`), paused while parked.
    pub(super) ticker_slot: Cell<Option<usize>>,
    /// The run was resumed only to end (its file was closed while it was
    /// parked): every later signal check ends it.
    pub(super) cancelled: Cell<bool>,
}

impl Parking {
    pub(super) fn new(status: &'static Status) -> Parking {
        Parking {
            suspender: None,
            status: Cell::new(status),
            ticker_slot: Cell::new(None),
            cancelled: Cell::new(false),
        }
    }

    /// Lets the run park by suspending its fiber (`None`: it cannot).
    pub fn allow(&mut self, suspender: Option<Suspender>) {
        self.suspender = suspender;
    }

    /// Deals with the calling task's pending signal, if any: `Ok(true)`
    /// once a signal the process survives was handled while the run was
    /// parked (retry whatever it interrupted), `Ok(false)` if none is
    /// pending, `Err` when the run must end.
    pub fn on_signal(&self) -> Result<bool, Stop> {
        if self.cancelled.get() {
            return Err(Stop::Interrupted);
        }
        let suspender = match (sched::pending_signal(), &self.suspender) {
            (Pending::Nothing, _) => return Ok(false),
            (Pending::Survivable, Some(suspender)) => suspender,
            (Pending::Fatal, _) | (Pending::Survivable, None) => return Err(Stop::Interrupted),
        };
        let status = self.status.get();
        status.state.store(STATE_STOPPED, Ordering::Relaxed);
        let resumed = {
            let _paused = self.ticker_slot.get().map(ticker::Paused::new);
            section::suspended(|| suspender.suspend())
        };
        status.state.store(STATE_RUNNING, Ordering::Relaxed);
        match resumed {
            Resume::Continue => Ok(true),
            Resume::Cancel => {
                self.cancelled.set(true);
                Err(Stop::Interrupted)
            }
        }
    }
}
