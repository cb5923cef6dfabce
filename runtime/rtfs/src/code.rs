//! Compiled code: the instruction set the analyser emits and the machine runs.
//!
//! Variables are resolved to slots before evaluation. A slot captured by a closure holds a
//! shared cell instead of a value; the compiler rewrites that slot's instructions to their
//! `*Cell` forms once it knows (after the function body), so uncaptured variables never pay
//! for sharing.

use std::rc::Rc;

use crate::reader::Span;
use crate::schema::Schema;
use crate::value::{Name, Value};

/// Index into a chunk's constants.
pub type ConstIdx = u32;
/// A local slot in the current frame.
pub type SlotIdx = u16;
/// A code address in the current chunk.
pub type Label = u32;

/// One instruction. Operands are indices into the chunk's tables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Push a constant.
    Const(ConstIdx),
    /// Push nil.
    Nil,
    /// Push a small integer.
    SmallInt(i32),
    /// Push a plain slot's value.
    Load(SlotIdx),
    /// Push a captured slot's cell value (unbound → `:error/undefined-symbol`).
    LoadCell(SlotIdx),
    /// Push a declared-but-maybe-unbound plain slot's value.
    LoadChecked(SlotIdx),
    /// Push an upvalue of the running closure.
    LoadUp(u16),
    /// Push an upvalue of the running closure and jump, when it is bound; otherwise go on to
    /// the fallback load that follows (a name bound later in an enclosing frame, §3.2).
    LoadUpOr(u16, Label),
    /// Push the running closure itself (a named `fn` referring to itself).
    LoadSelf,
    /// Push a global (user definition, else builtin, else `:error/undefined-symbol`).
    LoadGlobal(u32),
    /// Pop into a slot (a new binding).
    Bind(SlotIdx),
    /// Pop into a fresh cell in a slot.
    BindCell(SlotIdx),
    /// Pop into a slot (rebinding the same variable).
    Assign(SlotIdx),
    /// Pop into the existing cell of a slot.
    AssignCell(SlotIdx),
    /// Mark a slot unbound (letrec and `def` declarations).
    Declare(SlotIdx),
    /// Put a fresh unbound cell in a slot.
    DeclareCell(SlotIdx),
    /// Peek and store into a global (`def` at top level).
    SetGlobal(u32),
    /// Drop the top value.
    Pop,
    /// Duplicate the top value.
    Dup,
    /// Jump.
    Jump(Label),
    /// Pop; jump when falsy.
    JumpIfFalse(Label),
    /// Pop; jump when truthy.
    JumpIfTrue(Label),
    /// Peek; when falsy jump keeping it, else pop and go on (`and`).
    AndJump(Label),
    /// Peek; when truthy jump keeping it, else pop and go on (`or`).
    OrJump(Label),
    /// Pop; jump when nil.
    JumpIfNil(Label),
    /// Apply: stack holds the callee then `n` arguments.
    Call(u16),
    /// Return the top value from the current function.
    Return,
    /// Make a closure from a prototype, capturing cells.
    MakeClosure(u32),
    /// Build a vector from the top `n` values.
    MakeVector(u32),
    /// Build a map from the top `2n` values (key, value pairs in order).
    MakeMap(u32),
    /// Install an error handler for the current frame; errors jump to the label with the
    /// error value pushed.
    PushHandler(Label),
    /// Remove the innermost handler.
    PopHandler,
    /// Pop an error value and raise it again.
    Rethrow,
    /// Peek the error value; push whether the catch selector constant matches it.
    ErrorMatches(ConstIdx),
    /// Peek; check against a schema (`:error/schema` naming the constant name).
    CheckSchema {
        /// Index into the chunk's schemas.
        schema: u32,
        /// Constant holding the binding's name (a symbol) or nil for return values.
        name: ConstIdx,
    },
    /// Pop; a falsy value is `:error/assertion` naming the condition form constant.
    Assert(ConstIdx),
    /// Check a slot holds nil, a list, a vector or a string (strings become a vector of
    /// 1-character strings) for sequential destructuring.
    SeqPattern(SlotIdx),
    /// Check a slot holds a map or nil for map destructuring.
    MapPattern(SlotIdx),
    /// Pop a nil/list/vector; push its item `i` or nil.
    NthOrNil(u32),
    /// Pop a nil/list/vector; push a list of its items from `i`.
    RestFrom(u32),
    /// Pop a map (or nil); push the value of a constant key, or nil.
    GetKey(ConstIdx),
    /// Pop a map (or nil); push the value of a constant key, or jump when absent.
    GetKeyOr(ConstIdx, Label),
    /// Pop a seqable into an iteration slot.
    IterInit(SlotIdx),
    /// Push the next item of an iteration slot, or jump when exhausted.
    IterNext(SlotIdx, Label),
    /// Put an empty accumulator in a slot.
    AccNew(SlotIdx),
    /// Pop and append to the accumulator slot.
    AccPush(SlotIdx),
    /// Push the accumulator slot's vector.
    AccTake(SlotIdx),
    /// Pop `n`, check it is an Integer (dotimes), push it back.
    CheckInt,
    /// If slot `a` (Integer) is not below slot `b`, jump; else go on.
    JumpIfNotLess(SlotIdx, SlotIdx, Label),
    /// Increment the Integer in a slot.
    IncSlot(SlotIdx),
    /// Pop a value; jump through a `case` table.
    Case(u32),
    /// Jump unless the slot holds a list/vector of exactly (or, with rest, at least) `len`.
    MatchSeq {
        /// Slot with the value.
        slot: SlotIdx,
        /// Fixed length.
        len: u32,
        /// Whether a rest pattern follows.
        rest: bool,
        /// Where to go on mismatch.
        fail: Label,
    },
    /// Jump unless the slot holds a map.
    MatchMap(SlotIdx, Label),
    /// Jump unless the slot holds a map containing the constant key.
    MatchHasKey(SlotIdx, ConstIdx, Label),
    /// Jump unless the slot's value `=` the constant.
    MatchEq(SlotIdx, ConstIdx, Label),
    /// Raise `:error/match` with the slot's value.
    MatchFail(SlotIdx),
    /// Pop params and name; report a step (or plan, when the flag is set) started; push the
    /// params back for `%params`.
    StepStart(bool),
    /// Peek the body's value; report the innermost open step completed.
    StepEnd,
    /// Peek the error value; report the innermost open step failed.
    StepFail,
    /// Peek a list (a rest parameter); check each item against a schema.
    CheckEach {
        /// Index into the chunk's schemas.
        schema: u32,
        /// Constant holding the parameter's name.
        name: ConstIdx,
    },
    /// Pop the implementation (or nil); push the capability descriptor built from the
    /// constant template, and record it for the host.
    MakeCapability(ConstIdx),
}

/// A `case` jump table.
#[derive(Clone, Debug)]
pub struct CaseTable {
    /// (constant key, target) pairs; list keys are expanded to one pair per item.
    pub arms: Vec<(Value, Label)>,
    /// Where to go when nothing matches; None → `:error/match`.
    pub default: Option<Label>,
}

/// A unit of compiled code: one function arity, or a program's top level.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Instructions.
    pub code: Vec<Op>,
    /// Source span of each instruction's form.
    pub spans: Vec<Span>,
    /// Constants.
    pub consts: Vec<Value>,
    /// Schemas for annotations, with the type expression as written (for error data).
    pub schemas: Vec<(Schema, Value)>,
    /// Nested function prototypes.
    pub protos: Vec<Rc<FnProto>>,
    /// `case` tables.
    pub cases: Vec<CaseTable>,
    /// Number of local slots.
    pub n_slots: u16,
    /// Variable name of each slot (for unbound-variable errors).
    pub slot_names: Vec<Option<Name>>,
    /// Argument slots that hold captured parameters and must become cells at entry.
    pub promote: Vec<SlotIdx>,
    /// A slot that receives (a cell holding) the running closure at entry, when a nested
    /// closure refers to a named function by its name.
    pub self_slot: Option<SlotIdx>,
    /// Source file, for error locations.
    pub file: Option<Rc<str>>,
}

/// Where a closure's captured cell comes from when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capture {
    /// A cell in the creating frame's slot.
    Local(SlotIdx),
    /// One of the creating closure's own upvalues.
    Upvalue(u16),
}

/// One arity of a function.
#[derive(Debug)]
pub struct Arity {
    /// Number of fixed parameters.
    pub fixed: usize,
    /// Whether extra arguments are collected into a rest list (slot `fixed`).
    pub rest: bool,
    /// The code.
    pub chunk: Rc<Chunk>,
}

/// A compiled `fn` form.
#[derive(Debug)]
pub struct FnProto {
    /// The function's name, for printing and errors.
    pub name: Option<Name>,
    /// Arities, in source order.
    pub arities: Vec<Arity>,
    /// Captures, in upvalue order.
    pub captures: Vec<Capture>,
    /// The captured variables' names, in upvalue order (for unbound-variable errors).
    pub capture_names: Vec<Name>,
}

impl FnProto {
    /// Selects the arity for `n` arguments (§3.4): the one with exactly `n` fixed parameters,
    /// else the variadic one if `n` is enough.
    pub fn select(&self, n: usize) -> Option<&Arity> {
        self.arities
            .iter()
            .find(|a| !a.rest && a.fixed == n)
            .or_else(|| self.arities.iter().find(|a| a.rest && n >= a.fixed))
    }

    /// A description of the accepted argument counts, for arity errors.
    pub fn expected(&self) -> String {
        let parts: Vec<String> = self
            .arities
            .iter()
            .map(|a| {
                if a.rest {
                    format!("{}+", a.fixed)
                } else {
                    a.fixed.to_string()
                }
            })
            .collect();
        parts.join(" or ")
    }
}
