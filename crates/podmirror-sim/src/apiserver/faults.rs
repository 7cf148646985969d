//! Fault injection for reliability tests: added latency, an error rate, 409s on
//! writes, and dropped watch connections, settable at start and at run time.

use crate::error::ApiError;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, Uri};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Faults currently injected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Delay added before every resource request.
    #[serde(with = "millis", rename = "latencyMillis")]
    pub latency: Duration,
    /// Fraction (0..=1) of resource requests answered with `error_code`.
    pub error_rate: f64,
    /// Status of injected errors: 500, 503 or 429.
    pub error_code: u16,
    /// Fraction (0..=1) of writes answered with 409 Conflict.
    pub conflict_rate: f64,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl FaultConfig {
    /// Checks rates and codes; the error says what to change.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("errorRate", self.error_rate),
            ("conflictRate", self.conflict_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "{name} must be between 0 and 1 (a fraction of requests), got {rate}"
                ));
            }
        }
        if self.error_rate > 0.0 && !matches!(self.error_code, 500 | 503 | 429) {
            return Err(format!(
                "errorCode must be 500, 503 or 429, got {}",
                self.error_code
            ));
        }
        if self.latency > Duration::from_secs(60) {
            return Err(
                "latencyMillis above 60000 would stall every client; use at most 60000".into(),
            );
        }
        Ok(())
    }
}

/// `GET /podmirror.dev/faults`: the injected faults.
pub async fn get_faults(State(sim): State<crate::Sim>) -> Response {
    axum::Json(sim.faults.get()).into_response()
}

/// `PUT /podmirror.dev/faults`: replaces the injected faults (JSON body like the GET answer).
pub async fn put_faults(State(sim): State<crate::Sim>, body: axum::body::Bytes) -> Response {
    let cfg: FaultConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return ApiError::bad_request(format!("fault settings: {e}; send JSON like {{\"latencyMillis\": 50, \"errorRate\": 0.1, \"errorCode\": 503, \"conflictRate\": 0}}")).into_response(),
    };
    if let Err(e) = cfg.validate() {
        return ApiError::bad_request(format!("fault settings: {e}")).into_response();
    }
    sim.faults.set(cfg.clone());
    axum::Json(cfg).into_response()
}

/// `POST /podmirror.dev/faults/drop-watches`: closes every open watch.
pub async fn drop_watches(State(sim): State<crate::Sim>) -> Response {
    sim.faults.drop_watches();
    (http::StatusCode::NO_CONTENT, "").into_response()
}

/// Shared fault state.
pub struct Faults {
    config: Mutex<FaultConfig>,
    drops: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            config: Mutex::new(FaultConfig::default()),
            drops: watch::channel(0).0,
        }
    }
}

impl Faults {
    /// Replaces the injected faults.
    pub fn set(&self, config: FaultConfig) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// The injected faults.
    pub fn get(&self) -> FaultConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Closes every open watch connection now.
    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever watches must be dropped.
    pub fn watch_drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    /// Applies latency and maybe answers with an injected failure.
    pub async fn before_request(&self, method: &Method, uri: &Uri) -> Option<Response> {
        let cfg = self.get();
        if cfg == FaultConfig::default() {
            return None;
        }
        if !cfg.latency.is_zero() {
            tokio::time::sleep(cfg.latency).await;
        }
        if cfg.error_rate > 0.0 && crate::meta::with_rng(|r| r.f64()) < cfg.error_rate {
            let msg = format!("injected fault on {method} {}", uri.path());
            let err = match cfg.error_code {
                503 => ApiError::unavailable(msg),
                429 => ApiError::too_many_requests(msg),
                _ => ApiError::internal(msg),
            };
            return Some(err.into_response());
        }
        let write = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if write
            && cfg.conflict_rate > 0.0
            && crate::meta::with_rng(|r| r.f64()) < cfg.conflict_rate
        {
            let mut e = ApiError::internal("");
            e.code = 409;
            e.reason = "Conflict";
            e.message = format!(
                "Operation cannot be fulfilled on {}: the object has been modified; please apply your changes to the latest version and try again (injected)",
                uri.path()
            );
            return Some(e.into_response());
        }
        None
    }
}
