//! The registry's state as the causal chain says it is: which versions were registered, each
//! id's active version, every move of the pointers, each approval request and its decision,
//! the constitutions made active, each plan run's start and end — derived by replaying the
//! entries in order, then compared with the tables that govern behaviour. A row no entry
//! explains (an `active` row for a version never activated, an approval marked approved with
//! no decision, a constitution nobody approved) is named: same-user tampering with `kiln.db`
//! cannot be prevented, but `kiln verify` detects it.

use std::collections::{BTreeMap, HashMap};

use rtfs::Value;
use rusqlite::Transaction;

use crate::chain::Entry;
use crate::error::Result;

/// One move of an active pointer as the chain records it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChainMove {
    id: String,
    to: String,
    kind: String,
    chain: i64,
}

/// An approval request as the chain records it.
#[derive(Clone, Debug, Default)]
struct ChainApproval {
    action: String,
    hash: String,
    status: &'static str,
}

/// A plan run as the chain records it.
#[derive(Clone, Debug, Default)]
struct ChainPlan {
    source: Option<String>,
    end: Option<(i64, String)>,
}

/// The state the chain implies, built entry by entry.
#[derive(Default)]
pub struct Replay {
    versions: HashMap<String, (String, String, String)>,
    active: BTreeMap<String, String>,
    moves: Vec<ChainMove>,
    approvals: BTreeMap<i64, ChainApproval>,
    constitutions: Vec<(String, i64, i64)>,
    plans: BTreeMap<i64, ChainPlan>,
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get_key(k).and_then(Value::as_str).map(str::to_string)
}

fn int(v: &Value, k: &str) -> Option<i64> {
    match v.get_key(k) {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    }
}

fn keyword(v: &Value, k: &str) -> Option<String> {
    match v.get_key(k) {
        Some(Value::Keyword(s)) => Some(s.as_str().to_string()),
        _ => None,
    }
}

impl Replay {
    /// Takes one entry (in chain order).
    pub fn visit(&mut self, e: &Entry) {
        let s = &e.record.subject;
        let seq = e.seq as i64;
        match e.record.kind.as_str() {
            "cap.register" => {
                if let (Some(id), Some(v), Some(kind), Some(module)) = (
                    text(s, "id"),
                    text(s, "version"),
                    keyword(s, "kind"),
                    text(s, "module"),
                ) {
                    self.versions.entry(v).or_insert((id, kind, module));
                }
            }
            kind @ ("cap.activate" | "cap.rollback" | "cap.undo") => {
                let changed = matches!(s.get_key("changed"), Some(Value::Bool(true)));
                if let (true, Some(id), Some(to)) = (changed, text(s, "id"), text(s, "to")) {
                    self.active.insert(id.clone(), to.clone());
                    self.moves.push(ChainMove {
                        id,
                        to,
                        kind: kind.trim_start_matches("cap.").to_string(),
                        chain: seq,
                    });
                }
            }
            "cap.deactivate" => {
                if let (Some(id), Some(from)) = (text(s, "id"), text(s, "from")) {
                    self.active.remove(&id);
                    self.moves.push(ChainMove {
                        id,
                        to: from,
                        kind: "deactivate".into(),
                        chain: seq,
                    });
                }
            }
            "approval.request" => {
                if let Some(n) = int(s, "approval") {
                    self.approvals.insert(
                        n,
                        ChainApproval {
                            action: text(s, "action").unwrap_or_default(),
                            hash: text(s, "hash").unwrap_or_default(),
                            status: "pending",
                        },
                    );
                }
            }
            kind @ ("approval.approve" | "approval.reject") => {
                if let Some(a) = int(s, "approval").and_then(|n| self.approvals.get_mut(&n)) {
                    a.status = if kind == "approval.approve" {
                        "approved"
                    } else {
                        "rejected"
                    };
                }
            }
            "constitution.activate" => {
                if let (Some(h), Some(n)) = (text(s, "constitution"), int(s, "approval")) {
                    self.constitutions.push((h, n, seq));
                }
            }
            "plan.start" => {
                self.plans.insert(
                    seq,
                    ChainPlan {
                        source: text(s, "source-hash"),
                        end: None,
                    },
                );
            }
            "plan.end" => {
                if let Some(p) = int(s, "plan").and_then(|run| self.plans.get_mut(&run)) {
                    p.end = Some((seq, e.record.outcome.clone()));
                }
            }
            _ => {}
        }
    }

    /// Compares the tables with what the chain says; one line per row no entry explains.
    pub fn compare(&self, tx: &Transaction<'_>) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let rows = |sql: &str| -> Result<Vec<Vec<Option<String>>>> {
            let mut st = tx.prepare(sql)?;
            let n = st.column_count();
            let out = st
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                                rusqlite::types::Value::Null => None,
                                rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                                rusqlite::types::Value::Text(t) => Some(t),
                                other => Some(format!("{other:?}")),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(out)
        };
        let s = |v: &Option<String>| v.clone().unwrap_or_default();

        for r in rows("SELECT hash, id, kind, module FROM versions ORDER BY id, seq")? {
            let (hash, id) = (s(&r[0]), s(&r[1]));
            match self.versions.get(&hash) {
                None => problems.push(format!(
                    "the versions row of {id} {hash} has no cap.register entry on the chain (inserted by hand)"
                )),
                Some((cid, kind, module)) if (cid, kind, module) != (&id, &s(&r[2]), &s(&r[3])) => {
                    problems.push(format!(
                        "the versions row of {id} {hash} disagrees with its cap.register entry (edited)"
                    ))
                }
                Some(_) => {}
            }
        }

        let mut table_active = BTreeMap::new();
        for r in rows("SELECT id, hash FROM active")? {
            table_active.insert(s(&r[0]), s(&r[1]));
        }
        for (id, hash) in &table_active {
            match self.active.get(id) {
                Some(h) if h == hash => {}
                Some(h) => problems.push(format!(
                    "the active row of {id} names {hash}, but the chain's last move made {h} active (edited)"
                )),
                None => problems.push(format!(
                    "the active row of {id} names {hash}, but no move on the chain made any version of {id} active (inserted by hand)"
                )),
            }
        }
        for (id, h) in &self.active {
            if !table_active.contains_key(id) {
                problems.push(format!(
                    "the chain's last move made {h} the active version of {id}, but kiln.db has no active row for it (deleted)"
                ));
            }
        }

        let table_moves: Vec<ChainMove> =
            rows("SELECT id, hash, kind, chain FROM moves ORDER BY n")?
                .into_iter()
                .map(|r| ChainMove {
                    id: s(&r[0]),
                    to: s(&r[1]),
                    kind: s(&r[2]),
                    chain: s(&r[3]).parse().unwrap_or(-1),
                })
                .collect();
        if table_moves != self.moves {
            let first = table_moves
                .iter()
                .zip(&self.moves)
                .position(|(a, b)| a != b)
                .unwrap_or(table_moves.len().min(self.moves.len()));
            problems.push(format!(
                "the moves table ({} rows) disagrees with the chain's {} moves from move {} on (edited)",
                table_moves.len(),
                self.moves.len(),
                first + 1
            ));
        }

        for r in rows("SELECT n, action, hash, status FROM approvals ORDER BY n")? {
            let n: i64 = s(&r[0]).parse().unwrap_or(-1);
            let (action, hash, status) = (s(&r[1]), s(&r[2]), s(&r[3]));
            match self.approvals.get(&n) {
                None => problems.push(format!(
                    "approval request {n} has no approval.request entry on the chain (inserted by hand)"
                )),
                Some(a) if a.action != action || a.hash != hash => problems.push(format!(
                    "approval request {n} ({action} {hash}) disagrees with its approval.request entry (edited)"
                )),
                Some(a) if a.status != status => problems.push(format!(
                    "approval request {n} is {status} in kiln.db, but the chain says {} (edited)",
                    a.status
                )),
                Some(_) => {}
            }
        }

        let table_constitutions: Vec<(String, i64, i64)> =
            rows("SELECT hash, approval, chain FROM constitutions ORDER BY n")?
                .into_iter()
                .map(|r| {
                    (
                        s(&r[0]),
                        s(&r[1]).parse().unwrap_or(-1),
                        s(&r[2]).parse().unwrap_or(-1),
                    )
                })
                .collect();
        for (i, c) in table_constitutions.iter().enumerate() {
            if self.constitutions.get(i) != Some(c) {
                problems.push(format!(
                    "constitution row {} (approved by request {}, {}) has no matching constitution.activate entry (inserted or edited by hand)",
                    i + 1,
                    c.1,
                    c.0
                ));
            }
        }
        if self.constitutions.len() > table_constitutions.len() {
            problems.push(format!(
                "the chain made {} constitutions active, kiln.db lists {} (deleted)",
                self.constitutions.len(),
                table_constitutions.len()
            ));
        }
        for (hash, approval, _) in &self.constitutions {
            if self
                .approvals
                .get(approval)
                .is_none_or(|a| a.status != "approved" || &a.hash != hash)
            {
                problems.push(format!(
                    "constitution {hash} was made active without approval request {approval} approving it"
                ));
            }
        }

        let mut table_plans = BTreeMap::new();
        for r in rows("SELECT run, source, outcome, chain_last FROM plans ORDER BY run")? {
            let run: i64 = s(&r[0]).parse().unwrap_or(-1);
            table_plans.insert(run, ());
            match self.plans.get(&run) {
                None => problems.push(format!(
                    "plan run {run} has no plan.start entry on the chain (inserted by hand)"
                )),
                Some(p) => {
                    if p.source.as_ref().is_some_and(|h| *h != s(&r[1])) {
                        problems.push(format!(
                            "plan run {run}'s source {} is not the one its plan.start entry names (edited)",
                            s(&r[1])
                        ));
                    }
                    let ended = r[3].as_ref().map(|c| (c.parse().unwrap_or(-1), s(&r[2])));
                    if ended != p.end {
                        problems.push(format!(
                            "plan run {run}'s end ({}) disagrees with its plan.end entry (edited)",
                            r[2].as_deref().unwrap_or("running")
                        ));
                    }
                }
            }
        }
        for run in self.plans.keys() {
            if !table_plans.contains_key(run) {
                problems.push(format!(
                    "plan run {run} is on the chain but not in kiln.db (deleted)"
                ));
            }
        }
        Ok(problems)
    }
}
