//! `/dev/kwasm`: who may open it, and what each ioctl does.

use crate::platform::{cred, user::UserPtr};
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

pub fn ioctl(session: &AtomicPtr<Session>, cmd: u32, arg: UserPtr) -> Result<(), Error> {
    match Command::decode(cmd).ok_or(Error::UnknownCommand)? {
        Command::Version => version(arg),
        Command::Run => crate::run::ioctl(arg),
        Command::List => crate::list::ioctl(arg),
        Command::Session => session::create(session, arg),
        Command::Instantiate => session::instantiate(session, arg),
        Command::Call => session::instance_op(session, Op::Call, arg),
        Command::Get => session::instance_op(session, Op::Get, arg),
        Command::Register => session::instance_op(session, Op::Register, arg),
        Command::Destroy => session::instance_op(session, Op::Destroy, arg),
    }
}

/// The handshake (see [`kwasm_abi::VersionInfo`]): the reply is written
/// before the version check so a caller of any version learns ours.
fn version(arg: UserPtr) -> Result<(), Error> {
    let header: RequestHeader = arg.read()?;
    header.check_size(size_of::<VersionInfo>())?;
    arg.write(&VersionInfo::reply(header, MODULE_VERSION))?;
    header.check_version()
}
