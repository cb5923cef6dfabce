//! What an approval request asks a human to let happen: the closed set of actions kiln files
//! requests for and can carry out when one is approved.

use std::fmt;

/// The action of an approval request (stored as its keyword in `approvals.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApprovalAction {
    /// Make a registered version active (the request names the version).
    Activate,
    /// Call a version (the request names the version).
    Call,
    /// Run an agent-written plan that calls only active pure capabilities (names its source).
    ExecutePlan,
    /// Run any other agent-written plan (names its source).
    ExecuteEffectfulPlan,
    /// Make a proposed constitution active (names its source).
    Constitution,
}

impl ApprovalAction {
    /// Every action.
    pub const ALL: [ApprovalAction; 5] = [
        ApprovalAction::Activate,
        ApprovalAction::Call,
        ApprovalAction::ExecutePlan,
        ApprovalAction::ExecuteEffectfulPlan,
        ApprovalAction::Constitution,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::Activate => "activate",
            ApprovalAction::Call => "call",
            ApprovalAction::ExecutePlan => "execute-plan",
            ApprovalAction::ExecuteEffectfulPlan => "execute-effectful-plan",
            ApprovalAction::Constitution => "constitution",
        }
    }

    /// The action a stored name means.
    pub fn parse(s: &str) -> Option<ApprovalAction> {
        ApprovalAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for ApprovalAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
