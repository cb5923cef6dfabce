//! Replays the fuzz corpora (when present locally; they stay out of git) and the committed
//! regression inputs through the fuzz targets' bodies, on the stable toolchain.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["regressions", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let bytes = match std::fs::read(e.path()) {
                Ok(b) => b,
                // A running fuzzer rewrites its corpus; a vanished entry is not a failure.
                Err(err) if dir == "corpus" && err.kind() == std::io::ErrorKind::NotFound => {
                    continue;
                }
                Err(err) => panic!("reading {}: {err}", e.path().display()),
            };
            run(&bytes);
            n += 1;
        }
    }
    n
}

#[test]
fn fuzz_inputs_replay_cleanly() {
    assert!(replay("read", rtfs::fuzzing::read) >= 1);
    assert!(replay("decode", rtfs::fuzzing::decode) >= 1);
    assert!(replay("eval", rtfs::fuzzing::eval) >= 2);
    assert!(replay("json", rtfs::fuzzing::json) >= 1);
    // The conformance programs are good seeds for the evaluator target too.
    let table =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/conformance.tsv"))
            .unwrap();
    for line in table.lines().skip(1) {
        if let Some(expr) = line.split('\t').nth(1) {
            rtfs::fuzzing::read(expr.as_bytes());
            rtfs::fuzzing::eval(expr.as_bytes());
        }
    }
}
