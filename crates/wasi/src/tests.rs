use super::*;
use alloc::vec;
use alloc::vec::Vec;

/// A host that records writes and serves reads from a script.
#[derive(Default)]
struct FakeHost {
    written: Vec<(u32, Vec<u8>)>,
    /// Most bytes one write accepts (short writes).
    write_limit: Option<usize>,
    input: Vec<u8>,
    random_calls: usize,
}

impl Host for FakeHost {
    fn write(&mut self, fd: u32, data: &[u8]) -> Result<usize, Errno> {
        if fd > 2 {
            return Err(errno::BADF);
        }
        let n = self.write_limit.map_or(data.len(), |l| l.min(data.len()));
        self.written.push((fd, data[..n].to_vec()));
        Ok(n)
    }
    fn read(&mut self, fd: u32, buf: &mut [u8]) -> Result<usize, Errno> {
        if fd != 0 {
            return Err(errno::BADF);
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
    fn fdstat(&mut self, fd: u32) -> Result<FdStat, Errno> {
        if fd > 2 {
            return Err(errno::BADF);
        }
        Ok(FdStat {
            filetype: filetype::CHARACTER_DEVICE,
            flags: fdflags::APPEND,
            rights_base: rights::FD_WRITE,
            rights_inheriting: 0,
        })
    }
    fn clock_time(&mut self, id: u32) -> Result<u64, Errno> {
        match id {
            clock::REALTIME => Ok(1_700_000_000_000_000_000),
            clock::MONOTONIC => Ok(42),
            _ => Err(errno::INVAL),
        }
    }
    fn clock_res(&mut self, _id: u32) -> Result<u64, Errno> {
        Ok(1)
    }
    fn random(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.random_calls += 1;
        buf.fill(0xab);
        Ok(())
    }
    fn sched_yield(&mut self) -> Result<(), Errno> {
        Ok(())
    }
}

fn put_u32(mem: &mut [u8], at: usize, v: u32) {
    mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(mem: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(mem[at..at + 4].try_into().unwrap())
}

fn context() -> Context {
    Context {
        args: StringList::from_packed(b"prog\0hello world\0".to_vec(), 2).unwrap(),
        env: StringList::from_packed(b"A=1\0".to_vec(), 1).unwrap(),
    }
}

#[test]
fn string_lists_parse_only_well_formed_input() {
    let l = StringList::from_packed(b"a\0bc\0\0".to_vec(), 3).unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(l.get(1), Some(&b"bc"[..]));
    assert_eq!(l.get(2), Some(&b""[..]));
    assert!(
        StringList::from_packed(b"a\0b".to_vec(), 2).is_none(),
        "missing terminator"
    );
    assert!(
        StringList::from_packed(b"a\0b\0".to_vec(), 3).is_none(),
        "count mismatch"
    );
    assert!(StringList::from_packed(Vec::new(), 0).unwrap().is_empty());
}

#[test]
fn args_are_laid_out_like_preview1() {
    let cx = context();
    let mut bytes = vec![0u8; 256];
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(args_sizes_get(&cx, &mut mem, 0, 4), errno::SUCCESS);
    assert_eq!(args_get(&cx, &mut mem, 16, 64), errno::SUCCESS);
    assert_eq!(get_u32(&bytes, 0), 2);
    assert_eq!(get_u32(&bytes, 4), 17);
    assert_eq!(get_u32(&bytes, 16), 64);
    assert_eq!(get_u32(&bytes, 20), 69);
    assert_eq!(&bytes[64..81], b"prog\0hello world\0");
}

#[test]
fn environ_uses_its_own_list() {
    let cx = context();
    let mut bytes = vec![0u8; 64];
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(environ_sizes_get(&cx, &mut mem, 0, 4), errno::SUCCESS);
    assert_eq!(environ_get(&cx, &mut mem, 8, 32), errno::SUCCESS);
    assert_eq!((get_u32(&bytes, 0), get_u32(&bytes, 4), get_u32(&bytes, 8)), (1, 4, 32));
    assert_eq!(&bytes[32..36], b"A=1\0");
}

#[test]
fn out_of_bounds_pointers_fault_and_write_nothing() {
    let cx = context();
    let mut bytes = vec![0u8; 32];
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(args_sizes_get(&cx, &mut mem, 30, 0), errno::FAULT);
    assert_eq!(
        args_get(&cx, &mut mem, 0, 20),
        errno::FAULT,
        "strings would run past the end"
    );
    assert_eq!(args_get(&cx, &mut mem, u32::MAX - 2, 0), errno::FAULT);
    let mut host = FakeHost::default();
    assert_eq!(random_get(&mut host, &mut mem, 16, 17), errno::FAULT);
    assert_eq!(random_get(&mut host, &mut mem, u32::MAX, 2), errno::FAULT);
    assert_eq!(host.random_calls, 0, "the host must not be called with a bad buffer");
    assert_eq!(
        clock_time_get(&mut host, &mut mem, clock::REALTIME, 0, 28),
        errno::FAULT
    );
    assert!(bytes.iter().all(|&b| b == 0));
}

#[test]
fn fd_write_gathers_iovecs_and_reports_the_count() {
    let mut bytes = vec![0u8; 128];
    bytes[64..69].copy_from_slice(b"hello");
    bytes[80..86].copy_from_slice(b" world");
    put_u32(&mut bytes, 0, 64);
    put_u32(&mut bytes, 4, 5);
    put_u32(&mut bytes, 8, 100);
    put_u32(&mut bytes, 12, 0); // empty iovec is skipped
    put_u32(&mut bytes, 16, 80);
    put_u32(&mut bytes, 20, 6);
    let mut host = FakeHost::default();
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(fd_write(&mut host, &mut mem, 1, 0, 3, 32), errno::SUCCESS);
    assert_eq!(get_u32(&bytes, 32), 11);
    let out: Vec<u8> = host.written.iter().flat_map(|(_, d)| d.clone()).collect();
    assert_eq!(out, b"hello world");
    assert!(host.written.iter().all(|(fd, _)| *fd == 1));
}

#[test]
fn fd_write_stops_at_a_short_write() {
    let mut bytes = vec![0u8; 64];
    put_u32(&mut bytes, 0, 32);
    put_u32(&mut bytes, 4, 8);
    put_u32(&mut bytes, 8, 40);
    put_u32(&mut bytes, 12, 8);
    let mut host = FakeHost {
        write_limit: Some(3),
        ..Default::default()
    };
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(fd_write(&mut host, &mut mem, 1, 0, 2, 16), errno::SUCCESS);
    assert_eq!(get_u32(&bytes, 16), 3);
    assert_eq!(host.written.len(), 1);
}

#[test]
fn fd_write_checks_every_iovec_before_writing() {
    let mut bytes = vec![0u8; 64];
    put_u32(&mut bytes, 0, 32);
    put_u32(&mut bytes, 4, 4);
    put_u32(&mut bytes, 8, 60);
    put_u32(&mut bytes, 12, 8); // runs past the end
    let mut host = FakeHost::default();
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(fd_write(&mut host, &mut mem, 1, 0, 2, 16), errno::FAULT);
    assert!(host.written.is_empty());
    // An iovec array whose size overflows.
    assert_eq!(fd_write(&mut host, &mut mem, 1, 0, u32::MAX, 16), errno::OVERFLOW);
    // Bad fd comes from the host.
    assert_eq!(fd_write(&mut host, &mut mem, 9, 0, 1, 16), errno::BADF);
}

#[test]
fn fd_read_fills_in_order_and_stops_when_input_runs_short() {
    let mut bytes = vec![0u8; 64];
    put_u32(&mut bytes, 0, 32);
    put_u32(&mut bytes, 4, 4);
    put_u32(&mut bytes, 8, 40);
    put_u32(&mut bytes, 12, 8);
    let mut host = FakeHost {
        input: b"abcdef".to_vec(),
        ..Default::default()
    };
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(fd_read(&mut host, &mut mem, 0, 0, 2, 16), errno::SUCCESS);
    assert_eq!(get_u32(&bytes, 16), 6);
    assert_eq!(&bytes[32..36], b"abcd");
    assert_eq!(&bytes[40..42], b"ef");
}

#[test]
fn fdstat_layout() {
    let mut bytes = vec![0xffu8; 32];
    let mut host = FakeHost::default();
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(fd_fdstat_get(&mut host, &mut mem, 1, 8), errno::SUCCESS);
    assert_eq!(bytes[8], filetype::CHARACTER_DEVICE);
    assert_eq!(bytes[9], 0, "padding is zeroed");
    assert_eq!(u16::from_le_bytes([bytes[10], bytes[11]]), fdflags::APPEND);
    assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), rights::FD_WRITE);
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(fd_fdstat_get(&mut host, &mut mem, 7, 8), errno::BADF);
}

#[test]
fn clocks_and_random() {
    let mut bytes = vec![0u8; 32];
    let mut host = FakeHost::default();
    let mut mem = GuestMemory::new(&mut bytes);
    assert_eq!(
        clock_time_get(&mut host, &mut mem, clock::MONOTONIC, 1, 0),
        errno::SUCCESS
    );
    assert_eq!(clock_time_get(&mut host, &mut mem, 99, 1, 0), errno::INVAL);
    assert_eq!(clock_res_get(&mut host, &mut mem, clock::REALTIME, 8), errno::SUCCESS);
    assert_eq!(random_get(&mut host, &mut mem, 16, 16), errno::SUCCESS);
    assert_eq!(u64::from_le_bytes(bytes[0..8].try_into().unwrap()), 42);
    assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), 1);
    assert!(bytes[16..32].iter().all(|&b| b == 0xab));
}

#[test]
fn imports_outside_the_supported_set_are_named() {
    assert_eq!(unsupported_import(MODULE, "fd_write"), None);
    assert_eq!(
        unsupported_import(MODULE, "path_open").as_deref(),
        Some("not supported yet: wasi:path_open")
    );
    assert!(unsupported_import("env", "f")
        .unwrap()
        .contains("unknown import module `env`"));
}

#[test]
fn linux_errnos_map_to_preview1() {
    assert_eq!(errno::from_linux(9), errno::BADF);
    assert_eq!(errno::from_linux(4), errno::INTR);
    assert_eq!(errno::from_linux(512), errno::INTR);
    assert_eq!(errno::from_linux(32), errno::PIPE);
    assert_eq!(errno::from_linux(12345), errno::IO);
}
