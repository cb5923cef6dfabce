//! The host boundary: what an evaluation asks of its embedder ([`Host`]) and what passes
//! across — a capability `call` ([`CallRequest`], answered by a value or a [`CallFailure`] with
//! its [`Reason`]), step reports ([`StepStarted`]), resources, polling and capability
//! descriptors. [`NoHost`] is the pure environment; [`DescriptorHost`] collects descriptors;
//! [`TimeLimit`] adds a wall-clock limit to any host.
//!
//! ```
//! use rtfs::host::{CallFailure, CallRequest, Host, Reason};
//! use rtfs::{Interpreter, Value};
//!
//! /// Answers every `call` with its first argument.
//! struct Echo;
//!
//! impl Host for Echo {
//!     fn call(&mut self, req: &CallRequest<'_>, _: &mut u64) -> Result<Value, CallFailure> {
//!         req.args.first().cloned()
//!             .ok_or_else(|| CallFailure::new(Reason::InvalidInput, "echo takes one argument"))
//!     }
//! }
//!
//! let program = Interpreter::default().compile("(call :echo 42)", None).unwrap();
//! let v = Interpreter::default().run(&program, &mut Echo).unwrap();
//! assert_eq!(v, Value::Int(42));
//! ```

use crate::error::{Error, Result};
use crate::value::Value;

/// Why the host refused or failed a `call` (§8.2 reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No host.
    Unavailable,
    /// No such capability.
    Unknown,
    /// Governance, effects or grants said no.
    Denied,
    /// Waiting for a human.
    PendingApproval,
    /// A quota ran out.
    Quota,
    /// The input did not satisfy the input schema.
    InvalidInput,
    /// The output did not satisfy the output schema.
    InvalidOutput,
    /// The capability itself failed.
    Failed,
    /// The callee's own budget ran out.
    Limit,
}

impl Reason {
    /// The `:reason` keyword text.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unavailable => "unavailable",
            Reason::Unknown => "unknown",
            Reason::Denied => "denied",
            Reason::PendingApproval => "pending-approval",
            Reason::Quota => "quota",
            Reason::InvalidInput => "invalid-input",
            Reason::InvalidOutput => "invalid-output",
            Reason::Failed => "failed",
            Reason::Limit => "limit",
        }
    }
}

/// A failed `call`, as the host reports it.
#[derive(Clone, Debug)]
pub struct CallFailure {
    /// Why.
    pub reason: Reason,
    /// Prose for the error message.
    pub message: String,
    /// The capability's own error, when it came from the capability.
    pub cause: Option<Error>,
    /// Further data entries (e.g. `:approval`).
    pub extra: Vec<(&'static str, Value)>,
}

impl CallFailure {
    /// A failure with a reason and a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> CallFailure {
        CallFailure {
            reason,
            message: message.into(),
            cause: None,
            extra: Vec::new(),
        }
    }
}

/// What a `call` hands the host.
#[derive(Debug)]
pub struct CallRequest<'a> {
    /// The capability id (a keyword's text without `:`).
    pub id: &'a str,
    /// The arguments, all data values.
    pub args: &'a [Value],
    /// Steps left in this evaluation.
    pub steps_left: u64,
    /// The innermost open step or plan, if any.
    pub step: Option<u64>,
}

/// A step (or plan) that started.
#[derive(Debug)]
pub struct StepStarted<'a> {
    /// Fresh per evaluation: 1, 2, …
    pub id: u64,
    /// The innermost enclosing step or plan.
    pub parent: Option<u64>,
    /// The step's name.
    pub name: &'a str,
    /// The params map (nil when none), with non-data parts printed.
    pub params: &'a Value,
    /// Whether this is a `plan` form.
    pub plan: bool,
}

/// What an evaluation asks of its embedder: capabilities, step reports, resources, time.
pub trait Host {
    /// Runs a capability. `charge` receives the steps the host bills to this evaluation.
    fn call(&mut self, request: &CallRequest<'_>, charge: &mut u64) -> Result<Value, CallFailure>;
    /// A step or plan started.
    fn step_started(&mut self, _event: &StepStarted<'_>) {}
    /// A step completed with a value (non-data parts printed).
    fn step_completed(&mut self, _id: u64, _value: &Value) {}
    /// A step failed with an error.
    fn step_failed(&mut self, _id: u64, _error: &Error) {}
    /// The value of a named resource handle (`resource:ref`); None gives `"@name"`.
    fn resource(&mut self, _name: &str) -> Option<Value> {
        None
    }
    /// Polled every 65 536 steps (between instructions and inside builtins that walk large
    /// values) and before each `call`; an error (e.g. a `:time` limit) stops the evaluation.
    fn poll(&mut self) -> Result<()> {
        Ok(())
    }
    /// A `capability` form produced a descriptor.
    fn capability(&mut self, _descriptor: &Value) {}
}

/// The pure environment: every `call` is `:unavailable`, reports are dropped.
#[derive(Debug, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn call(&mut self, request: &CallRequest<'_>, _: &mut u64) -> Result<Value, CallFailure> {
        Err(CallFailure::new(
            Reason::Unavailable,
            format!("no host to run capability {}", request.id),
        ))
    }
}

/// A host with no capabilities that records the capability descriptors a program produces
/// (reading manifests, running capability programs on the host evaluator).
#[derive(Debug, Default)]
pub struct DescriptorHost {
    /// The descriptors, in the order the program evaluated them.
    pub descriptors: Vec<Value>,
}

impl Host for DescriptorHost {
    fn call(&mut self, request: &CallRequest<'_>, _: &mut u64) -> Result<Value, CallFailure> {
        Err(CallFailure::new(
            Reason::Unavailable,
            format!("no capabilities here: cannot call {}", request.id),
        ))
    }

    fn capability(&mut self, descriptor: &Value) {
        self.descriptors.push(descriptor.clone());
    }
}

/// A host with a wall-clock limit: its `poll` stops the evaluation with `:error/limit`
/// `{:limit :time :max ms}` once `expired` says the time is up. The clock is the embedder's
/// (this crate has none); polls come every 65 536 steps, inside long builtins too.
///
/// ```
/// use rtfs::host::{NoHost, TimeLimit};
/// use rtfs::Interpreter;
///
/// let mut it = Interpreter::default();
/// let program = it.compile("(loop [i 0] (recur (inc i)))", None).unwrap();
/// let mut host = TimeLimit::new(NoHost, 0, || true);
/// let e = it.run(&program, &mut host).unwrap_err();
/// assert_eq!(e.data().get_key("limit"), Some(&rtfs::Value::keyword("time")));
/// ```
pub struct TimeLimit<H, C> {
    /// The host within.
    pub host: H,
    ms: u64,
    expired: C,
}

impl<H: Host, C: FnMut() -> bool> TimeLimit<H, C> {
    /// `host`, stopped once `expired()` is true; `ms` is the limit reported in the error.
    pub fn new(host: H, ms: u64, expired: C) -> TimeLimit<H, C> {
        TimeLimit { host, ms, expired }
    }
}

impl<H: Host, C: FnMut() -> bool> Host for TimeLimit<H, C> {
    fn call(&mut self, request: &CallRequest<'_>, charge: &mut u64) -> Result<Value, CallFailure> {
        self.host.call(request, charge)
    }

    fn step_started(&mut self, event: &StepStarted<'_>) {
        self.host.step_started(event);
    }

    fn step_completed(&mut self, id: u64, value: &Value) {
        self.host.step_completed(id, value);
    }

    fn step_failed(&mut self, id: u64, error: &Error) {
        self.host.step_failed(id, error);
    }

    fn resource(&mut self, name: &str) -> Option<Value> {
        self.host.resource(name)
    }

    fn poll(&mut self) -> Result<()> {
        self.host.poll()?;
        if (self.expired)() {
            return Err(Error::limit(crate::error::LimitKind::Time, self.ms));
        }
        Ok(())
    }

    fn capability(&mut self, descriptor: &Value) {
        self.host.capability(descriptor);
    }
}
