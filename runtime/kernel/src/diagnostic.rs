//! An RTFS error as plain data — its kind, message, data and place — that crosses threads (a
//! plan runs on a sandbox worker) and that a front end renders as it likes.

/// An error, ready to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The kind, without `:` (e.g. `error/capability`).
    pub kind: String,
    /// The message.
    pub message: String,
    /// The error's data, printed (`nil` or `{}` when it has none).
    pub data: String,
    /// Where it happened, when known.
    pub place: Option<Place>,
}

/// A place in a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The file, when the error names one.
    pub file: Option<String>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Byte offset of the form.
    pub offset: u32,
    /// Byte length of the form.
    pub len: u32,
}

impl Diagnostic {
    /// The diagnostic of `e`.
    pub fn of(e: &rtfs::Error) -> Diagnostic {
        let data = e.data();
        Diagnostic {
            kind: e.kind().to_string(),
            message: e.message().to_string(),
            data: if data.as_map().is_some_and(|m| !m.is_empty()) {
                rtfs::print::print(data)
            } else {
                String::new()
            },
            place: e.location().map(|l| Place {
                file: l.file.as_deref().map(str::to_string),
                line: l.line,
                column: l.column,
                offset: l.offset,
                len: l.len,
            }),
        }
    }

    /// A diagnostic with no place and no data.
    pub fn plain(kind: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind: kind.into(),
            message: message.into(),
            data: String::new(),
            place: None,
        }
    }
}
