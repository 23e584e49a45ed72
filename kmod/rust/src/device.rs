//! `/dev/kwasm`: who may open it, and what each ioctl does.

use crate::platform::{cred, user::UserPtr};
use crate::run::Ended;
use crate::session::{self, Op, Session};
use crate::MODULE_VERSION;
use core::mem::size_of;
use core::sync::atomic::AtomicPtr;
use kwasm_abi::ioctl::Command;
use kwasm_abi::{Error, RequestHeader, VersionInfo};

/// Opening the device is the privilege boundary: running native code in the
/// kernel is as trusted as `insmod`, so it takes CAP_SYS_ADMIN on top of the
/// node's 0600 mode. Checked at open, so a passed-on fd keeps the opener's
/// authority and nothing more.
pub fn open() -> Result<(), Error> {
    if cred::capable_sys_admin() {
        Ok(())
    } else {
        Err(Error::NotPermitted)
    }
}

pub fn ioctl(session: &AtomicPtr<Session>, cmd: u32, arg: UserPtr) -> Result<Ended, Error> {
    let replied = |r: Result<(), Error>| r.map(|()| Ended::Replied);
    match Command::decode(cmd).ok_or(Error::UnknownCommand)? {
        Command::Version => replied(version(arg)),
        // The file is known by its private_data slot's address.
        Command::Run => crate::run::ioctl(session as *const AtomicPtr<Session> as usize, arg),
        Command::List => replied(crate::list::ioctl(arg)),
        Command::Session => replied(session::create(session, arg)),
        Command::Instantiate => session::instantiate(session, arg),
        Command::Call => session::instance_op(session, Op::Call, arg),
        Command::Get => session::instance_op(session, Op::Get, arg),
        Command::Register => session::instance_op(session, Op::Register, arg),
        Command::Destroy => session::instance_op(session, Op::Destroy, arg),
    }
}

/// The last close of an open file: its parked runs end, then its session.
pub fn release(slot: &AtomicPtr<Session>) {
    crate::run::release(slot as *const AtomicPtr<Session> as usize);
    session::release_slot(slot);
}

/// The handshake (see [`kwasm_abi::VersionInfo`]): the reply is written
/// before the version check so a caller of any version learns ours.
fn version(arg: UserPtr) -> Result<(), Error> {
    let header: RequestHeader = arg.read()?;
    header.check_size(size_of::<VersionInfo>())?;
    arg.write(&VersionInfo::reply(header, MODULE_VERSION))?;
    header.check_version()
}
