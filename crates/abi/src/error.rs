//! Errors the module answers with, and the errno each travels as.

use core::fmt;

/// Linux errno values used on the wire (x86-64 / asm-generic numbering).
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const E2BIG: i32 = 7;
    pub const ENOMEM: i32 = 12;
    pub const EBUSY: i32 = 16;
    pub const EFAULT: i32 = 14;
    pub const EEXIST: i32 = 17;
    pub const ENOTDIR: i32 = 20;
    pub const EINVAL: i32 = 22;
    pub const ENOTTY: i32 = 25;
    pub const EPROTO: i32 = 71;
    pub const ENOTSOCK: i32 = 88;
    pub const EBADMSG: i32 = 74;
    pub const EBADFD: i32 = 77;
    pub const EOPNOTSUPP: i32 = 95;
}

/// Every way the module can refuse a request. Each has its own errno, so the
/// CLI can tell the user precisely what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The caller lacks the capability the operation needs (CAP_SYS_ADMIN).
    NotPermitted,
    /// The request's stated size is smaller than this ABI's layout.
    Truncated,
    /// A size or count in the request (the struct itself, an image, a
    /// string list, a value array) exceeds the module's limit.
    Oversized,
    /// A field holds a value this ABI does not define (engine, flag bit,
    /// value kind, a reserved field that is not zero).
    Unsupported,
    /// Fields of the request contradict each other (a length that is not a
    /// multiple of its element size, a count that does not match its
    /// strings, an empty image).
    Malformed,
    /// The caller speaks a different [`crate::ABI_VERSION`].
    AbiMismatch,
    /// A user pointer could not be read or written.
    BadAddress,
    /// Not a kwasm ioctl.
    UnknownCommand,
    /// The kernel could not allocate memory for the request.
    OutOfMemory,
    /// The module already runs as many instances as it allows, or another
    /// thread is using the same session.
    Busy,
    /// The open file is already a session.
    SessionExists,
    /// The request needs a session and the open file is not one.
    NoSession,
    /// No instance of the session has this handle.
    NoSuchInstance,
    /// A preopen fd is not a directory the caller has open.
    NotADirectory,
    /// A listening-socket fd is not a socket the caller has open.
    NotASocket,
}

impl Error {
    /// The errno the module returns (as `-errno`) for this error.
    pub const fn errno(self) -> i32 {
        match self {
            Error::NotPermitted => errno::EPERM,
            Error::Truncated => errno::EINVAL,
            Error::Oversized => errno::E2BIG,
            Error::Unsupported => errno::EOPNOTSUPP,
            Error::Malformed => errno::EBADMSG,
            Error::AbiMismatch => errno::EPROTO,
            Error::BadAddress => errno::EFAULT,
            Error::UnknownCommand => errno::ENOTTY,
            Error::OutOfMemory => errno::ENOMEM,
            Error::Busy => errno::EBUSY,
            Error::SessionExists => errno::EEXIST,
            Error::NoSession => errno::EBADFD,
            Error::NoSuchInstance => errno::ENOENT,
            Error::NotADirectory => errno::ENOTDIR,
            Error::NotASocket => errno::ENOTSOCK,
        }
    }

    /// The error an errno from a kwasm ioctl stands for.
    pub const fn from_errno(e: i32) -> Option<Error> {
        Some(match e {
            errno::EPERM => Error::NotPermitted,
            errno::EINVAL => Error::Truncated,
            errno::E2BIG => Error::Oversized,
            errno::EOPNOTSUPP => Error::Unsupported,
            errno::EBADMSG => Error::Malformed,
            errno::EPROTO => Error::AbiMismatch,
            errno::EFAULT => Error::BadAddress,
            errno::ENOTTY => Error::UnknownCommand,
            errno::ENOMEM => Error::OutOfMemory,
            errno::EBUSY => Error::Busy,
            errno::EEXIST => Error::SessionExists,
            errno::EBADFD => Error::NoSession,
            errno::ENOENT => Error::NoSuchInstance,
            errno::ENOTDIR => Error::NotADirectory,
            errno::ENOTSOCK => Error::NotASocket,
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::NotPermitted => "operation needs CAP_SYS_ADMIN (run as root)",
            Error::Truncated => "request is shorter than this ABI's layout (truncated request)",
            Error::Oversized => "a size in the request is above the module's limit",
            Error::Unsupported => {
                "the request asks for something this module does not support (engine, flag or value kind)"
            }
            Error::Malformed => "the request's fields contradict each other (malformed request)",
            Error::AbiMismatch => "kwasm.ko and this program speak different ABI versions",
            Error::BadAddress => "request points at memory the kernel cannot access",
            Error::UnknownCommand => "not a command kwasm.ko knows (is /dev/kwasm really kwasm?)",
            Error::OutOfMemory => "the kernel is out of memory",
            Error::Busy => {
                "kwasm.ko is running as many programs as it allows (or this session is in use by another thread); try again when one ends"
            }
            Error::SessionExists => "this open /dev/kwasm is already a session",
            Error::NoSession => "this open /dev/kwasm is not a session (SESSION first)",
            Error::NoSuchInstance => "no instance of this session has that handle",
            Error::NotADirectory => "a preopened directory (--dir) is not a directory this process has open",
            Error::NotASocket => "a listening socket (--tcplisten) is not a socket this process has open",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Error; 15] = [
        Error::NotASocket,
        Error::NotADirectory,
        Error::Busy,
        Error::SessionExists,
        Error::NoSession,
        Error::NoSuchInstance,
        Error::Malformed,
        Error::NotPermitted,
        Error::Truncated,
        Error::Oversized,
        Error::Unsupported,
        Error::AbiMismatch,
        Error::BadAddress,
        Error::UnknownCommand,
        Error::OutOfMemory,
    ];

    #[test]
    fn every_error_has_a_distinct_errno_that_round_trips() {
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(Error::from_errno(a.errno()), Some(*a));
            for b in &ALL[i + 1..] {
                assert_ne!(a.errno(), b.errno(), "{a:?} and {b:?} share an errno");
            }
        }
        assert_eq!(Error::from_errno(9999), None);
    }
}
