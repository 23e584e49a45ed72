//! preview1 `errno` values, and the mapping from Linux errnos.

pub type Errno = u16;

pub const SUCCESS: Errno = 0;
pub const TOOBIG: Errno = 1;
pub const ACCES: Errno = 2;
pub const ADDRINUSE: Errno = 3;
pub const ADDRNOTAVAIL: Errno = 4;
pub const AFNOSUPPORT: Errno = 5;
pub const AGAIN: Errno = 6;
pub const ALREADY: Errno = 7;
pub const BADF: Errno = 8;
pub const BADMSG: Errno = 9;
pub const BUSY: Errno = 10;
pub const CANCELED: Errno = 11;
pub const CHILD: Errno = 12;
pub const CONNABORTED: Errno = 13;
pub const CONNREFUSED: Errno = 14;
pub const CONNRESET: Errno = 15;
pub const DEADLK: Errno = 16;
pub const DESTADDRREQ: Errno = 17;
pub const DOM: Errno = 18;
pub const DQUOT: Errno = 19;
pub const EXIST: Errno = 20;
pub const FAULT: Errno = 21;
pub const FBIG: Errno = 22;
pub const HOSTUNREACH: Errno = 23;
pub const IDRM: Errno = 24;
pub const ILSEQ: Errno = 25;
pub const INPROGRESS: Errno = 26;
pub const INTR: Errno = 27;
pub const INVAL: Errno = 28;
pub const IO: Errno = 29;
pub const ISCONN: Errno = 30;
pub const ISDIR: Errno = 31;
pub const LOOP: Errno = 32;
pub const MFILE: Errno = 33;
pub const MLINK: Errno = 34;
pub const MSGSIZE: Errno = 35;
pub const MULTIHOP: Errno = 36;
pub const NAMETOOLONG: Errno = 37;
pub const NETDOWN: Errno = 38;
pub const NETRESET: Errno = 39;
pub const NETUNREACH: Errno = 40;
pub const NFILE: Errno = 41;
pub const NOBUFS: Errno = 42;
pub const NODEV: Errno = 43;
pub const NOENT: Errno = 44;
pub const NOEXEC: Errno = 45;
pub const NOLCK: Errno = 46;
pub const NOLINK: Errno = 47;
pub const NOMEM: Errno = 48;
pub const NOMSG: Errno = 49;
pub const NOPROTOOPT: Errno = 50;
pub const NOSPC: Errno = 51;
pub const NOSYS: Errno = 52;
pub const NOTCONN: Errno = 53;
pub const NOTDIR: Errno = 54;
pub const NOTEMPTY: Errno = 55;
pub const NOTRECOVERABLE: Errno = 56;
pub const NOTSOCK: Errno = 57;
pub const NOTSUP: Errno = 58;
pub const NOTTY: Errno = 59;
pub const NXIO: Errno = 60;
pub const OVERFLOW: Errno = 61;
pub const OWNERDEAD: Errno = 62;
pub const PERM: Errno = 63;
pub const PIPE: Errno = 64;
pub const PROTO: Errno = 65;
pub const PROTONOSUPPORT: Errno = 66;
pub const PROTOTYPE: Errno = 67;
pub const RANGE: Errno = 68;
pub const ROFS: Errno = 69;
pub const SPIPE: Errno = 70;
pub const SRCH: Errno = 71;
pub const STALE: Errno = 72;
pub const TIMEDOUT: Errno = 73;
pub const TXTBSY: Errno = 74;
pub const XDEV: Errno = 75;
/// The capability (a right the program gave up) does not allow it.
pub const NOTCAPABLE: Errno = 76;

/// What an escape attempt answers: an absolute path, a `..` or symlink
/// leading out of the directory, an absolute symlink target. wasmtime-wasi
/// answers [`PERM`] (cap-std's "escape attempt"), and so does kwasm, so
/// that programs see the same error under both.
pub const ESCAPE: Errno = PERM;

/// The preview1 errno for a Linux errno (`-ret` of a kernel function; a
/// negative value is taken as its magnitude).
///
/// `EXDEV` becomes [`XDEV`]; a platform that resolves beneath a directory
/// (where the kernel answers an escape with `EXDEV`) returns [`ESCAPE`]
/// for those itself. Unknown values, and kernel-internal ones with no user meaning,
/// become [`IO`], except the restart codes, which are [`INTR`].
pub fn from_linux(e: i32) -> Errno {
    match e.unsigned_abs() {
        0 => SUCCESS,
        1 => PERM,
        2 => NOENT,
        3 => SRCH,
        4 => INTR,
        5 => IO,
        6 => NXIO,
        7 => TOOBIG,
        8 => NOEXEC,
        9 => BADF,
        10 => CHILD,
        11 => AGAIN,
        12 => NOMEM,
        13 => ACCES,
        14 => FAULT,
        15 => NOTSUP,     // ENOTBLK
        16 => BUSY,
        17 => EXIST,
        18 => XDEV,
        19 => NODEV,
        20 => NOTDIR,
        21 => ISDIR,
        22 => INVAL,
        23 => NFILE,
        24 => MFILE,
        25 => NOTTY,
        26 => TXTBSY,
        27 => FBIG,
        28 => NOSPC,
        29 => SPIPE,
        30 => ROFS,
        31 => MLINK,
        32 => PIPE,
        33 => DOM,
        34 => RANGE,
        35 => DEADLK,
        36 => NAMETOOLONG,
        37 => NOLCK,
        38 => NOSYS,
        39 => NOTEMPTY,
        40 => LOOP,
        42 => NOMSG,
        43 => IDRM,
        61 => NOMSG,     // ENODATA (e.g. a missing xattr)
        62 => TIMEDOUT,  // ETIME
        67 => NOLINK,
        71 => PROTO,
        72 => MULTIHOP,
        74 => BADMSG,
        75 => OVERFLOW,
        84 => ILSEQ,
        88 => NOTSOCK,
        89 => DESTADDRREQ,
        90 => MSGSIZE,
        91 => PROTOTYPE,
        92 => NOPROTOOPT,
        93 => PROTONOSUPPORT,
        94 => NOTSUP, // ESOCKTNOSUPPORT
        95 => NOTSUP, // EOPNOTSUPP == ENOTSUP
        96 => AFNOSUPPORT, // EPFNOSUPPORT
        97 => AFNOSUPPORT,
        98 => ADDRINUSE,
        99 => ADDRNOTAVAIL,
        100 => NETDOWN,
        101 => NETUNREACH,
        102 => NETRESET,
        103 => CONNABORTED,
        104 => CONNRESET,
        105 => NOBUFS,
        106 => ISCONN,
        107 => NOTCONN,
        108 => PIPE, // ESHUTDOWN: sending after shutdown(SHUT_WR)
        110 => TIMEDOUT,
        111 => CONNREFUSED,
        112 => HOSTUNREACH, // EHOSTDOWN
        113 => HOSTUNREACH,
        114 => ALREADY,
        115 => INPROGRESS,
        116 => STALE,
        122 => DQUOT,
        125 => CANCELED,
        130 => OWNERDEAD,
        131 => NOTRECOVERABLE,
        // ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK:
        // a signal interrupted the call.
        512 | 513 | 514 | 516 => INTR,
        515 => NOTTY,  // ENOIOCTLCMD
        524 => NOTSUP, // ENOTSUPP (kernel-internal spelling)
        _ => IO,
    }
}
