//! The LIST request: the programs running now (`kwasm ps`).

use crate::{Error, RequestHeader, UserBuf};

/// `InstanceInfo::state`
pub const STATE_LOADING: u32 = 1;
pub const STATE_RUNNING: u32 = 2;
pub const STATE_ENDING: u32 = 3;
/// Parked while its process is stopped, frozen, traced or in a signal
/// handler; it carries on when the process does.
pub const STATE_STOPPED: u32 = 4;

/// Length of the NUL-padded program name in [`InstanceInfo`].
pub const INSTANCE_NAME_LEN: usize = 64;

/// One running program.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Thread-group id (pid) of the process running it, as the initial pid
    /// namespace numbers it.
    pub pid: i32,
    /// `ENGINE_NATIVE` or `ENGINE_PULLEY`.
    pub engine: u32,
    /// Kernel memory the program holds, in bytes: its linear memories'
    /// allocations, tables and code (what its process's RSS counts for
    /// it), as of its last yield point.
    pub memory_bytes: u64,
    /// The cap on each linear memory in bytes; 0 for none beyond the
    /// program's.
    pub memory_limit: u64,
    /// CPU time the process has used, in nanoseconds (as of the program's
    /// last yield point).
    pub cpu_ns: u64,
    /// How long the run has lasted, in nanoseconds.
    pub elapsed_ns: u64,
    /// `STATE_*`
    pub state: u32,
    pub reserved: u32,
    /// The program's name (its argv[0]), NUL-padded.
    pub name: [u8; INSTANCE_NAME_LEN],
}

impl Default for InstanceInfo {
    fn default() -> Self {
        InstanceInfo {
            pid: 0,
            engine: 0,
            memory_bytes: 0,
            memory_limit: 0,
            cpu_ns: 0,
            elapsed_ns: 0,
            state: 0,
            reserved: 0,
            name: [0; INSTANCE_NAME_LEN],
        }
    }
}

/// `ioctl(fd, LIST, &mut ListRequest)`: fills `entries` (an array of
/// [`InstanceInfo`]) with up to `entries.len / size_of::<InstanceInfo>()`
/// running programs.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest {
    pub header: RequestHeader,
    /// In: room for the answer.
    pub entries: UserBuf,
    /// Out: programs running now (may exceed `written`).
    pub running: u32,
    /// Out: entries written.
    pub written: u32,
}

impl ListRequest {
    pub const fn new(entries: UserBuf) -> ListRequest {
        ListRequest {
            header: RequestHeader::for_request::<ListRequest>(),
            entries,
            running: 0,
            written: 0,
        }
    }

    /// `entries` must hold a whole number of [`InstanceInfo`]s.
    pub const fn check(&self) -> Result<(), Error> {
        if !self
            .entries
            .len
            .is_multiple_of(core::mem::size_of::<InstanceInfo>() as u64)
        {
            Err(Error::Malformed)
        } else {
            Ok(())
        }
    }
}

impl crate::Request for ListRequest {
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
        assert_eq!(size_of::<InstanceInfo>(), 112);
        assert_eq!(offset_of!(InstanceInfo, engine), 4);
        assert_eq!(offset_of!(InstanceInfo, memory_bytes), 8);
        assert_eq!(offset_of!(InstanceInfo, memory_limit), 16);
        assert_eq!(offset_of!(InstanceInfo, cpu_ns), 24);
        assert_eq!(offset_of!(InstanceInfo, elapsed_ns), 32);
        assert_eq!(offset_of!(InstanceInfo, state), 40);
        assert_eq!(offset_of!(InstanceInfo, name), 48);
        assert_eq!(size_of::<ListRequest>(), 32);
        assert_eq!(offset_of!(ListRequest, entries), 8);
        assert_eq!(offset_of!(ListRequest, running), 24);
        assert_eq!(offset_of!(ListRequest, written), 28);
    }
}
