//! The request log: every HTTP request clients made of the sim (method, path
//! and query, status, user agent), numbered, the last few thousand kept — what
//! the API server's httplog shows, readable at `/podmirror.dev/requests` and
//! printed with `PODMIRROR_LOG=podmirror_sim::requests=info`.

use crate::Sim;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many requests the log keeps.
pub const KEEP: usize = 10_000;

/// One logged request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logged {
    /// Position in the log, from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Response status.
    pub status: u16,
    /// The client's `User-Agent`, if any.
    pub user_agent: String,
    /// Its `Impersonate-*` headers as `name: value` (a real API server acts
    /// as that user when the caller may impersonate).
    pub impersonate: Vec<String>,
}

/// The last [`KEEP`] requests.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<(u64, VecDeque<Logged>)>,
}

impl RequestLog {
    fn push(
        &self,
        method: String,
        uri: String,
        status: u16,
        user_agent: String,
        impersonate: Vec<String>,
    ) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (seq, entries) = &mut *guard;
        *seq += 1;
        if entries.len() >= KEEP {
            entries.pop_front();
        }
        entries.push_back(Logged {
            seq: *seq,
            method,
            uri,
            status,
            user_agent,
            impersonate,
        });
    }

    /// The kept requests numbered above `after`.
    pub fn after(&self, after: u64) -> Vec<Logged> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.iter().filter(|r| r.seq > after).cloned().collect()
    }

    /// The number of the last request (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

/// Middleware: logs each request once its response status is known. (A
/// watch is logged when its stream starts.)
pub async fn record(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let uri = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.to_string());
    let user_agent = req
        .headers()
        .get(::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let impersonate = req
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("impersonate-"))
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("")))
        .collect();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    if !uri.starts_with("/podmirror.dev/requests") {
        tracing::info!(target: "podmirror_sim::requests", %method, %uri, status, %user_agent);
        sim.requests
            .push(method, uri, status, user_agent, impersonate);
    }
    res
}

/// `GET /podmirror.dev/requests[?after=SEQ]`: the logged requests as JSON.
pub async fn list(State(sim): State<Sim>, Query(q): Query<HashMap<String, String>>) -> Response {
    let after = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    axum::Json(serde_json::json!({
        "last": sim.requests.last_seq(),
        "requests": sim.requests.after(after),
    }))
    .into_response()
}
