//! Expressions: literals, symbols, applications, the special-form dispatch, and the
//! conditionals (`if`, `when`, `when-not`, `cond`, `case`, `and`, `or`).

use crate::code::{CaseTable, Op};
use crate::error::Result;
use crate::reader::{Form, FormKind};
use crate::value::Value;

use super::{Compiler, is_literal, lone_colon, sym_name};

impl Compiler {
    pub(super) fn expr(&mut self, f: &Form, tail: bool) -> Result<()> {
        let saved = self.span;
        self.span = f.span;
        let r = self.expr_inner(f, tail);
        self.span = saved;
        r
    }

    fn expr_inner(&mut self, f: &Form, tail: bool) -> Result<()> {
        match &f.kind {
            FormKind::Nil => {
                self.emit(Op::Nil);
            }
            FormKind::Int(i) if i32::try_from(*i).is_ok() => {
                self.emit(Op::SmallInt(*i as i32));
            }
            FormKind::Symbol(n) => self.load_symbol(n, f.span)?,
            FormKind::List(items) if !items.is_empty() => return self.list(f, items, tail),
            FormKind::Vector(items) if !is_literal(f) => {
                for it in items {
                    self.expr(it, false)?;
                }
                self.emit(Op::MakeVector(items.len() as u32));
            }
            FormKind::Map(items) => {
                self.check_map_keys(items)?;
                if is_literal(f) {
                    let v = f.to_value();
                    let c = self.konst(v);
                    self.emit(Op::Const(c));
                } else {
                    for it in items {
                        self.expr(it, false)?;
                    }
                    self.emit(Op::MakeMap((items.len() / 2) as u32));
                }
            }
            _ => {
                let v = f.to_value();
                let c = self.konst(v);
                self.emit(Op::Const(c));
            }
        }
        Ok(())
    }

    fn check_map_keys(&self, items: &[Form]) -> Result<()> {
        #[allow(clippy::mutable_key_type)] // values are immutable; Rc interiors never change
        let mut seen = std::collections::BTreeSet::new();
        for k in items.iter().step_by(2) {
            if is_literal(k) && k.to_value().is_data() && !seen.insert(k.to_value()) {
                return Err(self.err(k.span, "duplicate key in map literal"));
            }
        }
        Ok(())
    }

    pub(super) fn body(&mut self, forms: &[Form], tail: bool) -> Result<()> {
        if forms.is_empty() {
            self.emit(Op::Nil);
            return Ok(());
        }
        for (i, f) in forms.iter().enumerate() {
            let last = i + 1 == forms.len();
            self.expr(f, tail && last)?;
            if !last {
                self.emit(Op::Pop);
            }
        }
        Ok(())
    }

    fn list(&mut self, f: &Form, items: &[Form], tail: bool) -> Result<()> {
        if let Some(head) = items.first().and_then(sym_name) {
            let args = &items[1..];
            match head {
                "quote" => {
                    if args.len() != 1 {
                        return Err(self.err(f.span, "quote takes exactly one form"));
                    }
                    if let Some(span) = lone_colon(&args[0]) {
                        return Err(
                            self.err(span, "a lone `:` is legal only in annotation positions")
                        );
                    }
                    let c = self.konst(args[0].to_value());
                    self.emit(Op::Const(c));
                    return Ok(());
                }
                "do" => return self.body(args, tail),
                "if" => return self.if_form(f, args, tail),
                "when" | "when-not" => {
                    if args.is_empty() {
                        return Err(self.err(f.span, format!("({head}) needs a test")));
                    }
                    self.expr(&args[0], false)?;
                    let j = self.emit(if head == "when" {
                        Op::JumpIfFalse(0)
                    } else {
                        Op::JumpIfTrue(0)
                    });
                    self.body(&args[1..], tail)?;
                    let end = self.emit(Op::Jump(0));
                    self.patch(j);
                    self.emit(Op::Nil);
                    self.patch(end);
                    return Ok(());
                }
                "cond" => return self.cond(f, args, tail),
                "case" => return self.case(f, args, tail),
                "and" | "or" => {
                    if args.is_empty() {
                        let c = self.konst(Value::Bool(head == "and"));
                        self.emit(Op::Const(c));
                        return Ok(());
                    }
                    let mut jumps = Vec::new();
                    for (i, a) in args.iter().enumerate() {
                        let last = i + 1 == args.len();
                        self.expr(a, tail && last)?;
                        if !last {
                            jumps.push(self.emit(if head == "and" {
                                Op::AndJump(0)
                            } else {
                                Op::OrJump(0)
                            }));
                        }
                    }
                    self.patch_all(jumps);
                    return Ok(());
                }
                "let" => return self.let_form(f, args, tail),
                "if-let" | "when-let" => return self.if_let(f, head, args, tail),
                "fn" | "λ" => return self.fn_form(f, args),
                "defn" => return self.defn(f, args),
                "def" => return self.def(f, args),
                "loop" => return self.loop_form(f, args, tail),
                "recur" => return self.recur(f, args, tail),
                "try" => return self.try_form(f, args),
                "match" => return self.match_form(f, args, tail),
                "for" | "doseq" => return self.for_form(f, head == "for", args),
                "dotimes" => return self.dotimes(f, args),
                "->" | "->>" => return self.thread(f, head == "->", args, tail),
                "as->" => return self.as_thread(f, args, tail),
                "some->" | "some->>" | "cond->" => return self.guarded_thread(f, head, args),
                "step" => return self.step(f, args),
                "capability" | "plan" => {
                    return Err(
                        self.err(f.span, format!("({head} …) is legal only at the top level"))
                    );
                }
                "catch" | "finally" => {
                    return Err(self.err(f.span, format!("({head} …) is legal only inside try")));
                }
                "defmacro" => {
                    return Err(self.err(f.span, "defmacro is not supported: RTFS has no macros"));
                }
                _ => {}
            }
        }
        // Application.
        if items.len() - 1 > u16::MAX as usize {
            return Err(self.err(f.span, "too many arguments in one call"));
        }
        self.expr(&items[0], false)?;
        if let Some(Op::LoadGlobal(g)) = self.f().chunk.code.last().copied()
            && items[0].as_symbol().is_some()
        {
            let name = self.globals[g as usize].clone();
            if name.as_str() == "call" {
                let id = items.get(1).and_then(|a| match &a.kind {
                    FormKind::Str(s) => Some(s.to_string()),
                    FormKind::Keyword(k) => Some(k.as_str().to_string()),
                    _ => None,
                });
                self.info.call_sites.push((id, f.span));
            }
            self.info.global_calls.push((name, items.len() - 1, f.span));
        }
        for it in &items[1..] {
            self.expr(it, false)?;
        }
        self.span = f.span;
        self.emit(Op::Call((items.len() - 1) as u16));
        Ok(())
    }

    fn if_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        if !(2..=3).contains(&args.len()) {
            return Err(self.err(
                f.span,
                "if takes a test, a then branch and an optional else branch",
            ));
        }
        self.expr(&args[0], false)?;
        let j = self.emit(Op::JumpIfFalse(0));
        self.expr(&args[1], tail)?;
        let end = self.emit(Op::Jump(0));
        self.patch(j);
        self.else_branch(args.get(2), end, tail)
    }

    /// Compiles an optional else branch (nil when absent) and lands the then-branch's jump
    /// after it.
    pub(super) fn else_branch(&mut self, els: Option<&Form>, end: usize, tail: bool) -> Result<()> {
        match els {
            Some(e) => self.expr(e, tail)?,
            None => {
                self.emit(Op::Nil);
            }
        }
        self.patch(end);
        Ok(())
    }

    fn cond(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        if !args.len().is_multiple_of(2) {
            return Err(self.err(
                f.span,
                "cond needs an even number of forms (test expression pairs)",
            ));
        }
        let mut ends = Vec::new();
        for pair in args.chunks(2) {
            self.expr(&pair[0], false)?;
            let j = self.emit(Op::JumpIfFalse(0));
            self.expr(&pair[1], tail)?;
            ends.push(self.emit(Op::Jump(0)));
            self.patch(j);
        }
        self.emit(Op::Nil);
        self.patch_all(ends);
        Ok(())
    }

    fn case(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        if args.is_empty() {
            return Err(self.err(f.span, "case needs an expression"));
        }
        self.expr(&args[0], false)?;
        let clauses = &args[1..];
        let t = self.f().chunk.cases.len() as u32;
        self.f().chunk.cases.push(CaseTable {
            arms: Vec::new(),
            default: None,
        });
        self.emit(Op::Case(t));
        let mut ends = Vec::new();
        for pair in clauses.chunks(2) {
            let here = self.here();
            if pair.len() == 1 {
                self.f().chunk.cases[t as usize].default = Some(here);
                self.expr(&pair[0], tail)?;
            } else {
                if let Some(span) = lone_colon(&pair[0]) {
                    return Err(self.err(span, "a lone `:` is legal only in annotation positions"));
                }
                let keys = match &pair[0].kind {
                    FormKind::List(items) if !items.is_empty() => {
                        items.iter().map(Form::to_value).collect()
                    }
                    _ => vec![pair[0].to_value()],
                };
                for k in keys {
                    self.f().chunk.cases[t as usize].arms.push((k, here));
                }
                self.expr(&pair[1], tail)?;
            }
            ends.push(self.emit(Op::Jump(0)));
        }
        self.patch_all(ends);
        Ok(())
    }
}
