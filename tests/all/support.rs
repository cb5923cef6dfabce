//! What several test modules share: running the `kiln` binary on a home, and comparing JSON
//! answers.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as J;

/// `kiln --home HOME ARGS…` (the binary built from the CLI's source), with no `KILN_HOME`.
pub fn kiln(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("KILN_HOME")
        .output()
        .expect("run kiln")
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether two JSON answers agree: numbers within 1e-9 and of the same kind (an average is a
/// float), arrays in order, objects by key.
pub fn agree(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9 && x.is_f64() == y.is_f64()
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| agree(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| agree(v, w)))
        }
        _ => a == b,
    }
}
