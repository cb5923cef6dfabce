//! The kernel's data as text for a terminal, and as JSON for `--json`: one function per kind
//! of result, each returning the lines and the JSON value.

use std::time::{Duration, UNIX_EPOCH};

use kiln_kernel::records::{Diff, History, PlanView, VersionView};
use kiln_store::approvals::Approval;
use kiln_store::plans::PlanRow;
use kiln_store::{Entry, GcReport, Hash, Moved, Principal, VerifyReport, Version};
use serde_json::{Value as Json, json};

use crate::json::value;

/// A time in milliseconds since the epoch, as RFC 3339.
pub fn when(ms: i64) -> String {
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
pub fn when_secs(secs: i64) -> String {
    when(secs.saturating_mul(1000))
}

/// A hash's first 12 hex digits.
pub fn short(h: &Hash) -> String {
    h.hex()[..12].to_string()
}

/// Lines and the JSON of the same result.
pub type Shown = (Vec<String>, Json);

/// `kiln cap list`.
pub fn list(versions: &[Version]) -> Shown {
    let mut lines = Vec::new();
    let mut all = Vec::new();
    for v in versions {
        let r = &v.row;
        let effects = v
            .manifest
            .get_key("effects")
            .cloned()
            .unwrap_or(rtfs::Value::Nil);
        lines.push(format!(
            "{:<32} {}  v{}  {:<5} {}",
            r.id,
            short(&r.hash),
            r.seq,
            r.kind,
            rtfs::print::print(&effects)
        ));
        all.push(json!({
            "id": r.id, "version": r.hash.hex(), "seq": r.seq, "kind": r.kind,
            "effects": value(&effects),
        }));
    }
    (lines, Json::Array(all))
}

/// `kiln cap show`.
pub fn version(view: &VersionView) -> Shown {
    let (r, manifest) = (&view.version.row, &view.version.manifest);
    let mut lines = vec![
        format!("id:       {}", r.id),
        format!(
            "version:  {} (version {} of {})",
            r.hash, r.seq, view.versions
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
    if let Some(m) = manifest.as_map() {
        for (k, val) in m.entries().iter() {
            lines.push(format!(
                "  {} {}",
                rtfs::print::print(k),
                rtfs::print::print(val)
            ));
        }
    }
    let j = json!({
        "id": r.id, "version": r.hash.hex(), "seq": r.seq, "versions": view.versions,
        "active": r.active, "kind": r.kind, "module": r.module.hex(),
        "parent": r.parent.map(|p| p.hex()), "created_at": r.created_at,
        "manifest": value(manifest),
    });
    (lines, j)
}

/// `kiln cap history`.
pub fn history(h: &History) -> Shown {
    let mut lines = Vec::new();
    for r in &h.versions {
        lines.push(format!(
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
    if !h.moves.is_empty() {
        lines.push("moves of the active version:".into());
        for m in &h.moves {
            lines.push(format!(
                "  {:<8} {} → {}  (chain entry {})",
                m.kind,
                m.from.map_or("none".to_string(), |f| short(&f)),
                short(&m.to),
                m.chain
            ));
        }
    }
    let j = json!({
        "versions": h.versions.iter().map(|r| json!({
            "version": r.hash.hex(), "seq": r.seq, "active": r.active, "kind": r.kind,
            "module": r.module.hex(), "parent": r.parent.map(|p| p.hex()),
            "created_at": r.created_at,
        })).collect::<Vec<_>>(),
        "moves": h.moves.iter().map(|m| json!({
            "n": m.n, "kind": m.kind, "from": m.from.map(|f| f.hex()), "to": m.to.hex(),
            "chain": m.chain,
        })).collect::<Vec<_>>(),
    });
    (lines, j)
}

/// `kiln cap diff`.
pub fn diff(id: &str, d: &Diff) -> Shown {
    match d {
        Diff::Same(a, b) => (
            vec![format!(
                "{id}: {} and {} are the same version",
                short(a),
                short(b)
            )],
            json!({ "same": true, "lines": [] }),
        ),
        Diff::Lines(lines) => (lines.clone(), json!({ "same": false, "lines": lines })),
    }
}

/// A pointer move (`kiln cap rollback`).
pub fn moved(id: &str, m: &Moved) -> Shown {
    let line = if m.changed {
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
    };
    let j = json!({
        "id": id, "from": m.from.map(|f| f.hex()), "to": m.to.hex(), "changed": m.changed,
        "entry": m.entry,
    });
    (vec![line], j)
}

/// A rollback of the first activation.
pub fn deactivated(d: &kiln_store::Deactivated) -> Shown {
    (
        vec![format!(
            "{}: {} → none: it was the first active version, so none is active now (chain entry {})",
            d.id,
            short(&d.from),
            d.entry
        )],
        json!({ "id": d.id, "from": d.from.hex(), "to": null, "changed": true, "entry": d.entry }),
    )
}

/// A chain entry as JSON (its encoded form's fields, and its hash).
pub fn entry_json(e: &Entry) -> Json {
    let mut v = value(&e.to_value());
    v["hash"] = json!(e.hash.hex());
    v
}

/// A chain entry as one line.
pub fn entry_line(e: &Entry) -> String {
    let who = match &e.context.principal {
        Principal::Human => "human".to_string(),
        Principal::Agent(a) => format!("agent {a}"),
    };
    format!(
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
    )
}

/// `kiln verify`: the report and whether the home is sound.
pub fn verify(r: &VerifyReport) -> (Shown, bool) {
    let mut lines: Vec<String> = r.problems.iter().map(|p| format!("BAD  {p}")).collect();
    for l in &r.litter {
        lines.push(format!(
            "note objects/{l} is not an object (an interrupted write; `kiln gc` removes it)"
        ));
    }
    let ok = r.problems.is_empty();
    lines.push(format!(
        "{}: {} objects re-hashed, {} versions checked, chain {}",
        if ok { "ok" } else { "FAILED" },
        r.objects,
        r.versions,
        r.head
            .as_ref()
            .map_or("not verified".to_string(), |h| format!("head {h}"))
    ));
    let j = json!({
        "sound": ok, "objects": r.objects, "versions": r.versions,
        "head": r.head.as_ref().map(|h| h.to_string()), "problems": r.problems,
        "litter": r.litter,
    });
    ((lines, j), ok)
}

/// `kiln gc`.
pub fn gc(r: &GcReport, grace: Duration) -> Shown {
    (
        vec![format!(
            "removed {} objects ({} bytes) and {} leftover temporary files unreferenced for over {} s; kept {} (chain entry {})",
            r.removed,
            r.bytes,
            r.litter,
            grace.as_secs(),
            r.kept,
            r.entry
        )],
        json!({
            "removed": r.removed, "bytes": r.bytes, "litter": r.litter,
            "grace_s": grace.as_secs(), "kept": r.kept, "entry": r.entry,
        }),
    )
}

fn plan_json(p: &PlanRow) -> Json {
    json!({
        "run": p.run, "parent": p.parent, "source": p.source.hex(), "name": p.name,
        "principal": p.principal, "started_at": p.started_at, "ended_at": p.ended_at,
        "outcome": p.outcome, "result": p.result.map(|r| r.hex()), "chain_last": p.chain_last,
    })
}

/// `kiln plans list`.
pub fn plans(rows: &[PlanRow]) -> Shown {
    if rows.is_empty() {
        return (vec!["no plan runs yet".into()], json!([]));
    }
    let lines = rows
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
        .collect();
    (lines, Json::Array(rows.iter().map(plan_json).collect()))
}

/// `kiln plans show`.
pub fn plan(v: &PlanView) -> Shown {
    let p = &v.row;
    let mut lines = vec![
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
    if let Some(r) = &v.result {
        lines.push(format!("result:    {}", rtfs::print::print(r)));
    }
    for (id, version) in &v.created {
        lines.push(format!("created:   {id} {version}"));
    }
    for (id, from, to) in &v.moved {
        lines.push(format!("moved:     {id} {from} → {to}"));
    }
    lines.push(format!("entries:   {} in this run", v.entries));
    let mut j = plan_json(p);
    j["result_value"] = v.result.as_ref().map_or(Json::Null, value);
    j["created"] = json!(v.created);
    j["moved"] = json!(v.moved);
    j["entries"] = json!(v.entries);
    (lines, j)
}

fn approval_json(a: &Approval) -> Json {
    json!({
        "n": a.n, "status": format!("{:?}", a.status).to_lowercase(),
        "action": a.request.action, "subject": a.request.subject, "hash": a.request.hash.hex(),
        "risk": a.request.risk, "requester": a.request.requester, "reasons": a.request.reasons,
        "created_at": a.created_at, "expires_at": a.request.expires_at, "note": a.note,
    })
}

/// `kiln approvals list`.
pub fn approvals(list: &[Approval], all: bool) -> Shown {
    let mut lines = Vec::new();
    if list.is_empty() {
        lines.push(format!(
            "no {}approval requests",
            if all { "" } else { "pending " }
        ));
    }
    for a in list {
        lines.push(format!(
            "{:>4}  {:<8}  {} {} {}  risk {}  from {}",
            a.n,
            format!("{:?}", a.status).to_lowercase(),
            a.request.action,
            a.request.subject,
            short(&a.request.hash),
            a.request.risk,
            a.request.requester
        ));
    }
    (lines, Json::Array(list.iter().map(approval_json).collect()))
}

fn effects_text(effects: &[kiln_sandbox::Effect]) -> String {
    if effects.is_empty() {
        return "[:pure]".into();
    }
    let names: Vec<String> = effects.iter().map(|e| format!(":{}", e.as_str())).collect();
    format!("[{}]", names.join(" "))
}

/// `kiln approvals show`: the request, then what it would let happen.
pub fn approval_view(v: &kiln_kernel::records::ApprovalView) -> Shown {
    let (mut lines, mut j) = approval(&v.approval);
    if let Some(effects) = &v.declared {
        lines.push(format!("declares:  {}", effects_text(effects)));
        j["declared_effects"] = json!(effects.iter().map(|e| e.as_str()).collect::<Vec<_>>());
    }
    if let Some(a) = &v.analysed {
        for (target, effects) in &a.targets {
            lines.push(format!(
                "calls:     {target} {}",
                effects
                    .as_deref()
                    .map_or("(not installed)".to_string(), effects_text)
            ));
        }
        if a.dynamic > 0 {
            lines.push(format!(
                "calls:     {} call(s) whose target is computed when it runs (each is decided then, within what is approved here)",
                a.dynamic
            ));
        }
        if a.targets.is_empty() && a.dynamic == 0 {
            lines.push("calls:     nothing".into());
        }
        j["calls"] =
            json!(a.targets.iter().map(|(t, e)| json!({
            "id": t,
            "effects": e.as_ref().map(|e| e.iter().map(|x| x.as_str()).collect::<Vec<_>>()),
        })).collect::<Vec<_>>());
        j["dynamic_calls"] = json!(a.dynamic);
    }
    if let Some(src) = &v.source {
        lines.push("source:".into());
        lines.extend(src.lines().map(|l| {
            format!(
                "  {}",
                l.replace(|c: char| c.is_control() && c != '\t', "?")
            )
        }));
        j["source"] = json!(src);
    }
    (lines, j)
}

/// `kiln approvals show` (the request alone).
pub fn approval(a: &Approval) -> Shown {
    let mut lines = vec![
        format!("request:   {}", a.n),
        format!("status:    {}", format!("{:?}", a.status).to_lowercase()),
        format!("action:    {} {}", a.request.action, a.request.subject),
        format!("approves:  {}", a.request.hash),
        format!("risk:      {}", a.request.risk),
        format!("requester: {}", a.request.requester),
    ];
    for r in &a.request.reasons {
        lines.push(format!("reason:    {r}"));
    }
    if let Some(note) = &a.note {
        lines.push(format!("note:      {note}"));
    }
    (lines, approval_json(a))
}
