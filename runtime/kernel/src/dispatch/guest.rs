//! The dispatcher a guest's `kiln.call` reaches during a governed run: the same pipeline as a
//! plan's `call`, inside the calling guest's call (its remaining fuel and deadline).

use std::sync::Arc;

use kiln_sandbox::{NestedCall, SandboxError};
use rtfs::Value;

use super::Governed;

/// A run's dispatcher, as the sandbox's [`kiln_sandbox::Dispatcher`].
pub struct GuestCalls(pub Arc<Governed>);

impl kiln_sandbox::Dispatcher for GuestCalls {
    fn dispatch(
        &self,
        call: &mut NestedCall<'_>,
        id: &str,
        arg: Value,
    ) -> Result<Value, SandboxError> {
        self.0
            .call(Some(call), id, &arg)
            .map_err(|f| SandboxError::Dispatch {
                id: id.into(),
                reason: f.reason.as_str().into(),
                message: f.message,
            })
    }
}
