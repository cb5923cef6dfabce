//! `rtfs-engine` — RTFS inside the sandbox: `{:program "<RTFS source>" :input v}` evaluates
//! the program, takes the last `(capability …)` descriptor it produced and applies its
//! `:implementation` to `v` under RTFS's limits (`:steps`, `:depth`, `:memory` may lower
//! them). The program's `call`s go out through `kiln.call`; with one argument it is passed as
//! is, with none as nil, with several as a vector.

use kiln_guest::{Error, Value};
use rtfs::host::{CallFailure, CallRequest, Host, Reason};
use rtfs::{Interpreter, Limits};

struct GuestHost {
    descriptors: Vec<Value>,
}

impl Host for GuestHost {
    fn call(&mut self, req: &CallRequest<'_>, _: &mut u64) -> Result<Value, CallFailure> {
        let arg = match req.args {
            [] => Value::Nil,
            [one] => one.clone(),
            many => Value::vector(many.to_vec()),
        };
        kiln_guest::call(req.id, &arg).map_err(|e| {
            // The host's reason (denied, pending-approval, quota, unknown …) reaches the
            // program as it would a plan on the host.
            let reason = match e.data.get_key("reason") {
                Some(Value::Keyword(k)) => reason_of(k.as_str()),
                _ => Reason::Failed,
            };
            let mut f = CallFailure::new(reason, e.message.clone());
            f.cause = Some(rtfs::Error::custom(
                rtfs::value::Name::new(&e.kind),
                e.message,
                e.data,
            ));
            f
        })
    }

    fn capability(&mut self, d: &Value) {
        self.descriptors.push(d.clone());
    }
}

fn reason_of(k: &str) -> Reason {
    [
        Reason::Unavailable,
        Reason::Unknown,
        Reason::Denied,
        Reason::PendingApproval,
        Reason::Quota,
        Reason::InvalidInput,
        Reason::InvalidOutput,
        Reason::Failed,
        Reason::Limit,
    ]
    .into_iter()
    .find(|r| r.as_str() == k)
    .unwrap_or(Reason::Failed)
}

fn to_error(e: rtfs::Error) -> Error {
    Error::new(e.kind(), e.message()).with_data(e.data().clone())
}

fn limit(input: &Value, key: &str, default: u64) -> u64 {
    match input.get_key(key) {
        Some(Value::Int(n)) if *n > 0 => (*n as u64).min(default),
        _ => default,
    }
}

/// The capability.
pub fn run(input: Value) -> Result<Value, Error> {
    let src = input
        .get_key("program")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::new(
                "error/argument",
                "rtfs-engine expects {:program string :input v}",
            )
        })?;
    let arg = input.get_key("input").cloned().unwrap_or(Value::Nil);
    let d = Limits::default();
    let limits = Limits {
        steps: limit(&input, "steps", d.steps),
        depth: limit(&input, "depth", d.depth as u64) as usize,
        memory: limit(&input, "memory", d.memory),
        value_depth: d.value_depth,
    };
    let mut it = Interpreter::new(limits);
    let program = it.compile(src, Some("capability.rtfs")).map_err(to_error)?;
    let mut host = GuestHost {
        descriptors: Vec::new(),
    };
    it.run(&program, &mut host).map_err(to_error)?;
    let Some(desc) = host.descriptors.pop() else {
        return Err(Error::new(
            "error/argument",
            "the program defines no (capability …)",
        ));
    };
    let imp = desc
        .get_key("implementation")
        .filter(|v| matches!(v, Value::Fn(_)))
        .cloned()
        .ok_or_else(|| Error::new("error/argument", "the capability has no :implementation"))?;
    let out = it.apply(&imp, &[arg], &mut host).map_err(to_error)?;
    if !out.is_data() {
        return Err(Error::new(
            "error/type",
            "the implementation returned a non-data value",
        ));
    }
    Ok(out)
}

kiln_guest::export!(run);
