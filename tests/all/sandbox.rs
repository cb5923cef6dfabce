//! The sandbox from the attacker's side: guests written in WAT that try to break the limits
//! and the ABI. Each gets its typed error, and the same sandbox then serves a normal call.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kiln_sandbox::{
    Capability, Dispatcher, Effect, Grants, Limits, NestedCall, NoDispatch, Sandbox, SandboxConfig,
    SandboxError,
};
use rtfs::Value;

fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(|| Sandbox::new(SandboxConfig::default()).expect("sandbox"))
}

/// The ABI boilerplate around an `invoke` body. The data segment at 0 holds the 7-byte
/// envelope prefix `{:ok ` (CBOR: map(1), tag 40000, text "ok").
pub(crate) fn guest(imports: &str, invoke: &str, extra: &str) -> Vec<u8> {
    let src = format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (data (i32.const 0) "\a1\d9\9c\40\62\6f\6b")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "kiln_abi_v1"))
  (func $alloc (export "kiln_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.div_u (local.get $len) (i32.const 65536)) (i32.const 1))))))
    (local.get $p))
  ;; {{:ok <the bytes at ptr..ptr+len>}}
  (func $ok (param $ptr i32) (param $len i32) (result i64)
    (local $dst i32)
    (local.set $dst (call $alloc (i32.add (local.get $len) (i32.const 7))))
    (memory.copy (local.get $dst) (i32.const 0) (i32.const 7))
    (memory.copy (i32.add (local.get $dst) (i32.const 7)) (local.get $ptr) (local.get $len))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $dst)) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $len) (i32.const 7)))))
  (func (export "kiln_invoke") (param $ptr i32) (param $len i32) (result i64)
    {invoke})
  {extra})"#
    );
    wat::parse_str(&src).unwrap_or_else(|e| panic!("WAT: {e}\n{src}"))
}

fn echo() -> Vec<u8> {
    guest("", "(call $ok (local.get $ptr) (local.get $len))", "")
}

fn effects(list: &[Effect]) -> BTreeSet<Effect> {
    list.iter().copied().collect()
}

fn load(bytes: &[u8], declared: &[Effect]) -> Result<Arc<Capability>, SandboxError> {
    let d = effects(declared);
    sandbox().load(bytes, &d, &d)
}

fn small() -> Limits {
    Limits {
        fuel: 50_000_000,
        memory_bytes: 8 << 20,
        timeout: Duration::from_secs(5),
        deterministic: false,
    }
}

fn call(cap: &Arc<Capability>, input: &Value, limits: Limits) -> Result<Value, SandboxError> {
    sandbox()
        .call(cap, input, limits, Arc::new(NoDispatch))
        .map(|o| o.value)
}

fn v(src: &str) -> Value {
    rtfs::reader::read_expr(src, &Default::default())
        .unwrap()
        .to_value()
}

/// After an attack, the same sandbox still serves a normal call.
fn still_serves() {
    let cap = load(&echo(), &[]).expect("echo loads");
    let input = v(r#"{:n 1 :s "x" :v [1 2.5 nil]}"#);
    assert_eq!(call(&cap, &input, small()).expect("echo"), input);
}

#[test]
fn a_well_behaved_guest_echoes_values_exactly() {
    let cap = load(&echo(), &[]).unwrap();
    for src in [
        "nil",
        "42",
        "1.0",
        "\"héllo\"",
        ":a/b",
        "sym",
        "(1 [2] {3 4})",
        "{[1 2] :pair nil 0}",
    ] {
        let input = v(src);
        let out = sandbox()
            .call(&cap, &input, small(), Arc::new(NoDispatch))
            .unwrap();
        assert_eq!(rtfs::print::print(&out.value), rtfs::print::print(&input));
        assert!(out.fuel_used > 0);
    }
}

#[test]
fn runaway_guests_get_typed_errors() {
    let spin = guest("", "(loop $l (br $l)) (unreachable)", "");
    let cap = load(&spin, &[]).unwrap();
    match call(&cap, &Value::Nil, small()) {
        Err(SandboxError::FuelExhausted { used }) => assert!(used >= 50_000_000 - 10),
        other => panic!("infinite loop: {other:?}"),
    }
    // With fuel to spare, the deadline stops it.
    let long = Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(200),
        ..small()
    };
    let t = std::time::Instant::now();
    assert_eq!(
        call(&cap, &Value::Nil, long),
        Err(SandboxError::Deadline { ms: 200 })
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "deadline took {:?}",
        t.elapsed()
    );

    let grow = guest(
        "",
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)",
        "",
    );
    let cap = load(&grow, &[]).unwrap();
    assert_eq!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::MemoryLimit { limit: 8 << 20 })
    );

    let recurse = guest(
        "",
        "(call $down (i32.const 0)) (unreachable)",
        "(func $down (param i32) (call $down (i32.add (local.get 0) (i32.const 1))))",
    );
    let cap = load(&recurse, &[]).unwrap();
    assert_eq!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::StackOverflow)
    );

    let trap = guest("", "(unreachable)", "");
    let cap = load(&trap, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::Trap { .. })
    ));

    let start = guest(
        "",
        "(call $ok (local.get $ptr) (local.get $len))",
        "(func $forever (loop $l (br $l))) (start $forever)",
    );
    let cap = load(&start, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::FuelExhausted { .. })
    ));
    still_serves();
}

#[test]
fn abi_violations_are_caught_at_the_boundary() {
    // A result pointer outside memory.
    let wild = guest("", "(i64.const 0x7fff000000000010)", "");
    let cap = load(&wild, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::AbiViolation { .. })
    ));
    // A length past the end of memory.
    let past = guest(
        "",
        "(i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 200000))",
        "",
    );
    let cap = load(&past, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::AbiViolation { .. })
    ));
    // A huge claimed result.
    let huge = guest("", "(i64.const 0x00000000ffffffff)", "");
    let cap = load(&huge, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::TooLarge { .. })
    ));
    // Garbage bytes as a result.
    let garbage = guest(
        "",
        "(i64.or (i64.shl (i64.const 0) (i64.const 32)) (i64.const 3))",
        "",
    );
    let cap = load(&garbage, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::AbiViolation { .. })
    ));
    // An allocator returning an out-of-bounds pointer.
    let bad_alloc = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "kiln_abi_v1"))
           (func (export "kiln_alloc") (param i32) (result i32) (i32.const 0x7ffffff0))
           (func (export "kiln_invoke") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    let cap = load(&bad_alloc, &[]).unwrap();
    assert!(matches!(
        call(&cap, &v("[1 2 3]"), small()),
        Err(SandboxError::AbiViolation { .. })
    ));
    // A trap inside the allocator.
    let trap_alloc = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "kiln_abi_v1"))
           (func (export "kiln_alloc") (param i32) (result i32) (unreachable))
           (func (export "kiln_invoke") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    let cap = load(&trap_alloc, &[]).unwrap();
    assert!(matches!(
        call(&cap, &Value::Nil, small()),
        Err(SandboxError::Trap { .. })
    ));
    // An error envelope comes back as the guest's error.
    let err = guest(
        "",
        "(i64.or (i64.shl (i64.const 100) (i64.const 32)) (i64.const 27))",
        r#"(data (i32.const 100) "\a1\d9\9c\40\65error\a1\d9\9c\40\64kind\d9\9c\40\64my/e")"#,
    );
    let cap = load(&err, &[]).unwrap();
    match call(&cap, &Value::Nil, small()) {
        Err(SandboxError::Guest { kind, .. }) => assert_eq!(kind, "my/e"),
        other => panic!("error envelope: {other:?}"),
    }
    still_serves();
}

#[test]
fn install_checks_refuse_before_compiling() {
    // An import kiln does not provide.
    let unknown = guest(
        r#"(import "env" "system" (func $system (param i32)))"#,
        "(call $ok (local.get $ptr) (local.get $len))",
        "",
    );
    match load(&unknown, &[]) {
        Err(SandboxError::ImportNotCovered { import, .. }) => assert_eq!(import, "env.system"),
        other => panic!("unknown import: {other:?}"),
    }
    // WASI without declaring (or being granted) the effect.
    let wasi = guest(
        r#"(import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#,
        "(call $ok (local.get $ptr) (local.get $len))",
        "",
    );
    match load(&wasi, &[]) {
        Err(SandboxError::ImportNotCovered {
            import,
            effect,
            why,
        }) => {
            assert_eq!(
                (import.as_str(), effect.as_str(), why.as_str()),
                ("wasi_snapshot_preview1.path_open", ":fs/read", "declared")
            );
        }
        other => panic!("wasi import: {other:?}"),
    }
    // Declared but not granted.
    let declared = effects(&[Effect::FsRead]);
    match sandbox().load(&wasi, &declared, &BTreeSet::new()) {
        Err(SandboxError::ImportNotCovered { why, .. }) => assert_eq!(why, "granted"),
        other => panic!("ungranted effect: {other:?}"),
    }
    // kiln.call needs :call.
    let caller = guest(
        r#"(import "kiln" "call" (func $call (param i32 i32 i32 i32) (result i64)))"#,
        "(call $ok (local.get $ptr) (local.get $len))",
        "",
    );
    assert!(matches!(
        load(&caller, &[]),
        Err(SandboxError::ImportNotCovered { .. })
    ));
    assert!(load(&caller, &[Effect::Call]).is_ok());
    // A compile bomb: too many functions.
    let many = "(func)".repeat(100_001);
    let bomb = guest("", "(call $ok (local.get $ptr) (local.get $len))", &many);
    assert!(matches!(
        load(&bomb, &[]),
        Err(SandboxError::TooLarge { .. })
    ));
    // A huge initial memory.
    let big = wat::parse_str(r#"(module (memory (export "memory") 60000) (func (export "kiln_abi_v1")) (func (export "kiln_alloc") (param i32) (result i32) (i32.const 0)) (func (export "kiln_invoke") (param i32 i32) (result i64) (i64.const 0)))"#).unwrap();
    assert!(matches!(
        load(&big, &[]),
        Err(SandboxError::TooLarge { .. })
    ));
    // Not wasm at all; missing exports.
    assert!(matches!(
        load(b"\0asm garbage", &[]),
        Err(SandboxError::InvalidModule { .. })
    ));
    let no_abi = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    assert!(matches!(
        load(&no_abi, &[]),
        Err(SandboxError::InvalidModule { .. })
    ));
    still_serves();
}

/// Calls `kiln.call` with the input as id and argument, as a guest that forwards.
fn forwarder() -> Vec<u8> {
    guest(
        r#"(import "kiln" "call" (func $call (param i32 i32 i32 i32) (result i64)))"#,
        // id "fwd" at 64; the argument is our own input.
        r#"(local $r i64)
           (local.set $r (call $call (i32.const 64) (i32.const 3) (local.get $ptr) (local.get $len)))
           (local.get $r)"#,
        r#"(data (i32.const 64) "fwd")"#,
    )
}

struct Forward {
    cap: Arc<Capability>,
}

impl Dispatcher for Forward {
    fn dispatch(
        &self,
        call: &mut NestedCall<'_>,
        id: &str,
        arg: Value,
    ) -> Result<Value, SandboxError> {
        assert_eq!(id, "fwd");
        call.run(&self.cap, &arg, small())
    }
}

#[test]
fn nested_calls_stop_at_the_nesting_limit() {
    let cap = load(&forwarder(), &[Effect::Call]).unwrap();
    let d = Arc::new(Forward { cap: cap.clone() });
    // Every level forwards; the innermost one is refused, and each level passes the refusal
    // back up as an error envelope, which arrives here as the guest's error.
    match sandbox().call(&cap, &v("[1 2]"), small(), d) {
        Err(SandboxError::Guest { kind, message, .. }) => {
            assert_eq!(kind, "error/capability");
            assert!(message.contains("nested deeper"), "{message}");
        }
        other => panic!("nesting: {other:?}"),
    }
    still_serves();
}

/// Counts the calls that hold their memory at once: each guest, with its memory grown,
/// calls out through `kiln.call` and is held here for a moment, so calls overlap.
#[derive(Default)]
struct Holding {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Dispatcher for Holding {
    fn dispatch(&self, _: &mut NestedCall<'_>, _: &str, arg: Value) -> Result<Value, SandboxError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(n, SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        self.now.fetch_sub(1, SeqCst);
        Ok(arg)
    }
}

/// 64 calls at once of a guest that grows its memory by 32 MiB (to 32 MiB + 128 KiB), under
/// a process-wide budget of `budget` bytes: each call's outcome, and the most calls that held
/// their memory at once.
fn hungry_calls(budget: u64) -> (Vec<Result<String, SandboxError>>, usize) {
    // A sandbox of its own, so its budget is not shared with other tests.
    let sb = Sandbox::new(SandboxConfig {
        process_memory_budget: budget,
        ..SandboxConfig::default()
    })
    .unwrap();
    let hungry = guest(
        r#"(import "kiln" "call" (func $call (param i32 i32 i32 i32) (result i64)))"#,
        // A failed grow returns -1, and a refused one traps: only a guest that holds its
        // memory calls out.
        r#"(if (i32.eq (memory.grow (i32.const 512)) (i32.const -1)) (then (unreachable)))
           (call $call (i32.const 64) (i32.const 4) (local.get $ptr) (local.get $len))"#,
        r#"(data (i32.const 64) "hold")"#,
    );
    let call = effects(&[Effect::Call]);
    let cap = sb.load(&hungry, &call, &call).unwrap();
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..small()
    };
    let holding = Arc::new(Holding::default());
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let (sb, cap, holding) = (sb.clone(), cap.clone(), holding.clone());
            std::thread::spawn(move || {
                sb.call(&cap, &Value::Int(i), limits, holding)
                    .map(|o| rtfs::print::print(&o.value))
            })
        })
        .collect();
    let out = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sb.budget_left(), budget, "memory reservations leaked");
    let most = holding.most.load(std::sync::atomic::Ordering::SeqCst);
    (out, most)
}

#[test]
fn concurrent_memory_hungry_calls_stay_within_the_budget() {
    // Room for every worker at once: all 64 succeed, and more than two run at once (so the
    // count below could see a third).
    let (all, most) = hungry_calls(400 << 20);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.as_deref(), Ok(i.to_string().as_str()));
    }
    assert!(most > 2, "only {most} calls ever ran at once");
    // Room for two at once (2 × 32.125 MiB of 70 MiB): a third is refused with a typed
    // error naming the budget, some are, and never do more than two hold memory at once.
    let (some, most) = hungry_calls(70 << 20);
    let busy = some
        .iter()
        .filter(|r| matches!(r, Err(SandboxError::Busy { what }) if what.contains("memory budget")))
        .count();
    for (i, r) in some.iter().enumerate() {
        assert!(
            r.as_deref() == Ok(i.to_string().as_str())
                || matches!(r, Err(SandboxError::Busy { .. })),
            "{r:?}"
        );
    }
    assert!(busy > 0, "no call was refused: {some:?}");
    assert!(busy < 64, "every call was refused");
    assert!((1..=2).contains(&most), "{most} calls held memory at once");
    still_serves();
}

#[test]
fn the_code_cache_is_verified_and_shared() {
    use kiln_sandbox::{CacheOutcome, CodeCache, FileIndex};
    let dir = std::env::temp_dir().join(format!("kiln-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let index = Arc::new(FileIndex::new(dir.join("index")).unwrap());
    let cache = CodeCache::new(dir.join("cache"), index).unwrap();
    // A module no other test loads, so this sandbox compiles it.
    let module = guest(
        "",
        "(call $ok (local.get $ptr) (local.get $len))",
        "(func $unique (result i32) (i32.const 770077))",
    );
    let none = BTreeSet::new();
    let fresh = || Sandbox::new(SandboxConfig::default()).unwrap();
    let first = fresh()
        .load_cached(&module, &none, &Grants::default(), &cache)
        .unwrap()
        .cache;
    assert_eq!(first, CacheOutcome::Miss);
    // A new sandbox (think: a new process with the same cache) loads the verified artifact.
    let sb = fresh();
    let loaded = sb
        .load_cached(&module, &none, &Grants::default(), &cache)
        .unwrap();
    let (cap, second) = (loaded.capability, loaded.cache);
    assert_eq!(second, CacheOutcome::Hit);
    let out = sb
        .call(&cap, &v("[:cached 1]"), small(), Arc::new(NoDispatch))
        .unwrap();
    assert_eq!(out.value, v("[:cached 1]"));
    // A tampered artifact is never used: it is detected, recompiled and replaced.
    let sha: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(&module).into()
    };
    let path = cache.path(&CodeCache::key(sb.engine(), &sha));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let sb = fresh();
    let loaded = sb
        .load_cached(&module, &none, &Grants::default(), &cache)
        .unwrap();
    let (cap, third) = (loaded.capability, loaded.cache);
    assert_eq!(third, CacheOutcome::Replaced);
    let out = sb
        .call(&cap, &Value::Int(7), small(), Arc::new(NoDispatch))
        .unwrap();
    assert_eq!(
        out.value,
        Value::Int(7),
        "the replaced artifact runs the module"
    );
    let fourth = fresh()
        .load_cached(&module, &none, &Grants::default(), &cache)
        .unwrap()
        .cache;
    assert_eq!(fourth, CacheOutcome::Hit);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kiln_call_with_garbage_pointers_is_an_abi_violation() {
    let imports = r#"(import "kiln" "call" (func $call (param i32 i32 i32 i32) (result i64)))"#;
    for (what, args) in [
        (
            "id outside memory",
            "(i32.const 0x7ffffff0) (i32.const 8) (i32.const 0) (i32.const 0)",
        ),
        (
            "huge id",
            "(i32.const 64) (i32.const 100000) (i32.const 0) (i32.const 0)",
        ),
        (
            "negative id length",
            "(i32.const 64) (i32.const -1) (i32.const 0) (i32.const 0)",
        ),
        (
            "argument outside memory",
            "(i32.const 64) (i32.const 3) (i32.const 0x7ffffff0) (i32.const 64)",
        ),
        (
            "undecodable argument",
            "(i32.const 64) (i32.const 3) (i32.const 64) (i32.const 3)",
        ),
    ] {
        let bad = guest(
            imports,
            &format!("(call $call {args})"),
            r#"(data (i32.const 64) "fwd")"#,
        );
        let cap = load(&bad, &[Effect::Call]).unwrap();
        let r = sandbox()
            .call(&cap, &Value::Nil, small(), Arc::new(NoDispatch))
            .map(|o| o.value);
        assert!(
            matches!(
                r,
                Err(SandboxError::AbiViolation { .. }) | Err(SandboxError::TooLarge { .. })
            ),
            "{what}: {r:?}"
        );
    }
    still_serves();
}

/// Recurses `depth` wasm frames (each with locals), then forwards its input through
/// `kiln.call`.
fn deep_forwarder(depth: u32) -> Vec<u8> {
    guest(
        r#"(import "kiln" "call" (func $call (param i32 i32 i32 i32) (result i64)))"#,
        &format!("(call $down (i32.const {depth}) (local.get $ptr) (local.get $len))"),
        r#"(data (i32.const 64) "fwd")
           (func $down (param $n i32) (param $p i32) (param $l i32) (result i64)
             (local $a i64) (local $b i64) (local $c i64) (local $d i64)
             (if (result i64) (i32.eqz (local.get $n))
               (then (call $call (i32.const 64) (i32.const 3) (local.get $p) (local.get $l)))
               (else (call $down (i32.sub (local.get $n) (i32.const 1)) (local.get $p) (local.get $l)))))"#,
    )
}

#[test]
fn nesting_to_the_limit_with_deep_wasm_recursion_at_every_level() {
    // Deep enough to use a good part of the wasm stack at every level, shallow enough not to
    // overflow it: the worker's native stack must hold all levels at once.
    let cap = load(&deep_forwarder(3000), &[Effect::Call]).unwrap();
    let d = Arc::new(Forward { cap: cap.clone() });
    match sandbox().call(&cap, &v("[1 2]"), small(), d) {
        Err(SandboxError::Guest { message, .. }) => {
            assert!(message.contains("nested deeper"), "{message}")
        }
        other => panic!("deep nesting: {other:?}"),
    }
    // Beyond the wasm stack limit at one level it is a clean StackOverflow.
    let cap = load(&deep_forwarder(1_000_000), &[Effect::Call]).unwrap();
    let d = Arc::new(Forward { cap: cap.clone() });
    let r = sandbox().call(&cap, &v("1"), small(), d);
    assert!(matches!(r, Err(SandboxError::StackOverflow)), "{r:?}");
    still_serves();
}

struct Reentrant;

impl Dispatcher for Reentrant {
    fn dispatch(&self, _: &mut NestedCall<'_>, _: &str, arg: Value) -> Result<Value, SandboxError> {
        let cap = load(&echo(), &[]).unwrap();
        sandbox()
            .call(&cap, &arg, small(), Arc::new(NoDispatch))
            .map(|o| o.value)
    }
}

#[test]
fn plans_run_on_a_worker_call_inline_and_dispatchers_cannot_deadlock_the_pool() {
    let cap = load(&echo(), &[]).unwrap();
    let out = sandbox()
        .run_on_worker(move || {
            (0..100)
                .map(|i| {
                    let o = sandbox()
                        .call(&cap, &Value::Int(i), small(), Arc::new(NoDispatch))
                        .unwrap();
                    rtfs::print::print(&o.value)
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(out.len(), 100);
    assert_eq!(out[99], "99");
    // A dispatcher that (wrongly) starts a top-level call is refused, not deadlocked.
    let fwd = load(&forwarder(), &[Effect::Call]).unwrap();
    match sandbox().call(&fwd, &Value::Int(1), small(), Arc::new(Reentrant)) {
        Err(SandboxError::Guest { message, .. }) => {
            assert!(message.contains("NestedCall::run"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    still_serves();
}
