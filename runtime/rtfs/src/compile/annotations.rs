//! Type annotations (§4.2): `name:type` patterns, annotation schemas and the checks emitted
//! for them.

use crate::code::{ConstIdx, Op};
use crate::error::Result;
use crate::reader::{Form, FormKind, Span};
use crate::schema;
use crate::value::{Name, Value};

use super::{Compiler, sym_name};

impl Compiler {
    /// `name:type` → (pattern `name`, annotation `type`).
    pub(super) fn annotated_pattern(&self, p: &Form) -> (Form, Option<Value>, Span) {
        if let Some(text) = sym_name(p)
            && let Some((name, ty)) = split_annotated(text)
        {
            let pattern = Form {
                kind: FormKind::Symbol(Name::new(name)),
                span: p.span,
            };
            return (pattern, Some(Value::symbol(ty)), p.span);
        }
        (p.clone(), None, p.span)
    }

    pub(super) fn schema_idx(&mut self, ann: &Value, span: Span) -> Result<u32> {
        let s = schema::parse(ann, true)
            .map_err(|m| self.err(span, format!("ill-formed type annotation: {m}")))?;
        let ch = &mut self.f().chunk;
        ch.schemas.push((s, ann.clone()));
        Ok((ch.schemas.len() - 1) as u32)
    }

    /// Emits a check of the top of stack against an annotation (the value stays).
    pub(super) fn check(&mut self, ann: Option<(u32, ConstIdx)>) {
        if let Some((schema, name)) = ann {
            self.emit(Op::CheckSchema { schema, name });
        }
    }

    pub(super) fn prepare_ann(
        &mut self,
        ann: &Option<Value>,
        span: Span,
        pattern: &Form,
    ) -> Result<Option<(u32, ConstIdx)>> {
        match ann {
            None => Ok(None),
            Some(a) => {
                let s = self.schema_idx(a, span)?;
                let name = match &pattern.kind {
                    FormKind::Symbol(_) => pattern.to_value(),
                    _ => pattern.to_value(),
                };
                let c = self.konst(name);
                Ok(Some((s, c)))
            }
        }
    }
}

/// Splits `name:type` (§4.2 rule 5) when the suffix names a type.
pub(super) fn split_annotated(text: &str) -> Option<(&str, &str)> {
    let (name, ty) = text.rsplit_once(':')?;
    if name.is_empty() || name.ends_with(':') || ty.is_empty() {
        return None;
    }
    schema::named_type(ty)?;
    Some((name, ty))
}
