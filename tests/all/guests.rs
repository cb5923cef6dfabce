//! The capabilities kiln ships, built from `capabilities/` with the guest SDK and called
//! through the sandbox. The test builds them (the same commands as `cargo xtask
//! build-guests`) and fails with the command when that is impossible.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kiln_sandbox::{
    Capability, DirGrant, Dispatcher, Effect, Grants, Limits, NestedCall, NoDispatch, Sandbox,
    SandboxConfig, SandboxError,
};
use rtfs::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the guests once per test run.
fn built() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = root().join("capabilities/Cargo.toml");
        for (target, crates) in [
            (
                "wasm32-unknown-unknown",
                &[
                    "text-words",
                    "json-parse",
                    "json-emit",
                    "rtfs-engine",
                    "echo",
                    "hash-sha256",
                ][..],
            ),
            ("wasm32-wasip1", &["fs-read-json", "fs-write-text"][..]),
        ] {
            let mut cmd = std::process::Command::new(env!("CARGO"));
            cmd.args([
                "build",
                "--quiet",
                "--release",
                "--target",
                target,
                "--manifest-path",
            ])
            .arg(&manifest);
            for c in crates {
                cmd.args(["-p", c]);
            }
            let ok = cmd.status().is_ok_and(|s| s.success());
            assert!(
                ok,
                "building the guests failed; run `cargo xtask build-guests` ({cmd:?})"
            );
        }
        root().join("capabilities/target")
    })
}

pub fn wasm_path(name: &str, target: &str) -> PathBuf {
    built()
        .join(target)
        .join("release")
        .join(format!("{name}.wasm"))
}

fn wasm(name: &str, target: &str) -> Vec<u8> {
    let path = built()
        .join(target)
        .join("release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask build-guests`", path.display()))
}

fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(|| Sandbox::new(SandboxConfig::default()).expect("sandbox"))
}

fn set(list: &[Effect]) -> BTreeSet<Effect> {
    list.iter().copied().collect()
}

fn load(name: &str, declared: &[Effect]) -> Arc<Capability> {
    let d = set(declared);
    sandbox()
        .load(&wasm(name, "wasm32-unknown-unknown"), &d, &d)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn v(src: &str) -> Value {
    rtfs::reader::read_expr(src, &Default::default())
        .unwrap()
        .to_value()
}

fn limits() -> Limits {
    Limits {
        fuel: 2_000_000_000,
        memory_bytes: 128 << 20,
        timeout: Duration::from_secs(20),
        deterministic: false,
    }
}

fn call(cap: &Arc<Capability>, input: &str) -> Result<Value, SandboxError> {
    sandbox()
        .call(cap, &v(input), limits(), Arc::new(NoDispatch))
        .map(|o| o.value)
}

#[test]
fn text_words_counts_words() {
    let cap = load("text_words", &[]);
    let out = call(&cap, r#"{:text "The cat saw the other cat."}"#).unwrap();
    assert_eq!(
        rtfs::print::print(&out),
        r#"{:counts {"cat" 2 "other" 1 "saw" 1 "the" 2} :distinct 4 :words 6}"#
    );
    match call(&cap, "{:txt 1}") {
        Err(SandboxError::Guest { kind, .. }) => assert_eq!(kind, "error/argument"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_parse_and_emit_round_trip() {
    let parse = load("json_parse", &[]);
    let emit = load("json_emit", &[]);
    let out = call(
        &parse,
        r#"{:json "{\"a\": [1, 2.5, \"x\", null, true], \"b\": {}}"}"#,
    )
    .unwrap();
    assert_eq!(
        rtfs::print::print(&out),
        r#"{"a" [1 2.5 "x" nil true] "b" {}}"#
    );
    let text = call(&emit, &format!("{{:value {}}}", rtfs::print::print(&out))).unwrap();
    assert_eq!(text, Value::str(r#"{"a":[1,2.5,"x",null,true],"b":{}}"#));
    match call(&parse, r#"{:json "{oops"}"#) {
        Err(SandboxError::Guest { kind, .. }) => assert_eq!(kind, "error/json"),
        other => panic!("{other:?}"),
    }
}

/// Routes `kiln.call` to the shipped capabilities.
struct Registry {
    words: Arc<Capability>,
}

impl Dispatcher for Registry {
    fn dispatch(
        &self,
        call: &mut NestedCall<'_>,
        id: &str,
        arg: Value,
    ) -> Result<Value, SandboxError> {
        match id {
            "text.words" => call.run(&self.words, &arg, limits()),
            _ => Err(SandboxError::Dispatch {
                id: id.into(),
                reason: "unknown".into(),
                message: "unknown capability".into(),
            }),
        }
    }
}

fn engine_call(program: &str, input: &str, extra: &str) -> Result<Value, SandboxError> {
    let engine = load("rtfs_engine", &[Effect::Call]);
    let words = load("text_words", &[]);
    let arg = Value::map(
        [
            (Value::keyword("program"), Value::str(program)),
            (Value::keyword("input"), v(input)),
        ]
        .into_iter()
        .chain(
            v(&format!("{{{extra}}}"))
                .as_map()
                .unwrap()
                .entries()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .collect(),
    );
    sandbox()
        .call(&engine, &arg, limits(), Arc::new(Registry { words }))
        .map(|o| o.value)
}

#[test]
fn rtfs_engine_runs_capability_programs_in_the_sandbox() {
    let program = r#"
(defn top-word [counts]
  (first (last (sort-by second (vec counts)))))
(capability "generated/top-word"
  :input-schema [:map [:text :string]]
  :effects [:call]
  :implementation
  (fn [input]
    (let [r (call "text.words" {:text (:text input)})]
      {:top (top-word (:counts r)) :words (:words r)})))"#;
    let out = engine_call(program, r#"{:text "b a b c b a"}"#, "").unwrap();
    assert_eq!(rtfs::print::print(&out), r#"{:top "b" :words 6}"#);
    // Depth 10 000 is reached inside the guest (the evaluator's stack is on the heap).
    let deep = r#"(capability "deep" :implementation
                    (fn [n] (let [f (fn [k] (if (= k 0) 0 (+ 1 (f (- k 1)))))] (f n))))"#;
    assert_eq!(engine_call(deep, "9990", "").unwrap(), Value::Int(9990));
    match engine_call(deep, "20000", "") {
        Err(SandboxError::Guest { kind, data, .. }) => {
            assert_eq!(kind, "error/limit");
            assert!(data.contains(":depth"), "{data}");
        }
        other => panic!("{other:?}"),
    }
    // RTFS's own step budget, lowered by the caller, stops a runaway program.
    let spin = r#"(capability "spin" :implementation (fn [x] (loop [] (recur))))"#;
    match engine_call(spin, "nil", ":steps 100000") {
        Err(SandboxError::Guest { kind, .. }) => assert_eq!(kind, "error/limit"),
        other => panic!("{other:?}"),
    }
    // An unknown capability comes back as a catchable RTFS error with its reason.
    let unknown = r#"(capability "u" :implementation
                       (fn [x] (try (call "no.such" 1) (catch :error/capability e (:reason (ex-data e))))))"#;
    assert_eq!(
        engine_call(unknown, "nil", "").unwrap(),
        Value::keyword("unknown"),
        "the dispatcher's reason reaches the program"
    );
}

fn fs_cap(dir: &Path) -> Arc<Capability> {
    // Rust's std for wasip1 imports `environ_get`, so the capability declares `:env`; with no
    // variables granted its environment is empty.
    let grants = Grants {
        effects: set(&[Effect::FsRead, Effect::Log, Effect::Env]),
        dirs: vec![DirGrant {
            host: dir.to_path_buf(),
            guest: "/data".into(),
            write: false,
        }],
        env: vec![],
    }
    .checked(&[root().join(".kiln")])
    .unwrap();
    let declared = set(&[Effect::FsRead, Effect::Log, Effect::Env]);
    sandbox()
        .load_granted(&wasm("fs_read_json", "wasm32-wasip1"), &declared, &grants)
        .unwrap_or_else(|e| panic!("fs_read_json: {e}"))
}

#[test]
fn fs_read_json_reads_inside_its_grant_only() {
    let base = std::env::temp_dir().join(format!("kiln-fs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let granted = base.join("granted");
    let outside = base.join("secret");
    std::fs::create_dir_all(granted.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        granted.join("sub/issues.json"),
        r#"[{"id": 1, "labels": ["bug"]}]"#,
    )
    .unwrap();
    std::fs::write(outside.join("keys.json"), r#"{"key": "hunter2"}"#).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.join("keys.json"), granted.join("link.json")).unwrap();
    let cap = fs_cap(&granted);
    let read = |path: &str| {
        sandbox()
            .call(
                &cap,
                &Value::map(vec![(Value::keyword("path"), Value::str(path))]),
                limits(),
                Arc::new(NoDispatch),
            )
            .map(|o| o.value)
    };
    assert_eq!(
        rtfs::print::print(&read("/data/sub/issues.json").unwrap()),
        r#"[{"id" 1 "labels" ["bug"]}]"#
    );
    for escape in [
        "/data/../secret/keys.json",
        "/data/link.json",
        outside.join("keys.json").to_str().unwrap(),
        "/etc/passwd",
    ] {
        match read(escape) {
            Err(SandboxError::Guest { kind, .. }) => assert_eq!(kind, "fs/denied", "{escape}"),
            other => panic!("{escape} was not refused: {other:?}"),
        }
    }
    // Granting kiln's own home is refused before anything runs.
    let home = base.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let g = Grants {
        effects: set(&[Effect::FsRead]),
        dirs: vec![DirGrant {
            host: base.clone(),
            guest: "/data".into(),
            write: false,
        }],
        env: vec![],
    };
    assert!(matches!(
        g.checked(&[home]),
        Err(SandboxError::ImportNotCovered { .. })
    ));
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn writing_needs_a_writable_grant() {
    let base = std::env::temp_dir().join(format!("kiln-fsw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let effects = set(&[Effect::FsRead, Effect::FsWrite, Effect::Log, Effect::Env]);
    let module = wasm("fs_write_text", "wasm32-wasip1");
    let cap = |write: bool| {
        let grants = Grants {
            effects: effects.clone(),
            dirs: vec![DirGrant {
                host: base.clone(),
                guest: "/out".into(),
                write,
            }],
            env: vec![],
        }
        .checked(&[])
        .unwrap();
        sandbox().load_granted(&module, &effects, &grants).unwrap()
    };
    let input = v(r#"{:path "/out/note.txt" :text "hello"}"#);
    let run = |c: &Arc<Capability>| {
        sandbox()
            .call(c, &input, limits(), Arc::new(NoDispatch))
            .map(|o| o.value)
    };
    match run(&cap(false)) {
        Err(SandboxError::Guest { kind, .. }) => assert_eq!(kind, "fs/denied"),
        other => panic!("write to a read-only grant: {other:?}"),
    }
    assert!(!base.join("note.txt").exists());
    assert_eq!(
        rtfs::print::print(&run(&cap(true)).unwrap()),
        "{:written 5}"
    );
    assert_eq!(
        std::fs::read_to_string(base.join("note.txt")).unwrap(),
        "hello"
    );
    // A write grant needs :fs/write granted.
    let g = Grants {
        effects: set(&[Effect::FsRead]),
        dirs: vec![DirGrant {
            host: base.clone(),
            guest: "/out".into(),
            write: true,
        }],
        env: vec![],
    };
    assert!(g.checked(&[]).is_err());
    std::fs::remove_dir_all(&base).ok();
}
