//! Runs each M4 workload in kiln (RTFS, default limits) and in Rhai (idiomatic script, with
//! comparable limits switched on), alternating, and prints the medians and kiln ÷ Rhai.

use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine};
use rtfs::{Interpreter, NoHost};

struct Workload {
    name: &'static str,
    rtfs: &'static str,
    rhai: &'static str,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "fib 25",
        rtfs: include_str!("../../../runtime/rtfs/benches/workloads/fib.rtfs"),
        rhai: "fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }\nfib(25)",
    },
    Workload {
        name: "loop/recur 1e6",
        rtfs: include_str!("../../../runtime/rtfs/benches/workloads/loop.rtfs"),
        rhai: "let i = 0; while i < 1000000 { i += 1; } i",
    },
    Workload {
        name: "map/filter/reduce 1e5",
        rtfs: include_str!("../../../runtime/rtfs/benches/workloads/map_filter_reduce.rtfs"),
        rhai: "let a = []; for x in 0..100000 { a.push(x); }\n\
               a.map(|x| x * 2).filter(|x| x % 3 == 0).reduce(|sum, x| sum + x, 0)",
    },
    Workload {
        name: "group-by + frequencies 1e4",
        rtfs: include_str!("../../../runtime/rtfs/benches/workloads/group_by.rtfs"),
        rhai: r#"
let states = ["open", "closed", "review"];
let records = [];
for i in 0..10000 {
    records.push(#{ id: i, state: states[i % 3], label: "label-" + (i % 7) });
}
let groups = #{};
for r in records {
    let s = r.state;
    if groups.contains(s) { groups[s].push(r); } else { groups[s] = [r]; }
}
let freq = #{};
for r in records {
    let l = r.label;
    if freq.contains(l) { freq[l] += 1; } else { freq[l] = 1; }
}
[groups["open"].len(), freq]
"#,
    },
];

fn rhai_engine() -> Engine {
    let mut e = Engine::new();
    // Comparable to kiln's defaults: 1e8 operations (steps), call depth 10 000, 256 MiB strings.
    // Rhai's array and map size limits are left off: Rhai re-measures the whole value on every
    // mutation when they are on, which makes building a large array quadratic.
    e.set_max_operations(100_000_000);
    e.set_max_call_levels(10_000);
    e.set_max_string_size(256 << 20);
    e
}

/// Rhai with only operations and call levels limited: no data-size checks at all.
fn rhai_engine_light() -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(100_000_000);
    e.set_max_call_levels(10_000);
    e
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the contenders in turn, at least `min` samples each and about `budget` in total;
/// the median of each.
fn measure(fs: &mut [&mut dyn FnMut()], budget: Duration, min: usize) -> Vec<Duration> {
    for f in fs.iter_mut() {
        f();
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); fs.len()];
    let start = Instant::now();
    while times[0].len() < min || (start.elapsed() < budget && times[0].len() < 200) {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let s = Instant::now();
            f();
            t.push(s.elapsed());
        }
    }
    times.into_iter().map(median).collect()
}

/// A deterministic data file of about `bytes` bytes in RTFS and the same records in JSON.
fn data_files(bytes: usize) -> (String, String) {
    // Rhai parses JSON objects only, so both files are one object holding the records.
    let (mut r, mut j) = (String::from("{:records ["), String::from("{\"records\":["));
    let mut i = 0;
    while r.len() < bytes {
        if i > 0 {
            j.push(',');
        }
        r.push_str(&format!(
            "{{:id {i} :title \"Issue number {i} with some words\" :labels [\"bug\" \"p{}\"] :score {}.5 :open {}}}\n",
            i % 5, i % 100, i % 2 == 0
        ));
        j.push_str(&format!(
            "{{\"id\":{i},\"title\":\"Issue number {i} with some words\",\"labels\":[\"bug\",\"p{}\"],\"score\":{}.5,\"open\":{}}}\n",
            i % 5, i % 100, i % 2 == 0
        ));
        i += 1;
    }
    r.push_str("]}");
    j.push_str("]}");
    (r, j)
}

fn main() {
    let budget = Duration::from_secs(
        std::env::var("PEERS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let engine = rhai_engine();
    let light = rhai_engine_light();
    println!(
        "{:<28} {:>11} {:>11} {:>9} {:>11} {:>9}",
        "workload", "kiln", "rhai", "kiln/rhai", "rhai-light", "kiln/light"
    );
    let mut rows = Vec::new();
    for w in WORKLOADS {
        let program = Interpreter::default()
            .compile(w.rtfs, None)
            .expect("rtfs compiles");
        let ast = engine.compile(w.rhai).expect("rhai compiles");
        let kv = Interpreter::default()
            .run(&program, &mut NoHost)
            .expect("rtfs runs");
        let rv: Dynamic = engine.eval_ast(&ast).expect("rhai runs");
        eprintln!(
            "  {}: kiln {} | rhai {}",
            w.name,
            rtfs::print::print(&kv).chars().take(60).collect::<String>(),
            rv.to_string().chars().take(60).collect::<String>()
        );
        let t = measure(
            &mut [
                &mut || {
                    Interpreter::default()
                        .run(&program, &mut NoHost)
                        .expect("rtfs runs");
                },
                &mut || {
                    let _ = engine.eval_ast::<Dynamic>(&ast).expect("rhai runs");
                },
                &mut || {
                    let _ = light.eval_ast::<Dynamic>(&ast).expect("rhai runs");
                },
            ],
            budget,
            5,
        );
        rows.push((w.name, t));
    }
    let (rtfs_data, json_data) = data_files(1 << 20);
    let t = measure(
        &mut [
            &mut || {
                rtfs::reader::read_expr(&rtfs_data, &Default::default())
                    .expect("reads")
                    .to_value();
            },
            &mut || {
                let _ = engine.parse_json(&json_data, true).expect("parses");
            },
            &mut || {
                let _ = light.parse_json(&json_data, true).expect("parses");
            },
        ],
        budget,
        5,
    );
    rows.push(("read 1 MB data file", t));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (name, t) in rows {
        println!(
            "{:<28} {:>9.2}ms {:>9.2}ms {:>9.2} {:>9.2}ms {:>9.2}",
            name,
            ms(t[0]),
            ms(t[1]),
            ms(t[0]) / ms(t[1]),
            ms(t[2]),
            ms(t[0]) / ms(t[2])
        );
    }
}
