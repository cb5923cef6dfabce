//! What the planner knows of the capabilities there are: a [`Catalog`] the kernel implements
//! over the registry (and the sandbox, to run a candidate on an intent's examples).

use rtfs::Value;

/// One capability as the planner sees it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its id.
    pub id: String,
    /// What it does.
    pub description: String,
    /// Its input schema (`:any` when none).
    pub input_schema: Value,
    /// Its output schema (`:any` when none).
    pub output_schema: Value,
    /// Its declared effects (`[]` for pure).
    pub effects: Vec<String>,
}

/// The capabilities there are.
pub trait Catalog {
    /// The active capabilities (natives included).
    fn entries(&self) -> Vec<Entry>;
    /// Runs capability `id` on `input` (to confirm that it serves an intent).
    fn run(&mut self, id: &str, input: &Value) -> Result<Value, String>;
}

/// A capability name from free text: lower case, words joined by `-`, only letters, digits,
/// `-` and `_` (as the registry's ids require), at most 100 characters.
pub fn capability_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_string();
    out.truncate(100);
    if out.is_empty() {
        out.push_str("step");
    }
    out
}
