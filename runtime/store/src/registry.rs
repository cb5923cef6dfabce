//! The capability registry: versions named by their manifest's hash, an ordered history per
//! id, and an active pointer whose every move (activate, rollback) is a recorded row, never a
//! rewrite. Each mutation commits in one transaction together with its chain entry; objects
//! are written before any row references them.
//!
//! Activations form a stack: activating a version (or rolling back `--to` one) pushes it; a
//! plain rollback pops back to the version that was active before the current one.

use std::sync::Arc;
use std::time::Instant;

use rtfs::Value;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::authority::{Activate, Authorized, Register, RegisterNative};
use crate::chain::{self, Context, Record};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::hash::Hash;
use crate::objects::ObjectStore;

/// One registered version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    /// The capability id.
    pub id: String,
    /// The version's hash (of its manifest object).
    pub hash: Hash,
    /// `wasm` or `rtfs`.
    pub kind: String,
    /// The module object's hash.
    pub module: Hash,
    /// The version that was active when this one was registered, if any.
    pub parent: Option<Hash>,
    /// Order within the id (1, 2, …).
    pub seq: i64,
    /// Whether it is the active version.
    pub active: bool,
    /// Unix time of registration, seconds.
    pub created_at: i64,
}

/// A resolved version: its row and its manifest.
#[derive(Clone, Debug)]
pub struct Version {
    /// The row.
    pub row: VersionRow,
    /// The manifest (a map with keyword keys).
    pub manifest: Value,
}

/// One move of an active pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// Order among all moves.
    pub n: i64,
    /// The capability id.
    pub id: String,
    /// The version made active.
    pub to: Hash,
    /// The version active before, if any.
    pub from: Option<Hash>,
    /// `activate` or `rollback`.
    pub kind: String,
    /// The chain entry that records it.
    pub chain: u64,
}

/// Who asks, and how long they may wait for a busy database.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Recorded on the chain.
    pub context: Context,
    /// Give up waiting for another writer after this.
    pub deadline: Option<Instant>,
}

impl Caller {
    /// A human at the command line, in a fresh session, with the default wait.
    pub fn human() -> Caller {
        Caller {
            context: Context::human(),
            deadline: None,
        }
    }
}

/// What `register` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The version hash.
    pub hash: Hash,
    /// False when this exact version was registered before.
    pub new: bool,
    /// Whether this call moved the active pointer to it.
    pub activated: bool,
    /// The chain entry.
    pub entry: u64,
}

/// What `activate` or `rollback` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The capability id.
    pub id: String,
    /// Active before.
    pub from: Option<Hash>,
    /// Active now.
    pub to: Hash,
    /// False when the version was already active (nothing moved; still recorded).
    pub changed: bool,
    /// The chain entry.
    pub entry: u64,
}

/// What `deactivate` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deactivated {
    /// The capability id.
    pub id: String,
    /// The version that was active.
    pub from: Hash,
    /// The chain entry.
    pub entry: u64,
}

/// The registry's operations (the metadata half of the store; another backend implements
/// the same).
pub trait Registry {
    /// Registers a version; the manifest names the id, kind and module (and for `:rtfs` the
    /// `:engine` and `:program` objects), all already stored. `:parent` is filled in with the
    /// active version when absent. Activates it when `activate`.
    fn register(
        &self,
        auth: &Authorized<Register>,
        manifest: &Value,
        activate: bool,
    ) -> Result<Registered>;
    /// Registers and activates a version of a native capability (kind `:native`, an id in a
    /// native namespace, `:module` naming the object that identifies the built-in
    /// implementation). The same content is the same version; nothing else can enter or move
    /// a native namespace.
    fn register_native(
        &self,
        auth: &Authorized<RegisterNative>,
        manifest: &Value,
    ) -> Result<Registered>;
    /// Makes the version of `id` named by `prefix` (≥ 4 hex digits) active.
    fn activate(&self, auth: &Authorized<Activate>, id: &str, prefix: &str) -> Result<Moved>;
    /// Rolls `id` back to the version active before the current one, or to the version
    /// named by `to` (a hash or unique prefix).
    fn rollback(&self, auth: &Authorized<Activate>, id: &str, to: Option<&str>) -> Result<Moved>;
    /// Leaves `id` with no active version (a recorded move, `cap.deactivate`): what rolling
    /// back the first activation means.
    fn deactivate(&self, auth: &Authorized<Activate>, id: &str) -> Result<Deactivated>;
    /// Active versions of every id.
    fn list(&self) -> Result<Vec<VersionRow>>;
    /// Every version of an id, oldest first.
    fn history(&self, id: &str) -> Result<Vec<VersionRow>>;
    /// Every move of an id's active pointer, oldest first.
    fn moves(&self, id: &str) -> Result<Vec<Move>>;
    /// Resolves `id` (its active version) or `id@prefix` (a pinned version).
    fn resolve(&self, spec: &str) -> Result<Version>;
}

/// The embedded registry, in `kiln.db`.
pub struct SqliteRegistry {
    db: Arc<Db>,
    objects: Arc<dyn ObjectStore>,
}

/// Checks a capability id: lower-case segments of letters, digits, `-` and `_`, separated by
/// `.` or `/`, at most 128 characters (`text.words`, `generated/group-by-label`).
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.split(['.', '/']).all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid capability id {id:?}: use lower-case segments of letters, digits, - and _ separated by . or / (e.g. text.words)"
        )))
    }
}

/// Namespaces of kiln's native capabilities (ARCHITECTURE.md §Content addressing): immutable,
/// so no version is registered, activated or rolled back under them.
pub const NATIVE_NAMESPACES: [&str; 3] = ["planner.", "learning.", "introspect."];

/// Refuses ids in a native namespace.
pub fn check_mutable(id: &str) -> Result<()> {
    match NATIVE_NAMESPACES.iter().find(|ns| id.starts_with(*ns)) {
        Some(ns) => Err(StoreError::Invalid(format!(
            "{id}: {ns}* is reserved for kiln's native capabilities, which cannot be replaced or rolled back; agent-made capabilities live under generated/"
        ))),
        None => Ok(()),
    }
}

/// The manifest fields that name other objects.
pub const REFERENCE_FIELDS: [&str; 3] = ["module", "engine", "program"];

/// The objects a manifest references (module; for `:rtfs` also engine and program).
pub fn references(manifest: &Value) -> Result<Vec<Hash>> {
    let mut out = Vec::new();
    for k in REFERENCE_FIELDS {
        match manifest.get_key(k) {
            None | Some(Value::Nil) => {}
            Some(Value::Str(s)) => out.push(Hash::parse(s.as_str()).ok_or_else(|| {
                StoreError::Invalid(format!("manifest :{k} must be a SHA-256 hex string"))
            })?),
            Some(_) => {
                return Err(StoreError::Invalid(format!(
                    "manifest :{k} must be a SHA-256 hex string"
                )));
            }
        }
    }
    Ok(out)
}

/// A raw `versions` row: id, hash, kind, module, parent, seq, active, created_at.
type RawRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    bool,
    i64,
);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    // rusqlite reads a row into a tuple of its columns' types.
    RawRow::try_from(r)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Invalid(format!("corrupt registry row: {what} (run `kiln verify`)"))
}

fn parse_hash(s: &str, what: &str) -> Result<Hash> {
    Hash::parse(s).ok_or_else(|| corrupt(what))
}

fn to_row(t: RawRow) -> Result<VersionRow> {
    Ok(VersionRow {
        id: t.0,
        hash: parse_hash(&t.1, "hash")?,
        kind: t.2,
        module: parse_hash(&t.3, "module")?,
        parent: t.4.map(|p| parse_hash(&p, "parent")).transpose()?,
        seq: t.5,
        active: t.6,
        created_at: t.7,
    })
}

const SELECT: &str = "SELECT v.id, v.hash, v.kind, v.module, v.parent, v.seq, \
                      (a.hash IS NOT NULL), v.created_at FROM versions v \
                      LEFT JOIN active a ON a.hash = v.hash";

fn rows(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> Result<Vec<VersionRow>> {
    let mut st = tx.prepare_cached(sql)?;
    let raws = st
        .query_map(p, raw)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(to_row).collect()
}

fn history_in(tx: &Transaction<'_>, id: &str) -> Result<Vec<VersionRow>> {
    rows(
        tx,
        &format!("{SELECT} WHERE v.id = ?1 ORDER BY v.seq"),
        [id],
    )
}

fn active_in(tx: &Transaction<'_>, id: &str) -> Result<Option<Hash>> {
    let h: Option<String> = tx
        .query_row("SELECT hash FROM active WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    h.map(|h| parse_hash(&h, "active")).transpose()
}

/// The move that made the current version active, with where a rollback returns to.
fn current_move(tx: &Transaction<'_>, id: &str) -> Result<Option<(i64, Hash, Option<i64>)>> {
    let m: Option<(i64, String, Option<i64>)> = tx
        .query_row(
            "SELECT n, hash, back FROM moves WHERE id = ?1 ORDER BY n DESC LIMIT 1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    m.map(|(n, h, b)| Ok((n, parse_hash(&h, "move")?, b)))
        .transpose()
}

/// Finds the version of `id` whose hash starts with `prefix`.
fn pick(history: Vec<VersionRow>, id: &str, prefix: &str) -> Result<VersionRow> {
    let p = prefix.trim().to_ascii_lowercase();
    if p.len() < 4 || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Invalid(format!(
            "version {prefix:?}: give a hash or a prefix of at least 4 hex digits"
        )));
    }
    let mut hits: Vec<VersionRow> = history
        .into_iter()
        .filter(|r| r.hash.hex().starts_with(&p))
        .collect();
    match hits.len() {
        0 => Err(StoreError::NotFound(format!(
            "{id} has no version {p}… (see `kiln cap history {id}`)"
        ))),
        1 => Ok(hits.remove(0)),
        n => Err(StoreError::Ambiguous(format!(
            "{id}@{p} matches {n} versions; give more digits"
        ))),
    }
}

fn subject(pairs: Vec<(&str, Value)>) -> Value {
    Value::map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::keyword(k), v))
            .collect(),
    )
}

fn hash_value(h: Option<Hash>) -> Value {
    h.map_or(Value::Nil, |h| Value::str(&h.hex()))
}

impl SqliteRegistry {
    /// Registers one version (see [`Registry::register`]); `native` for kiln's own.
    fn register_version(
        &self,
        caller: &Caller,
        manifest: &Value,
        activate: bool,
        native: bool,
    ) -> Result<Registered> {
        let id = manifest
            .get_key("id")
            .and_then(Value::as_str)
            .ok_or_else(|| StoreError::Invalid("manifest needs a string :id".into()))?
            .to_string();
        check_id(&id)?;
        let kind = match manifest.get_key("kind") {
            Some(Value::Keyword(k)) if !native && matches!(k.as_str(), "wasm" | "rtfs") => {
                check_mutable(&id)?;
                k.as_str().to_string()
            }
            Some(Value::Keyword(k)) if native && k.as_str() == "native" => {
                if check_mutable(&id).is_ok() {
                    return Err(StoreError::Invalid(format!(
                        "{id}: native capabilities live in a native namespace ({})",
                        NATIVE_NAMESPACES.join(", ")
                    )));
                }
                k.as_str().to_string()
            }
            _ if native => {
                return Err(StoreError::Invalid(
                    "a native capability's manifest has :kind :native".into(),
                ));
            }
            _ => {
                return Err(StoreError::Invalid(
                    "manifest needs :kind :wasm or :rtfs".into(),
                ));
            }
        };
        let module = match manifest.get_key("module") {
            Some(Value::Str(s)) => Hash::parse(s.as_str()),
            _ => None,
        }
        .ok_or_else(|| {
            StoreError::Invalid("manifest :module must be a SHA-256 hex string".into())
        })?;
        if kind == "rtfs" {
            for k in ["engine", "program"] {
                if !matches!(manifest.get_key(k), Some(Value::Str(_))) {
                    return Err(StoreError::Invalid(format!(
                        "an :rtfs manifest needs :{k} (the object's hash)"
                    )));
                }
            }
        }
        let refs = references(manifest)?;
        let encode = |m: &Value| {
            rtfs::encoding::encode(m)
                .map_err(|e| StoreError::Invalid(format!("manifest is not data: {e}")))
        };
        // A new version's parent is the version active when its registration commits. It is
        // worked out first from a snapshot, so that the object is usually written before the
        // write lock is taken, and again under the lock if another writer changed the id's
        // history or active version in between.
        let snapshot = match manifest.get_key("parent") {
            Some(_) => None,
            None => Some(
                self.db
                    .read(|tx| Ok((history_in(tx, &id)?, active_in(tx, &id)?)))?,
            ),
        };
        let seen = match &snapshot {
            Some((history, active)) => self.with_parent(manifest, history, *active)?,
            None => manifest.clone(),
        };
        let seen_bytes = encode(&seen)?;
        // The object first: no row ever references a missing object.
        self.objects.put(&seen_bytes)?;
        self.db.write(caller.deadline, |tx| {
            let now = match &snapshot {
                Some((history, active)) => {
                    let (h, a) = (history_in(tx, &id)?, active_in(tx, &id)?);
                    let same = a == *active
                        && h.iter().map(|r| r.hash).eq(history.iter().map(|r| r.hash));
                    (!same).then_some((h, a))
                }
                None => None,
            };
            let (manifest, bytes) = match now {
                Some((history, active)) => {
                    let m = self.with_parent(manifest, &history, active)?;
                    let b = encode(&m)?;
                    (m, b)
                }
                None => (seen.clone(), seen_bytes.clone()),
            };
            let parent = match manifest.get_key("parent") {
                Some(Value::Str(s)) => Some(Hash::parse(s.as_str()).ok_or_else(|| {
                    StoreError::Invalid("manifest :parent must be a version hash or nil".into())
                })?),
                Some(Value::Nil) | None => None,
                Some(_) => {
                    return Err(StoreError::Invalid(
                        "manifest :parent must be a version hash or nil".into(),
                    ));
                }
            };
            let hash = Hash::of(&bytes);
            // Under the write lock, so `gc` (which deletes only under it) cannot remove them
            // between this check and the commit.
            for r in &refs {
                if !self.objects.has(r) {
                    return Err(StoreError::Missing(*r));
                }
            }
            if !self.objects.has(&hash) {
                self.objects.put(&bytes)?;
            }
            let exists: bool = tx
                .query_row(
                    "SELECT 1 FROM versions WHERE hash = ?1",
                    [hash.hex()],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if !exists {
                let seq: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                tx.execute(
                    "INSERT INTO versions (hash, id, seq, kind, module, parent, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        hash.hex(),
                        id,
                        seq,
                        kind,
                        module.hex(),
                        parent.map(|p| p.hex()),
                        chain::now_ms() / 1000
                    ],
                )?;
            }
            let entry = chain::append_one(
                tx,
                &caller.context,
                Record::ok(
                    "cap.register",
                    subject(vec![
                        ("id", Value::str(&id)),
                        ("version", Value::str(&hash.hex())),
                        ("kind", Value::keyword(&kind)),
                        ("module", Value::str(&module.hex())),
                        ("new", Value::Bool(!exists)),
                    ]),
                ),
            )?;
            let activated = if activate {
                let back = Self::push_point(tx, &id)?;
                self.move_to(tx, caller, &id, hash, "activate", back)?
                    .changed
            } else {
                false
            };
            Ok(Registered {
                hash,
                new: !exists,
                activated,
                entry: entry.seq,
            })
        })
    }

    /// The registry in `db`, with its objects.
    pub fn new(db: Arc<Db>, objects: Arc<dyn ObjectStore>) -> SqliteRegistry {
        SqliteRegistry { db, objects }
    }

    /// The recorded SHA-256 of a compiled-code artifact.
    pub fn artifact_sha(&self, key: &str) -> Result<Option<Hash>> {
        let sha: Option<String> = self.db.read(|tx| {
            Ok(tx
                .query_row("SELECT sha256 FROM artifacts WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?)
        })?;
        Ok(sha.and_then(|s| Hash::parse(&s)))
    }

    /// Records the SHA-256 of a compiled-code artifact (a cache index, not a decision: no
    /// chain entry).
    pub fn set_artifact_sha(&self, key: &str, sha: Hash) -> Result<()> {
        self.db.write(None, |tx| {
            tx.execute(
                "INSERT INTO artifacts (key, sha256) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET sha256 = excluded.sha256",
                params![key, sha.hex()],
            )?;
            Ok(())
        })
    }

    /// The manifest of a version, from its (verified) object.
    pub fn manifest(&self, hash: &Hash) -> Result<Value> {
        let bytes = self.objects.get(hash)?;
        rtfs::encoding::decode(&bytes, Default::default())
            .map_err(|e| StoreError::Invalid(format!("manifest {hash} does not decode: {e}")))
    }

    /// The version of `id` with the same content as `manifest` (whatever its parent and
    /// provenance), if there is one.
    pub fn existing_version(&self, id: &str, manifest: &Value) -> Result<Option<Hash>> {
        let Value::Map(m) = manifest else {
            return Ok(None);
        };
        let (parent, provenance) = (Value::keyword("parent"), Value::keyword("provenance"));
        let content =
            |m: &rtfs::value::Map| Value::Map(m.clone().remove(&parent).remove(&provenance));
        let wanted = content(m);
        for r in self.history(id)?.iter().rev() {
            if let Ok(Value::Map(old)) = self.manifest(&r.hash)
                && content(&old) == wanted
            {
                return Ok(Some(r.hash));
            }
        }
        Ok(None)
    }

    /// The manifest with `:parent` filled in, given the id's `history` and `active` version:
    /// an existing version with the same content (whatever its parent and provenance — the
    /// first registration's are kept) is that version again; a new one's parent is the
    /// active version.
    fn with_parent(
        &self,
        manifest: &Value,
        history: &[VersionRow],
        active: Option<Hash>,
    ) -> Result<Value> {
        let Value::Map(m) = manifest else {
            return Err(StoreError::Invalid("a manifest is a map".into()));
        };
        let key = Value::keyword("parent");
        // The content, without what says where it came from.
        let provenance = Value::keyword("provenance");
        let content = |m: &rtfs::value::Map| Value::Map(m.clone().remove(&key).remove(&provenance));
        let wanted = content(m);
        for r in history.iter().rev() {
            if let Ok(Value::Map(old)) = self.manifest(&r.hash)
                && content(&old) == wanted
            {
                return Ok(Value::Map(old));
            }
        }
        Ok(Value::Map(m.clone().insert(key, hash_value(active))))
    }

    /// Moves `id`'s active pointer to `to` inside `tx`, recording the move.
    fn move_to(
        &self,
        tx: &Transaction<'_>,
        caller: &Caller,
        id: &str,
        to: Hash,
        kind: &str,
        back: Option<i64>,
    ) -> Result<Moved> {
        let from = active_in(tx, id)?;
        let changed = from != Some(to);
        let entry = chain::append_one(
            tx,
            &caller.context,
            Record::ok(
                &format!("cap.{kind}"),
                subject(vec![
                    ("id", Value::str(id)),
                    ("from", hash_value(from)),
                    ("to", hash_value(Some(to))),
                    ("changed", Value::Bool(changed)),
                ]),
            ),
        )?;
        if changed {
            tx.execute(
                "INSERT INTO moves (id, hash, prior, back, kind, chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, to.hex(), from.map(|h| h.hex()), back, kind, entry.seq as i64],
            )?;
            tx.execute(
                "INSERT INTO active (id, hash) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET hash = excluded.hash",
                params![id, to.hex()],
            )?;
        }
        Ok(Moved {
            id: id.to_string(),
            from,
            to,
            changed,
            entry: entry.seq,
        })
    }

    /// Makes `hash` (a version of `id`) active inside `tx` — for a change that another
    /// authorized operation (an approval) carries out in its own transaction.
    pub fn activate_in(
        &self,
        tx: &Transaction<'_>,
        caller: &Caller,
        id: &str,
        hash: Hash,
    ) -> Result<Moved> {
        check_mutable(id)?;
        if !history_in(tx, id)?.iter().any(|r| r.hash == hash) {
            return Err(StoreError::NotFound(format!(
                "{id} has no version {hash}: the approved version is gone (stale)"
            )));
        }
        let back = Self::push_point(tx, id)?;
        self.move_to(tx, caller, id, hash, "activate", back)
    }

    /// Reverts the active-pointer moves plan run `plan` (and the runs nested in it) made,
    /// newest first, as new recorded
    /// moves (`cap.undo`, or `cap.deactivate` where the run made the first activation). A
    /// pointer that has moved since is left alone and reported. Returns one line per move.
    pub fn undo_plan(&self, auth: &Authorized<Activate>, plan: i64) -> Result<Vec<String>> {
        let caller = auth.caller();
        self.db.write(caller.deadline, |tx| {
            let moves: Vec<(String, String, Option<String>)> = {
                // The run and every run nested in it.
                let mut st = tx.prepare(
                    "WITH RECURSIVE runs(run) AS (SELECT ?1 UNION SELECT p.run FROM plans p \
                     JOIN runs r ON p.parent = r.run) \
                     SELECT m.id, m.hash, m.prior FROM moves m JOIN chain c ON c.seq = m.chain \
                     WHERE c.plan IN (SELECT run FROM runs) AND m.kind != 'deactivate' ORDER BY m.n DESC",
                )?;
                st.query_map([plan], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut out = Vec::new();
            for (id, to, prior) in moves {
                if check_mutable(&id).is_err() {
                    // Natives never move (none is moved inside a plan run anyway).
                    out.push(format!("{id}: left alone (native)"));
                    continue;
                }
                let to = parse_hash(&to, "move")?;
                let active = active_in(tx, &id)?;
                if active != Some(to) {
                    out.push(format!(
                        "{id}: left alone (it moved after run {plan}; now {})",
                        active.map_or("inactive".into(), |h| h.hex()[..12].to_string())
                    ));
                    continue;
                }
                match prior {
                    Some(p) => {
                        let p = parse_hash(&p, "move")?;
                        let back = Self::push_point(tx, &id)?;
                        let m = self.move_to(tx, caller, &id, p, "undo", back)?;
                        out.push(format!(
                            "{id}: {} → {} (chain entry {})",
                            &to.hex()[..12],
                            &p.hex()[..12],
                            m.entry
                        ));
                    }
                    None => {
                        let e = chain::append_one(
                            tx,
                            &caller.context,
                            Record::ok(
                                "cap.deactivate",
                                subject(vec![
                                    ("id", Value::str(&id)),
                                    ("from", hash_value(Some(to))),
                                    ("undo-plan", Value::Int(plan)),
                                ]),
                            ),
                        )?;
                        tx.execute("DELETE FROM active WHERE id = ?1", [&id])?;
                        tx.execute(
                            "INSERT INTO moves (id, hash, prior, back, kind, chain) VALUES (?1, ?2, ?2, NULL, 'deactivate', ?3)",
                            params![id, to.hex(), e.seq as i64],
                        )?;
                        out.push(format!(
                            "{id}: {} deactivated (it had no active version before run {plan}; chain entry {})",
                            &to.hex()[..12],
                            e.seq
                        ));
                    }
                }
            }
            Ok(out)
        })
    }

    /// The move a new activation pushes onto: the current one, if it is still current.
    fn push_point(tx: &Transaction<'_>, id: &str) -> Result<Option<i64>> {
        let active = active_in(tx, id)?;
        Ok(match current_move(tx, id)? {
            Some((n, h, _)) if Some(h) == active => Some(n),
            _ => None,
        })
    }
}

impl Registry for SqliteRegistry {
    fn register(
        &self,
        auth: &Authorized<Register>,
        manifest: &Value,
        activate: bool,
    ) -> Result<Registered> {
        self.register_version(auth.caller(), manifest, activate, false)
    }

    fn register_native(
        &self,
        auth: &Authorized<RegisterNative>,
        manifest: &Value,
    ) -> Result<Registered> {
        self.register_version(auth.caller(), manifest, true, true)
    }

    fn activate(&self, auth: &Authorized<Activate>, id: &str, prefix: &str) -> Result<Moved> {
        let caller = auth.caller();
        check_mutable(id)?;
        self.db.write(caller.deadline, |tx| {
            let target = pick(history_in(tx, id)?, id, prefix)?;
            let back = Self::push_point(tx, id)?;
            self.move_to(tx, caller, id, target.hash, "activate", back)
        })
    }

    fn rollback(&self, auth: &Authorized<Activate>, id: &str, to: Option<&str>) -> Result<Moved> {
        let caller = auth.caller();
        check_mutable(id)?;
        self.db.write(caller.deadline, |tx| {
            let history = history_in(tx, id)?;
            if history.is_empty() {
                return Err(StoreError::NotFound(format!(
                    "no capability {id:?} is installed"
                )));
            }
            match to {
                Some(prefix) => {
                    let target = pick(history, id, prefix)?;
                    let back = Self::push_point(tx, id)?;
                    self.move_to(tx, caller, id, target.hash, "rollback", back)
                }
                None => {
                    let nothing = || {
                        StoreError::NotFound(format!(
                            "{id} has no earlier active version to roll back to (see `kiln cap history {id}`; `--to HASH` picks any version)"
                        ))
                    };
                    let active = active_in(tx, id)?;
                    let (_, current, back) = current_move(tx, id)?.ok_or_else(nothing)?;
                    if Some(current) != active {
                        return Err(nothing());
                    }
                    let back = back.ok_or_else(nothing)?;
                    let (target, further): (String, Option<i64>) = tx.query_row(
                        "SELECT hash, back FROM moves WHERE n = ?1",
                        [back],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    let target = parse_hash(&target, "move")?;
                    self.move_to(tx, caller, id, target, "rollback", further)
                }
            }
        })
    }

    fn deactivate(&self, auth: &Authorized<Activate>, id: &str) -> Result<Deactivated> {
        let caller = auth.caller();
        check_mutable(id)?;
        self.db.write(caller.deadline, |tx| {
            let from = active_in(tx, id)?.ok_or_else(|| {
                StoreError::NotFound(format!("{id} has no active version to deactivate"))
            })?;
            let e = chain::append_one(
                tx,
                &caller.context,
                Record::ok(
                    "cap.deactivate",
                    subject(vec![
                        ("id", Value::str(id)),
                        ("from", hash_value(Some(from))),
                    ]),
                ),
            )?;
            tx.execute("DELETE FROM active WHERE id = ?1", [id])?;
            tx.execute(
                "INSERT INTO moves (id, hash, prior, back, kind, chain) VALUES (?1, ?2, ?2, NULL, 'deactivate', ?3)",
                params![id, from.hex(), e.seq as i64],
            )?;
            Ok(Deactivated {
                id: id.to_string(),
                from,
                entry: e.seq,
            })
        })
    }

    fn list(&self) -> Result<Vec<VersionRow>> {
        self.db.read(|tx| {
            rows(
                tx,
                &format!("{SELECT} WHERE a.hash IS NOT NULL ORDER BY v.id"),
                [],
            )
        })
    }

    fn history(&self, id: &str) -> Result<Vec<VersionRow>> {
        self.db.read(|tx| history_in(tx, id))
    }

    fn moves(&self, id: &str) -> Result<Vec<Move>> {
        self.db.read(|tx| {
            let mut st = tx.prepare(
                "SELECT n, id, hash, prior, kind, chain FROM moves WHERE id = ?1 ORDER BY n",
            )?;
            let raws = st
                .query_map([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter()
                .map(|(n, id, to, from, kind, chain)| {
                    Ok(Move {
                        n,
                        id,
                        to: parse_hash(&to, "move")?,
                        from: from.map(|f| parse_hash(&f, "move")).transpose()?,
                        kind,
                        chain: chain as u64,
                    })
                })
                .collect()
        })
    }

    fn resolve(&self, spec: &str) -> Result<Version> {
        let (id, prefix) = match spec.split_once('@') {
            Some((id, p)) => (id, Some(p)),
            None => (spec, None),
        };
        let history = self.history(id)?;
        if history.is_empty() {
            return Err(StoreError::NotFound(format!(
                "no capability {id:?} is installed"
            )));
        }
        let row = match prefix {
            None => history
                .into_iter()
                .find(|r| r.active)
                .ok_or_else(|| StoreError::NotFound(format!("{id} has no active version")))?,
            Some(p) => pick(history, id, p)?,
        };
        let manifest = self.manifest(&row.hash)?;
        Ok(Version { row, manifest })
    }
}
