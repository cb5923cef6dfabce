//! The causal chain: append-only entries, each naming the hash of the one before it, committed
//! in the same transaction as the state change it records. An entry's hash is its Merkle leaf
//! hash, `SHA-256(0x00 ‖ encoding)`, and its encoding holds its sequence number and the
//! previous entry's hash, so editing, reordering or deleting any entry but the last breaks
//! the links; a tree head saved elsewhere ([`Head`]) catches the rest (truncation, a rewrite
//! of the whole tail).

use std::fmt;

use rtfs::Value;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Result, StoreError};
use crate::hash::Hash;
use crate::merkle;

/// The chain's operations (the other half of the metadata store, beside
/// [`crate::Registry`]); the embedded default is SQLite ([`crate::db::Db`]).
pub trait ChainStore {
    /// Appends entries in one transaction (one durable commit for the group).
    fn append(&self, caller: &crate::Caller, records: Vec<Record>) -> Result<Vec<Entry>>;
    /// Entries matching `filter`, oldest first.
    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>>;
    /// The leaf hashes of the first `size` entries (all when `None`), from the stored bytes.
    fn leaves(&self, size: Option<u64>) -> Result<Vec<Hash>>;
    /// The current tree head.
    fn head(&self) -> Result<Head>;
    /// Every entry checked, and that the chain extends `saved`: the head, or the first problem.
    fn verify(&self, saved: Option<&Head>) -> Result<std::result::Result<Head, ChainProblem>>;
}

impl ChainStore for crate::db::Db {
    fn append(&self, caller: &crate::Caller, records: Vec<Record>) -> Result<Vec<Entry>> {
        self.write(caller.deadline, |tx| append(tx, &caller.context, records))
    }
    fn entries(&self, filter: &Filter) -> Result<Vec<Entry>> {
        self.read(|tx| entries(tx, filter))
    }
    fn leaves(&self, size: Option<u64>) -> Result<Vec<Hash>> {
        self.read(|tx| leaves(tx, size))
    }
    fn head(&self) -> Result<Head> {
        self.read(head)
    }
    fn verify(&self, saved: Option<&Head>) -> Result<std::result::Result<Head, ChainProblem>> {
        self.read(|tx| verify(tx, saved))
    }
}

/// Who acts (ARCHITECTURE.md §Governance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The person at the CLI or console.
    Human,
    /// RTFS code or an LLM, with an agent id.
    Agent(String),
}

/// Where an entry comes from: the session, the plan run, the entry that caused it, who.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The session (one per kiln process or console session).
    pub session: String,
    /// The plan run, if any.
    pub plan: Option<i64>,
    /// The entry this one follows from, if any.
    pub parent: Option<u64>,
    /// Who acts.
    pub principal: Principal,
}

impl Context {
    /// A human at the command line, in a fresh session.
    pub fn human() -> Context {
        Context {
            session: new_session_id(),
            plan: None,
            parent: None,
            principal: Principal::Human,
        }
    }
}

/// A session id: the start time in milliseconds and the process id, in hex.
pub fn new_session_id() -> String {
    format!("{:x}-{:x}", now_ms(), std::process::id())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What an action cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// RTFS evaluation steps.
    pub steps: u64,
    /// WebAssembly fuel.
    pub fuel: u64,
    /// Wall time.
    pub ms: u64,
    /// LLM calls.
    pub llm: u64,
}

/// What an entry records.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The kind of action, e.g. `cap.register`, `cap.rollback`, `gc`.
    pub kind: String,
    /// What it concerns (a map: capability id, version, approval …).
    pub subject: Value,
    /// The input, as an object (size-capped).
    pub input: Option<Hash>,
    /// The output, as an object (size-capped).
    pub output: Option<Hash>,
    /// How it ended: `ok`, `error`, `denied`, `pending` …
    pub outcome: String,
    /// What it cost.
    pub cost: Cost,
}

impl Record {
    /// A successful action of `kind` about `subject`, with no input, output or cost.
    pub fn ok(kind: &str, subject: Value) -> Record {
        Record {
            kind: kind.into(),
            subject,
            input: None,
            output: None,
            outcome: "ok".into(),
            cost: Cost::default(),
        }
    }
}

/// A committed entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Position, from 1.
    pub seq: u64,
    /// The previous entry's hash (all zeros for the first).
    pub prev: Hash,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// Where it comes from.
    pub context: Context,
    /// What it records.
    pub record: Record,
    /// `SHA-256(0x00 ‖ encoding)`.
    pub hash: Hash,
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

fn opt_hash(h: &Option<Hash>) -> Value {
    h.map_or(Value::Nil, |h| Value::str(&h.hex()))
}

fn int(n: u64) -> Value {
    Value::Int(n.min(i64::MAX as u64) as i64)
}

impl Entry {
    /// The entry as a data value (everything but its own hash).
    pub fn to_value(&self) -> Value {
        let c = &self.context;
        let r = &self.record;
        let (principal, agent) = match &c.principal {
            Principal::Human => (kw("human"), Value::Nil),
            Principal::Agent(a) => (kw("agent"), Value::str(a)),
        };
        Value::map(vec![
            (kw("seq"), int(self.seq)),
            (kw("prev"), Value::str(&self.prev.hex())),
            (kw("time"), Value::Int(self.time_ms)),
            (kw("session"), Value::str(&c.session)),
            (kw("plan"), c.plan.map_or(Value::Nil, Value::Int)),
            (kw("parent"), c.parent.map_or(Value::Nil, int)),
            (kw("principal"), principal),
            (kw("agent"), agent),
            (kw("kind"), Value::str(&r.kind)),
            (kw("subject"), r.subject.clone()),
            (kw("input"), opt_hash(&r.input)),
            (kw("output"), opt_hash(&r.output)),
            (kw("outcome"), kw(&r.outcome)),
            (
                kw("cost"),
                Value::map(vec![
                    (kw("steps"), int(r.cost.steps)),
                    (kw("fuel"), int(r.cost.fuel)),
                    (kw("ms"), int(r.cost.ms)),
                    (kw("llm"), int(r.cost.llm)),
                ]),
            ),
        ])
    }

    /// The bytes that are hashed and stored: the encoding of [`Entry::to_value`], written
    /// directly (a test checks they are the same bytes).
    pub fn encode(&self) -> Result<Vec<u8>> {
        use rtfs::encoding::write as w;
        let c = &self.context;
        let r = &self.record;
        let mut out = Vec::with_capacity(256);
        let int = |out: &mut Vec<u8>, n: u64| w::int(out, n.min(i64::MAX as u64) as i64);
        let opt_hash = |out: &mut Vec<u8>, h: &Option<Hash>| match h {
            Some(h) => w::string(out, &h.hex()),
            None => w::nil(out),
        };
        // Keys in canonical order: by length, then bytewise.
        w::map_head(&mut out, 14);
        w::keyword(&mut out, "seq");
        int(&mut out, self.seq);
        w::keyword(&mut out, "cost");
        w::map_head(&mut out, 4);
        w::keyword(&mut out, "ms");
        int(&mut out, r.cost.ms);
        w::keyword(&mut out, "llm");
        int(&mut out, r.cost.llm);
        w::keyword(&mut out, "fuel");
        int(&mut out, r.cost.fuel);
        w::keyword(&mut out, "steps");
        int(&mut out, r.cost.steps);
        w::keyword(&mut out, "kind");
        w::string(&mut out, &r.kind);
        w::keyword(&mut out, "plan");
        match c.plan {
            Some(p) => w::int(&mut out, p),
            None => w::nil(&mut out),
        }
        w::keyword(&mut out, "prev");
        w::string(&mut out, &self.prev.hex());
        w::keyword(&mut out, "time");
        w::int(&mut out, self.time_ms);
        w::keyword(&mut out, "agent");
        match &c.principal {
            Principal::Human => w::nil(&mut out),
            Principal::Agent(a) => w::string(&mut out, a),
        }
        w::keyword(&mut out, "input");
        opt_hash(&mut out, &r.input);
        w::keyword(&mut out, "output");
        opt_hash(&mut out, &r.output);
        w::keyword(&mut out, "parent");
        match c.parent {
            Some(p) => int(&mut out, p),
            None => w::nil(&mut out),
        }
        w::keyword(&mut out, "outcome");
        w::keyword(&mut out, &r.outcome);
        w::keyword(&mut out, "session");
        w::string(&mut out, &c.session);
        w::keyword(&mut out, "subject");
        rtfs::encoding::encode_into(&mut out, &r.subject)
            .map_err(|e| StoreError::Invalid(format!("chain entry is not data: {e}")))?;
        w::keyword(&mut out, "principal");
        w::keyword(
            &mut out,
            match c.principal {
                Principal::Human => "human",
                Principal::Agent(_) => "agent",
            },
        );
        Ok(out)
    }

    /// Reads an entry back from its stored bytes; the hash is recomputed from them.
    pub fn decode(body: &[u8]) -> std::result::Result<Entry, String> {
        let v = rtfs::encoding::decode(body, Default::default()).map_err(|e| e.to_string())?;
        let get = |k: &str| v.get_key(k).cloned().unwrap_or(Value::Nil);
        let uint = |k: &str| match get(k) {
            Value::Int(n) if n >= 0 => Ok(n as u64),
            _ => Err(format!(":{k} is not a non-negative integer")),
        };
        let text = |val: Value, k: &str| match val {
            Value::Str(s) => Ok(s.as_str().to_string()),
            _ => Err(format!(":{k} is not a string")),
        };
        let hash = |val: Value, k: &str| -> std::result::Result<Option<Hash>, String> {
            match val {
                Value::Nil => Ok(None),
                Value::Str(s) => Hash::parse(s.as_str())
                    .map(Some)
                    .ok_or_else(|| format!(":{k} is not a hash")),
                _ => Err(format!(":{k} is not a hash")),
            }
        };
        let principal = match (get("principal"), get("agent")) {
            (Value::Keyword(k), Value::Nil) if k.as_str() == "human" => Principal::Human,
            (Value::Keyword(k), Value::Str(a)) if k.as_str() == "agent" => {
                Principal::Agent(a.as_str().to_string())
            }
            _ => return Err(":principal/:agent are malformed".into()),
        };
        let cost = get("cost");
        let cost_of = |k: &str| match cost.get_key(k) {
            Some(Value::Int(n)) if *n >= 0 => Ok(*n as u64),
            _ => Err(format!(":cost :{k} is malformed")),
        };
        let entry = Entry {
            seq: uint("seq")?,
            prev: hash(get("prev"), "prev")?.ok_or(":prev is missing")?,
            time_ms: match get("time") {
                Value::Int(n) => n,
                _ => return Err(":time is not an integer".into()),
            },
            context: Context {
                session: text(get("session"), "session")?,
                plan: match get("plan") {
                    Value::Nil => None,
                    Value::Int(n) => Some(n),
                    _ => return Err(":plan is malformed".into()),
                },
                parent: match get("parent") {
                    Value::Nil => None,
                    Value::Int(n) if n >= 0 => Some(n as u64),
                    _ => return Err(":parent is malformed".into()),
                },
                principal,
            },
            record: Record {
                kind: text(get("kind"), "kind")?,
                subject: get("subject"),
                input: hash(get("input"), "input")?,
                output: hash(get("output"), "output")?,
                outcome: match get("outcome") {
                    Value::Keyword(k) => k.as_str().to_string(),
                    _ => return Err(":outcome is not a keyword".into()),
                },
                cost: Cost {
                    steps: cost_of("steps")?,
                    fuel: cost_of("fuel")?,
                    ms: cost_of("ms")?,
                    llm: cost_of("llm")?,
                },
            },
            hash: merkle::leaf_hash(body),
        };
        Ok(entry)
    }
}

/// A tree head: the number of entries and the Merkle root over them. Printed and parsed as
/// `SIZE:ROOT-HEX`, a single word that is easy to save elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Entries covered.
    pub size: u64,
    /// The Merkle root.
    pub root: Hash,
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.size, self.root)
    }
}

impl Head {
    /// Parses `SIZE:ROOT-HEX`.
    pub fn parse(s: &str) -> Result<Head> {
        let bad = || {
            StoreError::Invalid(format!(
                "tree head {s:?}: expected SIZE:ROOT (as printed by `kiln chain head`)"
            ))
        };
        let (size, root) = s.trim().split_once(':').ok_or_else(bad)?;
        Ok(Head {
            size: size.parse().map_err(|_| bad())?,
            root: Hash::parse(root).ok_or_else(bad)?,
        })
    }
}

/// The first thing wrong with a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainProblem {
    /// The entry concerned (for a head check: the head's size).
    pub seq: u64,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chain entry {}: {}", self.seq, self.what)
    }
}

/// The last entry's seq and hash (0 and zeros when empty).
fn tip(tx: &Transaction<'_>) -> Result<(u64, Hash)> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match last {
        None => Ok((0, Hash([0; 32]))),
        Some((seq, h)) => Ok((
            seq as u64,
            Hash::parse(&h).ok_or_else(|| {
                StoreError::Invalid(format!("chain entry {seq} has a malformed hash"))
            })?,
        )),
    }
}

/// Appends entries inside `tx` (so they commit with the change they record); returns them.
pub fn append(tx: &Transaction<'_>, ctx: &Context, records: Vec<Record>) -> Result<Vec<Entry>> {
    let (mut seq, mut prev) = tip(tx)?;
    let mut st = tx.prepare_cached(
        "INSERT INTO chain (seq, hash, kind, plan, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let time_ms = now_ms();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        seq += 1;
        let mut e = Entry {
            seq,
            prev,
            time_ms,
            context: ctx.clone(),
            record,
            hash: Hash([0; 32]),
        };
        let body = e.encode()?;
        e.hash = merkle::leaf_hash(&body);
        st.execute(params![
            seq as i64,
            e.hash.hex(),
            e.record.kind,
            ctx.plan,
            body
        ])?;
        prev = e.hash;
        out.push(e);
    }
    Ok(out)
}

/// Appends one entry inside `tx`.
pub fn append_one(tx: &Transaction<'_>, ctx: &Context, record: Record) -> Result<Entry> {
    append(tx, ctx, vec![record])?
        .pop()
        .ok_or_else(|| StoreError::Invalid("no entry appended".into()))
}

/// Which entries to show.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this plan run.
    pub plan: Option<i64>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only entries after this seq.
    pub after: Option<u64>,
    /// At most this many (the oldest first).
    pub limit: Option<u64>,
}

/// Entries matching `filter`, oldest first. Each is decoded from its stored bytes; an entry
/// that does not decode is an error naming it (run `kiln chain verify`).
pub fn entries(tx: &Transaction<'_>, filter: &Filter) -> Result<Vec<Entry>> {
    let mut st = tx.prepare(
        "SELECT seq, body FROM chain WHERE (?1 IS NULL OR plan = ?1) AND (?2 IS NULL OR kind = ?2) \
         AND seq > ?3 ORDER BY seq LIMIT ?4",
    )?;
    let rows = st.query_map(
        params![
            filter.plan,
            filter.kind,
            filter.after.unwrap_or(0) as i64,
            filter.limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64)
        ],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, body) = row?;
        out.push(Entry::decode(&body).map_err(|e| {
            StoreError::Invalid(format!(
                "chain entry {seq} does not decode ({e}); run `kiln chain verify`"
            ))
        })?);
    }
    Ok(out)
}

/// The leaf hashes of the first `size` entries (all when `None`), recomputed from the stored
/// bytes.
pub fn leaves(tx: &Transaction<'_>, size: Option<u64>) -> Result<Vec<Hash>> {
    let mut st = tx.prepare("SELECT body FROM chain ORDER BY seq LIMIT ?1")?;
    let limit = size.map_or(-1, |s| s.min(i64::MAX as u64) as i64);
    let rows = st.query_map([limit], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for body in rows {
        out.push(merkle::leaf_hash(&body?));
    }
    Ok(out)
}

/// The current tree head.
pub fn head(tx: &Transaction<'_>) -> Result<Head> {
    let l = leaves(tx, None)?;
    Ok(Head {
        size: l.len() as u64,
        root: merkle::root(&l),
    })
}

/// Verifies every entry — contiguous seqs from 1, each body decodes, names its own seq and the
/// previous entry's hash, hashes to the stored hash, and agrees with the indexed columns —
/// and, given a head saved earlier, that the chain still extends it. Returns the current head,
/// or the first problem.
pub fn verify(
    tx: &Transaction<'_>,
    saved: Option<&Head>,
) -> Result<std::result::Result<Head, ChainProblem>> {
    verify_visiting(tx, saved, &mut |_| {})
}

/// [`verify`], showing each verified entry to `visit` (e.g. to check the objects it names).
pub fn verify_visiting(
    tx: &Transaction<'_>,
    saved: Option<&Head>,
    visit: &mut dyn FnMut(&Entry),
) -> Result<std::result::Result<Head, ChainProblem>> {
    let mut st = tx.prepare("SELECT seq, hash, kind, plan, body FROM chain ORDER BY seq")?;
    let mut rows = st.query([])?;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut prev = Hash([0; 32]);
    let mut expected: u64 = 1;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let stored: String = r.get(1)?;
        let kind: String = r.get(2)?;
        let plan: Option<i64> = r.get(3)?;
        let body: Vec<u8> = r.get(4)?;
        let bad = |what: String| {
            Ok(Err(ChainProblem {
                seq: seq.max(0) as u64,
                what,
            }))
        };
        if seq as u64 != expected || seq < 1 {
            let what = if (seq as u64) > expected {
                format!("entries {expected}…{} are missing", seq.saturating_sub(1))
            } else {
                format!("out of order (expected {expected})")
            };
            return bad(what);
        }
        let e = match Entry::decode(&body) {
            Ok(e) => e,
            Err(why) => return bad(format!("its content does not decode: {why}")),
        };
        if e.seq != seq as u64 {
            return bad(format!("its content says it is entry {}", e.seq));
        }
        if e.prev != prev {
            return bad("it does not name the previous entry's hash (an entry before it was changed, removed or reordered)".into());
        }
        if Hash::parse(&stored) != Some(e.hash) {
            return bad("its stored hash does not match its content (edited)".into());
        }
        if e.record.kind != kind || e.context.plan != plan {
            return bad("its kind or plan column disagrees with its content (edited)".into());
        }
        visit(&e);
        prev = e.hash;
        leaves.push(e.hash);
        expected += 1;
    }
    let current = Head {
        size: leaves.len() as u64,
        root: merkle::root(&leaves),
    };
    if let Some(h) = saved {
        if h.size > current.size {
            return Ok(Err(ChainProblem {
                seq: current.size + 1,
                what: format!(
                    "the chain has {} entries but the saved head covers {}: entries {}…{} were removed",
                    current.size,
                    h.size,
                    current.size + 1,
                    h.size
                ),
            }));
        }
        if merkle::root(&leaves[..h.size as usize]) != h.root {
            return Ok(Err(ChainProblem {
                seq: h.size,
                what: format!(
                    "the first {} entries no longer have the saved root {} (the chain was rewritten)",
                    h.size, h.root
                ),
            }));
        }
    }
    Ok(Ok(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Entry {
        let agent = i % 2 == 1;
        Entry {
            seq: i * 977 + 1,
            prev: crate::merkle::leaf_hash(&i.to_le_bytes()),
            time_ms: 1_795_000_000_000 + i as i64 * 31,
            context: Context {
                session: format!("s-{i:x}"),
                plan: i.is_multiple_of(3).then_some(i as i64 * 7),
                parent: (i % 4 == 1).then_some(i * 3),
                principal: if agent {
                    Principal::Agent(format!("plan/{i}"))
                } else {
                    Principal::Human
                },
            },
            record: Record {
                kind: ["call", "decision", "cap.register", "plan.start"][(i % 4) as usize].into(),
                subject: Value::map(vec![
                    (Value::keyword("id"), Value::str(&format!("generated/x{i}"))),
                    (Value::keyword("n"), Value::Int(-(i as i64) * 1000)),
                    (
                        Value::keyword("effects"),
                        Value::vector(vec![Value::keyword("log"), Value::Nil]),
                    ),
                ]),
                input: i.is_multiple_of(2).then(|| crate::merkle::leaf_hash(b"in")),
                output: (!i.is_multiple_of(5)).then(|| crate::merkle::leaf_hash(b"out")),
                outcome: ["ok", "denied", "pending", "error"][(i % 4) as usize].into(),
                cost: Cost {
                    steps: i * 100_000,
                    fuel: i.pow(5),
                    ms: i,
                    llm: i % 3,
                },
            },
            hash: Hash([0; 32]),
        }
    }

    #[test]
    fn the_direct_encoding_is_the_encoding_of_the_value() {
        for i in 0..300 {
            let e = entry(i);
            let want = rtfs::encoding::encode(&e.to_value()).unwrap();
            assert_eq!(e.encode().unwrap(), want, "entry {i}");
            let back = Entry::decode(&want).unwrap();
            assert_eq!(back.record, e.record);
            assert_eq!(back.context, e.context);
        }
    }
}
