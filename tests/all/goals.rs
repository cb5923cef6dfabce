//! `kiln goal` over datasets this test writes itself: each answer checked against a value the
//! test computes on its own, in Rust; a second run of each goal synthesizes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{agree, kiln, text};
use serde_json::{Value as J, json};

/// A small deterministic generator (the test's data must not depend on a crate's RNG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next(xs.len() as u64) as usize]
    }
}

fn orders() -> Vec<J> {
    let mut r = Lcg(7);
    (1..=60)
        .map(|i| {
            json!({
                "id": i,
                "customer": r.pick(&["acme", "globex", "initech", "umbrella", "hooli", "stark"]),
                "status": r.pick(&["paid", "pending", "refunded", "paid", "paid"]),
                "region": r.pick(&["north", "south", "east", "west"]),
                "amount": 20 + r.next(480) as i64,
                "items": 1 + r.next(9) as i64,
            })
        })
        .collect()
}

fn employees() -> Vec<J> {
    let mut r = Lcg(11);
    let skills = ["rust", "sql", "design", "ops", "ml"];
    (1..=40)
        .map(|i| {
            let n = r.next(3) as usize;
            let mut mine: Vec<&str> = Vec::new();
            while mine.len() < n {
                let s = r.pick(&skills);
                if !mine.contains(&s) {
                    mine.push(s);
                }
            }
            json!({
                "name": format!("emp{i}"),
                "department": r.pick(&["sales", "engineering", "support", "finance"]),
                "salary": 30000 + 1000 * r.next(90) as i64,
                "age": 21 + r.next(44) as i64,
                "remote": r.next(2) == 0,
                "skills": mine,
            })
        })
        .collect()
}

fn books() -> Vec<J> {
    let path = format!("{}/data/goals/books.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str::<Vec<J>>(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s<'a>(r: &'a J, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

fn n(r: &J, k: &str) -> i64 {
    r[k].as_i64().unwrap_or(0)
}

/// A map from each value of `key` (in the data) to `f` of its records.
fn by(rows: &[&J], key: &str, f: impl Fn(&[&J]) -> J) -> J {
    let mut groups: BTreeMap<String, Vec<&J>> = BTreeMap::new();
    for r in rows {
        groups.entry(s(r, key).to_string()).or_default().push(r);
    }
    J::Object(groups.into_iter().map(|(k, g)| (k, f(&g))).collect())
}

fn distinct(xs: impl Iterator<Item = J>) -> J {
    let mut out: Vec<J> = Vec::new();
    for x in xs {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    J::Array(out)
}

/// The keys of `totals` (each a value of `key` in `rows`, in order of first appearance), the
/// `k` with the largest totals, ties by first appearance.
fn top(rows: &[&J], key: &str, k: usize, total: impl Fn(&[&J]) -> f64) -> J {
    let order: Vec<String> = distinct(rows.iter().map(|r| J::from(s(r, key))))
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut scored: Vec<(String, f64)> = order
        .iter()
        .map(|g| {
            let members: Vec<&J> = rows.iter().copied().filter(|r| s(r, key) == g).collect();
            (g.clone(), total(&members))
        })
        .collect();
    scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    J::Array(
        scored
            .into_iter()
            .take(k)
            .map(|(g, _)| J::from(g))
            .collect(),
    )
}

/// The goals: (dataset, goal, the answer the test computes itself).
fn goals() -> Vec<(&'static str, &'static str, J)> {
    let (o, e, b) = (orders(), employees(), books());
    let or: Vec<&J> = o.iter().collect();
    let er: Vec<&J> = e.iter().collect();
    let br: Vec<&J> = b.iter().collect();
    let count = |g: &[&J]| J::from(g.len());
    let sum = |k: &'static str| move |g: &[&J]| J::from(g.iter().map(|r| n(r, k)).sum::<i64>());
    let avg = |k: &'static str| {
        move |g: &[&J]| J::from(g.iter().map(|r| n(r, k)).sum::<i64>() as f64 / g.len() as f64)
    };
    let paid: Vec<&J> = or
        .iter()
        .copied()
        .filter(|r| s(r, "status") == "paid")
        .collect();
    fn over<'a>(k: &str, x: i64, rows: &[&'a J]) -> Vec<&'a J> {
        rows.iter().copied().filter(|r| n(r, k) > x).collect()
    }
    let remote: Vec<&J> = er
        .iter()
        .copied()
        .filter(|r| r["remote"] == J::Bool(true))
        .collect();
    let mut skills: BTreeMap<String, i64> = BTreeMap::new();
    for r in &er {
        for sk in r["skills"].as_array().unwrap() {
            *skills.entry(sk.as_str().unwrap().into()).or_default() += 1;
        }
    }
    let crime = br.iter().filter(|r| s(r, "genre") == "crime").count();
    vec![
        ("orders", "count orders by status", by(&or, "status", count)),
        (
            "orders",
            "total amount per region",
            by(&or, "region", sum("amount")),
        ),
        ("orders", "how many orders are paid", J::from(paid.len())),
        (
            "orders",
            "average amount of paid orders",
            avg("amount")(&paid),
        ),
        (
            "orders",
            "how many orders over 200",
            J::from(over("amount", 200, &or).len()),
        ),
        (
            "orders",
            "highest amount for each region",
            by(&or, "region", |g| {
                J::from(g.iter().map(|r| n(r, "amount")).max().unwrap())
            }),
        ),
        (
            "orders",
            "top 3 customers by total amount",
            top(&or, "customer", 3, |g| {
                g.iter().map(|r| n(r, "amount") as f64).sum()
            }),
        ),
        (
            "orders",
            "distinct regions of orders over 400",
            distinct(over("amount", 400, &or).iter().map(|r| r["region"].clone())),
        ),
        (
            "orders",
            "number of orders in each region",
            by(&or, "region", count),
        ),
        (
            "orders",
            "lowest amount per customer",
            by(&or, "customer", |g| {
                J::from(g.iter().map(|r| n(r, "amount")).min().unwrap())
            }),
        ),
        (
            "employees",
            "count employees by dept",
            by(&er, "department", count),
        ),
        (
            "employees",
            "average salary per department",
            by(&er, "department", avg("salary")),
        ),
        (
            "employees",
            "how many employees are remote",
            J::from(remote.len()),
        ),
        (
            "employees",
            "names of employees older than 50",
            J::Array(
                over("age", 50, &er)
                    .iter()
                    .map(|r| r["name"].clone())
                    .collect(),
            ),
        ),
        (
            "employees",
            "group employees by skill and count",
            J::Object(skills.into_iter().map(|(k, v)| (k, J::from(v))).collect()),
        ),
        (
            "employees",
            "total salary of remote employees",
            sum("salary")(&remote),
        ),
        (
            "employees",
            "top 2 departments by average salary",
            top(&er, "department", 2, |g| {
                g.iter().map(|r| n(r, "salary")).sum::<i64>() as f64 / g.len() as f64
            }),
        ),
        (
            "employees",
            "distinct departments of employees with salary over 100000",
            distinct(
                over("salary", 100_000, &er)
                    .iter()
                    .map(|r| r["department"].clone()),
            ),
        ),
        ("books", "count books by genre", by(&br, "genre", count)),
        (
            "books",
            "titles of books published before 1960",
            J::Array(
                br.iter()
                    .filter(|r| n(r, "year") < 1960)
                    .map(|r| r["title"].clone())
                    .collect(),
            ),
        ),
        ("books", "how many crime books", J::from(crime)),
        (
            "books",
            "average pages per genre",
            by(&br, "genre", avg("pages")),
        ),
    ]
}

fn data_dir(base: &Path) -> PathBuf {
    let dir = base.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, rows) in [
        ("orders", orders()),
        ("employees", employees()),
        ("books", books()),
    ] {
        std::fs::write(dir.join(format!("{name}.json")), J::Array(rows).to_string()).unwrap();
    }
    dir
}

/// How many agent-made versions the home's chain says were registered new.
pub(crate) fn registered(home: &Path) -> usize {
    let o = kiln(home, &["--json", "chain", "show", "--kind", "cap.register"]);
    text(&o.stdout)
        .lines()
        .filter(|l| l.contains("\"new\":true") && l.contains("generated/"))
        .count()
}

/// The human adopts the default constitution at trust `level`.
pub(crate) fn trust(home: &Path, base: &Path, level: u8) {
    let text = kiln_kernel::governance::constitution::DEFAULT
        .replace(":trust-level 0", &format!(":trust-level {level}"));
    let f = base.join(format!("trust{level}.rtfs"));
    std::fs::write(&f, text).unwrap();
    let o = kiln(
        home,
        &["--json", "constitution", "propose", f.to_str().unwrap()],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: J = serde_json::from_str(text_of(&o).trim()).unwrap();
    let n = j["value"]["approval"].to_string();
    let o = kiln(home, &["approvals", "approve", &n]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn text_of(o: &Output) -> String {
    text(&o.stdout)
}

/// `kiln goal` answers `goal` as `want`, then again registering nothing.
fn answers_twice(home: &Path, d: &str, goal: &str, want: &J) -> Result<(), String> {
    let o = kiln(home, &["--json", "goal", goal, "--data", d]);
    let out = text(&o.stdout);
    if o.status.code() != Some(0) {
        return Err(format!(
            "exit {:?}: {out} {}",
            o.status.code(),
            text(&o.stderr)
        ));
    }
    let got: J = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    if !agree(&got["value"], want) {
        return Err(format!("got {}, want {want}", got["value"]));
    }
    // Again: everything it needs exists now.
    let before = registered(home);
    let o = kiln(home, &["--json", "goal", goal, "--data", d]);
    if o.status.code() != Some(0) {
        return Err(format!("second run: {}", text(&o.stderr)));
    }
    let again: J = serde_json::from_str(text(&o.stdout).trim()).map_err(|e| e.to_string())?;
    if !agree(&again["value"], want) {
        return Err(format!("second run: got {}, want {want}", again["value"]));
    }
    if registered(home) != before {
        return Err("the second run registered something".into());
    }
    Ok(())
}

#[test]
fn kiln_goal_answers_the_family_and_reuses_what_it_made() {
    let base = std::env::temp_dir().join(format!("kiln-goals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let data = data_dir(&base);
    let home = base.join("home");
    let d = data.to_str().unwrap();
    trust(&home, &base, 3);
    let goals = goals();
    assert!(goals.len() >= 20);
    // Every goal is tried; the failures are reported together.
    let mut failures: Vec<String> = Vec::new();
    for (dataset, goal, want) in &goals {
        if let Err(why) = answers_twice(&home, d, goal, want) {
            failures.push(format!("{goal} ({dataset}): {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} goals failed:\n{}",
        failures.len(),
        goals.len(),
        failures.join("\n")
    );
    assert_eq!(kiln(&home, &["verify"]).status.code(), Some(0));
    std::fs::remove_dir_all(&base).ok();
}

/// Bad input gets a clear error, and nothing is registered.
#[test]
fn bad_goals_and_datasets_get_clear_errors_and_register_nothing() {
    let base = std::env::temp_dir().join(format!("kiln-goals-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let data = data_dir(&base);
    let home = base.join("home");
    let d = data.to_str().unwrap();
    trust(&home, &base, 3);
    let goal = |text: &str, dir: &str| kiln(&home, &["goal", text, "--data", dir]);
    // Words the planner does not know: named, with what it does know.
    let o = goal("count orders by frobnication and zork", d);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("\"frobnication\"") && e.contains("\"zork\"") && e.contains("customer"),
        "{e}"
    );
    // No dataset named, none that fits.
    let o = goal("count everything", d);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("\"everything\""),
        "{}",
        text(&o.stderr)
    );
    // A directory that is not there, a file that is not JSON, an empty dataset, one too large.
    let o = goal(
        "count orders by status",
        base.join("nowhere").to_str().unwrap(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot open the directory"),
        "{}",
        text(&o.stderr)
    );
    let bad = base.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("orders.json"), "[{\"id\": 1,}").unwrap();
    let o = goal("count orders by status", bad.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("orders.json: not JSON"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(bad.join("orders.json"), "[]").unwrap();
    let o = goal("count orders by status", bad.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("orders is empty"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(bad.join("orders.json"), "{\"not\": \"records\"}").unwrap();
    let o = goal("count orders by status", bad.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not a vector of records"),
        "{}",
        text(&o.stderr)
    );
    let big = format!("[{}]", vec!["{\"id\": 1}"; 4_000_000].join(","));
    std::fs::write(bad.join("orders.json"), big).unwrap();
    let o = goal("count orders", bad.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("more than a dataset may hold"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(registered(&home), 0, "nothing was registered");
    std::fs::remove_dir_all(&base).ok();
}
