//! Pattern matching: `match` clauses, their optional guards, and the pattern checks.

use crate::code::{Op, SlotIdx};
use crate::error::Result;
use crate::reader::{Form, FormKind};

use super::{Compiler, is_literal, lone_colon};

impl Compiler {
    pub(super) fn match_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
        if args.is_empty() {
            return Err(self.err(f.span, "match needs an expression"));
        }
        self.expr(&args[0], false)?;
        let t = self.alloc(None)?;
        self.emit(Op::Bind(t));
        let mut clauses = Vec::new();
        let rest = &args[1..];
        let mut i = 0;
        while i < rest.len() {
            let pat = &rest[i];
            let (guard, body) = if rest.get(i + 1).is_some_and(|x| x.is_symbol("when")) {
                match (rest.get(i + 2), rest.get(i + 3)) {
                    (Some(g), Some(b)) => {
                        i += 4;
                        (Some(g), b)
                    }
                    _ => {
                        return Err(self.err(
                            pat.span,
                            "a guarded match clause is `pattern when guard body`",
                        ));
                    }
                }
            } else {
                match rest.get(i + 1) {
                    Some(b) => {
                        i += 2;
                        (None, b)
                    }
                    None => return Err(self.err(pat.span, "a match clause needs a body")),
                }
            };
            self.check_match_pattern(pat)?;
            clauses.push((pat, guard, body));
        }
        let mut ends = Vec::new();
        for (pat, guard, body) in clauses {
            self.push_scope(true);
            let mut fails = Vec::new();
            self.match_pat(pat, t, &mut fails)?;
            if let Some(g) = guard {
                self.expr(g, false)?;
                fails.push(self.emit(Op::JumpIfFalse(0)));
            }
            self.expr(body, tail)?;
            self.pop_scope();
            ends.push(self.emit(Op::Jump(0)));
            self.patch_all(fails);
        }
        self.span = f.span;
        self.emit(Op::MatchFail(t));
        self.patch_all(ends);
        Ok(())
    }

    fn check_match_pattern(&self, p: &Form) -> Result<()> {
        if let Some(span) = lone_colon(p) {
            return Err(self.err(span, "a lone `:` is legal only in annotation positions"));
        }
        match &p.kind {
            FormKind::List(items) => {
                if items.len() == 2 && items[0].is_symbol("quote") && items[1].as_symbol().is_some()
                {
                    Ok(())
                } else {
                    Err(self.err(p.span, "unsupported match pattern (a list); use _, a symbol, a literal, 'sym, [..] or {..}"))
                }
            }
            FormKind::Vector(items) => {
                for (i, it) in items.iter().enumerate() {
                    if it.is_symbol("&") {
                        if i + 2 != items.len() {
                            return Err(
                                self.err(it.span, "`&` must be followed by exactly one pattern")
                            );
                        }
                        continue;
                    }
                    self.check_match_pattern(it)?;
                }
                Ok(())
            }
            FormKind::Map(items) => {
                for pair in items.chunks(2) {
                    if !is_literal(&pair[0]) {
                        return Err(self.err(pair[0].span, "match map pattern keys are literals"));
                    }
                    self.check_match_pattern(&pair[1])?;
                }
                Ok(())
            }
            FormKind::Regex(_) => Err(self.err(p.span, "a regex is not a match pattern")),
            _ => Ok(()),
        }
    }

    fn match_pat(&mut self, p: &Form, slot: SlotIdx, fails: &mut Vec<usize>) -> Result<()> {
        match &p.kind {
            FormKind::Symbol(n) if n.as_str() == "_" => {}
            FormKind::Symbol(n) => {
                let s = self.alloc(Some(n.as_str()))?;
                self.emit(Op::Load(slot));
                self.emit(Op::Bind(s));
                self.add_var(n.as_str(), s);
            }
            FormKind::List(items) => {
                let c = self.konst(items[1].to_value());
                fails.push(self.emit(Op::MatchEq(slot, c, 0)));
            }
            FormKind::Vector(items) => {
                let amp = items.iter().position(|x| x.is_symbol("&"));
                let fixed = amp.unwrap_or(items.len());
                fails.push(self.emit(Op::MatchSeq {
                    slot,
                    len: fixed as u32,
                    rest: amp.is_some(),
                    fail: 0,
                }));
                for (i, it) in items[..fixed].iter().enumerate() {
                    let s = self.alloc(None)?;
                    self.emit(Op::Load(slot));
                    self.emit(Op::NthOrNil(i as u32));
                    self.emit(Op::Bind(s));
                    self.match_pat(it, s, fails)?;
                }
                if let Some(a) = amp {
                    let s = self.alloc(None)?;
                    self.emit(Op::Load(slot));
                    self.emit(Op::RestFrom(fixed as u32));
                    self.emit(Op::Bind(s));
                    self.match_pat(&items[a + 1], s, fails)?;
                }
            }
            FormKind::Map(items) => {
                fails.push(self.emit(Op::MatchMap(slot, 0)));
                for pair in items.chunks(2) {
                    let c = self.konst(pair[0].to_value());
                    fails.push(self.emit(Op::MatchHasKey(slot, c, 0)));
                    let s = self.alloc(None)?;
                    self.emit(Op::Load(slot));
                    self.emit(Op::GetKey(c));
                    self.emit(Op::Bind(s));
                    self.match_pat(&pair[1], s, fails)?;
                }
            }
            _ => {
                let c = self.konst(p.to_value());
                fails.push(self.emit(Op::MatchEq(slot, c, 0)));
            }
        }
        Ok(())
    }
}
