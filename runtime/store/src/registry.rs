//! The capability registry: versions named by their manifest's hash, an active pointer per
//! id, in SQLite (WAL, `synchronous=FULL`). Objects (modules, manifests) are written before
//! any row references them. Issue #4 adds history operations, rollback, diff and the chain.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rtfs::Value;
use rusqlite::{Connection, OptionalExtension, params};

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
    /// The previous version of the id, if any.
    pub parent: Option<Hash>,
    /// Order within the id (1, 2, …).
    pub seq: i64,
    /// Whether it is the active version.
    pub active: bool,
}

/// A resolved version: its row and its manifest.
#[derive(Clone, Debug)]
pub struct Version {
    /// The row.
    pub row: VersionRow,
    /// The manifest (a map with keyword keys).
    pub manifest: Value,
}

/// The registry's operations.
pub trait Registry {
    /// Registers a version of `id` whose module object is `module`; the manifest must already
    /// name the id, kind and module. Activates it when `activate`. Returns the version hash.
    fn register(&self, manifest: &Value, activate: bool) -> Result<Hash>;
    /// Active versions of every id.
    fn list(&self) -> Result<Vec<VersionRow>>;
    /// Every version of an id, oldest first.
    fn history(&self, id: &str) -> Result<Vec<VersionRow>>;
    /// Resolves `id` (its active version) or `id@prefix` (a pinned version).
    fn resolve(&self, spec: &str) -> Result<Version>;
}

/// The embedded registry.
pub struct SqliteRegistry {
    conn: Mutex<Connection>,
    objects: Arc<dyn ObjectStore>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
    hash       TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    module     TEXT NOT NULL,
    parent     TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (id, seq)
);
CREATE TABLE IF NOT EXISTS active (
    id   TEXT PRIMARY KEY,
    hash TEXT NOT NULL REFERENCES versions(hash)
);
CREATE TABLE IF NOT EXISTS artifacts (
    key    TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
";

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

/// A raw `versions` row: id, hash, kind, module, parent, seq, active.
type RawRow = (String, String, String, String, Option<String>, i64, bool);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn to_row(t: RawRow) -> Result<VersionRow> {
    let bad = |what: &str| StoreError::Invalid(format!("corrupt registry row: {what}"));
    Ok(VersionRow {
        id: t.0,
        hash: Hash::parse(&t.1).ok_or_else(|| bad("hash"))?,
        kind: t.2,
        module: Hash::parse(&t.3).ok_or_else(|| bad("module"))?,
        parent: match t.4 {
            Some(p) => Some(Hash::parse(&p).ok_or_else(|| bad("parent"))?),
            None => None,
        },
        seq: t.5,
        active: t.6,
    })
}

const SELECT: &str = "SELECT v.id, v.hash, v.kind, v.module, v.parent, v.seq, \
                      (a.hash IS NOT NULL) FROM versions v LEFT JOIN active a ON a.hash = v.hash";

impl SqliteRegistry {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path, objects: Arc<dyn ObjectStore>) -> Result<SqliteRegistry> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteRegistry {
            conn: Mutex::new(conn),
            objects,
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Invalid("registry connection poisoned".into()))
    }

    /// The recorded SHA-256 of a compiled-code artifact.
    pub fn artifact_sha(&self, key: &str) -> Result<Option<Hash>> {
        let sha: Option<String> = self
            .conn()?
            .query_row("SELECT sha256 FROM artifacts WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(sha.and_then(|s| Hash::parse(&s)))
    }

    /// Records the SHA-256 of a compiled-code artifact.
    pub fn set_artifact_sha(&self, key: &str, sha: Hash) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO artifacts (key, sha256) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET sha256 = excluded.sha256",
            params![key, sha.hex()],
        )?;
        Ok(())
    }

    /// The manifest of a version, from its (verified) object.
    pub fn manifest(&self, hash: &Hash) -> Result<Value> {
        let bytes = self.objects.get(hash)?;
        rtfs::encoding::decode(&bytes, Default::default())
            .map_err(|e| StoreError::Invalid(format!("manifest {hash} does not decode: {e}")))
    }
}

fn text_field<'a>(m: &'a Value, key: &str) -> Result<&'a str> {
    m.get_key(key)
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Invalid(format!("manifest needs a string :{key}")))
}

impl Registry for SqliteRegistry {
    fn register(&self, manifest: &Value, activate: bool) -> Result<Hash> {
        let id = text_field(manifest, "id")?.to_string();
        check_id(&id)?;
        let kind = match manifest.get_key("kind") {
            Some(Value::Keyword(k)) if matches!(k.as_str(), "wasm" | "rtfs") => {
                k.as_str().to_string()
            }
            _ => {
                return Err(StoreError::Invalid(
                    "manifest needs :kind :wasm or :rtfs".into(),
                ));
            }
        };
        let module = Hash::parse(text_field(manifest, "module")?).ok_or_else(|| {
            StoreError::Invalid("manifest :module must be a SHA-256 hex string".into())
        })?;
        if !self.objects.has(&module) {
            return Err(StoreError::Missing(module));
        }
        let bytes = rtfs::encoding::encode(manifest)
            .map_err(|e| StoreError::Invalid(format!("manifest is not data: {e}")))?;
        // The object first: no row ever references a missing object.
        let hash = self.objects.put(&bytes)?;
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
            let parent: Option<String> = tx
                .query_row("SELECT hash FROM active WHERE id = ?1", [&id], |r| r.get(0))
                .optional()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            tx.execute(
                "INSERT INTO versions (hash, id, seq, kind, module, parent, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![hash.hex(), id, seq, kind, module.hex(), parent, now],
            )?;
        }
        if activate {
            tx.execute(
                "INSERT INTO active (id, hash) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET hash = excluded.hash",
                params![id, hash.hex()],
            )?;
        }
        tx.commit()?;
        Ok(hash)
    }

    fn list(&self) -> Result<Vec<VersionRow>> {
        let conn = self.conn()?;
        let mut st = conn.prepare(&format!("{SELECT} WHERE a.hash IS NOT NULL ORDER BY v.id"))?;
        let rows = st
            .query_map([], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_row).collect()
    }

    fn history(&self, id: &str) -> Result<Vec<VersionRow>> {
        let conn = self.conn()?;
        let mut st = conn.prepare(&format!("{SELECT} WHERE v.id = ?1 ORDER BY v.seq"))?;
        let rows = st
            .query_map([id], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(to_row).collect()
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
            Some(p) => {
                if p.len() < 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(StoreError::Invalid(format!(
                        "version prefix {p:?}: give at least 4 hex digits"
                    )));
                }
                let p = p.to_ascii_lowercase();
                let mut hits: Vec<VersionRow> = history
                    .into_iter()
                    .filter(|r| r.hash.hex().starts_with(&p))
                    .collect();
                match hits.len() {
                    0 => return Err(StoreError::NotFound(format!("{id} has no version {p}…"))),
                    1 => hits.remove(0),
                    n => {
                        return Err(StoreError::Ambiguous(format!(
                            "{id}@{p} matches {n} versions"
                        )));
                    }
                }
            }
        };
        let manifest = self.manifest(&row.hash)?;
        Ok(Version { row, manifest })
    }
}
