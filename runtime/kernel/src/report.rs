//! How kiln shows values and errors: printed forms, miette diagnostics with the source line
//! and a caret, and the `--json` shape.

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

/// An RTFS error with the source it came from, as a miette diagnostic.
#[derive(Debug)]
struct SourceError {
    message: String,
    label: String,
    source: Option<NamedSource<String>>,
    span: Option<(usize, usize)>,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

impl Diagnostic for SourceError {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (offset, len) = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(self.label.clone()),
            offset,
            len,
        ))))
    }
}

/// Renders an error for a terminal: `error[KIND]: MESSAGE`, `at FILE:LINE:COL`, and the
/// source line with a caret when the source is known.
pub fn render_error(err: &rtfs::Error, source: Option<(&str, &str)>) -> String {
    let mut out = format!("error[:{}]: {}\n", err.kind(), err.message());
    let loc = err.location();
    if let Some(loc) = loc {
        let file = loc
            .file
            .as_deref()
            .or(source.map(|s| s.0))
            .unwrap_or("<input>");
        out.push_str(&format!("  at {file}:{}:{}\n", loc.line, loc.column));
    }
    let data = err.data();
    if !matches!(data, rtfs::Value::Nil) && data.as_map().is_some_and(|m| !m.is_empty()) {
        out.push_str(&format!("  data: {}\n", rtfs::print::print(data)));
    }
    if let (Some(loc), Some((name, text))) = (loc, source) {
        let start = (loc.offset as usize).min(text.len());
        let len = (loc.len as usize).clamp(0, text.len() - start);
        // A span at the very end of the input is shown as a caret after the last character.
        let (start, len) = if start == text.len() && start > 0 {
            (start - 1, 1)
        } else {
            (start, len.max(1).min(text.len() - start))
        };
        let diag = SourceError {
            // The header above already says what; the snippet says where.
            message: String::new(),
            label: format!(":{}", err.kind()),
            source: Some(NamedSource::new(name, text.to_string())),
            span: Some((start, len)),
        };
        let mut rendered = String::new();
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
        if handler.render_report(&mut rendered, &diag).is_ok() {
            out.push_str(&rendered);
        }
    }
    out
}

/// The `--json` form of a result.
pub fn json_result(result: &Result<rtfs::Value, rtfs::Error>) -> String {
    let j = match result {
        Ok(v) => serde_json::json!({ "ok": true, "value": rtfs::print::print(v) }),
        Err(e) => {
            let loc = e.location().map(|l| {
                serde_json::json!({ "file": l.file.as_deref(), "line": l.line, "column": l.column })
            });
            serde_json::json!({
                "ok": false,
                "error": {
                    "kind": format!(":{}", e.kind()),
                    "message": e.message(),
                    "data": rtfs::print::print(e.data()),
                    "location": loc,
                }
            })
        }
    };
    j.to_string()
}
