//! The governance kernel (ARCHITECTURE.md §Governance): the constitution, the decision table,
//! and the decision for one action — table × rules × principal × effects.

pub mod config;
pub mod constitution;
pub mod decide;

use kiln_sandbox::Effect;

pub use constitution::{ConfigError, Constitution, PrincipalMatch, Rule, glob_match};
pub use decide::{ActionKind, Verdict, Who};

/// One action to decide on.
#[derive(Clone, Debug)]
pub struct Action<'a> {
    /// Its kind.
    pub kind: ActionKind,
    /// The capability concerned (for calls, registrations …), if any.
    pub capability: Option<&'a str>,
    /// The effects it involves.
    pub effects: &'a [Effect],
    /// Who acts.
    pub who: Who,
}

/// A decision and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What the kernel decided.
    pub verdict: Verdict,
    /// Why: the table cell, or the rule that decided.
    pub reason: String,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
}

fn rule_matches(rule: &Rule, action: &Action<'_>) -> bool {
    // No constitution locks out the human who governs it: deciding requests and replacing the
    // constitution stay the human's whatever the rules say (so a bad rule can be undone).
    if action.who == Who::Human
        && matches!(
            action.kind,
            ActionKind::Approve | ActionKind::ChangeConstitution
        )
    {
        return false;
    }
    let principal = match rule.principal {
        PrincipalMatch::Any => true,
        PrincipalMatch::Human => action.who == Who::Human,
        PrincipalMatch::Agent => action.who == Who::Agent,
    };
    let kind = rule.actions.is_empty() || rule.actions.contains(&action.kind);
    let capability = match action.capability {
        Some(id) => glob_match(&rule.capability, id),
        None => rule.capability == "*",
    };
    let effects =
        rule.effects.is_empty() || rule.effects.iter().any(|e| action.effects.contains(e));
    principal && kind && capability && effects
}

/// Whether `action` is allowed by the table alone with no rule concerned — the common case
/// of a call, answered without building a [`Decision`] (whose reason is then the table cell).
pub fn plainly_allowed(c: &Constitution, trust: u8, action: &Action<'_>) -> bool {
    decide::table(trust.min(c.trust_level), action.kind, action.who) == Verdict::Allow
        && !c.rules.iter().any(|r| rule_matches(r, action))
}

/// Decides `action` at the constitution's trust level (or the lower `trust` of a run).
/// Order: the table gives the base; a matching `:deny` rule wins over everything; a matching
/// `:require-approval` rule turns an allow into an approval; a matching `:allow` rule relaxes
/// an approval — but never for the human-only actions, which agents are denied at every level.
pub fn decide(c: &Constitution, trust: u8, action: &Action<'_>) -> Decision {
    let level = trust.min(c.trust_level);
    let base = decide::table(level, action.kind, action.who);

    let cell = || {
        format!(
            "trust level {level}: {} by {} → {base}",
            action.kind.keyword(),
            match action.who {
                Who::Human => "the human",
                Who::Agent => "an agent",
            }
        )
    };
    let matching: Vec<&Rule> = c.rules.iter().filter(|r| rule_matches(r, action)).collect();
    let by = |v: Verdict| matching.iter().find(|r| r.decision == v);
    if let Some(r) = by(Verdict::Deny) {
        return Decision {
            verdict: Verdict::Deny,
            reason: r.reason.clone(),
            rule: Some(r.id.clone()),
        };
    }
    if base == Verdict::Deny {
        return Decision {
            verdict: Verdict::Deny,
            reason: format!(
                "{}: only the human approves, grants, raises trust or changes the constitution",
                cell()
            ),
            rule: None,
        };
    }
    if let Some(r) = by(Verdict::RequireApproval) {
        return Decision {
            verdict: Verdict::RequireApproval,
            reason: r.reason.clone(),
            rule: Some(r.id.clone()),
        };
    }
    if base == Verdict::RequireApproval
        && let Some(r) = by(Verdict::Allow)
    {
        return Decision {
            verdict: Verdict::Allow,
            reason: r.reason.clone(),
            rule: Some(r.id.clone()),
        };
    }
    Decision {
        verdict: base,
        reason: cell(),
        rule: None,
    }
}
