//! Arguments, environment, clocks, randomness, process calls, the import
//! list and errno mapping.

use super::*;

#[test]
fn string_lists_parse_only_well_formed_input() {
    let l = StringList::from_packed(b"a\0bc\0\0".to_vec(), 3).unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(l.get(1), Some(&b"bc"[..]));
    assert_eq!(l.get(2), Some(&b""[..]));
    assert!(StringList::from_packed(b"a\0b".to_vec(), 2).is_none(), "missing terminator");
    assert!(StringList::from_packed(b"a\0b\0".to_vec(), 3).is_none(), "count mismatch");
    assert!(StringList::from_packed(Vec::new(), 0).unwrap().is_empty());
}

#[test]
fn args_and_environ_are_laid_out_like_preview1() {
    let mut t = T::new();
    assert_eq!(t.call(|h, cx, m| args_sizes_get(h, cx, m, 0, 4)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| args_get(h, cx, m, 16, 64)), errno::SUCCESS);
    assert_eq!((t.u32(0), t.u32(4)), (2, 17));
    assert_eq!((t.u32(16), t.u32(20)), (64, 69));
    assert_eq!(t.bytes(64, 17), b"prog\0hello world\0");

    assert_eq!(t.call(|h, cx, m| environ_sizes_get(h, cx, m, 100, 104)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| environ_get(h, cx, m, 108, 200)), errno::SUCCESS);
    assert_eq!((t.u32(100), t.u32(104), t.u32(108)), (1, 4, 200));
    assert_eq!(t.bytes(200, 4), b"A=1\0");
}

#[test]
fn out_of_bounds_pointers_fault_and_write_nothing() {
    let mut t = T::new();
    let end = MEM as u32;
    assert_eq!(t.call(|h, cx, m| args_sizes_get(h, cx, m, end - 2, 0)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| args_get(h, cx, m, 0, end - 10)), errno::FAULT, "strings run past the end");
    assert_eq!(t.call(|h, cx, m| args_get(h, cx, m, u32::MAX - 2, 0)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| random_get(h, cx, m, end - 16, 17)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| random_get(h, cx, m, u32::MAX, 2)), errno::FAULT);
    assert_eq!(t.host.random_calls, 0, "the host is never called with a bad buffer");
    assert_eq!(t.call(|h, cx, m| clock_time_get(h, cx, m, clock::REALTIME, 0, end - 4)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| fd_fdstat_get(h, cx, m, 1, end - 23)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| fd_filestat_get(h, cx, m, 3, end - 63)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| fd_prestat_get(h, cx, m, 3, end - 7)), errno::FAULT);
    assert!(t.mem.iter().all(|&b| b == 0));
}

#[test]
fn clocks_random_yield_and_raise() {
    let mut t = T::new();
    t.host.mono = 42;
    assert_eq!(t.call(|h, cx, m| clock_time_get(h, cx, m, clock::MONOTONIC, 1, 0)), errno::SUCCESS);
    assert_eq!(t.u64(0), 42);
    assert_eq!(t.call(|h, cx, m| clock_time_get(h, cx, m, clock::REALTIME, 1, 8)), errno::SUCCESS);
    assert_eq!(t.u64(8), fake::REALTIME_BASE + 42);
    assert_eq!(t.call(|h, cx, m| clock_time_get(h, cx, m, clock::PROCESS_CPUTIME, 1, 16)), errno::SUCCESS);
    assert_eq!(t.u64(16), 7, "CPU-time clocks are real in kwasm");
    assert_eq!(t.call(|h, cx, m| clock_time_get(h, cx, m, 4, 1, 0)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| clock_res_get(h, cx, m, clock::REALTIME, 24)), errno::SUCCESS);
    assert_eq!(t.u64(24), 1);
    assert_eq!(t.call(|h, cx, m| clock_res_get(h, cx, m, 99, 24)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| random_get(h, cx, m, 32, 16)), errno::SUCCESS);
    assert!(t.bytes(32, 16).iter().all(|&b| b == 0xab));
    assert_eq!(t.u8(48), 0, "nothing past the buffer");
    assert_eq!(t.call(sched_yield), errno::SUCCESS);
    assert_eq!(t.host.yields, 1);
    assert_eq!(t.call(|h, cx, m| proc_raise(h, cx, m, 15)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| proc_raise(h, cx, m, 31)), errno::INVAL);
    assert_eq!(t.host.raised, [15]);
}

#[test]
fn every_preview1_function_is_importable_and_nothing_else() {
    assert_eq!(FUNCTIONS.len(), 46);
    for name in FUNCTIONS {
        assert_eq!(unsupported_import(MODULE, name), None, "{name}");
    }
    assert!(unsupported_import(MODULE, "path_open_at").unwrap().contains("not a preview1 function"));
    assert!(unsupported_import("env", "f").unwrap().contains("unknown import module `env`"));
    assert!(unsupported_import("wasi_unstable", "fd_write").is_some());
}

#[test]
fn every_kwasm_net_function_is_importable_and_nothing_else() {
    for name in net::FUNCTIONS {
        assert_eq!(unsupported_import(net::MODULE, name), None, "{name}");
    }
    let why = unsupported_import(net::MODULE, "sock_accept").unwrap();
    assert!(why.contains("unknown import `kwasm_net::sock_accept`: not a kwasm_net function"), "{why}");
    assert_eq!(unsupported_import(MODULE, "poller_wait").map(|w| w.contains("not a preview1 function")), Some(true));
}

#[test]
fn linux_errnos_map_to_preview1() {
    let cases = [
        (1, errno::PERM),
        (2, errno::NOENT),
        (4, errno::INTR),
        (9, errno::BADF),
        (11, errno::AGAIN),
        (13, errno::ACCES),
        (17, errno::EXIST),
        (18, errno::XDEV),
        (20, errno::NOTDIR),
        (21, errno::ISDIR),
        (22, errno::INVAL),
        (24, errno::MFILE),
        (26, errno::TXTBSY),
        (27, errno::FBIG),
        (28, errno::NOSPC),
        (29, errno::SPIPE),
        (30, errno::ROFS),
        (31, errno::MLINK),
        (32, errno::PIPE),
        (36, errno::NAMETOOLONG),
        (38, errno::NOSYS),
        (39, errno::NOTEMPTY),
        (40, errno::LOOP),
        (75, errno::OVERFLOW),
        (84, errno::ILSEQ),
        (88, errno::NOTSOCK),
        (95, errno::NOTSUP),
        (98, errno::ADDRINUSE),
        (104, errno::CONNRESET),
        (107, errno::NOTCONN),
        (110, errno::TIMEDOUT),
        (111, errno::CONNREFUSED),
        (122, errno::DQUOT),
        (512, errno::INTR),
        (516, errno::INTR),
        (524, errno::NOTSUP),
        (12345, errno::IO),
    ];
    for (linux, wasi) in cases {
        assert_eq!(errno::from_linux(linux), wasi, "errno {linux}");
        assert_eq!(errno::from_linux(-linux), wasi, "errno -{linux}");
    }
    assert_eq!(errno::from_linux(i32::MIN), errno::IO);
}

#[test]
fn errors_from_the_real_filesystem_arrive_mapped() {
    let mut t = T::new();
    t.dir.write("f", b"x");
    t.dir.mkdir("d/sub");
    assert_eq!(t.path1(path_remove_directory, 3, b"d"), errno::NOTEMPTY);
    assert_eq!(t.path1(path_remove_directory, 3, b"f"), errno::NOTDIR);
    assert_eq!(t.path1(path_unlink_file, 3, b"d"), errno::ISDIR);
    assert_eq!(t.path1(path_create_directory, 3, b"d"), errno::EXIST);
    assert_eq!(t.path1(path_unlink_file, 3, b"missing"), errno::NOENT);
}
