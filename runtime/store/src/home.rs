//! The kiln home: `kiln.db`, `objects/`, `cache/` — and the operations over all of them:
//! `verify` (every object re-hashed, every manifest's references present, the chain) and
//! `gc` (unreferenced objects only, under the database's write lock).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rtfs::Value;

use crate::authority::{Append, Authority, Authorized, Collect};
use crate::chain::{self, ChainStore, Entry, Filter, Head, Record};
use crate::db::Db;
use crate::error::{Result, StoreError, io};
use crate::hash::Hash;
use crate::objects::{FsObjects, ObjectStore};
use crate::registry::{SqliteRegistry, references};

/// Inputs and outputs larger than this are recorded as a summary (size and hash) instead.
pub const MAX_RECORDED_VALUE: usize = 64 << 10;

/// An open home.
pub struct Home {
    root: PathBuf,
    /// Content-addressed objects.
    pub objects: Arc<FsObjects>,
    /// The database.
    pub db: Arc<Db>,
    /// The registry (and the compiled-code index).
    pub registry: Arc<SqliteRegistry>,
    /// The causal chain.
    pub chain: Arc<dyn ChainStore + Send + Sync>,
}

/// `gc` removes an interrupted write's temporary file only when it is at least this old.
pub const TMP_FILE_MIN_AGE: Duration = Duration::from_secs(600);

/// What `kiln verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Objects re-hashed.
    pub objects: usize,
    /// Versions whose manifests were checked.
    pub versions: usize,
    /// The chain's current head (when the chain verified).
    pub head: Option<Head>,
    /// Files in `objects/` that are not objects (interrupted writes; `kiln gc` removes them).
    pub litter: Vec<String>,
    /// Everything wrong, each naming what it concerns. Empty when the home is sound.
    pub problems: Vec<String>,
}

/// What `kiln gc` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Objects removed.
    pub removed: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Objects kept (referenced, or younger than the grace period).
    pub kept: usize,
    /// Leftover temporary files removed.
    pub litter: usize,
    /// The chain entry.
    pub entry: u64,
}

impl Home {
    /// Opens the home at `root`, creating it when missing, for reading: without the
    /// [`Authority`] nothing can be changed.
    pub fn open(root: &Path) -> Result<Home> {
        Ok(Home::open_governed(root)?.0)
    }

    /// Opens the home with the authority to change it. The governance kernel calls this and
    /// keeps the authority to itself (tests that exercise the store directly do too).
    pub fn open_governed(root: &Path) -> Result<(Home, Authority)> {
        Ok((Home::open_inner(root)?, Authority::new()))
    }

    fn open_inner(root: &Path) -> Result<Home> {
        std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
        let root = root.canonicalize().map_err(|e| io(root, e))?;
        let objects = Arc::new(FsObjects::open(root.join("objects"))?);
        let db = Arc::new(Db::open(&root.join("kiln.db"))?);
        let registry = Arc::new(SqliteRegistry::new(db.clone(), objects.clone()));
        Ok(Home {
            root,
            objects,
            chain: db.clone(),
            db,
            registry,
        })
    }

    /// The home directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The compiled-code cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Appends entries in one transaction (one durable commit for the group).
    pub fn append(&self, auth: &Authorized<Append>, records: Vec<Record>) -> Result<Vec<Entry>> {
        self.chain.append(auth.caller(), records)
    }

    /// Entries matching `filter`, oldest first.
    pub fn entries(&self, filter: &Filter) -> Result<Vec<Entry>> {
        self.chain.entries(filter)
    }

    /// The current tree head.
    pub fn head(&self) -> Result<Head> {
        self.chain.head()
    }

    /// The leaf hashes of the first `size` entries (all when `None`).
    pub fn leaves(&self, size: Option<u64>) -> Result<Vec<Hash>> {
        self.chain.leaves(size)
    }

    /// Verifies the chain alone (and that it extends `saved`).
    pub fn verify_chain(
        &self,
        saved: Option<&Head>,
    ) -> Result<std::result::Result<Head, chain::ChainProblem>> {
        self.chain.verify(saved)
    }

    /// Stores a value as an object for the chain (an input or output). Values over
    /// [`MAX_RECORDED_VALUE`] are stored as `{:truncated true :bytes N :sha256 H}`.
    pub fn record_value(&self, v: &Value) -> Result<Hash> {
        let bytes = Home::value_object(v)?;
        self.objects.put(&bytes)
    }

    /// The bytes [`Home::record_value`] would store for `v` (for writers that store them
    /// later, in a group).
    pub fn value_object(v: &Value) -> Result<Vec<u8>> {
        let bytes = rtfs::encoding::encode(v)
            .map_err(|e| StoreError::Invalid(format!("not a data value: {e}")))?;
        if bytes.len() <= MAX_RECORDED_VALUE {
            return Ok(bytes);
        }
        let summary = Value::map(vec![
            (Value::keyword("truncated"), Value::Bool(true)),
            (Value::keyword("bytes"), Value::Int(bytes.len() as i64)),
            (
                Value::keyword("sha256"),
                Value::str(&Hash::of(&bytes).hex()),
            ),
        ]);
        rtfs::encoding::encode(&summary).map_err(|e| StoreError::Invalid(e.to_string()))
    }

    /// `kiln verify`: every object re-hashed, every version's manifest present, decodable,
    /// agreeing with its row and with its references present, the active pointers naming
    /// versions of their ids, the chain verified (against `saved` when given), and every object
    /// a row needs present (constitutions, pending proposals, plan sources, entries' inputs
    /// and outputs).
    pub fn verify(&self, saved: Option<&Head>) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let listing = self.objects.list()?;
        let mut sound: HashSet<Hash> = HashSet::new();
        for h in &listing.objects {
            report.objects += 1;
            match self.objects.get(h) {
                Ok(_) => {
                    sound.insert(*h);
                }
                Err(e) => report
                    .problems
                    .push(format!("{e} ({})", self.objects.path_of(h).display())),
            }
        }
        report.litter = listing.other;
        let (versions, actives) = self.db.read(|tx| {
            let mut st =
                tx.prepare("SELECT hash, id, kind, module FROM versions ORDER BY id, seq")?;
            let v = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut st = tx.prepare(
                "SELECT a.id, a.hash, v.id FROM active a LEFT JOIN versions v ON v.hash = a.hash",
            )?;
            let a = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((v, a))
        })?;
        for (hash, id, kind, module) in versions {
            report.versions += 1;
            let Some(h) = Hash::parse(&hash) else {
                report
                    .problems
                    .push(format!("version row of {id} has a malformed hash {hash:?}"));
                continue;
            };
            if !sound.contains(&h) {
                report.problems.push(format!(
                    "the manifest of {id} version {hash} is missing or corrupt"
                ));
                continue;
            }
            let manifest = match self.registry.manifest(&h) {
                Ok(m) => m,
                Err(e) => {
                    report.problems.push(format!("{id} version {hash}: {e}"));
                    continue;
                }
            };
            let field = |k: &str| manifest.get_key(k).cloned().unwrap_or(Value::Nil);
            let agrees = field("id").as_str() == Some(id.as_str())
                && matches!(field("kind"), Value::Keyword(k) if k.as_str() == kind)
                && field("module").as_str() == Some(module.as_str());
            if !agrees {
                report.problems.push(format!(
                    "the registry row of {id} version {hash} disagrees with its manifest (edited)"
                ));
            }
            match references(&manifest) {
                Ok(refs) => {
                    for r in refs {
                        if !sound.contains(&r) {
                            report.problems.push(format!(
                                "{id} version {hash} references object {r}, which is missing or corrupt"
                            ));
                        }
                    }
                }
                Err(e) => report.problems.push(format!("{id} version {hash}: {e}")),
            }
        }
        // Every approved constitution must be readable: the active one governs each start.
        let constitutions: Vec<(i64, String)> = self.db.read(|tx| {
            let mut st = tx.prepare("SELECT approval, hash FROM constitutions ORDER BY rowid")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        for (approval, hex) in constitutions {
            match Hash::parse(&hex) {
                Some(h) if sound.contains(&h) => {}
                _ => report.problems.push(format!(
                    "the constitution approved by request {approval} ({hex}) is missing or corrupt"
                )),
            }
        }
        for (id, hash, owner) in actives {
            if owner.as_deref() != Some(id.as_str()) {
                report.problems.push(format!(
                    "the active version of {id} ({hash}) is not one of its versions"
                ));
            }
        }
        // Every object a governance row needs: each plan's source, each pending proposal.
        let named: Vec<(String, String)> = self.db.read(|tx| {
            let mut st = tx.prepare(
                "SELECT 'plan run ' || run, source FROM plans \
                 UNION ALL SELECT 'approval request ' || n, hash FROM approvals \
                 WHERE action = 'constitution' AND status = 'pending'",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        for (what, hex) in named {
            if !Hash::parse(&hex).is_some_and(|h| sound.contains(&h)) {
                report.problems.push(format!(
                    "{what} names object {hex}, which is missing or corrupt"
                ));
            }
        }
        // The chain, and the input and output objects its entries name.
        let mut missing = Vec::new();
        let mut replay = crate::replay::Replay::default();
        let verified = self.db.read(|tx| {
            chain::verify_visiting(tx, saved, &mut |e| {
                replay.visit(e);
                for (what, h) in [("input", e.record.input), ("output", e.record.output)] {
                    if let Some(h) = h
                        && !sound.contains(&h)
                        && missing.len() < 100
                    {
                        missing.push(format!(
                            "chain entry {}: its {what} object {h} is missing or corrupt",
                            e.seq
                        ));
                    }
                }
            })
        })?;
        report.problems.extend(missing);
        match verified {
            Ok(head) => {
                report.head = Some(head);
                // The governing tables against the state the (verified) chain implies.
                report
                    .problems
                    .extend(self.db.read(|tx| replay.compare(tx))?);
            }
            Err(p) => report.problems.push(p.to_string()),
        }
        Ok(report)
    }

    /// `kiln gc`: removes objects nothing references (no version, manifest, chain entry,
    /// constitution, approval request or plan source) and that are older than `grace`, and leftover temporary files older than `grace`. It
    /// holds the database's write lock throughout, and writers check their objects under that
    /// lock before referencing them, so a concurrent register either sees its objects or
    /// fails cleanly — never a reference to a removed object. Refuses to run on a home whose
    /// manifests or chain cannot be read (run `kiln verify`).
    pub fn gc(&self, auth: &Authorized<Collect>, grace: Duration) -> Result<GcReport> {
        let caller = auth.caller();
        self.db.write(caller.deadline, |tx| {
            let mut keep: HashSet<Hash> = HashSet::new();
            let hashes: Vec<String> = {
                let mut st = tx.prepare("SELECT hash FROM versions")?;
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            for hex in hashes {
                let h = Hash::parse(&hex).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "gc stopped: version row {hex:?} is malformed; run `kiln verify`"
                    ))
                })?;
                let manifest = self.registry.manifest(&h).map_err(|e| {
                    StoreError::Invalid(format!("gc stopped: {e}; run `kiln verify`"))
                })?;
                keep.insert(h);
                keep.extend(references(&manifest)?);
            }
            for e in chain::entries(tx, &Filter::default())? {
                keep.extend(e.record.input);
                keep.extend(e.record.output);
            }
            // What the governance tables name: every constitution version (the active one is
            // read at each start), every approval request's subject, every plan's source.
            let named: Vec<String> = {
                let mut st = tx.prepare(
                    "SELECT hash FROM constitutions UNION SELECT hash FROM approvals \
                     UNION SELECT source FROM plans",
                )?;
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            for hex in named {
                keep.insert(Hash::parse(&hex).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "gc stopped: a governance row names {hex:?}, not a hash; run `kiln verify`"
                    ))
                })?);
            }
            let young = |p: &Path| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_none_or(|age| age < grace)
            };
            let listing = self.objects.list()?;
            let mut report = GcReport::default();
            for h in listing.objects {
                if keep.contains(&h) || young(&self.objects.path_of(&h)) {
                    report.kept += 1;
                    continue;
                }
                report.bytes += self.objects.remove(&h)?;
                report.removed += 1;
            }
            // A temporary file may belong to a write in progress in another process: only
            // ones older than any write takes are litter, whatever the grace period.
            let stale = |p: &Path| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= grace.max(TMP_FILE_MIN_AGE))
            };
            for rel in listing.other {
                let is_tmp = rel
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".tmp-"));
                let path = self.root.join("objects").join(&rel);
                if is_tmp && stale(&path) {
                    self.objects.remove_other(&rel)?;
                    report.litter += 1;
                }
            }
            let entry = chain::append_one(
                tx,
                &caller.context,
                Record::ok(
                    "gc",
                    Value::map(vec![
                        (Value::keyword("removed"), Value::Int(report.removed as i64)),
                        (Value::keyword("bytes"), Value::Int(report.bytes as i64)),
                        (Value::keyword("kept"), Value::Int(report.kept as i64)),
                        (Value::keyword("litter"), Value::Int(report.litter as i64)),
                    ]),
                ),
            )?;
            report.entry = entry.seq;
            Ok(report)
        })
    }
}
