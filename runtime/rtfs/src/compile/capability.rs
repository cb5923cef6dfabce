//! The `capability` form: checks its properties and builds the descriptor the host receives.

use std::collections::HashSet;

use crate::code::Op;
use crate::error::Result;
use crate::reader::{Form, FormKind};
use crate::schema;
use crate::value::Value;

use super::{Compiler, lone_colon, perr};

impl Compiler {
    pub(super) fn capability(&mut self, f: &Form, items: &[Form]) -> Result<()> {
        let args = &items[1..];
        let id = match args.first().map(|a| &a.kind) {
            Some(FormKind::Str(s)) if !s.is_empty() => s.to_string(),
            _ => return Err(self.err(f.span, "capability needs a non-empty string id")),
        };
        if args.len() % 2 != 1 {
            return Err(self.err(f.span, "capability takes an id then key/value pairs"));
        }
        let mut props: Vec<(Value, Value)> = vec![
            (Value::keyword("kind"), Value::keyword("capability")),
            (Value::keyword("id"), Value::str(&id)),
            (Value::keyword("name"), Value::str(&id)),
            (Value::keyword("description"), Value::str("")),
            (Value::keyword("version"), Value::str("1.0.0")),
            (Value::keyword("input-schema"), Value::keyword("any")),
            (Value::keyword("output-schema"), Value::keyword("any")),
            (
                Value::keyword("effects"),
                Value::vector(vec![Value::keyword("pure")]),
            ),
            (Value::keyword("examples"), Value::vector(vec![])),
        ];
        let mut imp = None;
        let mut seen = HashSet::new();
        for pair in args[1..].chunks(2) {
            let Some(k) = pair[0].as_keyword() else {
                return Err(self.err(pair[0].span, "capability keys are keywords"));
            };
            let key = k.as_str();
            if !seen.insert(key.to_string()) {
                return Err(self.err(pair[0].span, format!("repeated capability key :{key}")));
            }
            let v = &pair[1];
            if key == "implementation" {
                imp = Some(v);
                continue;
            }
            if let Some(span) = lone_colon(v) {
                return Err(self.err(span, "a lone `:` is legal only in annotation positions"));
            }
            let value = v.to_value();
            let bad = |msg: &str| Err(perr(v.span, &self.file, format!(":{key} {msg}")));
            match key {
                "name" | "description" if !matches!(value, Value::Str(_)) => {
                    return bad("must be a string");
                }
                "version" => {
                    let ok = value.as_str().is_some_and(|s| {
                        let parts: Vec<&str> = s.split('.').collect();
                        parts.len() == 3
                            && parts
                                .iter()
                                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    });
                    if !ok {
                        return bad("must be a string MAJOR.MINOR.PATCH");
                    }
                }
                "input-schema" | "output-schema" => {
                    if let Err(m) = schema::parse(&value, true) {
                        return bad(&format!("is not a valid type expression: {m}"));
                    }
                }
                "effects" => {
                    let ok = match &value {
                        Value::Vector(items) => {
                            let all_kw =
                                items.items().iter().all(|x| matches!(x, Value::Keyword(_)));
                            let has_pure =
                                items.items().iter().any(|x| x == &Value::keyword("pure"));
                            all_kw && (!has_pure || items.len() == 1)
                        }
                        _ => false,
                    };
                    if !ok {
                        return bad("must be a vector of keywords ([:pure] alone)");
                    }
                }
                "examples" => {
                    let ok = match &value {
                        Value::Vector(items) => items.items().iter().all(|e| match e {
                            Value::Map(m) => {
                                m.get(&Value::keyword("input")).is_some()
                                    && m.get(&Value::keyword("output")).is_some()
                                    && m.get(&Value::keyword("doc"))
                                        .is_none_or(|d| matches!(d, Value::Str(_)))
                                    && e.is_data()
                            }
                            _ => false,
                        }),
                        _ => false,
                    };
                    if !ok {
                        return bad("must be a vector of {:input … :output …} maps");
                    }
                }
                _ => {}
            }
            props.retain(|(k, _)| k != &Value::keyword(key));
            props.push((Value::keyword(key), value));
        }
        match imp {
            Some(i) => self.expr(i, false)?,
            None => {
                self.emit(Op::Nil);
            }
        }
        self.span = f.span;
        let c = self.konst(Value::map(props));
        self.emit(Op::MakeCapability(c));
        Ok(())
    }
}
