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
                    StatusCode::BAD_GATEWAY,
                    "cluster_forbidden",
                    format!(
                        "{message} (the server's service account lacks this permission; see the chart's Role)"
                    ),
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
