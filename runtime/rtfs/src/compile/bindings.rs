//! Bindings: binding vectors, destructuring patterns (sequential and associative), the
//! frame's declared and pending names (§3.2), `let`, `if-let`/`when-let`, `loop` and `recur`.

use std::collections::HashMap;
use std::rc::Rc;

use crate::code::{Op, SlotIdx};
use crate::error::Result;
use crate::reader::{Form, FormKind};
use crate::schema;
use crate::value::{Name, Value};

use super::annotations::split_annotated;
use super::{Binding, Compiler, Pat, RecurTarget, is_fn_form, sym_name};

impl Compiler {
    /// Parses a `let`/`loop` binding vector.
    pub(super) fn bindings<'f>(&self, v: &'f Form, what: &str) -> Result<Vec<Binding<'f>>> {
        let FormKind::Vector(items) = &v.kind else {
            return Err(self.err(v.span, format!("{what} needs a binding vector")));
        };
        let mut out = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let (pattern, mut ann, mut ann_span) = self.annotated_pattern(&items[i]);
            i += 1;
            if items.get(i).is_some_and(|x| x.is_symbol(":")) {
                let Some(t) = items.get(i + 1) else {
                    return Err(self.err(items[i].span, "`:` must be followed by a type"));
                };
                ann = Some(t.to_value());
                ann_span = t.span;
                i += 2;
            } else if let Some(k) = items.get(i).and_then(Form::as_keyword)
                && schema::is_capitalised_type(k.as_str())
                && i + 1 < items.len()
            {
                ann = Some(items[i].to_value());
                ann_span = items[i].span;
                i += 1;
            }
            let Some(init) = items.get(i) else {
                return Err(self.err(
                    v.span,
                    format!("{what} binding vector needs an even number of forms (pattern, value)"),
                ));
            };
            i += 1;
            out.push(Binding {
                pattern,
                ann,
                ann_span,
                init,
            });
        }
        Ok(out)
    }

    /// Plans a binding pattern: allocates its slots and brings its names into scope.
    /// `assign` names slots already declared in the current frame (rebinding, letrec).
    pub(super) fn plan_pat(&mut self, p: &Form, assign: &HashMap<Rc<str>, SlotIdx>) -> Result<Pat> {
        match &p.kind {
            FormKind::Symbol(n) => {
                let text = n.as_str();
                if text == "_" {
                    return Ok(Pat::Ignore);
                }
                if text == "&" || text == ":" || n.namespace().is_some() {
                    return Err(self.err(p.span, format!("cannot bind `{text}`")));
                }
                if let Some(&slot) = assign.get(text) {
                    return Ok(Pat::Sym { slot, assign: true });
                }
                let slot = self.alloc(Some(text))?;
                self.add_var(text, slot);
                Ok(Pat::Sym {
                    slot,
                    assign: false,
                })
            }
            FormKind::Vector(items) => {
                let temp = self.alloc(None)?;
                let mut fixed = Vec::new();
                let mut rest = None;
                let mut all = None;
                let mut i = 0;
                while i < items.len() {
                    let it = &items[i];
                    if it.is_symbol("&") {
                        let Some(r) = items.get(i + 1) else {
                            return Err(self.err(it.span, "`&` must be followed by a pattern"));
                        };
                        if rest.is_some() {
                            return Err(self.err(it.span, "only one `&` in a pattern"));
                        }
                        rest = Some(Box::new(self.plan_pat(r, assign)?));
                        i += 2;
                    } else if it.as_keyword().is_some_and(|k| k.as_str() == "as") {
                        let Some(a) = items.get(i + 1).filter(|a| a.as_symbol().is_some()) else {
                            return Err(self.err(it.span, "`:as` must be followed by a symbol"));
                        };
                        all = Some(Box::new(self.plan_pat(a, assign)?));
                        i += 2;
                    } else {
                        if rest.is_some() || all.is_some() {
                            return Err(self.err(it.span, "patterns after `&` or `:as`"));
                        }
                        fixed.push(self.plan_pat(it, assign)?);
                        i += 1;
                    }
                }
                Ok(Pat::Seq {
                    temp,
                    items: fixed,
                    rest,
                    all,
                })
            }
            FormKind::Map(items) => {
                let temp = self.alloc(None)?;
                let mut defaults: HashMap<String, Form> = HashMap::new();
                for pair in items.chunks(2) {
                    if pair[0].as_keyword().is_some_and(|k| k.as_str() == "or") {
                        let FormKind::Map(d) = &pair[1].kind else {
                            return Err(self.err(pair[1].span, "`:or` needs a map of defaults"));
                        };
                        for dp in d.chunks(2) {
                            let Some(s) = sym_name(&dp[0]) else {
                                return Err(self.err(dp[0].span, "`:or` keys are symbols"));
                            };
                            defaults.insert(s.to_string(), dp[1].clone());
                        }
                    }
                }
                let mut entries = Vec::new();
                let mut all = None;
                for pair in items.chunks(2) {
                    let (k, v) = (&pair[0], &pair[1]);
                    let directive = k.as_keyword().map(|k| k.as_str().to_string());
                    match directive.as_deref() {
                        Some("or") => {}
                        Some("as") => {
                            if v.as_symbol().is_none() {
                                return Err(self.err(v.span, "`:as` must be followed by a symbol"));
                            }
                            all = Some(Box::new(self.plan_pat(v, assign)?));
                        }
                        Some(d @ ("keys" | "strs" | "syms")) => {
                            let FormKind::Vector(names) = &v.kind else {
                                return Err(self.err(v.span, format!("`:{d}` needs a vector")));
                            };
                            for n in names {
                                let (text, span) = match &n.kind {
                                    FormKind::Symbol(s) => (s.as_str().to_string(), n.span),
                                    FormKind::Keyword(s) if d == "keys" => {
                                        (s.as_str().to_string(), n.span)
                                    }
                                    _ => {
                                        return Err(
                                            self.err(n.span, format!("`:{d}` names are symbols"))
                                        );
                                    }
                                };
                                let key = match d {
                                    "keys" => Value::keyword(&text),
                                    "strs" => Value::str(&text),
                                    _ => Value::symbol(&text),
                                };
                                let local = Name::new(&text).name().to_string();
                                let sym = Form {
                                    kind: FormKind::Symbol(Name::new(&local)),
                                    span,
                                };
                                let pat = self.plan_pat(&sym, assign)?;
                                let c = self.konst(key);
                                entries.push((c, pat, defaults.get(&local).cloned()));
                            }
                        }
                        _ => {
                            // `pattern key` (Clojure) or `key pattern` (key-first).
                            let key_first = matches!(
                                k.kind,
                                FormKind::Keyword(_)
                                    | FormKind::Str(_)
                                    | FormKind::Int(_)
                                    | FormKind::Float(_)
                                    | FormKind::Bool(_)
                                    | FormKind::Nil
                            );
                            let (pat_form, key_form) = if key_first { (v, k) } else { (k, v) };
                            if !key_first
                                && !matches!(
                                    k.kind,
                                    FormKind::Symbol(_) | FormKind::Vector(_) | FormKind::Map(_)
                                )
                            {
                                return Err(self.err(k.span, "invalid map destructuring entry"));
                            }
                            let default = sym_name(pat_form).and_then(|s| defaults.get(s).cloned());
                            let pat = self.plan_pat(pat_form, assign)?;
                            let c = self.konst(key_form.to_value());
                            entries.push((c, pat, default));
                        }
                    }
                }
                Ok(Pat::Map { temp, entries, all })
            }
            _ => Err(self.err(p.span, "invalid binding pattern")),
        }
    }

    /// Binds the top of stack to a planned pattern (consumes it).
    pub(super) fn emit_pat(&mut self, p: &Pat) -> Result<()> {
        match p {
            Pat::Ignore => {
                self.emit(Op::Pop);
            }
            Pat::Sym { slot, assign } => {
                self.emit(if *assign {
                    Op::Assign(*slot)
                } else {
                    Op::Bind(*slot)
                });
            }
            Pat::Seq {
                temp,
                items,
                rest,
                all,
            } => {
                self.emit(Op::Bind(*temp));
                if let Some(a) = all {
                    self.emit(Op::Load(*temp));
                    self.emit_pat(a)?;
                }
                self.emit(Op::SeqPattern(*temp));
                for (i, it) in items.iter().enumerate() {
                    self.emit(Op::Load(*temp));
                    self.emit(Op::NthOrNil(i as u32));
                    self.emit_pat(it)?;
                }
                if let Some(r) = rest {
                    self.emit(Op::Load(*temp));
                    self.emit(Op::RestFrom(items.len() as u32));
                    self.emit_pat(r)?;
                }
            }
            Pat::Map { temp, entries, all } => {
                self.emit(Op::Bind(*temp));
                self.emit(Op::MapPattern(*temp));
                for (key, pat, default) in entries {
                    self.emit(Op::Load(*temp));
                    match default {
                        None => {
                            self.emit(Op::GetKey(*key));
                        }
                        Some(d) => {
                            let j = self.emit(Op::GetKeyOr(*key, 0));
                            let over = self.emit(Op::Jump(0));
                            self.patch(j);
                            self.expr(d, false)?;
                            self.patch(over);
                        }
                    }
                    self.emit_pat(pat)?;
                }
                if let Some(a) = all {
                    self.emit(Op::Load(*temp));
                    self.emit_pat(a)?;
                }
            }
        }
        Ok(())
    }

    /// Declares the `def`/`defn` names of a frame body in the current (frame) scope.
    pub(super) fn declare_defs(&mut self, body: &[Form]) -> Result<()> {
        let mut names = Vec::new();
        for f in body {
            scan_defs(f, &mut names);
        }
        for n in names {
            let here = self.f().scopes.last().is_some_and(|s| {
                s.vars.iter().any(|(v, _)| **v == *n) || s.pending.iter().any(|(v, _)| **v == *n)
            });
            if here {
                continue;
            }
            let s = self.alloc(Some(&n))?;
            self.add_pending(&n, s);
            self.emit(Op::Declare(s));
        }
        Ok(())
    }

    fn add_pending(&mut self, name: &str, slot: SlotIdx) {
        if let Some(scope) = self.f().scopes.last_mut() {
            scope.pending.push((name.into(), slot));
        }
    }

    /// Makes a pending name of the innermost frame visible from here on.
    pub(super) fn reveal(&mut self, name: &str) -> Option<SlotIdx> {
        let scope = self.f().scopes.iter_mut().rev().find(|s| s.frame)?;
        let i = scope.pending.iter().position(|(n, _)| &**n == name)?;
        let (n, s) = scope.pending.remove(i);
        scope.vars.push((n, s));
        Some(s)
    }

    pub(super) fn let_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        let Some(v) = args.first() else {
            return Err(self.err(f.span, "let needs a binding vector"));
        };
        let binds = self.bindings(v, "let")?;
        let body = &args[1..];
        self.push_scope(true);
        // All bindings live in one frame (§3.2). Letrec: plain symbols bound to fn forms are
        // declared and visible first. Every other plain symbol, and every `def` of the body,
        // is declared now but stays pending until bound: the frame's own code resolves it
        // outward until then, closures made in the frame see the binding once it exists.
        let mut declared: HashMap<Rc<str>, SlotIdx> = HashMap::new();
        for b in &binds {
            if let Some(n) = sym_name(&b.pattern)
                && n != "_"
                && is_fn_form(b.init)
                && !declared.contains_key(n)
            {
                let s = self.alloc(Some(n))?;
                self.add_var(n, s);
                self.emit(Op::Declare(s));
                declared.insert(n.into(), s);
            }
        }
        for b in &binds {
            if let Some(n) = sym_name(&b.pattern)
                && n != "_"
                && !declared.contains_key(n)
            {
                let s = self.alloc(Some(n))?;
                self.add_pending(n, s);
                self.emit(Op::Declare(s));
                declared.insert(n.into(), s);
            }
        }
        self.declare_defs(body)?;
        for b in &binds {
            self.expr(b.init, false)?;
            let ann = self.prepare_ann(&b.ann, b.ann_span, &b.pattern)?;
            self.check(ann);
            let pat = self.plan_pat(&b.pattern, &declared)?;
            self.emit_pat(&pat)?;
            if let Some(n) = sym_name(&b.pattern) {
                self.reveal(n);
            }
        }
        self.body(body, tail)?;
        self.pop_scope();
        Ok(())
    }

    pub(super) fn if_let(&mut self, f: &Form, head: &str, args: &[Form], tail: bool) -> Result<()> {
        let Some(v) = args.first() else {
            return Err(self.err(f.span, format!("{head} needs a binding vector")));
        };
        let binds = self.bindings(v, head)?;
        if binds.len() != 1 {
            return Err(self.err(v.span, format!("{head} takes exactly one binding")));
        }
        let (then, els): (&[Form], Option<&Form>) = if head == "if-let" {
            if !(2..=3).contains(&args.len()) {
                return Err(self.err(
                    f.span,
                    "if-let takes a binding vector, a then and an optional else",
                ));
            }
            (&args[1..2], args.get(2))
        } else {
            (&args[1..], None)
        };
        let b = &binds[0];
        self.expr(b.init, false)?;
        self.emit(Op::Dup);
        let j = self.emit(Op::JumpIfFalse(0));
        self.push_scope(true);
        let ann = self.prepare_ann(&b.ann, b.ann_span, &b.pattern)?;
        self.check(ann);
        let pat = self.plan_pat(&b.pattern, &HashMap::new())?;
        self.emit_pat(&pat)?;
        self.declare_defs(then)?;
        self.body(then, tail)?;
        self.pop_scope();
        let end = self.emit(Op::Jump(0));
        self.patch(j);
        self.emit(Op::Pop);
        self.else_branch(els, end, tail)
    }

    pub(super) fn loop_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        let _ = tail;
        let Some(v) = args.first() else {
            return Err(self.err(f.span, "loop needs a binding vector"));
        };
        let binds = self.bindings(v, "loop")?;
        self.push_scope(true);
        let mut temps = Vec::new();
        let mut plans = Vec::new();
        for b in &binds {
            self.expr(b.init, false)?;
            let ann = self.prepare_ann(&b.ann, b.ann_span, &b.pattern)?;
            self.check(ann);
            let pat = self.plan_pat(&b.pattern, &HashMap::new())?;
            self.emit_pat(&pat)?;
            temps.push(self.alloc(None)?);
            plans.push((ann, pat));
        }
        let label = self.here();
        let saved = self.f().recur.replace(RecurTarget::Loop {
            label,
            temps,
            binds: plans,
        });
        let body = &args[1..];
        self.push_scope(true);
        let r = self.declare_defs(body).and_then(|_| self.body(body, true));
        self.pop_scope();
        self.f().recur = saved;
        r?;
        self.pop_scope();
        Ok(())
    }

    pub(super) fn recur(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        let Some(target) = self.f().recur.as_ref() else {
            return Err(self.err(f.span, "recur outside loop or fn"));
        };
        if !tail {
            return Err(self.err(f.span, "recur must be in tail position"));
        }
        let want = match target {
            RecurTarget::Fn { args, .. } => args.len(),
            RecurTarget::Loop { temps, .. } => temps.len(),
        };
        if args.len() != want {
            return Err(self.err(
                f.span,
                format!("recur expects {want} argument(s), got {}", args.len()),
            ));
        }
        for a in args {
            self.expr(a, false)?;
        }
        self.span = f.span;
        match self.f().recur.take() {
            Some(RecurTarget::Fn { args: slots }) => {
                for &s in slots.iter().rev() {
                    self.emit(Op::Bind(s));
                }
                self.emit(Op::Jump(0));
                self.f().recur = Some(RecurTarget::Fn { args: slots });
            }
            Some(RecurTarget::Loop {
                label,
                temps,
                binds,
            }) => {
                for &t in temps.iter().rev() {
                    self.emit(Op::Bind(t));
                }
                for (t, (ann, pat)) in temps.iter().zip(&binds) {
                    self.emit(Op::Load(*t));
                    self.check(*ann);
                    self.emit_pat(pat)?;
                }
                self.emit(Op::Jump(label));
                self.f().recur = Some(RecurTarget::Loop {
                    label,
                    temps,
                    binds,
                });
            }
            None => unreachable!("checked above"),
        }
        Ok(())
    }
}

/// Collects the names `def`/`defn` bind in a frame body, not crossing frame-making forms.
fn scan_defs(f: &Form, out: &mut Vec<String>) {
    let FormKind::List(items) = &f.kind else {
        return;
    };
    let Some(head) = items.first().and_then(sym_name) else {
        for it in items {
            scan_defs(it, out);
        }
        return;
    };
    match head {
        "def" | "defn" => {
            if let Some(n) = items.get(1).and_then(sym_name) {
                let n = split_annotated(n).map_or(n, |(a, _)| a);
                if !out.iter().any(|x| x == n) {
                    out.push(n.to_string());
                }
            }
            if head == "def" {
                for it in &items[2..] {
                    scan_defs(it, out);
                }
            }
        }
        "quote" | "fn" | "λ" | "let" | "loop" | "if-let" | "when-let" | "for" | "doseq"
        | "dotimes" | "match" | "step" | "capability" | "plan" | "catch" | "as->" => {}
        "try" => {
            for it in &items[1..] {
                let is_catch = matches!(&it.kind, FormKind::List(x) if x.first().is_some_and(|h| h.is_symbol("catch")));
                if !is_catch {
                    scan_defs(it, out);
                }
            }
        }
        _ => {
            for it in &items[1..] {
                scan_defs(it, out);
            }
        }
    }
}
