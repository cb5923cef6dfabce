//! What changed between two versions of a capability: the manifest's fields, the module
//! (hash and size), effects and grants added or removed, and an RTFS program as a unified
//! diff.

use std::collections::BTreeSet;

use rtfs::Value;

use crate::error::Result;
use crate::hash::Hash;
use crate::objects::ObjectStore;
use crate::registry::Version;

/// Fields shown by their own rules rather than as plain values.
const SPECIAL: [&str; 4] = ["module", "program", "effects", "grants"];

fn short(h: &Hash) -> String {
    h.hex()[..12].to_string()
}

fn printed(v: &Value) -> String {
    let s = rtfs::print::print(v);
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

fn items(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_seq)
        .map(|s| s.items().iter().map(rtfs::print::print).collect())
        .unwrap_or_default()
}

fn set_change(out: &mut Vec<String>, what: &str, a: BTreeSet<String>, b: BTreeSet<String>) {
    for x in b.difference(&a) {
        out.push(format!("{what} added:   {x}"));
    }
    for x in a.difference(&b) {
        out.push(format!("{what} removed: {x}"));
    }
}

fn object_hash(m: &Value, k: &str) -> Option<Hash> {
    m.get_key(k).and_then(Value::as_str).and_then(Hash::parse)
}

/// A readable account of what changed from `a` to `b` (empty lines list: nothing).
pub fn diff(objects: &dyn ObjectStore, a: &Version, b: &Version) -> Result<Vec<String>> {
    let (ma, mb) = (&a.manifest, &b.manifest);
    let mut out = vec![
        format!(
            "--- {}@{} (version {})",
            a.row.id,
            short(&a.row.hash),
            a.row.seq
        ),
        format!(
            "+++ {}@{} (version {})",
            b.row.id,
            short(&b.row.hash),
            b.row.seq
        ),
    ];
    // The module, with sizes.
    let size = |h: &Hash| {
        objects
            .get(h)
            .map(|b| format!("{} bytes", b.len()))
            .unwrap_or_else(|e| e.to_string())
    };
    if a.row.module != b.row.module {
        out.push(format!(
            "module: {} ({}) → {} ({})",
            short(&a.row.module),
            size(&a.row.module),
            short(&b.row.module),
            size(&b.row.module)
        ));
    }
    set_change(
        &mut out,
        "effect",
        items(ma.get_key("effects")),
        items(mb.get_key("effects")),
    );
    let grants = |m: &Value, k: &str| items(m.get_key("grants").and_then(|g| g.get_key(k)));
    set_change(
        &mut out,
        "grant dir",
        grants(ma, "dirs"),
        grants(mb, "dirs"),
    );
    set_change(&mut out, "grant env", grants(ma, "env"), grants(mb, "env"));
    // Every other field, by value.
    let keys = |m: &Value| -> BTreeSet<String> {
        m.as_map()
            .map(|m| {
                m.entries()
                    .iter()
                    .filter_map(|(k, _)| match k {
                        Value::Keyword(k) => Some(k.as_str().to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let all: BTreeSet<String> = keys(ma).union(&keys(mb)).cloned().collect();
    for k in all {
        if SPECIAL.contains(&k.as_str()) {
            continue;
        }
        let (va, vb) = (ma.get_key(&k), mb.get_key(&k));
        if va != vb {
            let show = |v: Option<&Value>| v.map_or("(absent)".to_string(), printed);
            out.push(format!(":{k}: {} → {}", show(va), show(vb)));
        }
    }
    // An RTFS program, line by line.
    let (pa, pb) = (object_hash(ma, "program"), object_hash(mb, "program"));
    if pa != pb {
        let text = |h: Option<Hash>| -> Result<String> {
            match h {
                None => Ok(String::new()),
                Some(h) => Ok(String::from_utf8_lossy(&objects.get(&h)?).into_owned()),
            }
        };
        let (ta, tb) = (text(pa)?, text(pb)?);
        let udiff = similar::TextDiff::from_lines(&ta, &tb);
        out.push("program:".into());
        out.extend(
            udiff
                .unified_diff()
                .context_radius(3)
                .header("a/program.rtfs", "b/program.rtfs")
                .to_string()
                .lines()
                .map(str::to_string),
        );
    }
    Ok(out)
}
