//! The one encoding of data values: a deterministic CBOR profile (ARCHITECTURE.md §Content
//! addressing). It is the sandbox wire format and the bytes that are hashed, so every data
//! value has exactly one encoding and decoding accepts only that encoding.
//!
//! The profile (RFC 8949 §4.2.1 core deterministic encoding, restricted):
//!
//! | value | encoding |
//! |---|---|
//! | nil, false, true | simple values `0xf6`, `0xf4`, `0xf5` |
//! | Integer | major type 0 (n ≥ 0) or 1 (n < 0), shortest argument |
//! | Float | always `0xfb` + 8 bytes big-endian; every NaN as `0x7ff8000000000000` |
//! | String | major type 3 (UTF-8 text) |
//! | Keyword | tag 40000 + text (without `:`) |
//! | Symbol | tag 40001 + text |
//! | Vector | major type 4 (array) |
//! | List | tag 40002 + array |
//! | Map | major type 5, keys sorted by their encoded bytes (bytewise), no duplicates |
//!
//! Lengths are definite. Decoding rejects anything else — non-shortest arguments, other
//! float widths or NaN payloads, unsorted or duplicate keys, unknown tags, invalid UTF-8,
//! trailing bytes — and is bounded in depth and size, so hostile bytes get an error, never a
//! panic or an unbounded allocation.

use crate::meter::{Bound, Meter};
use crate::value::{Map, Name, PMap, PVec, Seq, Shape, Str, Value};

/// Tag of a keyword.
pub const TAG_KEYWORD: u64 = 40000;
/// Tag of a symbol.
pub const TAG_SYMBOL: u64 = 40001;
/// Tag of a list.
pub const TAG_LIST: u64 = 40002;

const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// The most [`encode`] and [`encode_into`] write: 64 MiB ([`crate::meter::HOST_MAX`]), the
/// decoder's default input limit, so that whatever is encoded can be decoded again. A value
/// with shared structure can expand far beyond what it holds; a larger encoding is refused
/// ([`EncodeError::TooLarge`]) before its bytes are built when its expanded size
/// ([`Value::weight`]) already exceeds the bound, and as soon as it does otherwise.
pub const ENCODE_MAX: usize = crate::meter::HOST_MAX as usize;

/// Why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Functions, errors and regexes are not data (§2.1).
    #[error("a {0} is not data and cannot be encoded")]
    NotData(&'static str),
    /// The encoding would exceed the bound.
    #[error("the value's encoding exceeds {max} bytes")]
    TooLarge {
        /// The bound.
        max: usize,
    },
}

/// Why bytes are not a valid encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input ended inside an item.
    #[error("input ends inside an item at byte {0}")]
    Truncated(usize),
    /// Bytes follow the single top-level item.
    #[error("{0} trailing byte(s) after the value")]
    Trailing(usize),
    /// Not part of the profile.
    #[error("byte {offset}: {what}")]
    Invalid {
        /// Where.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Nesting deeper than allowed.
    #[error("nesting deeper than {0}")]
    TooDeep(u32),
    /// Input longer than allowed.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input size.
        len: usize,
        /// Limit.
        max: usize,
    },
}

/// Bounds for decoding untrusted bytes.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Deepest collection nesting (the value-depth limit, 1 000 by default).
    pub max_depth: u32,
    /// Largest input accepted.
    pub max_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits {
            max_depth: 1000,
            max_bytes: 64 << 20,
        }
    }
}

/// Encodes a data value, in at most [`ENCODE_MAX`] bytes.
pub fn encode(v: &Value) -> Result<Vec<u8>, EncodeError> {
    encode_bounded(v, ENCODE_MAX)
}

/// Encodes a data value in at most `max` bytes.
pub fn encode_bounded(v: &Value, max: usize) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into_bounded(&mut out, v, max)?;
    Ok(out)
}

/// Appends the encoding of a data value to `out`, at most [`ENCODE_MAX`] bytes of it.
pub fn encode_into(out: &mut Vec<u8>, v: &Value) -> Result<(), EncodeError> {
    encode_into_bounded(out, v, ENCODE_MAX)
}

/// Appends the encoding of a data value to `out`, at most `max` bytes of it.
pub fn encode_into_bounded(out: &mut Vec<u8>, v: &Value, max: usize) -> Result<(), EncodeError> {
    let mut meter = Bound::new(u64::MAX, max as u64);
    let mut enc = Encoder {
        meter: &mut meter,
        written: 0,
    };
    enc.meter
        .afford(v.weight(), v.weight())
        .map_err(|_| Fail::Meter)
        .and_then(|()| enc.value(out, v))
        .map_err(|f| match f {
            Fail::NotData(what) => EncodeError::NotData(what),
            Fail::Meter => EncodeError::TooLarge { max },
        })
}

/// Why the encoder stopped.
enum Fail {
    NotData(&'static str),
    Meter,
}

impl From<crate::error::Error> for Fail {
    fn from(_: crate::error::Error) -> Fail {
        Fail::Meter
    }
}

/// The encoder: pays its meter one unit per byte written and checks the size so far before
/// writing a string.
struct Encoder<'m, M: Meter> {
    meter: &'m mut M,
    written: u64,
}

impl<M: Meter> Encoder<'_, M> {
    /// Accounts for `n` more bytes, before they are written.
    fn grow(&mut self, n: usize) -> Result<(), Fail> {
        self.written += n as u64;
        self.meter.charge(n as u64)?;
        self.meter.hold(self.written)?;
        Ok(())
    }

    fn head(&mut self, out: &mut Vec<u8>, major: u8, n: u64) -> Result<(), Fail> {
        self.grow(head_len(n))?;
        head(out, major, n);
        Ok(())
    }

    fn text(&mut self, out: &mut Vec<u8>, s: &str) -> Result<(), Fail> {
        self.head(out, 3, s.len() as u64)?;
        self.grow(s.len())?;
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn value(&mut self, out: &mut Vec<u8>, v: &Value) -> Result<(), Fail> {
        match v {
            Value::Nil => {
                self.grow(1)?;
                out.push(0xf6);
            }
            Value::Bool(b) => {
                self.grow(1)?;
                out.push(if *b { 0xf5 } else { 0xf4 });
            }
            Value::Int(i) => {
                if *i >= 0 {
                    self.head(out, 0, *i as u64)?;
                } else {
                    self.head(out, 1, (-1 - *i) as u64)?;
                }
            }
            Value::Float(f) => {
                self.grow(9)?;
                out.push(0xfb);
                let bits = if f.is_nan() {
                    CANONICAL_NAN
                } else {
                    f.to_bits()
                };
                out.extend_from_slice(&bits.to_be_bytes());
            }
            Value::Str(s) => self.text(out, s)?,
            Value::Keyword(k) => {
                self.head(out, 6, TAG_KEYWORD)?;
                self.text(out, k)?;
            }
            Value::Symbol(s) => {
                self.head(out, 6, TAG_SYMBOL)?;
                self.text(out, s)?;
            }
            Value::Vector(items) => self.array(out, items)?,
            Value::List(items) => {
                self.head(out, 6, TAG_LIST)?;
                self.array(out, items)?;
            }
            Value::Map(m) => self.map(out, m)?,
            Value::Fn(_) | Value::Error(_) | Value::Regex(_) => {
                return Err(Fail::NotData(v.type_name()));
            }
        }
        Ok(())
    }

    /// Keys are written in the order of their encoded bytes: each is encoded on its own
    /// first (and paid for then), then copied. Collections encode in their own (never
    /// inlined) functions, so that the frame `value` recurses through stays small: a guest's
    /// stack is 1 MiB and values nest 1 000 deep.
    #[inline(never)]
    fn map(&mut self, out: &mut Vec<u8>, m: &Map) -> Result<(), Fail> {
        let mut entries: Vec<(Vec<u8>, &Value)> = Vec::with_capacity(m.len());
        for (k, v) in m.entries().iter() {
            let mut key = Vec::new();
            self.value(&mut key, k)?;
            entries.push((key, v));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.head(out, 5, entries.len() as u64)?;
        for (k, v) in entries {
            out.extend_from_slice(&k);
            self.value(out, v)?;
        }
        Ok(())
    }

    #[inline(never)]
    fn array(&mut self, out: &mut Vec<u8>, items: &Seq) -> Result<(), Fail> {
        self.head(out, 4, items.len() as u64)?;
        for item in items.items().iter() {
            self.value(out, item)?;
        }
        Ok(())
    }
}

/// Writers for callers that build the encoding of a fixed-shape map themselves (the chain's
/// entries) without first building a [`Value`]. They write exactly what [`encode_into`]
/// writes for the same value; the caller must write map keys in canonical order (by their
/// encoded bytes: shorter keywords first, then bytewise).
pub mod write {
    use super::{TAG_KEYWORD, head, text};

    /// `nil`.
    pub fn nil(out: &mut Vec<u8>) {
        out.push(0xf6);
    }

    /// An integer.
    pub fn int(out: &mut Vec<u8>, i: i64) {
        if i >= 0 {
            head(out, 0, i as u64);
        } else {
            head(out, 1, (-1 - i) as u64);
        }
    }

    /// A string.
    pub fn string(out: &mut Vec<u8>, s: &str) {
        text(out, s);
    }

    /// A keyword (text without `:`).
    pub fn keyword(out: &mut Vec<u8>, k: &str) {
        head(out, 6, TAG_KEYWORD);
        text(out, k);
    }

    /// The head of a map of `n` entries.
    pub fn map_head(out: &mut Vec<u8>, n: u64) {
        head(out, 5, n);
    }
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= u8::MAX as u64 {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= u16::MAX as u64 {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u32::MAX as u64 {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn head_len(n: u64) -> usize {
    match n {
        0..24 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Decodes exactly one value from `bytes` under `limits`.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<Value, DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let mut d = Decoder {
        bytes,
        pos: 0,
        max_depth: limits.max_depth,
    };
    let v = d.value(0)?;
    if d.pos != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - d.pos));
    }
    Ok(v)
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: u32,
}

impl Decoder<'_> {
    fn invalid<T>(&self, offset: usize, what: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError::Invalid { offset, what })
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// Reads a head, returning (major, argument) and enforcing the shortest form.
    fn head(&mut self) -> Result<(u8, u64, usize), DecodeError> {
        let at = self.pos;
        let b = self.byte()?;
        let major = b >> 5;
        let info = b & 0x1f;
        if major == 7 {
            return Ok((7, info as u64, at));
        }
        let n = match info {
            0..=23 => info as u64,
            24 => {
                let n = self.byte()? as u64;
                if n < 24 {
                    return self.invalid(at, "integer argument not in shortest form");
                }
                n
            }
            25 => {
                let s = self.take(2)?;
                let n = u16::from_be_bytes([s[0], s[1]]) as u64;
                if n <= u8::MAX as u64 {
                    return self.invalid(at, "integer argument not in shortest form");
                }
                n
            }
            26 => {
                let s = self.take(4)?;
                let n = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u64;
                if n <= u16::MAX as u64 {
                    return self.invalid(at, "integer argument not in shortest form");
                }
                n
            }
            27 => {
                let s = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                let n = u64::from_be_bytes(a);
                if n <= u32::MAX as u64 {
                    return self.invalid(at, "integer argument not in shortest form");
                }
                n
            }
            _ => {
                return self.invalid(
                    at,
                    "indefinite lengths and reserved arguments are not allowed",
                );
            }
        };
        Ok((major, n, at))
    }

    fn length(&self, n: u64, at: usize) -> Result<usize, DecodeError> {
        // Every item takes at least one byte, so a count beyond the remaining input is false.
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n > remaining {
            return Err(DecodeError::Truncated(at));
        }
        Ok(n as usize)
    }

    fn text(&mut self) -> Result<&str, DecodeError> {
        let (major, n, at) = self.head()?;
        if major != 3 {
            return self.invalid(at, "expected text after a keyword or symbol tag");
        }
        let len = self.length(n, at)?;
        let s = self.take(len)?;
        std::str::from_utf8(s).map_err(|_| DecodeError::Invalid {
            offset: at,
            what: "text is not valid UTF-8",
        })
    }

    fn name(&mut self, at: usize) -> Result<Name, DecodeError> {
        let s = self.text()?;
        if s.is_empty() {
            return self.invalid(at, "a keyword or symbol has empty text");
        }
        Ok(Name::new(s))
    }

    // Collections decode in their own (never inlined) functions, so that the frame `value`
    // recurses through stays small: a guest's stack is 1 MiB and values nest 1 000 deep.
    #[inline(never)]
    fn entries(&mut self, n: u64, at: usize, depth: u32) -> Result<Map, DecodeError> {
        let len = self.length(n, at)?;
        let mut m = PMap::new();
        let mut prev_key: Option<(usize, usize)> = None;
        let mut shape = Shape::EMPTY;
        let mut key_weight = 0;
        for _ in 0..len {
            let kstart = self.pos;
            let k = self.value(depth + 1)?;
            let kend = self.pos;
            if let Some((ps, pe)) = prev_key
                && self.bytes[ps..pe] >= self.bytes[kstart..kend]
            {
                return self.invalid(kstart, "map keys are not in canonical order or repeat");
            }
            prev_key = Some((kstart, kend));
            let v = self.value(depth + 1)?;
            shape.add(&k);
            shape.add(&v);
            key_weight = key_weight.max(k.weight());
            if m.insert(k, v).is_some() {
                return self.invalid(kstart, "map keys repeat");
            }
        }
        Ok(Map::with_shape(m, shape, key_weight))
    }

    #[inline(never)]
    fn items(&mut self, n: u64, at: usize, depth: u32) -> Result<Seq, DecodeError> {
        let len = self.length(n, at)?;
        let mut items = PVec::new();
        let mut shape = Shape::EMPTY;
        for _ in 0..len {
            let v = self.value(depth + 1)?;
            shape.add(&v);
            items.push_back(v);
        }
        Ok(Seq::with_shape(items, shape))
    }

    fn value(&mut self, depth: u32) -> Result<Value, DecodeError> {
        let (major, n, at) = self.head()?;
        match major {
            0 => {
                if n > i64::MAX as u64 {
                    return self.invalid(at, "integer outside the 64-bit signed range");
                }
                Ok(Value::Int(n as i64))
            }
            1 => {
                if n > i64::MAX as u64 {
                    return self.invalid(at, "integer outside the 64-bit signed range");
                }
                Ok(Value::Int(-1 - n as i64))
            }
            2 => self.invalid(at, "byte strings are not data values"),
            3 => {
                let len = self.length(n, at)?;
                let s = self.take(len)?;
                let s = std::str::from_utf8(s).map_err(|_| DecodeError::Invalid {
                    offset: at,
                    what: "text is not valid UTF-8",
                })?;
                Ok(Value::Str(Str::new(s)))
            }
            4 => {
                if depth >= self.max_depth {
                    return Err(DecodeError::TooDeep(self.max_depth));
                }
                Ok(Value::Vector(self.items(n, at, depth)?))
            }
            5 => {
                if depth >= self.max_depth {
                    return Err(DecodeError::TooDeep(self.max_depth));
                }
                Ok(Value::Map(self.entries(n, at, depth)?))
            }
            6 => match n {
                TAG_KEYWORD => Ok(Value::Keyword(self.name(at)?)),
                TAG_SYMBOL => Ok(Value::Symbol(self.name(at)?)),
                TAG_LIST => {
                    if depth >= self.max_depth {
                        return Err(DecodeError::TooDeep(self.max_depth));
                    }
                    let (major, n, at2) = self.head()?;
                    if major != 4 {
                        return self.invalid(at2, "a list tag must be followed by an array");
                    }
                    Ok(Value::List(self.items(n, at2, depth)?))
                }
                _ => self.invalid(at, "unknown tag"),
            },
            _ => match n {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 => Ok(Value::Nil),
                27 => {
                    let s = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    let bits = u64::from_be_bytes(a);
                    let f = f64::from_bits(bits);
                    if f.is_nan() && bits != CANONICAL_NAN {
                        return self.invalid(at, "NaN must be encoded as 0x7ff8000000000000");
                    }
                    Ok(Value::Float(f))
                }
                25 | 26 => self.invalid(at, "floats are always 64-bit"),
                _ => self.invalid(at, "simple value not in the profile"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        let cases: Vec<(Value, Vec<u8>)> = vec![
            (Value::Nil, vec![0xf6]),
            (Value::Int(0), vec![0x00]),
            (Value::Int(23), vec![0x17]),
            (Value::Int(24), vec![0x18, 24]),
            (Value::Int(-1), vec![0x20]),
            (Value::Int(-500), vec![0x39, 0x01, 0xf3]),
            (Value::Float(1.5), vec![0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
            (Value::str("a"), vec![0x61, b'a']),
            (Value::keyword("a"), vec![0xd9, 0x9c, 0x40, 0x61, b'a']),
            (Value::vector(vec![Value::Int(1)]), vec![0x81, 0x01]),
            (Value::list(vec![]), vec![0xd9, 0x9c, 0x42, 0x80]),
        ];
        for (v, bytes) in cases {
            assert_eq!(encode(&v).unwrap(), bytes, "{v:?}");
            assert_eq!(decode(&bytes, DecodeLimits::default()).unwrap(), v);
        }
    }

    #[test]
    fn map_keys_sort_by_encoded_bytes() {
        // The two orders differ here: canonically -1 < 100, but 100's bytes (0x18 0x64) sort
        // before -1's (0x20), and the encoding follows the bytes.
        let m = Value::map(vec![
            (Value::Int(-1), Value::Nil),
            (Value::Int(100), Value::Nil),
        ]);
        let bytes = encode(&m).unwrap();
        assert_eq!(bytes, vec![0xa2, 0x18, 0x64, 0xf6, 0x20, 0xf6]);
        assert_eq!(decode(&bytes, DecodeLimits::default()).unwrap(), m);
    }

    #[test]
    fn rejects_non_canonical_and_hostile_input() {
        // Each input with the exact error it gets, so one refused for the wrong reason fails.
        let invalid = |offset, what| DecodeError::Invalid { offset, what };
        let shortest = "integer argument not in shortest form";
        let order = "map keys are not in canonical order or repeat";
        let bad: Vec<(Vec<u8>, DecodeError)> = vec![
            (vec![0x18, 5], invalid(0, shortest)),
            (vec![0x39, 0x00, 0x05], invalid(0, shortest)),
            (
                vec![0xf9, 0x3c, 0x00],
                invalid(0, "floats are always 64-bit"),
            ),
            (vec![0xa2, 0x20, 0xf6, 0x18, 0x64, 0xf6], invalid(3, order)), // unsorted keys
            (vec![0xa2, 0x01, 0xf6, 0x01, 0xf6], invalid(3, order)),       // duplicate keys
            (
                vec![0x9f],
                invalid(
                    0,
                    "indefinite lengths and reserved arguments are not allowed",
                ),
            ),
            // A count beyond the remaining input cannot be true: refused before allocating.
            (
                vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                DecodeError::Truncated(0),
            ),
            (
                vec![0x62, 0xff, 0xfe],
                invalid(0, "text is not valid UTF-8"),
            ),
            (vec![0xc1, 0x00], invalid(0, "unknown tag")),
            (vec![0x01, 0x02], DecodeError::Trailing(1)),
            (
                vec![0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0],
                invalid(0, "integer outside the 64-bit signed range"),
            ),
            (
                vec![0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1],
                invalid(0, "NaN must be encoded as 0x7ff8000000000000"),
            ),
            (
                vec![0x42, 0x00, 0x01],
                invalid(0, "byte strings are not data values"),
            ),
            (vec![0x82, 0x01], DecodeError::Truncated(0)), // two items, one byte left
            (vec![0x19, 0x01], DecodeError::Truncated(1)), // a 2-byte argument cut short
            (vec![], DecodeError::Truncated(0)),
        ];
        for (b, want) in bad {
            assert_eq!(decode(&b, DecodeLimits::default()), Err(want), "{b:x?}");
        }
        let deep = [vec![0x81u8; 5000], vec![0x00]].concat();
        assert_eq!(
            decode(&deep, DecodeLimits::default()),
            Err(DecodeError::TooDeep(1000))
        );
    }
}
