//! Plan history: each run's source (an object), principal, start and end, outcome, result and
//! chain range. A run's id is the seq of its `plan.start` entry, appended in the same
//! transaction as its row.

use rusqlite::{OptionalExtension, params};

use crate::authority::{Append, Authorized};
use crate::chain::{self, Entry, Record};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::hash::Hash;

/// One run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRow {
    /// The run id (seq of `plan.start`).
    pub run: i64,
    /// The run it is nested in.
    pub parent: Option<i64>,
    /// The source object.
    pub source: Hash,
    /// The file or name it came from.
    pub name: String,
    /// `human` or `agent ID`.
    pub principal: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, once ended.
    pub ended_at: Option<i64>,
    /// `ok`, `error`, `blocked`.
    pub outcome: Option<String>,
    /// The result object, for a value.
    pub result: Option<Hash>,
    /// The seq of its `plan.end` entry.
    pub chain_last: Option<i64>,
}

/// Starts a run: appends `record` (its `plan.start`) and the row, in one transaction.
pub fn start(
    db: &Db,
    auth: &Authorized<Append>,
    record: Record,
    source: Hash,
    name: &str,
    parent: Option<i64>,
) -> Result<Entry> {
    db.write(auth.caller().deadline, |tx| {
        let e = chain::append_one(tx, &auth.caller().context, record)?;
        let principal = match &auth.caller().context.principal {
            crate::Principal::Human => "human".to_string(),
            crate::Principal::Agent(a) => format!("agent {a}"),
        };
        tx.execute(
            "INSERT INTO plans (run, parent, source, name, principal, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![e.seq as i64, parent, source.hex(), name, principal, chain::now_ms() / 1000],
        )?;
        Ok(e)
    })
}

/// Ends a run: appends `record` (its `plan.end`, after any `buffered` entries) and updates the
/// row, in one transaction.
pub fn end(
    db: &Db,
    auth: &Authorized<Append>,
    run: i64,
    buffered: Vec<Record>,
    record: Record,
) -> Result<Entry> {
    db.write(auth.caller().deadline, |tx| {
        let outcome = record.outcome.clone();
        let result = record.output.map(|h| h.hex());
        let mut all = buffered;
        all.push(record);
        let e = chain::append(tx, &auth.caller().context, all)?
            .pop()
            .ok_or_else(|| StoreError::Invalid("no plan.end entry".into()))?;
        tx.execute(
            "UPDATE plans SET ended_at = ?1, outcome = ?2, result = ?3, chain_last = ?4 WHERE run = ?5",
            params![chain::now_ms() / 1000, outcome, result, e.seq as i64, run],
        )?;
        Ok(e)
    })
}

type RawPlan = (
    i64,
    Option<i64>,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn to_row(t: RawPlan) -> Result<PlanRow> {
    let bad = || StoreError::Invalid(format!("plan run {} is malformed (run `kiln verify`)", t.0));
    Ok(PlanRow {
        run: t.0,
        parent: t.1,
        source: Hash::parse(&t.2).ok_or_else(bad)?,
        name: t.3,
        principal: t.4,
        started_at: t.5,
        ended_at: t.6,
        outcome: t.7,
        result: t.8.map(|h| Hash::parse(&h).ok_or_else(bad)).transpose()?,
        chain_last: t.9,
    })
}

const SELECT: &str = "SELECT run, parent, source, name, principal, started_at, ended_at, outcome, result, chain_last FROM plans";

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPlan> {
    // rusqlite reads a row into a tuple of its columns' types.
    RawPlan::try_from(r)
}

/// Runs, newest first.
pub fn list(db: &Db, limit: u64) -> Result<Vec<PlanRow>> {
    db.read(|tx| {
        let mut st = tx.prepare(&format!("{SELECT} ORDER BY run DESC LIMIT ?1"))?;
        let rows = st
            .query_map([limit.min(i64::MAX as u64) as i64], raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_row).collect()
    })
}

/// One run.
pub fn get(db: &Db, run: i64) -> Result<Option<PlanRow>> {
    db.read(|tx| {
        let t = tx
            .query_row(&format!("{SELECT} WHERE run = ?1"), [run], raw)
            .optional()?;
        t.map(to_row).transpose()
    })
}
