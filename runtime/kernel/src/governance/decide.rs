//! The decision table of ARCHITECTURE.md §Governance: what an action needs at each trust
//! level, for each principal, before the constitution's rules and quotas are applied.

use std::fmt;

/// The kinds of action the kernel decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// Call an active version within its declared effects and grants.
    Call,
    /// Low-risk planning: `planner.decompose`, `resolve_intent`, `generate_rtfs`,
    /// `validate_plan`, `introspect_result`.
    Plan,
    /// Read-only introspection: `introspect.*`, chain and graph queries, learning analysis.
    Introspect,
    /// Execute an agent-written plan that calls only active `[:pure]` capabilities.
    ExecutePurePlan,
    /// Synthesize, register or activate a `[:pure]` capability under `generated/`, roll one
    /// back, apply a learning improvement of that kind.
    ModifyPure,
    /// Anything effectful an agent creates or runs (non-pure versions, agent plans with
    /// effects), and new versions of human-installed ids.
    ModifyEffectful,
    /// Approve or reject a pending request.
    Approve,
    /// Grant a capability a directory, an environment variable or another effect.
    Grant,
    /// Raise the trust level.
    RaiseTrust,
    /// Replace the constitution.
    ChangeConstitution,
}

impl ActionKind {
    /// Every kind, in table order.
    pub const ALL: [ActionKind; 10] = [
        ActionKind::Call,
        ActionKind::Plan,
        ActionKind::Introspect,
        ActionKind::ExecutePurePlan,
        ActionKind::ModifyPure,
        ActionKind::ModifyEffectful,
        ActionKind::Approve,
        ActionKind::Grant,
        ActionKind::RaiseTrust,
        ActionKind::ChangeConstitution,
    ];

    /// The keyword a constitution rule uses for it.
    pub fn keyword(self) -> &'static str {
        match self {
            ActionKind::Call => "call",
            ActionKind::Plan => "plan",
            ActionKind::Introspect => "introspect",
            ActionKind::ExecutePurePlan => "execute-pure-plan",
            ActionKind::ModifyPure => "modify-pure",
            ActionKind::ModifyEffectful => "modify-effectful",
            ActionKind::Approve => "approve",
            ActionKind::Grant => "grant",
            ActionKind::RaiseTrust => "raise-trust",
            ActionKind::ChangeConstitution => "change-constitution",
        }
    }

    /// The kind named by a rule's keyword.
    pub fn parse(k: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|a| a.keyword() == k)
    }

    /// Approving, granting, raising trust and changing the constitution belong to the human
    /// principal alone, at every level.
    pub fn human_only(self) -> bool {
        matches!(
            self,
            ActionKind::Approve
                | ActionKind::Grant
                | ActionKind::RaiseTrust
                | ActionKind::ChangeConstitution
        )
    }
}

/// Who acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Who {
    /// The person at the CLI, for the commands that are theirs.
    Human,
    /// RTFS code, a guest, an LLM.
    Agent,
}

/// What the kernel decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Only after a human approves this exact request.
    RequireApproval,
    /// Never.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::RequireApproval => "require-approval",
            Verdict::Deny => "deny",
        })
    }
}

/// The highest trust level.
pub const MAX_TRUST: u8 = 4;

/// ARCHITECTURE.md's table: the decision for `who` doing `action` at trust `level` (levels
/// above 4 count as 4). A human's own commands are allowed (the constitution's `:deny` rules
/// still apply to them); an agent's are decided by the level, and the human-only actions are
/// denied to agents at every level.
pub fn table(level: u8, action: ActionKind, who: Who) -> Verdict {
    if who == Who::Human {
        return Verdict::Allow;
    }
    let level = level.min(MAX_TRUST);
    // The lowest level at which an agent may act without approval.
    let free_from = match action {
        ActionKind::Call | ActionKind::Plan => 0,
        ActionKind::Introspect => 1,
        ActionKind::ExecutePurePlan => 2,
        ActionKind::ModifyPure => 3,
        ActionKind::ModifyEffectful => 4,
        ActionKind::Approve
        | ActionKind::Grant
        | ActionKind::RaiseTrust
        | ActionKind::ChangeConstitution => return Verdict::Deny,
    };
    if level >= free_from {
        Verdict::Allow
    } else {
        Verdict::RequireApproval
    }
}
