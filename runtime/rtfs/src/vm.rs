//! The evaluation machine: runs compiled [`crate::code`] under the limits of §8.5.
//!
//! Everything the evaluation needs lives on the heap: the operand stack, the local slots and
//! the frame stack. A call to a user function pushes a frame instead of recursing natively,
//! and the higher-order builtins are *drivers* — state machines that ask the machine to call a
//! function and are resumed with its result — so no builtin re-enters the machine. Depth 10 000
//! therefore needs no native stack, on any thread and inside wasm32.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use crate::code::{Capture, Chunk, FnProto, Op};
use crate::error::{Error, Kind, LimitKind, Location, Result};
use crate::meter::Meter;
use crate::order::{charge_key, equal};
use crate::schema;
use crate::value::{Func, Map, Name, Seq, Value, live_bytes};

use crate::host::{Host, NoHost, StepStarted};

/// A shared, possibly unbound variable (a captured slot, a letrec or `def` declaration).
pub type Cell = Rc<RefCell<Option<Value>>>;

/// The limits of one evaluation (§8.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Evaluation steps.
    pub steps: u64,
    /// Nested non-tail applications.
    pub depth: usize,
    /// Bytes held by live values, above what was live when the evaluation started.
    pub memory: u64,
    /// Collection nesting of any value built.
    pub value_depth: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            steps: 100_000_000,
            depth: 10_000,
            memory: 256 << 20,
            value_depth: 1_000,
        }
    }
}

/// A program-level (global) variable, shared by every closure the program made.
#[derive(Debug)]
pub struct GlobalCell {
    /// Its name.
    pub name: Name,
    /// Its value: a definition, else the builtin of that name, else unbound.
    pub value: RefCell<Option<Value>>,
}

/// A compiled function with its captured cells.
#[derive(Debug)]
pub struct Closure {
    /// The code.
    pub proto: Rc<FnProto>,
    /// Captured cells, in the prototype's capture order.
    pub upvals: Box<[Cell]>,
    /// The program frame it was made in.
    pub globals: Rc<[Rc<GlobalCell>]>,
}

/// What a function value is.
pub enum Function {
    /// A builtin.
    Builtin(&'static Builtin),
    /// A user function.
    Closure(Closure),
    /// `(partial f a…)`.
    Partial(Value, Vec<Value>),
    /// `(comp f…)`, applied right to left.
    Comp(Vec<Value>),
    /// `(juxt f…)`.
    Juxt(Vec<Value>),
    /// `(complement f)`.
    Complement(Value),
    /// `(constantly v)`.
    Constantly(Value),
}

impl Drop for Function {
    fn drop(&mut self) {
        use crate::value::defer_drop;
        let take = |v: &mut Value| defer_drop(std::mem::replace(v, Value::Nil));
        match self {
            Function::Builtin(_) => {}
            Function::Closure(c) => {
                for cell in c.upvals.iter() {
                    if Rc::strong_count(cell) == 1
                        && let Ok(mut slot) = cell.try_borrow_mut()
                        && let Some(v) = slot.take()
                    {
                        defer_drop(v);
                    }
                }
            }
            Function::Partial(f, args) => {
                take(f);
                args.iter_mut().for_each(take);
            }
            Function::Comp(fs) | Function::Juxt(fs) => fs.iter_mut().for_each(take),
            Function::Complement(f) | Function::Constantly(f) => take(f),
        }
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "#<fn {n}>"),
            None => write!(f, "#<fn>"),
        }
    }
}

impl Function {
    /// The function's name, when it has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Function::Builtin(b) => Some(b.name),
            Function::Closure(c) => c.proto.name.as_ref().map(|n| n.as_str()),
            _ => None,
        }
    }

    /// Whether the function accepts `n` arguments (as far as can be known without calling).
    pub fn accepts(&self, n: usize) -> bool {
        match self {
            Function::Builtin(b) => b.accepts(n),
            Function::Closure(c) => c.proto.select(n).is_some(),
            _ => true,
        }
    }
}

/// A builtin function of the standard library.
#[derive(Debug)]
pub struct Builtin {
    /// Its primary name.
    pub name: &'static str,
    /// Fewest arguments.
    pub min: u16,
    /// Most arguments (`u16::MAX`: variadic).
    pub max: u16,
    /// The implementation.
    pub imp: Imp,
}

impl Builtin {
    /// Whether the builtin accepts `n` arguments (`max == u16::MAX`: any number).
    pub fn accepts(&self, n: usize) -> bool {
        n >= self.min as usize && (self.max == u16::MAX || n <= self.max as usize)
    }
}

/// How a builtin runs.
#[derive(Clone, Copy)]
pub enum Imp {
    /// Computes its value directly.
    Plain(fn(&mut Ctx<'_>, &[Value]) -> Result<Value>),
    /// May call functions: answers with a [`Flow`].
    Hof(fn(&mut Ctx<'_>, &[Value]) -> Result<Flow>),
}

impl std::fmt::Debug for Imp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Imp::Plain(_) => "Plain",
            Imp::Hof(_) => "Hof",
        })
    }
}

/// What a higher-order builtin or a driver asks the machine to do next.
pub enum Flow {
    /// The result.
    Done(Value),
    /// Call a function and resume the driver with its result (drivers only).
    Call(Value, Vec<Value>),
    /// Finish by calling a function; its result is the result.
    Tail(Value, Vec<Value>),
    /// Run a driver (builtins only): it is resumed first with None.
    Drive(Box<dyn Driver>),
}

/// A suspended higher-order computation (see [`Flow`]).
pub trait Driver {
    /// Continues with the result of the last requested call (None at the start).
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow>;
}

/// What builtins may use of the running evaluation: budgets and the host.
pub struct Ctx<'h> {
    pub(crate) host: &'h mut dyn Host,
    pub(crate) steps_left: u64,
    pub(crate) limits: Limits,
    pub(crate) mem_base: i64,
    pub(crate) step_stack: Vec<u64>,
}

impl Ctx<'_> {
    /// Charges `n` steps (1 per item a builtin reads or produces).
    #[inline]
    pub fn charge(&mut self, n: u64) -> Result<()> {
        if n > self.steps_left {
            self.steps_left = 0;
            return Err(Error::limit(LimitKind::Steps, self.limits.steps));
        }
        self.steps_left -= n;
        Ok(())
    }

    /// Charges `n` steps for a walk (1 per node and byte it visits) and polls the host each
    /// time the count crosses a multiple of 65 536, as the machine does between
    /// instructions, so that a walk inside one builtin meets a wall-clock deadline too.
    #[inline]
    pub fn charge_walk(&mut self, n: u64) -> Result<()> {
        let before = self.steps_left;
        self.charge(n)?;
        if (before ^ self.steps_left) >> 16 != 0 {
            self.host.poll()?;
        }
        Ok(())
    }

    /// Checks that `bytes` more can be allocated within the memory limit.
    pub fn reserve(&self, bytes: u64) -> Result<()> {
        let used = (live_bytes() - self.mem_base).max(0) as u64;
        if used.saturating_add(bytes) > self.limits.memory {
            return Err(Error::limit(LimitKind::Memory, self.limits.memory));
        }
        Ok(())
    }

    /// Charges for producing `items` items of about `bytes` bytes, before allocating them.
    pub fn produce(&mut self, items: u64, bytes: u64) -> Result<()> {
        self.reserve(bytes)?;
        self.charge(items)
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The host.
    pub fn host(&mut self) -> &mut dyn Host {
        &mut *self.host
    }

    /// Fails now when `steps` more cannot be charged or `bytes` more cannot be held, charging
    /// nothing otherwise (see [`Meter::afford`]).
    pub fn afford(&mut self, steps: u64, bytes: u64) -> Result<()> {
        if steps > self.steps_left {
            self.steps_left = 0;
            return Err(Error::limit(LimitKind::Steps, self.limits.steps));
        }
        self.reserve(bytes)
    }

    pub(crate) fn check_value_depth(&self, v: &Value) -> Result<()> {
        if v.depth() > self.limits.value_depth {
            return Err(Error::limit(
                LimitKind::ValueDepth,
                self.limits.value_depth as u64,
            ));
        }
        Ok(())
    }
}

impl Meter for Ctx<'_> {
    #[inline]
    fn charge(&mut self, n: u64) -> Result<()> {
        self.charge_walk(n)
    }

    fn hold(&mut self, bytes: u64) -> Result<()> {
        self.reserve(bytes)
    }

    fn afford(&mut self, work: u64, output: u64) -> Result<()> {
        Ctx::afford(self, work, output)
    }
}

/// One iteration in progress (`for`, `doseq`).
pub(crate) struct IterState {
    items: IterItems,
    pos: usize,
}

enum IterItems {
    Seq(Seq),
    Vec(Vec<Value>),
}

enum Slot {
    Unbound,
    Val(Value),
    Cell(Cell),
    Iter(Box<IterState>),
    Acc(Vec<Value>),
}

struct CodeFrame {
    chunk: Rc<Chunk>,
    pc: usize,
    base: usize,
    func: Option<Func>,
    globals: Rc<[Rc<GlobalCell>]>,
}

enum Frame {
    Code(CodeFrame),
    Native(Box<dyn Driver>),
}

struct Handler {
    frame: usize,
    target: usize,
    sp: usize,
}

enum Pending {
    Deliver(Value),
    Invoke(usize),
}

/// A compiled program, ready to run any number of times.
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) chunk: Rc<Chunk>,
    pub(crate) globals: Rc<[Name]>,
    pub(crate) info: Rc<crate::compile::Info>,
}

impl Program {
    /// The top-level code.
    pub fn chunk(&self) -> &Chunk {
        &self.chunk
    }

    /// What the compiler learnt about the program's globals (see [`crate::analysis`]).
    pub fn info(&self) -> &crate::compile::Info {
        &self.info
    }
}

/// An evaluation environment: the program frame (globals) and the limits. Reusable across
/// programs (a REPL) — definitions persist.
pub struct Interpreter {
    globals: HashMap<Box<str>, Rc<GlobalCell>>,
    tracked: Vec<Weak<RefCell<Option<Value>>>>,
    limits: Limits,
    last_steps: u64,
}

impl Default for Interpreter {
    fn default() -> Interpreter {
        Interpreter::new(Limits::default())
    }
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Interpreter {
    /// A fresh environment with only the builtins.
    pub fn new(limits: Limits) -> Interpreter {
        Interpreter {
            globals: HashMap::new(),
            tracked: Vec::new(),
            limits,
            last_steps: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits for later evaluations.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Steps the last evaluation used.
    pub fn last_steps(&self) -> u64 {
        self.last_steps
    }

    /// Reads and analyses a program; nothing is evaluated.
    pub fn compile(&self, src: &str, file: Option<&str>) -> Result<Program> {
        let file: Option<Rc<str>> = file.map(Rc::from);
        let opts = crate::reader::ReadOptions {
            file: file.clone(),
            ..Default::default()
        };
        let forms = crate::reader::read_program(src, &opts)?;
        crate::compile::compile_program(&forms, file)
    }

    /// Reads, analyses and evaluates a program in the pure environment.
    pub fn eval_str(&mut self, src: &str) -> Result<Value> {
        let program = self.compile(src, None)?;
        self.run(&program, &mut NoHost)
    }

    /// Evaluates a compiled program; its definitions stay in this environment.
    pub fn run(&mut self, program: &Program, host: &mut dyn Host) -> Result<Value> {
        let globals = self.link(&program.globals);
        let mut m = Machine::new(self.limits, host);
        m.locals
            .resize_with(program.chunk.n_slots as usize, || Slot::Unbound);
        m.frames.push(Frame::Code(CodeFrame {
            chunk: program.chunk.clone(),
            pc: 0,
            base: 0,
            func: None,
            globals,
        }));
        let result = m.run();
        self.finish(m, result)
    }

    /// Applies a function value (e.g. a capability's `:implementation`) to arguments.
    pub fn apply(&mut self, f: &Value, args: &[Value], host: &mut dyn Host) -> Result<Value> {
        let mut m = Machine::new(self.limits, host);
        m.stack.push(f.clone());
        m.stack.extend(args.iter().cloned());
        let result = match m.settle(Pending::Invoke(args.len())) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => m.run(),
            Err(e) => Err(e),
        };
        self.finish(m, result)
    }

    /// The value of a program-level definition.
    pub fn global(&self, name: &str) -> Option<Value> {
        self.globals
            .get(name)
            .and_then(|g| g.value.borrow().clone())
    }

    fn finish(&mut self, m: Machine<'_>, result: Result<Value>) -> Result<Value> {
        self.last_steps = self.limits.steps - m.ctx.steps_left;
        let tracked = m.tracked;
        drop(m.stack);
        drop(m.locals);
        drop(m.frames);
        if self.tracked.len() > 1024 {
            self.tracked.retain(|w| w.strong_count() > 0);
        }
        self.tracked.extend(tracked);
        result
    }

    fn link(&mut self, names: &[Name]) -> Rc<[Rc<GlobalCell>]> {
        names
            .iter()
            .map(|n| {
                self.globals
                    .entry(n.as_str().into())
                    .or_insert_with(|| {
                        Rc::new(GlobalCell {
                            name: n.clone(),
                            value: RefCell::new(crate::stdlib::lookup(n.as_str())),
                        })
                    })
                    .clone()
            })
            .collect()
    }

    /// Drops every definition (breaking reference cycles through closures), freeing memory.
    pub fn clear(&mut self) {
        for g in self.globals.values() {
            let old = g.value.borrow_mut().take();
            drop(old);
        }
        self.globals.clear();
        for w in self.tracked.drain(..) {
            if let Some(c) = w.upgrade() {
                let old = c.borrow_mut().take();
                drop(old);
            }
        }
    }
}

/// Evaluates one expression or program in a fresh pure environment with default limits.
pub fn eval(src: &str) -> Result<Value> {
    Interpreter::default().eval_str(src)
}

struct Machine<'h> {
    ctx: Ctx<'h>,
    frames: Vec<Frame>,
    stack: Vec<Value>,
    locals: Vec<Slot>,
    handlers: Vec<Handler>,
    tracked: Vec<Weak<RefCell<Option<Value>>>>,
    next_step: u64,
}

fn undefined(name: &str) -> Error {
    Error::new(
        Kind::UndefinedSymbol,
        format!("undefined symbol: {name}"),
        vec![("symbol", Value::symbol(name))],
    )
}

fn internal(what: &str) -> Error {
    Error::new(
        Kind::Argument,
        format!("internal evaluator error: {what}"),
        vec![],
    )
}

fn new_cell(v: Option<Value>) -> Cell {
    Rc::new(RefCell::new(v))
}

impl<'h> Machine<'h> {
    fn new(limits: Limits, host: &'h mut dyn Host) -> Machine<'h> {
        Machine {
            ctx: Ctx {
                host,
                steps_left: limits.steps,
                limits,
                mem_base: live_bytes(),
                step_stack: Vec::new(),
            },
            frames: Vec::new(),
            stack: Vec::new(),
            locals: Vec::new(),
            handlers: Vec::new(),
            tracked: Vec::new(),
            next_step: 1,
        }
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            match self.run_code() {
                Ok(v) => return Ok(v),
                Err(e) => self.unwind(e)?,
            }
        }
    }

    fn location(&self) -> Option<Location> {
        self.frames.iter().rev().find_map(|f| match f {
            Frame::Code(c) => {
                let span = c.chunk.spans.get(c.pc.saturating_sub(1))?;
                Some(span.location(c.chunk.file.as_ref()))
            }
            Frame::Native(_) => None,
        })
    }

    fn unwind(&mut self, e: Error) -> Result<()> {
        let e = e.at(|| self.location());
        if e.is(Kind::Limit) {
            return Err(e);
        }
        let Some(h) = self.handlers.pop() else {
            return Err(e);
        };
        self.frames.truncate(h.frame + 1);
        let Some(Frame::Code(fr)) = self.frames.last_mut() else {
            return Err(e);
        };
        fr.pc = h.target;
        let top = fr.base + fr.chunk.n_slots as usize;
        self.locals.truncate(top);
        self.stack.truncate(h.sp);
        self.stack.push(e.to_value());
        Ok(())
    }

    fn depth_check(&self) -> Result<()> {
        if self.frames.len() > self.ctx.limits.depth {
            return Err(Error::limit(LimitKind::Depth, self.ctx.limits.depth as u64));
        }
        Ok(())
    }

    fn periodic(&mut self) -> Result<()> {
        self.ctx.reserve(0)?;
        if self.ctx.steps_left & 0xffff == 0 {
            self.ctx.host.poll()?;
        }
        Ok(())
    }

    /// Delivers values and invokes functions until a code frame is on top (None) or the
    /// frame stack is empty (the final value).
    fn settle(&mut self, mut p: Pending) -> Result<Option<Value>> {
        loop {
            p = match p {
                Pending::Deliver(v) => match self.frames.last_mut() {
                    None => return Ok(Some(v)),
                    Some(Frame::Code(_)) => {
                        self.stack.push(v);
                        return Ok(None);
                    }
                    Some(Frame::Native(d)) => {
                        let flow = d.resume(&mut self.ctx, Some(v))?;
                        self.continue_with(flow, true)?
                    }
                },
                Pending::Invoke(n) => match self.invoke(n)? {
                    Some(next) => next,
                    None => return Ok(None),
                },
            }
        }
    }

    fn continue_with(&mut self, flow: Flow, owned: bool) -> Result<Pending> {
        match flow {
            Flow::Done(v) => {
                if owned {
                    self.frames.pop();
                }
                self.ctx.check_value_depth(&v)?;
                Ok(Pending::Deliver(v))
            }
            Flow::Call(f, args) if owned => {
                let n = args.len();
                self.stack.push(f);
                self.stack.extend(args);
                Ok(Pending::Invoke(n))
            }
            Flow::Tail(f, args) => {
                if owned {
                    self.frames.pop();
                }
                let n = args.len();
                self.stack.push(f);
                self.stack.extend(args);
                Ok(Pending::Invoke(n))
            }
            Flow::Drive(d) if !owned => {
                self.depth_check()?;
                self.frames.push(Frame::Native(d));
                let Some(Frame::Native(d)) = self.frames.last_mut() else {
                    unreachable!("just pushed")
                };
                let flow = d.resume(&mut self.ctx, None)?;
                self.continue_with(flow, true)
            }
            _ => Err(internal("a builtin asked for an impossible continuation")),
        }
    }

    /// Calls the callee under `n` arguments on the stack. None: a code frame was entered.
    fn invoke(&mut self, n: usize) -> Result<Option<Pending>> {
        let ci = self.stack.len() - n - 1;
        let callee = self.stack[ci].clone();
        let v = match &callee {
            Value::Fn(f) => match &*f.0 {
                Function::Closure(c) => {
                    self.enter(c, f.clone(), n)?;
                    return Ok(None);
                }
                Function::Builtin(b) => {
                    if !b.accepts(n) {
                        return Err(Error::arity(b.name, &builtin_expected(b), n));
                    }
                    match b.imp {
                        Imp::Plain(fp) => {
                            let v = fp(&mut self.ctx, &self.stack[ci + 1..])?;
                            self.ctx.check_value_depth(&v)?;
                            v
                        }
                        Imp::Hof(fp) => {
                            let flow = fp(&mut self.ctx, &self.stack[ci + 1..])?;
                            self.stack.truncate(ci);
                            return self.continue_with(flow, false).map(Some);
                        }
                    }
                }
                Function::Partial(g, fixed) => {
                    let args: Vec<Value> = self.stack.drain(ci + 1..).collect();
                    self.stack[ci] = g.clone();
                    self.stack.extend(fixed.iter().cloned());
                    self.stack.extend(args);
                    return Ok(Some(Pending::Invoke(n + fixed.len())));
                }
                Function::Constantly(v) => v.clone(),
                Function::Comp(fs) => {
                    let args: Vec<Value> = self.stack.drain(ci + 1..).collect();
                    self.stack.truncate(ci);
                    if fs.is_empty() {
                        if args.len() != 1 {
                            return Err(Error::arity("identity", "1", args.len()));
                        }
                        return Ok(Some(Pending::Deliver(args.into_iter().next().unwrap())));
                    }
                    let d = CompDriver {
                        fs: fs.clone(),
                        args: Some(args),
                    };
                    return self
                        .continue_with(Flow::Drive(Box::new(d)), false)
                        .map(Some);
                }
                Function::Juxt(fs) => {
                    let args: Vec<Value> = self.stack.drain(ci + 1..).collect();
                    self.stack.truncate(ci);
                    let d = JuxtDriver {
                        fs: fs.clone(),
                        args,
                        out: Vec::new(),
                    };
                    return self
                        .continue_with(Flow::Drive(Box::new(d)), false)
                        .map(Some);
                }
                Function::Complement(g) => {
                    let args: Vec<Value> = self.stack.drain(ci + 1..).collect();
                    self.stack.truncate(ci);
                    let d = ComplementDriver {
                        f: Some((g.clone(), args)),
                    };
                    return self
                        .continue_with(Flow::Drive(Box::new(d)), false)
                        .map(Some);
                }
            },
            Value::Keyword(_) | Value::Map(_) => {
                if !(1..=2).contains(&n) {
                    return Err(Error::arity(&crate::print::brief(&callee), "1 or 2", n));
                }
                let target = &self.stack[ci + 1];
                let default = self.stack.get(ci + 2).cloned().unwrap_or(Value::Nil);
                let found = match &callee {
                    Value::Keyword(_) => match target {
                        Value::Map(m) => {
                            charge_key(&mut self.ctx, &callee, m.key_weight(), m.len())?;
                            m.get(&callee).cloned()
                        }
                        Value::Error(e) => e.field(&callee),
                        _ => None,
                    },
                    Value::Map(m) => {
                        charge_key(&mut self.ctx, target, m.key_weight(), m.len())?;
                        m.get(target).cloned()
                    }
                    _ => None,
                };
                found.unwrap_or(default)
            }
            Value::Vector(s) => {
                if n != 1 {
                    return Err(Error::arity("vector", "1", n));
                }
                match &self.stack[ci + 1] {
                    Value::Int(i) => match usize::try_from(*i).ok().and_then(|i| s.get(i)) {
                        Some(v) => v.clone(),
                        None => return Err(Error::index(*i, s.len())),
                    },
                    other => return Err(Error::type_error("vector", "an integer index", other)),
                }
            }
            other => {
                return Err(Error::new(
                    Kind::Type,
                    format!("a {} is not callable", other.type_name()),
                    vec![
                        ("fn", Value::str(&crate::print::brief(other))),
                        ("expected", Value::str("a callable")),
                        ("actual", Value::str(other.type_name())),
                    ],
                ));
            }
        };
        self.stack.truncate(ci);
        Ok(Some(Pending::Deliver(v)))
    }

    fn enter(&mut self, c: &Closure, func: Func, n: usize) -> Result<()> {
        let Some(arity) = c.proto.select(n) else {
            let name = c.proto.name.as_ref().map_or("fn", |n| n.as_str());
            return Err(Error::arity(name, &c.proto.expected(), n));
        };
        self.depth_check()?;
        let chunk = arity.chunk.clone();
        let base = self.locals.len();
        let start = self.stack.len() - n;
        let mut args = self.stack.drain(start..);
        for _ in 0..arity.fixed {
            self.locals
                .push(Slot::Val(args.next().unwrap_or(Value::Nil)));
        }
        if arity.rest {
            let rest: Vec<Value> = args.collect();
            self.locals.push(Slot::Val(Value::list(rest)));
        } else {
            drop(args);
        }
        self.stack.pop();
        self.locals
            .resize_with(base + chunk.n_slots as usize, || Slot::Unbound);
        for &s in &chunk.promote {
            let slot = &mut self.locals[base + s as usize];
            if let Slot::Val(v) = std::mem::replace(slot, Slot::Unbound) {
                *slot = Slot::Cell(new_cell(Some(v)));
            }
        }
        if let Some(s) = chunk.self_slot {
            self.locals[base + s as usize] = Slot::Cell(new_cell(Some(Value::Fn(func.clone()))));
        }
        self.frames.push(Frame::Code(CodeFrame {
            chunk,
            pc: 0,
            base,
            func: Some(func),
            globals: c.globals.clone(),
        }));
        Ok(())
    }

    fn report_value(v: &Value) -> Value {
        if v.is_data() {
            v.clone()
        } else {
            reportable(v)
        }
    }

    #[allow(clippy::too_many_lines)]
    fn run_code(&mut self) -> Result<Value> {
        'reload: loop {
            let fi = self.frames.len() - 1;
            let Some(Frame::Code(fr)) = self.frames.last() else {
                return Err(internal("no code frame to run"));
            };
            let chunk = fr.chunk.clone();
            let mut pc = fr.pc;
            let base = fr.base;
            let func = fr.func.clone();
            let globals = fr.globals.clone();
            macro_rules! save_pc {
                () => {
                    if let Frame::Code(f) = &mut self.frames[fi] {
                        f.pc = pc;
                    }
                };
            }
            macro_rules! tri {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => {
                            save_pc!();
                            return Err(e);
                        }
                    }
                };
            }
            macro_rules! pop {
                () => {
                    self.stack.pop().unwrap_or(Value::Nil)
                };
            }
            macro_rules! slot {
                ($s:expr) => {
                    self.locals[base + $s as usize]
                };
            }
            loop {
                let op = chunk.code[pc];
                pc += 1;
                if self.ctx.steps_left == 0 {
                    save_pc!();
                    return Err(Error::limit(LimitKind::Steps, self.ctx.limits.steps));
                }
                self.ctx.steps_left -= 1;
                if self.ctx.steps_left & 0x3ff == 0 {
                    tri!(self.periodic());
                }
                match op {
                    Op::Const(i) => self.stack.push(chunk.consts[i as usize].clone()),
                    Op::Nil => self.stack.push(Value::Nil),
                    Op::SmallInt(i) => self.stack.push(Value::Int(i as i64)),
                    Op::Load(s) | Op::LoadCell(s) | Op::LoadChecked(s) => {
                        let v = match &slot!(s) {
                            Slot::Val(v) => v.clone(),
                            Slot::Cell(c) => match &*c.borrow() {
                                Some(v) => v.clone(),
                                None => tri!(Err(undefined(slot_name(&chunk, s)))),
                            },
                            _ => tri!(Err(undefined(slot_name(&chunk, s)))),
                        };
                        self.stack.push(v);
                    }
                    Op::LoadUp(u) => {
                        let Some(Function::Closure(c)) = func.as_ref().map(|f| &*f.0) else {
                            tri!(Err(internal("upvalue outside a closure")))
                        };
                        let v = c.upvals[u as usize].borrow().clone();
                        match v {
                            Some(v) => self.stack.push(v),
                            None => {
                                let name = c
                                    .proto
                                    .capture_names
                                    .get(u as usize)
                                    .map_or("?", |n| n.as_str());
                                tri!(Err(undefined(name)))
                            }
                        }
                    }
                    Op::LoadUpOr(u, l) => {
                        let Some(Function::Closure(c)) = func.as_ref().map(|f| &*f.0) else {
                            tri!(Err(internal("upvalue outside a closure")))
                        };
                        let v = c.upvals[u as usize].borrow().clone();
                        if let Some(v) = v {
                            self.stack.push(v);
                            pc = l as usize;
                        }
                    }
                    Op::LoadSelf => match &func {
                        Some(f) => self.stack.push(Value::Fn(f.clone())),
                        None => tri!(Err(internal("self reference outside a function"))),
                    },
                    Op::LoadGlobal(i) => {
                        let g = &globals[i as usize];
                        let v = g.value.borrow().clone();
                        match v {
                            Some(v) => self.stack.push(v),
                            None => tri!(Err(undefined(g.name.as_str()))),
                        }
                    }
                    Op::Bind(s) => {
                        let v = pop!();
                        slot!(s) = Slot::Val(v);
                    }
                    Op::BindCell(s) => {
                        let v = pop!();
                        slot!(s) = Slot::Cell(new_cell(Some(v)));
                    }
                    Op::Assign(s) | Op::AssignCell(s) => {
                        let v = pop!();
                        match &slot!(s) {
                            Slot::Cell(c) => *c.borrow_mut() = Some(v),
                            _ => slot!(s) = Slot::Val(v),
                        }
                    }
                    Op::Declare(s) => slot!(s) = Slot::Unbound,
                    Op::DeclareCell(s) => {
                        let c = new_cell(None);
                        self.tracked.push(Rc::downgrade(&c));
                        slot!(s) = Slot::Cell(c);
                    }
                    Op::SetGlobal(i) => {
                        let v = self.stack.last().cloned().unwrap_or(Value::Nil);
                        let old = globals[i as usize].value.replace(Some(v));
                        drop(old);
                    }
                    Op::Pop => {
                        self.stack.pop();
                    }
                    Op::Dup => {
                        let v = self.stack.last().cloned().unwrap_or(Value::Nil);
                        self.stack.push(v);
                    }
                    Op::Jump(l) => pc = l as usize,
                    Op::JumpIfFalse(l) => {
                        if !pop!().truthy() {
                            pc = l as usize;
                        }
                    }
                    Op::JumpIfTrue(l) => {
                        if pop!().truthy() {
                            pc = l as usize;
                        }
                    }
                    Op::AndJump(l) => {
                        if self.stack.last().is_some_and(|v| !v.truthy()) {
                            pc = l as usize;
                        } else {
                            self.stack.pop();
                        }
                    }
                    Op::OrJump(l) => {
                        if self.stack.last().is_some_and(Value::truthy) {
                            pc = l as usize;
                        } else {
                            self.stack.pop();
                        }
                    }
                    Op::JumpIfNil(l) => {
                        if matches!(pop!(), Value::Nil) {
                            pc = l as usize;
                        }
                    }
                    Op::Call(n) => {
                        save_pc!();
                        let n = n as usize;
                        // Fast path: a plain builtin with an acceptable count.
                        let ci = self.stack.len() - n - 1;
                        if let Value::Fn(f) = &self.stack[ci]
                            && let Function::Builtin(b) = &*f.0
                            && let Imp::Plain(fp) = b.imp
                            && b.accepts(n)
                        {
                            let v = tri!(fp(&mut self.ctx, &self.stack[ci + 1..]));
                            tri!(self.ctx.check_value_depth(&v));
                            self.stack.truncate(ci);
                            self.stack.push(v);
                            continue;
                        }
                        match self.settle(Pending::Invoke(n))? {
                            Some(v) => return Ok(v),
                            None => continue 'reload,
                        }
                    }
                    Op::Return => {
                        let v = pop!();
                        self.frames.pop();
                        self.locals.truncate(base);
                        if self.frames.is_empty() {
                            return Ok(v);
                        }
                        match self.settle(Pending::Deliver(v))? {
                            Some(v) => return Ok(v),
                            None => continue 'reload,
                        }
                    }
                    Op::MakeClosure(p) => {
                        let proto = chunk.protos[p as usize].clone();
                        let mut upvals = Vec::with_capacity(proto.captures.len());
                        for cap in &proto.captures {
                            let cell = match *cap {
                                Capture::Local(s) => match &mut slot!(s) {
                                    Slot::Cell(c) => c.clone(),
                                    other => {
                                        let v = match std::mem::replace(other, Slot::Unbound) {
                                            Slot::Val(v) => Some(v),
                                            _ => None,
                                        };
                                        let c = new_cell(v);
                                        *other = Slot::Cell(c.clone());
                                        c
                                    }
                                },
                                Capture::Upvalue(u) => match func.as_ref().map(|f| &*f.0) {
                                    Some(Function::Closure(c)) => c.upvals[u as usize].clone(),
                                    _ => tri!(Err(internal("upvalue outside a closure"))),
                                },
                            };
                            upvals.push(cell);
                        }
                        let f = Function::Closure(Closure {
                            proto,
                            upvals: upvals.into_boxed_slice(),
                            globals: globals.clone(),
                        });
                        self.stack.push(Value::Fn(Func(Rc::new(f))));
                    }
                    Op::MakeVector(n) => {
                        let start = self.stack.len() - n as usize;
                        let items: Vec<Value> = self.stack.drain(start..).collect();
                        let v = Value::vector(items);
                        tri!(self.ctx.check_value_depth(&v));
                        self.stack.push(v);
                    }
                    Op::MakeMap(n) => {
                        let start = self.stack.len() - 2 * n as usize;
                        let mut map = crate::value::PMap::new();
                        let mut key_weight = 0;
                        let mut it = self.stack.drain(start..);
                        let mut bad = None;
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            if !k.is_data() {
                                bad = Some(Error::type_error("map literal", "a data key", &k));
                                break;
                            }
                            if let Err(e) = charge_key(&mut self.ctx, &k, key_weight, map.len()) {
                                bad = Some(e);
                                break;
                            }
                            key_weight = key_weight.max(k.weight());
                            map.insert(k, v);
                        }
                        drop(it);
                        if let Some(e) = bad {
                            tri!(Err(e));
                        }
                        let v = Value::Map(Map::new(map));
                        tri!(self.ctx.check_value_depth(&v));
                        self.stack.push(v);
                    }
                    Op::PushHandler(l) => self.handlers.push(Handler {
                        frame: fi,
                        target: l as usize,
                        sp: self.stack.len(),
                    }),
                    Op::PopHandler => {
                        self.handlers.pop();
                    }
                    Op::Rethrow => match pop!() {
                        Value::Error(e) => tri!(Err(Error(e))),
                        _ => tri!(Err(internal("rethrow of a non-error"))),
                    },
                    Op::ErrorMatches(c) => {
                        let m = match self.stack.last() {
                            Some(Value::Error(e)) => {
                                selector_matches(&chunk.consts[c as usize], e.kind.as_str())
                            }
                            _ => false,
                        };
                        self.stack.push(Value::Bool(m));
                    }
                    Op::CheckSchema { schema, name } => {
                        let (s, written) = &chunk.schemas[schema as usize];
                        let v = self.stack.last().unwrap_or(&Value::Nil);
                        if !tri!(schema::valid_in(s, v, &mut self.ctx)) {
                            let e = schema_error(&chunk.consts[name as usize], written, v);
                            tri!(Err(e));
                        }
                    }
                    Op::CheckEach { schema, name } => {
                        let (s, written) = &chunk.schemas[schema as usize];
                        if let Some(items) = self.stack.last().and_then(Value::as_seq) {
                            for v in items.items().iter() {
                                if !tri!(schema::valid_in(s, v, &mut self.ctx)) {
                                    let e = schema_error(&chunk.consts[name as usize], written, v);
                                    tri!(Err(e));
                                }
                            }
                        }
                    }
                    Op::Assert(c) => {
                        if !pop!().truthy() {
                            let form = &chunk.consts[c as usize];
                            tri!(Err(Error::new(
                                Kind::Assertion,
                                format!("assertion failed: {}", crate::print::brief(form)),
                                vec![("condition", form.clone())],
                            )));
                        }
                    }
                    Op::SeqPattern(s) => {
                        let replace = match &slot!(s) {
                            Slot::Val(Value::Nil | Value::List(_) | Value::Vector(_)) => None,
                            Slot::Val(Value::Str(t)) => {
                                let chars: Vec<Value> = t
                                    .chars()
                                    .map(|c| Value::str(c.encode_utf8(&mut [0; 4])))
                                    .collect();
                                Some(Value::vector(chars))
                            }
                            Slot::Val(other) => tri!(Err(Error::type_error(
                                "destructuring",
                                "nil, a list, a vector or a string",
                                other
                            ))),
                            _ => tri!(Err(internal("pattern slot"))),
                        };
                        if let Some(v) = replace {
                            slot!(s) = Slot::Val(v);
                        }
                    }
                    Op::MapPattern(s) => match &slot!(s) {
                        Slot::Val(Value::Nil | Value::Map(_)) => {}
                        Slot::Val(other) => tri!(Err(Error::type_error(
                            "destructuring",
                            "a map or nil",
                            other
                        ))),
                        _ => tri!(Err(internal("pattern slot"))),
                    },
                    Op::NthOrNil(i) => {
                        let v = pop!();
                        let item = v
                            .as_seq()
                            .and_then(|s| s.get(i as usize).cloned())
                            .unwrap_or(Value::Nil);
                        self.stack.push(item);
                    }
                    Op::RestFrom(i) => {
                        let v = pop!();
                        let rest: Vec<Value> = match v.as_seq() {
                            Some(s) => s.items().iter().skip(i as usize).cloned().collect(),
                            None => Vec::new(),
                        };
                        self.stack.push(Value::list(rest));
                    }
                    Op::GetKey(c) => {
                        let v = pop!();
                        let key = &chunk.consts[c as usize];
                        let item = match v.as_map() {
                            Some(m) => {
                                tri!(charge_key(&mut self.ctx, key, m.key_weight(), m.len()));
                                m.get(key).cloned().unwrap_or(Value::Nil)
                            }
                            None => Value::Nil,
                        };
                        self.stack.push(item);
                    }
                    Op::GetKeyOr(c, l) => {
                        let v = pop!();
                        let key = &chunk.consts[c as usize];
                        if let Some(m) = v.as_map() {
                            tri!(charge_key(&mut self.ctx, key, m.key_weight(), m.len()));
                        }
                        match v.as_map().and_then(|m| m.get(key)) {
                            Some(item) => self.stack.push(item.clone()),
                            None => pc = l as usize,
                        }
                    }
                    Op::IterInit(s) => {
                        let v = pop!();
                        let items = match v {
                            Value::Nil => IterItems::Vec(Vec::new()),
                            Value::List(q) | Value::Vector(q) => IterItems::Seq(q),
                            other => match crate::stdlib::seq_items(&other) {
                                Some(items) => IterItems::Vec(items),
                                None => tri!(Err(Error::type_error(
                                    "for",
                                    "a seqable collection",
                                    &other
                                ))),
                            },
                        };
                        slot!(s) = Slot::Iter(Box::new(IterState { items, pos: 0 }));
                    }
                    Op::IterNext(s, l) => {
                        let Slot::Iter(it) = &mut slot!(s) else {
                            tri!(Err(internal("iteration slot")))
                        };
                        let next = match &it.items {
                            IterItems::Seq(q) => q.get(it.pos).cloned(),
                            IterItems::Vec(v) => v.get(it.pos).cloned(),
                        };
                        it.pos += 1;
                        match next {
                            Some(v) => self.stack.push(v),
                            None => pc = l as usize,
                        }
                    }
                    Op::AccNew(s) => slot!(s) = Slot::Acc(Vec::new()),
                    Op::AccPush(s) => {
                        let v = pop!();
                        if let Slot::Acc(acc) = &mut slot!(s) {
                            acc.push(v);
                        }
                    }
                    Op::AccTake(s) => {
                        let items = match std::mem::replace(&mut slot!(s), Slot::Unbound) {
                            Slot::Acc(items) => items,
                            _ => Vec::new(),
                        };
                        self.stack.push(Value::vector(items));
                    }
                    Op::CheckInt => match self.stack.last() {
                        Some(Value::Int(_)) => {}
                        Some(other) => {
                            tri!(Err(Error::type_error("dotimes", "an integer", other)))
                        }
                        None => {}
                    },
                    Op::JumpIfNotLess(a, b, l) => {
                        let (Slot::Val(Value::Int(x)), Slot::Val(Value::Int(y))) =
                            (&slot!(a), &slot!(b))
                        else {
                            tri!(Err(internal("dotimes counter")))
                        };
                        if x >= y {
                            pc = l as usize;
                        }
                    }
                    Op::IncSlot(s) => {
                        if let Slot::Val(Value::Int(x)) = &mut slot!(s) {
                            *x += 1;
                        }
                    }
                    Op::Case(t) => {
                        let v = pop!();
                        let table = &chunk.cases[t as usize];
                        match table.arms.iter().find(|(k, _)| equal(k, &v)) {
                            Some((_, l)) => pc = *l as usize,
                            None => match table.default {
                                Some(l) => pc = l as usize,
                                None => tri!(Err(match_error(&v))),
                            },
                        }
                    }
                    Op::MatchSeq {
                        slot: s,
                        len,
                        rest,
                        fail,
                    } => {
                        let ok = match &slot!(s) {
                            Slot::Val(Value::List(q) | Value::Vector(q)) => {
                                if rest {
                                    q.len() >= len as usize
                                } else {
                                    q.len() == len as usize
                                }
                            }
                            _ => false,
                        };
                        if !ok {
                            pc = fail as usize;
                        }
                    }
                    Op::MatchMap(s, l) => {
                        if !matches!(&slot!(s), Slot::Val(Value::Map(_))) {
                            pc = l as usize;
                        }
                    }
                    Op::MatchHasKey(s, c, l) => {
                        let key = &chunk.consts[c as usize];
                        let has = match &slot!(s) {
                            Slot::Val(Value::Map(m)) => {
                                tri!(charge_key(&mut self.ctx, key, m.key_weight(), m.len()));
                                m.get(key).is_some()
                            }
                            _ => false,
                        };
                        if !has {
                            pc = l as usize;
                        }
                    }
                    Op::MatchEq(s, c, l) => {
                        let eq = match &slot!(s) {
                            Slot::Val(v) => equal(v, &chunk.consts[c as usize]),
                            _ => false,
                        };
                        if !eq {
                            pc = l as usize;
                        }
                    }
                    Op::MatchFail(s) => {
                        let v = match &slot!(s) {
                            Slot::Val(v) => v.clone(),
                            _ => Value::Nil,
                        };
                        tri!(Err(match_error(&v)));
                    }
                    Op::StepStart(plan) => {
                        let params = pop!();
                        let name = pop!();
                        let name = match &name {
                            Value::Str(s) => s.to_string(),
                            Value::Keyword(k) => k.as_str().to_string(),
                            other => tri!(Err(Error::type_error(
                                "step",
                                "a string or keyword name",
                                other
                            ))),
                        };
                        if !matches!(params, Value::Nil | Value::Map(_)) {
                            tri!(Err(Error::type_error("step", "a map of params", &params)));
                        }
                        let id = self.next_step;
                        self.next_step += 1;
                        let reported = Self::report_value(&params);
                        let event = StepStarted {
                            id,
                            parent: self.ctx.step_stack.last().copied(),
                            name: &name,
                            params: &reported,
                            plan,
                        };
                        self.ctx.host.step_started(&event);
                        self.ctx.step_stack.push(id);
                        self.stack.push(params);
                    }
                    Op::StepEnd => {
                        if let Some(id) = self.ctx.step_stack.pop() {
                            let v = Self::report_value(self.stack.last().unwrap_or(&Value::Nil));
                            self.ctx.host.step_completed(id, &v);
                        }
                    }
                    Op::StepFail => {
                        if let Some(id) = self.ctx.step_stack.pop()
                            && let Some(Value::Error(e)) = self.stack.last()
                        {
                            self.ctx.host.step_failed(id, &Error(e.clone()));
                        }
                    }
                    Op::MakeCapability(c) => {
                        let imp = pop!();
                        let template = &chunk.consts[c as usize];
                        if let Value::Fn(f) = &imp {
                            if !f.0.accepts(1) {
                                tri!(Err(Error::type_error(
                                    "capability",
                                    "an implementation accepting one argument",
                                    &imp
                                )));
                            }
                        } else if !matches!(imp, Value::Nil) {
                            tri!(Err(Error::type_error(
                                "capability",
                                "a function as :implementation",
                                &imp
                            )));
                        }
                        let Value::Map(m) = template else {
                            tri!(Err(internal("capability template")))
                        };
                        let desc =
                            Value::Map(m.clone().insert(Value::keyword("implementation"), imp));
                        self.ctx.host.capability(&desc);
                        self.stack.push(desc);
                    }
                }
            }
        }
    }
}

fn slot_name(chunk: &Chunk, s: u16) -> &str {
    chunk
        .slot_names
        .get(s as usize)
        .and_then(|n| n.as_ref())
        .map_or("?", |n| n.as_str())
}

fn builtin_expected(b: &Builtin) -> String {
    if b.max == u16::MAX {
        format!("{}+", b.min)
    } else if b.min == b.max {
        b.min.to_string()
    } else {
        format!("{}-{}", b.min, b.max)
    }
}

fn match_error(v: &Value) -> Error {
    Error::new(
        Kind::Match,
        format!("no clause matches {}", crate::print::brief(v)),
        vec![("value", v.clone())],
    )
}

fn schema_error(name: &Value, written: &Value, v: &Value) -> Error {
    let what = match name {
        Value::Nil => "return value".to_string(),
        n => crate::print::brief(n),
    };
    Error::new(
        Kind::Schema,
        format!(
            "{what}: {} does not satisfy {}",
            crate::print::brief(v),
            crate::print::brief(written)
        ),
        vec![
            ("name", name.clone()),
            ("expected", written.clone()),
            ("value", v.clone()),
        ],
    )
}

/// Whether a `catch` selector matches an error kind (§7.4).
pub fn selector_matches(selector: &Value, kind: &str) -> bool {
    match selector {
        Value::Symbol(_) => true,
        Value::Keyword(k) => {
            k.as_str() == "default"
                || k.as_str() == kind
                || (k.namespace().is_none()
                    && kind.split_once('/').is_some_and(|(ns, _)| ns == k.as_str()))
        }
        Value::Vector(items) => items.items().iter().any(|s| selector_matches(s, kind)),
        _ => false,
    }
}

/// A value with its non-data parts replaced by their printed form (for step reports). Data
/// parts are kept as they are and shared parts stay shared, so the work is proportional to
/// the collections that hold a non-data value, never to the value's expansion.
pub fn reportable(v: &Value) -> Value {
    report(v, &mut HashMap::new())
}

fn report(v: &Value, done: &mut HashMap<(usize, u8), Value>) -> Value {
    if v.is_data() {
        return v.clone();
    }
    let key = match v {
        Value::Fn(_) | Value::Error(_) | Value::Regex(_) => {
            return Value::str(&crate::print::brief(v));
        }
        Value::List(s) => (s.addr(), 0),
        Value::Vector(s) => (s.addr(), 1),
        Value::Map(m) => (m.addr(), 2),
        other => return other.clone(),
    };
    if let Some(r) = done.get(&key) {
        return r.clone();
    }
    let r = match v {
        Value::List(s) => Value::list(s.items().iter().map(|x| report(x, done)).collect()),
        Value::Vector(s) => Value::vector(s.items().iter().map(|x| report(x, done)).collect()),
        Value::Map(m) => Value::map(
            m.entries()
                .iter()
                .map(|(k, x)| (k.clone(), report(x, done)))
                .collect(),
        ),
        other => other.clone(),
    };
    done.insert(key, r.clone());
    r
}

struct CompDriver {
    fs: Vec<Value>,
    args: Option<Vec<Value>>,
}

impl Driver for CompDriver {
    fn resume(&mut self, _: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        let Some(f) = self.fs.pop() else {
            return Ok(Flow::Done(value.unwrap_or(Value::Nil)));
        };
        let args = match self.args.take() {
            Some(args) => args,
            None => vec![value.unwrap_or(Value::Nil)],
        };
        if self.fs.is_empty() {
            Ok(Flow::Tail(f, args))
        } else {
            Ok(Flow::Call(f, args))
        }
    }
}

struct JuxtDriver {
    fs: Vec<Value>,
    args: Vec<Value>,
    out: Vec<Value>,
}

impl Driver for JuxtDriver {
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        if let Some(v) = value {
            self.out.push(v);
        }
        match self.fs.get(self.out.len()) {
            Some(f) => {
                ctx.charge(1)?;
                Ok(Flow::Call(f.clone(), self.args.clone()))
            }
            None => Ok(Flow::Done(Value::vector(std::mem::take(&mut self.out)))),
        }
    }
}

struct ComplementDriver {
    f: Option<(Value, Vec<Value>)>,
}

impl Driver for ComplementDriver {
    fn resume(&mut self, _: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        match self.f.take() {
            Some((f, args)) => Ok(Flow::Call(f, args)),
            None => Ok(Flow::Done(Value::Bool(
                !value.unwrap_or(Value::Nil).truthy(),
            ))),
        }
    }
}
