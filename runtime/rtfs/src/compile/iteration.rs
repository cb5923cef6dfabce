//! Iteration: `for` and `doseq` (with `:let`, `:when`, `:while`) and `dotimes`.

use std::collections::HashMap;

use crate::code::{Label, Op};
use crate::error::Result;
use crate::reader::{Form, FormKind};

use super::Compiler;

impl Compiler {
    pub(super) fn for_form(&mut self, f: &Form, collect: bool, args: &[Form]) -> Result<()> {
        let what = if collect { "for" } else { "doseq" };
        let Some(FormKind::Vector(items)) = args.first().map(|a| &a.kind) else {
            return Err(self.err(f.span, format!("{what} needs a binding vector")));
        };
        if items.len() % 2 != 0 || items.is_empty() {
            return Err(self.err(args[0].span, format!("{what} binding vector needs pairs (pattern collection, or a modifier and its value)")));
        }
        if items[0].as_keyword().is_some() {
            return Err(self.err(
                items[0].span,
                format!("{what} bindings start with a pattern"),
            ));
        }
        let body = &args[1..];
        if collect && body.len() != 1 {
            return Err(self.err(
                f.span,
                format!("for takes exactly one body form, got {}", body.len()),
            ));
        }
        let acc = if collect {
            let s = self.alloc(None)?;
            self.emit(Op::AccNew(s));
            Some(s)
        } else {
            None
        };
        struct Level {
            top: Label,
            ends: Vec<usize>,
        }
        let mut levels: Vec<Level> = Vec::new();
        let mut scopes = 0;
        for pair in items.chunks(2) {
            match pair[0].as_keyword().map(|k| k.as_str()) {
                Some("let") => {
                    let binds = self.bindings(&pair[1], ":let")?;
                    for b in &binds {
                        self.expr(b.init, false)?;
                        let ann = self.prepare_ann(&b.ann, b.ann_span, &b.pattern)?;
                        self.check(ann);
                        let pat = self.plan_pat(&b.pattern, &HashMap::new())?;
                        self.emit_pat(&pat)?;
                    }
                }
                Some("when") => {
                    self.expr(&pair[1], false)?;
                    let top = levels.last().expect("a binding precedes").top;
                    self.emit(Op::JumpIfFalse(top));
                }
                Some("while") => {
                    self.expr(&pair[1], false)?;
                    let j = self.emit(Op::JumpIfFalse(0));
                    levels.last_mut().expect("a binding precedes").ends.push(j);
                }
                Some(other) => {
                    return Err(self.err(
                        pair[0].span,
                        format!("unknown {what} modifier :{other} (use :let, :when or :while)"),
                    ));
                }
                None => {
                    self.expr(&pair[1], false)?;
                    let it = self.alloc(None)?;
                    self.emit(Op::IterInit(it));
                    let top = self.here();
                    let end = self.emit(Op::IterNext(it, 0));
                    self.push_scope(true);
                    scopes += 1;
                    let pat = self.plan_pat(&pair[0], &HashMap::new())?;
                    self.emit_pat(&pat)?;
                    levels.push(Level {
                        top,
                        ends: vec![end],
                    });
                }
            }
        }
        self.declare_defs(body)?;
        self.body(body, false)?;
        match acc {
            Some(a) => self.emit(Op::AccPush(a)),
            None => self.emit(Op::Pop),
        };
        while let Some(level) = levels.pop() {
            self.emit(Op::Jump(level.top));
            self.patch_all(level.ends);
        }
        for _ in 0..scopes {
            self.pop_scope();
        }
        match acc {
            Some(a) => self.emit(Op::AccTake(a)),
            None => self.emit(Op::Nil),
        };
        Ok(())
    }

    pub(super) fn dotimes(&mut self, f: &Form, args: &[Form]) -> Result<()> {
        let Some(FormKind::Vector(items)) = args.first().map(|a| &a.kind) else {
            return Err(self.err(f.span, "dotimes needs a binding vector [name count]"));
        };
        if items.len() != 2 || items[0].as_symbol().is_none() {
            return Err(self.err(args[0].span, "dotimes needs a binding vector [name count]"));
        }
        self.expr(&items[1], false)?;
        self.emit(Op::CheckInt);
        let limit = self.alloc(None)?;
        self.emit(Op::Bind(limit));
        let counter = self.alloc(None)?;
        self.emit(Op::SmallInt(0));
        self.emit(Op::Bind(counter));
        let top = self.here();
        let end = self.emit(Op::JumpIfNotLess(counter, limit, 0));
        self.push_scope(true);
        self.emit(Op::Load(counter));
        let pat = self.plan_pat(&items[0], &HashMap::new())?;
        self.emit_pat(&pat)?;
        let body = &args[1..];
        self.declare_defs(body)?;
        self.body(body, false)?;
        self.emit(Op::Pop);
        self.pop_scope();
        self.emit(Op::IncSlot(counter));
        self.emit(Op::Jump(top));
        self.patch(end);
        self.emit(Op::Nil);
        Ok(())
    }
}
