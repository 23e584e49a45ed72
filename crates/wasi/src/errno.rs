//! preview1 `errno` values (the subset kwasm returns so far).

pub type Errno = u16;

pub const SUCCESS: Errno = 0;
pub const ACCES: Errno = 2;
pub const AGAIN: Errno = 6;
pub const BADF: Errno = 8;
pub const FAULT: Errno = 21;
pub const INTR: Errno = 27;
pub const INVAL: Errno = 28;
pub const IO: Errno = 29;
pub const ISDIR: Errno = 31;
pub const NOMEM: Errno = 48;
pub const NOSPC: Errno = 51;
pub const NOSYS: Errno = 52;
pub const OVERFLOW: Errno = 61;
pub const PERM: Errno = 63;
pub const PIPE: Errno = 64;
pub const SPIPE: Errno = 70;

/// The preview1 errno for a Linux errno (positive, as in `-ret`).
pub fn from_linux(e: i32) -> Errno {
    match e {
        1 => PERM,
        4 | 512 /* ERESTARTSYS */ => INTR,
        5 => IO,
        9 => BADF,
        11 => AGAIN,
        12 => NOMEM,
        13 => ACCES,
        14 => FAULT,
        21 => ISDIR,
        22 => INVAL,
        28 => NOSPC,
        29 => SPIPE,
        32 => PIPE,
        38 => NOSYS,
        75 => OVERFLOW,
        _ => IO,
    }
}
