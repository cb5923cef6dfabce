//! Attacks from the agent's side on what the analyses cannot see (issue "Security"): `call`
//! passed as a value, a granted directory swapped for a symlink, shared values that explode,
//! table edits behind kiln's back. Each attack fails safely and its attempt is on the chain
//! where it reached kiln.

use std::path::{Path, PathBuf};

use crate::governance::end_to_end::{
    at_trust, denials, err, executing, home, install, kiln, out, plan,
};

/// The ways a program can reach `call` without naming it at the head of an application:
/// (name, an expression of `w` — the write request — that calls `fs.write_text` with it).
const INDIRECT: [(&str, &str); 7] = [
    ("apply", r#"(apply call ["fs.write_text" w])"#),
    ("map", r#"(first (map call ["fs.write_text"] [w]))"#),
    ("let-alias", r#"(let [c call] (c "fs.write_text" w))"#),
    ("partial", r#"((partial call "fs.write_text") w)"#),
    ("comp", r#"((comp identity call) "fs.write_text" w)"#),
    (
        "closure",
        r#"(((fn [] (fn [id x] (call id x)))) "fs.write_text" w)"#,
    ),
    (
        "higher-order",
        r#"(reduce (fn [_ f] (f "fs.write_text" w)) nil [call])"#,
    ),
];

/// RTFS source as the text of an RTFS string literal.
fn quoted(src: &str) -> String {
    src.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A home at trust `level` with `fs.write_text` installed, writable on a directory of its own;
/// returns the home and that directory.
fn writer_home(name: &str, level: u8) -> (PathBuf, PathBuf) {
    let h = home(name);
    let data = h.parent().unwrap().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let fs = crate::guests::wasm_path("fs_write_text", "wasm32-wasip1");
    let o = install(
        &h,
        &fs,
        "fs.write_text",
        &format!(
            r#"(capability "fs.write_text" :effects [:fs/write :fs/read :log :env] :grants {{:dirs [{{:path "{}" :as "/data" :write true}}]}})"#,
            data.display()
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    if level > 0 {
        at_trust(&h, level);
    }
    (h, data)
}

/// `w`, the request to write `/data/<file>`.
fn request(file: &str) -> String {
    format!(r#"{{:path "/data/{file}" :text "written by {file}"}}"#)
}

/// Approves every pending request (the human, at the CLI).
fn approve_all(h: &Path) -> usize {
    let o = kiln(h, &["--json", "approvals", "list"]);
    let list: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    let pending = list["value"].as_array().cloned().unwrap_or_default();
    for a in &pending {
        let n = a["n"].to_string();
        let o = kiln(h, &["approvals", "approve", &n]);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    }
    pending.len()
}

/// Every indirect form × every trust level, as an agent plan and as an agent's capability:
/// no file is ever written that was not decided for. A plan whose calls are computed is
/// effectful, so it runs only where the constitution lets agents run effectful plans
/// (trust 4) or after a human approved its exact source; a capability that reaches `call` as a
/// value must declare `:call`, and even then it reaches only callees within its declared
/// effects — at every level, full autonomy included.
#[test]
fn call_as_a_value_never_reaches_an_effect_that_was_not_decided() {
    for level in 0..=4u8 {
        let (h, data) = writer_home(&format!("call-value-{level}"), level);
        // 1. As an agent's plan run through planner.execute_plan.
        let tries: Vec<String> = INDIRECT
            .iter()
            .map(|(name, form)| {
                let inner = format!("(let [w {}] {form})", request(&format!("plan-{name}")));
                format!(
                    "(try {} (catch :error/capability e (:reason (ex-data e))))",
                    executing(&inner)
                )
            })
            .collect();
        let p = plan(&h, "plans.rtfs", &format!("[{}]", tries.join("\n")));
        let o = kiln(&h, &["run", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "trust {level}: {}", err(&o));
        let got = out(&o);
        for (name, _) in INDIRECT {
            let written = data.join(format!("plan-{name}")).exists();
            assert_eq!(
                written,
                level == 4,
                "trust {level}: the {name} plan {}: {got}",
                if written { "wrote" } else { "did not write" }
            );
        }
        if level < 4 {
            assert_eq!(
                got.matches(":pending-approval").count(),
                INDIRECT.len(),
                "trust {level}: every such plan waits for a human: {got}"
            );
            // The human sees the program and that its calls are computed.
            let o = kiln(&h, &["--json", "approvals", "list"]);
            let list: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
            let first = list["value"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .rev()
                        .find(|r| r["action"] == "execute-effectful-plan")
                })
                .map(|r| r["n"].to_string())
                .unwrap();
            let o = kiln(&h, &["approvals", "show", &first]);
            let shown = out(&o);
            assert!(
                shown.contains("execute-effectful-plan")
                    && shown.contains("(apply call")
                    && shown.contains("computed when it runs"),
                "trust {level}: {shown}"
            );
        }
        // 2. As an agent's capability declared pure: refused at registration, every level.
        for (name, form) in INDIRECT {
            let src = format!(
                r#"(capability "tidy-{name}" :input-schema :any :effects [:pure] :implementation (fn [w] {form}))"#
            );
            let p = plan(
                &h,
                "pure.rtfs",
                &format!(
                    r#"(call :planner.register_capability {{:source "{}"}})"#,
                    quoted(&src)
                ),
            );
            let o = kiln(&h, &["run", p.to_str().unwrap()]);
            assert_eq!(
                o.status.code(),
                Some(1),
                "trust {level} {name}: {}",
                out(&o)
            );
            assert!(
                err(&o).contains("declare :effects [:call"),
                "trust {level} {name}: {}",
                err(&o)
            );
        }
        // 3. Declared [:call] only: registered (after the human's approval below trust 4),
        // then called — each reaches kiln.call and is refused there, at every level.
        let regs: Vec<String> = INDIRECT
            .iter()
            .map(|(name, form)| {
                let src = format!(
                    r#"(capability "caller-{name}" :input-schema :any :effects [:call] :implementation (fn [w] {form}))"#
                );
                format!(
                    r#"(try (:status (call :planner.register_capability {{:source "{}"}})) (catch :error/capability e (:reason (ex-data e))))"#,
                    quoted(&src)
                )
            })
            .collect();
        let p = plan(&h, "register.rtfs", &format!("[{}]", regs.join("\n")));
        let o = kiln(&h, &["run", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "trust {level}: {}", err(&o));
        // Below trust 4 the seven plans of step 1 wait too; the human approves everything.
        let approved = approve_all(&h);
        assert_eq!(
            approved,
            if level < 4 { 2 * INDIRECT.len() } else { 0 },
            "trust {level}: {}",
            out(&o)
        );
        let calls: Vec<String> = INDIRECT
            .iter()
            .map(|(name, _)| {
                format!(
                    "(try (call :generated/caller-{name} {}) (catch :error/capability e (:reason (ex-data e))))",
                    request(&format!("cap-{name}"))
                )
            })
            .collect();
        let p = plan(&h, "call.rtfs", &format!("[{}]", calls.join("\n")));
        let o = kiln(&h, &["run", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "trust {level}: {}", err(&o));
        for (name, _) in INDIRECT {
            assert!(
                !data.join(format!("cap-{name}")).exists(),
                "trust {level}: caller-{name} wrote a file"
            );
        }
        // Each attempt reached kiln and was denied there, on the chain, as the agent's.
        let scoped: Vec<_> = denials(&h)
            .into_iter()
            .filter(|e| {
                e["subject"]["capability"] == "fs.write_text"
                    && e["subject"]["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("which was not decided for generated/caller-"))
            })
            .collect();
        assert_eq!(scoped.len(), INDIRECT.len(), "trust {level}: {scoped:#?}");
        assert!(scoped.iter().all(|e| e["principal"] == "agent"));
        assert_eq!(kiln(&h, &["verify"]).status.code(), Some(0));
    }
}

/// A capability that calls a capability: the inner one may reach only what its own manifest
/// declares, whatever the outer one declares.
#[test]
fn a_capability_called_by_a_capability_is_held_to_its_own_effects() {
    let (h, data) = writer_home("cap-in-cap", 4);
    let inner = r#"(capability "inner" :input-schema :any :effects [:call] :implementation (fn [w] (apply call ["fs.write_text" w])))"#;
    let outer = r#"(capability "outer" :input-schema :any :effects [:call :fs/write :fs/read :log :env] :implementation (fn [w] (call :generated/inner w)))"#;
    let p = plan(
        &h,
        "register.rtfs",
        &format!(
            r#"[(call :planner.register_capability {{:source "{}"}}) (call :planner.register_capability {{:source "{}"}})]"#,
            quoted(inner),
            quoted(outer)
        ),
    );
    let o = kiln(&h, &["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = kiln(&h, &["call", "generated/outer", &request("nested")]);
    assert_ne!(o.status.code(), Some(0), "{}", out(&o));
    assert!(!data.join("nested").exists());
    let d = denials(&h);
    assert!(
        d.iter().any(|e| e["subject"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not decided for generated/inner"))),
        "{d:#?}"
    );
    // The same capability declaring what it reaches works: the guarantee is not a blanket ban.
    let honest = r#"(capability "honest" :input-schema :any :effects [:call :fs/write :fs/read :log :env] :implementation (fn [w] (apply call ["fs.write_text" w])))"#;
    let p = plan(
        &h,
        "honest.rtfs",
        &format!(
            r#"(call :planner.register_capability {{:source "{}"}})"#,
            quoted(honest)
        ),
    );
    let o = kiln(&h, &["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = kiln(&h, &["call", "generated/honest", &request("honest")]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(data.join("honest").exists());
}

/// A granted directory swapped for a symlink to the kiln home while a plan runs (as another
/// process, or another guest with write access to its parent, would): the loaded capability
/// keeps writing into the directory it was granted — now under its new name — never into the
/// home; a later process refuses the symlinked grant.
#[test]
fn a_grant_swapped_for_a_symlink_never_reaches_the_home() {
    let (h, data) = writer_home("swap", 0);
    let writes = 100;
    let p = plan(
        &h,
        "writes.rtfs",
        &format!(
            r#"(count (map (fn [i]
                 (call :fs.write_text {{:path (str "/data/f" i) :text "x"}})
                 (loop [j 0] (if (< j 3000) (recur (inc j)) j)))
               (range {writes})))"#
        ),
    );
    let moved = data.with_extension("moved");
    let swapper = {
        let (data, moved, home) = (data.clone(), moved.clone(), h.clone());
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while !data.join("f0").exists() {
                assert!(started.elapsed().as_secs() < 120, "the plan never wrote");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::fs::rename(&data, &moved).unwrap();
            std::os::unix::fs::symlink(&home, &data).unwrap();
            std::fs::read_dir(&moved).unwrap().count()
        })
    };
    let o = kiln(&h, &["run", p.to_str().unwrap()]);
    let written_before_swap = swapper.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        written_before_swap < writes,
        "the swap came after every write ({written_before_swap}): the test proved nothing"
    );
    let stray: Vec<_> = std::fs::read_dir(&h)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('f') && n[1..].parse::<u32>().is_ok())
        .collect();
    assert!(stray.is_empty(), "files reached the home: {stray:?}");
    assert_eq!(std::fs::read_dir(&moved).unwrap().count(), writes);
    // A new process meets the symlink where the grant was: refused, and nothing written.
    let o = kiln(
        &h,
        &["call", "fs.write_text", r#"{:path "/data/late" :text "x"}"#],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("is a symlink"), "{}", err(&o));
    assert!(!h.join("late").exists());
    assert_eq!(kiln(&h, &["verify"]).status.code(), Some(0));
}

/// Grants where one capability could swap another's root are refused: a writable grant that
/// contains another capability's directory, from either side, by manifest or constitution;
/// and a grant that is itself a symlink.
#[test]
fn no_capability_may_write_where_another_is_rooted() {
    let (h, data) = writer_home("roots", 0);
    let inner = data.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    let reader = crate::guests::wasm_path("fs_read_json", "wasm32-wasip1");
    let manifest = |dir: &Path| {
        format!(
            r#"(capability "fs.read_json" :effects [:fs/read :log :env] :grants {{:dirs [{{:path "{}" :as "/data"}}]}})"#,
            dir.display()
        )
    };
    // Inside the writer's writable directory: refused at install.
    let o = install(&h, &reader, "fs.read_json", &manifest(&inner));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("could replace"), "{}", err(&o));
    // Beside it: fine.
    let beside = h.parent().unwrap().join("beside");
    std::fs::create_dir_all(&beside).unwrap();
    let o = install(&h, &reader, "fs.read_json", &manifest(&beside));
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // A symlink as the grant: refused.
    let link = h.parent().unwrap().join("link");
    std::os::unix::fs::symlink(&beside, &link).unwrap();
    let o = install(&h, &reader, "fs.read_json", &manifest(&link));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("is a symlink"), "{}", err(&o));
    // The constitution cannot add what the manifests may not: granting the reader a
    // directory inside the writer's makes loading the reader fail.
    let text = kiln_kernel::governance::constitution::DEFAULT.replace(
        ":grants {}",
        &format!(
            r#":grants {{"fs.read_json" {{:dirs [{{:path "{}" :as "/inner"}}]}}}}"#,
            inner.display()
        ),
    );
    crate::governance::end_to_end::adopt(&h, "inner.rtfs", &text);
    let o = kiln(&h, &["call", "fs.read_json", r#"{:path "/inner/x.json"}"#]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("could replace"), "{}", err(&o));
}

/// Edits of kiln.db behind kiln's back — the tables that govern behaviour — are each named
/// by `kiln verify`; an approval or a constitution no human gave is refused when it is used.
#[test]
fn table_edits_are_named_by_verify_and_refused_at_use() {
    let h = home("tamper");
    let register = r#"(call :planner.register_capability
      {:source "(capability \"shout\" :input-schema :string :examples [{:input \"a\" :output \"A!\"}]
                  :implementation (fn [s] (str (string-upper s) \"!\")))"})"#;
    let p = plan(&h, "register.rtfs", register);
    let o = kiln(&h, &["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    // A held agent plan: approval request 2.
    let held = plan(&h, "held.rtfs", &executing("(+ 1 2)"));
    let o = kiln(&h, &["run", held.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(out(&o).contains(":approval 2"), "{}", out(&o));
    assert_eq!(kiln(&h, &["verify"]).status.code(), Some(0));
    let db = || rusqlite::Connection::open(h.join("kiln.db")).unwrap();
    let version: String = db()
        .query_row(
            "SELECT hash FROM versions WHERE id = 'generated/shout'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Each edit, what verify must say, and the undo that makes the home sound again.
    type Edit = (&'static str, String, &'static str, String);
    let edits: Vec<Edit> = vec![
        (
            "an active row for a version still pending",
            format!("INSERT INTO active (id, hash) VALUES ('generated/shout', '{version}')"),
            "no move on the chain made any version of generated/shout active",
            "DELETE FROM active WHERE id = 'generated/shout'".into(),
        ),
        (
            "a pending approval marked approved",
            "UPDATE approvals SET status = 'approved' WHERE n = 2".into(),
            "approval request 2 is approved in kiln.db, but the chain says pending",
            "UPDATE approvals SET status = 'pending' WHERE n = 2".into(),
        ),
        (
            "an approval nobody filed",
            format!(
                "INSERT INTO approvals (action, subject, hash, risk, reasons, requester, expires_at, status, created_at, chain) VALUES ('activate', 'generated/shout', '{version}', 'low', '', 'human', 9999999999, 'approved', 0, 0)"
            ),
            "approval request 3 has no approval.request entry",
            "DELETE FROM approvals WHERE n = 3".into(),
        ),
        (
            "a version row nobody registered",
            format!(
                "INSERT INTO versions (hash, id, seq, kind, module, parent, created_at) VALUES ('{}', 'generated/shout', 9, 'rtfs', '{version}', NULL, 0)",
                "ab".repeat(32)
            ),
            "has no cap.register entry",
            format!("DELETE FROM versions WHERE hash = '{}'", "ab".repeat(32)),
        ),
        (
            "a plan run's outcome rewritten",
            "UPDATE plans SET outcome = 'ok' WHERE outcome = 'blocked'".into(),
            "disagrees with its plan.end entry",
            "UPDATE plans SET outcome = 'blocked' WHERE outcome = 'ok'".into(),
        ),
        (
            "a move removed",
            "DELETE FROM moves WHERE n = (SELECT MAX(n) FROM moves)".into(),
            "the moves table",
            String::new(),
        ),
    ];
    let mut restore_moves = Vec::new();
    for (what, sql, says, undo) in &edits {
        if what.starts_with("a move") {
            let c = db();
            let row: (i64, String, String, Option<String>, Option<i64>, String, i64) = c
                .query_row(
                    "SELECT n, id, hash, prior, back, kind, chain FROM moves ORDER BY n DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                )
                .unwrap();
            restore_moves.push(row);
        }
        db().execute_batch(sql).unwrap();
        let o = kiln(&h, &["verify"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", out(&o));
        assert!(out(&o).contains(says), "{what}: {}", out(&o));
        if what.starts_with("a pending approval") {
            // The held plan does not run on an approval no human gave.
            let o = kiln(&h, &["run", held.to_str().unwrap()]);
            assert_ne!(o.status.code(), Some(0), "{what}: {}", out(&o));
            assert!(
                err(&o).contains("no human's approval of it is on the chain"),
                "{what}: {}",
                err(&o)
            );
        }
        if undo.is_empty() {
            let (n, id, hash, prior, back, kind, chain) = restore_moves.pop().unwrap();
            db().execute(
                "INSERT INTO moves (n, id, hash, prior, back, kind, chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![n, id, hash, prior, back, kind, chain],
            )
            .unwrap();
        } else {
            db().execute_batch(undo).unwrap();
        }
        assert_eq!(
            kiln(&h, &["verify"]).status.code(),
            Some(0),
            "{what}: undone"
        );
    }
    // A constitution row nobody approved, naming a trust-4 constitution: kiln refuses to
    // start under it, and verify names it.
    let full =
        kiln_kernel::governance::constitution::DEFAULT.replace(":trust-level 0", ":trust-level 4");
    let f = h.parent().unwrap().join("full.rtfs");
    std::fs::write(&f, &full).unwrap();
    let o = kiln(&h, &["constitution", "propose", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let hash: String = db()
        .query_row(
            "SELECT hash FROM approvals WHERE action = 'constitution'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db().execute(
        "INSERT INTO constitutions (hash, approval, chain) VALUES (?1, 99, 1)",
        [&hash],
    )
    .unwrap();
    let o = kiln(&h, &["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains("not the one the chain made active"),
        "{}",
        err(&o)
    );
    let o = kiln(&h, &["constitution", "show"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let o = kiln(&h, &["verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("no matching constitution.activate entry"),
        "{}",
        out(&o)
    );
}
