//! The planner's reading natives — effect-free, low-risk planning (allowed at every trust
//! level): `planner.dataset` (a dataset the human handed to the run), `planner.decompose` (a
//! goal into intents), `planner.resolve_intent` (an existing capability for an intent),
//! `planner.generate_rtfs` (a plan from intents), `planner.validate_plan` (a plan checked
//! before it runs), `planner.introspect_result` (an execution's output examined).

use kiln_planner::catalog::{Catalog, Entry};
use kiln_sandbox::Effect;
use rtfs::Value;
use rtfs::host::{CallFailure, Reason};

use crate::dispatch::{Native, NativeContext};
use crate::manifest::Manifest;
use crate::natives::{fail, text_arg};

fn plan_error(e: kiln_planner::PlanError) -> CallFailure {
    fail(Reason::InvalidInput, e.to_string())
}

/// The catalog the planner searches: the active versions, run through the calling plan's
/// own governed calls.
pub(crate) struct KernelCatalog<'a, 'b> {
    pub(crate) cx: &'a NativeContext<'b>,
}

impl Catalog for KernelCatalog<'_, '_> {
    fn entries(&self) -> Vec<Entry> {
        let Ok(versions) = self.cx.active() else {
            return Vec::new();
        };
        versions
            .into_iter()
            .filter_map(|v| {
                let m = Manifest::parse(&v.manifest).ok()?;
                let field = |k: &str| {
                    v.manifest
                        .get_key(k)
                        .cloned()
                        .unwrap_or(Value::keyword("any"))
                };
                Some(Entry {
                    id: v.row.id.clone(),
                    description: v
                        .manifest
                        .get_key("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    input_schema: field("input-schema"),
                    output_schema: field("output-schema"),
                    effects: m.effects.iter().map(|e| e.as_str().to_string()).collect(),
                })
            })
            .collect()
    }

    fn run(&mut self, id: &str, input: &Value) -> Result<Value, String> {
        self.cx.call(id, input).map_err(|f| f.message)
    }
}

macro_rules! native {
    ($ty:ident, $id:literal, $doc:literal, $schema:literal) => {
        #[doc = concat!("`", $id, "`: ", $doc)]
        pub struct $ty;

        impl $ty {
            const ID: &'static str = $id;
        }

        impl Native for $ty {
            fn id(&self) -> &'static str {
                Self::ID
            }
            fn description(&self) -> &'static str {
                $doc
            }
            fn input_schema(&self) -> &'static str {
                $schema
            }
            fn effects(&self) -> &'static [Effect] {
                &[]
            }
            fn run(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
                self.serve(cx, arg)
            }
        }
    };
}

native!(
    DatasetNative,
    "planner.dataset",
    "The records of a dataset the human handed to the run (--data DIR), by name",
    "[:map [:name :string]]"
);

impl DatasetNative {
    fn serve(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let name = text_arg(self, arg, "name", "{:name \"dataset\"}")?;
        cx.datasets()
            .value(&name)
            .map_err(|e| fail(Reason::InvalidInput, e.to_string()))
    }
}

native!(
    Decompose,
    "planner.decompose",
    "Reads a plain-English goal about the run's datasets into intents: specs with schemas and examples drawn from the data",
    "[:map [:goal :string]]"
);

impl Decompose {
    fn serve(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let goal = text_arg(self, arg, "goal", "{:goal \"…\"}")?;
        let datasets = cx
            .datasets()
            .all()
            .map_err(|e| fail(Reason::InvalidInput, e.to_string()))?;
        let intents = kiln_planner::decompose(&goal, &datasets).map_err(plan_error)?;
        Ok(Value::vector(intents))
    }
}

native!(
    ResolveIntent,
    "planner.resolve_intent",
    "The id of an existing pure capability that serves an intent (found by text and schema, confirmed on the intent's examples), or nil",
    "[:map [:intent :map]]"
);

impl ResolveIntent {
    fn serve(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let intent = arg.get_key("intent").cloned().unwrap_or(Value::Nil);
        let mut catalog = KernelCatalog { cx };
        Ok(kiln_planner::resolve::resolve(&intent, &mut catalog)
            .map_err(plan_error)?
            .map_or(Value::Nil, |id| Value::str(&id)))
    }
}

native!(
    GenerateRtfs,
    "planner.generate_rtfs",
    "The source of a plan that gets the dataset and calls the capabilities serving the intents, in order",
    "[:map [:intents [:sequential :map]] [:capabilities {:optional true} [:maybe [:sequential :any]]]]"
);

impl GenerateRtfs {
    fn serve(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let intents: Vec<Value> = arg
            .get_key("intents")
            .and_then(Value::as_seq)
            .map(|s| s.items().iter().cloned().collect())
            .unwrap_or_default();
        let made: Vec<Value> = arg
            .get_key("capabilities")
            .and_then(Value::as_seq)
            .map(|s| s.items().iter().cloned().collect())
            .unwrap_or_default();
        let mut ids = Vec::new();
        for (i, intent) in intents.iter().enumerate() {
            let wanted = intent.get_key("id").and_then(Value::as_str).unwrap_or("");
            // Made in this run (synthesized), else an existing one that serves it.
            let synthesized = made.iter().find_map(|m| {
                let id = m.get_key("id").and_then(Value::as_str)?;
                (id == wanted).then(|| id.to_string())
            });
            let id = match synthesized {
                Some(id) => id,
                None => {
                    let mut catalog = KernelCatalog { cx };
                    kiln_planner::resolve::resolve(intent, &mut catalog)
                        .map_err(plan_error)?
                        .ok_or_else(|| {
                            fail(
                                Reason::InvalidInput,
                                format!(
                                    "no capability serves intent {i} ({wanted}): resolve it or synthesize it first"
                                ),
                            )
                        })?
                }
            };
            ids.push(id);
        }
        kiln_planner::generate::plan(&intents, &ids)
            .map(|src| Value::str(&src))
            .map_err(plan_error)
    }
}

native!(
    ValidatePlan,
    "planner.validate_plan",
    "Checks a plan before it runs: syntax, arity, unknown symbols and capabilities, each step's output against the next step's input, effects against the trust level, nesting against max_plan_depth",
    "[:map [:plan :string]]"
);

/// Issue kinds that make a plan invalid (the others are worth knowing, not fatal).
const FATAL: [&str; 6] = [
    "parse",
    "arity",
    "unknown-symbol",
    "unknown-capability",
    "schema",
    "depth",
];

impl ValidatePlan {
    fn serve(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let plan = text_arg(self, arg, "plan", "{:plan \"<RTFS source>\"}")?;
        let entries = KernelCatalog { cx }.entries();
        let natives: Vec<&str> = crate::natives::ALL.iter().map(|n| n.id()).collect();
        let policy = cx.policy();
        let limits = kiln_planner::validate::Limits {
            max_plan_depth: policy.config.self_programming.max_plan_depth,
            trust: policy.trust,
        };
        let issues = kiln_planner::validate::validate(&plan, &entries, &natives, &limits);
        let valid = !issues.iter().any(|i| FATAL.contains(&i.kind));
        Ok(Value::map(vec![
            (Value::keyword("valid"), Value::Bool(valid)),
            (
                Value::keyword("issues"),
                Value::vector(issues.iter().map(|i| i.to_value()).collect()),
            ),
        ]))
    }
}

native!(
    IntrospectResult,
    "planner.introspect_result",
    "Examines an execution's output: its shape and size, and whether it satisfies an expected schema",
    "[:map [:result :any] [:expected-schema {:optional true} :any]]"
);

impl IntrospectResult {
    fn serve(&self, _: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let result = arg.get_key("result").cloned().unwrap_or(Value::Nil);
        Ok(kiln_planner::inspect::inspect(
            &result,
            arg.get_key("expected-schema"),
        ))
    }
}
