//! `planner.synthesize_capability {:spec INTENT}`: a pure RTFS function found by search
//! (`kiln-synth`, no LLM) that fits the intent's examples, checked on inputs generated from
//! its parameters' schemas, then registered under `generated/` through
//! [`register_program`] — its examples run in the sandbox, the synthesis quota, the decision
//! and the approval at the levels that ask for one, like any self-modification.
//!
//! The search's budget is the constitution's: `:synthesis-nodes` nodes explored and
//! `:synthesis-steps` evaluation steps per candidate run. Counts, not time: the same spec
//! finds the same program on every run.

use kiln_sandbox::Effect;
use kiln_store::Hash;
use kiln_synth::accept::{Found, find};
use kiln_synth::{Budget, Spec};
use rtfs::Value;
use rtfs::host::{CallFailure, Reason};

use super::register_program;
use crate::dispatch::{Native, NativeContext};
use crate::journal::Parts;
use crate::natives::{fail, failed};

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

/// `planner.synthesize_capability`.
pub struct SynthesizeCapability;

impl Native for SynthesizeCapability {
    fn id(&self) -> &'static str {
        "planner.synthesize_capability"
    }

    fn description(&self) -> &'static str {
        "Finds a pure RTFS function that fits an intent's examples by search (no LLM), checks it, and registers it under generated/, governed"
    }

    fn input_schema(&self) -> &'static str {
        "[:map [:spec :map]]"
    }

    fn effects(&self) -> &'static [Effect] {
        &[Effect::SelfModify]
    }

    fn run(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let intent = arg.get_key("spec").cloned().unwrap_or(Value::Nil);
        let invalid = |e: String| fail(Reason::InvalidInput, e);
        let id = kiln_planner::program::id_of(&intent).map_err(|e| invalid(e.to_string()))?;
        let spec_value =
            kiln_planner::program::spec_of(&intent).map_err(|e| invalid(e.to_string()))?;
        let spec = Spec::parse(&spec_value)
            .map_err(|e| invalid(format!("the spec of {id} is not usable: {e}")))?;
        let quotas = &cx.policy().constitution.quotas;
        let budget = Budget {
            nodes: quotas.synthesis_nodes,
            steps: quotas.synthesis_steps,
        };
        let spec_text = rtfs::print::print(&spec_value);
        let spec_hash = Hash::of(spec_text.as_bytes());
        let seed = u64::from_le_bytes(spec_hash.0[..8].try_into().unwrap_or([0; 8]));
        let found = find(&spec, budget, seed).map_err(|e| invalid(e.to_string()))?;
        let (candidate, rejected, failures, nodes) = match found {
            Found::Program {
                candidate,
                rejected,
                failures,
                nodes,
            } => (candidate, rejected, failures, nodes),
            Found::Nothing { rejected, nodes } => {
                cx.note(
                    "synthesis",
                    &Value::map(vec![
                        (kw("id"), Value::str(&id)),
                        (kw("spec"), Value::str(&spec_hash.hex())),
                        (kw("nodes-explored"), Value::Int(nodes as i64)),
                        (kw("rejected"), Value::Int(rejected as i64)),
                    ]),
                    Parts {
                        outcome: "error",
                        ..Parts::default()
                    },
                )?;
                let why = if rejected > 0 {
                    format!(
                        "{rejected} programs fit the examples but failed on other inputs of the parameters' schemas"
                    )
                } else {
                    format!(
                        "none fits the examples within {nodes} nodes (the :synthesis-nodes quota is {})",
                        budget.nodes
                    )
                };
                return Err(fail(
                    Reason::Failed,
                    format!(
                        "no program found for {id}: {why}; give examples that pin the behaviour down, or raise the quota"
                    ),
                ));
            }
        };
        // The spec is kept, so that the human (and the learning loop) sees what was asked.
        cx.put_object(spec_text.as_bytes()).map_err(failed)?;
        let program = kiln_planner::program::capability_program(&intent, &candidate.source)
            .map_err(|e| invalid(e.to_string()))?;
        let provenance = vec![
            (kw("synthesizer"), kw("offline")),
            (kw("spec"), Value::str(&spec_hash.hex())),
            (kw("nodes-explored"), Value::Int(nodes as i64)),
            (kw("size"), Value::Int(candidate.size as i64)),
            (kw("rejected"), Value::Int(rejected as i64)),
            (kw("generated-failures"), Value::Int(failures as i64)),
        ];
        let registered = register_program(cx, &program, self.id(), provenance)?;
        let Value::Map(m) = registered else {
            return Ok(registered);
        };
        let mut entries: Vec<(Value, Value)> = m
            .entries()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entries.push((kw("source"), Value::str(&candidate.source)));
        entries.push((kw("nodes-explored"), Value::Int(nodes as i64)));
        entries.push((kw("size"), Value::Int(candidate.size as i64)));
        Ok(Value::map(entries))
    }
}
