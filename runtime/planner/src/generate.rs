//! A plan from intents: get the dataset through the run's hand-over, then call each intent's
//! capability in order, each on the values its intent names, the last value the answer.

use rtfs::Value;

use crate::error::PlanError;

/// The native that returns a dataset the human handed to the run.
pub const DATASET_NATIVE: &str = "planner.dataset";

/// The source of the plan: `ids[i]` serves `intents[i]`.
pub fn plan(intents: &[Value], ids: &[String]) -> Result<String, PlanError> {
    if intents.is_empty() {
        return Err(PlanError::Plan("there are no intents to plan".into()));
    }
    if intents.len() != ids.len() {
        return Err(PlanError::Plan(format!(
            "{} intents but {} capabilities to serve them",
            intents.len(),
            ids.len()
        )));
    }
    let dataset = intents[0]
        .get_key("dataset")
        .and_then(Value::as_str)
        .ok_or_else(|| PlanError::Plan("the first intent names no :dataset".into()))?;
    let mut lines = vec![format!(
        "(let [data (call :{DATASET_NATIVE} {{:name {}}})",
        rtfs::print::print(&Value::str(dataset))
    )];
    for (i, (intent, id)) in intents.iter().zip(ids).enumerate() {
        let from = intent
            .get_key("from")
            .and_then(Value::as_seq)
            .ok_or_else(|| PlanError::Plan(format!("intent {i} names no :from")))?;
        let mut args: Vec<String> = Vec::new();
        for f in from.items().iter() {
            args.push(match f {
                Value::Nil => "data".to_string(),
                Value::Int(j) if (*j as usize) < i => format!("step{j}"),
                other => {
                    return Err(PlanError::Plan(format!(
                        "intent {i} takes {} , which is not an earlier step",
                        rtfs::print::print(other)
                    )));
                }
            });
        }
        if let Some(cs) = intent.get_key("constants").and_then(Value::as_seq) {
            args.extend(cs.items().iter().map(rtfs::print::print));
        }
        lines.push(format!("      step{i} (call :{id} {})", args.join(" ")));
    }
    let last = intents.len() - 1;
    let mut src = lines.join("\n");
    src.push_str(&format!("]\n  step{last})\n"));
    Ok(src)
}
