//! The language contract's conformance cases (`tests/data/conformance.tsv`, copied from
//! LANGUAGE.md's companion file) and kiln's own table of cases for everything LANGUAGE.md
//! specifies beyond them (`tests/data/language.tsv`). One data-driven test per table.
//!
//! Comparison is structural and strict: the printed forms must be identical, so an Integer
//! never matches a Float, a list never matches a vector, and maps compare whatever order they
//! were written in (printing is canonical). `ERROR :error/k` rows must fail with that kind; the
//! contract table's bare `ERROR` rows are repeated in ours with the kind LANGUAGE.md gives.

use rtfs::{Interpreter, Value};

/// Evaluates one expression (the expression entry point of `kiln eval`) in a fresh pure
/// environment with default limits.
pub fn eval_expr(src: &str) -> Result<Value, rtfs::Error> {
    let form = rtfs::reader::read_expr(src, &Default::default())?;
    let program = rtfs::compile::compile_program(&[form], None)?;
    Interpreter::default().run(&program, &mut rtfs::NoHost)
}

/// Runs every row of a TSV table (`id  expr  expected …`); returns the failures.
fn run_table(path: &str) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 3,
            "{path}:{}: expected at least 3 columns",
            n + 1
        );
        let (id, expr, expected) = (cols[0], cols[1], cols[2]);
        count += 1;
        let got = eval_expr(expr);
        let error_row = (expected == "ERROR")
            .then_some("")
            .or(expected.strip_prefix("ERROR "));
        let verdict = match (error_row, &got) {
            (Some(""), Err(_)) => None,
            (Some(kind), Err(e)) if e.kind() == kind.trim_start_matches(':') => None,
            (Some(kind), Err(e)) => Some(format!("expected {kind}, got error {e}")),
            (Some(kind), Ok(v)) => Some(format!("expected {kind}, got {}", rtfs::print::print(v))),
            (None, Ok(v)) => {
                let want = rtfs::reader::read_expr(expected, &Default::default())
                    .map(|f| rtfs::print::print(&f.to_value()))
                    .unwrap_or_else(|_| expected.to_string());
                let have = rtfs::print::print(v);
                (have != want).then(|| format!("expected {want}, got {have}"))
            }
            (None, Err(e)) => Some(format!("expected {expected}, got error {e}")),
        };
        if let Some(v) = verdict {
            failures.push(format!("{id}: {expr}\n    {v}"));
        }
    }
    (count, failures)
}

fn check_table(file: &str, min_rows: usize) {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let (count, failures) = run_table(&path);
    assert!(count >= min_rows, "{file}: only {count} rows");
    assert!(
        failures.is_empty(),
        "{} of {count} cases in {file} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn conformance_tsv() {
    check_table("conformance.tsv", 211);
}

#[test]
fn language_examples() {
    check_table("language.tsv", 629);
}

/// The rows of a table: (id, expression, expected).
fn rows(file: &str) -> Vec<(String, String, String)> {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].to_string(), c[1].to_string(), c[2].to_string())
        })
        .collect()
}

/// The contract's table (kept as copied) expects a bare `ERROR` in some rows, which any
/// error satisfies; our table holds each of those expressions again with the kind
/// LANGUAGE.md gives, so an error of the wrong kind fails there.
#[test]
fn every_bare_error_of_the_contract_table_has_its_kind_in_ours() {
    let ours: std::collections::HashMap<String, String> = rows("language.tsv")
        .into_iter()
        .map(|(_, expr, expected)| (expr, expected))
        .collect();
    let bare: Vec<(String, String)> = rows("conformance.tsv")
        .into_iter()
        .filter(|(_, _, expected)| expected == "ERROR")
        .map(|(id, expr, _)| (id, expr))
        .collect();
    assert_eq!(bare.len(), 39);
    for (id, expr) in bare {
        let named = ours
            .get(&expr)
            .and_then(|e| e.strip_prefix("ERROR :error/"));
        assert!(
            named.is_some_and(|k| !k.is_empty()),
            "{id}: {expr} has no row naming its error kind in language.tsv"
        );
    }
}
