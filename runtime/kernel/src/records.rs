//! The store as a human reads it: capability history, diff and rollback, the causal chain
//! (show, export, head, proofs), `kiln verify` and `kiln gc`. These commands open the home
//! only — never the sandbox — so they start fast.

use std::time::{Duration, UNIX_EPOCH};

use kiln_store::chain::{Filter, Head};
use kiln_store::{Entry, Hash, Home, Registry, merkle};
use serde_json::json;

use crate::caps::Failure;
use crate::kernel::{GovError, Kernel};

fn when(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    // A time past year 9999 (a damaged row) is shown as its number, never a panic.
    let mut out = String::new();
    match std::fmt::Write::write_fmt(
        &mut out,
        format_args!("{}", humantime::format_rfc3339_seconds(t)),
    ) {
        Ok(()) => out,
        Err(_) => format!("{ms} ms after the epoch (out of range)"),
    }
}

/// `when` for a time stored in seconds.
fn when_secs(secs: i64) -> String {
    when(secs.saturating_mul(1000))
}

fn short(h: &Hash) -> String {
    h.hex()[..12].to_string()
}

/// `kiln cap show ID[@PREFIX]`: the version's row and its whole manifest.
pub fn show(home: &Home, spec: &str) -> Result<Vec<String>, Failure> {
    let v = home.registry.resolve(spec)?;
    let r = &v.row;
    let mut out = vec![
        format!("id:       {}", r.id),
        format!(
            "version:  {} (version {} of {})",
            r.hash,
            r.seq,
            home.registry.history(&r.id)?.len()
        ),
        format!("active:   {}", if r.active { "yes" } else { "no" }),
        format!("kind:     {}", r.kind),
        format!("module:   {}", r.module),
        format!(
            "parent:   {}",
            r.parent.map_or("none".to_string(), |p| p.hex())
        ),
        format!("created:  {}", when_secs(r.created_at)),
        "manifest:".to_string(),
    ];
    if let Some(m) = v.manifest.as_map() {
        for (k, val) in m.entries().iter() {
            out.push(format!(
                "  {} {}",
                rtfs::print::print(k),
                rtfs::print::print(val)
            ));
        }
    }
    Ok(out)
}

/// `kiln cap history ID`: every version, oldest first, then every move of the active
/// pointer.
pub fn history(home: &Home, id: &str) -> Result<Vec<String>, Failure> {
    let versions = home.registry.history(id)?;
    if versions.is_empty() {
        return Err(Failure(format!("no capability {id:?} is installed")));
    }
    let mut out = Vec::new();
    for r in &versions {
        out.push(format!(
            "{} v{:<3} {}  {}  module {}{}",
            if r.active { "*" } else { " " },
            r.seq,
            short(&r.hash),
            when_secs(r.created_at),
            short(&r.module),
            r.parent
                .map_or(String::new(), |p| format!("  parent {}", short(&p)))
        ));
    }
    let moves = home.registry.moves(id)?;
    if !moves.is_empty() {
        out.push("moves of the active version:".into());
        for m in moves {
            out.push(format!(
                "  {:<8} {} → {}  (chain entry {})",
                m.kind,
                m.from.map_or("none".to_string(), |f| short(&f)),
                short(&m.to),
                m.chain
            ));
        }
    }
    Ok(out)
}

/// `kiln cap diff ID [A [B]]`: with no versions, the active one against the version that was
/// active before it (or its parent); with one, A against the active one; with two, A
/// against B.
pub fn diff(
    home: &Home,
    id: &str,
    a: Option<&str>,
    b: Option<&str>,
) -> Result<Vec<String>, Failure> {
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
                    Failure(format!(
                        "{id} has only one version; give two versions to compare"
                    ))
                })?;
            (pin(&before.hex())?, current)
        }
    };
    let lines = kiln_store::diff::diff(home.objects.as_ref(), &va, &vb)?;
    if lines.len() <= 2 {
        return Ok(vec![format!(
            "{id}: {} and {} are the same version",
            short(&va.row.hash),
            short(&vb.row.hash)
        )]);
    }
    Ok(lines)
}

/// `kiln cap rollback ID [--to HASH]`.
pub fn rollback(kernel: &Kernel, id: &str, to: Option<&str>) -> Result<String, GovError> {
    let m = kernel.rollback_as_human(id, to)?;
    Ok(if m.changed {
        format!(
            "{id}: {} → {} (chain entry {})",
            m.from.map_or("none".to_string(), |f| short(&f)),
            short(&m.to),
            m.entry
        )
    } else {
        format!(
            "{id}: {} is already active (chain entry {})",
            short(&m.to),
            m.entry
        )
    })
}

fn entry_json(e: &Entry) -> Result<serde_json::Value, Failure> {
    let text = rtfs::stdlib::value_to_json(&e.to_value(), false)
        .map_err(|err| Failure(format!("chain entry {}: {err}", e.seq)))?;
    let mut v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| Failure(format!("chain entry {}: {err}", e.seq)))?;
    v["hash"] = json!(e.hash.hex());
    Ok(v)
}

/// `kiln chain show [--plan ID] [--kind K]`: one line per entry.
pub fn chain_show(home: &Home, filter: &Filter, json: bool) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for e in home.entries(filter)? {
        if json {
            out.push(entry_json(&e)?.to_string());
            continue;
        }
        let who = match &e.context.principal {
            kiln_store::Principal::Human => "human".to_string(),
            kiln_store::Principal::Agent(a) => format!("agent {a}"),
        };
        out.push(format!(
            "{:>6}  {}  {:<14} {:<7} {}  [{}{}]",
            e.seq,
            when(e.time_ms),
            e.record.kind,
            e.record.outcome,
            rtfs::print::print(&e.record.subject),
            who,
            e.context
                .plan
                .map_or(String::new(), |p| format!(", plan {p}"))
        ));
    }
    Ok(out)
}

/// `kiln chain export`: every entry as a JSON line (with its hash), oldest first.
pub fn chain_export(home: &Home, out: &mut dyn std::io::Write) -> Result<u64, Failure> {
    let mut n = 0;
    let mut after = 0;
    loop {
        let batch = home.entries(&Filter {
            after: Some(after),
            limit: Some(10_000),
            ..Filter::default()
        })?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in &batch {
            writeln!(out, "{}", entry_json(e)?)
                .map_err(|err| Failure(format!("writing the export: {err}")))?;
            n += 1;
        }
    }
    Ok(n)
}

/// `kiln chain verify [--head HEAD]`: the current head, or the first bad entry.
pub fn chain_verify(home: &Home, head: Option<&str>) -> Result<Head, Failure> {
    let saved = head.map(Head::parse).transpose()?;
    home.verify_chain(saved.as_ref())?
        .map_err(|p| Failure(p.to_string()))
}

/// `kiln chain prove SEQ`: an inclusion proof of an entry in the current tree, as JSON that
/// `kiln chain check-proof` (or any RFC 6962 verifier) checks.
pub fn prove_inclusion(home: &Home, seq: u64) -> Result<String, Failure> {
    let leaves = home.leaves(None)?;
    if seq == 0 || seq > leaves.len() as u64 {
        return Err(Failure(format!(
            "there is no chain entry {seq} (the chain has {} entries)",
            leaves.len()
        )));
    }
    let path = merkle::inclusion_proof(seq as usize - 1, &leaves)
        .ok_or_else(|| Failure("no proof".into()))?;
    let entry = home
        .entries(&Filter {
            after: Some(seq - 1),
            limit: Some(1),
            ..Filter::default()
        })?
        .pop()
        .ok_or_else(|| Failure(format!("chain entry {seq} vanished")))?;
    let body = entry.encode()?;
    let proof = json!({
        "proof": "inclusion",
        "seq": seq,
        "tree_size": leaves.len(),
        "root": merkle::root(&leaves).hex(),
        "head": Head { size: leaves.len() as u64, root: merkle::root(&leaves) }.to_string(),
        "leaf": merkle::leaf_hash(&body).hex(),
        "entry": hex(&body),
        "path": path.iter().map(Hash::hex).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string_pretty(&proof).unwrap_or_default())
}

/// `kiln chain prove --since HEAD`: a consistency proof that the current tree extends HEAD.
pub fn prove_consistency(home: &Home, since: &str) -> Result<String, Failure> {
    let old = Head::parse(since)?;
    let leaves = home.leaves(None)?;
    if old.size == 0 || old.size > leaves.len() as u64 {
        return Err(Failure(format!(
            "head {old} does not fit a chain of {} entries",
            leaves.len()
        )));
    }
    let path = merkle::consistency_proof(old.size as usize, &leaves)
        .ok_or_else(|| Failure("no proof".into()))?;
    let new = Head {
        size: leaves.len() as u64,
        root: merkle::root(&leaves),
    };
    let proof = json!({
        "proof": "consistency",
        "first": old.to_string(),
        "second": new.to_string(),
        "path": path.iter().map(Hash::hex).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string_pretty(&proof).unwrap_or_default())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `kiln chain check-proof FILE [--head HEAD]`: checks a proof on its own (no home needed);
/// with `--head`, also that it is about that trusted head. Returns what it proves.
pub fn check_proof(text: &str, trusted: Option<&str>) -> Result<String, Failure> {
    let bad = |why: &str| Failure(format!("not a valid proof: {why}"));
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let field = |k: &str| v.get(k).ok_or_else(|| bad(&format!("no {k:?} field")));
    let hash = |x: &serde_json::Value, k: &str| {
        x.as_str()
            .and_then(Hash::parse)
            .ok_or_else(|| bad(&format!("{k:?} is not a SHA-256 hex string")))
    };
    let path: Vec<Hash> = field("path")?
        .as_array()
        .ok_or_else(|| bad("\"path\" is not a list"))?
        .iter()
        .map(|x| hash(x, "path"))
        .collect::<Result<_, _>>()?;
    let trusted = trusted.map(Head::parse).transpose()?;
    match field("proof")?.as_str() {
        Some("inclusion") => {
            let seq = field("seq")?.as_u64().ok_or_else(|| bad("\"seq\""))?;
            let size = field("tree_size")?
                .as_u64()
                .ok_or_else(|| bad("\"tree_size\""))?;
            let root = hash(field("root")?, "root")?;
            let body = field("entry")?
                .as_str()
                .and_then(unhex)
                .ok_or_else(|| bad("\"entry\" is not hex"))?;
            let leaf = merkle::leaf_hash(&body);
            if hash(field("leaf")?, "leaf")? != leaf {
                return Err(Failure(
                    "the proof's leaf is not the hash of its entry".into(),
                ));
            }
            let entry = Entry::decode(&body).map_err(|e| bad(&format!("entry: {e}")))?;
            if entry.seq != seq {
                return Err(Failure(format!(
                    "the proof's entry says it is entry {}, not {seq}",
                    entry.seq
                )));
            }
            if seq == 0 || !merkle::verify_inclusion(seq - 1, size, &leaf, &path, &root) {
                return Err(Failure(format!(
                    "the inclusion proof of entry {seq} does not lead to root {root}"
                )));
            }
            let head = Head { size, root };
            if let Some(t) = trusted
                && t != head
            {
                return Err(Failure(format!(
                    "the proof is valid for head {head}, not for the trusted head {t}"
                )));
            }
            Ok(format!(
                "entry {seq} ({}) is in the chain with head {head}",
                entry.record.kind
            ))
        }
        Some("consistency") => {
            let first = Head::parse(field("first")?.as_str().unwrap_or_default())?;
            let second = Head::parse(field("second")?.as_str().unwrap_or_default())?;
            if !merkle::verify_consistency(
                first.size,
                second.size,
                &first.root,
                &second.root,
                &path,
            ) {
                return Err(Failure(format!(
                    "head {second} does not extend head {first}: the chain was rewritten or truncated"
                )));
            }
            if let Some(t) = trusted
                && t != first
                && t != second
            {
                return Err(Failure(format!(
                    "the proof is about heads {first} and {second}, not the trusted head {t}"
                )));
            }
            Ok(format!("head {second} extends head {first}"))
        }
        _ => Err(bad("\"proof\" must be \"inclusion\" or \"consistency\"")),
    }
}

/// `kiln verify [--head HEAD]`: every object, manifest and chain entry. Returns the report
/// lines and whether the home is sound.
pub fn verify(home: &Home, head: Option<&str>) -> Result<(Vec<String>, bool), Failure> {
    let saved = head.map(Head::parse).transpose()?;
    let r = home.verify(saved.as_ref())?;
    let mut out: Vec<String> = r.problems.iter().map(|p| format!("BAD  {p}")).collect();
    for l in &r.litter {
        out.push(format!(
            "note objects/{l} is not an object (an interrupted write; `kiln gc` removes it)"
        ));
    }
    let ok = r.problems.is_empty();
    out.push(format!(
        "{}: {} objects re-hashed, {} versions checked, chain {}",
        if ok { "ok" } else { "FAILED" },
        r.objects,
        r.versions,
        r.head
            .map_or("not verified".to_string(), |h| format!("head {h}"))
    ));
    Ok((out, ok))
}

/// `kiln gc [--grace SECONDS]`.
pub fn gc(kernel: &Kernel, grace: Duration) -> Result<String, GovError> {
    let (r, grace) = kernel.gc_as_human(grace)?;
    Ok(format!(
        "removed {} objects ({} bytes) and {} leftover temporary files unreferenced for over {} s; kept {} (chain entry {})",
        r.removed,
        r.bytes,
        r.litter,
        grace.as_secs(),
        r.kept,
        r.entry
    ))
}

/// `kiln plans list`: runs, newest first.
pub fn plans_list(home: &Home) -> Result<Vec<String>, Failure> {
    let rows = kiln_store::plans::list(&home.db, 100)?;
    if rows.is_empty() {
        return Ok(vec!["no plan runs yet".into()]);
    }
    Ok(rows
        .iter()
        .map(|p| {
            format!(
                "{:>6}  {}  {:<8} {}{}  [{}]",
                p.run,
                when_secs(p.started_at),
                p.outcome.as_deref().unwrap_or("running"),
                p.name,
                p.parent.map_or(String::new(), |r| format!(" (in run {r})")),
                p.principal
            )
        })
        .collect())
}

/// `kiln plans show RUN`: the run, the versions it created or activated, its entries.
pub fn plans_show(home: &Home, run: i64) -> Result<Vec<String>, Failure> {
    let p = kiln_store::plans::get(&home.db, run)?.ok_or_else(|| {
        Failure(format!(
            "there is no plan run {run} (see `kiln plans list`)"
        ))
    })?;
    let mut out = vec![
        format!("run:       {}", p.run),
        format!("source:    {} ({})", p.name, p.source),
        format!("principal: {}", p.principal),
        format!("started:   {}", when_secs(p.started_at)),
        format!(
            "ended:     {}",
            p.ended_at.map_or("not yet".to_string(), when_secs)
        ),
        format!("outcome:   {}", p.outcome.as_deref().unwrap_or("running")),
        format!(
            "chain:     {}…{}",
            p.run,
            p.chain_last.map_or("".to_string(), |c| c.to_string())
        ),
    ];
    if let Some(r) = p.result {
        let value = kiln_store::ObjectStore::get(home.objects.as_ref(), &r)
            .ok()
            .and_then(|b| rtfs::encoding::decode(&b, Default::default()).ok());
        if let Some(v) = value {
            out.push(format!("result:    {}", rtfs::print::print(&v)));
        }
    }
    let entries = home.entries(&Filter {
        plan: Some(run),
        ..Filter::default()
    })?;
    for e in &entries {
        let s = &e.record.subject;
        let field = |k: &str| s.get_key(k).map(rtfs::print::print).unwrap_or_default();
        match e.record.kind.as_str() {
            "cap.register" => out.push(format!("created:   {} {}", field("id"), field("version"))),
            "cap.activate" | "cap.rollback" => out.push(format!(
                "moved:     {} {} → {}",
                field("id"),
                field("from"),
                field("to")
            )),
            _ => {}
        }
    }
    out.push(format!("entries:   {} in this run", entries.len()));
    Ok(out)
}

/// `kiln plans undo RUN`.
pub fn plans_undo(kernel: &Kernel, run: i64) -> Result<Vec<String>, GovError> {
    let lines = kernel.undo_plan_as_human(run)?;
    if lines.is_empty() {
        return Ok(vec![format!(
            "run {run} moved no active version: nothing to undo"
        )]);
    }
    Ok(lines)
}
