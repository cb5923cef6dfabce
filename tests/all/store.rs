//! The kiln home: objects verified on every read; the registry's versions, activation,
//! rollback, pinning, diff and gc; the causal chain and its proofs; tampering, crashes and
//! concurrent processes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kiln_store::chain::Head;
use kiln_store::{
    Activate, Append, Authority, Authorized, Caller, Collect, Hash, Home, ObjectStore, Record,
    Register, RegisterNative, Registry, StoreError,
};
use rtfs::Value;

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn objects_are_named_by_content_and_verified_on_read() {
    let dir = temp("objects");
    let home = Home::open(&dir).unwrap();
    let h = home.objects.put(b"hello").unwrap();
    assert_eq!(h, Hash::of(b"hello"));
    assert_eq!(home.objects.put(b"hello").unwrap(), h, "idempotent");
    assert_eq!(home.objects.get(&h).unwrap(), b"hello");
    // Tamper with the file: the object is refused, named, never used.
    let hex = h.hex();
    let path = dir
        .canonicalize()
        .unwrap()
        .join("objects")
        .join(&hex[..2])
        .join(&hex[2..]);
    std::fs::write(&path, b"hellp").unwrap();
    match home.objects.get(&h) {
        Err(StoreError::Corrupt(x)) => assert_eq!(x, h),
        other => panic!("tampered object: {other:?}"),
    }
    assert!(StoreError::Corrupt(h).to_string().contains(&hex));
    // Putting the right bytes again repairs it.
    home.objects.put(b"hello").unwrap();
    assert_eq!(home.objects.get(&h).unwrap(), b"hello");
    assert!(matches!(
        home.objects.get(&Hash::of(b"absent")),
        Err(StoreError::Missing(_))
    ));
    std::fs::remove_dir_all(&dir).ok();
}

fn manifest(id: &str, module: &Hash, extra: &str) -> Value {
    let src = format!(
        r#"{{:id "{id}" :kind :wasm :module "{}" {extra}}}"#,
        module.hex()
    );
    rtfs::reader::read_expr(&src, &Default::default())
        .unwrap()
        .to_value()
}

/// What the governance kernel would hand the store for a human's command.
fn rg(a: &Authority) -> Authorized<Register> {
    a.authorize(Caller::human(), Register)
}
fn mv(a: &Authority) -> Authorized<Activate> {
    a.authorize(Caller::human(), Activate)
}
fn app(a: &Authority) -> Authorized<Append> {
    a.authorize(Caller::human(), Append)
}
fn col(a: &Authority) -> Authorized<Collect> {
    a.authorize(Caller::human(), Collect)
}

/// The registry driven by a table of steps. Versions are named `id#n` (the n-th distinct
/// version registered for the id); each step says what must hold after it.
#[test]
fn registry_operations_table() {
    let dir = temp("table");
    let (home, auth) = Home::open_governed(&dir).unwrap();
    let reg = &home.registry;
    let mut named: BTreeMap<String, Hash> = BTreeMap::new();
    // (step, expected): `active ID VERSION|none`, `err KIND`, `same VERSION`.
    let table: &[(&str, &str)] = &[
        ("register a 1", "active a a#1"),
        ("register a 2", "active a a#2"),
        ("register a 3 inactive", "active a a#2"),
        ("rollback a", "active a a#1"),
        ("rollback a", "err not-found"), // a#1 was the first activation: nothing earlier
        ("activate a a#3", "active a a#3"),
        ("rollback a", "active a a#1"), // back to what was active before a#3
        ("rollback-to a a#2", "active a a#2"),
        ("rollback-to a a#2", "active a a#2"), // already active: recorded, nothing moves
        ("rollback a", "active a a#1"),
        ("register a 2", "same a#2"), // same content, same version, activated again
        ("check a", "active a a#2"),
        ("register b 1 inactive", "active b none"),
        ("rollback b", "err not-found"),
        ("activate b b#1", "active b b#1"),
        ("pin a a#1", "active a a#2"),
        ("pin a ffff", "err not-found"),
        ("pin a zz", "err invalid"),
        ("pin nobody a#1", "err not-found"),
        ("rollback-to a 00", "err invalid"),
        ("register Bad!id 1", "err invalid"),
        ("register planner.decompose 1", "err invalid"), // native ids are immutable
        ("rollback planner.decompose", "err invalid"),
        ("register-missing c", "err missing"),
        ("gc", "active a a#2"),
        ("check b", "active b b#1"),
    ];
    for (step, expect) in table {
        let w: Vec<&str> = step.split(' ').collect();
        let result: Result<Option<Hash>, StoreError> = match w[0] {
            "register" => {
                let n: usize = w[2].parse().unwrap();
                let m = home
                    .objects
                    .put(format!("module {} {n}", w[1]).as_bytes())
                    .unwrap();
                let activate = w.get(3) != Some(&"inactive");
                reg.register(&rg(&auth), &manifest(w[1], &m, ""), activate)
                    .map(|r| {
                        let key = format!("{}#{n}", w[1]);
                        named.entry(key).or_insert(r.hash);
                        Some(r.hash)
                    })
            }
            "register-missing" => reg
                .register(&rg(&auth), &manifest(w[1], &Hash::of(b"absent"), ""), true)
                .map(|r| Some(r.hash)),
            "activate" => reg
                .activate(&mv(&auth), w[1], &named[w[2]].hex()[..10])
                .map(|_| None),
            "rollback" => reg.rollback(&mv(&auth), w[1], None).map(|_| None),
            "rollback-to" => {
                let to = named
                    .get(w[2])
                    .map_or(w[2].to_string(), |h| h.hex()[..8].to_string());
                reg.rollback(&mv(&auth), w[1], Some(&to)).map(|_| None)
            }
            "pin" => {
                let p = named
                    .get(w[2])
                    .map_or(w[2].to_string(), |h| h.hex()[..8].to_string());
                reg.resolve(&format!("{}@{p}", w[1])).map(|v| {
                    assert_eq!(Some(&v.row.hash), named.get(w[2]), "{step}");
                    None
                })
            }
            "gc" => home.gc(&col(&auth), Duration::ZERO).map(|r| {
                // Referenced by nothing: the modules of the refused `Bad!id` and
                // `planner.decompose` registers and the manifest of the refused register
                // of a missing module.
                assert_eq!(r.removed, 3, "{r:?}");
                None
            }),
            "check" => Ok(None),
            other => panic!("unknown step {other}"),
        };
        let e: Vec<&str> = expect.split(' ').collect();
        match (e[0], &result) {
            ("err", Err(err)) => {
                let kind = match err {
                    StoreError::NotFound(_) => "not-found",
                    StoreError::Invalid(_) => "invalid",
                    StoreError::Missing(_) => "missing",
                    StoreError::Ambiguous(_) => "ambiguous",
                    _ => "other",
                };
                assert_eq!(kind, e[1], "{step}: {err}");
            }
            ("same", Ok(Some(h))) => assert_eq!(Some(h), named.get(e[1]), "{step}"),
            ("active", Ok(_)) => {
                let active = reg.history(e[1]).unwrap().into_iter().find(|r| r.active);
                assert_eq!(
                    active.map(|r| r.hash),
                    named.get(e[2]).copied(),
                    "{step}: expected {expect}"
                );
            }
            _ => panic!("{step}: expected {expect}, got {result:?}"),
        }
    }
    // History is ordered and append-only; every move is on the chain.
    let hist = reg.history("a").unwrap();
    assert_eq!(
        hist.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(hist[1].parent, Some(named["a#1"]));
    let moves = reg.moves("a").unwrap();
    assert_eq!(moves.len(), 8, "{moves:#?}");
    for m in &moves {
        let e = home
            .entries(&kiln_store::chain::Filter {
                after: Some(m.chain - 1),
                limit: Some(1),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(e[0].record.kind, format!("cap.{}", m.kind));
    }
    let report = home.verify(None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // The state survives reopening.
    drop(home);
    let home = Home::open(&dir).unwrap();
    assert_eq!(home.registry.resolve("a").unwrap().row.hash, named["a#2"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn native_versions_enter_only_through_register_native_and_never_move() {
    let dir = temp("natives");
    let (home, auth) = Home::open_governed(&dir).unwrap();
    let reg = &home.registry;
    let nat = |a: &Authority| a.authorize(Caller::human(), RegisterNative);
    let imp = home
        .objects
        .put(b"kiln native capability planner.x")
        .unwrap();
    let native = |id: &str, extra: &str| {
        let src = format!(
            r#"{{:id "{id}" :kind :native :module "{}" {extra}}}"#,
            imp.hex()
        );
        rtfs::reader::read_expr(&src, &Default::default())
            .unwrap()
            .to_value()
    };
    // A native version registers and is active at once; the same content is the same version.
    let v1 = reg
        .register_native(&nat(&auth), &native("planner.x", ":description \"one\""))
        .unwrap();
    assert!(v1.new && v1.activated);
    let again = reg
        .register_native(&nat(&auth), &native("planner.x", ":description \"one\""))
        .unwrap();
    assert_eq!(
        (again.hash, again.new, again.activated),
        (v1.hash, false, false)
    );
    // A changed native (a new kiln) is a new version whose parent is the old one.
    let v2 = reg
        .register_native(&nat(&auth), &native("planner.x", ":description \"two\""))
        .unwrap();
    assert!(v2.new && v2.activated);
    let history = reg.history("planner.x").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].parent, Some(v1.hash));
    assert_eq!(history[1].kind, "native");
    assert_eq!(reg.resolve("planner.x").unwrap().row.hash, v2.hash);
    // Nothing moves it: not activate, not rollback, not a plain register of any kind.
    let prefix = v1.hash.hex()[..8].to_string();
    assert!(matches!(
        reg.activate(&mv(&auth), "planner.x", &prefix),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        reg.rollback(&mv(&auth), "planner.x", None),
        Err(StoreError::Invalid(_))
    ));
    let m = home.objects.put(b"\0asm\x01\0\0\0").unwrap();
    assert!(matches!(
        reg.register(&rg(&auth), &manifest("planner.x", &m, ""), true),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        reg.register(
            &rg(&auth),
            &native("planner.x", ":description \"three\""),
            true
        ),
        Err(StoreError::Invalid(_))
    ));
    // register_native takes only :native manifests, only in a native namespace.
    assert!(matches!(
        reg.register_native(&nat(&auth), &native("text.x", "")),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        reg.register_native(&nat(&auth), &manifest("planner.y", &m, "")),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(reg.resolve("planner.x").unwrap().row.hash, v2.hash);
    assert!(home.verify(None).unwrap().problems.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn diff_names_fields_effects_grants_module_and_program_lines() {
    let dir = temp("diff");
    let (home, auth) = Home::open_governed(&dir).unwrap();
    let engine = home.objects.put(b"the engine module").unwrap();
    let p1 = home
        .objects
        .put(b"(capability \"x\"\n  :implementation\n  (fn [s] (count s)))\n")
        .unwrap();
    let p2 = home
        .objects
        .put(b"(capability \"x\"\n  :implementation\n  (fn [s] (inc (count s))))\n")
        .unwrap();
    let rtfs_manifest = |p: &Hash, extra: &str| {
        let src = format!(
            r#"{{:id "generated/x" :kind :rtfs :module "{e}" :engine "{e}" :program "{}" {extra}}}"#,
            p.hex(),
            e = engine.hex()
        );
        rtfs::reader::read_expr(&src, &Default::default())
            .unwrap()
            .to_value()
    };
    let reg = &home.registry;
    let a = reg
        .register(
            &rg(&auth),
            &rtfs_manifest(
                &p1,
                r#":effects [:log] :description "counts" :grants {:dirs [] :env ["HOME"]}"#,
            ),
            true,
        )
        .unwrap();
    let b = reg
        .register(&rg(&auth),
            &rtfs_manifest(
                &p2,
                r#":effects [:log :fs/read] :description "counts, plus one" :grants {:dirs [{:path "/srv" :as "/data"}] :env []}"#,
            ),
            true,
        )
        .unwrap();
    let va = reg
        .resolve(&format!("generated/x@{}", &a.hash.hex()[..8]))
        .unwrap();
    let vb = reg.resolve("generated/x").unwrap();
    assert_eq!(vb.row.hash, b.hash);
    let lines = kiln_store::diff::diff(home.objects.as_ref(), &va, &vb).unwrap();
    let text = lines.join("\n");
    for want in [
        "effect added:   :fs/read",
        "grant dir added:   {:as \"/data\" :path \"/srv\"}",
        "grant env removed: \"HOME\"",
        ":description: \"counts\" → \"counts, plus one\"",
        "-  (fn [s] (count s)))",
        "+  (fn [s] (inc (count s))))",
        "@@",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("module:"), "same module: {text}");
    // A version against itself: only the headers.
    assert_eq!(
        kiln_store::diff::diff(home.objects.as_ref(), &vb, &vb)
            .unwrap()
            .len(),
        2
    );
    std::fs::remove_dir_all(&dir).ok();
}

mod model {
    //! Any sequence of register, activate and rollback keeps every history append-only and
    //! the active pointer where a simple model (a stack of activations) says.
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    pub enum Op {
        Register {
            id: usize,
            content: u8,
            activate: bool,
        },
        Activate {
            id: usize,
            k: usize,
        },
        Rollback {
            id: usize,
        },
        RollbackTo {
            id: usize,
            k: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..2usize, 0..4u8, any::<bool>()).prop_map(|(id, content, activate)| Op::Register {
                id,
                content,
                activate
            }),
            (0..2usize, 0..5usize).prop_map(|(id, k)| Op::Activate { id, k }),
            (0..2usize).prop_map(|id| Op::Rollback { id }),
            (0..2usize, 0..5usize).prop_map(|(id, k)| Op::RollbackTo { id, k }),
        ]
    }

    #[derive(Default, Clone)]
    struct Model {
        /// Distinct contents, in registration order.
        versions: Vec<u8>,
        /// Activations; the top is active.
        stack: Vec<usize>,
    }

    impl Model {
        fn push(&mut self, k: usize) {
            if self.stack.last() != Some(&k) {
                self.stack.push(k);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn registry_matches_the_model(ops in proptest::collection::vec(op(), 1..24)) {
            let dir = temp(&format!("model-{}", rand_suffix()));
            let (home, auth) = Home::open_governed(&dir).unwrap();
            let reg = &home.registry;
            let ids = ["m.one", "m.two"];
            let mut models = [Model::default(), Model::default()];
            let mut hashes: Vec<Vec<Hash>> = vec![vec![], vec![]];
            for op in &ops {
                let r = match *op {
                    Op::Register { id, content, activate } => {
                        let module = home.objects.put(&[content]).unwrap();
                        let got = reg.register(&rg(&auth), &manifest(ids[id], &module, ""), activate).unwrap();
                        let m = &mut models[id];
                        let k = match m.versions.iter().position(|c| *c == content) {
                            Some(k) => { prop_assert!(!got.new); k }
                            None => {
                                prop_assert!(got.new);
                                m.versions.push(content);
                                hashes[id].push(got.hash);
                                m.versions.len() - 1
                            }
                        };
                        prop_assert_eq!(got.hash, hashes[id][k]);
                        if activate { m.push(k); }
                        Ok(())
                    }
                    Op::Activate { id, k } | Op::RollbackTo { id, k } => {
                        let m = &mut models[id];
                        if k >= m.versions.len() {
                            // Not a version of this id: refused.
                            let p = Hash::of(&[200, k as u8]).hex();
                            let e = match op {
                                Op::Activate { .. } => reg.activate(&mv(&auth), ids[id], &p[..12]).map(|_| ()),
                                _ => reg.rollback(&mv(&auth), ids[id], Some(&p[..12])).map(|_| ()),
                            };
                            prop_assert!(e.is_err());
                            Ok(())
                        } else {
                            let p = hashes[id][k].hex();
                            match op {
                                Op::Activate { .. } => reg.activate(&mv(&auth), ids[id], &p[..12]).map(|_| ()),
                                _ => reg.rollback(&mv(&auth), ids[id], Some(&p[..12])).map(|_| ()),
                            }?;
                            m.push(k);
                            Ok(())
                        }
                    }
                    Op::Rollback { id } => {
                        let m = &mut models[id];
                        let r = reg.rollback(&mv(&auth), ids[id], None);
                        if m.stack.len() < 2 {
                            prop_assert!(r.is_err(), "model: nothing to roll back to");
                        } else {
                            r?;
                            m.stack.pop();
                        }
                        Ok(())
                    }
                };
                let _: Result<(), StoreError> = r;
                for id in 0..2 {
                    let hist = reg.history(ids[id]).unwrap();
                    // Append-only: exactly the versions registered so far, in order.
                    prop_assert_eq!(hist.iter().map(|r| r.hash).collect::<Vec<_>>(), hashes[id].clone());
                    let active = hist.iter().find(|r| r.active).map(|r| r.hash);
                    prop_assert_eq!(active, models[id].stack.last().map(|k| hashes[id][*k]));
                }
            }
            let report = home.verify(None).unwrap();
            prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
            drop(home);
            std::fs::remove_dir_all(&dir).ok();
        }
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }
}

/// A small home with a few versions, moves, entries and a gc.
fn small_home(dir: &Path) -> Head {
    let (home, auth) = Home::open_governed(dir).unwrap();
    let reg = &home.registry;
    for (id, n) in [("t.a", 1), ("t.a", 2), ("t.b", 1), ("t.a", 3)] {
        let m = home
            .objects
            .put(format!("module {id} {n}").as_bytes())
            .unwrap();
        reg.register(&rg(&auth), &manifest(id, &m, ""), true)
            .unwrap();
    }
    reg.rollback(&mv(&auth), "t.a", None).unwrap();
    let input = home.record_value(&Value::str("an input")).unwrap();
    home.append(
        &app(&auth),
        vec![Record {
            input: Some(input),
            ..Record::ok("test.call", Value::Nil)
        }],
    )
    .unwrap();
    home.gc(&col(&auth), Duration::ZERO).unwrap();
    home.head().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn problems(dir: &Path, head: Option<&Head>) -> Vec<String> {
    Home::open(dir).unwrap().verify(head).unwrap().problems
}

#[test]
fn tampering_with_any_object_or_chain_row_is_named_by_verify() {
    let base = temp("tamper");
    let clean = base.join("clean");
    let head = small_home(&clean);
    assert!(problems(&clean, Some(&head)).is_empty());
    let work = base.join("work");
    // Every object: one flipped byte is named.
    let objects: Vec<Hash> = Home::open(&clean).unwrap().objects.list().unwrap().objects;
    assert!(objects.len() >= 8, "{objects:?}");
    for h in &objects {
        copy_dir(&clean, &work);
        let hex = h.hex();
        let file = work.join("objects").join(&hex[..2]).join(&hex[2..]);
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();
        let p = problems(&work, None);
        assert!(p.iter().any(|l| l.contains(&hex)), "object {hex}: {p:?}");
    }
    // Every chain row: editing its content, its hash or its indexed kind is named.
    let rows = head.size;
    assert!(rows >= 10, "{rows}");
    for seq in 1..=rows {
        for edit in [
            "UPDATE chain SET body = CAST(REPLACE(CAST(body AS TEXT), 'ok', 'no') AS BLOB) WHERE seq = ?1",
            // (A hash that already starts with 00 gets ff: the edit always changes it.)
            "UPDATE chain SET hash = (CASE WHEN substr(hash, 1, 2) = '00' THEN 'ff' ELSE '00' END) || substr(hash, 3) WHERE seq = ?1",
            "UPDATE chain SET kind = 'forged' WHERE seq = ?1",
        ] {
            copy_dir(&clean, &work);
            let db = rusqlite::Connection::open(work.join("kiln.db")).unwrap();
            assert_eq!(db.execute(edit, [seq as i64]).unwrap(), 1);
            drop(db);
            let p = problems(&work, None);
            assert!(
                p.iter().any(|l| l.contains(&format!("chain entry {seq}:"))),
                "seq {seq}, {edit}: {p:?}"
            );
        }
    }
    // Deleting the last rows passes the hash links but not the saved head.
    for k in 1..=3u64 {
        copy_dir(&clean, &work);
        let db = rusqlite::Connection::open(work.join("kiln.db")).unwrap();
        db.execute("DELETE FROM chain WHERE seq > ?1", [(rows - k) as i64])
            .unwrap();
        drop(db);
        // The hash links alone cannot see it (rows that the removed entries explained may
        // be named by the replay of the shortened chain, but no entry is).
        assert!(
            !problems(&work, None)
                .iter()
                .any(|l| l.contains("chain entry")),
            "links alone cannot see it"
        );
        let p = problems(&work, Some(&head));
        assert!(
            p.iter()
                .any(|l| l.contains("were removed") && l.contains(&format!("{}", rows - k + 1))),
            "{p:?}"
        );
    }
    // Rewriting the last entry and its hash consistently is caught by the saved head too.
    copy_dir(&clean, &work);
    {
        let (home, _auth) = Home::open_governed(&work).unwrap();
        let last = home
            .entries(&kiln_store::chain::Filter {
                after: Some(rows - 1),
                ..Default::default()
            })
            .unwrap()
            .remove(0);
        let mut forged = last.clone();
        forged.record.outcome = "forged".into();
        let body = forged.encode().unwrap();
        let db = rusqlite::Connection::open(work.join("kiln.db")).unwrap();
        db.execute(
            "UPDATE chain SET body = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![
                body,
                kiln_store::merkle::leaf_hash(&body).hex(),
                rows as i64
            ],
        )
        .unwrap();
    }
    assert!(problems(&work, None).is_empty());
    let p = problems(&work, Some(&head));
    assert!(p.iter().any(|l| l.contains("rewritten")), "{p:?}");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn proofs_check_and_verify_through_the_cli() {
    let base = temp("proofs");
    let home_dir = base.join("home");
    let old = small_home(&home_dir);
    let kiln = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
            .args(args)
            .output()
            .unwrap()
    };
    let h = home_dir.to_str().unwrap();
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let head = text(&kiln(&["--home", h, "chain", "head"]))
        .trim()
        .to_string();
    assert_eq!(head, old.to_string());
    // More entries; the new head extends the old one.
    let m = {
        let (home, auth) = Home::open_governed(&home_dir).unwrap();
        let m = home.objects.put(b"module t.c").unwrap();
        home.registry
            .register(&rg(&auth), &manifest("t.c", &m, ""), true)
            .unwrap();
        m
    };
    let _ = m;
    let o = kiln(&["--home", h, "chain", "prove", "--since", &head]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let proof = base.join("consistency.json");
    std::fs::write(&proof, text(&o)).unwrap();
    let o = kiln(&[
        "chain",
        "check-proof",
        proof.to_str().unwrap(),
        "--head",
        &head,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text(&o).contains("extends"));
    // Inclusion of entry 3 in the current tree.
    let now = text(&kiln(&["--home", h, "chain", "head"]))
        .trim()
        .to_string();
    let o = kiln(&["--home", h, "chain", "prove", "3"]);
    let incl = base.join("inclusion.json");
    std::fs::write(&incl, text(&o)).unwrap();
    let o = kiln(&[
        "chain",
        "check-proof",
        incl.to_str().unwrap(),
        "--head",
        &now,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A forged proof fails: one hash of its path changed.
    let forged = std::fs::read_to_string(&incl).unwrap();
    let v: serde_json::Value = serde_json::from_str(&forged).unwrap();
    let first = v["path"][0].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if first.starts_with('0') { "1" } else { "0" },
        &first[1..]
    );
    std::fs::write(&incl, forged.replace(&first, &flipped)).unwrap();
    let o = kiln(&["chain", "check-proof", incl.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not lead to root"));
    // `kiln verify --head` and `kiln chain verify --head` pass now, and fail after the tail is
    // cut, naming the missing entries.
    assert_eq!(
        kiln(&["--home", h, "verify", "--head", &now]).status.code(),
        Some(0)
    );
    let db = rusqlite::Connection::open(home_dir.join("kiln.db")).unwrap();
    db.execute(
        "DELETE FROM chain WHERE seq = (SELECT MAX(seq) FROM chain)",
        [],
    )
    .unwrap();
    drop(db);
    let o = kiln(&["--home", h, "chain", "verify", "--head", &now]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("were removed"));
    let o = kiln(&["--home", h, "verify", "--head", &now]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("BAD"), "{}", text(&o));
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_busy_database_waits_only_until_the_deadline() {
    let dir = temp("busy");
    let (home, auth) = Home::open_governed(&dir).unwrap();
    let m = home.objects.put(b"module busy").unwrap();
    // Another process holds the write lock.
    let other = rusqlite::Connection::open(dir.join("kiln.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let caller = Caller {
        context: kiln_store::Context::human(),
        deadline: Some(Instant::now() + Duration::from_millis(300)),
    };
    let t = Instant::now();
    match home.registry.register(
        &auth.authorize(caller.clone(), Register),
        &manifest("busy.x", &m, ""),
        true,
    ) {
        Err(StoreError::Busy { waited_ms }) => assert!(waited_ms >= 250, "{waited_ms}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    other.execute_batch("COMMIT").unwrap();
    // Once free, the same call goes through.
    let caller = Caller {
        deadline: Some(Instant::now() + Duration::from_secs(5)),
        ..caller
    };
    home.registry
        .register(
            &auth.authorize(caller.clone(), Register),
            &manifest("busy.x", &m, ""),
            true,
        )
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gc_never_races_a_concurrent_register() {
    let dir = temp("gc-race");
    drop(Home::open(&dir).unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let (home, auth) = Home::open_governed(&dir).unwrap();
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                home.gc(&col(&auth), Duration::ZERO).unwrap();
                runs += 1;
                // Back to back, gc would hold the write lock nearly all the time and SQLite's
                // polling busy handler would starve the writer.
                std::thread::sleep(Duration::from_millis(10));
            }
            runs
        })
    };
    let (home, auth) = Home::open_governed(&dir).unwrap();
    let (mut ok, mut missing) = (Vec::new(), 0);
    for i in 0..150 {
        let m = home
            .objects
            .put(format!("module race {i}").as_bytes())
            .unwrap();
        // Widen the window between writing the object and referencing it.
        std::thread::sleep(Duration::from_micros(500 * (i % 7)));
        match home
            .registry
            .register(&rg(&auth), &manifest("race.x", &m, ""), true)
        {
            Ok(r) => ok.push((r.hash, m)),
            // gc removed the module between its write and the register: refused cleanly.
            Err(StoreError::Missing(h)) => {
                assert_eq!(h, m);
                missing += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = gc.join().unwrap();
    eprintln!(
        "gc race: {runs} gc runs, {} registered, {missing} refused",
        ok.len()
    );
    assert!(runs > 0);
    assert!(!ok.is_empty(), "{missing} refused");
    for (v, m) in &ok {
        assert!(home.objects.get(v).is_ok() && home.objects.get(m).is_ok());
    }
    let report = home.verify(None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    std::fs::remove_dir_all(&dir).ok();
}

/// Sets a file's modification time `ago` into the past: gc judges an object's age by it.
pub(crate) fn backdate(path: &Path, ago: Duration) {
    let when = std::time::SystemTime::now() - ago;
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("backdating {}: {e}", path.display()));
}

/// Every file under the home's `objects/`, relative to it (objects as `ab/cdef…`, and
/// litter).
pub(crate) fn object_files(home: &Path) -> std::collections::BTreeSet<String> {
    let root = home.join("objects");
    let mut out = std::collections::BTreeSet::new();
    for shard in std::fs::read_dir(&root).unwrap() {
        let shard = shard.unwrap();
        if !shard.file_type().unwrap().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(shard.path()).unwrap() {
            let f = f.unwrap();
            out.insert(format!(
                "{}/{}",
                shard.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    out
}

/// Backdates every file under the home's `objects/` by `ago`.
pub(crate) fn backdate_objects(home: &Path, ago: Duration) {
    for f in object_files(home) {
        backdate(&home.join("objects").join(f), ago);
    }
}

/// Stores `bytes` as an object of the home at `home` (as a writer would before naming it).
pub(crate) fn put_object(home: &Path, bytes: &[u8]) -> Hash {
    Home::open(home).unwrap().objects.put(bytes).unwrap()
}

/// The `objects/` path of an object, relative to it.
pub(crate) fn object_file(h: &Hash) -> String {
    let hex = h.hex();
    format!("{}/{}", &hex[..2], &hex[2..])
}

/// gc removes exactly the objects that nothing names and that are older than its grace
/// period, and the temporary files older than both the grace period and
/// `TMP_FILE_MIN_AGE`. Each kind of reference keeps its object on its own: a version's
/// manifest, the manifest's module, engine and program, a chain entry's input and output,
/// an approval request's subject, a constitution, a plan's source. The objects' ages are
/// set on their files, so gc really chooses.
#[test]
fn gc_removes_exactly_the_unreferenced_objects_older_than_its_grace() {
    use kiln_store::{Decide, Request, approvals, plans};
    let dir = temp("gc-keep");
    let (home, auth) = Home::open_governed(&dir).unwrap();
    let root = home.root().to_path_buf();
    let put = |s: &str| home.objects.put(s.as_bytes()).unwrap();
    let read = |src: &str| {
        rtfs::reader::read_expr(src, &Default::default())
            .unwrap()
            .to_value()
    };
    // What each reference keeps, by name.
    let mut keeps: BTreeMap<&str, Hash> = BTreeMap::new();
    let module = put("gc wasm module");
    keeps.insert("module", module);
    let r = home
        .registry
        .register(&rg(&auth), &manifest("gc.wasm", &module, ""), true)
        .unwrap();
    keeps.insert("wasm manifest", r.hash);
    let (engine, program, rtfs_module) = (put("gc engine"), put("gc program"), put("gc rtfs"));
    let r = home
        .registry
        .register(
            &rg(&auth),
            &read(&format!(
                r#"{{:id "gc.rtfs" :kind :rtfs :module "{}" :engine "{}" :program "{}"}}"#,
                rtfs_module.hex(),
                engine.hex(),
                program.hex()
            )),
            true,
        )
        .unwrap();
    keeps.insert("rtfs manifest", r.hash);
    keeps.insert("rtfs module", rtfs_module);
    keeps.insert("engine", engine);
    keeps.insert("program", program);
    let (input, output) = (put("gc input"), put("gc output"));
    home.append(
        &app(&auth),
        vec![Record {
            input: Some(input),
            output: Some(output),
            ..Record::ok("test.call", Value::Nil)
        }],
    )
    .unwrap();
    keeps.insert("chain input", input);
    keeps.insert("chain output", output);
    let request = |hash: Hash| approvals::NewRequest {
        action: "activate".into(),
        subject: "gc.x".into(),
        hash,
        risk: "low".into(),
        reasons: vec![],
        requester: "agent test".into(),
        expires_at: i64::MAX,
    };
    let file = |hash: Hash| {
        approvals::file(
            &home.db,
            &auth.authorize(Caller::human(), Request),
            &request(hash),
        )
        .unwrap()
    };
    // A pending request: only the approvals table names its subject.
    let pending = put("gc pending subject");
    file(pending);
    keeps.insert("approval subject", pending);
    // A constitution activated in the approval of another request, so that only the
    // constitutions table names it (the store allows it; the kernel names the same object
    // in both, which would hide a missing table).
    let (approved, constitution) = (put("gc approved subject"), put("{:trust-level 1}"));
    let n = file(approved);
    approvals::decide(
        &home.db,
        &auth.authorize(Caller::human(), Decide),
        n,
        true,
        None,
        |tx, _| approvals::activate_constitution_in(tx, &Caller::human(), constitution, n),
    )
    .unwrap();
    keeps.insert("approved subject", approved);
    keeps.insert("constitution", constitution);
    let source = put("(+ 1 2)");
    plans::start(
        &home.db,
        &app(&auth),
        Record::ok("plan.start", Value::Nil),
        source,
        "gc.rtfs",
        None,
    )
    .unwrap();
    keeps.insert("plan source", source);
    // Unreferenced objects: old, younger than the grace period, and old but written again.
    let (old, young, rewritten) = (
        put("gc orphan old"),
        put("gc orphan young"),
        put("gc again"),
    );
    // Temporary files of interrupted writes, and a stray file that is not one.
    let shard = root.join("objects").join("00");
    std::fs::create_dir_all(&shard).unwrap();
    for f in [".tmp-1-old", ".tmp-2-mid", ".tmp-3-new", "stray"] {
        std::fs::write(shard.join(f), b"partial").unwrap();
    }
    let hour = Duration::from_secs(3600);
    backdate_objects(&root, 48 * hour);
    let age = |rel: &str, ago: Duration| backdate(&root.join("objects").join(rel), ago);
    age(&object_file(&old), 2 * hour);
    age(&object_file(&young), hour / 2);
    age("00/.tmp-1-old", 2 * hour);
    age("00/.tmp-2-mid", hour / 2);
    age("00/.tmp-3-new", Duration::from_secs(300));
    // Written again: its grace period starts over.
    assert_eq!(put("gc again"), rewritten);
    let before = object_files(&root);
    assert_eq!(
        home.objects.list().unwrap().objects.len(),
        15,
        "{before:#?}"
    );

    // A grace of an hour: the old orphan and the two-hour-old temporary file go.
    let r = home.gc(&col(&auth), hour).unwrap();
    let gone = |from: &std::collections::BTreeSet<String>| -> Vec<String> {
        for (what, h) in &keeps {
            assert!(home.objects.has(h), "gc removed the {what}");
        }
        from.difference(&object_files(&root)).cloned().collect()
    };
    assert_eq!(
        gone(&before),
        vec!["00/.tmp-1-old".to_string(), object_file(&old)],
        "{r:?}"
    );
    assert_eq!(
        (r.removed, r.bytes, r.kept, r.litter),
        (1, "gc orphan old".len() as u64, 14, 1),
        "{r:?}"
    );
    let entry = home.entries(&Default::default()).unwrap().pop().unwrap();
    assert_eq!((entry.seq, entry.record.kind.as_str()), (r.entry, "gc"));

    // No grace: every unreferenced object goes, and the half-hour-old temporary file, but
    // never a temporary file younger than TMP_FILE_MIN_AGE (a write may still be in
    // progress), nor a stray file that is not a temporary one, nor anything referenced.
    assert!(Duration::from_secs(300) < kiln_store::home::TMP_FILE_MIN_AGE);
    let between = object_files(&root);
    let r = home.gc(&col(&auth), Duration::ZERO).unwrap();
    let mut want_gone = vec![
        "00/.tmp-2-mid".to_string(),
        object_file(&young),
        object_file(&rewritten),
    ];
    want_gone.sort();
    assert_eq!(gone(&between), want_gone, "{r:?}");
    assert_eq!(
        (r.removed, r.bytes, r.kept, r.litter),
        (
            2,
            ("gc orphan young".len() + "gc again".len()) as u64,
            12,
            1
        ),
        "{r:?}"
    );
    let mut want: std::collections::BTreeSet<String> = keeps.values().map(object_file).collect();
    want.extend(["00/.tmp-3-new".to_string(), "00/stray".to_string()]);
    assert_eq!(object_files(&root), want);
    for (what, h) in &keeps {
        assert!(home.objects.get(h).is_ok(), "the {what} does not read back");
    }
    // The chain's replay names the one thing the kernel never does: an approval of one
    // object that made another constitution active.
    let report = home.verify(None).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains(&format!(
            "constitution {} was made active without approval request {n} approving it",
            constitution.hex()
        )),
        "{:?}",
        report.problems
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// One line a store child printed: that it is ready, a commit (what is now durable), or that
/// it is inside a write transaction.
#[derive(Clone, Debug, PartialEq)]
enum Line {
    Ready,
    /// A version registered and activated: the version and its register entry.
    Reg(Hash, u64),
    /// A rollback: its target and its entry.
    Rollback(Hash, u64),
    /// A plain entry.
    Tick(u64),
    /// Inside a register's transaction, for this module.
    InReg(Hash),
    /// Inside a tick's transaction, for the tick with this `:i`.
    InTick(i64),
}

fn parse_line(line: &str) -> Option<Line> {
    let w: Vec<&str> = line.split(' ').collect();
    match (w.as_slice(), w.len()) {
        (["ready"], _) => Some(Line::Ready),
        (["reg", h, e], _) => Some(Line::Reg(Hash::parse(h)?, e.parse().ok()?)),
        (["rb", h, e], _) => Some(Line::Rollback(Hash::parse(h)?, e.parse().ok()?)),
        (["tick", e], _) => Some(Line::Tick(e.parse().ok()?)),
        (["tx", "reg", m], _) => Some(Line::InReg(Hash::parse(m)?)),
        (["tx", "tick", i], _) => Some(Line::InTick(i.parse().ok()?)),
        _ => None,
    }
}

/// A commit a child reported, with the id it works on.
type Done = (String, Line);

fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get_key(key).and_then(Value::as_str)
}

/// Everything the children reported as committed is in the home, as reported, and the home
/// verifies: a register's entry names its id and version, the next entry and a move activate
/// that version, and the version's parent is the version that move replaced (the one active
/// when it committed); a rollback's entry and move name its target; every reported entry is
/// a distinct place in the chain.
fn check_committed(dir: &Path, done: &[Done]) {
    let home = Home::open(dir).unwrap();
    let report = home.verify(None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let entries: BTreeMap<u64, kiln_store::Entry> = home
        .entries(&Default::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e))
        .collect();
    let ids: std::collections::BTreeSet<&str> = done.iter().map(|(id, _)| id.as_str()).collect();
    let mut moves: BTreeMap<u64, kiln_store::Move> = BTreeMap::new();
    let mut versions: BTreeMap<Hash, kiln_store::VersionRow> = BTreeMap::new();
    for id in ids {
        moves.extend(
            home.registry
                .moves(id)
                .unwrap()
                .into_iter()
                .map(|m| (m.chain, m)),
        );
        versions.extend(
            home.registry
                .history(id)
                .unwrap()
                .into_iter()
                .map(|r| (r.hash, r)),
        );
    }
    let entry = |seq: u64, kind: &str, d: &Done| {
        let e = entries
            .get(&seq)
            .unwrap_or_else(|| panic!("entry {seq} is gone: {d:?}"));
        assert_eq!(e.record.kind, kind, "{d:?}");
        assert_eq!(
            text_of(&e.record.subject, "id"),
            Some(d.0.as_str()),
            "{d:?}"
        );
        e
    };
    let mut seqs = std::collections::HashSet::new();
    let mut distinct = |seq: u64, d: &Done| assert!(seqs.insert(seq), "entry {seq} twice: {d:?}");
    for d in done {
        match &d.1 {
            Line::Reg(h, e) => {
                distinct(*e, d);
                distinct(e + 1, d);
                let hex = h.hex();
                let reg = entry(*e, "cap.register", d);
                assert_eq!(
                    text_of(&reg.record.subject, "version"),
                    Some(hex.as_str()),
                    "{d:?}"
                );
                let act = entry(e + 1, "cap.activate", d);
                assert_eq!(
                    text_of(&act.record.subject, "to"),
                    Some(hex.as_str()),
                    "{d:?}"
                );
                let m = moves
                    .get(&(e + 1))
                    .unwrap_or_else(|| panic!("the activation's move is gone: {d:?}"));
                assert_eq!(
                    (m.id.as_str(), m.to, m.kind.as_str()),
                    (d.0.as_str(), *h, "activate")
                );
                let row = versions
                    .get(h)
                    .unwrap_or_else(|| panic!("registered {h} is gone"));
                assert_eq!(
                    row.parent, m.from,
                    "{d:?}: the parent is not the version active when the move committed"
                );
            }
            Line::Rollback(h, e) => {
                distinct(*e, d);
                let hex = h.hex();
                let rb = entry(*e, "cap.rollback", d);
                assert_eq!(
                    text_of(&rb.record.subject, "to"),
                    Some(hex.as_str()),
                    "{d:?}"
                );
                let m = moves
                    .get(e)
                    .unwrap_or_else(|| panic!("the rollback's move is gone: {d:?}"));
                assert_eq!(
                    (m.id.as_str(), m.to, m.kind.as_str()),
                    (d.0.as_str(), *h, "rollback")
                );
                assert!(versions.contains_key(h), "{d:?}");
            }
            Line::Tick(e) => {
                distinct(*e, d);
                let kind = entries.get(e).map(|x| x.record.kind.as_str());
                assert_eq!(kind, Some("test.tick"), "{d:?}");
            }
            other => panic!("not a commit: {other:?}"),
        }
    }
}

fn spawn_child(dir: &Path, id: &str, count: u64) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_store-child"))
        .args([dir.to_str().unwrap(), id, &count.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run store-child")
}

/// The child's lines, as they come.
fn read_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<Line> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let line = parse_line(&l).unwrap_or_else(|| panic!("store-child said {l:?}"));
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Where a kill landed, judged from the child's last line and the home after the kill.
#[derive(Debug, Default)]
struct Landings {
    /// Inside a write transaction that did not commit.
    inside: usize,
    /// Inside a write transaction whose commit was durable, before the child reported it.
    committing: usize,
    /// Anywhere else (between transactions, writing an object, …).
    outside: usize,
}

#[test]
fn killed_writers_never_leave_a_broken_home_or_lose_a_commit() {
    let dir = temp("crash");
    drop(Home::open(&dir).unwrap());
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut all: Vec<Done> = Vec::new();
    let mut killed_mid_run = 0;
    let mut at = Landings::default();
    for _ in 0..200 {
        let mut child = spawn_child(&dir, "crash.x", 0);
        let lines = read_lines(&mut child);
        // Once the home is open, a pseudo-random moment 0–80 ms into the work (xorshift).
        let ready = lines.recv_timeout(Duration::from_secs(30));
        assert_eq!(ready, Ok(Line::Ready));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 80_000));
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        }
        let said: Vec<Line> = lines.iter().collect();
        // The last line says whether the kill landed inside a transaction; the home says
        // whether that transaction committed.
        let home = Home::open(&dir).unwrap();
        let last = home.entries(&Default::default()).unwrap().pop();
        match said.last() {
            Some(Line::InReg(module)) => {
                let history = home.registry.history("crash.x").unwrap();
                if history.iter().any(|r| r.module == *module) {
                    at.committing += 1;
                } else {
                    at.inside += 1;
                }
            }
            Some(Line::InTick(i)) => {
                let committed = last.is_some_and(|e| {
                    e.record.kind == "test.tick"
                        && e.record.subject.get_key("i") == Some(&Value::Int(*i))
                });
                if committed {
                    at.committing += 1;
                } else {
                    at.inside += 1;
                }
            }
            _ => at.outside += 1,
        }
        drop(home);
        all.extend(
            said.into_iter()
                .filter(|l| matches!(l, Line::Reg(..) | Line::Rollback(..) | Line::Tick(..)))
                .map(|l| ("crash.x".to_string(), l)),
        );
        check_committed(&dir, &all);
    }
    eprintln!(
        "crash test: 200 kills — {} inside a write transaction that then did not commit, {} \
         inside one whose commit was durable before it was reported, {} outside any; {} \
         committed operations checked after each",
        at.inside,
        at.committing,
        at.outside,
        all.len()
    );
    assert_eq!(killed_mid_run, 200, "every child was killed, none exited");
    assert!(
        at.inside > 0,
        "no kill landed inside a write transaction: {at:?}"
    );
    assert!(
        all.len() > 200,
        "the children committed only {} operations",
        all.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn three_processes_on_one_home_lose_no_update() {
    let dir = temp("two-procs");
    drop(Home::open(&dir).unwrap());
    // Two writers on different ids and a third on the first one's id, all at once.
    let mut children: Vec<_> = [("p.one", 120), ("p.two", 120), ("p.one", 60)]
        .into_iter()
        .map(|(id, n)| {
            let mut c = spawn_child(&dir, id, n);
            let lines = read_lines(&mut c);
            (id, c, lines)
        })
        .collect();
    let mut done: Vec<Done> = Vec::new();
    // The chain entries each child reported.
    let mut seqs: Vec<Vec<u64>> = Vec::new();
    for (id, c, lines) in children.iter_mut() {
        let status = c.wait().unwrap();
        let mut err = String::new();
        use std::io::Read;
        c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success(), "{err}");
        let mut mine = Vec::new();
        for l in lines.iter() {
            match l {
                Line::Reg(_, e) | Line::Rollback(_, e) | Line::Tick(e) => mine.push(e),
                _ => continue,
            }
            done.push((id.to_string(), l));
        }
        seqs.push(mine);
    }
    check_committed(&dir, &done);
    // The processes overlapped: while each one ran (between its first and last entry), each
    // other one committed something.
    for (a, sa) in seqs.iter().enumerate() {
        let (lo, hi) = (sa.iter().min().unwrap(), sa.iter().max().unwrap());
        for (b, sb) in seqs.iter().enumerate().filter(|(b, _)| *b != a) {
            assert!(
                sb.iter().any(|s| lo < s && s < hi),
                "child {b} committed nothing while child {a} ran: {seqs:?}"
            );
        }
    }
    let mut writers: Vec<(u64, usize)> = seqs
        .iter()
        .enumerate()
        .flat_map(|(c, s)| s.iter().map(move |&e| (e, c)))
        .collect();
    writers.sort();
    let switches = writers.windows(2).filter(|w| w[0].1 != w[1].1).count();
    // Each id's active version is the target of its last recorded move, and that is the
    // last move a child reported for it.
    let home = Home::open(&dir).unwrap();
    for id in ["p.one", "p.two"] {
        let active = home
            .registry
            .history(id)
            .unwrap()
            .into_iter()
            .find(|r| r.active)
            .map(|r| r.hash);
        let last = home.registry.moves(id).unwrap().pop().unwrap();
        assert_eq!(active, Some(last.to), "{id}");
        let reported = done
            .iter()
            .filter(|(i, _)| i == id)
            .filter_map(|(_, l)| match l {
                Line::Reg(h, e) => Some((e + 1, *h)),
                Line::Rollback(h, e) => Some((*e, *h)),
                _ => None,
            })
            .max();
        assert_eq!(reported, Some((last.chain, last.to)), "{id}");
    }
    eprintln!(
        "three processes: {} commits; the writer changed {switches} times along the chain",
        done.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}
