//! Governed behaviour from the attacker's and the user's side, mostly through the real `kiln`
//! binary: constitution rules on pure calls (which take the dispatcher's fast path), call
//! approvals (run once approved, bound to one version, refused when expired, filed once), the
//! decoder's limits at their exact bounds, and the grant checks (`:env`, guest paths, symlinks
//! into the home, the environment a guest sees).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_kernel::governance::constitution::DEFAULT;
use rtfs::encoding::{DecodeError, DecodeLimits, decode};

use crate::governance::end_to_end::{
    adopt, decisions_read_back, denials, entries, err, home, install, install_caller, kiln, out,
    plan,
};

/// `kiln --home HOME ARGS…` with `vars` set in its environment.
fn kiln_with(home: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln-under-test"));
    cmd.arg("--home")
        .arg(home)
        .args(args)
        .env_remove("KILN_HOME");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run kiln")
}

/// A directory for a test's home (`DIR/home`, created by kiln's first command) and its files,
/// without the RTFS engine (which [`home`] installs, at the cost of compiling it).
fn bare_home(name: &str) -> PathBuf {
    let base = std::env::temp_dir().join(format!("kiln-governed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    base.join("home")
}

/// Installs the shipped `echo` guest as `id`, declaring no effects: a pure capability.
fn install_echo(h: &Path, id: &str) {
    let echo = crate::guests::wasm_path("echo", "wasm32-unknown-unknown");
    let o = kiln(h, &["cap", "install", echo.to_str().unwrap(), "--id", id]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
}

/// Installs the WAT module `wasm` as `id` with `manifest`; returns the install's output.
fn install_wat(h: &Path, id: &str, wasm: &[u8], manifest: &str) -> Output {
    let file = h
        .parent()
        .unwrap()
        .join(format!("{}.wasm", id.replace('/', "_")));
    std::fs::write(&file, wasm).unwrap();
    install(h, &file, id, manifest)
}

/// The default constitution at `level` with `rules` (RTFS maps) before its own.
fn constitution(level: u8, rules: &str) -> String {
    DEFAULT
        .replace(":trust-level 0", &format!(":trust-level {level}"))
        .replace(":rules [", &format!(":rules [{rules}\n "))
}

/// Runs plan `src` (written as `name`): its exit code, stdout and stderr.
fn run(h: &Path, name: &str, src: &str) -> (Option<i32>, String, String) {
    let p = plan(h, name, src);
    let o = kiln(h, &["run", p.to_str().unwrap()]);
    (o.status.code(), out(&o).trim().to_string(), err(&o))
}

/// A plan that calls `id` on `arg` and yields the result, or the reason of a capability error.
fn catching(id: &str, arg: &str) -> String {
    format!("(try (call :{id} {arg}) (catch :error/capability e (:reason (ex-data e))))")
}

/// The request number a pending run stopped on (`{:status :pending-approval :approval N}`).
fn pending(stdout: &str) -> i64 {
    stdout
        .trim()
        .strip_prefix("{:status :pending-approval :approval ")
        .and_then(|r| r.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not waiting for approval: {stdout}"))
}

/// The requests `kiln approvals list --all` shows, one line each.
fn requests(h: &Path) -> Vec<String> {
    let o = kiln(h, &["approvals", "list", "--all"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    out(&o).lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------------------
// 1. Constitution rules on pure calls.
// ---------------------------------------------------------------------------------------

/// A `:deny` and a `:require-approval` rule on pure wasm capabilities hold for every caller an
/// agent can be: a plan, a WAT guest calling `kiln.call`, and an RTFS capability running in
/// rtfs-engine. Without a rule the same calls take the fast path (no decision entry of their
/// own); with one, each refusal is a decision on the chain naming the rule.
#[test]
fn rules_on_pure_calls_hold_for_plans_guests_and_rtfs_capabilities() {
    let h = home("gd-pure-rules");
    install_echo(&h, "pure.echo");
    install_echo(&h, "pure.ask");
    install_caller(&h);
    // Full autonomy, so the agent's relay capability is active at once: the rules alone stop
    // the calls below.
    adopt(&h, "level4.rtfs", &constitution(4, ""));
    let (code, stdout, e) = run(
        &h,
        "relay.rtfs",
        r#"(call :planner.register_capability {:source "(capability \"relay\" :effects [:call]
             :implementation (fn [id] (try (call id 7) (catch :error/capability e (:reason (ex-data e))))))"})"#,
    );
    assert_eq!(code, Some(0), "{e}");
    assert!(stdout.contains(":status :active"), "{stdout}");
    // Before any rule: pure, allowed by the table, served on the fast path — the call's own
    // entry, no decision entry for it.
    let (code, stdout, e) = run(&h, "free.rtfs", "(call :pure.echo 7)");
    assert_eq!((code, stdout.as_str()), (Some(0), "7"), "{e}");
    let decided = |h: &Path, id: &str| -> Vec<serde_json::Value> {
        entries(h, "decision")
            .into_iter()
            .filter(|d| {
                d["subject"]["capability"] == id
                    && d["subject"]["action"] == "call"
                    && d["principal"] == "agent"
            })
            .collect()
    };
    assert_eq!(
        decided(&h, "pure.echo").len(),
        0,
        "the fast path decides inline"
    );
    let o = kiln(&h, &["call", "x.caller", "\"pure.ask\""]);
    assert_eq!(out(&o).trim(), "nil", "the guest reaches it: {}", err(&o));

    adopt(
        &h,
        "rules.rtfs",
        &constitution(
            4,
            r#"{:id "no-echo" :action :call :capability "pure.echo" :principal :agent
                :decision :deny :reason "agents may not echo"}
               {:id "ask-first" :action :call :capability "pure.ask" :principal :agent
                :decision :require-approval :reason "pure.ask is reviewed"}"#,
        ),
    );
    // 1. A plan: uncaught, the run stops blocked (exit 3) naming the rule's reason; caught, the
    //    reason is the one a capability error carries.
    let (code, _, e) = run(&h, "deny.rtfs", "(call :pure.echo 7)");
    assert_eq!(code, Some(3), "{e}");
    assert!(e.contains("agents may not echo"), "{e}");
    let (code, stdout, e) = run(&h, "ask.rtfs", "(call :pure.ask 7)");
    assert_eq!(code, Some(3), "{e}");
    let request = pending(&stdout);
    let o = kiln(&h, &["approvals", "show", &request.to_string()]);
    assert!(out(&o).contains("pure.ask is reviewed"), "{}", out(&o));
    for (id, reason) in [("pure.echo", ":denied"), ("pure.ask", ":pending-approval")] {
        let (code, stdout, e) = run(&h, "caught.rtfs", &catching(id, "7"));
        assert_eq!(
            (code, stdout.as_str()),
            (Some(0), reason),
            "plan → {id}: {e}"
        );
        // 2. A WAT guest through kiln.call (its nil argument).
        let o = kiln(&h, &["call", "x.caller", &format!("{id:?}")]);
        assert_eq!(o.status.code(), Some(1), "guest → {id}: {}", out(&o));
        assert!(
            err(&o).contains(&format!(":reason {reason}")),
            "guest → {id}: {}",
            err(&o)
        );
        // 3. An RTFS capability in rtfs-engine.
        let o = kiln(&h, &["call", "generated/relay", &format!("{id:?}")]);
        assert_eq!(
            out(&o).trim(),
            reason,
            "rtfs capability → {id}: {}",
            err(&o)
        );
    }
    // The rule names its target and its principal: the human's own call is not concerned.
    let o = kiln(&h, &["call", "pure.echo", "7"]);
    assert_eq!(out(&o).trim(), "7", "{}", err(&o));
    // On the chain: every refusal a decision by the agent, naming the rule — two from plans,
    // one from the guest, one from the RTFS capability.
    let denied: Vec<serde_json::Value> = denials(&h)
        .into_iter()
        .filter(|d| d["subject"]["capability"] == "pure.echo")
        .collect();
    assert_eq!(denied.len(), 4, "{denied:#?}");
    assert!(
        denied
            .iter()
            .all(|d| d["subject"]["rule"] == "no-echo" && d["principal"] == "agent")
    );
    let asked: Vec<serde_json::Value> = decided(&h, "pure.ask")
        .into_iter()
        .filter(|d| d["outcome"] == "pending")
        .collect();
    assert_eq!(asked.len(), 4, "{asked:#?}");
    assert!(asked.iter().all(|d| d["subject"]["rule"] == "ask-first"));
    // All four callers asked for the same thing — calling this version — so one request.
    let calls: Vec<String> = requests(&h)
        .into_iter()
        .filter(|l| l.contains("call pure.ask"))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0].split_whitespace().next(),
        Some(request.to_string().as_str()),
        "{calls:?}"
    );
    // Nothing ran: no successful call of either after the rules came in.
    let ran = entries(&h, "call")
        .into_iter()
        .filter(|c| c["subject"]["capability"] == "pure.echo" && c["principal"] == "agent")
        .count();
    assert_eq!(ran, 1, "only the call before the rules ran");
    decisions_read_back(&h);
}

// ---------------------------------------------------------------------------------------
// 2. Call approvals.
// ---------------------------------------------------------------------------------------

/// The rule of the approval tests: agents' calls of `pure.ask` need a human's approval.
const ASK_FIRST: &str = r#"{:id "ask-first" :action :call :capability "pure.ask" :principal :agent
    :decision :require-approval :reason "pure.ask is reviewed"}"#;

/// A call that needs approval waits, files one request however often it is asked for (by a
/// plan or by a guest), and runs once the human approves — that version, and no other: a
/// new version of the same id asks again, and rolling back to the approved one needs no new
/// approval.
#[test]
fn an_approved_call_runs_that_version_and_a_new_version_asks_again() {
    let h = bare_home("call-approval");
    install_echo(&h, "pure.ask");
    install_caller(&h);
    adopt(&h, "ask.rtfs", &constitution(0, ASK_FIRST));
    let before = requests(&h).len();
    let src = r#"(call :pure.ask "hi")"#;
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!(code, Some(3), "{e}");
    let n = pending(&stdout);
    assert!(e.contains(&format!("kiln approvals approve {n}")), "{e}");
    // Asked again — by the same plan, and by a guest — it is the same request.
    let (_, stdout, _) = run(&h, "ask.rtfs", src);
    assert_eq!(pending(&stdout), n);
    let o = kiln(&h, &["call", "x.caller", "\"pure.ask\""]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains(&format!("kiln approvals approve {n}")),
        "{}",
        err(&o)
    );
    assert_eq!(requests(&h).len(), before + 1, "{:?}", requests(&h));
    assert_eq!(entries(&h, "approval.request").len(), before + 1);
    let o = kiln(&h, &["approvals", "show", &n.to_string()]);
    let shown = out(&o);
    assert!(shown.contains("action:    call"), "{shown}");
    let v1 = shown
        .lines()
        .find_map(|l| l.strip_prefix("approves:  "))
        .unwrap()
        .trim()
        .to_string();
    // Approved, the same plan and the guest now run it; the decision names the approval.
    let o = kiln(&h, &["approvals", "approve", &n.to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!((code, stdout.as_str()), (Some(0), "\"hi\""), "{e}");
    let o = kiln(&h, &["call", "x.caller", "\"pure.ask\""]);
    assert_eq!(
        (o.status.code(), out(&o).trim()),
        (Some(0), "nil"),
        "{}",
        err(&o)
    );
    let approved: Vec<serde_json::Value> = entries(&h, "decision")
        .into_iter()
        .filter(|d| {
            d["subject"]["capability"] == "pure.ask"
                && d["subject"]["action"] == "call"
                && d["outcome"] == "ok"
        })
        .collect();
    assert_eq!(approved.len(), 2, "{approved:#?}");
    assert!(approved.iter().all(|d| d["subject"]["approval"] == n));
    // A new version of the same id (another echo module): the approval does not carry over.
    let wat_echo = crate::sandbox::guest("", "(call $ok (local.get $ptr) (local.get $len))", "");
    let o = install_wat(&h, "pure.ask", &wat_echo, r#"(capability "pure.ask")"#);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!(code, Some(3), "the new version asks again: {e}");
    let m = pending(&stdout);
    assert_ne!(m, n);
    let o = kiln(&h, &["approvals", "show", &m.to_string()]);
    let v2 = out(&o)
        .lines()
        .find_map(|l| l.strip_prefix("approves:  "))
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(v1, v2, "each request names its own version");
    // Back on the approved version, the approval is in force again.
    let o = kiln(&h, &["cap", "rollback", "pure.ask"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!((code, stdout.as_str()), (Some(0), "\"hi\""), "{e}");
    decisions_read_back(&h);
}

/// A request left past its expiry cannot be approved, and the work then files a new one
/// rather than reviving it. (Requests expire after seven days; the test ages one by setting
/// its `expires_at` in `kiln.db` directly.)
#[test]
fn an_expired_call_request_is_refused_and_the_work_asks_again() {
    let h = bare_home("call-expiry");
    install_echo(&h, "pure.ask");
    adopt(&h, "ask.rtfs", &constitution(0, ASK_FIRST));
    let src = r#"(call :pure.ask "hi")"#;
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!(code, Some(3), "{e}");
    let n = pending(&stdout);
    let db = rusqlite::Connection::open(h.join("kiln.db")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let aged = db
        .execute(
            "UPDATE approvals SET expires_at = ?1 WHERE n = ?2",
            rusqlite::params![now - 60, n],
        )
        .unwrap();
    assert_eq!(aged, 1);
    drop(db);
    let o = kiln(&h, &["approvals", "approve", &n.to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains(&format!(
            "approval request {n} expired; re-run the work to file a new one"
        )),
        "{}",
        err(&o)
    );
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!(code, Some(3), "still not approved: {e}");
    let fresh = pending(&stdout);
    assert_ne!(fresh, n, "the expired request is not reused");
    let o = kiln(&h, &["approvals", "approve", &fresh.to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let (code, stdout, e) = run(&h, "ask.rtfs", src);
    assert_eq!((code, stdout.as_str()), (Some(0), "\"hi\""), "{e}");
}

// ---------------------------------------------------------------------------------------
// 4. The decoder's limits.
// ---------------------------------------------------------------------------------------

/// The three ways a value nests in the encoding, each as the bytes that open one level
/// around what follows: an array (a vector), a one-entry map `{0 …}`, a list (tag 40002 and an
/// array).
const NESTINGS: [(&str, &[u8]); 3] = [
    ("vector", &[0x81]),
    ("map", &[0xa1, 0x00]),
    ("list", &[0xd9, 0x9c, 0x42, 0x81]),
];

/// `levels` of `open` around the integer 0.
fn nested(open: &[u8], levels: usize) -> Vec<u8> {
    let mut bytes = open.repeat(levels);
    bytes.push(0x00);
    bytes
}

#[test]
fn the_decoder_refuses_one_level_past_its_depth_limit_for_every_kind_of_nesting() {
    for (kind, open) in NESTINGS {
        for max_depth in [0u32, 1, 2, 7, 1000] {
            let limits = DecodeLimits {
                max_depth,
                ..DecodeLimits::default()
            };
            let at = nested(open, max_depth as usize);
            let v = decode(&at, limits)
                .unwrap_or_else(|e| panic!("{kind}: {max_depth} levels under {max_depth}: {e}"));
            assert_eq!(v.depth(), max_depth, "{kind}");
            assert_eq!(
                decode(&nested(open, max_depth as usize + 1), limits),
                Err(DecodeError::TooDeep(max_depth)),
                "{kind}: {} levels under {max_depth}",
                max_depth + 1
            );
        }
        // Hostile depth is refused by the same check, long before the native stack runs out.
        assert_eq!(
            decode(&nested(open, 200_000), DecodeLimits::default()),
            Err(DecodeError::TooDeep(1000)),
            "{kind}"
        );
    }
    // Mixed nesting counts every level, whatever its kind: 3 × 333 + 1 = 1000 levels pass.
    let mixed: Vec<u8> = NESTINGS
        .iter()
        .flat_map(|(_, open)| open.to_vec())
        .collect::<Vec<u8>>()
        .repeat(333);
    for (extra, want) in [(&[0x81u8][..], Ok(1000)), (&[0x81, 0x81][..], Err(1000))] {
        let bytes = [&mixed[..], extra, &[0x00]].concat();
        assert_eq!(
            decode(&bytes, DecodeLimits::default())
                .map(|v| v.depth())
                .map_err(|e| match e {
                    DecodeError::TooDeep(n) => n,
                    other => panic!("{other}"),
                }),
            want
        );
    }
}

#[test]
fn the_decoder_refuses_input_one_byte_past_max_bytes() {
    let bytes = rtfs::encoding::encode(&rtfs::Value::str(&"x".repeat(300))).unwrap();
    let len = bytes.len();
    let limits = |max_bytes| DecodeLimits {
        max_bytes,
        ..DecodeLimits::default()
    };
    assert_eq!(
        decode(&bytes, limits(len)).unwrap(),
        rtfs::Value::str(&"x".repeat(300))
    );
    assert_eq!(
        decode(&bytes, limits(len - 1)),
        Err(DecodeError::TooLarge { len, max: len - 1 })
    );
    // Refused before a byte is read: even bytes that are no encoding at all.
    assert_eq!(
        decode(&[0xff; 10], limits(9)),
        Err(DecodeError::TooLarge { len: 10, max: 9 })
    );
}

/// A WAT guest whose result is its input number `n` of nested vectors around 0, built in its
/// own memory (so any depth, without the host ever encoding it). The input is a CBOR unsigned
/// integer in any of its short forms.
fn deep_guest() -> Vec<u8> {
    crate::sandbox::guest(
        "",
        r#"(local $b i32) (local $n i32) (local $dst i32)
           (local.set $b (i32.load8_u (local.get $ptr)))
           (if (i32.lt_u (local.get $b) (i32.const 24)) (then (local.set $n (local.get $b))))
           (if (i32.eq (local.get $b) (i32.const 0x18))
             (then (local.set $n (i32.load8_u offset=1 (local.get $ptr)))))
           (if (i32.eq (local.get $b) (i32.const 0x19))
             (then (local.set $n (i32.or (i32.shl (i32.load8_u offset=1 (local.get $ptr)) (i32.const 8))
                                         (i32.load8_u offset=2 (local.get $ptr))))))
           (if (i32.eq (local.get $b) (i32.const 0x1a))
             (then (local.set $n
               (i32.or (i32.or (i32.shl (i32.load8_u offset=1 (local.get $ptr)) (i32.const 24))
                               (i32.shl (i32.load8_u offset=2 (local.get $ptr)) (i32.const 16)))
                       (i32.or (i32.shl (i32.load8_u offset=3 (local.get $ptr)) (i32.const 8))
                               (i32.load8_u offset=4 (local.get $ptr)))))))
           (local.set $dst (call $alloc (i32.add (local.get $n) (i32.const 1))))
           (memory.fill (local.get $dst) (i32.const 0x81) (local.get $n))
           (i32.store8 (i32.add (local.get $dst) (local.get $n)) (i32.const 0))
           (call $ok (local.get $dst) (i32.add (local.get $n) (i32.const 1)))"#,
        "",
    )
}

/// A guest's result may nest as deep as a value may (the value-depth limit, 1 000) — the result
/// envelope around it is the ABI's, not the value's — and no deeper: one level more, or two
/// hundred thousand, is an ABI violation, never a crash, and kiln keeps serving. A plan's value
/// at the limit makes the round trip through the shipped echo.
#[test]
fn a_guest_result_nests_to_the_value_depth_limit_and_no_deeper() {
    let h = bare_home("deep-result");
    let o = install_wat(&h, "x.deep", &deep_guest(), r#"(capability "x.deep")"#);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = kiln(&h, &["call", "x.deep", "3"]);
    assert_eq!(out(&o).trim(), "[[[0]]]", "{}", err(&o));
    let o = kiln(&h, &["call", "x.deep", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let want = format!("{}0{}", "[".repeat(1000), "]".repeat(1000));
    assert_eq!(out(&o).trim(), want);
    for n in ["1001", "200000"] {
        let o = kiln(&h, &["call", "x.deep", n]);
        assert_eq!(o.status.code(), Some(1), "{n}: {}", out(&o));
        assert!(
            err(&o).contains("undecodable result") && err(&o).contains("deeper than 1000"),
            "{n}: {}",
            err(&o)
        );
    }
    let o = kiln(&h, &["call", "x.deep", "2"]);
    assert_eq!(out(&o).trim(), "[[0]]", "still serving: {}", err(&o));
    // From a plan: the deepest value RTFS allows goes to a guest and comes back whole.
    install_echo(&h, "x.echo");
    let (code, stdout, e) = run(
        &h,
        "deep.rtfs",
        "(= (call :x.echo (reduce (fn [v _] [v]) 0 (range 1000))) (reduce (fn [v _] [v]) 0 (range 1000)))",
    );
    assert_eq!((code, stdout.as_str()), (Some(0), "true"), "{e}");
}

// ---------------------------------------------------------------------------------------
// 5. Grant checks.
// ---------------------------------------------------------------------------------------

/// A WASI guest that returns its whole environment as one string, `NAME=VALUE` lines.
fn env_guest() -> Vec<u8> {
    crate::sandbox::guest(
        r#"(import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
           (import "wasi_snapshot_preview1" "environ_get" (func $environ (param i32 i32) (result i32)))"#,
        r#"(local $count i32) (local $size i32) (local $text i32) (local $i i32) (local $head i32)
           (drop (call $sizes (i32.const 16) (i32.const 20)))
           (local.set $count (i32.load (i32.const 16)))
           (local.set $size (i32.load (i32.const 20)))
           ;; Three bytes for the text's head, then the strings.
           (local.set $text (i32.add (call $alloc (i32.add (local.get $size) (i32.const 3))) (i32.const 3)))
           ;; The pointer array, aligned to 4 as WASI requires.
           (drop (call $environ
             (i32.and (i32.add (call $alloc (i32.add (i32.mul (local.get $count) (i32.const 4)) (i32.const 4)))
                               (i32.const 3))
                      (i32.const -4))
             (local.get $text)))
           ;; Each string ends in NUL: a newline instead.
           (block $done (loop $next
             (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
             (if (i32.eqz (i32.load8_u (i32.add (local.get $text) (local.get $i))))
               (then (i32.store8 (i32.add (local.get $text) (local.get $i)) (i32.const 10))))
             (local.set $i (i32.add (local.get $i) (i32.const 1)))
             (br $next)))
           ;; The CBOR text head in its shortest form, just before the strings.
           (if (i32.lt_u (local.get $size) (i32.const 24))
             (then (local.set $head (i32.sub (local.get $text) (i32.const 1)))
                   (i32.store8 (local.get $head) (i32.or (i32.const 0x60) (local.get $size))))
             (else (if (i32.lt_u (local.get $size) (i32.const 256))
               (then (local.set $head (i32.sub (local.get $text) (i32.const 2)))
                     (i32.store8 (local.get $head) (i32.const 0x78))
                     (i32.store8 offset=1 (local.get $head) (local.get $size)))
               (else (local.set $head (i32.sub (local.get $text) (i32.const 3)))
                     (i32.store8 (local.get $head) (i32.const 0x79))
                     (i32.store8 offset=1 (local.get $head) (i32.shr_u (local.get $size) (i32.const 8)))
                     (i32.store8 offset=2 (local.get $head) (local.get $size))))))
           (call $ok (local.get $head)
                     (i32.sub (i32.add (local.get $text) (local.get $size)) (local.get $head)))"#,
        "",
    )
}

/// Variables set in kiln's own environment when a test runs it: one granted by the
/// manifest, one by the constitution, and one nobody grants.
const VARS: [(&str, &str); 3] = [
    ("KILN_GD_MANIFEST", "from-the-manifest"),
    ("KILN_GD_CONSTITUTION", "from-the-constitution"),
    ("KILN_GD_SECRET", "hunter2"),
];

/// A guest sees exactly the environment variables granted to it — by its manifest and by the
/// constitution — and nothing else of kiln's environment (not even `HOME` or `PATH`).
#[test]
fn a_guest_sees_only_the_environment_variables_granted_to_it() {
    let h = bare_home("env-seen");
    let file = h.parent().unwrap().join("x.env.wasm");
    std::fs::write(&file, env_guest()).unwrap();
    let manifest = h.parent().unwrap().join("x.env.rtfs");
    std::fs::write(
        &manifest,
        r#"(capability "x.env" :effects [:env] :grants {:env ["KILN_GD_MANIFEST"]})"#,
    )
    .unwrap();
    let o = kiln_with(
        &h,
        &[
            "cap",
            "install",
            file.to_str().unwrap(),
            "--id",
            "x.env",
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        &VARS,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let seen = |h: &Path| {
        let o = kiln_with(h, &["call", "x.env"], &VARS);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        out(&o).trim().to_string()
    };
    assert_eq!(seen(&h), r#""KILN_GD_MANIFEST=from-the-manifest\n""#);
    // The constitution grants one more; the secret stays unseen.
    adopt(
        &h,
        "env.rtfs",
        &DEFAULT.replace(
            ":grants {}",
            r#":grants {"x.env" {:env ["KILN_GD_CONSTITUTION"]}}"#,
        ),
    );
    let all = seen(&h);
    assert_eq!(
        all,
        r#""KILN_GD_MANIFEST=from-the-manifest\nKILN_GD_CONSTITUTION=from-the-constitution\n""#
    );
    assert!(!all.contains("hunter2") && !all.contains("PATH="), "{all}");
}

/// Environment grants need the `:env` effect — asked for in a manifest (refused at install)
/// or given by the constitution (refused whenever the capability is loaded) — and a granted
/// directory's guest path must be absolute without `..`.
#[test]
fn env_grants_need_env_and_guest_paths_are_validated() {
    let h = bare_home("grant-checks");
    let dir = h.parent().unwrap().to_path_buf();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("x.json"), "[1]").unwrap();
    let echo = crate::guests::wasm_path("echo", "wasm32-unknown-unknown");
    let install_with = |id: &str, wasm: &Path, manifest: &str| {
        let file = dir.join(format!("{id}.rtfs"));
        std::fs::write(&file, manifest).unwrap();
        kiln_with(
            &h,
            &[
                "cap",
                "install",
                wasm.to_str().unwrap(),
                "--id",
                id,
                "--manifest",
                file.to_str().unwrap(),
            ],
            &VARS,
        )
    };
    // A manifest asking for a variable without declaring :env.
    let o = install_with(
        "x.echo",
        &echo,
        r#"(capability "x.echo" :grants {:env ["KILN_GD_SECRET"]})"#,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains("environment variables need :env"),
        "{}",
        err(&o)
    );
    // The constitution granting one to a capability without :env: the call is refused when
    // the capability is loaded, and the guest never runs.
    let o = install_with("x.echo", &echo, r#"(capability "x.echo")"#);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    adopt(
        &h,
        "env.rtfs",
        &DEFAULT.replace(
            ":grants {}",
            r#":grants {"x.echo" {:env ["KILN_GD_SECRET"]}}"#,
        ),
    );
    let o = kiln_with(&h, &["call", "x.echo", "1"], &VARS);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains("environment variables need :env"),
        "{}",
        err(&o)
    );
    // Guest paths: relative, or climbing out with `..`, are refused at install.
    let fs = crate::guests::wasm_path("fs_read_json", "wasm32-wasip1");
    for guest in ["data", "/data/../etc", "/.."] {
        let o = install_with(
            "fs.read_json",
            &fs,
            &format!(
                r#"(capability "fs.read_json" :effects [:fs/read :log :env] :grants {{:dirs [{{:path "{}" :as "{guest}"}}]}})"#,
                data.display()
            ),
        );
        assert_eq!(o.status.code(), Some(1), "{guest}: {}", out(&o));
        assert!(
            err(&o).contains(&format!("guest path {guest:?} must be absolute without ..")),
            "{guest}: {}",
            err(&o)
        );
    }
    // The same from the constitution, refused when the capability is loaded.
    let o = install_with(
        "fs.read_json",
        &fs,
        r#"(capability "fs.read_json" :effects [:fs/read :log :env])"#,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    adopt(
        &h,
        "paths.rtfs",
        &DEFAULT.replace(
            ":grants {}",
            &format!(
                r#":grants {{"fs.read_json" {{:dirs [{{:path "{}" :as "data"}}]}}}}"#,
                data.display()
            ),
        ),
    );
    let o = kiln_with(
        &h,
        &["call", "fs.read_json", r#"{:path "data/x.json"}"#],
        &VARS,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        err(&o).contains("guest path \"data\" must be absolute without .."),
        "{}",
        err(&o)
    );
}

/// A granted directory that is a symlink is refused wherever it leads — it could be
/// re-pointed into kiln's home between the check and the use: in a manifest at install, in a
/// proposed constitution before it is filed (when it leads into the home), and when the
/// capability is loaded, before the guest runs (when the constitution was approved while the
/// link was harmless).
#[test]
fn a_granted_symlink_that_resolves_into_the_home_is_refused() {
    let h = bare_home("grant-symlink");
    let dir = h.parent().unwrap().to_path_buf();
    install_echo(&h, "warm.up"); // creates the home
    let harmless = dir.join("harmless");
    std::fs::create_dir_all(&harmless).unwrap();
    std::fs::write(harmless.join("x.json"), "[1]").unwrap();
    let link = dir.join("link");
    let point = |to: &Path| {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(to, &link).unwrap();
    };
    let manifest = format!(
        r#"(capability "fs.read_json" :effects [:fs/read :fs/write :log :env] :grants {{:dirs [{{:path "{}" :as "/data" :write true}}]}})"#,
        link.display()
    );
    let fs = crate::guests::wasm_path("fs_read_json", "wasm32-wasip1");
    // At install: the link leads into the home, into its objects, or somewhere harmless.
    for target in [h.clone(), h.join("objects"), harmless.clone()] {
        point(&target);
        let o = install(&h, &fs, "fs.read_json", &manifest);
        assert_eq!(o.status.code(), Some(1), "{}", out(&o));
        assert!(err(&o).contains("is a symlink"), "{}", err(&o));
    }
    point(&h);
    // In a proposed constitution: refused before anything is filed.
    let o = install(
        &h,
        &fs,
        "fs.read_json",
        r#"(capability "fs.read_json" :effects [:fs/read :log :env])"#,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let granting = DEFAULT.replace(
        ":grants {}",
        &format!(
            r#":grants {{"fs.read_json" {{:dirs [{{:path "{}" :as "/data"}}]}}}}"#,
            link.display()
        ),
    );
    let proposal = dir.join("link.rtfs");
    std::fs::write(&proposal, &granting).unwrap();
    let filed = requests(&h).len();
    let o = kiln(&h, &["constitution", "propose", proposal.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("overlaps kiln's home"), "{}", err(&o));
    assert_eq!(requests(&h).len(), filed, "nothing filed");
    // Approved while the link was harmless: every load refuses it, before the guest runs,
    // wherever it points; the real directory behind it works.
    point(&harmless);
    adopt(&h, "link.rtfs", &granting);
    let read = |h: &Path| kiln(h, &["call", "fs.read_json", r#"{:path "/data/x.json"}"#]);
    for target in [harmless.clone(), h.clone()] {
        point(&target);
        let o = read(&h);
        assert_eq!(o.status.code(), Some(1), "{}", out(&o));
        assert!(err(&o).contains("is a symlink"), "{}", err(&o));
    }
    let direct = DEFAULT.replace(
        ":grants {}",
        &format!(
            r#":grants {{"fs.read_json" {{:dirs [{{:path "{}" :as "/data"}}]}}}}"#,
            harmless.display()
        ),
    );
    adopt(&h, "direct.rtfs", &direct);
    let o = read(&h);
    assert_eq!(
        (o.status.code(), out(&o).trim()),
        (Some(0), "[1]"),
        "{}",
        err(&o)
    );
}
