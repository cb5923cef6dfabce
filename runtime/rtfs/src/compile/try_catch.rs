//! Error handling: `try` with its `catch` clauses and `finally`.

use std::collections::HashMap;

use crate::code::Op;
use crate::error::Result;
use crate::reader::{Form, FormKind};
use crate::value::Value;

use super::{Compiler, sym_name};

impl Compiler {
    pub(super) fn try_form(&mut self, _f: &Form, args: &[Form]) -> Result<()> {
        let mut body = Vec::new();
        let mut catches = Vec::new();
        let mut finally: Option<&[Form]> = None;
        for a in args {
            let head = match &a.kind {
                FormKind::List(items) => items.first().and_then(sym_name),
                _ => None,
            };
            let FormKind::List(items) = &a.kind else {
                if !catches.is_empty() || finally.is_some() {
                    return Err(self.err(a.span, "body forms must come before catch and finally"));
                }
                body.push(a);
                continue;
            };
            match head {
                Some("catch") => {
                    if finally.is_some() {
                        return Err(self.err(a.span, "finally must come last in try"));
                    }
                    let rest = &items[1..];
                    let catch_all = rest.first().is_some_and(|x| x.as_symbol().is_some())
                        && rest.get(1).is_none_or(|x| x.as_symbol().is_none());
                    let (selector, binding, cbody) = if catch_all {
                        (Value::symbol("_"), &rest[0], &rest[1..])
                    } else {
                        if rest.len() < 2 {
                            return Err(
                                self.err(a.span, "catch needs a selector and a binding symbol")
                            );
                        }
                        let sel = &rest[0];
                        let ok = match &sel.kind {
                            FormKind::Keyword(_) | FormKind::Symbol(_) => true,
                            FormKind::Vector(ks) => ks.iter().all(|k| k.as_keyword().is_some()),
                            _ => false,
                        };
                        if !ok {
                            return Err(self.err(
                                sel.span,
                                "a catch selector is a keyword, a vector of keywords or a symbol",
                            ));
                        }
                        if rest[1].as_symbol().is_none() {
                            return Err(self.err(rest[1].span, "a catch binding is a symbol"));
                        }
                        (sel.to_value(), &rest[1], &rest[2..])
                    };
                    catches.push((selector, binding, cbody, a.span));
                }
                Some("finally") => {
                    if finally.is_some() {
                        return Err(self.err(a.span, "only one finally in try"));
                    }
                    finally = Some(&items[1..]);
                }
                _ => {
                    if !catches.is_empty() || finally.is_some() {
                        return Err(
                            self.err(a.span, "body forms must come before catch and finally")
                        );
                    }
                    body.push(a);
                }
            }
        }
        let body: Vec<Form> = body.into_iter().cloned().collect();
        let h = self.emit(Op::PushHandler(0));
        self.push_scope(false);
        self.body(&body, false)?;
        self.pop_scope();
        self.emit(Op::PopHandler);
        let ok = self.emit(Op::Jump(0));
        self.patch(h);
        let h2 = finally.map(|_| self.emit(Op::PushHandler(0)));
        let mut done = Vec::new();
        for (sel, binding, cbody, span) in &catches {
            self.span = *span;
            let c = self.konst(sel.clone());
            self.emit(Op::ErrorMatches(c));
            let next = self.emit(Op::JumpIfFalse(0));
            self.push_scope(true);
            let pat = self.plan_pat(binding, &HashMap::new())?;
            self.emit_pat(&pat)?;
            self.declare_defs(cbody)?;
            self.body(cbody, false)?;
            self.pop_scope();
            done.push(self.emit(Op::Jump(0)));
            self.patch(next);
        }
        self.emit(Op::Rethrow);
        self.patch_all(done);
        if let (Some(fin), Some(h2)) = (finally, h2) {
            self.emit(Op::PopHandler);
            let to_ok = self.emit(Op::Jump(0));
            // An error in a catch body (or no matching clause): run finally, re-raise.
            self.patch(h2);
            let t = self.alloc(None)?;
            self.emit(Op::Bind(t));
            self.body(fin, false)?;
            self.emit(Op::Pop);
            self.emit(Op::Load(t));
            self.emit(Op::Rethrow);
            self.patch(to_ok);
            self.patch(ok);
            self.body(fin, false)?;
            self.emit(Op::Pop);
        } else {
            self.patch(ok);
        }
        Ok(())
    }
}
