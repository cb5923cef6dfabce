//! `agent_config.toml`: what this installation lets agents do, within the constitution. Every
//! value can only make kiln stricter. Unknown keys and wrong types are errors naming the file,
//! line, column and key.

use serde::Deserialize;

use super::constitution::ConfigError;

/// The built-in default (`constitution/agent_config.toml`).
pub const DEFAULT: &str = include_str!("../../../../constitution/agent_config.toml");

/// `[self_programming]` (the seed's block parses as written: each key has a default).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SelfProgramming {
    /// Whether agents may create, change or roll back anything, or run plans of their own.
    pub enabled: bool,
    /// The highest trust level this installation allows.
    pub trust_level: u8,
    /// New agent-created capability versions per session.
    pub max_synthesis_per_session: u64,
    /// Plans executing plans.
    pub max_plan_nesting: u64,
    /// How deep and complex a plan may be (`planner.validate_plan`).
    pub max_plan_depth: u64,
}

impl Default for SelfProgramming {
    fn default() -> SelfProgramming {
        SelfProgramming {
            enabled: true,
            trust_level: 4,
            max_synthesis_per_session: 10,
            max_plan_nesting: 5,
            max_plan_depth: 5,
        }
    }
}

/// `[sandbox]`: per-call defaults.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSection {
    /// Fuel per call.
    pub fuel: u64,
    /// Memory per instance.
    pub memory_bytes: u64,
    /// Wall time per call.
    pub timeout_ms: u64,
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// How long a write waits for another kiln process.
    pub busy_timeout_ms: u64,
}

/// `[llm]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSection {
    /// `none` (offline only) or `openai-compatible`.
    pub provider: String,
    /// The model name.
    pub model: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// The name of the environment variable holding the API key (never the key itself).
    pub api_key_env: String,
    /// LLM calls per session.
    pub max_calls_per_session: u64,
}

impl Default for SandboxSection {
    fn default() -> SandboxSection {
        SandboxSection {
            fuel: 1_000_000_000,
            memory_bytes: 67_108_864,
            timeout_ms: 10_000,
        }
    }
}

impl Default for StoreSection {
    fn default() -> StoreSection {
        StoreSection {
            busy_timeout_ms: 10_000,
        }
    }
}

impl Default for LlmSection {
    fn default() -> LlmSection {
        LlmSection {
            provider: "none".into(),
            model: String::new(),
            endpoint: String::new(),
            api_key_env: String::new(),
            max_calls_per_session: 50,
        }
    }
}

/// The whole file; a missing section takes the built-in defaults.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// `[self_programming]`.
    pub self_programming: SelfProgramming,
    /// `[sandbox]`.
    pub sandbox: SandboxSection,
    /// `[store]`.
    pub store: StoreSection,
    /// `[llm]`.
    pub llm: LlmSection,
}

impl AgentConfig {
    /// Reads and validates `text` (named `file` in errors).
    pub fn parse(text: &str, file: &str) -> Result<AgentConfig, ConfigError> {
        let c: AgentConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key: String::new(),
                message: e.message().trim().to_string(),
            }
        })?;
        let bad = |key: &str, message: &str| {
            let (line, column) = find_key(text, key);
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key: key.to_string(),
                message: message.to_string(),
            }
        };
        if c.self_programming.trust_level > super::decide::MAX_TRUST {
            return Err(bad(
                "self_programming.trust_level",
                "must be between 0 and 4",
            ));
        }
        if !matches!(c.llm.provider.as_str(), "none" | "openai-compatible") {
            return Err(bad(
                "llm.provider",
                "must be \"none\" or \"openai-compatible\"",
            ));
        }
        if c.sandbox.timeout_ms == 0 || c.sandbox.fuel == 0 || c.sandbox.memory_bytes == 0 {
            return Err(bad(
                "sandbox",
                "fuel, memory_bytes and timeout_ms must be positive",
            ));
        }
        if c.store.busy_timeout_ms > 3_600_000 {
            return Err(bad(
                "store.busy_timeout_ms",
                "must be at most 3_600_000 (one hour)",
            ));
        }
        if c.sandbox.timeout_ms > 86_400_000 {
            return Err(bad(
                "sandbox.timeout_ms",
                "must be at most 86_400_000 (one day)",
            ));
        }
        Ok(c)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    (line, column)
}

/// Where `section.key` is written (for errors found after parsing).
fn find_key(text: &str, dotted: &str) -> (u32, u32) {
    let (section, key) = dotted.split_once('.').unwrap_or((dotted, ""));
    let mut in_section = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            in_section = t.trim_matches(|c| c == '[' || c == ']').trim() == section;
            if in_section && key.is_empty() {
                return line_col(text, offset + line.find('[').unwrap_or(0));
            }
        } else if in_section && !key.is_empty() && t.split('=').next().map(str::trim) == Some(key) {
            return line_col(text, offset + line.find(key).unwrap_or(0));
        }
        offset += line.len();
    }
    (0, 0)
}
