//! Governance overhead (`cargo xtask bench governance`), beside a baseline measured in the
//! same run on the same sandbox worker:
//!
//! - a governed pure call (resolve, decide, execute, record input/output/cost; the chain
//!   entries group-committed at the end of each batch of 1 000 calls, as at a plan's end) ÷ a
//!   direct sandbox call of the same trivial capability (the `echo` guest), twice: with the
//!   same input every call (its input/output object is written once, then only found again)
//!   and with a distinct input per call (each call's object is new, so each call pays an
//!   object write — temporary file, fsync, rename — at the group commit: what a plan calling
//!   on new data pays). Each against a direct call on the same inputs in the same run. Target
//!   ≤ 1.3× for the first;
//! - a governed effectful call (its decision committed durably before it runs), in µs, beside
//!   the same sandbox call plus one durable chain append measured on their own.
//!
//! Needs the guests: `cargo xtask build-guests`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_kernel::dispatch::{Budget, Governed};
use kiln_sandbox::{Limits, NoDispatch};
use rtfs::Value;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let echo = root.join("capabilities/target/wasm32-unknown-unknown/release/echo.wasm");
    if !echo.exists() {
        eprintln!(
            "{} is missing: run `cargo xtask build-guests`",
            echo.display()
        );
        std::process::exit(1);
    }
    let base = std::env::temp_dir().join(format!("kiln-bench-gov-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let fx = base.join("fx.rtfs");
    std::fs::write(&fx, r#"(capability "echo.fx" :effects [:clock])"#).unwrap();
    let rt = kiln_kernel::open(&base.join("home"), None).expect("home");
    kiln_kernel::install::install(&rt, &echo, "echo", None).expect("install echo");
    kiln_kernel::install::install(&rt, &echo, "echo.fx", Some(&fx)).expect("install echo.fx");
    let rt2 = rt.clone();
    let report = rt
        .sandbox()
        .run_on_worker(move || {
            let rt = rt2;
            let cap = rt.load("echo").expect("load").capability;
            let arg = Value::str("a trivial input");
            let limits = Limits::default();
            let budget = Arc::new(Budget::new(u64::MAX / 2, Duration::from_secs(3600)));
            let gate = rt.kernel().gate();
            let journal = gate
                .start_plan(None, "<bench>", "nil", Value::Nil)
                .expect("plan");
            let gov = Governed::new(
                rt.clone(),
                kiln_kernel::natives::ALL,
                journal,
                budget,
                Arc::new(kiln_kernel::datasets::Datasets::none()),
            );
            let appends = gate
                .start_plan(None, "<bench appends>", "nil", Value::Nil)
                .expect("plan");
            let batch = 1000;
            let (mut direct, mut governed) = (Vec::new(), Vec::new());
            for _ in 0..7 {
                let t = Instant::now();
                for _ in 0..batch {
                    rt.sandbox()
                        .call(&cap, &arg, limits, Arc::new(NoDispatch))
                        .expect("direct");
                }
                direct.push(t.elapsed() / batch);
                let t = Instant::now();
                for _ in 0..batch {
                    gov.call(None, "echo", &arg).expect("governed");
                }
                gov.flush().expect("flush");
                governed.push(t.elapsed() / batch);
            }
            let (d, g) = (median(direct), median(governed));
            // Distinct inputs, never seen by the home: prepared before the clock starts, the
            // same length as the input above, one set per batch for each side.
            let inputs = |side: &str, round: usize| -> Vec<Value> {
                (0..batch)
                    .map(|i| Value::str(&format!("{side}{round:02}-{i:011}")))
                    .collect()
            };
            let (mut direct_new, mut governed_new) = (Vec::new(), Vec::new());
            for round in 0..7 {
                let args = inputs("d", round);
                let t = Instant::now();
                for arg in &args {
                    rt.sandbox()
                        .call(&cap, arg, limits, Arc::new(NoDispatch))
                        .expect("direct");
                }
                direct_new.push(t.elapsed() / batch);
                let args = inputs("g", round);
                let t = Instant::now();
                for arg in &args {
                    gov.call(None, "echo", arg).expect("governed");
                }
                gov.flush().expect("flush");
                governed_new.push(t.elapsed() / batch);
            }
            let (dn, gn) = (median(direct_new), median(governed_new));
            // Effectful: each call's decision is one durable commit before it runs.
            let (mut fx, mut parts) = (Vec::new(), Vec::new());
            for _ in 0..200 {
                let t = Instant::now();
                gov.call(None, "echo.fx", &arg).expect("effectful");
                fx.push(t.elapsed());
                let t = Instant::now();
                rt.sandbox()
                    .call(&cap, &arg, limits, Arc::new(NoDispatch))
                    .expect("direct");
                gate.record_now(&appends, "bench", Value::Nil, "ok")
                    .expect("append");
                parts.push(t.elapsed());
            }
            gov.flush().expect("flush");
            (d, g, dn, gn, median(fx), median(parts))
        })
        .expect("worker");
    let (d, g, dn, gn, fx, parts) = report;
    let us = |x: Duration| x.as_secs_f64() * 1e6;
    println!(
        "{:<58} {:>10} {:>10} {:>7} {:>7}",
        "benchmark", "kiln", "baseline", "ratio", "target"
    );
    println!(
        "{:<58} {:>8.1}µs {:>8.1}µs {:>7.2} {:>7}",
        "governed pure call ÷ direct call (echo, same input)",
        us(g),
        us(d),
        g.as_secs_f64() / d.as_secs_f64(),
        "≤ 1.3"
    );
    println!(
        "{:<58} {:>8.1}µs {:>8.1}µs {:>7.2} {:>7}",
        "governed pure call ÷ direct call (echo, distinct inputs)",
        us(gn),
        us(dn),
        gn.as_secs_f64() / dn.as_secs_f64(),
        "-"
    );
    println!(
        "{:<58} {:>8.1}µs {:>8.1}µs {:>7.2} {:>7}",
        "governed effectful call ÷ (sandbox call + 1 durable append)",
        us(fx),
        us(parts),
        fx.as_secs_f64() / parts.as_secs_f64(),
        "≈ 1"
    );
    drop(rt);
    let _ = std::fs::remove_dir_all(&base);
}
