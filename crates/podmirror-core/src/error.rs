//! Errors of the pure domain: bad user input, said so that the user knows what to do.

/// What went wrong building or reading a mirror.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A TTL that does not parse or lies outside the allowed window.
    #[error("invalid TTL {input:?}: {reason}; use a value from 30s to 60m such as 90s, 3m or 1h")]
    Ttl {
        /// What the user gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A TTL extension that cannot be made.
    #[error("cannot extend mirror {id}: {reason}")]
    Extend {
        /// The mirror id.
        id: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A `--set-image`, `--set-env` or similar argument that does not parse.
    #[error("invalid {flag} {input:?}: expected {expected}")]
    ChangeSyntax {
        /// The flag, e.g. `--set-image`.
        flag: &'static str,
        /// What the user gave.
        input: String,
        /// The expected form.
        expected: &'static str,
    },
    /// A change names a container the pod does not have.
    #[error("pod {pod} has no container named {container:?} (containers: {known})")]
    NoSuchContainer {
        /// The source pod.
        pod: String,
        /// The container asked for.
        container: String,
        /// The containers it has, comma-separated.
        known: String,
    },
    /// A JSON Patch that does not apply to the pod spec.
    #[error("the patch does not apply to the pod spec of {pod}: {reason}")]
    Patch {
        /// The source pod.
        pod: String,
        /// What failed.
        reason: String,
    },
    /// A manifest given with `-f` that is not a Pod.
    #[error("the manifest is not a usable Pod: {0}")]
    Manifest(String),
    /// An object that is not a pod (or pod template) where one was expected.
    #[error("not a pod: {0}")]
    NotAPod(String),
}
