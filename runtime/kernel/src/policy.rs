//! The policy in force for a session: the home's configuration (`agent_config.toml`, else the
//! built-in default) and its active constitution (verified on read; the built-in default on a
//! new home), and the effective trust level. Loading it only reads, so the read-only commands
//! (`kiln constitution show`) use it without opening the home for writing.

use kiln_store::{Hash, Home, ObjectStore};

use crate::error::{KernelError, Result};
use crate::governance::config::{self, AgentConfig};
use crate::governance::constitution::{self, Constitution};

/// The configuration and constitution of a home, and the session's trust level.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The active constitution.
    pub constitution: Constitution,
    /// The hash of its source text.
    pub constitution_hash: Hash,
    /// Where it came from (the built-in default, or a version approved in this home).
    pub constitution_origin: String,
    /// Its source text.
    pub constitution_source: String,
    /// This installation's configuration.
    pub config: AgentConfig,
    /// The effective trust level: the lowest of the constitution's, the configuration's and
    /// the run's.
    pub trust: u8,
}

impl Policy {
    /// Reads the policy of `home`; `trust` may only lower the level. A broken configuration
    /// or constitution is an error: kiln does not run ungoverned.
    pub fn load(home: &Home, trust: Option<u8>) -> Result<Policy> {
        let config_path = home.root().join("agent_config.toml");
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => AgentConfig::parse(&text, &config_path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                AgentConfig::parse(config::DEFAULT, "agent_config.toml (built in)")
            }
            Err(e) => {
                return Err(KernelError::invalid(format!(
                    "cannot read {}: {e}",
                    config_path.display()
                )));
            }
        }
        .map_err(|error| KernelError::Config {
            error: Box::new(error),
            what: "configuration",
        })?;
        let (source, origin) = match kiln_store::approvals::active_constitution(&home.db)? {
            None => (
                constitution::DEFAULT.to_string(),
                "constitution.rtfs (built in)".to_string(),
            ),
            Some((n, hash)) => {
                // Verified on read: a tampered constitution is an error, never used.
                let bytes = home.objects.get(&hash)?;
                (
                    String::from_utf8_lossy(&bytes).into_owned(),
                    format!("constitution version {n} ({})", &hash.hex()[..12]),
                )
            }
        };
        let constitution =
            Constitution::parse(&source, &origin).map_err(|error| KernelError::Config {
                error: Box::new(error),
                what: "constitution",
            })?;
        let trust = [
            constitution.trust_level,
            config.self_programming.trust_level,
            trust.unwrap_or(u8::MAX),
        ]
        .into_iter()
        .min()
        .unwrap_or(0);
        Ok(Policy {
            constitution_hash: Hash::of(source.as_bytes()),
            constitution_origin: origin,
            constitution_source: source,
            constitution,
            config,
            trust,
        })
    }

    /// New agent-created capability versions per session: the lower of the constitution's
    /// and the configuration's.
    pub fn synthesis_quota(&self) -> u64 {
        self.constitution
            .quotas
            .max_synthesis_per_session
            .min(self.config.self_programming.max_synthesis_per_session)
    }

    /// How deep plans may nest: the lower of the constitution's and the configuration's.
    pub fn max_plan_nesting(&self) -> u64 {
        self.constitution
            .quotas
            .max_plan_nesting
            .min(self.config.self_programming.max_plan_nesting)
    }
}
