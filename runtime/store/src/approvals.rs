//! Approval requests: each names the exact hash of what it approves (a version manifest, a
//! plan source, a constitution), the action, risk, reasons, requester and expiry. Filing and
//! deciding are mutations (`Authorized<Request>` / `Authorized<Decide>`), each recorded on the
//! chain in the same transaction.

use rtfs::Value;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::authority::{Authorized, Decide, Request};
use crate::chain::{self, Record};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::hash::Hash;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the human.
    Pending,
    /// Approved: the approved thing may proceed.
    Approved,
    /// Rejected.
    Rejected,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "approved" => Some(Status::Approved),
            "rejected" => Some(Status::Rejected),
            _ => None,
        }
    }
}

/// A new request.
#[derive(Clone, Debug)]
pub struct NewRequest {
    /// The action, e.g. `activate` (a version), `constitution` (a new constitution).
    pub action: String,
    /// The capability id (or `constitution`).
    pub subject: String,
    /// The exact hash approved.
    pub hash: Hash,
    /// `low`, `medium`, `high`.
    pub risk: String,
    /// Why approval is needed.
    pub reasons: Vec<String>,
    /// Who asks, e.g. `agent plan/12`.
    pub requester: String,
    /// Unix seconds after which the request lapses.
    pub expires_at: i64,
}

/// A stored request.
#[derive(Clone, Debug)]
pub struct Approval {
    /// Its number.
    pub n: i64,
    /// The request.
    pub request: NewRequest,
    /// Where it stands (a pending request past its expiry is reported as such by callers).
    pub status: Status,
    /// Unix seconds.
    pub created_at: i64,
    /// The human's reason, for a decision.
    pub note: Option<String>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawApproval> {
    // rusqlite reads a row into a tuple of its columns' types.
    RawApproval::try_from(r)
}

/// A raw row: n, action, subject, hash, risk, reasons, requester, expires_at, status,
/// created_at, note.
type RawApproval = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<String>,
);

const SELECT: &str = "SELECT n, action, subject, hash, risk, reasons, requester, expires_at, status, created_at, note FROM approvals";

fn to_approval(t: RawApproval) -> Result<Approval> {
    let bad = || StoreError::Invalid(format!("approval {} is malformed (run `kiln verify`)", t.0));
    Ok(Approval {
        n: t.0,
        request: NewRequest {
            action: t.1,
            subject: t.2,
            hash: Hash::parse(&t.3).ok_or_else(bad)?,
            risk: t.4,
            reasons: t
                .5
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            requester: t.6,
            expires_at: t.7,
        },
        status: Status::parse(&t.8).ok_or_else(bad)?,
        created_at: t.9,
        note: t.10,
    })
}

fn get_in(tx: &Transaction<'_>, n: i64) -> Result<Option<Approval>> {
    let t = tx
        .query_row(&format!("{SELECT} WHERE n = ?1"), [n], row)
        .optional()?;
    t.map(to_approval).transpose()
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

/// Files a request (or returns the pending one for the same action and hash); returns its
/// number.
pub fn file(db: &Db, auth: &Authorized<Request>, req: &NewRequest) -> Result<i64> {
    db.write(auth.caller().deadline, |tx| {
        let existing: Option<i64> = tx
            .query_row(
                "SELECT n FROM approvals WHERE action = ?1 AND hash = ?2 AND status = 'pending' AND expires_at >= ?3",
                params![req.action, req.hash.hex(), chain::now_ms() / 1000],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(n) = existing {
            return Ok(n);
        }
        let now = chain::now_ms() / 1000;
        tx.execute(
            "INSERT INTO approvals (action, subject, hash, risk, reasons, requester, expires_at, status, created_at, chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, 0)",
            params![
                req.action,
                req.subject,
                req.hash.hex(),
                req.risk,
                req.reasons.join("\n"),
                req.requester,
                req.expires_at,
                now
            ],
        )?;
        let n = tx.last_insert_rowid();
        let e = chain::append_one(
            tx,
            &auth.caller().context,
            Record {
                outcome: "pending".into(),
                ..Record::ok(
                    "approval.request",
                    Value::map(vec![
                        (kw("approval"), Value::Int(n)),
                        (kw("action"), Value::str(&req.action)),
                        (kw("subject"), Value::str(&req.subject)),
                        (kw("hash"), Value::str(&req.hash.hex())),
                        (kw("risk"), kw(&req.risk)),
                        (
                            kw("reasons"),
                            Value::vector(req.reasons.iter().map(|r| Value::str(r)).collect()),
                        ),
                    ]),
                )
            },
        )?;
        tx.execute("UPDATE approvals SET chain = ?1 WHERE n = ?2", params![e.seq as i64, n])?;
        Ok(n)
    })
}

/// Records the human's decision on a pending request, in the same transaction as `then`
/// (the approved change itself), which runs only when approving. A request that is not
/// pending, or has expired, is refused.
pub fn decide<T>(
    db: &Db,
    auth: &Authorized<Decide>,
    n: i64,
    approve: bool,
    note: Option<&str>,
    then: impl FnOnce(&Transaction<'_>, &Approval) -> Result<T>,
) -> Result<Option<T>> {
    db.write(auth.caller().deadline, |tx| {
        let a = get_in(tx, n)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no approval request {n}")))?;
        if a.status != Status::Pending {
            return Err(StoreError::Invalid(format!(
                "approval request {n} is already {}",
                a.status.as_str()
            )));
        }
        let now = chain::now_ms() / 1000;
        if approve && now > a.request.expires_at {
            return Err(StoreError::Invalid(format!(
                "approval request {n} expired; re-run the work to file a new one"
            )));
        }
        let status = if approve {
            Status::Approved
        } else {
            Status::Rejected
        };
        let e = chain::append_one(
            tx,
            &auth.caller().context,
            Record::ok(
                if approve {
                    "approval.approve"
                } else {
                    "approval.reject"
                },
                Value::map(vec![
                    (kw("approval"), Value::Int(n)),
                    (kw("hash"), Value::str(&a.request.hash.hex())),
                    (kw("note"), note.map_or(Value::Nil, Value::str)),
                ]),
            ),
        )?;
        let _ = e;
        tx.execute(
            "UPDATE approvals SET status = ?1, note = ?2, decided_at = ?3 WHERE n = ?4",
            params![status.as_str(), note, now, n],
        )?;
        if approve {
            Ok(Some(then(tx, &a)?))
        } else {
            Ok(None)
        }
    })
}

/// One request.
pub fn get(db: &Db, n: i64) -> Result<Option<Approval>> {
    db.read(|tx| get_in(tx, n))
}

/// Requests, newest first; only pending ones when `pending_only`.
pub fn list(db: &Db, pending_only: bool) -> Result<Vec<Approval>> {
    db.read(|tx| {
        let sql = if pending_only {
            format!("{SELECT} WHERE status = 'pending' ORDER BY n DESC")
        } else {
            format!("{SELECT} ORDER BY n DESC")
        };
        let mut st = tx.prepare(&sql)?;
        let rows = st
            .query_map([], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_approval).collect()
    })
}

/// Whether `action` on exactly `hash` was approved. A row marked approved with no
/// `approval.approve` entry on the chain for it (kiln.db edited by hand) is an error, never an
/// approval.
pub fn approved(db: &Db, action: &str, hash: &Hash) -> Result<Option<i64>> {
    db.read(|tx| {
        let n: Option<i64> = tx
            .query_row(
                "SELECT n FROM approvals WHERE action = ?1 AND hash = ?2 AND status = 'approved' ORDER BY n DESC LIMIT 1",
                params![action, hash.hex()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(n) = n else { return Ok(None) };
        let decided = entries_of(tx, "approval.approve")?.iter().any(|e| {
            let s = &e.record.subject;
            s.get_key("approval") == Some(&Value::Int(n))
                && s.get_key("hash").and_then(Value::as_str) == Some(hash.hex().as_str())
        });
        if !decided {
            return Err(StoreError::Invalid(format!(
                "approval request {n} is marked approved in kiln.db, but no human's approval of it is on the chain (the database was edited): run `kiln verify`"
            )));
        }
        Ok(Some(n))
    })
}

/// The entries of `kind`, decoded, oldest first.
fn entries_of(tx: &Transaction<'_>, kind: &str) -> Result<Vec<chain::Entry>> {
    chain::entries(
        tx,
        &chain::Filter {
            kind: Some(kind.into()),
            ..Default::default()
        },
    )
}

/// The active constitution: its row number and the hash of its source object (`None` on a
/// home still governed by the built-in default). The row must be the one the chain's last
/// `constitution.activate` entry made active: a row added or edited by hand is an error, so
/// kiln never runs under a constitution no human approved.
pub fn active_constitution(db: &Db) -> Result<Option<(i64, Hash)>> {
    db.read(|tx| {
        let row: Option<(i64, String, i64, i64)> = tx
            .query_row(
                "SELECT n, hash, approval, chain FROM constitutions ORDER BY n DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let last = entries_of(tx, "constitution.activate")?.pop();
        let tampered = |why: &str| {
            Err(StoreError::Invalid(format!(
                "the constitution in kiln.db is not the one the chain made active ({why}; the database was edited): run `kiln verify`"
            )))
        };
        match (row, last) {
            (None, None) => Ok(None),
            (None, Some(_)) => tampered("its row is gone"),
            (Some(_), None) => tampered("no constitution.activate entry"),
            (Some((n, h, approval, seq)), Some(e)) => {
                let s = &e.record.subject;
                if e.seq as i64 != seq
                    || s.get_key("constitution").and_then(Value::as_str) != Some(h.as_str())
                    || s.get_key("approval") != Some(&Value::Int(approval))
                {
                    return tampered("row and entry disagree");
                }
                Hash::parse(&h)
                    .map(|h| Some((n, h)))
                    .ok_or_else(|| StoreError::Invalid(format!("constitution row {n} is malformed")))
            }
        }
    })
}

/// Makes the constitution whose source object is `hash` active, inside the transaction of
/// the approval that allows it.
pub fn activate_constitution_in(
    tx: &Transaction<'_>,
    caller: &crate::registry::Caller,
    hash: Hash,
    approval: i64,
) -> Result<u64> {
    let e = chain::append_one(
        tx,
        &caller.context,
        Record::ok(
            "constitution.activate",
            Value::map(vec![
                (kw("constitution"), Value::str(&hash.hex())),
                (kw("approval"), Value::Int(approval)),
            ]),
        ),
    )?;
    tx.execute(
        "INSERT INTO constitutions (hash, approval, chain) VALUES (?1, ?2, ?3)",
        params![hash.hex(), approval, e.seq as i64],
    )?;
    Ok(e.seq)
}
