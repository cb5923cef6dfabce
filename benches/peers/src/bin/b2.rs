//! Benchmark B2: the same trivial echo capability through Extism 1.30.0 and through kiln,
//! both written in Rust (extism-pdk / kiln-guest), both instantiating a fresh instance per
//! call from a precompiled module (Extism: `Plugin::new_from_compiled`; kiln: a `Store` from
//! its cached `InstancePre`), on the calling thread (kiln: a sandbox worker, inline — how
//! plans call capabilities). Reports Extism ÷ kiln; target ≥ 1 (kiln faster).
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

    let (mut tk, mut te) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while tk.len() < 500 || (start.elapsed() < budget && tk.len() < 50_000) {
        let (sb2, cap2, p) = (sb.clone(), cap.clone(), payload.clone());
        tk.push(
            sb.run_on_worker(move || {
                let input = rtfs::Value::str(&p);
                let t = Instant::now();
                let out = sb2
                    .call(&cap2, &input, Limits::default(), Arc::new(NoDispatch))
                    .expect("kiln echo");
                let d = t.elapsed();
                assert_eq!(out.value, input);
                d
            })
            .expect("worker"),
        );
        let t = Instant::now();
        let mut plugin = Plugin::new_from_compiled(&compiled).expect("extism instantiates");
        let out: Vec<u8> = plugin
            .call("echo", payload.as_bytes())
            .expect("extism echo");
        te.push(t.elapsed());
        assert_eq!(out.len(), payload.len());
    }
    let (k, e) = (median(tk), median(te));
    println!(
        "{:<52} {:>10} {:>10} {:>8} {:>7}",
        "benchmark", "extism", "kiln", "ratio", "target"
    );
    println!(
        "{:<52} {:>8.1}µs {:>8.1}µs {:>8.2} {:>7}",
        "B2 trivial echo, fresh instance: Extism ÷ kiln",
        e.as_secs_f64() * 1e6,
        k.as_secs_f64() * 1e6,
        e.as_secs_f64() / k.as_secs_f64(),
        "≥ 1"
    );
}
