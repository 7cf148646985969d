//! The live lists, as server-sent events a page reads with `fetch` (an
//! EventSource cannot send the bearer token): the failing pods (`snapshot`
//! on connect, then `update` with only the pods that changed) and the
//! active mirrors. They wake on the pod watch and on new diagnoses, not on
//! a timer per client; a short tick refreshes what changes with time alone
//! (a settling mirror's verdict). A token revoked or expired while a stream
//! is open ends it with an `unauthorized` event.

use crate::AppState;
use crate::api::async_stream;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::views::{DiagnosisSummary, FailingPod, MirrorRef, MirrorStatus};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use http::HeaderMap;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

type S = State<Arc<AppState>>;

/// How often a stream sends what changes with time alone.
const TICK: Duration = Duration::from_secs(5);
/// How often an open stream checks that its token still counts.
const RECHECK: Duration = Duration::from_secs(5);
/// How long a stream waits after a pod change for more to come, so a burst
/// of changes makes one update.
const COALESCE: Duration = Duration::from_millis(150);

impl AppState {
    /// The caller's org's pods that are not healthy, with their last
    /// diagnoses and their live mirrors, by namespace and name.
    pub(crate) async fn failing_list(&self, caller: &Caller) -> Result<Vec<FailingPod>, ApiError> {
        let now = jiff::Timestamp::now();
        let mut recent = self
            .store
            .recent(self.window, now)
            .await
            .map_err(ApiError::store)?;
        let server_now = self.server_now();
        let mut mirrors: HashMap<(String, String), Vec<MirrorRef>> = HashMap::new();
        for m in self.pods.mirrors() {
            if m.info.deleting || !caller.org.sees(&m.info.namespace) {
                continue;
            }
            // A chip needs the verdict only, not the whole status.
            let verdict = self.verdict_at(&m.pod, server_now);
            mirrors
                .entry((m.info.namespace.clone(), m.info.source.clone()))
                .or_default()
                .push(MirrorRef {
                    id: m.info.id.clone(),
                    phase: m.info.phase.clone(),
                    verdict: verdict.word().to_string(),
                    expires_at: m.info.expires.map(|e| e.to_string()),
                    ttl_seconds: m.info.ttl_seconds,
                });
        }
        let mut out = Vec::new();
        let answering = self
            .answering_errors
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for p in self.pods.pods() {
            // Ready, yet its tap sees it answer errors: failing all the same.
            let errors = answering.contains(&(p.namespace.clone(), p.name.clone()));
            if p.mirror || (p.healthy && !errors) || p.deleting || !caller.org.sees(&p.namespace) {
                continue;
            }
            let key = (p.namespace.clone(), p.name.clone());
            let saved = recent.remove(&key);
            let mut refs = mirrors.remove(&key).unwrap_or_default();
            refs.sort_by(|a, b| a.id.cmp(&b.id));
            out.push(FailingPod {
                namespace: p.namespace.clone(),
                pod: p.name.clone(),
                pod_id: format!("{}:{}", p.namespace, p.name),
                phase: p.phase.clone(),
                reason: if errors {
                    "ServerErrors".into()
                } else {
                    p.reason.clone()
                },
                reasons: if errors {
                    vec!["ServerErrors".into()]
                } else {
                    p.reasons.clone()
                },
                restarts: p.restarts,
                last_restart_at: p.last_restart_at.clone(),
                ready: p.ready,
                containers: p.containers,
                created_at: p.created_at.clone(),
                owner: p.owner.clone(),
                diagnosis: saved.map(summary),
                mirrors: refs,
            });
        }
        // Workloads with no pod to say what is wrong: a row each, `kind/name`.
        let stuck = self
            .stuck
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for w in stuck.into_iter().filter(|w| caller.org.sees(&w.namespace)) {
            let saved = recent.remove(&(w.namespace.clone(), w.target.clone()));
            out.push(FailingPod {
                pod_id: format!("{}:{}", w.namespace, w.target),
                namespace: w.namespace,
                pod: w.target,
                phase: "NoPods".into(),
                reason: w.reason.clone(),
                reasons: vec![w.reason],
                restarts: 0,
                last_restart_at: None,
                ready: w.pods,
                containers: w.desired,
                created_at: w.created_at,
                owner: Some(w.owner),
                diagnosis: saved.map(summary),
                mirrors: Vec::new(),
            });
        }
        out.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
        Ok(out)
    }

    /// The caller's org's mirrors, by namespace and id.
    pub(crate) fn active_list(&self, caller: &Caller) -> Vec<MirrorStatus> {
        let now = self.server_now();
        let mut out: Vec<MirrorStatus> = self
            .pods
            .mirrors()
            .iter()
            .filter(|m| caller.org.sees(&m.info.namespace))
            .map(|m| self.status_at(&m.pod, &m.info, self.config.mirror_settle_seconds, now))
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.id).cmp(&(&b.namespace, &b.id)));
        out
    }
}

/// A kept diagnosis as the failing list shows it.
fn summary(d: podmirror_store::Saved) -> DiagnosisSummary {
    DiagnosisSummary {
        category: d.finding.category.as_str().into(),
        diagnosis: d.finding.diagnosis,
        confidence_score: d.finding.confidence_score,
        source: d.finding.source,
        verdict: d.verified.map(|(_, verdict)| verdict),
    }
}

fn bearer(headers: &HeaderMap) -> String {
    crate::auth::bearer(headers).unwrap_or_default().to_string()
}

/// Waits for the next reason to look again: a pod change (then a moment
/// for the rest of its burst), a new diagnosis, or the tick.
async fn next_wake(
    pods: &mut tokio::sync::watch::Receiver<u64>,
    diagnoses: &mut tokio::sync::watch::Receiver<u64>,
) {
    tokio::select! {
        r = pods.changed() => {
            if r.is_ok() {
                tokio::time::sleep(COALESCE).await;
            } else {
                tokio::time::sleep(TICK).await;
            }
        }
        r = diagnoses.changed() => {
            if r.is_err() {
                tokio::time::sleep(TICK).await;
            }
        }
        _ = tokio::time::sleep(TICK) => {}
    }
}

/// Ends the stream with `unauthorized` when the token no longer counts;
/// true when it still does.
async fn recheck(
    s: &AppState,
    token: &str,
    last: &mut Instant,
    tx: &tokio::sync::mpsc::Sender<Event>,
) -> bool {
    if last.elapsed() < RECHECK {
        return true;
    }
    *last = Instant::now();
    match crate::auth::still_valid(s, token).await {
        Ok(()) => true,
        Err(e) if e.status == http::StatusCode::UNAUTHORIZED => {
            let body = json!({"error": e.error, "message": e.message});
            let _ = tx
                .send(
                    Event::default()
                        .event("unauthorized")
                        .data(body.to_string()),
                )
                .await;
            false
        }
        // The store is unavailable for a moment: keep serving, look again later.
        Err(_) => true,
    }
}

/// GET /api/pods/failing/events — `snapshot` `{now, pods}` first (and on
/// every reconnection), then `update` `{now, upsert, remove}` with the pods
/// that changed, appeared or went away.
pub async fn failing_events(
    State(s): S,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let first = s.failing_list(&caller).await?;
    let token = bearer(&headers);
    let mut pods_rx = s.pods.changes();
    let mut diagnoses_rx = s.diagnoses.subscribe();
    let stream = async_stream(move |tx| async move {
        let snapshot = json!({"now": s.server_now().to_string(), "pods": first});
        if tx
            .send(
                Event::default()
                    .event("snapshot")
                    .data(snapshot.to_string()),
            )
            .await
            .is_err()
        {
            return;
        }
        let mut sent: HashMap<String, FailingPod> =
            first.into_iter().map(|p| (p.pod_id.clone(), p)).collect();
        let mut checked = Instant::now();
        loop {
            next_wake(&mut pods_rx, &mut diagnoses_rx).await;
            if !recheck(&s, &token, &mut checked, &tx).await {
                return;
            }
            let Ok(list) = s.failing_list(&caller).await else {
                // The store failed for a moment: the next wake tries again.
                continue;
            };
            let mut upsert = Vec::new();
            let mut now_ids = std::collections::HashSet::new();
            for p in list {
                now_ids.insert(p.pod_id.clone());
                if sent.get(&p.pod_id) != Some(&p) {
                    sent.insert(p.pod_id.clone(), p.clone());
                    upsert.push(p);
                }
            }
            let remove: Vec<String> = sent
                .keys()
                .filter(|id| !now_ids.contains(*id))
                .cloned()
                .collect();
            for id in &remove {
                sent.remove(id);
            }
            if upsert.is_empty() && remove.is_empty() {
                if tx.is_closed() {
                    return;
                }
                continue;
            }
            let update =
                json!({"now": s.server_now().to_string(), "upsert": upsert, "remove": remove});
            if tx
                .send(Event::default().event("update").data(update.to_string()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// GET /api/mirror/active/events — `mirrors` `{now, mirrors}` at once and
/// whenever one changes.
pub async fn active_events(
    State(s): S,
    caller: Caller,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let token = bearer(&headers);
    let mut pods_rx = s.pods.changes();
    let mut diagnoses_rx = s.diagnoses.subscribe();
    let stream = async_stream(move |tx| async move {
        let mut last: Option<serde_json::Value> = None;
        let mut checked = Instant::now();
        loop {
            if !recheck(&s, &token, &mut checked, &tx).await {
                return;
            }
            let mirrors = serde_json::to_value(s.active_list(&caller)).unwrap_or_default();
            // `now` and `remaining_seconds` move every second; compare the rest.
            let mut same = mirrors.clone();
            for m in same.as_array_mut().into_iter().flatten() {
                if let Some(o) = m.as_object_mut() {
                    o.remove("now");
                    o.remove("remaining_seconds");
                    o.remove("verdict_detail");
                }
            }
            if last.as_ref() != Some(&same) {
                last = Some(same);
                let body = json!({"now": s.server_now().to_string(), "mirrors": mirrors});
                if tx
                    .send(Event::default().event("mirrors").data(body.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
            } else if tx.is_closed() {
                return;
            }
            next_wake(&mut pods_rx, &mut diagnoses_rx).await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
