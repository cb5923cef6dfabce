//! The reader (§1): source text to [`Form`]s with spans.
//!
//! Every form carries its line, column and byte range. Errors say where and what was
//! expected. Nesting is bounded ([`ReadOptions::max_depth`]), so reading never overflows the
//! native stack whatever the input.

use std::rc::Rc;

use crate::error::{Error, Location, Result};
use crate::value::{Name, PMap, RegexValue, Seq, Str, Value};

/// Where a form is in its source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first character.
    pub offset: u32,
    /// Byte length.
    pub len: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column in Unicode scalar values.
    pub column: u32,
}

impl Span {
    /// The span as a [`Location`] in `file`.
    pub fn location(&self, file: Option<&Rc<str>>) -> Location {
        Location {
            file: file.cloned(),
            line: self.line,
            column: self.column,
            offset: self.offset,
            len: self.len,
        }
    }
}

/// A syntax tree node: what the reader produces and the analyser consumes.
#[derive(Clone, Debug)]
pub struct Form {
    /// What was read.
    pub kind: FormKind,
    /// Where it was read.
    pub span: Span,
}

/// The kinds of forms.
#[derive(Clone, Debug)]
pub enum FormKind {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal (escapes processed).
    Str(Str),
    /// A regex literal.
    Regex(Rc<RegexValue>),
    /// A keyword literal (text without `:`).
    Keyword(Name),
    /// A symbol; a lone `:` reads as the symbol `:` (legal only in annotation positions).
    Symbol(Name),
    /// `( … )`
    List(Vec<Form>),
    /// `[ … ]`
    Vector(Vec<Form>),
    /// `{ … }`, keys and values alternating (even count guaranteed).
    Map(Vec<Form>),
}

impl Form {
    /// The symbol's text, if this is a symbol.
    pub fn as_symbol(&self) -> Option<&Name> {
        match &self.kind {
            FormKind::Symbol(s) => Some(s),
            _ => None,
        }
    }

    /// The keyword's text, if this is a keyword.
    pub fn as_keyword(&self) -> Option<&Name> {
        match &self.kind {
            FormKind::Keyword(k) => Some(k),
            _ => None,
        }
    }

    /// Whether this is the symbol `name`.
    pub fn is_symbol(&self, name: &str) -> bool {
        matches!(&self.kind, FormKind::Symbol(s) if s.as_str() == name)
    }

    /// The form as data (what `quote` yields). Map entries whose key is a regex literal are
    /// dropped, since only data may be a map key.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            FormKind::Nil => Value::Nil,
            FormKind::Bool(b) => Value::Bool(*b),
            FormKind::Int(i) => Value::Int(*i),
            FormKind::Float(f) => Value::Float(*f),
            FormKind::Str(s) => Value::Str(s.clone()),
            FormKind::Regex(r) => Value::Regex(r.clone()),
            FormKind::Keyword(k) => Value::Keyword(k.clone()),
            FormKind::Symbol(s) => Value::Symbol(s.clone()),
            FormKind::List(items) => {
                Value::List(Seq::from_vec(items.iter().map(Form::to_value).collect()))
            }
            FormKind::Vector(items) => {
                Value::Vector(Seq::from_vec(items.iter().map(Form::to_value).collect()))
            }
            FormKind::Map(items) => {
                let mut m = PMap::new();
                for pair in items.chunks(2) {
                    let k = pair[0].to_value();
                    if k.is_scalar_non_data() {
                        continue;
                    }
                    m.insert(k, pair[1].to_value());
                }
                Value::Map(crate::value::Map::new(m))
            }
        }
    }
}

/// Reader settings.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Deepest bracket nesting accepted (§1.6: 512 by default).
    pub max_depth: usize,
    /// File name for locations.
    pub file: Option<Rc<str>>,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            max_depth: 512,
            file: None,
        }
    }
}

/// Reads a program: zero or more top-level forms.
pub fn read_program(src: &str, options: &ReadOptions) -> Result<Vec<Form>> {
    let mut r = Reader::new(src, options);
    let mut forms = Vec::new();
    while let Some(f) = r.next_form(0)? {
        forms.push(f);
    }
    Ok(forms)
}

/// Reads exactly one form (surrounding whitespace and comments allowed).
pub fn read_expr(src: &str, options: &ReadOptions) -> Result<Form> {
    let mut r = Reader::new(src, options);
    let Some(form) = r.next_form(0)? else {
        return Err(r.error_here("expected an expression, found end of input"));
    };
    if r.next_form(0)?.is_some() {
        let loc = r.last_start;
        return Err(Error::parse(
            "expected end of input after the expression; found a second form (use a program to read several)",
            loc.location(r.file.as_ref()),
        ));
    }
    Ok(form)
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | ',')
}

fn is_delimiter(c: char) -> bool {
    is_whitespace(c) || matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
}

/// Symbol characters (§1.3).
pub fn is_symbol_char(c: char) -> bool {
    c.is_alphanumeric() || "*+!-_?<>=$%&./:'".contains(c)
}

/// Whether `text` reads back as the symbol `text` (used by printers that want to warn).
pub fn is_valid_symbol_text(text: &str) -> bool {
    valid_name(text, false).is_ok() && !matches!(text, "nil" | "true" | "false") && {
        let mut cs = text.chars();
        let c0 = cs.next();
        let c1 = cs.next();
        let starts_like_number =
            matches!(c0, Some('+' | '-')) && matches!(c1, Some(d) if d.is_ascii_digit());
        !(matches!(c0, Some(c) if c.is_ascii_digit() || c == ':' || c == '\'')
            || starts_like_number)
    }
}

fn valid_name(text: &str, keyword: bool) -> std::result::Result<(), String> {
    if text.is_empty() {
        return Err("empty name".into());
    }
    if let Some(c) = text.chars().find(|&c| !is_symbol_char(c)) {
        return Err(format!(
            "character `{c}` is not allowed in a symbol or keyword"
        ));
    }
    if text == "/" && !keyword {
        return Ok(());
    }
    let slashes = text.matches('/').count();
    if slashes > 1 {
        return Err("a symbol or keyword contains at most one `/`".into());
    }
    if slashes == 1 && (text.starts_with('/') || text.ends_with('/')) {
        return Err("`/` may not be first or last in a symbol or keyword".into());
    }
    Ok(())
}

struct Reader<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    column: u32,
    max_depth: usize,
    file: Option<Rc<str>>,
    /// Inside `#( … )` (nested fn literals are errors).
    in_fn_literal: bool,
    last_start: Span,
}

impl<'a> Reader<'a> {
    fn new(src: &'a str, options: &ReadOptions) -> Reader<'a> {
        Reader {
            src,
            pos: 0,
            line: 1,
            column: 1,
            max_depth: options.max_depth,
            file: options.file.clone(),
            in_fn_literal: false,
            last_start: Span::default(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn here(&self) -> Span {
        Span {
            offset: self.pos as u32,
            len: 0,
            line: self.line,
            column: self.column,
        }
    }

    fn error_at(&self, span: Span, msg: impl Into<String>) -> Error {
        Error::parse(msg, span.location(self.file.as_ref()))
    }

    fn error_here(&self, msg: impl Into<String>) -> Error {
        let mut s = self.here();
        s.len = self.peek().map(|c| c.len_utf8() as u32).unwrap_or(0);
        self.error_at(s, msg)
    }

    fn finish(&self, mut start: Span) -> Span {
        start.len = (self.pos as u32).saturating_sub(start.offset);
        start
    }

    /// Skips whitespace and comments (not `#_`, which needs a form read).
    fn skip_trivia(&mut self) -> Result<()> {
        loop {
            match self.peek() {
                Some(c) if is_whitespace(c) => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.peek2() == Some('|') => {
                    let start = self.here();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => {
                                return Err(self.error_at(
                                    start,
                                    "unclosed block comment `#|` (expected `|#`)",
                                ));
                            }
                            Some('|') if self.peek() == Some('#') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next form, or None at end of input (or at a closing bracket, left unconsumed).
    fn next_form(&mut self, depth: usize) -> Result<Option<Form>> {
        loop {
            self.skip_trivia()?;
            if self.peek() == Some('#') && self.peek2() == Some('_') {
                let start = self.here();
                self.bump();
                self.bump();
                match self.next_form(depth)? {
                    Some(_) => continue,
                    None => {
                        return Err(
                            self.error_at(start, "`#_` must be followed by a form to discard")
                        );
                    }
                }
            }
            break;
        }
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        if matches!(c, ')' | ']' | '}') {
            if depth == 0 {
                return Err(
                    self.error_here(format!("unexpected `{c}` with no matching opening bracket"))
                );
            }
            return Ok(None);
        }
        let start = self.here();
        self.last_start = start;
        let form = match c {
            '(' | '[' | '{' => self.read_coll(depth)?,
            '"' => {
                self.bump();
                let s = self.read_string_body(start)?;
                Form {
                    kind: FormKind::Str(Str::new(s)),
                    span: self.finish(start),
                }
            }
            '\'' => {
                self.bump();
                let inner = self.required_form(depth, start, "`'` must be followed by a form")?;
                let quote = Form {
                    kind: FormKind::Symbol(Name::new("quote")),
                    span: start,
                };
                Form {
                    kind: FormKind::List(vec![quote, inner]),
                    span: self.finish(start),
                }
            }
            '#' => self.read_dispatch(depth, start)?,
            '^' => {
                self.bump();
                let meta = self.required_form(
                    depth,
                    start,
                    "`^` must be followed by metadata and a form",
                )?;
                if !matches!(
                    meta.kind,
                    FormKind::Map(_) | FormKind::Keyword(_) | FormKind::Symbol(_)
                ) {
                    return Err(
                        self.error_at(meta.span, "metadata must be a map, keyword or symbol")
                    );
                }
                return self
                    .required_form(
                        depth,
                        start,
                        "metadata must be followed by the form it annotates",
                    )
                    .map(Some);
            }
            '`' => {
                return Err(
                    self.error_here("syntax quote (`) is not supported: RTFS has no macros")
                );
            }
            '~' => {
                return Err(self.error_here("unquote (~, ~@) is not supported: RTFS has no macros"));
            }
            '@' => {
                return Err(self.error_here("deref (@) is not supported: RTFS has no references"));
            }
            '\\' => {
                return Err(self.error_here(
                    "character literals (\\a) are not supported: use 1-character strings",
                ));
            }
            _ => self.read_token(start)?,
        };
        Ok(Some(form))
    }

    fn required_form(&mut self, depth: usize, start: Span, msg: &str) -> Result<Form> {
        match self.next_form(depth)? {
            Some(f) => Ok(f),
            None => Err(self.error_at(start, msg)),
        }
    }

    fn read_coll(&mut self, depth: usize) -> Result<Form> {
        let start = self.here();
        let open = self.bump().unwrap_or('(');
        let close = match open {
            '(' => ')',
            '[' => ']',
            _ => '}',
        };
        if depth + 1 > self.max_depth {
            return Err(self.error_at(
                start,
                format!("nesting deeper than {} levels", self.max_depth),
            ));
        }
        let mut items = Vec::new();
        loop {
            match self.next_form(depth + 1)? {
                Some(f) => items.push(f),
                None => match self.peek() {
                    None => {
                        return Err(self.error_here(format!(
                            "unexpected end of input: unclosed `{open}` at {}:{} (expected `{close}`)",
                            start.line, start.column
                        )));
                    }
                    Some(c) if c == close => {
                        self.bump();
                        break;
                    }
                    Some(c) => {
                        return Err(self.error_here(format!(
                            "expected `{close}` to close `{open}` at {}:{}, found `{c}`",
                            start.line, start.column
                        )));
                    }
                },
            }
        }
        let span = self.finish(start);
        let kind = match open {
            '(' => FormKind::List(items),
            '[' => FormKind::Vector(items),
            _ => {
                if items.len() % 2 != 0 {
                    return Err(self.error_at(
                        span,
                        "a map literal needs an even number of forms (key value pairs)",
                    ));
                }
                FormKind::Map(items)
            }
        };
        Ok(Form { kind, span })
    }

    fn read_dispatch(&mut self, depth: usize, start: Span) -> Result<Form> {
        self.bump(); // '#'
        match self.peek() {
            Some('(') => {
                if self.in_fn_literal {
                    return Err(self.error_at(start, "nested `#(` is not allowed inside `#( … )`"));
                }
                self.in_fn_literal = true;
                let body = self.read_coll(depth);
                self.in_fn_literal = false;
                let body = body?;
                Ok(expand_fn_literal(body, self.finish(start)))
            }
            Some('"') => {
                self.bump();
                let mut pattern = String::new();
                loop {
                    match self.bump() {
                        None => {
                            return Err(self
                                .error_at(start, "unclosed regex literal `#\"` (expected `\"`)"));
                        }
                        Some('\\') => {
                            pattern.push('\\');
                            match self.bump() {
                                Some(c) => pattern.push(c),
                                None => {
                                    return Err(
                                        self.error_at(start, "unclosed regex literal `#\"`")
                                    );
                                }
                            }
                        }
                        Some('"') => break,
                        Some(c) => pattern.push(c),
                    }
                }
                let span = self.finish(start);
                let re = RegexValue::compile(&pattern)
                    .map_err(|e| self.error_at(span, format!("invalid regex literal: {e}")))?;
                Ok(Form {
                    kind: FormKind::Regex(Rc::new(re)),
                    span,
                })
            }
            Some('#') => {
                self.bump();
                let tok = self.take_token();
                let f =
                    match tok.as_str() {
                        "Inf" => f64::INFINITY,
                        "-Inf" => f64::NEG_INFINITY,
                        "NaN" => f64::NAN,
                        _ => return Err(self.error_at(
                            start,
                            format!(
                                "unknown symbolic value `##{tok}` (expected ##Inf, ##-Inf or ##NaN)"
                            ),
                        )),
                    };
                Ok(Form {
                    kind: FormKind::Float(f),
                    span: self.finish(start),
                })
            }
            Some('{') => Err(self.error_at(
                start,
                "sets (#{…}) are not supported: RTFS has no sets; use a vector or a map",
            )),
            Some('\'') => {
                Err(self.error_at(start, "var quote (#') is not supported: RTFS has no vars"))
            }
            Some(c) if c.is_alphabetic() => {
                let tok = self.take_token();
                Err(self.error_at(start, format!("tagged literals (#{tok}) are not supported")))
            }
            Some(c) => Err(self.error_at(start, format!("unknown dispatch `#{c}`"))),
            None => Err(self.error_at(start, "unexpected end of input after `#`")),
        }
    }

    fn take_token(&mut self) -> String {
        let from = self.pos;
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            self.bump();
        }
        self.src[from..self.pos].to_owned()
    }

    fn read_string_body(&mut self, start: Span) -> Result<String> {
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.error_at(start, format!(
                    "unexpected end of input: unclosed string starting at {}:{} (expected `\"`)",
                    start.line, start.column
                )));
            };
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let esc_at = self.here();
                    match self.bump() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('"') => s.push('"'),
                        Some('\\') => s.push('\\'),
                        Some('0') => s.push('\0'),
                        Some('u') => {
                            let mut code = 0u32;
                            let mut digits = 0;
                            while digits < 4 {
                                match self.peek().and_then(|c| c.to_digit(16)) {
                                    Some(d) => {
                                        code = code * 16 + d;
                                        digits += 1;
                                        self.bump();
                                    }
                                    None => break,
                                }
                            }
                            if digits < 4 {
                                return Err(self.error_at(
                                    esc_at,
                                    "`\\u` must be followed by four hex digits",
                                ));
                            }
                            match char::from_u32(code) {
                                Some(ch) => s.push(ch),
                                None => {
                                    return Err(self.error_at(
                                        esc_at,
                                        format!("`\\u{code:04x}` is not a Unicode scalar value"),
                                    ));
                                }
                            }
                        }
                        Some(other) => {
                            s.push('\\');
                            s.push(other);
                        }
                        None => {
                            return Err(self.error_at(
                                start,
                                "unexpected end of input: unclosed string (expected `\"`)",
                            ));
                        }
                    }
                }
                c => s.push(c),
            }
        }
    }

    fn read_token(&mut self, start: Span) -> Result<Form> {
        let tok = self.take_token();
        let span = self.finish(start);
        let kind = classify_token(&tok).map_err(|msg| self.error_at(span, msg))?;
        Ok(Form { kind, span })
    }
}

fn classify_token(tok: &str) -> std::result::Result<FormKind, String> {
    let mut chars = tok.chars();
    let c0 = chars.next().ok_or("empty token")?;
    let c1 = chars.next();
    if c0.is_ascii_digit()
        || (matches!(c0, '+' | '-') && matches!(c1, Some(d) if d.is_ascii_digit()))
    {
        return parse_number(tok);
    }
    match tok {
        "nil" => return Ok(FormKind::Nil),
        "true" => return Ok(FormKind::Bool(true)),
        "false" => return Ok(FormKind::Bool(false)),
        ":" => return Ok(FormKind::Symbol(Name::new(":"))),
        _ => {}
    }
    if let Some(text) = tok.strip_prefix(':') {
        if text.starts_with(':') {
            return Err(format!(
                "auto-resolved keywords (`{tok}`) are not supported: write the namespace out"
            ));
        }
        valid_name(text, true).map_err(|e| format!("invalid keyword `{tok}`: {e}"))?;
        return Ok(FormKind::Keyword(Name::new(text)));
    }
    if c0 == '\'' {
        return Err(format!("invalid symbol `{tok}`"));
    }
    // `.5`, `-.5`, `+.5`: numbers must start with a digit (§1.2).
    let b = tok.as_bytes();
    let dot_digit =
        |i: usize| b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit);
    if dot_digit(0) || (matches!(c0, '+' | '-') && dot_digit(1)) {
        return Err(format!(
            "invalid number `{tok}`: a number starts with a digit (write 0.5, not .5)"
        ));
    }
    valid_name(tok, false).map_err(|e| format!("invalid symbol `{tok}`: {e}"))?;
    Ok(FormKind::Symbol(Name::new(tok)))
}

fn parse_number(tok: &str) -> std::result::Result<FormKind, String> {
    let body = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    let int_len = body.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &body[int_len..];
    if rest.is_empty() {
        let digits = tok.strip_prefix('+').unwrap_or(tok);
        return digits.parse::<i64>().map(FormKind::Int).map_err(|_| {
            format!("integer literal `{tok}` is outside the 64-bit range (RTFS has no bignums)")
        });
    }
    let bad = || {
        let hint = if rest.starts_with(['x', 'X']) {
            " (hex literals are not supported)"
        } else if rest.starts_with('/') {
            " (ratios are not supported)"
        } else if rest == "N" || rest == "M" {
            " (big number literals are not supported)"
        } else {
            ""
        };
        format!("invalid number literal `{tok}`{hint}")
    };
    let mut r = rest;
    let mut is_float = false;
    if let Some(frac) = r.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        r = &frac[n..];
        is_float = true;
    }
    if let Some(exp) = r.strip_prefix(['e', 'E']) {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        let n = exp.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        r = &exp[n..];
        is_float = true;
    }
    if !r.is_empty() || !is_float {
        return Err(bad());
    }
    tok.parse::<f64>().map(FormKind::Float).map_err(|_| bad())
}

/// `#(body)` → `(fn [%1 … %N & %&] (body))`, `%` renamed `%1`.
fn expand_fn_literal(body: Form, span: Span) -> Form {
    let mut max = 0usize;
    let mut rest = false;
    let body = rename_percent(body, &mut max, &mut rest);
    let sym = |s: &str| Form {
        kind: FormKind::Symbol(Name::new(s)),
        span,
    };
    let mut params: Vec<Form> = (1..=max).map(|i| sym(&format!("%{i}"))).collect();
    if rest {
        params.push(sym("&"));
        params.push(sym("%&"));
    }
    let params = Form {
        kind: FormKind::Vector(params),
        span,
    };
    Form {
        kind: FormKind::List(vec![sym("fn"), params, body]),
        span,
    }
}

fn rename_percent(form: Form, max: &mut usize, rest: &mut bool) -> Form {
    let span = form.span;
    let kind = match form.kind {
        FormKind::Symbol(s) => {
            let t = s.as_str();
            if t == "%" {
                *max = (*max).max(1);
                FormKind::Symbol(Name::new("%1"))
            } else if t == "%&" {
                *rest = true;
                FormKind::Symbol(s)
            } else if let Some(n) = t
                .strip_prefix('%')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=20).contains(n))
            {
                *max = (*max).max(n);
                FormKind::Symbol(s)
            } else {
                FormKind::Symbol(s)
            }
        }
        FormKind::List(items) => FormKind::List(
            items
                .into_iter()
                .map(|f| rename_percent(f, max, rest))
                .collect(),
        ),
        FormKind::Vector(items) => FormKind::Vector(
            items
                .into_iter()
                .map(|f| rename_percent(f, max, rest))
                .collect(),
        ),
        FormKind::Map(items) => FormKind::Map(
            items
                .into_iter()
                .map(|f| rename_percent(f, max, rest))
                .collect(),
        ),
        other => other,
    };
    Form { kind, span }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> (u32, u32, String) {
        let e = read_program(src, &ReadOptions::default()).unwrap_err();
        let loc = e.location().unwrap();
        (loc.line, loc.column, e.message().to_owned())
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("(let [x 5]", 1, 11, "unclosed `(` at 1:1"),
            ("\n  (+ 1", 2, 7, "unclosed `(` at 2:3"),
            ("0x42", 1, 1, "hex"),
            ("#{1 2}", 1, 1, "sets"),
            ("::kw", 1, 1, "auto-resolved"),
            ("(1 2]", 1, 5, "expected `)`"),
            ("\"abc", 1, 1, "unclosed string"),
            ("`x", 1, 1, "syntax quote"),
            ("{:a}", 1, 1, "even number"),
        ];
        for (src, line, col, needle) in cases {
            let (l, c, m) = err(src);
            assert_eq!((l, c), (line, col), "{src}: {m}");
            assert!(m.contains(needle), "{src}: {m}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = "(".repeat(100_000);
        let (_, _, m) = err(&src);
        assert!(m.contains("nesting deeper than 512"), "{m}");
    }
}
