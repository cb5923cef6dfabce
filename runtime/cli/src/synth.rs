//! `kiln synth SPEC`: the offline synthesizer on its own — no home, no sandbox — with the
//! same search and the same acceptance (`kiln_synth::accept`) as
//! `planner.synthesize_capability`, so what it prints is what the native would register.

use std::time::{Duration, Instant};

use kiln_kernel::governance::constitution::Quotas;
use kiln_kernel::synth::accept::{Found, find};
use kiln_kernel::synth::{Budget, Spec};
use rtfs::Value;
use serde_json::json;

/// Why `kiln synth` could not answer.
pub enum SynthFailure {
    /// The file does not read as RTFS (rendered with its place by the caller).
    Source(rtfs::Error),
    /// Anything else, said in full.
    Invalid(String),
}

/// Lines for stdout and the `--json` value.
pub type Shown = (Vec<String>, serde_json::Value);

/// The seed of the generated inputs: fixed, so a spec gives the same answer on every run.
const SEED: u64 = 0x6b69_6c6e;

/// The plan `kiln synth SPEC --register ID` runs: the spec (checked here first, so a bad
/// file is named) with `:id`, through `planner.synthesize_capability`.
pub fn register_plan(name: &str, text: &str, id: &str) -> Result<String, SynthFailure> {
    let form = rtfs::reader::read_expr(text, &Default::default()).map_err(SynthFailure::Source)?;
    let value = form.to_value();
    Spec::parse(&value).map_err(|e| SynthFailure::Invalid(format!("{name}: the spec: {e}")))?;
    let Value::Map(m) = value else {
        return Err(SynthFailure::Invalid(format!(
            "{name}: the spec is not a map"
        )));
    };
    let mut entries: Vec<(Value, Value)> = m
        .entries()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    entries.push((Value::keyword("id"), Value::str(id)));
    // Parameter names are symbols in a spec file; in a plan they would be evaluated, so
    // the spec travels as a quoted literal.
    Ok(format!(
        "(call \"planner.synthesize_capability\" {{:spec (quote {})}})",
        rtfs::print::print(&Value::map(entries))
    ))
}

pub fn synth(
    name: &str,
    text: &str,
    nodes: Option<u64>,
    steps: Option<u64>,
) -> Result<Shown, SynthFailure> {
    let form = rtfs::reader::read_expr(text, &Default::default()).map_err(SynthFailure::Source)?;
    let spec = Spec::parse(&form.to_value())
        .map_err(|e| SynthFailure::Invalid(format!("{name}: the spec: {e}")))?;
    let quotas = Quotas::default();
    let budget = Budget {
        nodes: nodes.unwrap_or(quotas.synthesis_nodes),
        steps: steps.unwrap_or(quotas.synthesis_steps),
    };
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("searching (at most {} nodes)", budget.nodes));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let found = find(&spec, budget, SEED);
    spinner.finish_and_clear();
    let found = found.map_err(|e| SynthFailure::Invalid(format!("{name}: the spec: {e}")))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let budget_json = json!({"nodes": budget.nodes, "steps": budget.steps});
    match found {
        Found::Program {
            candidate,
            rejected,
            failures,
            nodes,
        } => Ok((
            vec![
                candidate.source.clone(),
                format!(
                    "size {}, {nodes} nodes explored of {}, {rejected} rejected on generated inputs{}, {ms:.0} ms",
                    candidate.size,
                    budget.nodes,
                    if failures > 0 {
                        format!(" (this one fails on {failures} of them: none did better)")
                    } else {
                        String::new()
                    }
                ),
            ],
            json!({
                "program": candidate.source,
                "size": candidate.size,
                "nodes_explored": nodes,
                "rejected": rejected,
                "generated_failures": failures,
                "budget": budget_json,
                "ms": ms,
            }),
        )),
        Found::Nothing { rejected, nodes } => Err(SynthFailure::Invalid(format!(
            "{name}: no program found within {nodes} nodes explored (budget {}; {rejected} fit the examples but failed on generated inputs): add examples that pin the behaviour down, or raise --nodes",
            budget.nodes
        ))),
    }
}
