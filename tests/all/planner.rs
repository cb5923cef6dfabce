//! The planner's reading of plain-English goals, checked against answers computed
//! independently (tests/data/goals, copied from the shared examples), and its refusals.

use crate::support::agree;
use kiln_planner::dataset::{Dataset, from_json};
use kiln_planner::{intent, reader};

fn dataset(name: &str) -> Dataset {
    let path = format!("{}/data/goals/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Dataset::new(name, &from_json(&text, 64).unwrap()).unwrap()
}

fn json(v: &rtfs::Value) -> serde_json::Value {
    serde_json::from_str(&rtfs::stdlib::value_to_json(v, false).unwrap()).unwrap()
}

#[test]
fn the_shared_goals_read_to_their_answers() {
    let data = [dataset("books"), dataset("trips")];
    let tsv = std::fs::read_to_string(format!(
        "{}/data/goals/goals.tsv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (goal, ds, want) = (cols[0], cols[1], cols[2]);
        let q = reader::read(goal, &data).unwrap_or_else(|e| panic!("{goal}: {e}"));
        assert_eq!(q.dataset, ds, "{goal}");
        let d = data.iter().find(|d| d.name == ds).unwrap();
        let got = json(&intent::answer(&q, d).unwrap_or_else(|e| panic!("{goal}: {e}")));
        let want: serde_json::Value = serde_json::from_str(want).unwrap();
        assert!(agree(&got, &want), "{goal}: {q:?}\n got {got}\nwant {want}");
        // Every step is an intent with examples.
        let intents = intent::intents(&q, d).unwrap_or_else(|e| panic!("{goal}: {e}"));
        assert!(!intents.is_empty());
        for i in &intents {
            let n = i
                .get_key("examples")
                .and_then(|e| e.as_seq())
                .map_or(0, |s| s.len());
            assert!(n >= 3, "{goal}: {}", rtfs::print::print(i));
        }
    }
}
