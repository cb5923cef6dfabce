//! The threading forms: `->`, `->>`, `as->`, `some->`, `some->>` and `cond->`.

use std::collections::HashMap;

use crate::code::Op;
use crate::error::Result;
use crate::reader::{Form, FormKind};
use crate::value::Name;

use super::{Compiler, is_fn_form};

impl Compiler {
    fn thread_step(&self, step: &Form, x: Form, first: bool) -> Form {
        let span = step.span;
        match &step.kind {
            FormKind::List(items) if !items.is_empty() && !is_fn_form(step) => {
                let mut out = vec![items[0].clone()];
                if first {
                    out.push(x);
                    out.extend(items[1..].iter().cloned());
                } else {
                    out.extend(items[1..].iter().cloned());
                    out.push(x);
                }
                Form {
                    kind: FormKind::List(out),
                    span,
                }
            }
            _ => Form {
                kind: FormKind::List(vec![step.clone(), x]),
                span,
            },
        }
    }

    /// `->` / `->>`: each step is compiled in turn with the threaded value in a hidden local
    /// (not as one nested form), so a long chain needs no deep recursion.
    pub(super) fn thread(
        &mut self,
        f: &Form,
        first: bool,
        args: &[Form],
        tail: bool,
    ) -> Result<()> {
        let Some(x) = args.first() else {
            return Err(self.err(f.span, "threading needs an initial value"));
        };
        let steps = &args[1..];
        let Some((last, init)) = steps.split_last() else {
            return self.expr(x, tail);
        };
        self.expr(x, false)?;
        let name = self.hidden_name("thread");
        let t = self.alloc(Some("threaded value"))?;
        self.emit(Op::Bind(t));
        self.push_scope(false);
        self.add_var(&name, t);
        let sym = Form {
            kind: FormKind::Symbol(Name::new(&name)),
            span: x.span,
        };
        for step in init {
            let form = self.thread_step(step, sym.clone(), first);
            self.expr(&form, false)?;
            self.emit(Op::Bind(t));
        }
        let form = self.thread_step(last, sym, first);
        self.expr(&form, tail)?;
        self.pop_scope();
        Ok(())
    }

    pub(super) fn as_thread(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        if args.len() < 2 || args[1].as_symbol().is_none() {
            return Err(self.err(f.span, "as-> needs a value and a name"));
        }
        self.expr(&args[0], false)?;
        self.push_scope(true);
        // One slot for the name; each step rebinds it (a fresh binding each time).
        let pat = self.plan_pat(&args[1], &HashMap::new())?;
        self.emit_pat(&pat)?;
        for step in &args[2..] {
            self.expr(step, false)?;
            self.emit_pat(&pat)?;
        }
        let _ = tail;
        self.expr(&args[1], false)?;
        self.pop_scope();
        Ok(())
    }

    pub(super) fn guarded_thread(&mut self, f: &Form, head: &str, args: &[Form]) -> Result<()> {
        let Some(x) = args.first() else {
            return Err(self.err(f.span, format!("{head} needs an initial value")));
        };
        let steps = &args[1..];
        if head == "cond->" && !steps.len().is_multiple_of(2) {
            return Err(self.err(f.span, "cond-> needs test/form pairs"));
        }
        self.expr(x, false)?;
        let name = self.hidden_name("thread");
        let t = self.alloc(Some("threaded value"))?;
        self.emit(Op::Bind(t));
        self.push_scope(false);
        self.add_var(&name, t);
        let sym = Form {
            kind: FormKind::Symbol(Name::new(&name)),
            span: x.span,
        };
        let mut nils = Vec::new();
        if head == "cond->" {
            for pair in steps.chunks(2) {
                self.expr(&pair[0], false)?;
                let skip = self.emit(Op::JumpIfFalse(0));
                let form = self.thread_step(&pair[1], sym.clone(), true);
                self.expr(&form, false)?;
                self.emit(Op::Bind(t));
                self.patch(skip);
            }
        } else {
            for step in steps {
                self.emit(Op::Load(t));
                nils.push(self.emit(Op::JumpIfNil(0)));
                let form = self.thread_step(step, sym.clone(), head == "some->");
                self.expr(&form, false)?;
                self.emit(Op::Bind(t));
            }
        }
        self.emit(Op::Load(t));
        let end = self.emit(Op::Jump(0));
        self.patch_all(nils);
        self.emit(Op::Nil);
        self.patch(end);
        self.pop_scope();
        Ok(())
    }
}
