//! Errors of the cluster calls, worded for the person at the terminal.

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The named pod (or workload) does not exist.
    #[error(
        "{kind} {name:?} not found in namespace {namespace:?}; check the name with `kubectl -n {namespace} get {plural}`"
    )]
    NotFound {
        /// `pod`, `deployment`, ...
        kind: String,
        /// Its plural, for the hint.
        plural: String,
        /// The name asked for.
        name: String,
        /// The namespace searched.
        namespace: String,
    },
    /// A target like `cronjob/x` that podmirror cannot mirror.
    #[error(
        "cannot mirror {0:?}: give a pod name, or deployment/NAME, statefulset/NAME, daemonset/NAME, replicaset/NAME or job/NAME"
    )]
    Target(String),
    /// Another live mirror already scaled the Deployment down.
    #[error(
        "deployment {deployment} is already scaled down by mirror {mirror} (created by {created_by})"
    )]
    ScaledDown {
        /// The Deployment.
        deployment: String,
        /// The mirror holding it.
        mirror: String,
        /// Who created that mirror.
        created_by: String,
    },
    /// `--scale-down` on a source not owned by a Deployment.
    #[error("--scale-down works on Deployments only; {0}")]
    NotADeployment(String),
    /// A fix that cannot be applied in place; the text says what to do.
    #[error("{0}")]
    CannotApply(String),
    /// No mirror with this id.
    #[error("no mirror {0:?} found; `podmirror status -A` lists the active mirrors")]
    NoMirror(String),
    /// The API server refused a request.
    #[error("the API server refused to {action}: {message}")]
    Api {
        /// What podmirror was doing.
        action: String,
        /// The server's message.
        message: String,
        /// HTTP status code.
        code: u16,
        /// The fields it refused and why (`spec.containers[0].image`,
        /// "Required value"), when it named them.
        causes: Vec<FieldCause>,
    },
    /// A bad mirror request (TTL, changes, manifest).
    #[error(transparent)]
    Core(#[from] podmirror_core::CoreError),
    /// A client certificate of the kubeconfig is X.509 version 1, which
    /// rustls refuses (kubectl accepts it).
    #[error(
        "cannot talk to the cluster while trying to {action}: the kubeconfig's client certificate is X.509 version 1, which podmirror's TLS library refuses (kubectl accepts it). Issue it again as X.509 v3 (openssl x509 -req … -extfile with basicConstraints=CA:FALSE, keyUsage=digitalSignature,keyEncipherment and extendedKeyUsage=clientAuth), or use a kubeconfig with a token"
    )]
    CertificateVersion {
        /// What podmirror was doing.
        action: String,
    },
    /// The connection or a response failed.
    #[error("talking to the cluster failed while trying to {action}: {source}")]
    Transport {
        /// What podmirror was doing.
        action: String,
        /// The underlying error.
        source: kube::Error,
    },
}

/// One field the API server refused.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCause {
    /// Its path, as the API server writes it; empty when it named none.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl KubeError {
    /// Wraps a kube error met while doing `action`.
    pub fn from_kube(action: impl Into<String>, e: kube::Error) -> KubeError {
        match e {
            kube::Error::Api(s) => KubeError::Api {
                action: action.into(),
                message: s.message.clone(),
                code: s.code,
                causes: s
                    .details
                    .iter()
                    .flat_map(|d| &d.causes)
                    .map(|c| FieldCause {
                        field: c.field.clone(),
                        message: c.message.clone(),
                    })
                    .collect(),
            },
            // kube-rs reports it inside a chain of TLS errors: recognised by
            // rustls' own name for it.
            other if format!("{other:?}").contains("UnsupportedCertVersion") => {
                KubeError::CertificateVersion {
                    action: action.into(),
                }
            }
            other => KubeError::Transport {
                action: action.into(),
                source: other,
            },
        }
    }

    /// The HTTP status the API server answered with, if it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}
