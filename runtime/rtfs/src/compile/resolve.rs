//! Scopes and symbol resolution: every name resolves, at compile time, to a slot of its own
//! function, an upvalue captured from an enclosing one, the function itself or a global.
//! Pending names (bound later in their frame) resolve with a fallback.

use crate::code::{Capture, Op, SlotIdx};
use crate::error::Result;
use crate::reader::Span;
use crate::value::Name;

use super::{Compiler, Scope};

/// How a symbol resolves from some function level.
#[derive(Clone)]
enum Res {
    Local(SlotIdx),
    Up(u16),
    SelfFn,
    Global,
    /// A slot declared in this function whose binding comes later in its frame, seen from a
    /// nested function: the slot when bound by then, else the fallback.
    Pending(SlotIdx, Box<Res>),
    /// An upvalue that may still be unbound: the fallback when it is.
    UpOr(u16, Box<Res>),
}

impl Compiler {
    pub(super) fn add_var(&mut self, name: &str, slot: SlotIdx) {
        let f = self.f();
        if f.scopes.is_empty() {
            f.scopes.push(Scope {
                vars: Vec::new(),
                pending: Vec::new(),
                frame: false,
            });
        }
        f.scopes
            .last_mut()
            .expect("scope")
            .vars
            .push((name.into(), slot));
    }

    pub(super) fn push_scope(&mut self, frame: bool) {
        self.f().scopes.push(Scope {
            vars: Vec::new(),
            pending: Vec::new(),
            frame,
        });
    }

    pub(super) fn pop_scope(&mut self) {
        self.f().scopes.pop();
    }

    pub(super) fn hidden_name(&mut self, what: &str) -> String {
        self.hidden += 1;
        format!(" {what}{}", self.hidden)
    }

    pub(super) fn global(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.global_index.get(name) {
            return i;
        }
        let i = self.globals.len() as u32;
        self.globals.push(Name::new(name));
        self.global_index.insert(name.into(), i);
        i
    }

    /// Resolves `name` at function level `k`, looking at its innermost `scopes` scopes.
    /// `direct`: the reference is in level k's own code (pending names are skipped: they are
    /// not bound yet when that code runs).
    fn resolve(&mut self, k: usize, name: &str, direct: bool, scopes: usize) -> Res {
        for i in (0..scopes).rev() {
            let scope = &self.fns[k].scopes[i];
            if let Some(&(_, s)) = scope.vars.iter().rev().find(|(n, _)| &**n == name) {
                return Res::Local(s);
            }
            if let Some(&(_, s)) = scope.pending.iter().find(|(n, _)| &**n == name)
                && !direct
            {
                let fallback = self.resolve(k, name, false, i);
                return Res::Pending(s, Box::new(fallback));
            }
        }
        if !self.fns[k].is_top
            && self.fns[k]
                .name
                .as_ref()
                .is_some_and(|n| n.as_str() == name)
        {
            return Res::SelfFn;
        }
        if k == 0 {
            return Res::Global;
        }
        let parent_scopes = self.fns[k - 1].scopes.len();
        let up = self.resolve(k - 1, name, false, parent_scopes);
        self.lift(k, name, up)
    }

    /// Turns a resolution at level `k - 1` into one at level `k` (capturing as needed).
    fn lift(&mut self, k: usize, name: &str, up: Res) -> Res {
        let (key, cap, fallback) = match up {
            Res::Global => return Res::Global,
            Res::Local(s) => {
                self.fns[k - 1].captured[s as usize] = true;
                ((true, s), Capture::Local(s), None)
            }
            Res::Up(u) => ((false, u), Capture::Upvalue(u), None),
            Res::Pending(s, fb) => {
                self.fns[k - 1].captured[s as usize] = true;
                ((true, s), Capture::Local(s), Some(fb))
            }
            Res::UpOr(u, fb) => ((false, u), Capture::Upvalue(u), Some(fb)),
            Res::SelfFn => {
                let parent = &mut self.fns[k - 1];
                let s = match parent.chunk.self_slot {
                    Some(s) => s,
                    None => {
                        let s = parent.chunk.n_slots;
                        parent.chunk.n_slots += 1;
                        parent.chunk.slot_names.push(Some(Name::new(name)));
                        parent.captured.push(false);
                        parent.chunk.self_slot = Some(s);
                        s
                    }
                };
                parent.captured[s as usize] = true;
                ((true, s), Capture::Local(s), None)
            }
        };
        let f = &mut self.fns[k];
        let u = match f.capture_map.get(&key) {
            Some(&u) => u,
            None => {
                let u = f.captures.len() as u16;
                f.captures.push(cap);
                f.capture_names.push(Name::new(name));
                f.capture_map.insert(key, u);
                u
            }
        };
        match fallback {
            None => Res::Up(u),
            Some(fb) => {
                let fb = self.lift(k, name, *fb);
                Res::UpOr(u, Box::new(fb))
            }
        }
    }

    fn emit_load(&mut self, name: &Name, span: Span, r: Res) {
        match r {
            Res::Local(s) => {
                self.emit(Op::Load(s));
            }
            Res::Up(u) => {
                self.emit(Op::LoadUp(u));
            }
            Res::SelfFn => {
                self.emit(Op::LoadSelf);
            }
            Res::Global => {
                self.info.global_refs.push((name.clone(), span));
                let g = self.global(name.as_str());
                self.emit(Op::LoadGlobal(g));
            }
            Res::UpOr(u, fb) => {
                let j = self.emit(Op::LoadUpOr(u, 0));
                self.emit_load(name, span, *fb);
                self.patch(j);
            }
            Res::Pending(..) => unreachable!("pending names are skipped by direct references"),
        }
    }

    pub(super) fn load_symbol(&mut self, name: &Name, span: Span) -> Result<()> {
        let text = name.as_str();
        if text == ":" {
            return Err(self.err(span, "a lone `:` is legal only in annotation positions"));
        }
        let k = self.fns.len() - 1;
        let scopes = self.fns[k].scopes.len();
        let r = self.resolve(k, text, true, scopes);
        self.emit_load(name, span, r);
        Ok(())
    }
}
