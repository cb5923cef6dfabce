//! The analyser and compiler: forms → slot-resolved [`crate::code`].
//!
//! One pass per function arity. Every special form's shape, every binding vector, annotation
//! and schema, `recur` position and `capability`/`plan` property is checked here, so a program
//! with any analysis error evaluates nothing (§3.1). Symbols are resolved to slots, upvalues or
//! globals; whether a global is bound is only known when it is evaluated.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::code::{Arity, Capture, CaseTable, Chunk, ConstIdx, FnProto, Label, Op, SlotIdx};
use crate::error::{Error, Result};
use crate::reader::{Form, FormKind, Span};
use crate::schema;
use crate::value::{Name, Value};
use crate::vm::Program;

/// Names of the special forms (§3.4), recognised in operator position only.
pub const SPECIAL_FORMS: &[&str] = &[
    "quote",
    "do",
    "if",
    "when",
    "when-not",
    "cond",
    "case",
    "and",
    "or",
    "let",
    "if-let",
    "when-let",
    "fn",
    "λ",
    "defn",
    "def",
    "loop",
    "recur",
    "try",
    "match",
    "for",
    "doseq",
    "dotimes",
    "->",
    "->>",
    "as->",
    "some->",
    "some->>",
    "cond->",
    "step",
    "capability",
    "plan",
    "catch",
    "finally",
    "defmacro",
];

/// The arities of a function value: (fixed parameter count, variadic).
pub type Arities = Vec<(usize, bool)>;

/// What the compiler learnt about a program's use of globals, for static analysis.
#[derive(Debug, Default, Clone)]
pub struct Info {
    /// Every reference to a global (a symbol no local binding resolves).
    pub global_refs: Vec<(Name, Span)>,
    /// Applications whose operator is a global symbol: (name, argument count, form).
    pub global_calls: Vec<(Name, usize, Span)>,
    /// Top-level definitions, with the arities (fixed count, variadic) of function values.
    pub defined: Vec<(Name, Option<Arities>)>,
    /// `call` applications: the capability id when it is a literal.
    pub call_sites: Vec<(Option<String>, Span)>,
}

/// Compiles a whole program (already read) into its top-level code.
pub fn compile_program(forms: &[Form], file: Option<Rc<str>>) -> Result<Program> {
    let mut c = Compiler {
        file: file.clone(),
        globals: Vec::new(),
        global_index: HashMap::new(),
        fns: vec![FnCtx::new(None, true, file)],
        span: Span::default(),
        hidden: 0,
        info: Info::default(),
    };
    if forms.is_empty() {
        c.emit(Op::Nil);
    }
    for (i, f) in forms.iter().enumerate() {
        if i > 0 {
            c.emit(Op::Pop);
        }
        c.top_form(f)?;
    }
    c.emit(Op::Return);
    let top = c.fns.pop().expect("top-level context");
    let chunk = top.finish_arity(&[])?;
    Ok(Program {
        chunk: Rc::new(chunk),
        globals: c.globals.into(),
        info: Rc::new(c.info),
    })
}

fn perr(span: Span, file: &Option<Rc<str>>, msg: impl Into<String>) -> Error {
    Error::parse(msg, span.location(file.as_ref()))
}

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

struct Scope {
    vars: Vec<(Rc<str>, SlotIdx)>,
    /// Names this frame will bind later (`let` bindings not yet reached, `def`s not yet
    /// evaluated): invisible to the frame's own code until bound, visible (with a fallback)
    /// to closures made in the frame.
    pending: Vec<(Rc<str>, SlotIdx)>,
    frame: bool,
}

enum RecurTarget {
    Fn {
        args: Vec<SlotIdx>,
    },
    Loop {
        label: Label,
        temps: Vec<SlotIdx>,
        binds: Vec<(Option<(u32, ConstIdx)>, Pat)>,
    },
}

struct FnCtx {
    name: Option<Name>,
    is_top: bool,
    captures: Vec<Capture>,
    capture_names: Vec<Name>,
    capture_map: HashMap<(bool, u16), u16>,
    chunk: Chunk,
    scopes: Vec<Scope>,
    captured: Vec<bool>,
    recur: Option<RecurTarget>,
}

impl FnCtx {
    fn new(name: Option<Name>, is_top: bool, file: Option<Rc<str>>) -> FnCtx {
        FnCtx {
            name,
            is_top,
            captures: Vec::new(),
            capture_names: Vec::new(),
            capture_map: HashMap::new(),
            chunk: Chunk {
                file,
                ..Default::default()
            },
            scopes: Vec::new(),
            captured: Vec::new(),
            recur: None,
        }
    }

    /// Rewrites captured slots' instructions to their cell forms and returns the finished
    /// chunk, resetting the per-arity state. `params` are the plain parameter slots.
    fn finish_arity(mut self, params: &[SlotIdx]) -> Result<Chunk> {
        let captured = std::mem::take(&mut self.captured);
        for op in &mut self.chunk.code {
            *op = match *op {
                Op::Bind(s) if captured[s as usize] => Op::BindCell(s),
                Op::Declare(s) if captured[s as usize] => Op::DeclareCell(s),
                Op::Assign(s) if captured[s as usize] => Op::AssignCell(s),
                Op::Load(s) if captured[s as usize] => Op::LoadCell(s),
                other => other,
            };
        }
        self.chunk.promote = params
            .iter()
            .copied()
            .filter(|&s| captured[s as usize])
            .collect();
        Ok(self.chunk)
    }
}

/// A planned binding pattern, its slots allocated.
#[derive(Clone)]
enum Pat {
    Ignore,
    Sym {
        slot: SlotIdx,
        assign: bool,
    },
    Seq {
        temp: SlotIdx,
        items: Vec<Pat>,
        rest: Option<Box<Pat>>,
        all: Option<Box<Pat>>,
    },
    Map {
        temp: SlotIdx,
        entries: Vec<(ConstIdx, Pat, Option<Form>)>,
        all: Option<Box<Pat>>,
    },
}

/// A binding as written: pattern, optional annotation, init.
struct Binding<'f> {
    pattern: Form,
    ann: Option<Value>,
    ann_span: Span,
    init: &'f Form,
}

struct Param {
    pattern: Form,
    ann: Option<(Value, Span)>,
}

struct Compiler {
    file: Option<Rc<str>>,
    globals: Vec<Name>,
    global_index: HashMap<Rc<str>, u32>,
    fns: Vec<FnCtx>,
    span: Span,
    hidden: u32,
    info: Info,
}

fn sym_name(f: &Form) -> Option<&str> {
    f.as_symbol().map(|n| n.as_str())
}

fn is_fn_form(f: &Form) -> bool {
    match &f.kind {
        FormKind::List(items) => items
            .first()
            .and_then(sym_name)
            .is_some_and(|n| n == "fn" || n == "λ"),
        _ => false,
    }
}

/// Splits `name:type` (§4.2 rule 5) when the suffix names a type.
fn split_annotated(text: &str) -> Option<(&str, &str)> {
    let (name, ty) = text.rsplit_once(':')?;
    if name.is_empty() || name.ends_with(':') || ty.is_empty() {
        return None;
    }
    schema::named_type(ty)?;
    Some((name, ty))
}

fn is_literal(f: &Form) -> bool {
    match &f.kind {
        FormKind::Symbol(_) => false,
        FormKind::List(items) => items.is_empty(),
        FormKind::Vector(items) | FormKind::Map(items) => items.iter().all(is_literal),
        _ => true,
    }
}

impl Compiler {
    fn err(&self, span: Span, msg: impl Into<String>) -> Error {
        perr(span, &self.file, msg)
    }

    fn f(&mut self) -> &mut FnCtx {
        self.fns.last_mut().expect("function context")
    }

    fn emit(&mut self, op: Op) -> usize {
        let span = self.span;
        let ch = &mut self.f().chunk;
        ch.code.push(op);
        ch.spans.push(span);
        ch.code.len() - 1
    }

    fn here(&mut self) -> Label {
        self.f().chunk.code.len() as Label
    }

    fn patch(&mut self, at: usize) {
        let target = self.here();
        self.patch_to(at, target);
    }

    /// Lands every pending jump in `at` here.
    fn patch_all(&mut self, at: Vec<usize>) {
        for j in at {
            self.patch(j);
        }
    }

    fn patch_to(&mut self, at: usize, target: Label) {
        let op = &mut self.f().chunk.code[at];
        match op {
            Op::Jump(l)
            | Op::JumpIfFalse(l)
            | Op::JumpIfTrue(l)
            | Op::AndJump(l)
            | Op::OrJump(l)
            | Op::JumpIfNil(l)
            | Op::PushHandler(l)
            | Op::LoadUpOr(_, l)
            | Op::GetKeyOr(_, l)
            | Op::IterNext(_, l)
            | Op::JumpIfNotLess(_, _, l)
            | Op::MatchMap(_, l)
            | Op::MatchHasKey(_, _, l)
            | Op::MatchEq(_, _, l) => *l = target,
            Op::MatchSeq { fail, .. } => *fail = target,
            _ => unreachable!("patching a non-jump"),
        }
    }

    fn konst(&mut self, v: Value) -> ConstIdx {
        let consts = &mut self.f().chunk.consts;
        consts.push(v);
        (consts.len() - 1) as ConstIdx
    }

    fn alloc(&mut self, name: Option<&str>) -> Result<SlotIdx> {
        let span = self.span;
        let f = self.f();
        if f.chunk.n_slots == u16::MAX {
            return Err(self.err(span, "function too large: more than 65535 local variables"));
        }
        let s = f.chunk.n_slots;
        f.chunk.n_slots += 1;
        f.chunk.slot_names.push(name.map(Name::new));
        f.captured.push(false);
        Ok(s)
    }

    fn add_var(&mut self, name: &str, slot: SlotIdx) {
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

    fn push_scope(&mut self, frame: bool) {
        self.f().scopes.push(Scope {
            vars: Vec::new(),
            pending: Vec::new(),
            frame,
        });
    }

    fn pop_scope(&mut self) {
        self.f().scopes.pop();
    }

    fn hidden_name(&mut self, what: &str) -> String {
        self.hidden += 1;
        format!(" {what}{}", self.hidden)
    }

    fn global(&mut self, name: &str) -> u32 {
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

    fn load_symbol(&mut self, name: &Name, span: Span) -> Result<()> {
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

    // ----- top level -----

    fn top_form(&mut self, f: &Form) -> Result<()> {
        if let FormKind::List(items) = &f.kind
            && let Some(head) = items.first().and_then(sym_name)
        {
            self.span = f.span;
            match head {
                "capability" => return self.capability(f, items),
                "plan" => return self.plan(f, items),
                _ => {}
            }
        }
        self.expr(f, false)
    }

    // ----- expressions -----

    fn expr(&mut self, f: &Form, tail: bool) -> Result<()> {
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

    fn body(&mut self, forms: &[Form], tail: bool) -> Result<()> {
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
    fn else_branch(&mut self, els: Option<&Form>, end: usize, tail: bool) -> Result<()> {
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

    // ----- bindings -----

    /// Parses a `let`/`loop` binding vector.
    fn bindings<'f>(&self, v: &'f Form, what: &str) -> Result<Vec<Binding<'f>>> {
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

    /// `name:type` → (pattern `name`, annotation `type`).
    fn annotated_pattern(&self, p: &Form) -> (Form, Option<Value>, Span) {
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

    fn schema_idx(&mut self, ann: &Value, span: Span) -> Result<u32> {
        let s = schema::parse(ann, true)
            .map_err(|m| self.err(span, format!("ill-formed type annotation: {m}")))?;
        let ch = &mut self.f().chunk;
        ch.schemas.push((s, ann.clone()));
        Ok((ch.schemas.len() - 1) as u32)
    }

    /// Emits a check of the top of stack against an annotation (the value stays).
    fn check(&mut self, ann: Option<(u32, ConstIdx)>) {
        if let Some((schema, name)) = ann {
            self.emit(Op::CheckSchema { schema, name });
        }
    }

    fn prepare_ann(
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

    /// Plans a binding pattern: allocates its slots and brings its names into scope.
    /// `assign` names slots already declared in the current frame (rebinding, letrec).
    fn plan_pat(&mut self, p: &Form, assign: &HashMap<Rc<str>, SlotIdx>) -> Result<Pat> {
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
    fn emit_pat(&mut self, p: &Pat) -> Result<()> {
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
    fn declare_defs(&mut self, body: &[Form]) -> Result<()> {
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
    fn reveal(&mut self, name: &str) -> Option<SlotIdx> {
        let scope = self.f().scopes.iter_mut().rev().find(|s| s.frame)?;
        let i = scope.pending.iter().position(|(n, _)| &**n == name)?;
        let (n, s) = scope.pending.remove(i);
        scope.vars.push((n, s));
        Some(s)
    }

    fn let_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
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

    fn if_let(&mut self, f: &Form, head: &str, args: &[Form], tail: bool) -> Result<()> {
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

    fn loop_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
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

    fn recur(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
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

    // ----- functions -----

    fn defn(&mut self, f: &Form, args: &[Form]) -> Result<()> {
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

    fn def(&mut self, f: &Form, args: &[Form]) -> Result<()> {
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

    fn fn_form(&mut self, f: &Form, args: &[Form]) -> Result<()> {
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

    // ----- errors -----

    fn try_form(&mut self, _f: &Form, args: &[Form]) -> Result<()> {
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

    // ----- match -----

    fn match_form(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
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

    // ----- iteration -----

    fn for_form(&mut self, f: &Form, collect: bool, args: &[Form]) -> Result<()> {
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

    fn dotimes(&mut self, f: &Form, args: &[Form]) -> Result<()> {
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

    // ----- threading -----

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
    fn thread(&mut self, f: &Form, first: bool, args: &[Form], tail: bool) -> Result<()> {
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

    fn as_thread(&mut self, f: &Form, args: &[Form], tail: bool) -> Result<()> {
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

    fn guarded_thread(&mut self, f: &Form, head: &str, args: &[Form]) -> Result<()> {
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

    // ----- host boundary -----

    fn step(&mut self, f: &Form, args: &[Form]) -> Result<()> {
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

    fn plan(&mut self, f: &Form, items: &[Form]) -> Result<()> {
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

    fn capability(&mut self, f: &Form, items: &[Form]) -> Result<()> {
        let args = &items[1..];
        let id = match args.first().map(|a| &a.kind) {
            Some(FormKind::Str(s)) if !s.is_empty() => s.to_string(),
            _ => return Err(self.err(f.span, "capability needs a non-empty string id")),
        };
        if args.len() % 2 != 1 {
            return Err(self.err(f.span, "capability takes an id then key/value pairs"));
        }
        let mut props: Vec<(Value, Value)> = vec![
            (Value::keyword("kind"), Value::keyword("capability")),
            (Value::keyword("id"), Value::str(&id)),
            (Value::keyword("name"), Value::str(&id)),
            (Value::keyword("description"), Value::str("")),
            (Value::keyword("version"), Value::str("1.0.0")),
            (Value::keyword("input-schema"), Value::keyword("any")),
            (Value::keyword("output-schema"), Value::keyword("any")),
            (
                Value::keyword("effects"),
                Value::vector(vec![Value::keyword("pure")]),
            ),
            (Value::keyword("examples"), Value::vector(vec![])),
        ];
        let mut imp = None;
        let mut seen = HashSet::new();
        for pair in args[1..].chunks(2) {
            let Some(k) = pair[0].as_keyword() else {
                return Err(self.err(pair[0].span, "capability keys are keywords"));
            };
            let key = k.as_str();
            if !seen.insert(key.to_string()) {
                return Err(self.err(pair[0].span, format!("repeated capability key :{key}")));
            }
            let v = &pair[1];
            if key == "implementation" {
                imp = Some(v);
                continue;
            }
            if let Some(span) = lone_colon(v) {
                return Err(self.err(span, "a lone `:` is legal only in annotation positions"));
            }
            let value = v.to_value();
            let bad = |msg: &str| Err(perr(v.span, &self.file, format!(":{key} {msg}")));
            match key {
                "name" | "description" if !matches!(value, Value::Str(_)) => {
                    return bad("must be a string");
                }
                "version" => {
                    let ok = value.as_str().is_some_and(|s| {
                        let parts: Vec<&str> = s.split('.').collect();
                        parts.len() == 3
                            && parts
                                .iter()
                                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    });
                    if !ok {
                        return bad("must be a string MAJOR.MINOR.PATCH");
                    }
                }
                "input-schema" | "output-schema" => {
                    if let Err(m) = schema::parse(&value, true) {
                        return bad(&format!("is not a valid type expression: {m}"));
                    }
                }
                "effects" => {
                    let ok = match &value {
                        Value::Vector(items) => {
                            let all_kw =
                                items.items().iter().all(|x| matches!(x, Value::Keyword(_)));
                            let has_pure =
                                items.items().iter().any(|x| x == &Value::keyword("pure"));
                            all_kw && (!has_pure || items.len() == 1)
                        }
                        _ => false,
                    };
                    if !ok {
                        return bad("must be a vector of keywords ([:pure] alone)");
                    }
                }
                "examples" => {
                    let ok = match &value {
                        Value::Vector(items) => items.items().iter().all(|e| match e {
                            Value::Map(m) => {
                                m.get(&Value::keyword("input")).is_some()
                                    && m.get(&Value::keyword("output")).is_some()
                                    && m.get(&Value::keyword("doc"))
                                        .is_none_or(|d| matches!(d, Value::Str(_)))
                                    && e.is_data()
                            }
                            _ => false,
                        }),
                        _ => false,
                    };
                    if !ok {
                        return bad("must be a vector of {:input … :output …} maps");
                    }
                }
                _ => {}
            }
            props.retain(|(k, _)| k != &Value::keyword(key));
            props.push((Value::keyword(key), value));
        }
        match imp {
            Some(i) => self.expr(i, false)?,
            None => {
                self.emit(Op::Nil);
            }
        }
        self.span = f.span;
        let c = self.konst(Value::map(props));
        self.emit(Op::MakeCapability(c));
        Ok(())
    }
}

/// The span of a lone `:` anywhere in a form (legal only in annotation positions, §1.2).
pub fn lone_colon(f: &Form) -> Option<Span> {
    let mut stack = vec![f];
    while let Some(f) = stack.pop() {
        match &f.kind {
            FormKind::Symbol(n) if n.as_str() == ":" => return Some(f.span),
            FormKind::List(items) | FormKind::Vector(items) | FormKind::Map(items) => {
                stack.extend(items.iter())
            }
            _ => {}
        }
    }
    None
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
