//! Error values (§7) and the crate's error type.
//!
//! An RTFS error is a value with a keyword kind, a message and a data map. The same structure
//! is what Rust callers receive when reading, analysing or evaluating fails: [`Error`] wraps it
//! with the source location of the innermost form being evaluated, which hosts display and RTFS
//! code cannot read.

use std::fmt;
use std::rc::Rc;

use crate::value::{Name, Value};

/// Where in the source an error was raised (1-based line and column, byte range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file name, when the source came from a file.
    pub file: Option<Rc<str>>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in Unicode scalar values.
    pub column: u32,
    /// Byte offset of the form's start.
    pub offset: u32,
    /// Byte length of the form (at least 1 unless at end of input).
    pub len: u32,
}

/// The fields of an RTFS error value.
#[derive(Clone, Debug)]
pub struct ErrorValue {
    /// The kind, a keyword without `:` (e.g. `error/type`).
    pub kind: Name,
    /// Human-readable prose.
    pub message: Rc<str>,
    /// A map or nil.
    pub data: Value,
    /// Source location (not part of equality).
    pub location: Option<Location>,
}

impl Drop for ErrorValue {
    fn drop(&mut self) {
        crate::value::defer_drop(std::mem::replace(&mut self.data, Value::Nil));
    }
}

impl ErrorValue {
    /// Reads a field like a map does (`(:kind e)`, `(get e :message)`).
    pub fn field(&self, key: &Value) -> Option<Value> {
        let Value::Keyword(k) = key else { return None };
        match k.as_str() {
            "kind" => Some(Value::Keyword(self.kind.clone())),
            "message" => Some(Value::str(&self.message)),
            "data" => Some(self.data.clone()),
            _ => None,
        }
    }
}

/// The kinds of §7.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `:error/parse`
    Parse,
    /// `:error/undefined-symbol`
    UndefinedSymbol,
    /// `:error/arity`
    Arity,
    /// `:error/type`
    Type,
    /// `:error/arithmetic`
    Arithmetic,
    /// `:error/division-by-zero`
    DivisionByZero,
    /// `:error/index`
    Index,
    /// `:error/argument`
    Argument,
    /// `:error/match`
    Match,
    /// `:error/schema`
    Schema,
    /// `:error/assertion`
    Assertion,
    /// `:error/json`
    Json,
    /// `:error/capability`
    Capability,
    /// `:error/user`
    User,
    /// `:error/limit`
    Limit,
}

impl Kind {
    /// The keyword text, without `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Parse => "error/parse",
            Kind::UndefinedSymbol => "error/undefined-symbol",
            Kind::Arity => "error/arity",
            Kind::Type => "error/type",
            Kind::Arithmetic => "error/arithmetic",
            Kind::DivisionByZero => "error/division-by-zero",
            Kind::Index => "error/index",
            Kind::Argument => "error/argument",
            Kind::Match => "error/match",
            Kind::Schema => "error/schema",
            Kind::Assertion => "error/assertion",
            Kind::Json => "error/json",
            Kind::Capability => "error/capability",
            Kind::User => "error/user",
            Kind::Limit => "error/limit",
        }
    }
}

/// Which limit of §8.5 was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// Evaluation steps.
    Steps,
    /// Nested applications.
    Depth,
    /// Live bytes.
    Memory,
    /// Collection nesting.
    ValueDepth,
    /// Wall clock (host-enforced).
    Time,
}

impl LimitKind {
    /// The `:limit` keyword text.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Steps => "steps",
            LimitKind::Depth => "depth",
            LimitKind::Memory => "memory",
            LimitKind::ValueDepth => "value-depth",
            LimitKind::Time => "time",
        }
    }
}

/// An RTFS error as a Rust error: what reading, analysis and evaluation return.
#[derive(Clone)]
pub struct Error(pub Rc<ErrorValue>);

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of a built-in kind with a data map.
    pub fn new(kind: Kind, message: impl Into<String>, data: Vec<(&str, Value)>) -> Error {
        Error::custom(Name::new(kind.as_str()), message, data_map(data))
    }

    /// A new error of any kind.
    pub fn custom(kind: Name, message: impl Into<String>, data: Value) -> Error {
        let message: String = message.into();
        Error(Rc::new(ErrorValue {
            kind,
            message: message.into(),
            data,
            location: None,
        }))
    }

    /// A parse error at a 1-based line and column.
    pub fn parse(message: impl Into<String>, location: Location) -> Error {
        let data = data_map(vec![
            ("line", Value::Int(location.line as i64)),
            ("column", Value::Int(location.column as i64)),
        ]);
        let message: String = message.into();
        Error(Rc::new(ErrorValue {
            kind: Name::new(Kind::Parse.as_str()),
            message: message.into(),
            data,
            location: Some(location),
        }))
    }

    /// `:error/type` for a builtin given the wrong kind of argument.
    pub fn type_error(fn_name: &str, expected: &str, actual: &Value) -> Error {
        Error::new(
            Kind::Type,
            format!("{fn_name}: expected {expected}, got {}", actual.type_name()),
            vec![
                ("fn", Value::str(fn_name)),
                ("expected", Value::str(expected)),
                ("actual", Value::str(actual.type_name())),
            ],
        )
    }

    /// `:error/arity`.
    pub fn arity(fn_name: &str, expected: &str, actual: usize) -> Error {
        Error::new(
            Kind::Arity,
            format!("{fn_name}: expected {expected} argument(s), got {actual}"),
            vec![
                ("fn", Value::str(fn_name)),
                ("expected", Value::str(expected)),
                ("actual", Value::Int(actual as i64)),
            ],
        )
    }

    /// An error naming only the function (`:error/arithmetic`, `:error/argument`, …).
    pub fn with_fn(kind: Kind, fn_name: &str, message: impl Into<String>) -> Error {
        Error::new(kind, message, vec![("fn", Value::str(fn_name))])
    }

    /// `:error/index`.
    pub fn index(index: i64, count: usize) -> Error {
        Error::new(
            Kind::Index,
            format!("index {index} out of bounds for count {count}"),
            vec![
                ("index", Value::Int(index)),
                ("count", Value::Int(count as i64)),
            ],
        )
    }

    /// `:error/limit`.
    pub fn limit(limit: LimitKind, max: u64) -> Error {
        Error::new(
            Kind::Limit,
            format!("{} limit of {max} exceeded", limit.as_str()),
            vec![
                ("limit", Value::keyword(limit.as_str())),
                ("max", Value::Int(max.min(i64::MAX as u64) as i64)),
            ],
        )
    }

    /// The kind's keyword text (e.g. `error/type`).
    pub fn kind(&self) -> &str {
        self.0.kind.as_str()
    }

    /// Whether this is of the built-in kind `k`.
    pub fn is(&self, k: Kind) -> bool {
        self.0.kind.as_str() == k.as_str()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The data map (or nil).
    pub fn data(&self) -> &Value {
        &self.0.data
    }

    /// The source location, when known.
    pub fn location(&self) -> Option<&Location> {
        self.0.location.as_ref()
    }

    /// The error as an RTFS value.
    pub fn to_value(&self) -> Value {
        Value::Error(self.0.clone())
    }

    /// Attaches a location unless one is already recorded.
    pub fn at(self, location: impl FnOnce() -> Option<Location>) -> Error {
        if self.0.location.is_some() {
            return self;
        }
        let Some(loc) = location() else { return self };
        let mut inner = (*self.0).clone();
        inner.location = Some(loc);
        Error(Rc::new(inner))
    }
}

/// Builds a keyword-keyed data map.
pub fn data_map(entries: Vec<(&str, Value)>) -> Value {
    Value::map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::keyword(k), v))
            .collect(),
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[:{}]: {}", self.0.kind.as_str(), self.0.message)?;
        if let Some(loc) = &self.0.location {
            match &loc.file {
                Some(file) => write!(f, " at {file}:{}:{}", loc.line, loc.column)?,
                None => write!(f, " at {}:{}", loc.line, loc.column)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}
