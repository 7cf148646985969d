//! The backend (`podmirror serve`): the REST API of the API contract (docs/architecture.md) with bearer
//! tokens, roles and orgs ([`auth`]), live state from a pod watch
//! ([`cache`]), the hash-chained audit log and settings of
//! `podmirror-store`, a watcher that diagnoses pods as they start failing
//! ([`watcher`]), an OpenAPI document generated from the code
//! ([`openapi`]), `/healthz`, `/readyz`, `/metrics`, and a request id on
//! every answer. Mirrors are deployed and fixes applied by the same service
//! code the CLI runs (`podmirror-kube::deploy`, `::fixes`).

pub mod api;
pub mod assets;
pub mod auth;
pub mod cache;
pub mod config;
pub mod error;
pub mod live;
mod metrics;
pub mod names;
pub mod openapi;
pub mod pods;
pub mod views;
pub mod watcher;

use crate::auth::{Limiter, RequestId};
use crate::error::ApiError;
use axum::Router;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::{HeaderValue, StatusCode};
use podmirror_store::{Role, Store};
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shortest mirror TTL the setting and requests accept, in seconds.
pub const MIN_TTL: u64 = 30;
/// The longest.
pub const MAX_TTL: u64 = 3600;
/// The mirror TTL until an admin sets another.
pub const DEFAULT_TTL: u64 = 180;
/// The setting that keeps it.
pub const TTL_SETTING: &str = "mirror_ttl_seconds";
/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// What every handler shares.
pub struct AppState {
    /// Diagnoses, tokens, settings, audit.
    pub store: Store,
    /// The cluster, as the server's service account.
    pub client: kube::Client,
    /// Orgs and limits.
    pub config: config::Config,
    /// Every pod, from a watch.
    pub pods: cache::PodCache,
    /// Per-token rate limits.
    pub limiter: Limiter,
    /// Tokens recognised lately.
    pub known_tokens: auth::KnownTokens,
    /// The optional LLM for diagnoses.
    pub llm: Option<podmirror_ai::LlmConfig>,
    /// How old a diagnosis may be and still be served.
    pub window: Duration,
    /// The API server's clock.
    pub clock: Mutex<podmirror_kube::clock::ServerClock>,
    /// Whether this replica's reaper leads (set by the reaper's election).
    pub reaper_leading: tokio::sync::watch::Sender<bool>,
    /// Moves whenever this server keeps a diagnosis or a verdict, so the
    /// live lists show it at once.
    pub diagnoses: tokio::sync::watch::Sender<u64>,
    /// Workloads with no pod to say what is wrong (the watcher's sweep).
    pub stuck: std::sync::RwLock<Vec<watcher::Stuck>>,
    /// Ready pods whose traffic tap sees them answer errors (the watcher's
    /// sweep), by namespace and name: failing, though Kubernetes says not.
    pub answering_errors: std::sync::RwLock<std::collections::BTreeSet<(String, String)>>,
    metrics: metrics::Metrics,
}

impl AppState {
    /// State over a store, a cluster client and a config; starts the pod
    /// watch and the clock tracking.
    pub fn new(
        store: Store,
        client: kube::Client,
        config: config::Config,
        llm: Option<podmirror_ai::LlmConfig>,
    ) -> Arc<AppState> {
        let pods = cache::PodCache::start(client.clone());
        let state = Arc::new(AppState {
            store,
            client,
            config,
            pods,
            limiter: Limiter::default(),
            known_tokens: Default::default(),
            llm,
            window: Duration::from_secs(15 * 60),
            clock: Mutex::new(Default::default()),
            reaper_leading: tokio::sync::watch::Sender::new(false),
            diagnoses: tokio::sync::watch::Sender::new(0),
            stuck: Default::default(),
            answering_errors: Default::default(),
            metrics: Default::default(),
        });
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            let mut first = true;
            while let Some(s) = weak.upgrade() {
                let mut clock = s
                    .clock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let read = if first {
                    clock.calibrate(&s.client, 4).await
                } else {
                    clock.observe(&s.client).await
                };
                match read {
                    Ok(()) => {
                        first = false;
                        *s.clock
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = clock;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the API server's clock"),
                }
                drop(s);
                tokio::time::sleep(Duration::from_secs(if first { 2 } else { 30 })).await;
            }
        });
        state
    }

    /// Makes the first admin token when there is none: the given one
    /// (`PODMIRROR_ADMIN_TOKEN`), else a new one, returned to be shown once.
    pub async fn bootstrap(&self, given: Option<&str>) -> Result<Option<String>, ApiError> {
        if self.store.has_tokens().await.map_err(ApiError::store)? {
            return Ok(None);
        }
        let org = self.config.orgs[0].name.clone();
        let now = jiff::Timestamp::now();
        match given {
            Some(token) => {
                self.store
                    .import_token(token, "admin", Role::Admin, &org, now)
                    .await
                    .map_err(ApiError::store)?;
                Ok(None)
            }
            None => Ok(Some(
                self.store
                    .create_token("admin", Role::Admin, &org, now)
                    .await
                    .map_err(ApiError::store)?,
            )),
        }
    }
}

/// A JSON body, with errors in the API's shape (400 for bad JSON, 413 for
/// a body over [`MAX_BODY`]). An empty body reads as JSON `null`, so
/// `Body<Option<T>>` makes the body optional.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Body<T>, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body is larger than {} KiB", MAX_BODY / 1024),
                )
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(Body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not the JSON this route takes: {e} (see /api/openapi.json)"
            ))
        })
    }
}

/// A query string, with errors in the API's shape.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Q<T>, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Q(q.0))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the query string does not parse: {} (see /api/openapi.json)",
                    e.body_text()
                ))
            })
    }
}

/// A request id the caller sent, if it is a sane one, else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_string)
        // Not a secret: unique is enough.
        .unwrap_or_else(|| format!("req-{:016x}", fastrand::u64(..)))
}

/// Gives every request an id (also the `x-request-id` answer header) and
/// logs it — method, path, status, time; never a header's value.
async fn request_layer(mut req: Request, next: Next) -> Response {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// Authenticates every routed request that needs a token and checks the
/// role the operation table gives its route, before the body is read; a
/// refusal is audited. The fix policy, which depends on the org, is the
/// handler's.
async fn auth_layer(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let op = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| openapi::find(req.method(), m.as_str()));
    let Some((op, needed)) = op.and_then(|o| o.least_role().map(|r| (o, r))) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let caller = match auth::Caller::authenticate(&parts, &s).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = caller.require(needed, op.action()) {
        let outcome = format!("refused: {}", e.message);
        if let Err(failed) = s
            .audit(
                &caller,
                op.action(),
                parts.uri.path(),
                &crate::api::Sent::default(),
                &outcome,
            )
            .await
        {
            return failed.into_response();
        }
        return e.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// Counts requests per route for `/metrics`.
async fn metrics_layer(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    s.metrics.observe(
        &route,
        &method,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    if !s.pods.ready() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the pod watch has not synced yet",
        )
        .into_response();
    }
    if let Err(e) = s.store.setting(TTL_SETTING).await {
        return ApiError::store(e).into_response();
    }
    "ok\n".into_response()
}

async fn metrics_text(State(s): State<Arc<AppState>>) -> Response {
    let (pods, mirrors) = (s.pods.len(), s.pods.mirror_count());
    let body = s.metrics.render(&[
        (
            "podmirror_pods_watched",
            "Pods in the watch cache.",
            pods as f64,
        ),
        (
            "podmirror_mirrors_active",
            "Mirrors in the cluster.",
            mirrors as f64,
        ),
    ]);
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| openapi::document().to_string());
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The dashboard's files for GET and HEAD outside `/api`, else 404 in the
/// API's shape.
async fn no_route(req: Request) -> Response {
    let path = req.uri().path();
    let head = req.method() == http::Method::HEAD;
    if (head || req.method() == http::Method::GET)
        && !path.starts_with("/api/")
        && let Some(r) = assets::serve(path, req.headers(), head)
    {
        return r;
    }
    ApiError::not_found(format!(
        "no route {} {}; /api/openapi.json lists the API's routes, and / serves the dashboard",
        req.method(),
        path
    ))
    .into_response()
}

/// The whole API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/auth/me", get(pods::me))
        .route("/api/pods/failing", get(api::failing_pods))
        .route("/api/pods/failing/events", get(live::failing_events))
        .route("/api/pods/{pod_id}", get(pods::pod_detail))
        .route("/api/pods/{pod_id}/logs", get(pods::pod_logs))
        .route("/api/traffic/{pod_id}", get(pods::pod_traffic))
        .route(
            "/api/diagnosis/{pod}",
            get(api::get_diagnosis).post(api::post_diagnosis),
        )
        .route("/api/fix/{pod}/apply", post(api::apply_fix))
        .route("/api/mirror/preview/{pod_id}", post(api::preview))
        .route("/api/mirror/deploy/{pod_id}", post(api::deploy_mirror))
        .route("/api/mirror/status/{mirror_id}", get(api::mirror_status))
        .route(
            "/api/mirror/status/{mirror_id}/events",
            get(api::mirror_events),
        )
        .route("/api/mirror/{mirror_id}", delete(api::delete_mirror))
        .route("/api/mirror/{mirror_id}/extend", post(api::extend_mirror))
        .route("/api/mirror/active", get(api::active_mirrors))
        .route("/api/mirror/active/events", get(live::active_events))
        .route(
            "/api/admin/settings/mirror-ttl",
            get(api::get_ttl).put(api::put_ttl),
        )
        .route("/api/audit", get(api::audit_log))
        .route("/api/audit/verify", get(api::audit_verify))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth_layer,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics_layer,
        ))
        .fallback(no_route)
        .layer(axum::middleware::from_fn(request_layer))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
