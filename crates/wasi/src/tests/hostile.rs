//! Arbitrary arguments to every function: an errno each time, never a
//! panic, and nothing written outside the buffers the call was given
//! (checked by a guard region the calls never name).

use super::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Mostly edge values: 0, 1, small, around the end of memory, huge.
    fn arg(&mut self) -> u32 {
        let end = MEM as u32;
        match self.next() % 10 {
            0 => 0,
            1 => 1,
            2 => (self.next() % 8) as u32,
            3 => end - (self.next() % 64) as u32,
            4 => end,
            5 => u32::MAX - (self.next() % 4) as u32,
            6 => (self.next() % 16) as u32 + 3,
            _ => (self.next() % (MEM as u64 / 2)) as u32,
        }
    }

    fn wide(&mut self) -> u64 {
        match self.next() % 4 {
            0 => 0,
            1 => u64::MAX,
            2 => self.next() % 4096,
            _ => self.next(),
        }
    }
}

#[test]
fn arbitrary_arguments_never_panic() {
    let mut t = T::new();
    t.dir.write("f", b"some data");
    t.dir.mkdir("d");
    t.stdin.borrow_mut().extend(vec![b'x'; 1 << 12]);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    // Fill memory with plausible structures: small numbers and pointers.
    for i in 0..MEM / 4 {
        let v = r.arg();
        t.mem[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    // Plant valid structures for half the calls: paths, iovecs, and fds
    // 4 (a file), 5 (a directory), 6 (a socket).
    let paths: Vec<(u32, u32)> = [&b"f"[..], b"d", b"d/x", b"g", b"d/", b"../f", b"l"]
        .iter()
        .map(|p| t.data(p))
        .collect();
    let buf = t.alloc(256);
    let (iovs, _) = t.iovs(&[(buf, 16), (buf + 16, 0), (buf + 32, 64)]);
    assert_eq!(t.open(b"f", 0, RW, 0), Ok(4));
    assert_eq!(t.open(b"d", 0, rights::FD_READ, 0), Ok(5));
    let sock = FakeFile::Sock { state: Rc::default(), listener: false, nonblock: false };
    assert_eq!(t.cx.add_socket(sock, filetype::SOCKET_STREAM), Ok(6));
    let mut ok = [0u32; 44];
    for round in 0..20_000u32 {
        let mut a: [u32; 9] = core::array::from_fn(|_| r.arg());
        if r.next().is_multiple_of(2) {
            // (pointer, length) pairs at 0..2, 2..4, 4..6 become paths or
            // iovec arrays with their counts.
            for k in 0..3 {
                let (p, l) = if r.next().is_multiple_of(3) { (iovs, 3) } else { paths[(r.next() % 7) as usize] };
                a[2 * k] = p;
                a[2 * k + 1] = l;
            }
        }
        let w: [u64; 3] = core::array::from_fn(|_| r.wide());
        let fd = (r.next() % 8) as u32;
        let e = t.call(|h, cx, m| match round % 44 {
            0 => args_get(h, cx, m, a[0], a[1]),
            1 => environ_sizes_get(h, cx, m, a[0], a[1]),
            2 => clock_time_get(h, cx, m, a[0] % 6, w[0], a[1]),
            3 => fd_advise(h, cx, m, fd, w[0], w[1], a[0] % 8),
            4 => fd_allocate(h, cx, m, fd, w[0] % 4096, w[1] % 4096),
            5 => fd_fdstat_get(h, cx, m, fd, a[0]),
            6 => fd_fdstat_set_flags(h, cx, m, fd, a[0] % 64),
            7 => fd_fdstat_set_rights(h, cx, m, fd, w[0], w[1]),
            8 => fd_filestat_get(h, cx, m, fd, a[0]),
            9 => fd_filestat_set_size(h, cx, m, fd, w[0] % 8192),
            10 => fd_filestat_set_times(h, cx, m, fd, w[0] % (1 << 62), w[1] % (1 << 62), a[0] % 32),
            11 => fd_pread(h, cx, m, fd, a[0], a[1] % 64, w[0], a[2]),
            12 => fd_prestat_get(h, cx, m, fd, a[0]),
            13 => fd_prestat_dir_name(h, cx, m, fd, a[0], a[1]),
            14 => fd_pwrite(h, cx, m, fd, a[0], a[1] % 64, w[0] % 8192, a[2]),
            15 => fd_read(h, cx, m, fd, a[0], a[1] % 64, a[2]),
            16 => fd_readdir(h, cx, m, fd, a[0], a[1], w[0], a[2]),
            17 => fd_seek(h, cx, m, fd, w[0] as i64 % 8192, a[0] % 4, a[1]),
            18 => fd_tell(h, cx, m, fd, a[0]),
            19 => fd_write(h, cx, m, fd, a[0], a[1] % 64, a[2]),
            20 => path_create_directory(h, cx, m, fd, a[0], a[1]),
            21 => path_filestat_get(h, cx, m, fd, a[6] % 3, a[0], a[1], a[2]),
            22 => path_filestat_set_times(h, cx, m, fd, a[6] % 3, a[0], a[1], w[0] % (1 << 62), w[1] % (1 << 62), a[7] % 32),
            23 => path_link(h, cx, m, fd, a[6] % 3, a[0], a[1], (fd + 1) % 8, a[2], a[3]),
            24 => path_open(h, cx, m, fd, a[6] % 3, a[0], a[1], a[7] % 32, w[0] & rights::ALL, w[1] & rights::ALL, a[8] % 64, a[4]),
            25 => path_readlink(h, cx, m, fd, a[0], a[1], a[2], a[3], a[4]),
            26 => path_remove_directory(h, cx, m, fd, a[0], a[1]),
            27 => path_rename(h, cx, m, fd, a[0], a[1], (fd + 1) % 8, a[2], a[3]),
            28 => path_symlink(h, cx, m, a[0], a[1], fd, a[2], a[3]),
            29 => path_unlink_file(h, cx, m, fd, a[0], a[1]),
            30 => poll_oneoff(h, cx, m, a[0], a[1], a[2] % 8, a[3]),
            31 => proc_raise(h, cx, m, a[0] % 40),
            32 => random_get(h, cx, m, a[0], a[1] % 8192),
            33 => sock_accept(h, cx, m, fd, a[0] % 8, a[1]),
            34 => sock_recv(h, cx, m, fd, a[0], a[1] % 64, a[2] % 8, a[3], a[4]),
            35 => sock_send(h, cx, m, fd, a[0], a[1] % 64, a[2] % 2, a[3]),
            36 => sock_shutdown(h, cx, m, fd, a[0] % 5),
            37 => clock_res_get(h, cx, m, a[0] % 6, a[1]),
            38 => args_sizes_get(h, cx, m, a[0], a[1]),
            39 => environ_get(h, cx, m, a[0], a[1]),
            40 => fd_datasync(h, cx, m, fd),
            41 => fd_sync(h, cx, m, fd),
            // Keep the table from draining: close and renumber rarely.
            42 if round % 7 == 0 => fd_renumber(h, cx, m, fd, (fd + 1) % 8),
            43 if round % 13 == 0 => fd_close(h, cx, m, fd + 4),
            _ => sched_yield(h, cx, m),
        });
        assert!(e <= errno::NOTCAPABLE, "round {round}: errno {e}");
        if e == errno::SUCCESS {
            ok[(round % 44) as usize] += 1;
        }
    }
    std::eprintln!("successes per function: {ok:?}");
    // The arguments reach real work, not only the early refusals.
    assert!(ok.iter().filter(|&&n| n > 0).count() > 25, "{ok:?}");
    // The sandbox held: nothing was created outside the preopen.
    assert!(t.dir.0.exists());
}
