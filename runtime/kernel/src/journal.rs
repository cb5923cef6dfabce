//! A run's journal: the chain entries waiting for the next group commit (allowed pure calls,
//! refusals before any decision, outcomes), and the input and output objects they name.
//! Entries cross the sandbox's threads, so subjects are kept encoded (or, for the common
//! allowed pure call, as the two strings they hold). The journal holds data only: the gate
//! commits it, and only the gate can open one (a journal is the proof that its run's start,
//! or the decision it records for, is on the chain).

use std::collections::HashSet;
use std::sync::Mutex;

use kiln_store::{Cost, Hash, Record};
use rtfs::Value;

/// A buffered entry's subject, in a form that may cross threads.
enum Subject {
    /// An allowed pure call: `{:capability ID :verdict :allow :rule RULE}` — its decision and
    /// its outcome in one entry.
    Call { id: String, rule: Option<String> },
    /// Anything else, encoded.
    Encoded(Vec<u8>),
}

impl Subject {
    fn value(self) -> Result<Value, String> {
        match self {
            Subject::Call { id, rule } => Ok(Value::map(vec![
                (kw("capability"), Value::str(&id)),
                (kw("verdict"), kw("allow")),
                (kw("rule"), rule.as_deref().map_or(Value::Nil, Value::str)),
            ])),
            Subject::Encoded(bytes) => rtfs::encoding::decode(&bytes, Default::default())
                .map_err(|e| format!("a buffered chain entry does not decode: {e}")),
        }
    }
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

/// The parts of a buffered entry besides its kind and subject.
#[derive(Default)]
pub struct Parts {
    /// The input object.
    pub input: Option<Hash>,
    /// The output object.
    pub output: Option<Hash>,
    /// The outcome (`ok`, `error`, `denied`, …).
    pub outcome: &'static str,
    /// What it cost.
    pub cost: Cost,
    /// Input and output objects, written (if new) just before the group commit.
    pub objects: Vec<(Hash, Vec<u8>)>,
}

struct Pending {
    kind: &'static str,
    subject: Subject,
    parts: Parts,
}

/// The buffered entries of one run (or of one human `kiln call`).
pub struct Journal {
    /// The run the entries belong to (`None`: outside any plan).
    plan: Option<u64>,
    buffer: Mutex<Vec<Pending>>,
    /// Objects already written during this run.
    written: Mutex<HashSet<Hash>>,
}

/// What a commit takes out of a journal: the records, in order, and the objects to write
/// (each distinct one once per run) before them.
pub struct Batch {
    /// The records.
    pub records: Vec<Record>,
    /// The objects not yet written in this run.
    pub objects: Vec<(Hash, Vec<u8>)>,
}

impl Journal {
    pub(crate) fn new(plan: Option<u64>) -> Journal {
        Journal {
            plan,
            buffer: Mutex::new(Vec::new()),
            written: Mutex::new(HashSet::new()),
        }
    }

    /// The run the journal belongs to.
    pub fn plan(&self) -> Option<u64> {
        self.plan
    }

    /// Buffers an entry whose subject is `subject`.
    pub fn push(&self, kind: &'static str, subject: &Value, parts: Parts) -> Result<(), String> {
        let bytes = rtfs::encoding::encode(subject)
            .map_err(|e| format!("a chain entry's subject cannot be encoded: {e}"))?;
        self.push_subject(kind, Subject::Encoded(bytes), parts);
        Ok(())
    }

    /// Buffers the one entry of an allowed pure call (its decision and outcome).
    pub fn push_pure_call(&self, id: &str, rule: Option<String>, parts: Parts) {
        self.push_subject(
            "call",
            Subject::Call {
                id: id.to_string(),
                rule,
            },
            parts,
        );
    }

    fn push_subject(&self, kind: &'static str, subject: Subject, parts: Parts) {
        if let Ok(mut b) = self.buffer.lock() {
            b.push(Pending {
                kind,
                subject,
                parts,
            });
        }
    }

    /// Takes everything buffered, then `more`, as one batch.
    pub(crate) fn take(&self, more: Vec<Record>) -> Result<Batch, String> {
        let pending: Vec<Pending> = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return Err("the chain buffer is poisoned".into()),
        };
        let mut written = self
            .written
            .lock()
            .map_err(|_| "the object set is poisoned".to_string())?;
        let mut objects = Vec::new();
        let mut records = Vec::with_capacity(pending.len() + more.len());
        for p in pending {
            for (h, bytes) in p.parts.objects {
                if written.insert(h) {
                    objects.push((h, bytes));
                }
            }
            records.push(Record {
                kind: p.kind.into(),
                subject: p.subject.value()?,
                input: p.parts.input,
                output: p.parts.output,
                outcome: p.parts.outcome.into(),
                cost: p.parts.cost,
            });
        }
        records.extend(more);
        Ok(Batch { records, objects })
    }
}
