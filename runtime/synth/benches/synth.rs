//! The PBE benchmark protocol (`data/README.md`) on a task file: `cargo bench -p kiln-synth
//! --bench synth -- [FILE.tsv] [--json OUT]` (default: the public set, `data/pbe-tasks.tsv`).
//!
//! Per task: solved on the examples, passes the held-out inputs (20 from
//! `kiln_synth::inputs::generate` with a fixed seed, expected values from the reference),
//! program size, nodes explored and wall time of the search (the faster of two runs, which
//! must agree on program and nodes). Then the solve rate (examples and held-out) and the
//! median and p95 time per tier and overall, and the budget used.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kiln_synth::tasks::{self, Task};
use kiln_synth::{Budget, synthesize};

/// The held-out inputs' seed (fixed: the same inputs on every run).
const SEED: u64 = 20_240_601;
const HELD_OUT: usize = 20;

struct Row {
    task: Task,
    program: Option<String>,
    size: usize,
    nodes: u64,
    time: Duration,
    on_examples: bool,
    held_out: bool,
    deterministic: bool,
    error: Option<String>,
}

fn main() {
    let mut file: Option<PathBuf> = None;
    let mut json: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--json" => json = args.next().map(PathBuf::from),
            other if other.starts_with("--") => {
                eprintln!("usage: synth [FILE.tsv] [--json OUT]  (unknown flag {other})");
                std::process::exit(2);
            }
            other => file = Some(PathBuf::from(other)),
        }
    }
    let file = file
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/pbe-tasks.tsv"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        eprintln!("cannot read {}: {e}", file.display());
        std::process::exit(2);
    });
    let tasks = tasks::parse_tsv(&text).unwrap_or_else(|e| {
        eprintln!("{}: {e}", file.display());
        std::process::exit(2);
    });
    let budget = Budget::default();
    let rows: Vec<Row> = tasks.into_iter().map(|t| run(t, budget)).collect();
    print_table(&file, &rows, budget);
    if let Some(out) = json {
        let v = to_json(&file, &rows, budget);
        let text = serde_json::to_string_pretty(&v).expect("json");
        if let Err(e) = std::fs::write(&out, text + "\n") {
            eprintln!("cannot write {}: {e}", out.display());
            std::process::exit(2);
        }
        println!("wrote {}", out.display());
    }
}

fn run(task: Task, budget: Budget) -> Row {
    let mut row = Row {
        task,
        program: None,
        size: 0,
        nodes: 0,
        time: Duration::ZERO,
        on_examples: false,
        held_out: false,
        deterministic: true,
        error: None,
    };
    let spec = match row.task.spec() {
        Ok(s) => s,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    let mut results = Vec::new();
    for _ in 0..2 {
        let start = Instant::now();
        let r = synthesize(&spec, budget);
        let time = start.elapsed();
        results.push((r, time));
    }
    row.deterministic = results[0].0 == results[1].0;
    row.time = results.iter().map(|r| r.1).min().unwrap_or_default();
    match &results[0].0 {
        Ok(c) => {
            row.on_examples = true;
            row.program = Some(c.source.clone());
            row.size = c.size;
            row.nodes = c.nodes_explored;
            row.held_out = match row.task.held_out(SEED, HELD_OUT) {
                Ok(cases) => cases.len() >= 3 && tasks::passes(&c.source, &cases),
                Err(e) => {
                    row.error = Some(e.to_string());
                    false
                }
            };
        }
        Err(kiln_synth::SynthError::NoProgram { nodes }) => row.nodes = *nodes,
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and p95 (nearest rank) of times, in ms.
fn stats(times: &[Duration]) -> (f64, f64) {
    if times.is_empty() {
        return (0.0, 0.0);
    }
    let mut t: Vec<f64> = times.iter().map(|d| ms(*d)).collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let median = if t.len() % 2 == 1 {
        t[t.len() / 2]
    } else {
        (t[t.len() / 2 - 1] + t[t.len() / 2]) / 2.0
    };
    let rank = ((0.95 * t.len() as f64).ceil() as usize).clamp(1, t.len());
    (median, t[rank - 1])
}

fn solved(r: &Row) -> bool {
    r.on_examples && r.held_out
}

fn tiers(rows: &[Row]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        if !out.contains(&r.task.tier) {
            out.push(r.task.tier.clone());
        }
    }
    out.sort();
    out
}

fn print_table(file: &std::path::Path, rows: &[Row], budget: Budget) {
    println!("PBE synthesis: {}", file.display());
    println!(
        "budget: {} nodes, {} steps per candidate run; held-out: {HELD_OUT} inputs, seed {SEED}",
        budget.nodes, budget.steps
    );
    println!();
    println!(
        "{:<18} {:<4} {:>3} {:>4} {:>4} {:>8} {:>9}  program",
        "task", "tier", "ex", "held", "size", "nodes", "ms"
    );
    for r in rows {
        let yn = |b: bool| if b { "y" } else { "n" };
        let program = match (&r.program, &r.error) {
            (Some(p), _) => p.clone(),
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "-".to_string(),
        };
        println!(
            "{:<18} {:<4} {:>3} {:>4} {:>4} {:>8} {:>9.2}  {}{}",
            r.task.id,
            r.task.tier,
            yn(r.on_examples),
            yn(r.held_out),
            r.size,
            r.nodes,
            ms(r.time),
            program,
            if r.deterministic {
                ""
            } else {
                "  [NOT DETERMINISTIC]"
            }
        );
    }
    println!();
    println!(
        "{:<8} {:>8} {:>10} {:>10}",
        "tier", "solved", "median ms", "p95 ms"
    );
    let line = |name: &str, rs: Vec<&Row>| {
        let times: Vec<Duration> = rs.iter().map(|r| r.time).collect();
        let (median, p95) = stats(&times);
        let n = rs.iter().filter(|r| solved(r)).count();
        println!(
            "{:<8} {:>8} {:>10.2} {:>10.2}",
            name,
            format!("{n}/{}", rs.len()),
            median,
            p95
        );
    };
    for t in tiers(rows) {
        line(&t, rows.iter().filter(|r| r.task.tier == t).collect());
    }
    line("all", rows.iter().collect());
    let all_det = rows.iter().all(|r| r.deterministic);
    println!();
    println!(
        "deterministic (two runs, same program and nodes): {}",
        if all_det { "yes" } else { "NO" }
    );
}

fn to_json(file: &std::path::Path, rows: &[Row], budget: Budget) -> serde_json::Value {
    use serde_json::json;
    let agg = |rs: Vec<&Row>| {
        let times: Vec<Duration> = rs.iter().map(|r| r.time).collect();
        let (median, p95) = stats(&times);
        json!({
            "tasks": rs.len(),
            "solved": rs.iter().filter(|r| solved(r)).count(),
            "median_ms": median,
            "p95_ms": p95,
        })
    };
    let mut per_tier = serde_json::Map::new();
    for t in tiers(rows) {
        per_tier.insert(
            t.clone(),
            agg(rows.iter().filter(|r| r.task.tier == t).collect()),
        );
    }
    json!({
        "file": file.display().to_string(),
        "budget": {"nodes": budget.nodes, "steps": budget.steps},
        "held_out": {"inputs": HELD_OUT, "seed": SEED},
        "tasks": rows.iter().map(|r| json!({
            "id": r.task.id,
            "tier": r.task.tier,
            "solved_examples": r.on_examples,
            "solved_held_out": r.held_out,
            "solved": solved(r),
            "program": r.program,
            "size": r.size,
            "nodes": r.nodes,
            "time_ms": ms(r.time),
            "deterministic": r.deterministic,
            "error": r.error,
        })).collect::<Vec<_>>(),
        "tiers": per_tier,
        "overall": agg(rows.iter().collect()),
        "deterministic": rows.iter().all(|r| r.deterministic),
    })
}
