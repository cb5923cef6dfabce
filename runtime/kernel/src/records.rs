//! The home as a reader sees it — capability versions, history and diffs, plan runs,
//! approval requests, verification — as data for a front end to show. Reading opens the home
//! only (never the sandbox), never creates one, and never writes.

use std::path::Path;

use kiln_store::approvals::Approval;
use kiln_store::chain::{Filter, Head};
use kiln_store::plans::PlanRow;
use kiln_store::{
    Entry, Hash, Home, Move, ObjectStore, Registry, VerifyReport, Version, VersionRow,
};
use rtfs::Value;

use crate::error::{KernelError, Result};
use crate::policy::Policy;

/// Opens an existing home for reading. A home that does not exist is an error (a mistyped
/// `--home` is not an empty "ok"), and nothing is created.
pub fn open(dir: &Path) -> Result<Home> {
    if !dir.join("kiln.db").is_file() {
        return Err(KernelError::invalid(format!(
            "there is no kiln home at {} (no kiln.db); check --home or KILN_HOME — a command that changes the home, such as `kiln cap install`, creates one",
            dir.display()
        )));
    }
    Ok(Home::open(dir)?)
}

/// The policy of an existing home, read only.
pub fn policy(home: &Home) -> Result<Policy> {
    Policy::load(home, None)
}

/// One version and how many versions its id has.
pub struct VersionView {
    /// The version.
    pub version: Version,
    /// Versions of its id.
    pub versions: usize,
}

/// `kiln cap show ID[@PREFIX]`.
pub fn show(home: &Home, spec: &str) -> Result<VersionView> {
    let version = home.registry.resolve(spec)?;
    let versions = home.registry.history(&version.row.id)?.len();
    Ok(VersionView { version, versions })
}

/// `kiln cap list`: the active version of every id.
pub fn list(home: &Home) -> Result<Vec<Version>> {
    home.registry
        .list()?
        .into_iter()
        .map(|row| {
            let manifest = home.registry.manifest(&row.hash)?;
            Ok(Version { row, manifest })
        })
        .collect()
}

/// An id's versions, oldest first, and the moves of its active pointer.
pub struct History {
    /// The versions.
    pub versions: Vec<VersionRow>,
    /// The moves.
    pub moves: Vec<Move>,
}

/// `kiln cap history ID`.
pub fn history(home: &Home, id: &str) -> Result<History> {
    let versions = home.registry.history(id)?;
    if versions.is_empty() {
        return Err(KernelError::invalid(format!(
            "no capability {id:?} is installed"
        )));
    }
    Ok(History {
        versions,
        moves: home.registry.moves(id)?,
    })
}

/// What `kiln cap diff` found.
pub enum Diff {
    /// The two are one version.
    Same(Hash, Hash),
    /// The unified diff's lines.
    Lines(Vec<String>),
}

/// `kiln cap diff ID [A [B]]`: with no versions, the active one against the version that was
/// active before it (or its parent); with one, A against the active one; with two, A
/// against B.
pub fn diff(home: &Home, id: &str, a: Option<&str>, b: Option<&str>) -> Result<Diff> {
    let reg = &home.registry;
    let pin = |p: &str| reg.resolve(&format!("{id}@{p}"));
    let (va, vb) = match (a, b) {
        (Some(a), Some(b)) => (pin(a)?, pin(b)?),
        (Some(a), None) => (pin(a)?, reg.resolve(id)?),
        (None, _) => {
            let current = reg.resolve(id)?;
            let before = reg
                .moves(id)?
                .last()
                .and_then(|m| m.from)
                .or(current.row.parent)
                .ok_or_else(|| {
                    KernelError::invalid(format!(
                        "{id} has only one version; give two versions to compare"
                    ))
                })?;
            (pin(&before.hex())?, current)
        }
    };
    let lines = kiln_store::diff::diff(home.objects.as_ref(), &va, &vb)?;
    if lines.len() <= 2 {
        return Ok(Diff::Same(va.row.hash, vb.row.hash));
    }
    Ok(Diff::Lines(lines))
}

/// Chain entries matching `filter`, oldest first.
pub fn entries(home: &Home, filter: &Filter) -> Result<Vec<Entry>> {
    Ok(home.entries(filter)?)
}

/// `kiln chain verify [--head HEAD]`: the current head, or the first bad entry.
pub fn chain_verify(home: &Home, head: Option<&str>) -> Result<Head> {
    let saved = head.map(Head::parse).transpose()?;
    home.verify_chain(saved.as_ref())?
        .map_err(|p| KernelError::invalid(p.to_string()))
}

/// `kiln verify [--head HEAD]`: every object, manifest and chain entry.
pub fn verify(home: &Home, head: Option<&str>) -> Result<VerifyReport> {
    let saved = head.map(Head::parse).transpose()?;
    Ok(home.verify(saved.as_ref())?)
}

/// `kiln plans list`: runs, newest first.
pub fn plans(home: &Home) -> Result<Vec<PlanRow>> {
    Ok(kiln_store::plans::list(&home.db, 100)?)
}

/// One run: its row, its result, what it created and moved, how many entries it has.
pub struct PlanView {
    /// The row.
    pub row: PlanRow,
    /// Its result value, when it has one and it can be read.
    pub result: Option<Value>,
    /// Versions created: (id, version) as the chain prints them.
    pub created: Vec<(String, String)>,
    /// Pointer moves: (id, from, to).
    pub moved: Vec<(String, String, String)>,
    /// Chain entries in the run.
    pub entries: usize,
}

/// `kiln plans show RUN`.
pub fn plan(home: &Home, run: i64) -> Result<PlanView> {
    let row = kiln_store::plans::get(&home.db, run)?.ok_or_else(|| {
        KernelError::invalid(format!(
            "there is no plan run {run} (see `kiln plans list`)"
        ))
    })?;
    let result = row.result.and_then(|r| {
        home.objects
            .get(&r)
            .ok()
            .and_then(|b| rtfs::encoding::decode(&b, Default::default()).ok())
    });
    let entries = home.entries(&Filter {
        plan: Some(run),
        ..Filter::default()
    })?;
    let (mut created, mut moved) = (Vec::new(), Vec::new());
    for e in &entries {
        let s = &e.record.subject;
        let field = |k: &str| s.get_key(k).map(rtfs::print::print).unwrap_or_default();
        match e.record.kind.as_str() {
            "cap.register" => created.push((field("id"), field("version"))),
            "cap.activate" | "cap.rollback" => {
                moved.push((field("id"), field("from"), field("to")))
            }
            _ => {}
        }
    }
    Ok(PlanView {
        row,
        result,
        created,
        moved,
        entries: entries.len(),
    })
}

/// `kiln approvals list [--all]`: requests, newest first.
pub fn approvals(home: &Home, pending_only: bool) -> Result<Vec<Approval>> {
    Ok(kiln_store::approvals::list(&home.db, pending_only)?)
}

/// A request with what it would let happen, so that the human sees what they approve.
pub struct ApprovalView {
    /// The request.
    pub approval: Approval,
    /// The source it concerns: the version's RTFS program, the plan, the constitution.
    pub source: Option<String>,
    /// The version's declared effects, for a version.
    pub declared: Option<Vec<kiln_sandbox::Effect>>,
    /// The program or plan as analysed: each capability it calls by literal id with that
    /// capability's effects now, and how many calls have a computed target (a computed id,
    /// or `call` used as a value).
    pub analysed: Option<Analysed>,
}

/// What static analysis says a program calls.
pub struct Analysed {
    /// Literal targets and their effects (`None`: not installed).
    pub targets: Vec<(String, Option<Vec<kiln_sandbox::Effect>>)>,
    /// Calls whose target is computed at run time.
    pub dynamic: usize,
}

/// `kiln approvals show N`: the request, and the program, plan or constitution it approves
/// with its effects as analysed.
pub fn approval(home: &Home, n: i64) -> Result<ApprovalView> {
    let approval = kiln_store::approvals::get(&home.db, n)?
        .ok_or_else(|| KernelError::invalid(format!("there is no approval request {n}")))?;
    let hash = approval.request.hash;
    let (source, declared) = match crate::approval::ApprovalAction::parse(&approval.request.action)
    {
        Some(crate::approval::ApprovalAction::Activate | crate::approval::ApprovalAction::Call) => {
            match home
                .registry
                .manifest(&hash)
                .map(|m| crate::manifest::Manifest::parse(&m))
            {
                Ok(Ok(m)) => (
                    m.program.and_then(|p| text_object(home, &p)),
                    Some(m.effects),
                ),
                _ => (None, None),
            }
        }
        Some(_) => (text_object(home, &hash), None),
        None => (None, None),
    };
    let is_program = approval.request.action != "constitution";
    let analysed = source
        .as_deref()
        .filter(|_| is_program)
        .and_then(|s| rtfs::analysis::analyze(s, None).ok())
        .map(|a| Analysed {
            targets: a
                .call_targets
                .iter()
                .map(|t| {
                    let base = t.split('@').next().unwrap_or(t);
                    let effects = home
                        .registry
                        .resolve(base)
                        .ok()
                        .and_then(|v| crate::manifest::Manifest::parse(&v.manifest).ok())
                        .map(|m| m.effects);
                    (t.clone(), effects)
                })
                .collect(),
            dynamic: a.dynamic_calls,
        });
    Ok(ApprovalView {
        approval,
        source,
        declared,
        analysed,
    })
}

fn text_object(home: &Home, h: &Hash) -> Option<String> {
    let bytes = home.objects.get(h).ok()?;
    String::from_utf8(bytes).ok()
}
