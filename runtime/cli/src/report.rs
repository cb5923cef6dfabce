//! How kiln shows errors: `error[:KIND]: MESSAGE`, `at FILE:LINE:COL`, the error's data, and a
//! miette snippet of the source line with a caret; and the `--json` form of an error.

use kiln_kernel::diagnostic::Diagnostic;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

/// A source snippet as a miette diagnostic.
#[derive(Debug)]
struct Snippet {
    label: String,
    source: NamedSource<String>,
    span: (usize, usize),
}

impl std::fmt::Display for Snippet {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The header already says what; the snippet says where.
        Ok(())
    }
}

impl std::error::Error for Snippet {}

impl miette::Diagnostic for Snippet {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(self.label.clone()),
            self.span.0,
            self.span.1,
        ))))
    }
}

/// Renders an RTFS error for a terminal.
pub fn render_error(err: &rtfs::Error, source: Option<(&str, &str)>) -> String {
    render(&Diagnostic::of(err), source)
}

/// Renders a diagnostic for a terminal; `source` (name, text) adds the snippet.
pub fn render(d: &Diagnostic, source: Option<(&str, &str)>) -> String {
    let mut out = format!("error[:{}]: {}\n", d.kind, d.message);
    if let Some(p) = &d.place {
        let file = p
            .file
            .as_deref()
            .or(source.map(|s| s.0))
            .unwrap_or("<input>");
        out.push_str(&format!("  at {file}:{}:{}\n", p.line, p.column));
    }
    if !d.data.is_empty() {
        out.push_str(&format!("  data: {}\n", d.data));
    }
    if let (Some(p), Some((name, text))) = (&d.place, source) {
        let start = (p.offset as usize).min(text.len());
        let len = (p.len as usize).min(text.len() - start);
        // A span at the very end of the input is shown as a caret after the last character.
        let span = if start == text.len() && start > 0 {
            (start - 1, 1)
        } else {
            (start, len.max(1).min(text.len() - start))
        };
        let snippet = Snippet {
            label: format!(":{}", d.kind),
            source: NamedSource::new(name, text.to_string()),
            span,
        };
        let mut rendered = String::new();
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
        if handler.render_report(&mut rendered, &snippet).is_ok() {
            out.push_str(&rendered);
        }
    }
    out
}

/// The `--json` form of a diagnostic: `{"kind": ":error/…", "message", "data", "location"}`.
pub fn json_diagnostic(d: &Diagnostic) -> serde_json::Value {
    let location = d.place.as_ref().map(
        |p| serde_json::json!({ "file": p.file.as_deref(), "line": p.line, "column": p.column }),
    );
    serde_json::json!({
        "kind": format!(":{}", d.kind),
        "message": d.message,
        "data": if d.data.is_empty() { "nil" } else { d.data.as_str() },
        "location": location,
    })
}
