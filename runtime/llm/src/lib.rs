//! kiln-llm — one chat completion from any OpenAI-compatible server (OpenAI, Ollama,
//! llama.cpp's server, vLLM, LM Studio): `POST {endpoint}/v1/chat/completions`, non-streamed,
//! with a timeout, a bound on the reply's size, and a typed failure for everything that can go
//! wrong (nothing listening, 401, 429 with its `Retry-After`, a server error, a timeout, a
//! reply that is not an OpenAI-compatible completion, a streamed reply). The API key is read
//! from the named environment variable at each request and never appears in an error, a log
//! line or a recording. `KILN_LLM_REPLAY=DIR` answers from recorded exchanges (keyed by the
//! request's hash) instead of a server; `KILN_LLM_RECORD=DIR` records them.
//!
//! Governance (the `:llm` effect, the quota, the chain) is the kernel's: this crate only talks.
//!
//! ```no_run
//! let p = kiln_llm::Provider::new(kiln_llm::Config {
//!     endpoint: "http://127.0.0.1:11434".into(),
//!     model: "llama3".into(),
//!     ..kiln_llm::Config::default()
//! });
//! let reply = p.chat(&[kiln_llm::Message::user("Say ok.")]).unwrap();
//! println!("{} ({} ms)", reply.content, reply.ms);
//! ```

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use sha2::Digest;

/// How to reach the model.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's base URL (`http://127.0.0.1:11434`, `https://api.openai.com`); `/v1/chat/completions` is appended.
    pub endpoint: String,
    /// The model's name.
    pub model: String,
    /// The name of the environment variable holding the API key (empty: no key is sent).
    pub api_key_env: String,
    /// The most a request may take.
    pub timeout: Duration,
    /// Sampling temperature (0: as deterministic as the server allows).
    pub temperature: f64,
    /// The largest reply body accepted.
    pub max_reply_bytes: u64,
    /// Answer from recorded exchanges in this directory, never a server.
    pub replay: Option<PathBuf>,
    /// Record each exchange in this directory.
    pub record: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            endpoint: String::new(),
            model: String::new(),
            api_key_env: String::new(),
            timeout: Duration::from_secs(60),
            temperature: 0.0,
            max_reply_bytes: 1 << 20,
            replay: std::env::var_os("KILN_LLM_REPLAY").map(PathBuf::from),
            record: std::env::var_os("KILN_LLM_RECORD").map(PathBuf::from),
        }
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(text: impl Into<String>) -> Message {
        Message {
            role: "system",
            content: text.into(),
        }
    }
    /// A user message.
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: "user",
            content: text.into(),
        }
    }
    /// An assistant message (a reply fed back).
    pub fn assistant(text: impl Into<String>) -> Message {
        Message {
            role: "assistant",
            content: text.into(),
        }
    }
}

/// A model's reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The assistant's text.
    pub content: String,
    /// The model that answered (as the server names it).
    pub model: String,
    /// Wall time of the exchange.
    pub ms: u64,
    /// Whether it came from a recording.
    pub replayed: bool,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// No endpoint or model is configured.
    #[error(
        "no LLM is configured: set [llm] provider = \"openai-compatible\", endpoint and model in agent_config.toml (see docs/llm.md)"
    )]
    NotConfigured,
    /// Nothing answers at the endpoint.
    #[error(
        "nothing answers at {endpoint} ({why}): is the server running, and is the endpoint right?"
    )]
    Refused {
        /// The endpoint.
        endpoint: String,
        /// The transport's words.
        why: String,
    },
    /// The server refused the key (or its absence).
    #[error("the server refused the request ({status}): check the API key in ${key_env}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The variable the key is read from.
        key_env: String,
    },
    /// Too many requests.
    #[error("the server is rate-limiting requests (429){}", retry_after.map_or(String::new(), |s| format!("; it asks to retry after {s} s")))]
    RateLimited {
        /// `Retry-After`, in seconds, when given.
        retry_after: Option<u64>,
    },
    /// Another HTTP error.
    #[error("the server answered {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// No answer in time.
    #[error("no answer within {ms} ms (timeout_ms in [llm])")]
    Timeout {
        /// The limit.
        ms: u64,
    },
    /// A reply larger than allowed.
    #[error("the reply is larger than max_reply_bytes = {limit}")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A streamed reply (server-sent events) when none was asked for.
    #[error("the server streamed its reply (text/event-stream) though no stream was asked for")]
    Streamed,
    /// A body that is not an OpenAI-compatible chat completion.
    #[error("not an OpenAI-compatible chat completion: {0}")]
    NotOpenAi(String),
    /// Replay asked for an exchange that was never recorded.
    #[error(
        "KILN_LLM_REPLAY={dir}: no recorded exchange for this request ({key}); record one with KILN_LLM_RECORD"
    )]
    NotRecorded {
        /// The directory.
        dir: String,
        /// The request's hash.
        key: String,
    },
    /// Anything else the transport reports.
    #[error("talking to the server failed: {0}")]
    Transport(String),
}

/// A provider over one configuration.
pub struct Provider {
    config: Config,
    agent: ureq::Agent,
}

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

impl Provider {
    /// A provider for `config`.
    pub fn new(config: Config) -> Provider {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Provider { config, agent }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The request body for `messages` (what is hashed for replay; it holds no key).
    pub fn request(&self, messages: &[Message]) -> Json {
        json!({
            "model": self.config.model,
            "temperature": self.config.temperature,
            "stream": false,
            "messages": messages
                .iter()
                .map(|m| json!({"role": m.role, "content": m.content}))
                .collect::<Vec<_>>(),
        })
    }

    /// The hash a request is recorded under.
    pub fn key(request: &Json) -> String {
        sha2::Sha256::digest(request.to_string().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// One chat completion.
    pub fn chat(&self, messages: &[Message]) -> Result<Reply, LlmError> {
        let request = self.request(messages);
        let key = Self::key(&request);
        if let Some(dir) = &self.config.replay {
            return replay(dir, &key);
        }
        if self.config.endpoint.is_empty() || self.config.model.is_empty() {
            return Err(LlmError::NotConfigured);
        }
        let started = Instant::now();
        let body = self.post(&request)?;
        let reply = parse(&body, started.elapsed().as_millis() as u64)?;
        if let Some(dir) = &self.config.record {
            record(dir, &key, &request, &body)?;
        }
        Ok(reply)
    }

    fn post(&self, request: &Json) -> Result<String, LlmError> {
        let url = format!(
            "{}/v1/chat/completions",
            self.config.endpoint.trim_end_matches('/')
        );
        let mut req = self
            .agent
            .post(&url)
            .header("content-type", "application/json");
        if !self.config.api_key_env.is_empty()
            && let Ok(key) = std::env::var(&self.config.api_key_env)
        {
            req = req.header("authorization", &format!("Bearer {key}"));
        }
        let timeout_ms = self.config.timeout.as_millis() as u64;
        let mut resp = req.send(request.to_string()).map_err(|e| match e {
            ureq::Error::Timeout(_) => LlmError::Timeout { ms: timeout_ms },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                LlmError::Refused {
                    endpoint: self.config.endpoint.clone(),
                    why: "connection refused".into(),
                }
            }
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                LlmError::Timeout { ms: timeout_ms }
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => LlmError::Refused {
                endpoint: self.config.endpoint.clone(),
                why: e.to_string(),
            },
            other => LlmError::Transport(other.to_string()),
        })?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(len) = header("content-length").and_then(|v| v.parse::<u64>().ok())
            && len > self.config.max_reply_bytes
        {
            return Err(LlmError::TooLarge {
                limit: self.config.max_reply_bytes,
            });
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.config.max_reply_bytes)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => LlmError::TooLarge {
                    limit: self.config.max_reply_bytes,
                },
                ureq::Error::Timeout(_) => LlmError::Timeout { ms: timeout_ms },
                other => LlmError::Transport(other.to_string()),
            })?;
        match status {
            200..=299 => {}
            401 | 403 => {
                return Err(LlmError::Unauthorized {
                    status,
                    key_env: self.config.api_key_env.clone(),
                });
            }
            429 => return Err(LlmError::RateLimited { retry_after }),
            _ => {
                return Err(LlmError::Status {
                    status,
                    body: clip(body.trim(), 200),
                });
            }
        }
        if content_type.starts_with("text/event-stream") || body.trim_start().starts_with("data:") {
            return Err(LlmError::Streamed);
        }
        Ok(body)
    }
}

/// The assistant's text and the model's name from a chat completion body.
pub fn parse(body: &str, ms: u64) -> Result<Reply, LlmError> {
    let v: Json = serde_json::from_str(body).map_err(|e| {
        LlmError::NotOpenAi(format!("the body is not JSON ({e}): {}", clip(body, 80)))
    })?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Json::as_str)
        .ok_or_else(|| {
            LlmError::NotOpenAi(format!(
                "no choices[0].message.content in {}",
                clip(&v.to_string(), 120)
            ))
        })?;
    Ok(Reply {
        content: content.to_string(),
        model: v
            .get("model")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
        ms,
        replayed: false,
    })
}

fn replay(dir: &std::path::Path, key: &str) -> Result<Reply, LlmError> {
    let path = dir.join(format!("{key}.json"));
    let text = std::fs::read_to_string(&path).map_err(|_| LlmError::NotRecorded {
        dir: dir.display().to_string(),
        key: key.to_string(),
    })?;
    let v: Json = serde_json::from_str(&text)
        .map_err(|e| LlmError::NotOpenAi(format!("{}: {e}", path.display())))?;
    let body = v.get("reply").map(|r| r.to_string()).unwrap_or_default();
    let mut reply = parse(&body, 0)?;
    reply.replayed = true;
    Ok(reply)
}

fn record(dir: &std::path::Path, key: &str, request: &Json, body: &str) -> Result<(), LlmError> {
    let reply: Json = serde_json::from_str(body).unwrap_or(Json::Null);
    std::fs::create_dir_all(dir)
        .and_then(|()| {
            std::fs::write(
                dir.join(format!("{key}.json")),
                serde_json::to_string_pretty(&json!({"request": request, "reply": reply}))
                    .unwrap_or_default(),
            )
        })
        .map_err(|e| LlmError::Transport(format!("recording in {}: {e}", dir.display())))
}
