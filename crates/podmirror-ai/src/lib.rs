//! The optional LLM of the diagnosis. The rules answer first; when an
//! OpenAI-compatible chat-completions endpoint (or Ollama) is configured,
//! [`consult`] shows it the pod's context with every Secret and env value
//! redacted, and takes its answer only if it is JSON of the expected shape,
//! touches only the PodSpec paths a fix may touch, and yields a mirror the
//! API server accepts in a dry run. Otherwise the rules' answer stands and
//! the result says why.

mod answer;
mod chat;
mod config;
mod error;
mod prompt;

pub use answer::{ALLOWED_FIELDS, check_paths, read_answer};
pub use chat::complete;
pub use config::{LlmConfig, Protocol};
pub use error::AiError;
pub use prompt::{Message, messages, redacted_context};

use podmirror_core::changes::Change;
use podmirror_core::diagnosis::{self, Context, Finding};
use podmirror_core::mirror::{self, MirrorOptions};

/// What consulting the LLM gave.
#[derive(Debug, Clone)]
pub struct Consulted {
    /// The finding to report: the LLM's when it passed every check, else the
    /// rules' (None when neither explains the pod).
    pub finding: Option<Finding>,
    /// Why the LLM's answer was not used, when it was not.
    pub note: Option<String>,
}

/// Asks the LLM about `ctx`'s pod, given what the rules found, and checks
/// its answer; any failure (no answer in time, not JSON, a forbidden path, a
/// pod the API server refuses) leaves `rules` standing with a note.
pub async fn consult(
    llm: &LlmConfig,
    client: &kube::Client,
    ctx: &Context,
    rules: Option<Finding>,
) -> Consulted {
    match ask(llm, client, ctx, rules.as_ref()).await {
        Ok(finding) => Consulted {
            finding: Some(finding),
            note: None,
        },
        Err(e) => {
            let stands = if rules.is_some() {
                "the rules' diagnosis stands"
            } else {
                "no rule explains the pod either"
            };
            Consulted {
                finding: rules,
                note: Some(format!("the LLM's answer was not used: {e}; {stands}")),
            }
        }
    }
}

async fn ask(
    llm: &LlmConfig,
    client: &kube::Client,
    ctx: &Context,
    rules: Option<&Finding>,
) -> Result<Finding, AiError> {
    let content = complete(llm, &messages(ctx, rules)).await?;
    let proposal = read_answer(&content)?;
    let finding = diagnosis::proposed(ctx, proposal, "llm");
    if finding.runnable {
        // The change must make a pod the API server accepts: the mirror
        // `podmirror test` would create, checked by a server-side dry run.
        let ops = finding.patch.clone();
        let manifest = mirror::build(
            &ctx.pod,
            &[Change::Patch(ops)],
            &MirrorOptions::default(),
            &mirror::random_suffix(),
        )
        .map_err(|e| AiError::Patch(e.to_string()))?;
        podmirror_kube::mirrors::dry_run(client, &manifest)
            .await
            .map_err(|e| AiError::DryRun(e.to_string()))?;
    }
    Ok(finding)
}
