//! The LIST ioctl (`kwasm ps`): a snapshot of the programs running now.

use crate::platform::user::{read_request, UserPtr};
use crate::platform::{clock, task};
use core::mem::size_of;
use core::sync::atomic::Ordering;
use kwasm_abi::{Error, InstanceInfo, ListRequest};

pub fn ioctl(arg: UserPtr) -> Result<(), Error> {
    let mut req: ListRequest = read_request(arg)?;
    let room = (req.entries.len / size_of::<InstanceInfo>() as u64) as usize;
    let out = UserPtr::new(req.entries.ptr as usize);
    let now = clock::monotonic_ns();
    let (mut running, mut written, mut fault) = (0u32, 0usize, None);
    task::for_each_published(|s| {
        running += 1;
        if written < room && fault.is_none() {
            let info = InstanceInfo {
                pid: s.pid.load(Ordering::Relaxed),
                engine: s.engine.load(Ordering::Relaxed),
                memory_bytes: s.memory_bytes.load(Ordering::Relaxed),
                memory_limit: s.memory_limit.load(Ordering::Relaxed),
                cpu_ns: s.cpu_ns.load(Ordering::Relaxed),
                elapsed_ns: now.saturating_sub(s.started_ns.load(Ordering::Relaxed)),
                state: s.state.load(Ordering::Relaxed),
                reserved: 0,
                name: s.name(),
            };
            match out.offset(written * size_of::<InstanceInfo>()).write(&info) {
                Ok(()) => written += 1,
                Err(e) => fault = Some(e),
            }
        }
    });
    if let Some(e) = fault {
        return Err(e);
    }
    req.running = running;
    req.written = written as u32;
    arg.write(&req)
}
