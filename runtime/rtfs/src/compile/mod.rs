//! The analyser and compiler: forms → slot-resolved [`crate::code`].
//!
//! One pass per function arity. Every special form's shape, every binding vector, annotation
//! and schema, `recur` position and `capability`/`plan` property is checked here, so a program
//! with any analysis error evaluates nothing (§3.1). Symbols are resolved to slots, upvalues or
//! globals; whether a global is bound is only known when it is evaluated.
//!
//! The `impl Compiler` is spread over one file per concern: `resolve.rs` (scopes and symbol
//! resolution), `expressions.rs` (literals, applications, the special-form dispatch and the
//! conditionals), `bindings.rs` (binding vectors, destructuring, frames, `let`, `loop`,
//! `recur`), `annotations.rs` (type annotations and their checks), `functions.rs` (`fn`,
//! `defn`, `def`), `try_catch.rs`, `matching.rs` (`match`), `iteration.rs` (`for`, `doseq`,
//! `dotimes`), `threading.rs` (`->` and friends), `steps.rs` (`step`, `plan`) and
//! `capability.rs`. This file holds the public API, the compiler's state and its emission
//! primitives; the other files are its child modules, so its private items are theirs too.

mod annotations;
mod bindings;
mod capability;
mod expressions;
mod functions;
mod iteration;
mod matching;
mod resolve;
mod steps;
mod threading;
mod try_catch;

use std::collections::HashMap;
use std::rc::Rc;

use crate::code::{Capture, Chunk, ConstIdx, Label, Op, SlotIdx};
use crate::error::{Error, Result};
use crate::reader::{Form, FormKind, Span};
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
