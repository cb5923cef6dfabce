//! The dispatcher a guest's `kiln.call` reaches during a governed run: the same pipeline as a
//! plan's `call`, inside the calling guest's call (its remaining fuel and deadline).

use std::sync::Arc;

use kiln_sandbox::{NestedCall, SandboxError};
use rtfs::Value;

use super::Governed;
use crate::scope::Scope;

/// A run's dispatcher for one calling capability, as the sandbox's
/// [`kiln_sandbox::Dispatcher`].
pub struct GuestCalls {
    /// The run.
    pub gov: Arc<Governed>,
    /// What was decided for the calling capability (its declared effects).
    pub scope: Scope,
}

impl kiln_sandbox::Dispatcher for GuestCalls {
    fn dispatch(
        &self,
        call: &mut NestedCall<'_>,
        id: &str,
        arg: Value,
    ) -> Result<Value, SandboxError> {
        self.gov
            .guest_call(call, id, &arg, &self.scope)
            .map_err(|f| SandboxError::Dispatch {
                id: id.into(),
                reason: f.reason.as_str().into(),
                message: f.message,
            })
    }
}
