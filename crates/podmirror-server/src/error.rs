//! API errors: a status and `{error, message}`, the message saying what was
//! wrong and what to do.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use podmirror_kube::KubeError;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// A stable code (`not_found`, `forbidden`, …).
    pub error: &'static str,
    /// For people.
    pub message: String,
    /// The fields the cluster refused, when it named them.
    pub causes: Vec<crate::views::Cause>,
}

impl ApiError {
    /// An error of `status` with a code and message.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422: the request is well-formed but its values are not acceptable.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 500, for the store.
    pub fn store(e: podmirror_store::StoreError) -> ApiError {
        match e {
            podmirror_store::StoreError::Invalid(m) => Self::invalid(m),
            other => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("{other}; try again, and check the server's database"),
            ),
        }
    }

    /// Whether this refuses the caller (for the audit log).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        )
    }
}

impl From<KubeError> for ApiError {
    fn from(e: KubeError) -> ApiError {
        let message = e.to_string();
        let causes = match &e {
            KubeError::Api { causes, .. } => causes
                .iter()
                .map(|c| crate::views::Cause {
                    field: c.field.clone(),
                    message: c.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut out = match &e {
            KubeError::NotFound { .. } | KubeError::NoMirror(_) => Self::not_found(message),
            KubeError::Target(_) | KubeError::NotADeployment(_) | KubeError::Core(_) => {
                Self::invalid(message)
            }
            KubeError::CannotApply(_) => Self::new(StatusCode::CONFLICT, "cannot_apply", message),
            KubeError::ScaledDown { .. } => Self::new(StatusCode::CONFLICT, "conflict", message),
            KubeError::Api { code, .. } => match *code {
                404 => Self::not_found(message),
                409 => Self::new(StatusCode::CONFLICT, "conflict", message),
                400 | 422 => Self::invalid(message),
                403 => Self::new(
                    StatusCode::FORBIDDEN,
                    "cluster_forbidden",
                    forbidden(&message),
                ),
                429 | 503 | 504 => Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster_unavailable",
                    format!("{message}; try again"),
                ),
                _ => Self::new(StatusCode::BAD_GATEWAY, "cluster_error", message),
            },
            KubeError::Transport { .. } | KubeError::CertificateVersion { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "cluster_unreachable",
                format!("{message}; try again"),
            ),
        };
        out.causes = causes;
        out
    }
}

/// The API server's refusal of podmirror's own ServiceAccount, with the
/// permission it lacks and where the chart grants it.
fn forbidden(message: &str) -> String {
    // kube-apiserver: `User "…" cannot create resource "pods" in API group "" in the namespace "shop"`.
    let quoted = |rest: &str| {
        rest.strip_prefix('"')?
            .split('"')
            .next()
            .map(str::to_string)
    };
    let wanted = message.split_once(" cannot ").and_then(|(_, rest)| {
        let (verb, rest) = rest.split_once(" resource ")?;
        let resource = quoted(rest)?;
        let group = rest
            .split_once(" in API group ")
            .and_then(|(_, g)| quoted(g))
            .filter(|g| !g.is_empty());
        Some((verb.to_string(), resource, group))
    });
    let grant = "the Helm chart's ClusterRole grants every permission podmirror uses (deploy/helm/podmirror/templates/rbac.yaml; `helm upgrade` puts a trimmed one back)";
    match wanted {
        Some((verb, resource, group)) => {
            let resource = match group {
                Some(g) => format!("{resource}.{g}"),
                None => resource,
            };
            format!("{message}. podmirror's ServiceAccount needs `{verb}` on `{resource}`: {grant}")
        }
        None => format!("{message}. podmirror's ServiceAccount lacks a permission: {grant}"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(if self.causes.is_empty() {
                json!({"error": self.error, "message": self.message})
            } else {
                json!({"error": self.error, "message": self.message, "causes": self.causes})
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_the_service_account_names_the_permission_and_the_chart() {
        let text = forbidden(
            r#"pods is forbidden: User "system:serviceaccount:podmirror:podmirror" cannot create resource "pods" in API group "" in the namespace "shop""#,
        );
        assert!(text.contains("needs `create` on `pods`"), "{text}");
        assert!(
            text.contains("deploy/helm/podmirror/templates/rbac.yaml"),
            "{text}"
        );
        let text = forbidden(
            r#"leases.coordination.k8s.io "x" is forbidden: User "u" cannot patch resource "leases" in API group "coordination.k8s.io" in the namespace "shop""#,
        );
        assert!(
            text.contains("needs `patch` on `leases.coordination.k8s.io`"),
            "{text}"
        );
        let text = forbidden("forbidden");
        assert!(text.contains("lacks a permission"), "{text}");
    }
}
