//! Benchmark B2: the same trivial echo capability through Extism 1.30.0 and through kiln,
//! both written in Rust (extism-pdk / kiln-guest), both instantiating a fresh instance per
//! call from a precompiled module (Extism: `Plugin::new_from_compiled`; kiln: a `Store` from
//! its cached `InstancePre`). Both sides are timed the same way — from the payload to the
//! result, instance creation and teardown included (Extism's `Plugin` is dropped inside the
//! timing, as kiln's `Store` is inside its call) — in two settings:
//!
//! - on a sandbox worker, both calls inline on the same thread (how plans call capabilities);
//! - from the calling (main) thread, where kiln's `Sandbox::call` hops to a worker and back
//!   and Extism runs where it is called (what an embedder calling from its own thread pays).
//!
//! Reports Extism ÷ kiln for each; target ≥ 1 (kiln faster).
//!
//! Needs `cargo xtask build-guests` and the Extism guest (`cargo xtask bench peers` builds
//! both).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use extism::{CompiledPlugin, Plugin, PluginBuilder};
use kiln_sandbox::{Limits, NoDispatch, Sandbox, SandboxConfig};

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask bench peers`", p.display()))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let kiln_wasm =
        read(&root.join("capabilities/target/wasm32-unknown-unknown/release/echo.wasm"));
    let extism_wasm = read(&root.join(
        "benches/peers/guests/extism-echo/target/wasm32-unknown-unknown/release/extism_echo.wasm",
    ));
    let budget = Duration::from_secs(
        std::env::var("PEERS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let payload = "x".repeat(64);

    let compiled = CompiledPlugin::new(PluginBuilder::new(extism_wasm).with_wasi(false))
        .expect("extism compiles");
    let mut check = Plugin::new_from_compiled(&compiled).expect("extism instantiates");
    let out: Vec<u8> = check.call("echo", payload.as_bytes()).expect("extism echo");
    assert_eq!(out, payload.as_bytes());

    let sb = Sandbox::new(SandboxConfig::default()).expect("sandbox");
    let none = BTreeSet::new();
    let cap = sb.load(&kiln_wasm, &none, &none).expect("kiln loads");
    let compiled = Arc::new(compiled);

    // One round: each side once on a worker, then each side once from this thread, the order
    // alternating between rounds.
    let (mut kiln_worker, mut extism_worker) = (Vec::new(), Vec::new());
    let (mut kiln_caller, mut extism_caller) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut round = 0usize;
    while round < 500 || (start.elapsed() < budget && round < 50_000) {
        let kiln_first = round % 2 == 0;
        let (sb2, cap2, compiled2, p) =
            (sb.clone(), cap.clone(), compiled.clone(), payload.clone());
        let (k, e) = sb
            .run_on_worker(move || {
                let k = || time_kiln(&sb2, &cap2, &p);
                let e = || time_extism(&compiled2, &p);
                if kiln_first {
                    let k = k();
                    (k, e())
                } else {
                    let e = e();
                    (k(), e)
                }
            })
            .expect("worker");
        kiln_worker.push(k);
        extism_worker.push(e);
        if kiln_first {
            kiln_caller.push(time_kiln(&sb, &cap, &payload));
            extism_caller.push(time_extism(&compiled, &payload));
        } else {
            extism_caller.push(time_extism(&compiled, &payload));
            kiln_caller.push(time_kiln(&sb, &cap, &payload));
        }
        round += 1;
    }
    println!(
        "{:<60} {:>10} {:>10} {:>8} {:>7}",
        "benchmark", "extism", "kiln", "ratio", "target"
    );
    for (name, e, k) in [
        (
            "B2 trivial echo, fresh instance, on a worker: Extism ÷ kiln",
            extism_worker,
            kiln_worker,
        ),
        (
            "B2 trivial echo, fresh instance, from main: Extism ÷ kiln",
            extism_caller,
            kiln_caller,
        ),
    ] {
        let (e, k) = (median(e), median(k));
        println!(
            "{:<60} {:>8.1}µs {:>8.1}µs {:>8.2} {:>7}",
            name,
            e.as_secs_f64() * 1e6,
            k.as_secs_f64() * 1e6,
            e.as_secs_f64() / k.as_secs_f64(),
            "≥ 1"
        );
    }
    println!("({round} rounds)");
}

/// One kiln call of `payload`, timed from the payload to the result: the input value made,
/// the call (a fresh `Store` and instance, dropped before it returns), the result decoded.
fn time_kiln(sb: &Sandbox, cap: &Arc<kiln_sandbox::Capability>, payload: &str) -> Duration {
    let t = Instant::now();
    let input = rtfs::Value::str(payload);
    let out = sb
        .call(cap, &input, Limits::default(), Arc::new(NoDispatch))
        .expect("kiln echo");
    let d = t.elapsed();
    assert_eq!(out.value.as_str(), Some(payload));
    d
}

/// One Extism call of `payload`, timed the same way: a fresh plugin from the compiled module,
/// the call, the output bytes, the plugin dropped.
fn time_extism(compiled: &CompiledPlugin, payload: &str) -> Duration {
    let t = Instant::now();
    let mut plugin = Plugin::new_from_compiled(compiled).expect("extism instantiates");
    let out: Vec<u8> = plugin
        .call("echo", payload.as_bytes())
        .expect("extism echo");
    drop(plugin);
    let d = t.elapsed();
    assert_eq!(out, payload.as_bytes());
    d
}
