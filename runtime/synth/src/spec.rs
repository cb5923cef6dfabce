//! The spec: parameters with schemas, input/output examples, an optional description and an
//! optional output schema — exactly the columns of the PBE benchmark (`data/README.md`).

use rtfs::Value;
use rtfs::print::print;

/// What a program must do: its parameters (name, schema) and examples.
///
/// ```
/// let form = rtfs::reader::read_expr(
///     "{:params [[xs [:vector :int]]] :examples [{:args [[1 2]] :out 3} {:args [[]] :out 0}]}",
///     &Default::default(),
/// ).unwrap();
/// let spec = kiln_synth::Spec::parse(&form.to_value()).unwrap();
/// assert_eq!(spec.params[0].0, "xs");
/// assert_eq!(spec.examples.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Parameter names and their schemas (RTFS type expressions as data).
    pub params: Vec<(String, Value)>,
    /// The examples, at least one.
    pub examples: Vec<Example>,
    /// One sentence about the task (not used by the offline synthesizer).
    pub description: Option<String>,
    /// The schema of the result, when known.
    pub output_schema: Option<Value>,
}

/// One example: the arguments and the expected result (compared by RTFS `=`).
///
/// ```
/// let e = kiln_synth::Example { args: vec![rtfs::Value::Int(2)], out: rtfs::Value::Int(3) };
/// assert_eq!(e.args.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub args: Vec<Value>,
    pub out: Value,
}

/// Why a spec was refused. Each error names the field and what is wrong with it.
///
/// ```
/// let form = rtfs::reader::read_expr(
///     "{:params [[x :int]] :examples [{:args [1] :out 2} {:args [1] :out 3}]}",
///     &Default::default(),
/// ).unwrap();
/// let err = kiln_synth::Spec::parse(&form.to_value()).unwrap_err();
/// assert!(matches!(err, kiln_synth::SpecError::Contradictory { first: 0, second: 1, .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The spec is not a map.
    #[error(
        "a spec is a map {{:params [[name schema] …] :examples [{{:args [...] :out v}} …]}}, not {found}"
    )]
    NotAMap { found: String },
    /// A required field is absent.
    #[error("{field} is missing")]
    Missing { field: &'static str },
    /// A field is malformed.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Two examples give the same arguments different results: no program satisfies both.
    #[error(
        "examples {first} and {second} are contradictory: the same :args {args} with :out {first_out} and {second_out}"
    )]
    Contradictory {
        first: usize,
        second: usize,
        args: String,
        first_out: String,
        second_out: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Vector(s) | Value::List(s) => Some(s.items().iter().cloned().collect()),
        _ => None,
    }
}

impl Spec {
    /// Reads a spec from its RTFS map `{:params [[name schema] …] :examples [{:args [...] :out
    /// v} …] :description "…" :output-schema S}`, checking every field, the examples against
    /// the schemas, and that no two examples contradict each other.
    ///
    /// ```
    /// let v = rtfs::reader::read_expr("{:params [[x :int]] :examples []}", &Default::default())
    ///     .unwrap()
    ///     .to_value();
    /// let err = kiln_synth::Spec::parse(&v).unwrap_err();
    /// assert_eq!(err.to_string(), ":examples: at least one example is needed");
    /// ```
    pub fn parse(v: &Value) -> Result<Spec, SpecError> {
        let Value::Map(m) = v else {
            return Err(SpecError::NotAMap {
                found: rtfs::print::print_cut(v, 60),
            });
        };
        for (k, _) in m.entries().iter() {
            let known = matches!(k, Value::Keyword(n)
                if matches!(n.as_str(), "params" | "examples" | "description" | "output-schema"));
            if !known {
                return Err(invalid(
                    print(k),
                    "unknown field (a spec has :params, :examples, :description, :output-schema)",
                ));
            }
        }
        let field = |name: &str| m.get(&Value::keyword(name)).cloned();
        let params_v = field("params").ok_or(SpecError::Missing { field: ":params" })?;
        let examples_v = field("examples").ok_or(SpecError::Missing { field: ":examples" })?;
        let params_items = items(&params_v)
            .ok_or_else(|| invalid(":params", "a vector of [name schema] pairs is expected"))?;
        let mut params = Vec::new();
        for (i, p) in params_items.iter().enumerate() {
            let here = format!(":params[{i}]");
            let pair = items(p).filter(|p| p.len() == 2).ok_or_else(|| {
                invalid(
                    &here,
                    format!("a [name schema] pair is expected, not {}", print(p)),
                )
            })?;
            let name = match &pair[0] {
                Value::Symbol(s) => s.as_str().to_string(),
                Value::Str(s) => s.to_string(),
                other => {
                    return Err(invalid(
                        &here,
                        format!("the name must be a symbol, not {}", print(other)),
                    ));
                }
            };
            if !rtfs::reader::is_valid_symbol_text(&name) || name.contains('/') || name == "fn" {
                return Err(invalid(&here, format!("`{name}` cannot name a parameter")));
            }
            if params.iter().any(|(n, _): &(String, Value)| *n == name) {
                return Err(invalid(
                    &here,
                    format!("the parameter `{name}` is named twice"),
                ));
            }
            rtfs::schema::parse(&pair[1], true)
                .map_err(|e| invalid(&here, format!("bad schema for `{name}`: {e}")))?;
            params.push((name, pair[1].clone()));
        }
        let description = match field("description") {
            None | Some(Value::Nil) => None,
            Some(Value::Str(s)) => Some(s.to_string()),
            Some(other) => {
                return Err(invalid(
                    ":description",
                    format!("a string is expected, not {}", print(&other)),
                ));
            }
        };
        let output_schema = match field("output-schema") {
            None | Some(Value::Nil) => None,
            Some(s) => {
                rtfs::schema::parse(&s, true).map_err(|e| invalid(":output-schema", e))?;
                Some(s)
            }
        };
        let ex_items = items(&examples_v).ok_or_else(|| {
            invalid(
                ":examples",
                "a vector of {:args [...] :out v} maps is expected",
            )
        })?;
        let mut examples = Vec::new();
        for (i, e) in ex_items.iter().enumerate() {
            let here = format!(":examples[{i}]");
            let Value::Map(em) = e else {
                return Err(invalid(
                    &here,
                    format!("a map {{:args [...] :out v}} is expected, not {}", print(e)),
                ));
            };
            for (k, _) in em.entries().iter() {
                if !matches!(k, Value::Keyword(n) if matches!(n.as_str(), "args" | "out")) {
                    return Err(invalid(
                        &here,
                        format!("unknown key {} (an example has :args and :out)", print(k)),
                    ));
                }
            }
            let args_v = em
                .get(&Value::keyword("args"))
                .ok_or_else(|| invalid(&here, ":args is missing"))?;
            let out = em
                .get(&Value::keyword("out"))
                .cloned()
                .ok_or_else(|| invalid(&here, ":out is missing"))?;
            let args = items(args_v).ok_or_else(|| {
                invalid(format!("{here} :args"), "a vector of arguments is expected")
            })?;
            examples.push(Example { args, out });
        }
        let spec = Spec {
            params,
            examples,
            description,
            output_schema,
        };
        spec.check()?;
        Ok(spec)
    }

    /// Checks a spec built in code as [`Spec::parse`] checks a parsed one.
    ///
    /// ```
    /// use kiln_synth::{Example, Spec};
    /// use rtfs::Value;
    /// let spec = Spec {
    ///     params: vec![("x".into(), Value::keyword("int"))],
    ///     examples: vec![Example { args: vec![], out: Value::Int(1) }],
    ///     description: None,
    ///     output_schema: None,
    /// };
    /// assert!(spec.check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), SpecError> {
        if self.examples.is_empty() {
            return Err(invalid(":examples", "at least one example is needed"));
        }
        let schemas: Vec<rtfs::schema::Schema> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, (n, s))| {
                rtfs::schema::parse(s, true).map_err(|e| {
                    invalid(
                        format!(":params[{i}]"),
                        format!("bad schema for `{n}`: {e}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let out_schema = match &self.output_schema {
            Some(s) => {
                Some(rtfs::schema::parse(s, true).map_err(|e| invalid(":output-schema", e))?)
            }
            None => None,
        };
        for (i, e) in self.examples.iter().enumerate() {
            let here = format!(":examples[{i}]");
            if e.args.len() != self.params.len() {
                return Err(invalid(
                    format!("{here} :args"),
                    format!(
                        "{} argument(s) for {} parameter(s)",
                        e.args.len(),
                        self.params.len()
                    ),
                ));
            }
            for (j, (a, s)) in e.args.iter().zip(&schemas).enumerate() {
                if !a.is_data() {
                    return Err(invalid(
                        format!("{here} :args[{j}]"),
                        "only data values can be arguments",
                    ));
                }
                if !rtfs::schema::valid(s, a) {
                    return Err(invalid(
                        format!("{here} :args[{j}]"),
                        format!(
                            "{} does not match the schema of `{}`: {}",
                            rtfs::print::print_cut(a, 60),
                            self.params[j].0,
                            print(&self.params[j].1)
                        ),
                    ));
                }
            }
            if !e.out.is_data() {
                return Err(invalid(
                    format!("{here} :out"),
                    "only a data value can be a result",
                ));
            }
            if let Some(s) = &out_schema
                && !rtfs::schema::valid(s, &e.out)
            {
                return Err(invalid(
                    format!("{here} :out"),
                    format!(
                        "{} does not match the :output-schema",
                        rtfs::print::print_cut(&e.out, 60)
                    ),
                ));
            }
        }
        for (i, a) in self.examples.iter().enumerate() {
            for (j, b) in self.examples.iter().enumerate().skip(i + 1) {
                let same_args = a.args.len() == b.args.len()
                    && a.args
                        .iter()
                        .zip(&b.args)
                        .all(|(x, y)| rtfs::order::equal(x, y));
                if same_args && !rtfs::order::equal(&a.out, &b.out) {
                    return Err(SpecError::Contradictory {
                        first: i,
                        second: j,
                        args: rtfs::print::print_cut(&Value::vector(a.args.clone()), 80),
                        first_out: rtfs::print::print_cut(&a.out, 60),
                        second_out: rtfs::print::print_cut(&b.out, 60),
                    });
                }
            }
        }
        Ok(())
    }
}
