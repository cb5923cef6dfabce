//! Every store mutation takes an [`Authorized`] value, and only the holder of the home's
//! [`Authority`] can make one. The governance kernel opens the home with
//! [`crate::Home::open_governed`] and keeps the authority to itself, so no other code path —
//! a capability, an RTFS function, a guest import — can change the registry or the chain
//! around it; everything else opens the home with [`crate::Home::open`] and can only read.
//!
//! ```compile_fail
//! # use kiln_store::{Home, Registry, Caller};
//! # fn f(home: &Home, manifest: &rtfs::Value) {
//! // Without an `Authorized<Register>` there is no way to call `register`.
//! home.registry.register(&Caller::human(), manifest, true);
//! # }
//! ```

use crate::registry::Caller;

/// The right to authorize store mutations (one per governed home).
pub struct Authority {
    _private: (),
}

impl Authority {
    pub(crate) fn new() -> Authority {
        Authority { _private: () }
    }

    /// A decision to let `caller` do `action`, recorded on the chain with the change.
    pub fn authorize<A>(&self, caller: Caller, action: A) -> Authorized<A> {
        Authorized { caller, action }
    }
}

/// Permission for one kind of mutation, carrying who asked (recorded on the chain).
pub struct Authorized<A> {
    caller: Caller,
    action: A,
}

impl<A> Authorized<A> {
    /// Who asked, and their deadline.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// What was authorized.
    pub fn action(&self) -> &A {
        &self.action
    }
}

/// Registering a version (and activating it).
#[derive(Clone, Copy, Debug)]
pub struct Register;

/// Registering (and activating) a version of one of kiln's own native capabilities: the
/// only way a version enters a native namespace, and only the kernel does it, at start.
#[derive(Clone, Copy, Debug)]
pub struct RegisterNative;

/// Moving an active pointer: activate, rollback.
#[derive(Clone, Copy, Debug)]
pub struct Activate;

/// Appending chain entries that record decisions, calls and sessions.
#[derive(Clone, Copy, Debug)]
pub struct Append;

/// Removing unreferenced objects.
#[derive(Clone, Copy, Debug)]
pub struct Collect;

/// Filing an approval request.
#[derive(Clone, Copy, Debug)]
pub struct Request;

/// Deciding an approval request (the human principal's alone).
#[derive(Clone, Copy, Debug)]
pub struct Decide;
