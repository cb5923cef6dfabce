//! Sandbox benchmarks (`cargo xtask bench sandbox`): each a ratio against a baseline measured
//! in the same run, alternating the two. Instances are fresh on both sides of every ratio.
//!
//! - B1: a trivial capability through kiln-sandbox (encode, instantiate from `InstancePre`,
//!   invoke, decode, on a worker thread) ÷ bare wasmtime pooled instantiate + call of an
//!   equivalent export: the same module through the same ABI exchange (alloc, write the
//!   input, invoke, read the result), on an engine with the same pool but no fuel or epochs,
//!   alternating on the same worker thread. Target ≤ 1.5×. Also reported: the ratio against
//!   a call that writes no guest memory (so frees no dirty page), and the cost of calling
//!   from a thread that is not a sandbox worker (one hop there and back).
//! - B3: group-by + frequencies over 1 000 records in rtfs-engine ÷ the same program on the
//!   host evaluator (both compile the program each time). Target ≤ 3×.
//! - B4: SHA-256 of 1 MiB in a Rust guest with fuel + epoch ÷ the same with no limits.
//!   Target ≤ 1.6×.
//! - B5 (first call in a new process, warm code cache) is measured by xtask with the binary.
//!
//! Needs the guests: `cargo xtask build-guests`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_sandbox::{Limits, NoDispatch, Sandbox, SandboxConfig};
use rtfs::Value;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, Store};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(
    a: &mut dyn FnMut(),
    b: &mut dyn FnMut(),
    min: usize,
    budget: Duration,
) -> (Duration, Duration) {
    a();
    b();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while ta.len() < min || (start.elapsed() < budget && ta.len() < 100_000) {
        let t = Instant::now();
        a();
        ta.push(t.elapsed());
        let t = Instant::now();
        b();
        tb.push(t.elapsed());
    }
    (median(ta), median(tb))
}

fn guest(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../capabilities/target/wasm32-unknown-unknown/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask build-guests`", p.display()))
}

const ECHO: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\a1\d9\9c\40\62\6f\6b")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "kiln_abi_v1"))
  (func $alloc (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "kiln_invoke") (param $ptr i32) (param $len i32) (result i64)
    (local $dst i32)
    (local.set $dst (call $alloc (i32.add (local.get $len) (i32.const 7))))
    (memory.copy (local.get $dst) (i32.const 0) (i32.const 7))
    (memory.copy (i32.add (local.get $dst) (i32.const 7)) (local.get $ptr) (local.get $len))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $dst)) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $len) (i32.const 7)))))
  (func (export "run") (param i32) (result i32) (local.get 0)))"#;

fn bare_engine(limits: bool) -> Engine {
    let mut c = Config::new();
    c.consume_fuel(limits).epoch_interruption(limits);
    // The same pool as kiln's engine (SandboxConfig::default(): 8 workers × 5 levels), so
    // that instantiation and memory reset cost the same on both sides; only the limits differ.
    let pool = kiln_sandbox::engine::pool_config(40, 256 << 20);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&c).expect("engine")
}

/// Runs a guest through the ABI by hand on an engine (the no-limits baseline of B4).
fn bare_abi_call(engine: &Engine, pre: &wasmtime::InstancePre<()>, input: &[u8]) -> Vec<u8> {
    let mut store = Store::new(engine, ());
    let inst = pre.instantiate(&mut store).unwrap();
    let mem = inst.get_memory(&mut store, "memory").unwrap();
    let alloc = inst
        .get_typed_func::<i32, i32>(&mut store, "kiln_alloc")
        .unwrap();
    let invoke = inst
        .get_typed_func::<(i32, i32), i64>(&mut store, "kiln_invoke")
        .unwrap();
    let p = alloc.call(&mut store, input.len() as i32).unwrap();
    mem.data_mut(&mut store)[p as usize..p as usize + input.len()].copy_from_slice(input);
    let r = invoke.call(&mut store, (p, input.len() as i32)).unwrap() as u64;
    let (rp, rl) = ((r >> 32) as usize, (r & 0xffff_ffff) as usize);
    mem.data(&store)[rp..rp + rl].to_vec()
}

fn main() {
    let budget = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let sb = Sandbox::new(SandboxConfig::default()).expect("sandbox");
    let none = BTreeSet::new();
    let limits = Limits::default();
    println!(
        "{:<44} {:>12} {:>12} {:>7} {:>7}",
        "benchmark", "kiln", "baseline", "ratio", "target"
    );
    let row = |name: &str, k: Duration, b: Duration, target: &str| {
        println!(
            "{:<44} {:>10.1}µs {:>10.1}µs {:>7.2} {:>7}",
            name,
            k.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            k.as_secs_f64() / b.as_secs_f64(),
            target
        );
    };

    // B1
    let echo = wat::parse_str(ECHO).unwrap();
    let cap = sb.load(&echo, &none, &none).unwrap();
    let input = Value::Int(42);
    let bare = bare_engine(false);
    let module = Module::new(&bare, &echo).unwrap();
    let pre = Linker::<()>::new(&bare).instantiate_pre(&module).unwrap();
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "B1") {
        // For profiling: many inline calls in one worker job.
        let (sb2, cap2) = (sb.clone(), cap.clone());
        let per = sb
            .run_on_worker(move || {
                let input = Value::Int(42);
                let t = Instant::now();
                for _ in 0..400_000 {
                    sb2.call(&cap2, &input, Limits::default(), Arc::new(NoDispatch))
                        .unwrap();
                }
                t.elapsed() / 400_000
            })
            .unwrap();
        println!("inline, one job: {:.1}µs per call", per.as_secs_f64() * 1e6);
        return;
    }

    let input_bytes = rtfs::encoding::encode(&input).unwrap();
    // Baseline "equivalent export": the same module through the same ABI exchange (alloc,
    // write the input, invoke, read the result) on a bare pooled engine without limits.
    let bare_abi = {
        let (bare, pre, input_bytes) = (bare.clone(), pre.clone(), input_bytes.clone());
        move || {
            let out = bare_abi_call(&bare, &pre, &input_bytes);
            assert_eq!(out.len(), input_bytes.len() + 7);
        }
    };
    // Reference only: the least a call can do (one typed i32 -> i32 export, no memory
    // written, so no dirty page to reset when the instance is freed).
    let bare_min = {
        let (bare, pre) = (bare.clone(), pre.clone());
        move || {
            let mut store = Store::new(&bare, ());
            let inst = pre.instantiate(&mut store).unwrap();
            let run = inst.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
            assert_eq!(run.call(&mut store, 42).unwrap(), 42);
        }
    };
    let (k, b) = measure(
        &mut || {
            sb.call(&cap, &input, limits, Arc::new(NoDispatch)).unwrap();
        },
        &mut bare_abi.clone(),
        200,
        budget,
    );
    row("B1 trivial call from another thread (hop)", k, b, "-");
    // The way plans call capabilities: on a sandbox worker, inline. Both sides alternate on
    // the same worker thread; every instance is fresh on both sides.
    let (sb2, cap2) = (sb.clone(), cap.clone());
    let (ki, ba, bm) = sb
        .run_on_worker(move || {
            let input = Value::Int(42);
            let (mut ki, mut ba, mut bm) = (Vec::new(), Vec::new(), Vec::new());
            let start = Instant::now();
            while ki.len() < 1000 || (start.elapsed() < budget && ki.len() < 200_000) {
                let t = Instant::now();
                sb2.call(&cap2, &input, limits, Arc::new(NoDispatch))
                    .unwrap();
                ki.push(t.elapsed());
                let t = Instant::now();
                bare_abi();
                ba.push(t.elapsed());
                let t = Instant::now();
                bare_min();
                bm.push(t.elapsed());
            }
            (median(ki), median(ba), median(bm))
        })
        .unwrap();
    row(
        "B1 trivial call on a plan's worker (inline)",
        ki,
        ba,
        "≤ 1.5",
    );
    row(
        "   (reference: ÷ a call that writes no memory)",
        ki,
        bm,
        "-",
    );

    // B3
    let engine_cap = sb
        .load(
            &guest("rtfs_engine"),
            &[kiln_sandbox::Effect::Call].into_iter().collect(),
            &[kiln_sandbox::Effect::Call].into_iter().collect(),
        )
        .unwrap();
    let program = r#"(capability "b3" :implementation
  (fn [n]
    (let [states ["open" "closed" "review"]
          records (map (fn [i] {:id i :state (nth states (mod i 3)) :label (str "label-" (mod i 7))}) (range n))
          groups (group-by :state records)]
      [(count (get groups "open")) (frequencies (map :label records))])))"#;
    let arg = Value::map(vec![
        (Value::keyword("program"), Value::str(program)),
        (Value::keyword("input"), Value::Int(1000)),
    ]);
    let (k, b) = measure(
        &mut || {
            sb.call(&engine_cap, &arg, limits, Arc::new(NoDispatch))
                .unwrap();
        },
        &mut || {
            let mut it = rtfs::Interpreter::default();
            let mut h = rtfs::host::DescriptorHost::default();
            let p = it.compile(program, None).unwrap();
            it.run(&p, &mut h).unwrap();
            let imp = h.descriptors[0].get_key("implementation").unwrap().clone();
            it.apply(&imp, &[Value::Int(1000)], &mut h).unwrap();
        },
        20,
        budget,
    );
    row("B3 group-by 1e3: rtfs-engine ÷ host evaluator", k, b, "≤ 3");

    // B4
    let sha = guest("hash_sha256");
    let sha_cap = sb.load(&sha, &none, &none).unwrap();
    let mib = Value::map(vec![(Value::keyword("bytes"), Value::Int(1 << 20))]);
    let mib_bytes = rtfs::encoding::encode(&mib).unwrap();
    let free = bare_engine(false);
    let free_pre = Linker::<()>::new(&free)
        .instantiate_pre(&Module::new(&free, &sha).unwrap())
        .unwrap();
    let want = sb
        .call(&sha_cap, &mib, limits, Arc::new(NoDispatch))
        .unwrap()
        .value;
    let got = rtfs::encoding::decode(
        &bare_abi_call(&free, &free_pre, &mib_bytes),
        Default::default(),
    )
    .unwrap();
    assert_eq!(
        got.get_key("ok"),
        Some(&want),
        "both sides compute the same digest"
    );
    let (k, b) = measure(
        &mut || {
            sb.call(&sha_cap, &mib, limits, Arc::new(NoDispatch))
                .unwrap();
        },
        &mut || {
            bare_abi_call(&free, &free_pre, &mib_bytes);
        },
        20,
        budget,
    );
    row("B4 SHA-256 1 MiB: fuel+epoch ÷ no limits", k, b, "≤ 1.6");
}
