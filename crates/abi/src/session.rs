//! Sessions: instances that outlive one ioctl, addressed by handles.
//!
//! An open `/dev/kwasm` becomes a session with [`SessionRequest`]: one
//! engine, one Wasmtime store, the limits and WASI arguments of every
//! instance in it. [`InstantiateRequest`] loads an image into it and
//! returns a handle; [`InstanceRequest`] then calls an export, reads a
//! global, registers the instance's exports under a name (so later
//! instances import them, as the spec testsuite's `register` does) or
//! forgets the handle. `kwasm run --invoke` and the spec testsuite runner
//! both work this way. Closing the file ends the session and frees every
//! instance (a store frees its instances together, so `DESTROY` only
//! retires the handle).

use crate::run::{check_image, EngineSpec, Limits, Reply, UserBuf, WasiArgs, MAX_NAME_LEN, MAX_VALUES, VALUE_SIZE};
use crate::{Error, RequestHeader};

/// `SessionRequest::options`: provide the spec testsuite's `spectest`
/// host module (print functions, globals, a table and a memory).
pub const SESSION_SPECTEST: u32 = 1 << 0;
/// Every option this ABI defines.
pub const SESSION_OPTIONS_ALL: u32 = SESSION_SPECTEST;

/// Most instances one session may hold.
pub const MAX_SESSION_INSTANCES: u32 = 10_000;

/// `ioctl(fd, SESSION, &mut SessionRequest)`: make this open file a
/// session. Once per open file (again: `EEXIST`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionRequest {
    pub header: RequestHeader,
    /// The engine every image of the session is compiled for.
    pub engine: EngineSpec,
    /// WASI arguments and environment of the session's instances.
    pub wasi: WasiArgs,
    /// Limits: fuel for the whole session, the time limit for each
    /// instantiation and each call, the cap on each memory.
    pub limits: Limits,
    /// `SESSION_*` options.
    pub options: u32,
    pub reserved: u32,
    /// In/out: [`crate::Outcome::Returned`] when the session exists;
    /// [`crate::Outcome::LoadFailed`] with the reason when this module
    /// cannot run the engine (another fingerprint, missing CPU features).
    pub reply: Reply,
}

impl SessionRequest {
    pub fn new() -> SessionRequest {
        SessionRequest {
            header: RequestHeader::for_request::<SessionRequest>(),
            ..Default::default()
        }
    }

    pub const fn check(&self) -> Result<(), Error> {
        if let Err(e) = self.engine.check() {
            return Err(e);
        }
        if self.options & !SESSION_OPTIONS_ALL != 0 || self.reserved != 0 {
            return Err(Error::Unsupported);
        }
        self.wasi.check()
    }
}

/// `ioctl(fd, INSTANTIATE, &mut InstantiateRequest)`: load an image into
/// the session and instantiate it, linking its imports against WASI, the
/// registered instances and (if asked for) `spectest`; its start function
/// runs. On [`crate::Outcome::Returned`], `handle` names the instance.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstantiateRequest {
    pub header: RequestHeader,
    /// In: the precompiled module (for the session's engine).
    pub image: UserBuf,
    /// Out: the new instance's handle (never 0).
    pub handle: u32,
    pub reserved: u32,
    /// In/out: how it went.
    pub reply: Reply,
}

impl InstantiateRequest {
    pub fn new() -> InstantiateRequest {
        InstantiateRequest {
            header: RequestHeader::for_request::<InstantiateRequest>(),
            ..Default::default()
        }
    }

    pub const fn check(&self) -> Result<(), Error> {
        if self.reserved != 0 {
            return Err(Error::Unsupported);
        }
        check_image(self.image)
    }
}

/// One operation on an instance: `ioctl(fd, CALL | GET | REGISTER |
/// DESTROY, &mut InstanceRequest)`.
///
/// * `CALL`: call export `name` with `params`; its results go to `results`
///   (`results_count` says how many it returned; at most the room given
///   are written).
/// * `GET`: read global export `name` into `results[0]`.
/// * `REGISTER`: make the instance's exports importable as module `name`.
/// * `DESTROY`: retire the handle (`name`, `params`, `results` unused).
///
/// An unknown handle is `ENOENT`; what the instance did (or that it has no
/// such export) is in `reply`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceRequest {
    pub header: RequestHeader,
    /// In: the instance, as INSTANTIATE returned it.
    pub handle: u32,
    pub reserved: u32,
    /// In: export name (CALL, GET) or module name (REGISTER), UTF-8.
    pub name: UserBuf,
    /// In: an array of [`crate::Value`] (CALL).
    pub params: UserBuf,
    /// In: room for an array of [`crate::Value`]; out: `results_count`.
    pub results: UserBuf,
    /// Out: how many values the call returned.
    pub results_count: u32,
    pub reserved2: u32,
    /// In/out: how it went.
    pub reply: Reply,
}

impl InstanceRequest {
    pub fn new(handle: u32) -> InstanceRequest {
        InstanceRequest {
            header: RequestHeader::for_request::<InstanceRequest>(),
            handle,
            ..Default::default()
        }
    }

    pub const fn check(&self) -> Result<(), Error> {
        if self.reserved != 0 || self.reserved2 != 0 {
            return Err(Error::Unsupported);
        }
        if !self.params.len.is_multiple_of(VALUE_SIZE) || !self.results.len.is_multiple_of(VALUE_SIZE) {
            return Err(Error::Malformed);
        }
        if self.name.len > MAX_NAME_LEN || self.params.len > MAX_VALUES * VALUE_SIZE {
            return Err(Error::Oversized);
        }
        Ok(())
    }
}

impl crate::Request for SessionRequest {
    fn header(&self) -> &RequestHeader {
        &self.header
    }

    fn check_fields(&self) -> Result<(), Error> {
        self.check()
    }
}

impl crate::Request for InstantiateRequest {
    fn header(&self) -> &RequestHeader {
        &self.header
    }

    fn check_fields(&self) -> Result<(), Error> {
        self.check()
    }
}

impl crate::Request for InstanceRequest {
    fn header(&self) -> &RequestHeader {
        &self.header
    }

    fn check_fields(&self) -> Result<(), Error> {
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ENGINE_PULLEY;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts_are_pinned() {
        assert_eq!(size_of::<SessionRequest>(), 200);
        assert_eq!(offset_of!(SessionRequest, reply), 168);
        assert_eq!(offset_of!(SessionRequest, wasi), 32);
        assert_eq!(offset_of!(SessionRequest, limits), 136);
        assert_eq!(offset_of!(SessionRequest, options), 160);
        assert_eq!(size_of::<InstantiateRequest>(), 64);
        assert_eq!(offset_of!(InstantiateRequest, handle), 24);
        assert_eq!(offset_of!(InstantiateRequest, reply), 32);
        assert_eq!(size_of::<InstanceRequest>(), 104);
        assert_eq!(offset_of!(InstanceRequest, name), 16);
        assert_eq!(offset_of!(InstanceRequest, params), 32);
        assert_eq!(offset_of!(InstanceRequest, results), 48);
        assert_eq!(offset_of!(InstanceRequest, results_count), 64);
        assert_eq!(offset_of!(InstanceRequest, reply), 72);
    }

    #[test]
    fn session_check_refuses_unknown_options_and_engines() {
        let mut r = SessionRequest::new();
        r.engine.engine = ENGINE_PULLEY;
        assert_eq!(r.check(), Ok(()));
        r.options = SESSION_SPECTEST;
        assert_eq!(r.check(), Ok(()));
        r.options = 1 << 7;
        assert_eq!(r.check(), Err(Error::Unsupported));
        r.options = 0;
        r.engine.engine = 0;
        assert_eq!(r.check(), Err(Error::Unsupported));
    }

    #[test]
    fn instance_check_refuses_bad_buffers() {
        let ok = InstanceRequest::new(1);
        assert_eq!(ok.check(), Ok(()));
        type Case = (fn(&mut InstanceRequest), Error);
        let cases: [Case; 5] = [
            (|r| r.reserved = 1, Error::Unsupported),
            (|r| r.params.len = VALUE_SIZE + 1, Error::Malformed),
            (|r| r.results.len = 3, Error::Malformed),
            (|r| r.name.len = MAX_NAME_LEN + 1, Error::Oversized),
            (|r| r.params.len = (MAX_VALUES + 1) * VALUE_SIZE, Error::Oversized),
        ];
        for (i, (mutate, want)) in cases.iter().enumerate() {
            let mut r = ok;
            mutate(&mut r);
            assert_eq!(r.check(), Err(*want), "case {i}");
        }
    }

    #[test]
    fn validate_checks_size_then_version_then_fields() {
        use crate::Request;
        let mut r = InstanceRequest::new(1);
        r.reserved = 1;
        assert_eq!(r.validate(), Err(Error::Unsupported));
        r.header.abi_version += 1;
        assert_eq!(r.validate(), Err(Error::AbiMismatch));
        r.header.size -= 1;
        assert_eq!(r.validate(), Err(Error::Truncated));
        let list = crate::ListRequest::new(UserBuf { ptr: 1, len: 3 });
        assert_eq!(list.validate(), Err(Error::Malformed));
    }

    #[test]
    fn instantiate_needs_an_image() {
        let mut r = InstantiateRequest::new();
        assert_eq!(r.check(), Err(Error::Malformed));
        r.image = UserBuf { ptr: 0x1000, len: 10 };
        assert_eq!(r.check(), Ok(()));
    }
}
