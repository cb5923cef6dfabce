//! Steps at the host boundary: `step` and top-level `plan` regions, which report their start,
//! completion or failure to the host.

use std::collections::HashSet;

use crate::code::Op;
use crate::error::Result;
use crate::reader::{Form, FormKind};
use crate::value::Value;

use super::Compiler;

impl Compiler {
    pub(super) fn step(&mut self, f: &Form, args: &[Form]) -> Result<()> {
        let Some(name) = args.first() else {
            return Err(self.err(f.span, "step needs a name"));
        };
        let mut i = 1;
        let mut params = None;
        while let Some(k) = args.get(i).and_then(Form::as_keyword)
            && i + 1 < args.len()
        {
            if k.as_str() != "params" {
                return Err(self.err(
                    args[i].span,
                    format!("unknown step option :{} (only :params)", k.as_str()),
                ));
            }
            params = Some(&args[i + 1]);
            i += 2;
        }
        self.expr(name, false)?;
        match params {
            Some(p) => self.expr(p, false)?,
            None => {
                self.emit(Op::Nil);
            }
        }
        self.span = f.span;
        self.emit(Op::StepStart(false));
        self.push_scope(true);
        let s = self.alloc(Some("%params"))?;
        self.emit(Op::Bind(s));
        self.add_var("%params", s);
        let body = &args[i..];
        self.declare_defs(body)?;
        self.guarded_step_body(|c| c.body(body, false))?;
        self.pop_scope();
        Ok(())
    }

    fn guarded_step_body(&mut self, body: impl FnOnce(&mut Compiler) -> Result<()>) -> Result<()> {
        let h = self.emit(Op::PushHandler(0));
        body(self)?;
        self.emit(Op::PopHandler);
        self.emit(Op::StepEnd);
        let end = self.emit(Op::Jump(0));
        self.patch(h);
        self.emit(Op::StepFail);
        self.emit(Op::Rethrow);
        self.patch(end);
        Ok(())
    }

    pub(super) fn plan(&mut self, f: &Form, items: &[Form]) -> Result<()> {
        let args = &items[1..];
        let Some(FormKind::Str(name)) = args.first().map(|a| &a.kind) else {
            return Err(self.err(f.span, "plan needs a string name"));
        };
        if args.len() % 2 != 1 {
            return Err(self.err(f.span, "plan takes a name then key/value pairs"));
        }
        let mut body = None;
        let mut seen = HashSet::new();
        for pair in args[1..].chunks(2) {
            let Some(k) = pair[0].as_keyword() else {
                return Err(self.err(pair[0].span, "plan keys are keywords"));
            };
            if !seen.insert(k.as_str().to_string()) {
                return Err(self.err(pair[0].span, format!("repeated plan key :{}", k.as_str())));
            }
            match k.as_str() {
                "body" => body = Some(&pair[1]),
                "description" => {
                    if !matches!(pair[1].kind, FormKind::Str(_)) {
                        return Err(self.err(pair[1].span, ":description is a string literal"));
                    }
                }
                other => {
                    return Err(self.err(
                        pair[0].span,
                        format!("unknown plan key :{other} (:body, :description)"),
                    ));
                }
            }
        }
        let Some(body) = body else {
            return Err(self.err(f.span, "plan needs :body"));
        };
        let c = self.konst(Value::str(name));
        self.emit(Op::Const(c));
        self.emit(Op::Nil);
        self.emit(Op::StepStart(true));
        self.emit(Op::Pop);
        self.guarded_step_body(|c| c.expr(body, false))
    }
}
