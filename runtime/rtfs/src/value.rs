//! Values of the RTFS language (LANGUAGE.md §2).
//!
//! A [`Value`] is 16 bytes: scalars inline, everything else behind one `Rc`. Collections are
//! persistent (imbl's RRB vectors and B-tree maps with `Rc` pointers), so "changing" one shares
//! structure with the original instead of copying it, and a uniquely owned one is updated in
//! place. Maps are ordered by the canonical order of §2.4, which agrees with `=`, so iteration,
//! printing and encoding are canonical without sorting.
//!
//! Every string and collection records the bytes it is accounted for in a per-thread counter
//! ([`live_bytes`]) and releases them when dropped; the evaluator's memory limit compares that
//! counter with its budget. Every collection also records its nesting depth, which the value
//! depth limit bounds, its *expanded size* ([`Value::weight`]: what a walk of it would visit,
//! counting shared parts every time they occur) and how many of its items are not data, so
//! that both are known without walking a value whose expansion may be astronomically larger
//! than what it holds (41 vectors `[v v]` nested 40 deep expand to 2^40 leaves).

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use imbl::shared_ptr::RcK;

use crate::error::ErrorValue;
use crate::vm::Function;

/// The persistent vector behind lists and vectors.
pub type PVec = imbl::GenericVector<Value, RcK>;
/// The persistent ordered map behind maps (ordered canonically, §2.4).
pub type PMap = imbl::GenericOrdMap<Value, Value, RcK>;

thread_local! {
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

/// Bytes currently held by live RTFS strings and collections on this thread (the accounting
/// behind the `memory` limit, LANGUAGE.md §8.5).
pub fn live_bytes() -> i64 {
    LIVE_BYTES.with(|c| c.get())
}

thread_local! {
    static DEFERRED: std::cell::RefCell<Vec<Value>> = const { std::cell::RefCell::new(Vec::new()) };
    static DRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Drops a value without native recursion through functions and errors: chains of closures
/// (or errors in error data) can be arbitrarily long, so their contents are queued and dropped
/// in a loop by the outermost drop on this thread.
pub(crate) fn defer_drop(v: Value) {
    if !matches!(
        v,
        Value::Fn(_) | Value::Error(_) | Value::List(_) | Value::Vector(_) | Value::Map(_)
    ) {
        return;
    }
    let queued = DEFERRED.try_with(|q| q.borrow_mut().push(v)).is_ok();
    if !queued || DRAINING.try_with(|d| d.replace(true)).unwrap_or(true) {
        return;
    }
    while let Some(next) = DEFERRED.try_with(|q| q.borrow_mut().pop()).ok().flatten() {
        drop(next);
    }
    let _ = DRAINING.try_with(|d| d.set(false));
}

fn charge(bytes: usize) {
    LIVE_BYTES.with(|c| c.set(c.get() + bytes as i64));
}

fn release(bytes: usize) {
    LIVE_BYTES.with(|c| c.set(c.get() - bytes as i64));
}

/// Accounted size of a string of `len` bytes.
pub(crate) fn str_cost(len: usize) -> usize {
    len + 32
}

/// Accounted size of a sequential collection of `len` items.
pub(crate) fn seq_cost(len: usize) -> usize {
    len * 24 + 48
}

/// Accounted size of a map of `len` entries.
pub(crate) fn map_cost(len: usize) -> usize {
    len * 48 + 48
}

/// The iterator path of [`Seq::try_each`], apart so that its iterator does not enlarge the
/// frame of every walk through short sequences.
#[inline(never)]
fn each_long<E>(items: &PVec, mut f: impl FnMut(usize, &Value) -> Result<(), E>) -> Result<(), E> {
    for (i, v) in items.iter().enumerate() {
        f(i, v)?;
    }
    Ok(())
}

/// Sequences no longer than this are walked by index rather than by iterator.
pub(crate) const SHORT: usize = 16;

/// An RTFS value (LANGUAGE.md §2.1).
#[derive(Clone)]
pub enum Value {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// A checked signed 64-bit integer.
    Int(i64),
    /// An IEEE-754 binary64 float.
    Float(f64),
    /// A UTF-8 string.
    Str(Str),
    /// A keyword; its text excludes the leading `:`.
    Keyword(Name),
    /// A symbol.
    Symbol(Name),
    /// A list.
    List(Seq),
    /// A vector.
    Vector(Seq),
    /// A map.
    Map(Map),
    /// A function (not data).
    Fn(Func),
    /// An error value (not data).
    Error(Rc<ErrorValue>),
    /// A compiled regular expression (not data).
    Regex(Rc<RegexValue>),
}

/// An immutable, accounted string.
#[derive(Clone)]
pub struct Str(Rc<StrObj>);

struct StrObj {
    text: Box<str>,
}

impl Drop for StrObj {
    fn drop(&mut self) {
        release(str_cost(self.text.len()));
    }
}

impl Str {
    /// Makes a string value's payload.
    pub fn new(text: impl Into<Box<str>>) -> Str {
        let text = text.into();
        charge(str_cost(text.len()));
        Str(Rc::new(StrObj { text }))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// Whether two handles share one allocation.
    pub fn ptr_eq(a: &Str, b: &Str) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.text
    }
}

/// The text of a keyword or symbol, with its namespace split (§1.3).
#[derive(Clone)]
pub struct Name(Rc<NameObj>);

struct NameObj {
    text: Box<str>,
    /// Byte index of the `/` separating namespace and name, if any.
    slash: Option<u32>,
}

impl Name {
    /// Makes a name from its full text (`ns/name` or `name`).
    pub fn new(text: &str) -> Name {
        let slash = if text == "/" {
            None
        } else {
            text.find('/')
                .filter(|&i| i > 0 && i + 1 < text.len())
                .map(|i| i as u32)
        };
        Name(Rc::new(NameObj {
            text: text.into(),
            slash,
        }))
    }

    /// The full text, `ns/name` or `name`.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// The namespace part, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.0.slash.map(|i| &self.0.text[..i as usize])
    }

    /// The name part.
    pub fn name(&self) -> &str {
        match self.0.slash {
            Some(i) => &self.0.text[i as usize + 1..],
            None => &self.0.text,
        }
    }

    /// Whether two names share one allocation (a fast path before comparing text).
    pub fn ptr_eq(a: &Name, b: &Name) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.text
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        Name::ptr_eq(self, other) || self.0.text == other.0.text
    }
}

impl Eq for Name {}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A list's or vector's items.
#[derive(Clone)]
pub struct Seq(Rc<SeqObj>);

struct SeqObj {
    items: PVec,
    depth: u32,
    /// Items that are not data (see [`Value::is_data`]).
    opaque: u32,
    /// The expanded size (see [`Value::weight`]).
    weight: u64,
    bytes: usize,
}

/// What a collection caches about its items: nesting depth, expanded size, non-data count.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) depth: u32,
    pub(crate) weight: u64,
    pub(crate) opaque: u32,
}

impl Shape {
    /// The shape of an empty collection.
    pub(crate) const EMPTY: Shape = Shape {
        depth: 1,
        weight: 1,
        opaque: 0,
    };

    /// Adds one item (or one map key or value): one look at it for all three.
    #[inline]
    pub(crate) fn add(&mut self, v: &Value) {
        let (depth, weight, opaque) = match v {
            Value::List(s) | Value::Vector(s) => (s.0.depth, s.0.weight, s.0.opaque != 0),
            Value::Map(m) => (m.0.depth, m.0.weight, m.0.opaque != 0),
            Value::Str(s) => (0, s.len().max(1) as u64, false),
            Value::Keyword(n) | Value::Symbol(n) => (0, n.len().max(1) as u64, false),
            Value::Fn(_) | Value::Regex(_) => (0, 1, true),
            Value::Error(e) => (1 + e.data.depth(), 1, true),
            _ => (0, 1, false),
        };
        self.depth = self.depth.max(depth + 1);
        self.weight = self.weight.saturating_add(weight);
        self.opaque += u32::from(opaque);
    }

    /// The shape of a sequence of items.
    fn of_items<'a>(items: impl Iterator<Item = &'a Value>) -> Shape {
        let mut shape = Shape::EMPTY;
        for v in items {
            shape.add(v);
        }
        shape
    }

    /// The shape of map entries, and the largest expanded size of a key.
    fn of_entries(entries: &PMap) -> (Shape, u64) {
        let mut shape = Shape::EMPTY;
        let mut key_weight = 0;
        for (k, v) in entries.iter() {
            key_weight = key_weight.max(k.weight());
            shape.add(k);
            shape.add(v);
        }
        (shape, key_weight)
    }

    /// Takes one item away (its replacement, if any, is added separately). A saturated
    /// weight is recomputed by the caller, since nothing can be subtracted from it.
    #[inline]
    fn remove(&mut self, v: &Value) {
        if self.weight != u64::MAX {
            self.weight -= v.weight();
        }
        self.opaque -= u32::from(!v.is_data());
    }
}

impl Drop for SeqObj {
    fn drop(&mut self) {
        release(self.bytes);
    }
}

impl Seq {
    /// Wraps persistent items, computing depth, expanded size and accounting.
    pub fn new(items: PVec) -> Seq {
        let shape = Shape::of_items(items.iter());
        Seq::with_shape(items, shape)
    }

    pub(crate) fn with_shape(items: PVec, shape: Shape) -> Seq {
        let bytes = seq_cost(items.len());
        charge(bytes);
        Seq(Rc::new(SeqObj {
            items,
            depth: shape.depth,
            opaque: shape.opaque,
            weight: shape.weight,
            bytes,
        }))
    }

    /// Builds from a `Vec`.
    pub fn from_vec(items: Vec<Value>) -> Seq {
        let shape = Shape::of_items(items.iter());
        Seq::with_shape(items.into_iter().collect(), shape)
    }

    /// An empty sequence.
    pub fn empty() -> Seq {
        Seq::with_shape(PVec::new(), Shape::EMPTY)
    }

    /// The items.
    pub fn items(&self) -> &PVec {
        &self.0.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.0.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.0.items.is_empty()
    }

    /// The item at `i`.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.0.items.get(i)
    }

    /// Nesting depth (1 for a flat collection).
    pub fn depth(&self) -> u32 {
        self.0.depth
    }

    /// Whether two handles share one allocation.
    pub fn ptr_eq(a: &Seq, b: &Seq) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }

    /// The expanded size (see [`Value::weight`]).
    pub fn weight(&self) -> u64 {
        self.0.weight
    }

    /// The allocation's address: an identity for walks that keep sharing.
    pub(crate) fn addr(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }

    /// Calls `f` on each item (with its index) in order, stopping at the first error. Walks
    /// use it: a short sequence is indexed, since an imbl iterator costs more to set up than
    /// visiting a few small items.
    #[inline]
    pub(crate) fn try_each<E>(
        &self,
        mut f: impl FnMut(usize, &Value) -> Result<(), E>,
    ) -> Result<(), E> {
        let items = &self.0.items;
        if items.len() <= SHORT {
            for i in 0..items.len() {
                f(i, &items[i])?;
            }
            return Ok(());
        }
        each_long(items, f)
    }

    /// A copy with `v` appended (in place when this handle is the only one).
    pub fn push_back(mut self, v: Value) -> Seq {
        let obj = Rc::make_mut(&mut self.0);
        obj.add(&v);
        obj.items.push_back(v);
        let new_bytes = seq_cost(obj.items.len());
        charge(new_bytes - obj.bytes);
        obj.bytes = new_bytes;
        self
    }

    /// A copy with `v` prepended.
    pub fn push_front(mut self, v: Value) -> Seq {
        let obj = Rc::make_mut(&mut self.0);
        obj.add(&v);
        obj.items.push_front(v);
        let new_bytes = seq_cost(obj.items.len());
        charge(new_bytes - obj.bytes);
        obj.bytes = new_bytes;
        self
    }

    /// A copy with item `i` replaced (`i < len`).
    pub fn set(mut self, i: usize, v: Value) -> Seq {
        let obj = Rc::make_mut(&mut self.0);
        let mut shape = obj.shape();
        shape.add(&v);
        let old = obj.items.set(i, v);
        shape.remove(&old);
        obj.set_shape(shape);
        if obj.weight == u64::MAX {
            obj.weight = Shape::of_items(obj.items.iter()).weight;
        }
        self
    }
}

impl SeqObj {
    fn shape(&self) -> Shape {
        Shape {
            depth: self.depth,
            weight: self.weight,
            opaque: self.opaque,
        }
    }

    fn set_shape(&mut self, shape: Shape) {
        self.depth = shape.depth;
        self.weight = shape.weight;
        self.opaque = shape.opaque;
    }

    #[inline]
    fn add(&mut self, v: &Value) {
        let mut shape = self.shape();
        shape.add(v);
        self.set_shape(shape);
    }
}

impl Clone for StrObj {
    fn clone(&self) -> StrObj {
        charge(str_cost(self.text.len()));
        StrObj {
            text: self.text.clone(),
        }
    }
}

/// A map's entries, in canonical key order.
#[derive(Clone)]
pub struct Map(Rc<MapObj>);

struct MapObj {
    entries: PMap,
    depth: u32,
    /// Values that are not data (keys always are).
    opaque: u32,
    /// The expanded size (see [`Value::weight`]).
    weight: u64,
    /// The largest expanded size of a key ever inserted (it does not shrink on removal): what
    /// comparing another key with one of them can cost at most.
    key_weight: u64,
    bytes: usize,
}

impl Clone for MapObj {
    fn clone(&self) -> MapObj {
        charge(self.bytes);
        MapObj {
            entries: self.entries.clone(),
            depth: self.depth,
            opaque: self.opaque,
            weight: self.weight,
            key_weight: self.key_weight,
            bytes: self.bytes,
        }
    }
}

impl Drop for MapObj {
    fn drop(&mut self) {
        release(self.bytes);
    }
}

// `Rc::make_mut` clones a shared sequence; the copy is accounted like any other.
impl Clone for SeqObj {
    fn clone(&self) -> SeqObj {
        charge(self.bytes);
        SeqObj {
            items: self.items.clone(),
            depth: self.depth,
            opaque: self.opaque,
            weight: self.weight,
            bytes: self.bytes,
        }
    }
}

impl Map {
    /// Wraps persistent entries, computing depth, expanded size and accounting.
    pub fn new(entries: PMap) -> Map {
        let (shape, key_weight) = Shape::of_entries(&entries);
        Map::with_shape(entries, shape, key_weight)
    }

    pub(crate) fn with_shape(entries: PMap, shape: Shape, key_weight: u64) -> Map {
        let bytes = map_cost(entries.len());
        charge(bytes);
        Map(Rc::new(MapObj {
            entries,
            depth: shape.depth,
            opaque: shape.opaque,
            weight: shape.weight,
            key_weight,
            bytes,
        }))
    }

    /// An empty map.
    pub fn empty() -> Map {
        Map::with_shape(PMap::new(), Shape::EMPTY, 0)
    }

    /// The expanded size (see [`Value::weight`]).
    pub fn weight(&self) -> u64 {
        self.0.weight
    }

    /// At least the expanded size of every key: comparing a key with one of them visits at
    /// most the smaller of the two expansions.
    pub fn key_weight(&self) -> u64 {
        self.0.key_weight
    }

    /// The allocation's address: an identity for walks that keep sharing.
    pub(crate) fn addr(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }

    /// The entries.
    pub fn entries(&self) -> &PMap {
        &self.0.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.0.entries.get(key)
    }

    /// Nesting depth.
    pub fn depth(&self) -> u32 {
        self.0.depth
    }

    /// A copy with `key` bound to `value`. The key must be data (the caller checks).
    pub fn insert(mut self, key: Value, value: Value) -> Map {
        let obj = Rc::make_mut(&mut self.0);
        let mut shape = obj.shape();
        shape.add(&value);
        // An equal key already present keeps its own form (`[1]` stays `[1]` when `'(1)` is
        // assoc'ed), as in Clojure.
        match obj.entries.get_mut(&key) {
            Some(slot) => {
                let old = std::mem::replace(slot, value);
                shape.remove(&old);
            }
            None => {
                shape.add(&key);
                obj.key_weight = obj.key_weight.max(key.weight());
                obj.entries.insert(key, value);
            }
        }
        obj.set_shape(shape);
        obj.resaturate();
        let new_bytes = map_cost(obj.entries.len());
        if new_bytes >= obj.bytes {
            charge(new_bytes - obj.bytes);
        } else {
            release(obj.bytes - new_bytes);
        }
        obj.bytes = new_bytes;
        self
    }

    /// A copy without `key`.
    pub fn remove(mut self, key: &Value) -> Map {
        if !self.0.entries.contains_key(key) {
            return self;
        }
        let obj = Rc::make_mut(&mut self.0);
        if let Some((k, v)) = obj.entries.remove_with_key(key) {
            let mut shape = obj.shape();
            shape.remove(&k);
            shape.remove(&v);
            obj.set_shape(shape);
            obj.resaturate();
        }
        let new_bytes = map_cost(obj.entries.len());
        release(obj.bytes - new_bytes);
        obj.bytes = new_bytes;
        self
    }
}

impl MapObj {
    fn shape(&self) -> Shape {
        Shape {
            depth: self.depth,
            weight: self.weight,
            opaque: self.opaque,
        }
    }

    fn set_shape(&mut self, shape: Shape) {
        self.depth = shape.depth;
        self.weight = shape.weight;
        self.opaque = shape.opaque;
    }

    /// A saturated weight cannot be decremented: recompute it after a change.
    fn resaturate(&mut self) {
        if self.weight == u64::MAX {
            self.weight = Shape::of_entries(&self.entries).0.weight;
        }
    }
}

/// A compiled regular expression with its pattern text.
#[derive(Debug)]
pub struct RegexValue {
    /// The pattern as written.
    pub pattern: Box<str>,
    /// The compiled matcher.
    pub regex: regex::Regex,
}

impl RegexValue {
    /// Compiles a pattern; the error is the regex crate's message.
    pub fn compile(pattern: &str) -> Result<RegexValue, String> {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 22)
            .nest_limit(128)
            .build()
            .map(|regex| RegexValue {
                pattern: pattern.into(),
                regex,
            })
            .map_err(|e| e.to_string())
    }
}

/// A function value: a builtin, a closure or a combinator.
#[derive(Clone)]
pub struct Func(pub(crate) Rc<Function>);

impl Func {
    /// The function's name, when it has one (builtins, `defn`, named `fn`).
    pub fn name(&self) -> Option<&str> {
        self.0.name()
    }
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Str::new(s))
    }

    /// A keyword value from its text without `:`.
    pub fn keyword(s: &str) -> Value {
        Value::Keyword(Name::new(s))
    }

    /// A symbol value.
    pub fn symbol(s: &str) -> Value {
        Value::Symbol(Name::new(s))
    }

    /// A vector value.
    pub fn vector(items: Vec<Value>) -> Value {
        Value::Vector(Seq::from_vec(items))
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Seq::from_vec(items))
    }

    /// A map value; later duplicates win. Keys must be data.
    pub fn map(entries: Vec<(Value, Value)>) -> Value {
        let mut m = PMap::new();
        for (k, v) in entries {
            m.insert(k, v);
        }
        Value::Map(Map::new(m))
    }

    /// The kind's name (`type-name`, §2.1).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Keyword(_) => "keyword",
            Value::Symbol(_) => "symbol",
            Value::List(_) => "list",
            Value::Vector(_) => "vector",
            Value::Map(_) => "map",
            Value::Fn(_) => "function",
            Value::Error(_) => "error",
            Value::Regex(_) => "regex",
        }
    }

    /// Only `nil` and `false` are falsy.
    #[inline]
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// Collection nesting depth (0 for scalars).
    #[inline]
    pub fn depth(&self) -> u32 {
        match self {
            Value::List(s) | Value::Vector(s) => s.depth(),
            Value::Map(m) => m.depth(),
            // Errors nest through their data: counted so that comparing and printing stay
            // bounded.
            Value::Error(e) => 1 + e.data.depth(),
            _ => 0,
        }
    }

    /// Whether this is a data value (§2.1): no functions, errors or regexes anywhere inside.
    /// Constant time: collections count their items that are not data.
    #[inline]
    pub fn is_data(&self) -> bool {
        match self {
            Value::Fn(_) | Value::Error(_) | Value::Regex(_) => false,
            Value::List(s) | Value::Vector(s) => s.0.opaque == 0,
            Value::Map(m) => m.0.opaque == 0,
            _ => true,
        }
    }

    /// The expanded size: 1 per node, counting a shared part every time it occurs, plus the
    /// bytes of strings, keywords and symbols beyond the first (saturating at `u64::MAX`).
    /// Constant time: collections record it when built. It bounds from below the size of
    /// every printed, JSON or encoded form of the value, and from above the nodes and bytes
    /// a comparison with it can visit — so a walk that would not fit a budget is refused
    /// before it starts.
    #[inline]
    pub fn weight(&self) -> u64 {
        match self {
            Value::Str(s) => s.len().max(1) as u64,
            Value::Keyword(n) | Value::Symbol(n) => n.len().max(1) as u64,
            Value::List(s) | Value::Vector(s) => s.0.weight,
            Value::Map(m) => m.0.weight,
            _ => 1,
        }
    }

    /// Whether this value itself is a function, error or regex (a shallow non-data check, used
    /// for map keys, which are checked on insertion).
    pub fn is_scalar_non_data(&self) -> bool {
        matches!(self, Value::Fn(_) | Value::Error(_) | Value::Regex(_))
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is a list or vector.
    pub fn as_seq(&self) -> Option<&Seq> {
        match self {
            Value::List(s) | Value::Vector(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up a keyword-keyed field of a map (convenience for hosts).
    pub fn get_key(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(&Value::keyword(key)),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Str::new(s))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::print::print(self))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::print::print(self))
    }
}
