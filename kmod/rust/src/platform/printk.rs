//! Kernel log output: `pr_info!`-style macros over `_printk`.
//!
//! Messages are formatted into a fixed buffer on the stack (no allocation,
//! so logging works on the allocation-failure and panic paths) and passed to
//! printk as a counted string, never as a format string.

use super::ffi;
use core::ffi::{c_char, c_int, CStr};
use core::fmt::{self, Write};

/// Longest message; longer ones are cut and end in "...".
const MAX_MESSAGE: usize = 480;

/// A printk level, with the `KERN_*` prefix as part of each format string.
#[derive(Clone, Copy)]
pub enum Level {
    Emerg,
    Err,
    Info,
}

impl Level {
    fn format(self) -> &'static CStr {
        match self {
            Level::Emerg => c"\x010kwasm: %.*s\n",
            Level::Err => c"\x013kwasm: %.*s\n",
            Level::Info => c"\x016kwasm: %.*s\n",
        }
    }
}

struct Buffer {
    bytes: [u8; MAX_MESSAGE],
    len: usize,
    truncated: bool,
}

impl Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_MESSAGE - self.len;
        let take = s.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

/// Writes one line to the kernel log, prefixed "kwasm: ".
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let mut buf = Buffer {
        bytes: [0; MAX_MESSAGE],
        len: 0,
        truncated: false,
    };
    let _ = buf.write_fmt(args);
    if buf.truncated {
        buf.len = MAX_MESSAGE - 3;
        buf.bytes[buf.len..MAX_MESSAGE].copy_from_slice(b"...");
        buf.len = MAX_MESSAGE;
    }
    // SAFETY: the format string is a NUL-terminated literal whose only
    // conversion, "%.*s", takes an int length and a pointer to that many
    // readable bytes; `buf.len <= MAX_MESSAGE` fits in an int and the bytes
    // live on this stack frame for the whole call.
    unsafe {
        ffi::_printk(
            level.format().as_ptr(),
            buf.len as c_int,
            buf.bytes.as_ptr() as *const c_char,
        );
    }
}

#[macro_export]
macro_rules! pr_emerg {
    ($($arg:tt)*) => { $crate::platform::printk::log($crate::platform::printk::Level::Emerg, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! pr_err {
    ($($arg:tt)*) => { $crate::platform::printk::log($crate::platform::printk::Level::Err, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! pr_info {
    ($($arg:tt)*) => { $crate::platform::printk::log($crate::platform::printk::Level::Info, format_args!($($arg)*)) };
}
