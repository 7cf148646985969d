//! Why an LLM answer was not used.

/// What went wrong asking the LLM or checking its answer.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// The configuration is incomplete or unreadable.
    #[error("LLM configuration: {0}")]
    Config(String),
    /// The endpoint could not be reached.
    #[error("could not reach the LLM at {url}: {reason}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("the LLM did not answer within {0} s (PODMIRROR_LLM_TIMEOUT)")]
    Timeout(f64),
    /// The endpoint answered with an error status.
    #[error("the LLM endpoint answered HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// The response is not a chat completion.
    #[error("the LLM's response is not a chat completion: {0}")]
    Protocol(String),
    /// The answer is not JSON of the expected shape.
    #[error("the answer is not the JSON asked for ({0})")]
    Shape(String),
    /// The patch touches a path a fix may not touch.
    #[error(
        "the patch touches {path:?}, which a fix may not change (allowed under containers/initContainers: {allowed})"
    )]
    ForbiddenPath {
        /// The offending path.
        path: String,
        /// The allowed container fields.
        allowed: String,
    },
    /// The patch does not apply to the pod.
    #[error("the patch does not apply to the pod: {0}")]
    Patch(String),
    /// The API server refused the patched pod in a dry run.
    #[error("the API server refused the patched pod in a dry run: {0}")]
    DryRun(String),
}
