//! An intent's capability program: the `(capability …)` form that makes a found function
//! (`(fn [p1 … pn] body)`) a capability serving the intent — its id, description and schemas
//! from the intent, its examples the intent's examples, so that the kernel checks them in the
//! sandbox before it registers anything.
//!
//! A capability takes one input: a one-parameter function takes the argument itself; an
//! n-parameter one takes the vector of its arguments (the kernel hands a `call` with several
//! arguments over as that vector), with input schema `[:tuple S1 … Sn]`.

use rtfs::Value;
use rtfs::print::print;

use crate::error::PlanError;

/// The parts of an intent the synthesizer's spec is made of (`:params`, `:examples`,
/// `:description`, `:output-schema`); the intent's other keys are the plan's business.
///
/// ```
/// let intent = rtfs::reader::read_expr(
///     "{:id \"generated/n\" :params [[xs :any]] :examples [{:args [[1]] :out 1}] :step 0}",
///     &Default::default(),
/// ).unwrap().to_value();
/// let spec = kiln_planner::program::spec_of(&intent).unwrap();
/// assert_eq!(rtfs::print::print(&spec), "{:examples [{:args [[1]] :out 1}] :params [[xs :any]]}");
/// ```
pub fn spec_of(intent: &Value) -> Result<Value, PlanError> {
    if !matches!(intent, Value::Map(_)) {
        return Err(PlanError::Intent(format!(
            "an intent is a map with :params and :examples, not {}",
            rtfs::print::print_cut(intent, 60)
        )));
    }
    let keep = ["params", "examples", "description", "output-schema"];
    Ok(Value::map(
        keep.iter()
            .filter_map(|k| intent.get_key(k).map(|v| (Value::keyword(k), v.clone())))
            .collect(),
    ))
}

/// The capability id an intent asks for: its `:id`, else `generated/` and its `:name`.
pub fn id_of(intent: &Value) -> Result<String, PlanError> {
    if let Some(id) = intent.get_key("id").and_then(Value::as_str) {
        return Ok(id.to_string());
    }
    match intent.get_key("name").and_then(Value::as_str) {
        Some(name) => Ok(format!("generated/{name}")),
        None => Err(PlanError::Intent(
            "the intent has neither an :id nor a :name for its capability".into(),
        )),
    }
}

/// The source of the capability program serving `intent` with `function`.
///
/// ```
/// let intent = rtfs::reader::read_expr(
///     "{:id \"generated/add\" :description \"adds\" :params [[a :int] [b :int]]
///       :examples [{:args [1 2] :out 3}]}",
///     &Default::default(),
/// ).unwrap().to_value();
/// let src = kiln_planner::program::capability_program(&intent, "(fn [a b] (+ a b))").unwrap();
/// assert!(src.contains(":input-schema [:tuple :int :int]"));
/// assert!(src.contains(":examples [{:input [1 2] :output 3}]"));
/// ```
pub fn capability_program(intent: &Value, function: &str) -> Result<String, PlanError> {
    let id = id_of(intent)?;
    let params: Vec<Value> = intent
        .get_key("params")
        .and_then(Value::as_seq)
        .map(|s| s.items().iter().cloned().collect())
        .ok_or_else(|| PlanError::Intent(format!("the intent for {id} has no :params")))?;
    let schemas: Vec<Value> = params
        .iter()
        .map(|p| {
            p.as_seq()
                .and_then(|s| s.items().get(1).cloned())
                .unwrap_or(Value::keyword("any"))
        })
        .collect();
    let one = schemas.len() == 1;
    let input_schema = if one {
        schemas[0].clone()
    } else {
        let mut t = vec![Value::keyword("tuple")];
        t.extend(schemas);
        Value::vector(t)
    };
    let examples: Vec<Value> = intent
        .get_key("examples")
        .and_then(Value::as_seq)
        .map(|s| s.items().iter().cloned().collect())
        .unwrap_or_default();
    let mut shown = Vec::new();
    for (i, ex) in examples.iter().enumerate() {
        let args: Vec<Value> = ex
            .get_key("args")
            .and_then(Value::as_seq)
            .map(|s| s.items().iter().cloned().collect())
            .ok_or_else(|| PlanError::Intent(format!("example {i} of {id} has no :args")))?;
        let input = if one {
            args.into_iter().next().unwrap_or(Value::Nil)
        } else {
            Value::vector(args)
        };
        let out = ex.get_key("out").cloned().unwrap_or(Value::Nil);
        shown.push(Value::map(vec![
            (Value::keyword("input"), input),
            (Value::keyword("output"), out),
        ]));
    }
    let description = intent
        .get_key("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let implementation = if one {
        function.to_string()
    } else {
        format!("(let [f {function}] (fn [args] (apply f args)))")
    };
    let mut src = format!(
        "(capability {}\n  :description {}\n  :input-schema {}\n",
        print(&Value::str(&id)),
        print(&Value::str(description)),
        print(&input_schema),
    );
    if let Some(out) = intent.get_key("output-schema") {
        src.push_str(&format!("  :output-schema {}\n", print(out)));
    }
    src.push_str(&format!(
        "  :examples {}\n  :implementation {implementation})\n",
        print(&Value::vector(shown))
    ));
    Ok(src)
}
