//! [`DecisionRecord`]: the one shape of a `decision` entry on the causal chain, whoever decided
//! what — a human's command, an agent's call, registration or plan — so that the learning loop
//! and `introspect.causal_chain` read every decision the same way.
//!
//! ```
//! use kiln_kernel::decision::{DecisionRecord, Recorded};
//! use kiln_kernel::governance::{ActionKind, Who};
//! let d = DecisionRecord {
//!     action: ActionKind::Call,
//!     who: Who::Agent,
//!     verdict: Recorded::Approved(7),
//!     reason: "a rule asks for approval".into(),
//!     rule: Some("ask".into()),
//!     capability: Some("echo".into()),
//!     hash: None,
//!     effects: vec![],
//! };
//! assert_eq!(DecisionRecord::from_value(&d.to_value()), Ok(d));
//! ```

use kiln_sandbox::Effect;
use kiln_store::Hash;
use rtfs::Value;

use crate::governance::{ActionKind, Decision, Verdict, Who};

/// A verdict as recorded: the constitution's, or an approval in force that let the action
/// proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Decided by the constitution.
    Verdict(Verdict),
    /// Needed approval, and human approval request N is in force for exactly this content.
    Approved(i64),
}

/// One decision as the chain holds it:
/// `{:action K :who W :verdict V [:approval N] :reason S [:rule R] [:capability ID]
/// [:hash H] :effects [E …]}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionRecord {
    /// What was decided on.
    pub action: ActionKind,
    /// Who acted.
    pub who: Who,
    /// The verdict.
    pub verdict: Recorded,
    /// Why: the table cell or the rule's reason.
    pub reason: String,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
    /// The capability concerned, if any.
    pub capability: Option<String>,
    /// The exact content decided on, when there is one: a version, a plan's source.
    pub hash: Option<Hash>,
    /// The effects involved.
    pub effects: Vec<Effect>,
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

impl DecisionRecord {
    /// The record of `decision` on an action, perhaps proceeding on approval `approval`.
    pub fn new(
        action: ActionKind,
        who: Who,
        decision: &Decision,
        approval: Option<i64>,
    ) -> DecisionRecord {
        DecisionRecord {
            action,
            who,
            verdict: match approval {
                Some(n) => Recorded::Approved(n),
                None => Recorded::Verdict(decision.verdict),
            },
            reason: decision.reason.clone(),
            rule: decision.rule.clone(),
            capability: None,
            hash: None,
            effects: Vec::new(),
        }
    }

    /// The chain entry's outcome: `ok` when it proceeds, `pending`, or `denied`.
    pub fn outcome(&self) -> &'static str {
        match self.verdict {
            Recorded::Verdict(Verdict::Allow) | Recorded::Approved(_) => "ok",
            Recorded::Verdict(Verdict::RequireApproval) => "pending",
            Recorded::Verdict(Verdict::Deny) => "denied",
        }
    }

    /// The entry's subject.
    pub fn to_value(&self) -> Value {
        let mut m = vec![
            (kw("action"), kw(self.action.keyword())),
            (kw("who"), kw(who_keyword(self.who))),
            (kw("reason"), Value::str(&self.reason)),
            (
                kw("effects"),
                Value::vector(self.effects.iter().map(|e| kw(e.as_str())).collect()),
            ),
        ];
        match self.verdict {
            Recorded::Verdict(v) => m.push((kw("verdict"), kw(&v.to_string()))),
            Recorded::Approved(n) => {
                m.push((kw("verdict"), kw("approved")));
                m.push((kw("approval"), Value::Int(n)));
            }
        }
        if let Some(r) = &self.rule {
            m.push((kw("rule"), Value::str(r)));
        }
        if let Some(c) = &self.capability {
            m.push((kw("capability"), Value::str(c)));
        }
        if let Some(h) = &self.hash {
            m.push((kw("hash"), Value::str(&h.hex())));
        }
        Value::map(m)
    }

    /// Reads a `decision` entry's subject back; `Err` says which field is missing or wrong.
    pub fn from_value(v: &Value) -> Result<DecisionRecord, String> {
        let map = v
            .as_map()
            .ok_or_else(|| format!("a decision is a map, not {}", rtfs::print::print(v)))?;
        let allowed = [
            "action",
            "who",
            "verdict",
            "approval",
            "reason",
            "rule",
            "capability",
            "hash",
            "effects",
        ];
        for (k, _) in map.entries().iter() {
            match k {
                Value::Keyword(k) if allowed.contains(&k.as_str()) => {}
                other => {
                    return Err(format!(
                        "a decision has no field {}",
                        rtfs::print::print(other)
                    ));
                }
            }
        }
        let keyword = |k: &str| match v.get_key(k) {
            Some(Value::Keyword(s)) => Ok(s.as_str().to_string()),
            _ => Err(format!("a decision's :{k} is a keyword")),
        };
        let text = |k: &str| match v.get_key(k) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(format!("a decision's :{k} is a string")),
        };
        let action = keyword("action")?;
        let action = ActionKind::parse(&action).ok_or(format!("unknown action :{action}"))?;
        let who = match keyword("who")?.as_str() {
            "human" => Who::Human,
            "agent" => Who::Agent,
            other => return Err(format!("unknown principal :{other}")),
        };
        let verdict = match (keyword("verdict")?.as_str(), v.get_key("approval")) {
            ("approved", Some(Value::Int(n))) => Recorded::Approved(*n),
            ("approved", _) => return Err("an :approved decision names its :approval".into()),
            (_, Some(_)) => return Err("only an :approved decision names an :approval".into()),
            ("allow", None) => Recorded::Verdict(Verdict::Allow),
            ("require-approval", None) => Recorded::Verdict(Verdict::RequireApproval),
            ("deny", None) => Recorded::Verdict(Verdict::Deny),
            (other, None) => return Err(format!("unknown verdict :{other}")),
        };
        let hash = match text("hash")? {
            None => None,
            Some(h) => Some(Hash::parse(&h).ok_or(format!("a decision's :hash {h:?}"))?),
        };
        let effects = match v.get_key("effects").and_then(Value::as_seq) {
            Some(s) => {
                s.items()
                    .iter()
                    .map(|e| match e {
                        Value::Keyword(k) => Effect::parse(k.as_str())
                            .ok_or(format!("unknown effect :{}", k.as_str())),
                        _ => Err("a decision's :effects are keywords".to_string()),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => return Err("a decision lists its :effects".into()),
        };
        Ok(DecisionRecord {
            action,
            who,
            verdict,
            reason: text("reason")?.ok_or("a decision gives its :reason")?,
            rule: text("rule")?,
            capability: text("capability")?,
            hash,
            effects,
        })
    }
}

fn who_keyword(who: Who) -> &'static str {
    match who {
        Who::Human => "human",
        Who::Agent => "agent",
    }
}
