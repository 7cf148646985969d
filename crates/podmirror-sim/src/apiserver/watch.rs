//! Watch streams: initial events or replay from a resourceVersion, live changes
//! filtered by namespace and selectors, bookmarks, timeouts and 410 Gone.

use crate::Sim;
use crate::cluster::{ListOptions, matches};
use crate::error::ApiError;
use crate::http::{Query, Representation, render_one};
use crate::resources::{self, ResourceId};
use crate::store::{Change, ChangeType, Stored};
use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Default lifetime of a watch when the client gives no timeoutSeconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Filter {
    res: ResourceId,
    ns: Option<String>,
    opts: ListOptions,
}

impl Filter {
    fn selects(&self, obj: &crate::store::Select) -> bool {
        matches(obj, self.opts.labels.as_ref(), self.opts.fields.as_ref())
    }

    /// The event a change becomes for this watcher, if any.
    fn event(&self, c: &Change) -> Option<(&'static str, Arc<Stored>)> {
        if c.resource != self.res {
            return None;
        }
        if let Some(ns) = &self.ns
            && &c.namespace != ns
        {
            return None;
        }
        let now = self.selects(&c.object.select);
        let before = c.previous.as_ref().is_some_and(|p| self.selects(&p.select));
        match c.kind {
            ChangeType::Added => now.then(|| ("ADDED", c.object.clone())),
            ChangeType::Deleted => before.then(|| ("DELETED", c.object.clone())),
            ChangeType::Modified => match (before, now) {
                (true, true) => Some(("MODIFIED", c.object.clone())),
                (false, true) => Some(("ADDED", c.object.clone())),
                (true, false) => Some(("DELETED", c.object.clone())),
                (false, false) => None,
            },
        }
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let json = serde_json::to_vec(object).unwrap_or_default();
    line_bytes(kind, &json)
}

fn line_bytes(kind: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(json);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// One watch line for a stored object in the requested representation.
fn event_line(res: ResourceId, kind: &str, obj: &Stored, repr: Representation) -> Bytes {
    match repr {
        Representation::Object => line_bytes(kind, &obj.json),
        other => line(kind, &render_one(res, &obj.value(), other)),
    }
}

fn bookmark(res: ResourceId, rv: u64, initial_end: bool) -> Value {
    let r = resources::get(res);
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": md})
}

/// Starts a watch and returns the streaming response.
pub fn serve(
    sim: Sim,
    res: ResourceId,
    ns: Option<String>,
    opts: ListOptions,
    q: &Query,
    repr: Representation,
) -> Result<Response, ApiError> {
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let bookmarks = matches!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let send_initial = matches!(
        q.get("sendInitialEvents").map(String::as_str),
        Some("true" | "1")
    );
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    if send_initial && !bookmarks {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![crate::error::Cause::forbidden(
                "allowWatchBookmarks",
                "allowWatchBookmarks required when sendInitialEvents is true",
            )],
        ));
    }
    let filter = Filter { res, ns, opts };

    // Snapshot and subscription under one read lock, so no change falls between them.
    let (rx, initial, start_rv, gone) = {
        let data = sim.cluster.store.read();
        let rx = sim.cluster.store.subscribe();
        let current = data.rv();
        let mut initial: Vec<(&'static str, Arc<Stored>)> = Vec::new();
        let mut gone = None;
        let from: Option<u64> = match rv_param.as_str() {
            "" | "0" => None,
            s => match s.parse::<u64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    return Err(ApiError::bad_request(format!(
                        "resourceVersion: Invalid value: {s:?}: must be an unsigned integer"
                    )));
                }
            },
        };
        match from {
            Some(rv) if !send_initial => {
                if rv < data.oldest_resumable() {
                    gone = Some(format!(
                        "too old resource version: {rv} ({})",
                        data.oldest_resumable()
                    ));
                } else {
                    for c in data.changes_since(rv) {
                        if let Some(ev) = filter.event(&c) {
                            initial.push(ev);
                        }
                    }
                }
            }
            _ => {
                for (_, obj) in data.iter(res, filter.ns.as_deref(), None) {
                    if filter.selects(&obj.select) {
                        initial.push(("ADDED", obj.clone()));
                    }
                }
            }
        }
        (rx, initial, current, gone)
    };

    let (tx, out_rx) = mpsc::channel::<Bytes>(64);
    let initial_end = send_initial;
    tokio::spawn(async move {
        if let Some(msg) = gone {
            let status = ApiError::gone(msg).to_status();
            let _ = tx.send(line("ERROR", &status)).await;
            return;
        }
        for (kind, obj) in &initial {
            if tx
                .send(event_line(filter.res, kind, obj, repr))
                .await
                .is_err()
            {
                return;
            }
        }
        if initial_end {
            let _ = tx
                .send(line("BOOKMARK", &bookmark(filter.res, start_rv, true)))
                .await;
        }
        run_live(rx, tx, filter, start_rv, bookmarks, timeout, repr, sim).await;
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(out_rx);
    let stream = futures::StreamExt::map(stream, Ok::<Bytes, std::io::Error>);
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp.into_response())
}

#[allow(clippy::too_many_arguments)]
async fn run_live(
    mut rx: broadcast::Receiver<Arc<Change>>,
    tx: mpsc::Sender<Bytes>,
    filter: Filter,
    start_rv: u64,
    bookmarks: bool,
    timeout: Duration,
    repr: Representation,
    sim: Sim,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(sim.bookmark_interval());
    tick.tick().await;
    let mut last_rv = start_rv;
    let mut drop_check = sim.faults.watch_drops();
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = drop_check.changed() => return,
            _ = tick.tick(), if bookmarks => {
                let rv = sim.cluster.store.read().rv().max(last_rv);
                if tx.send(line("BOOKMARK", &bookmark(filter.res, rv, false))).await.is_err() {
                    return;
                }
            }
            msg = rx.recv() => match msg {
                Ok(change) => {
                    if change.rv <= last_rv {
                        continue;
                    }
                    last_rv = change.rv;
                    if let Some((kind, obj)) = filter.event(&change)
                        && tx.send(event_line(filter.res, kind, &obj, repr)).await.is_err() {
                            return;
                        }
                }
                // A watcher too slow to keep up is closed; the client resumes or relists.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
