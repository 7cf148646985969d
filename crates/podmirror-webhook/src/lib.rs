//! podmirror's tap injector: an HTTPS admission webhook (AdmissionReview
//! v1) that adds the traffic tap to the pods of opted-in namespaces as a
//! native sidecar, once, never refusing a pod; it makes its own
//! certificates and keeps its MutatingWebhookConfiguration's `caBundle`
//! current.

pub mod certs;
pub mod configuration;
pub mod decide;
pub mod patch;
pub mod review;
mod serve;

pub use serve::{Options, Running, start};

/// What can go wrong running the webhook.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Making or reading certificates.
    #[error("webhook certificate: {0}")]
    Certificate(String),
    /// The listening address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The MutatingWebhookConfiguration.
    #[error("webhook configuration: {0}")]
    Configuration(String),
    /// The API server refused or failed a request.
    #[error("{0}")]
    Kube(String),
}

impl WebhookError {
    fn kube(e: kube::Error) -> WebhookError {
        match &e {
            kube::Error::Api(s) if s.code == 403 => WebhookError::Kube(format!(
                "{}; the webhook needs get and patch on mutatingwebhookconfigurations (create too with --register-url) and get on namespaces — see the chart's rbac.yaml",
                s.message
            )),
            _ => WebhookError::Kube(e.to_string()),
        }
    }
}
