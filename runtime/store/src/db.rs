//! `kiln.db`: SQLite in WAL mode for everything mutable. Every write is one `BEGIN IMMEDIATE`
//! transaction committed with `synchronous=FULL` (durable against power loss once `commit`
//! returns); a writer waits for a busy database only until its deadline.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use crate::error::{Result, StoreError};

/// How long a write waits for another process's transaction when the caller gives no
/// deadline.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// The schema version this kiln writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA_V1: &str = "
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
-- Every move of an active pointer, in order. `back` is the move a plain rollback returns
-- to (the activations form a stack); `chain` is the entry that records the move.
CREATE TABLE IF NOT EXISTS moves (
    n     INTEGER PRIMARY KEY,
    id    TEXT NOT NULL,
    hash  TEXT NOT NULL REFERENCES versions(hash),
    prior TEXT,
    back  INTEGER REFERENCES moves(n),
    kind  TEXT NOT NULL,
    chain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS moves_id ON moves(id, n);
-- The causal chain: `body` is the entry's encoding (it names the previous entry's hash);
-- `hash` = SHA-256(0x00 ‖ body), the entry's Merkle leaf. `kind` and `plan` repeat fields
-- of the body for queries; `kiln verify` checks that they agree.
CREATE TABLE IF NOT EXISTS chain (
    seq  INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    plan INTEGER,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chain_kind ON chain(kind);
CREATE INDEX IF NOT EXISTS chain_plan ON chain(plan);
";

/// Version 2: approval requests.
const SCHEMA_V2: &str = "
CREATE TABLE IF NOT EXISTS approvals (
    n          INTEGER PRIMARY KEY,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    risk       TEXT NOT NULL,
    reasons    TEXT NOT NULL,
    requester  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    note       TEXT,
    chain      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_hash ON approvals(action, hash, status);
";

/// Version 3: the constitution's versions (the active one is the last row).
const SCHEMA_V3: &str = "
CREATE TABLE IF NOT EXISTS constitutions (
    n        INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL,
    approval INTEGER NOT NULL,
    chain    INTEGER NOT NULL
);
";

/// Version 4: plan history (a run's id is the seq of its `plan.start` entry).
const SCHEMA_V4: &str = "
CREATE TABLE IF NOT EXISTS plans (
    run         INTEGER PRIMARY KEY,
    parent      INTEGER,
    source      TEXT NOT NULL,
    name        TEXT NOT NULL,
    principal   TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outcome     TEXT,
    result      TEXT,
    chain_last  INTEGER
);
";

/// The open database.
pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating, migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Db> {
        let named = |e: StoreError| match e {
            StoreError::Db(e) => {
                let hint = match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::NotADatabase) => {
                        "not a kiln database; is --home right?"
                    }
                    Some(rusqlite::ErrorCode::CannotOpen)
                    | Some(rusqlite::ErrorCode::PermissionDenied)
                    | Some(rusqlite::ErrorCode::ReadOnly) => {
                        "kiln needs to read and write the home and its kiln.db; check its permissions"
                    }
                    Some(rusqlite::ErrorCode::DatabaseBusy)
                    | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                        "another kiln process holds the database; try again"
                    }
                    _ => "is --home right? `kiln verify` checks a home",
                };
                StoreError::Invalid(format!("{}: {e} ({hint})", path.display()))
            }
            other => other,
        };
        let open = || -> Result<Db> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(DEFAULT_WAIT)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            let db = Db {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            };
            db.migrate()?;
            Ok(db)
        };
        open().map_err(named)
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.lock()?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Invalid(format!(
                "{}: schema version {version} was written by a newer kiln (this one reads up to {SCHEMA_VERSION}); upgrade kiln",
                self.path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            // Version 0 is a new file or a home from before the chain: the statements only
            // add what is missing, so its rows are kept.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if version < 1 {
                tx.execute_batch(SCHEMA_V1)?;
            }
            if version < 2 {
                tx.execute_batch(SCHEMA_V2)?;
            }
            if version < 3 {
                tx.execute_batch(SCHEMA_V3)?;
            }
            tx.execute_batch(SCHEMA_V4)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Invalid("database connection poisoned".into()))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it durably. Waits for
    /// another writer at most until `deadline` (default [`DEFAULT_WAIT`]); past it, fails
    /// with [`StoreError::Busy`]. If `f` fails, nothing is written.
    pub fn write<T>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let wait = deadline.map_or(DEFAULT_WAIT, |d| d.saturating_duration_since(started));
        let mut conn = self.lock()?;
        conn.busy_timeout(wait)?;
        let busy = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
                waited_ms: started.elapsed().as_millis() as u64,
            },
            _ => StoreError::Db(e),
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(busy)?;
        let out = f(&tx)?;
        tx.commit().map_err(busy)?;
        Ok(out)
    }

    /// Runs `f` on a consistent snapshot (a read transaction).
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.finish()?;
        Ok(out)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
