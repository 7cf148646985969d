//! Where the LLM is: `PODMIRROR_LLM_URL`, `PODMIRROR_LLM_MODEL`,
//! `PODMIRROR_LLM_API_KEY`, `PODMIRROR_LLM_TIMEOUT` (seconds), each over the
//! `llm:` section of the config file (`PODMIRROR_CONFIG`, else
//! `$XDG_CONFIG_HOME/podmirror/config.yaml`).

use crate::AiError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// How the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST …/chat/completions` (OpenAI, vLLM, LiteLLM, Ollama's `/v1`).
    OpenAi,
    /// Ollama's own `POST /api/chat`.
    Ollama,
}

/// A configured LLM endpoint.
#[derive(Clone, PartialEq)]
pub struct LlmConfig {
    /// The URL requests go to.
    pub endpoint: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// The model name.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed.
        f.debug_struct("LlmConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The `llm:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSection {
    url: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    #[serde(default)]
    llm: Option<FileSection>,
}

/// Seconds to wait for an answer when nothing says otherwise.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

impl LlmConfig {
    /// The configuration from the environment and the config file; None
    /// when no URL is configured (the LLM is optional).
    pub fn from_env() -> Result<Option<LlmConfig>, AiError> {
        let path = std::env::var_os("PODMIRROR_CONFIG")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                    .map(|d| d.join("podmirror").join("config.yaml"))
            });
        let file = match &path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => Some((p.display().to_string(), text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(AiError::Config(format!("cannot read {}: {e}", p.display())));
                }
            },
            None => None,
        };
        Self::from_sources(
            |k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
        )
    }

    /// The configuration from `env` lookups over a config file's text.
    pub fn from_sources(
        env: impl Fn(&str) -> Option<String>,
        file: Option<(&str, &str)>,
    ) -> Result<Option<LlmConfig>, AiError> {
        let section = match file {
            Some((path, text)) if !text.trim().is_empty() => {
                serde_saphyr::from_str::<FileConfig>(text)
                    .map_err(|e| AiError::Config(format!("{path}: {e}")))?
                    .llm
                    .unwrap_or_default()
            }
            _ => FileSection::default(),
        };
        let Some(url) = env("PODMIRROR_LLM_URL").or(section.url) else {
            return Ok(None);
        };
        let model = env("PODMIRROR_LLM_MODEL").or(section.model).ok_or_else(|| {
            AiError::Config(
                "an LLM URL is set but no model: set PODMIRROR_LLM_MODEL (e.g. llama3.1) or llm.model in the config file".into(),
            )
        })?;
        let timeout = match env("PODMIRROR_LLM_TIMEOUT") {
            Some(t) => t
                .trim()
                .trim_end_matches('s')
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .ok_or_else(|| {
                    AiError::Config(format!(
                        "PODMIRROR_LLM_TIMEOUT is {t:?}; give seconds, e.g. 30"
                    ))
                })?,
            None => section.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS) as f64,
        };
        let (endpoint, protocol) = endpoint(&url)?;
        Ok(Some(LlmConfig {
            endpoint,
            protocol,
            model,
            api_key: env("PODMIRROR_LLM_API_KEY").or(section.api_key),
            timeout: Duration::from_secs_f64(timeout),
        }))
    }
}

/// The request URL and protocol for a configured URL: a base such as
/// `https://api.openai.com/v1` or `http://localhost:11434/v1` gets
/// `/chat/completions`; a URL ending in `/api/chat` is Ollama's own API.
fn endpoint(url: &str) -> Result<(String, Protocol), AiError> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(AiError::Config(format!(
            "PODMIRROR_LLM_URL is {url:?}; give an http:// or https:// URL such as http://localhost:11434/v1"
        )));
    }
    if url.ends_with("/api/chat") {
        Ok((url.to_string(), Protocol::Ollama))
    } else if url.ends_with("/chat/completions") {
        Ok((url.to_string(), Protocol::OpenAi))
    } else {
        Ok((format!("{url}/chat/completions"), Protocol::OpenAi))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn no_url_means_no_llm() {
        assert!(LlmConfig::from_sources(env(&[]), None).unwrap().is_none());
    }

    #[test]
    fn the_environment_wins_over_the_file_and_urls_get_their_path() {
        let file = "llm:\n  url: http://localhost:11434/api/chat\n  model: llama3.1\n  timeout_seconds: 5\n";
        let c = LlmConfig::from_sources(env(&[]), Some(("c.yaml", file)))
            .unwrap()
            .unwrap();
        assert_eq!(c.protocol, Protocol::Ollama);
        assert_eq!(c.timeout, Duration::from_secs(5));
        let c = LlmConfig::from_sources(
            env(&[
                ("PODMIRROR_LLM_URL", "https://api.example.com/v1/"),
                ("PODMIRROR_LLM_API_KEY", "sk-123"),
                ("PODMIRROR_LLM_TIMEOUT", "2.5"),
            ]),
            Some(("c.yaml", file)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://api.example.com/v1/chat/completions");
        assert_eq!(c.protocol, Protocol::OpenAi);
        assert_eq!(c.model, "llama3.1");
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert!(!format!("{c:?}").contains("sk-123"));
    }

    #[test]
    fn incomplete_or_wrong_settings_say_what_to_set() {
        let e = LlmConfig::from_sources(env(&[("PODMIRROR_LLM_URL", "http://x/v1")]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("PODMIRROR_LLM_MODEL"), "{e}");
        let e = LlmConfig::from_sources(
            env(&[
                ("PODMIRROR_LLM_URL", "localhost:11434"),
                ("PODMIRROR_LLM_MODEL", "m"),
            ]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http://"), "{e}");
        let e = LlmConfig::from_sources(env(&[]), Some(("c.yaml", "llm:\n  uri: x\n")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.yaml") && e.contains("uri"), "{e}");
        let e = LlmConfig::from_sources(
            env(&[
                ("PODMIRROR_LLM_URL", "http://x/v1"),
                ("PODMIRROR_LLM_MODEL", "m"),
                ("PODMIRROR_LLM_TIMEOUT", "soon"),
            ]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("PODMIRROR_LLM_TIMEOUT"), "{e}");
    }
}
