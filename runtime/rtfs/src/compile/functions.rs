//! Functions and definitions: `fn` (single and multi-arity, parameter annotations, return
//! types, `:pre`/`:post` conditions), `defn` and `def`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::code::{Arity, Chunk, FnProto, Op};
use crate::error::Result;
use crate::reader::{Form, FormKind, Span};
use crate::schema;
use crate::value::{Name, Value};

use super::{Compiler, FnCtx, Param, RecurTarget, Scope, sym_name};

impl Compiler {
    pub(super) fn defn(&mut self, f: &Form, args: &[Form]) -> Result<()> {
        let Some(name) = args.first().filter(|n| n.as_symbol().is_some()) else {
            return Err(self.err(f.span, "defn needs a name"));
        };
        let mut rest = &args[1..];
        if rest.len() > 1 && matches!(rest[0].kind, FormKind::Str(_)) {
            rest = &rest[1..];
        }
        if rest.len() > 1 && matches!(rest[0].kind, FormKind::Map(_)) {
            rest = &rest[1..];
        }
        if rest.is_empty() {
            return Err(self.err(f.span, "defn needs a parameter vector"));
        }
        let (pattern, _, _) = self.annotated_pattern(name);
        let name_text = sym_name(&pattern).unwrap_or_default().to_string();
        if name_text.contains('/') || name_text == "&" || name_text == "_" || name_text == ":" {
            return Err(self.err(
                name.span,
                format!("cannot define `{name_text}`: names are unqualified symbols"),
            ));
        }
        let mut fn_items = vec![Form {
            kind: FormKind::Symbol(Name::new("fn")),
            span: f.span,
        }];
        fn_items.push(pattern.clone());
        fn_items.extend(rest.iter().cloned());
        let fn_form = Form {
            kind: FormKind::List(fn_items),
            span: f.span,
        };
        let FormKind::List(items) = &fn_form.kind else {
            unreachable!()
        };
        self.fn_form(&fn_form, &items[1..])?;
        self.define(&name_text, pattern.span)
    }

    pub(super) fn def(&mut self, f: &Form, args: &[Form]) -> Result<()> {
        let Some(name) = args.first().filter(|n| n.as_symbol().is_some()) else {
            return Err(self.err(f.span, "def needs a name"));
        };
        let (pattern, mut ann, mut ann_span) = self.annotated_pattern(name);
        let text = sym_name(&pattern).unwrap_or_default().to_string();
        if text.contains('/') || text == "&" || text == "_" || text == ":" {
            return Err(self.err(name.span, format!("cannot define `{text}`")));
        }
        let mut rest = &args[1..];
        if rest.len() > 1 && matches!(rest[0].kind, FormKind::Str(_)) {
            rest = &rest[1..];
        }
        if rest.len() > 1 && rest[0].is_symbol(":") {
            ann = Some(rest[1].to_value());
            ann_span = rest[1].span;
            rest = &rest[2..];
        } else if rest.len() > 1 && rest[0].as_keyword().is_some() {
            ann = Some(rest[0].to_value());
            ann_span = rest[0].span;
            rest = &rest[1..];
        }
        if rest.len() != 1 {
            return Err(self.err(
                f.span,
                "def takes a name, an optional annotation and one value",
            ));
        }
        self.expr(&rest[0], false)?;
        let ann = self.prepare_ann(&ann, ann_span, &pattern)?;
        self.check(ann);
        self.define(&text, name.span)
    }

    /// Binds the top of stack (kept) to `name` in the innermost frame.
    fn define(&mut self, name: &str, span: Span) -> Result<()> {
        let _ = span;
        self.reveal(name);
        let f = self.f();
        let target = f
            .scopes
            .iter()
            .rev()
            .find(|s| s.frame)
            .and_then(|s| s.vars.iter().rev().find(|(n, _)| &**n == name).map(|v| v.1));
        let has_frame = f.scopes.iter().any(|s| s.frame);
        match target {
            Some(s) => {
                self.emit(Op::Dup);
                self.emit(Op::Assign(s));
            }
            None if !has_frame && self.fns.len() == 1 => {
                let ch = &self.f().chunk;
                let arities = match ch.code.last() {
                    Some(Op::MakeClosure(p)) => Some(
                        ch.protos[*p as usize]
                            .arities
                            .iter()
                            .map(|a| (a.fixed, a.rest))
                            .collect(),
                    ),
                    _ => None,
                };
                self.info.defined.push((Name::new(name), arities));
                let g = self.global(name);
                self.emit(Op::SetGlobal(g));
            }
            None => {
                // A def the pre-scan could not see (e.g. inside a threading form): bind in
                // the innermost frame from here on.
                let s = self.alloc(Some(name))?;
                let f = self.f();
                if let Some(scope) = f.scopes.iter_mut().rev().find(|s| s.frame) {
                    scope.vars.push((name.into(), s));
                }
                self.emit(Op::Dup);
                self.emit(Op::Bind(s));
            }
        }
        Ok(())
    }

    pub(super) fn fn_form(&mut self, f: &Form, args: &[Form]) -> Result<()> {
        let mut rest = args;
        let mut name = None;
        if let Some(n) = rest.first().and_then(Form::as_symbol) {
            name = Some(n.clone());
            rest = &rest[1..];
        }
        let arities: Vec<(&Form, &[Form])> = match rest.first().map(|x| &x.kind) {
            Some(FormKind::Vector(_)) => vec![(&rest[0], &rest[1..])],
            Some(FormKind::List(_)) => {
                let mut out = Vec::new();
                for a in rest {
                    let FormKind::List(items) = &a.kind else {
                        return Err(self.err(
                            a.span,
                            "each arity of a multi-arity fn is a list ([params] body…)",
                        ));
                    };
                    match items.first() {
                        Some(
                            p @ Form {
                                kind: FormKind::Vector(_),
                                ..
                            },
                        ) => out.push((p, &items[1..])),
                        _ => {
                            return Err(self.err(a.span, "an arity starts with a parameter vector"));
                        }
                    }
                }
                out
            }
            _ => return Err(self.err(f.span, "fn needs a parameter vector")),
        };
        let file = self.file.clone();
        self.fns.push(FnCtx::new(name.clone(), false, file));
        let mut compiled = Vec::new();
        let mut seen_fixed = HashSet::new();
        let mut variadic: Option<usize> = None;
        let mut max_fixed = 0;
        for (params, body) in &arities {
            let arity = match self.arity(params, body) {
                Ok(a) => a,
                Err(e) => {
                    self.fns.pop();
                    return Err(e);
                }
            };
            if arity.rest {
                if variadic.is_some() {
                    self.fns.pop();
                    return Err(self.err(params.span, "at most one variadic arity"));
                }
                variadic = Some(arity.fixed);
            } else {
                if !seen_fixed.insert(arity.fixed) {
                    self.fns.pop();
                    return Err(self.err(params.span, "two arities with the same parameter count"));
                }
                max_fixed = max_fixed.max(arity.fixed);
            }
            compiled.push(arity);
        }
        if let Some(v) = variadic
            && v < max_fixed
        {
            self.fns.pop();
            return Err(self.err(
                f.span,
                "the variadic arity must have at least as many fixed parameters as any other",
            ));
        }
        let ctx = self.fns.pop().expect("fn context");
        let proto = FnProto {
            name,
            arities: compiled,
            captures: ctx.captures,
            capture_names: ctx.capture_names,
        };
        let ch = &mut self.f().chunk;
        ch.protos.push(Rc::new(proto));
        let p = (ch.protos.len() - 1) as u32;
        self.span = f.span;
        self.emit(Op::MakeClosure(p));
        Ok(())
    }

    fn params(&self, v: &Form) -> Result<(Vec<Param>, Option<Param>)> {
        let FormKind::Vector(items) = &v.kind else {
            return Err(self.err(v.span, "expected a parameter vector"));
        };
        let mut fixed = Vec::new();
        let mut rest = None;
        let mut i = 0;
        let mut after_amp = false;
        while i < items.len() {
            let it = &items[i];
            if it.is_symbol("&") {
                if after_amp {
                    return Err(self.err(it.span, "only one `&` in a parameter vector"));
                }
                after_amp = true;
                i += 1;
                continue;
            }
            let (pattern, ann, span) = self.annotated_pattern(it);
            let mut ann = ann.map(|a| (a, span));
            i += 1;
            if items.get(i).is_some_and(|x| x.is_symbol(":")) {
                let Some(t) = items.get(i + 1) else {
                    return Err(self.err(items[i].span, "`:` must be followed by a type"));
                };
                ann = Some((t.to_value(), t.span));
                i += 2;
            } else if let Some(k) = items.get(i).filter(|x| x.as_keyword().is_some()) {
                ann = Some((k.to_value(), k.span));
                i += 1;
            }
            let p = Param { pattern, ann };
            if after_amp {
                if rest.is_some() {
                    return Err(self.err(it.span, "only one rest parameter"));
                }
                rest = Some(p);
            } else {
                fixed.push(p);
            }
        }
        if after_amp && rest.is_none() {
            return Err(self.err(v.span, "`&` must be followed by a rest parameter"));
        }
        Ok((fixed, rest))
    }

    fn arity(&mut self, params_form: &Form, body: &[Form]) -> Result<Arity> {
        let (fixed, rest) = self.params(params_form)?;
        let file = self.file.clone();
        // Reset per-arity state, keeping the prototype's captures.
        {
            let f = self.f();
            f.chunk = Chunk {
                file,
                ..Default::default()
            };
            f.scopes = vec![Scope {
                vars: Vec::new(),
                pending: Vec::new(),
                frame: true,
            }];
            f.captured = Vec::new();
            f.recur = None;
        }
        let all: Vec<&Param> = fixed.iter().chain(rest.iter()).collect();
        let mut arg_slots = Vec::new();
        for p in &all {
            let name = sym_name(&p.pattern).filter(|n| *n != "_");
            arg_slots.push(self.alloc(name)?);
        }
        // Plain symbol parameters are their argument slots.
        let mut plain = Vec::new();
        for (p, &s) in all.iter().zip(&arg_slots) {
            if let Some(n) = sym_name(&p.pattern) {
                if n == "&"
                    || n == ":"
                    || p.pattern
                        .as_symbol()
                        .is_some_and(|s| s.namespace().is_some())
                {
                    return Err(self.err(p.pattern.span, format!("cannot bind `{n}`")));
                }
                if n != "_" {
                    self.add_var(n, s);
                    plain.push(s);
                }
            }
        }
        // Return type and conditions.
        let mut body = body;
        let mut ret = None;
        if body.len() > 1 && body[0].is_symbol(":") {
            ret = Some((body[1].to_value(), body[1].span));
            body = &body[2..];
        } else if body.len() > 1
            && let Some(k) = body[0].as_keyword()
            && schema::named_type(k.as_str()).is_some()
        {
            ret = Some((body[0].to_value(), body[0].span));
            body = &body[1..];
        }
        let mut pre = Vec::new();
        let mut post = Vec::new();
        if body.len() > 1
            && let FormKind::Map(items) = &body[0].kind
            && !items.is_empty()
            && items.chunks(2).all(|p| {
                p[0].as_keyword()
                    .is_some_and(|k| k.as_str() == "pre" || k.as_str() == "post")
            })
        {
            for pair in items.chunks(2) {
                let FormKind::Vector(conds) = &pair[1].kind else {
                    return Err(
                        self.err(pair[1].span, ":pre and :post take a vector of conditions")
                    );
                };
                if pair[0].as_keyword().is_some_and(|k| k.as_str() == "pre") {
                    pre.extend(conds.iter().cloned());
                } else {
                    post.extend(conds.iter().cloned());
                }
            }
            body = &body[1..];
        }
        // Prologue (the recur target is 0).
        for (i, (p, &s)) in all.iter().zip(&arg_slots).enumerate() {
            let is_rest = rest.is_some() && i == all.len() - 1;
            if let Some((a, span)) = &p.ann {
                let schema = self.schema_idx(a, *span)?;
                let name = self.konst(p.pattern.to_value());
                self.emit(Op::Load(s));
                self.emit(if is_rest {
                    Op::CheckEach { schema, name }
                } else {
                    Op::CheckSchema { schema, name }
                });
                self.emit(Op::Pop);
            }
        }
        for (p, &s) in all.iter().zip(&arg_slots) {
            if sym_name(&p.pattern).is_none() {
                self.emit(Op::Load(s));
                let pat = self.plan_pat(&p.pattern, &HashMap::new())?;
                self.emit_pat(&pat)?;
            }
        }
        self.declare_defs(body)?;
        for c in &pre {
            self.expr(c, false)?;
            let k = self.konst(c.to_value());
            self.emit(Op::Assert(k));
        }
        self.f().recur = Some(RecurTarget::Fn {
            args: arg_slots.clone(),
        });
        self.body(body, true)?;
        self.f().recur = None;
        if !post.is_empty() {
            self.push_scope(true);
            let s = self.alloc(Some("%"))?;
            self.add_var("%", s);
            self.emit(Op::Bind(s));
            for c in &post {
                self.expr(c, false)?;
                let k = self.konst(c.to_value());
                self.emit(Op::Assert(k));
            }
            self.emit(Op::Load(s));
            self.pop_scope();
        }
        if let Some((a, span)) = &ret {
            let schema = self.schema_idx(a, *span)?;
            let name = self.konst(Value::Nil);
            self.emit(Op::CheckSchema { schema, name });
        }
        self.emit(Op::Return);
        // Finish this arity: take the chunk out, keep the prototype-level state.
        let f = self.f();
        let captured = std::mem::take(&mut f.captured);
        let mut chunk = std::mem::take(&mut f.chunk);
        for op in &mut chunk.code {
            *op = match *op {
                Op::Bind(s) if captured[s as usize] => Op::BindCell(s),
                Op::Declare(s) if captured[s as usize] => Op::DeclareCell(s),
                Op::Assign(s) if captured[s as usize] => Op::AssignCell(s),
                Op::Load(s) if captured[s as usize] => Op::LoadCell(s),
                other => other,
            };
        }
        chunk.promote = plain
            .iter()
            .copied()
            .filter(|&s| captured[s as usize])
            .collect();
        Ok(Arity {
            fixed: fixed.len(),
            rest: rest.is_some(),
            chunk: Rc::new(chunk),
        })
    }
}
