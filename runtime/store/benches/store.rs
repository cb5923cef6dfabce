//! Store benchmarks (`cargo xtask bench store`), each beside a baseline measured in the same
//! run: bare rusqlite on a table of the same shape with the same pragmas (WAL,
//! `synchronous=FULL`).
//!
//! - durable appends: one chain entry per transaction (each an fsync'd commit);
//! - grouped appends: 1 000 entries per transaction. Target ≥ 50 000 entries/s;
//! - `kiln chain verify` over 100 000 entries (decode, links, hashes, Merkle root). Target < 1 s;
//! - rollback latency (a recorded move of the active pointer, durable). Target < 1 ms;
//! - register latency (manifest object written and fsync'd, version row, chain entry).

use std::time::{Duration, Instant};

use kiln_store::{Activate, Append, Caller, Home, ObjectStore, Record, Register, Registry};
use rtfs::Value;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn record(i: i64) -> Record {
    Record::ok(
        "call",
        Value::map(vec![
            (Value::keyword("id"), Value::str("text.words")),
            (Value::keyword("i"), Value::Int(i)),
        ]),
    )
}

/// The baseline: the same table shape and pragmas, rows of the same size, no hashing or
/// encoding.
fn bare(path: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS chain (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, kind TEXT NOT NULL, plan INTEGER, body BLOB NOT NULL)",
    )
    .unwrap();
    c
}

fn bare_insert(tx: &rusqlite::Transaction<'_>, seq: i64, body: &[u8]) {
    tx.execute(
        "INSERT INTO chain (seq, hash, kind, plan, body) VALUES (?1, ?2, 'call', NULL, ?3)",
        rusqlite::params![seq, "0".repeat(64), body],
    )
    .unwrap();
}

fn main() {
    let base = std::env::temp_dir().join(format!("kiln-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let caller = Caller::human();
    let (home, auth) = Home::open_governed(&base.join("home")).unwrap();
    let append = auth.authorize(caller.clone(), Append);
    let body_len = home.append(&append, vec![record(0)]).unwrap()[0]
        .encode()
        .unwrap()
        .len();
    let body = vec![7u8; body_len];
    let mut conn = bare(&base.join("bare.db"));
    println!(
        "{:<46} {:>14} {:>14} {:>7} {:>10}",
        "benchmark", "kiln", "bare sqlite", "ratio", "target"
    );

    // Durable appends, alternating with the baseline.
    let n = 200;
    let (mut k, mut b) = (Duration::ZERO, Duration::ZERO);
    for i in 0..n {
        let t = Instant::now();
        home.append(&append, vec![record(i)]).unwrap();
        k += t.elapsed();
        let t = Instant::now();
        let tx = conn.transaction().unwrap();
        bare_insert(&tx, i + 1, &body);
        tx.commit().unwrap();
        b += t.elapsed();
    }
    let rate = |d: Duration, count: f64| count / d.as_secs_f64();
    println!(
        "{:<46} {:>12.0}/s {:>12.0}/s {:>7.2} {:>10}",
        "durable appends (1 per transaction)",
        rate(k, n as f64),
        rate(b, n as f64),
        rate(b, 1.0) / rate(k, 1.0),
        "-"
    );

    // Grouped appends: 100 000 entries in groups of 1 000.
    let (groups, size) = (100, 1000);
    let (mut k, mut b) = (Duration::ZERO, Duration::ZERO);
    let mut seq = 1_000_000;
    for g in 0..groups {
        let records: Vec<Record> = (0..size).map(|i| record(g * size + i)).collect();
        let t = Instant::now();
        home.append(&append, records).unwrap();
        k += t.elapsed();
        let t = Instant::now();
        let tx = conn.transaction().unwrap();
        for _ in 0..size {
            seq += 1;
            bare_insert(&tx, seq, &body);
        }
        tx.commit().unwrap();
        b += t.elapsed();
    }
    let total = (groups * size) as f64;
    println!(
        "{:<46} {:>12.0}/s {:>12.0}/s {:>7.2} {:>10}",
        "grouped appends (1 000 per transaction)",
        rate(k, total),
        rate(b, total),
        k.as_secs_f64() / b.as_secs_f64(),
        "≥ 50 000/s"
    );

    // Verify the whole chain (now > 100 000 entries) vs reading the same rows bare.
    let entries = home.head().unwrap().size;
    let t = Instant::now();
    let head = home.verify_chain(None).unwrap().expect("a sound chain");
    let kv = t.elapsed();
    assert_eq!(head.size, entries);
    let t = Instant::now();
    let mut total_bytes = 0usize;
    {
        let mut st = conn.prepare("SELECT body FROM chain ORDER BY seq").unwrap();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            total_bytes += r.get_ref(0).unwrap().as_blob().unwrap().len();
        }
    }
    let bv = t.elapsed();
    assert!(total_bytes > 0);
    println!(
        "{:<46} {:>12.1}ms {:>12.1}ms {:>7.2} {:>10}",
        format!("chain verify, {entries} entries (bare: read rows)"),
        kv.as_secs_f64() * 1e3,
        bv.as_secs_f64() * 1e3,
        kv.as_secs_f64() / bv.as_secs_f64(),
        "< 1 s"
    );

    // Rollback and register latency (durable), medians.
    let ids = "bench.cap";
    let mut versions = Vec::new();
    for i in 0..2 {
        let m = home.objects.put(format!("module {i}").as_bytes()).unwrap();
        let manifest = Value::map(vec![
            (Value::keyword("id"), Value::str(ids)),
            (Value::keyword("kind"), Value::keyword("wasm")),
            (Value::keyword("module"), Value::str(&m.hex())),
        ]);
        versions.push(
            home.registry
                .register(&auth.authorize(caller.clone(), Register), &manifest, true)
                .unwrap()
                .hash,
        );
    }
    let (mut rb, mut bare_move) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let to = versions[i % 2].hex();
        let t = Instant::now();
        home.registry
            .rollback(
                &auth.authorize(caller.clone(), Activate),
                ids,
                Some(&to[..16]),
            )
            .unwrap();
        rb.push(t.elapsed());
        let t = Instant::now();
        let tx = conn.transaction().unwrap();
        seq += 1;
        bare_insert(&tx, seq, &body);
        tx.commit().unwrap();
        bare_move.push(t.elapsed());
    }
    let (rb, bare_move) = (median(rb), median(bare_move));
    println!(
        "{:<46} {:>12.3}ms {:>12.3}ms {:>7.2} {:>10}",
        "rollback --to (median; bare: 1 durable insert)",
        rb.as_secs_f64() * 1e3,
        bare_move.as_secs_f64() * 1e3,
        rb.as_secs_f64() / bare_move.as_secs_f64(),
        "< 1 ms"
    );
    let mut reg = Vec::new();
    for i in 0..200 {
        let m = home.objects.put(format!("module r{i}").as_bytes()).unwrap();
        let manifest = Value::map(vec![
            (Value::keyword("id"), Value::str("bench.reg")),
            (Value::keyword("kind"), Value::keyword("wasm")),
            (Value::keyword("module"), Value::str(&m.hex())),
        ]);
        let t = Instant::now();
        home.registry
            .register(&auth.authorize(caller.clone(), Register), &manifest, true)
            .unwrap();
        reg.push(t.elapsed());
    }
    println!(
        "{:<46} {:>12.3}ms {:>14} {:>7} {:>10}",
        "register + activate (median)",
        median(reg).as_secs_f64() * 1e3,
        "-",
        "-",
        "-"
    );
    drop(home);
    let _ = std::fs::remove_dir_all(&base);
}
