//! What was decided for code that makes calls — the guarantee under every analysis: a call
//! runs only if the callee's effects are covered by what was decided for its caller. A plan
//! judged pure (and approved or allowed as such) reaches only pure capabilities; a capability
//! reaches `kiln.call` only if its manifest declares `:call`, and only callees whose effects it
//! declares too. So no gap in a static analysis (`call` passed as a value, a computed id) can
//! ever become an effect that was not decided for.

use std::sync::Arc;

use kiln_sandbox::Effect;

/// The effects a caller's callees may have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Who calls (for messages): a capability id, or a plan.
    pub caller: Arc<str>,
    /// The effects decided for it.
    pub effects: Arc<[Effect]>,
    /// It calls through `kiln.call`, which needs `:call` declared.
    pub needs_call: bool,
}

impl Scope {
    /// A plan decided pure: only pure capabilities.
    pub fn pure_plan() -> Scope {
        Scope {
            caller: "a plan decided pure".into(),
            effects: Arc::from([]),
            needs_call: false,
        }
    }

    /// A capability with these declared effects, calling through `kiln.call`.
    pub fn capability(id: &str, effects: &[Effect]) -> Scope {
        Scope {
            caller: id.into(),
            effects: effects.into(),
            needs_call: true,
        }
    }

    /// Why calling `callee` (with `effects`) is outside this scope, if it is.
    pub fn refuses(&self, callee: &str, effects: &[Effect]) -> Option<String> {
        let declared = || {
            if self.effects.is_empty() {
                "[:pure]".to_string()
            } else {
                let names: Vec<String> = self
                    .effects
                    .iter()
                    .map(|e| format!(":{}", e.as_str()))
                    .collect();
                format!("[{}]", names.join(" "))
            }
        };
        if self.needs_call && !self.effects.contains(&Effect::Call) {
            return Some(format!(
                "{} declares {} without :call, so it may not call {callee}",
                self.caller,
                declared()
            ));
        }
        let missing = effects.iter().find(|e| !self.effects.contains(e))?;
        Some(format!(
            "{callee} has effect :{}, which was not decided for {} (its effects: {})",
            missing.as_str(),
            self.caller,
            declared()
        ))
    }
}
