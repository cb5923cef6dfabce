//! Paying for walks over values.
//!
//! Values share structure, so what a value holds says nothing about what walking it costs:
//! 41 vectors `[v v]` nested 40 deep expand to 2^40 leaves. Every walk — printing, equality,
//! the canonical order, schema validation, JSON, the encoding — therefore reports its work
//! to a [`Meter`] as it goes: one unit per node it visits and per byte it reads or writes,
//! and the size of its output before that output grows. Inside an evaluation the meter is
//! the builtin's [`Ctx`](crate::vm::Ctx): units are steps (and crossing a multiple of
//! 65 536 polls the host, as the machine does), output is checked against the memory limit,
//! and running out is the evaluation's `:error/limit`. The host's own walks, with no
//! evaluation running, use a [`Bound`].

use crate::error::{Error, LimitKind, Result};

/// What the host's own walks may visit or write, outside an evaluation: 64 MiB, the
/// decoder's default input limit (`encoding::DecodeLimits`), so that whatever is encoded can
/// be decoded again.
pub const HOST_MAX: u64 = 64 << 20;

/// Where a walk reports its work.
pub trait Meter {
    /// True when nothing is counted (the canonical order as `Ord`): walks may then take
    /// their fastest path.
    const FREE: bool = false;

    /// Accounts `n` units of work: nodes visited, bytes read or written.
    fn charge(&mut self, n: u64) -> Result<()>;

    /// Checks that an output grown to `bytes` bytes may be held, before growing it.
    fn hold(&mut self, bytes: u64) -> Result<()>;

    /// Fails now when a walk that will do at least `work` units and write at least
    /// `output` bytes cannot finish (see [`Value::weight`](crate::Value::weight)), so that a
    /// value too large to walk is refused before the walk starts. Charges nothing.
    fn afford(&mut self, work: u64, output: u64) -> Result<()>;
}

/// A meter for the host's own walks: at most `work` units and `output` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    work: u64,
    used: u64,
    output: u64,
}

impl Bound {
    /// At most `work` units of work and an output of `output` bytes.
    pub fn new(work: u64, output: u64) -> Bound {
        Bound {
            work,
            used: 0,
            output,
        }
    }
}

impl Default for Bound {
    /// [`HOST_MAX`] of each.
    fn default() -> Bound {
        Bound::new(HOST_MAX, HOST_MAX)
    }
}

impl Meter for Bound {
    fn charge(&mut self, n: u64) -> Result<()> {
        self.used = self.used.saturating_add(n);
        if self.used > self.work {
            return Err(Error::limit(LimitKind::Steps, self.work));
        }
        Ok(())
    }

    fn hold(&mut self, bytes: u64) -> Result<()> {
        if bytes > self.output {
            return Err(Error::limit(LimitKind::Memory, self.output));
        }
        Ok(())
    }

    fn afford(&mut self, work: u64, output: u64) -> Result<()> {
        if self.used.saturating_add(work) > self.work {
            return Err(Error::limit(LimitKind::Steps, self.work));
        }
        self.hold(output)
    }
}

/// Counts nothing: the canonical order behind `Ord` (map keys), whose callers bound the cost
/// of each comparison beforehand (see `order::charge_key`).
pub(crate) struct Free;

impl Meter for Free {
    const FREE: bool = true;

    #[inline(always)]
    fn charge(&mut self, _: u64) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    fn hold(&mut self, _: u64) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    fn afford(&mut self, _: u64, _: u64) -> Result<()> {
        Ok(())
    }
}

/// How far text output grows between two settlements with its meter.
const CHUNK: usize = 4096;

/// Text output that pays as it grows: one unit per byte written, settled with the meter
/// (steps charged, memory checked) every [`CHUNK`] bytes and before any larger write.
pub(crate) struct TextOut<'m, M: Meter> {
    pub(crate) text: String,
    meter: &'m mut M,
    settled: usize,
    next: usize,
}

impl<'m, M: Meter> TextOut<'m, M> {
    /// Empty output paying `meter`.
    pub(crate) fn new(meter: &'m mut M) -> TextOut<'m, M> {
        TextOut {
            text: String::new(),
            meter,
            settled: 0,
            next: CHUNK,
        }
    }

    /// Appends text.
    #[inline]
    pub(crate) fn push_str(&mut self, s: &str) -> Result<()> {
        let end = self.text.len() + s.len();
        if end >= self.next {
            self.settle(end)?;
        }
        self.text.push_str(s);
        Ok(())
    }

    /// Appends a character.
    #[inline]
    pub(crate) fn push(&mut self, c: char) -> Result<()> {
        if c.is_ascii() && self.text.len() < self.next {
            self.text.push(c);
            return Ok(());
        }
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }

    /// Appends formatted text (numbers).
    pub(crate) fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> Result<()> {
        use std::fmt::Write;
        let _ = self.text.write_fmt(args);
        let end = self.text.len();
        if end >= self.next {
            self.settle(end)?;
        }
        Ok(())
    }

    /// The meter, for work that writes nothing.
    pub(crate) fn meter(&mut self) -> &mut M {
        self.meter
    }

    fn settle(&mut self, end: usize) -> Result<()> {
        self.meter.charge((end - self.settled) as u64)?;
        self.meter.hold(end as u64)?;
        self.settled = end;
        self.next = end + CHUNK;
        Ok(())
    }

    /// The text, once everything written is paid for.
    pub(crate) fn finish(mut self) -> Result<String> {
        let end = self.text.len();
        self.settle(end)?;
        Ok(self.text)
    }
}
