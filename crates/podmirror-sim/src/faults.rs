//! Fault injection for reliability tests: added latency, an error rate, 409s on
//! writes, and dropped watch connections, settable at start and at run time.

use crate::error::ApiError;
use axum::response::{IntoResponse, Response};
use http::{Method, Uri};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Faults currently injected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Delay added before every resource request.
    pub latency: Duration,
    /// Fraction (0..=1) of resource requests answered with `error_code`.
    pub error_rate: f64,
    /// Status of injected errors: 500, 503 or 429.
    pub error_code: u16,
    /// Fraction (0..=1) of writes answered with 409 Conflict.
    pub conflict_rate: f64,
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
        if cfg.error_rate > 0.0 && fastrand::f64() < cfg.error_rate {
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
        if write && cfg.conflict_rate > 0.0 && fastrand::f64() < cfg.conflict_rate {
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
