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
//! depth limit bounds.

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
    bytes: usize,
}

impl Drop for SeqObj {
    fn drop(&mut self) {
        release(self.bytes);
    }
}

impl Seq {
    /// Wraps persistent items, computing depth and accounting.
    pub fn new(items: PVec) -> Seq {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        Seq::with_depth(items, depth)
    }

    pub(crate) fn with_depth(items: PVec, depth: u32) -> Seq {
        let bytes = seq_cost(items.len());
        charge(bytes);
        Seq(Rc::new(SeqObj {
            items,
            depth,
            bytes,
        }))
    }

    /// Builds from a `Vec`.
    pub fn from_vec(items: Vec<Value>) -> Seq {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        Seq::with_depth(items.into_iter().collect(), depth)
    }

    /// An empty sequence.
    pub fn empty() -> Seq {
        Seq::with_depth(PVec::new(), 1)
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

    /// A copy with `v` appended (in place when this handle is the only one).
    pub fn push_back(mut self, v: Value) -> Seq {
        let child = v.depth();
        let obj = Rc::make_mut(&mut self.0);
        obj.items.push_back(v);
        obj.depth = obj.depth.max(child + 1);
        let new_bytes = seq_cost(obj.items.len());
        charge(new_bytes - obj.bytes);
        obj.bytes = new_bytes;
        self
    }

    /// A copy with `v` prepended.
    pub fn push_front(mut self, v: Value) -> Seq {
        let child = v.depth();
        let obj = Rc::make_mut(&mut self.0);
        obj.items.push_front(v);
        obj.depth = obj.depth.max(child + 1);
        let new_bytes = seq_cost(obj.items.len());
        charge(new_bytes - obj.bytes);
        obj.bytes = new_bytes;
        self
    }

    /// A copy with item `i` replaced (`i < len`).
    pub fn set(mut self, i: usize, v: Value) -> Seq {
        let child = v.depth();
        let obj = Rc::make_mut(&mut self.0);
        obj.items.set(i, v);
        obj.depth = obj.depth.max(child + 1);
        self
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
    bytes: usize,
}

impl Clone for MapObj {
    fn clone(&self) -> MapObj {
        charge(self.bytes);
        MapObj {
            entries: self.entries.clone(),
            depth: self.depth,
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
            bytes: self.bytes,
        }
    }
}

impl Map {
    /// Wraps persistent entries, computing depth and accounting.
    pub fn new(entries: PMap) -> Map {
        let depth = 1 + entries
            .iter()
            .map(|(k, v)| k.depth().max(v.depth()))
            .max()
            .unwrap_or(0);
        Map::with_depth(entries, depth)
    }

    pub(crate) fn with_depth(entries: PMap, depth: u32) -> Map {
        let bytes = map_cost(entries.len());
        charge(bytes);
        Map(Rc::new(MapObj {
            entries,
            depth,
            bytes,
        }))
    }

    /// An empty map.
    pub fn empty() -> Map {
        Map::with_depth(PMap::new(), 1)
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
        let child = key.depth().max(value.depth());
        let obj = Rc::make_mut(&mut self.0);
        // An equal key already present keeps its own form (`[1]` stays `[1]` when `'(1)` is
        // assoc'ed), as in Clojure.
        match obj.entries.get_mut(&key) {
            Some(slot) => *slot = value,
            None => {
                obj.entries.insert(key, value);
            }
        }
        obj.depth = obj.depth.max(child + 1);
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
        obj.entries.remove(key);
        let new_bytes = map_cost(obj.entries.len());
        release(obj.bytes - new_bytes);
        obj.bytes = new_bytes;
        self
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
    pub fn is_data(&self) -> bool {
        match self {
            Value::Fn(_) | Value::Error(_) | Value::Regex(_) => false,
            Value::List(s) | Value::Vector(s) => s.items().iter().all(Value::is_data),
            Value::Map(m) => m.entries().iter().all(|(k, v)| k.is_data() && v.is_data()),
            _ => true,
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
