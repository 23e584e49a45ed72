//! ioctl command numbers, encoded exactly as Linux's `_IOC()` macros do
//! (`include/uapi/asm-generic/ioctl.h`, which x86 uses unchanged).

use crate::session::{InstanceRequest, InstantiateRequest, SessionRequest};
use crate::{ListRequest, RunRequest, VersionInfo};

const NRBITS: u32 = 8;
const TYPEBITS: u32 = 8;
const SIZEBITS: u32 = 14;

const NRSHIFT: u32 = 0;
const TYPESHIFT: u32 = NRSHIFT + NRBITS;
const SIZESHIFT: u32 = TYPESHIFT + TYPEBITS;
const DIRSHIFT: u32 = SIZESHIFT + SIZEBITS;

/// `_IOC_NONE`
pub const DIR_NONE: u32 = 0;
/// `_IOC_WRITE`: user space writes, the kernel reads.
pub const DIR_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes, user space reads.
pub const DIR_READ: u32 = 2;

/// The ioctl "type" byte of every kwasm command. Unassigned in
/// Documentation/userspace-api/ioctl/ioctl-number.rst.
pub const MAGIC: u8 = 0xE5;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(size < (1 << SIZEBITS), "ioctl argument too large to encode");
    (dir << DIRSHIFT) | ((ty as u32) << TYPESHIFT) | ((nr as u32) << NRSHIFT) | ((size as u32) << SIZESHIFT)
}

/// `_IOWR(type, nr, T)`
pub const fn iowr<T>(ty: u8, nr: u8) -> u32 {
    ioc(DIR_READ | DIR_WRITE, ty, nr, core::mem::size_of::<T>())
}

/// Direction bits of a command (`_IOC_DIR`).
pub const fn dir(cmd: u32) -> u32 {
    cmd >> DIRSHIFT
}
/// Type byte of a command (`_IOC_TYPE`).
pub const fn ty(cmd: u32) -> u8 {
    (cmd >> TYPESHIFT) as u8
}
/// Number of a command (`_IOC_NR`).
pub const fn nr(cmd: u32) -> u8 {
    (cmd >> NRSHIFT) as u8
}
/// Argument size encoded in a command (`_IOC_SIZE`).
pub const fn size(cmd: u32) -> usize {
    ((cmd >> SIZESHIFT) & ((1 << SIZEBITS) - 1)) as usize
}

/// Command numbers (`_IOC_NR`). The module dispatches on type, number and
/// direction only: the size in the command is the caller's struct size, which
/// the request header states again and the module checks.
pub mod nr {
    /// [`super::VERSION`]
    pub const VERSION: u8 = 0x00;
    /// [`super::RUN`]
    pub const RUN: u8 = 0x01;
    /// [`super::LIST`]
    pub const LIST: u8 = 0x02;
    /// [`super::SESSION`]
    pub const SESSION: u8 = 0x03;
    /// [`super::INSTANTIATE`]
    pub const INSTANTIATE: u8 = 0x04;
    /// [`super::CALL`]
    pub const CALL: u8 = 0x05;
    /// [`super::GET`]
    pub const GET: u8 = 0x06;
    /// [`super::REGISTER`]
    pub const REGISTER: u8 = 0x07;
    /// [`super::DESTROY`]
    pub const DESTROY: u8 = 0x08;
}

/// Handshake: `ioctl(fd, VERSION, &mut VersionInfo)`. Frozen forever.
pub const VERSION: u32 = iowr::<VersionInfo>(MAGIC, nr::VERSION);

/// Run a program: `ioctl(fd, RUN, &mut RunRequest)`.
pub const RUN: u32 = iowr::<RunRequest>(MAGIC, nr::RUN);

/// List the running programs: `ioctl(fd, LIST, &mut ListRequest)`.
pub const LIST: u32 = iowr::<ListRequest>(MAGIC, nr::LIST);

/// Make this open file a session: `ioctl(fd, SESSION, &mut SessionRequest)`.
pub const SESSION: u32 = iowr::<SessionRequest>(MAGIC, nr::SESSION);

/// Instantiate an image in the session:
/// `ioctl(fd, INSTANTIATE, &mut InstantiateRequest)`.
pub const INSTANTIATE: u32 = iowr::<InstantiateRequest>(MAGIC, nr::INSTANTIATE);

/// Call an instance's export: `ioctl(fd, CALL, &mut InstanceRequest)`.
pub const CALL: u32 = iowr::<InstanceRequest>(MAGIC, nr::CALL);

/// Read an instance's global export: `ioctl(fd, GET, &mut InstanceRequest)`.
pub const GET: u32 = iowr::<InstanceRequest>(MAGIC, nr::GET);

/// Register an instance's exports under a module name:
/// `ioctl(fd, REGISTER, &mut InstanceRequest)`.
pub const REGISTER: u32 = iowr::<InstanceRequest>(MAGIC, nr::REGISTER);

/// Retire an instance handle: `ioctl(fd, DESTROY, &mut InstanceRequest)`.
pub const DESTROY: u32 = iowr::<InstanceRequest>(MAGIC, nr::DESTROY);

/// The kwasm command a raw ioctl number names, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// [`VERSION`]
    Version,
    /// [`RUN`]
    Run,
    /// [`LIST`]
    List,
    /// [`SESSION`]
    Session,
    /// [`INSTANTIATE`]
    Instantiate,
    /// [`CALL`]
    Call,
    /// [`GET`]
    Get,
    /// [`REGISTER`]
    Register,
    /// [`DESTROY`]
    Destroy,
}

impl Command {
    /// Decodes an ioctl number; `None` for anything that is not a kwasm
    /// command (answered with `ENOTTY`, as the kernel's convention is).
    pub const fn decode(cmd: u32) -> Option<Command> {
        if ty(cmd) != MAGIC {
            return None;
        }
        if dir(cmd) != DIR_READ | DIR_WRITE {
            return None;
        }
        Some(match nr(cmd) {
            nr::VERSION => Command::Version,
            nr::RUN => Command::Run,
            nr::LIST => Command::List,
            nr::SESSION => Command::Session,
            nr::INSTANTIATE => Command::Instantiate,
            nr::CALL => Command::Call,
            nr::GET => Command::Get,
            nr::REGISTER => Command::Register,
            nr::DESTROY => Command::Destroy,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_linux_macros() {
        // _IOWR(0xE5, 0, struct of 48 bytes) computed by hand:
        // dir=3<<30, size=48<<16, type=0xE5<<8, nr=0
        assert_eq!(ioc(3, 0xE5, 0, 48), 0xC030_E500);
        // A well-known kernel number: FIONREAD-style _IOR('T', 0x1B, int)?
        // Use BLKGETSIZE64 = _IOR(0x12, 114, size_t) = 0x80081272.
        assert_eq!(ioc(DIR_READ, 0x12, 114, 8), 0x8008_1272);
    }

    #[test]
    fn version_command_round_trips() {
        assert_eq!(ty(VERSION), MAGIC);
        assert_eq!(nr(VERSION), nr::VERSION);
        assert_eq!(dir(VERSION), DIR_READ | DIR_WRITE);
        assert_eq!(size(VERSION), core::mem::size_of::<VersionInfo>());
        assert_eq!(Command::decode(VERSION), Some(Command::Version));
        assert_eq!(Command::decode(RUN), Some(Command::Run));
        assert_eq!(Command::decode(LIST), Some(Command::List));
        let all = [SESSION, INSTANTIATE, CALL, GET, REGISTER, DESTROY];
        let commands = all.map(Command::decode);
        assert_eq!(
            commands,
            [
                Some(Command::Session),
                Some(Command::Instantiate),
                Some(Command::Call),
                Some(Command::Get),
                Some(Command::Register),
                Some(Command::Destroy)
            ]
        );
        assert_eq!(size(RUN), core::mem::size_of::<RunRequest>());
    }

    #[test]
    fn decode_rejects_foreign_and_unknown_commands() {
        assert_eq!(Command::decode(0x8008_1272), None);
        assert_eq!(Command::decode(ioc(DIR_READ | DIR_WRITE, MAGIC, 0x7f, 8)), None);
        // Right number, wrong direction.
        assert_eq!(Command::decode(ioc(DIR_WRITE, MAGIC, nr::VERSION, 8)), None);
    }

    #[test]
    fn decode_accepts_other_sizes_of_known_commands() {
        // Sizes are negotiated through the header, not the command number.
        let bigger = ioc(DIR_READ | DIR_WRITE, MAGIC, nr::VERSION, 256);
        assert_eq!(Command::decode(bigger), Some(Command::Version));
    }
}
