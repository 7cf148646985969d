//! What the dashboard reads about the caller and about one pod: `GET
//! /api/auth/me`, a pod's containers, events and YAML (`GET
//! /api/pods/{pod_id}`) and a container's logs, current or previous (`GET
//! /api/pods/{pod_id}/logs`). Pods are read from the cluster when asked,
//! not from the watch cache, which keeps only what the lists need.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::views::{ContainerView, EventView, Me, PodDetail, PodLogs};
use crate::{AppState, MAX_TTL, MIN_TTL, Q};
use axum::Json;
use axum::extract::{Path, State};
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod};
use kube::api::{ListParams, LogParams};
use podmirror_kube::KubeError;
use podmirror_kube::traffic::TrafficError;
use podmirror_store::Role;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// GET /api/auth/me
pub async fn me(State(s): S, caller: Caller) -> Json<Me> {
    let namespaces = if caller.org.namespaces.iter().any(|n| n == "*") {
        Vec::new()
    } else {
        caller.org.namespaces.clone()
    };
    Json(Me {
        name: caller.name.clone(),
        role: caller.role.as_str().into(),
        org: caller.org.name.clone(),
        can_apply_fix: caller.org.may_apply_fixes(caller.role),
        can_deploy: caller.role >= Role::Admin,
        cluster: s
            .config
            .cluster_name
            .clone()
            .unwrap_or_else(|| "cluster".into()),
        expires_at: caller.expires_at.map(|t| t.to_string()),
        namespaces,
        min_ttl_seconds: MIN_TTL,
        max_ttl_seconds: MAX_TTL,
    })
}

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Each container of a pod with its state, init containers first; a
/// container the kubelet has not reported yet is `waiting` with no reason.
pub fn containers(pod: &Value) -> Vec<ContainerView> {
    let mut out = Vec::new();
    for (spec_list, status_list, init) in [
        (
            "/spec/initContainers",
            "/status/initContainerStatuses",
            true,
        ),
        ("/spec/containers", "/status/containerStatuses", false),
    ] {
        let statuses = pod
            .pointer(status_list)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for c in pod
            .pointer(spec_list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = text(c, "/name");
            let st = statuses.iter().find(|s| text(s, "/name") == name);
            let state_of = |s: &Value| -> (String, Option<String>, Option<String>, Option<i64>) {
                let state = s.get("state").unwrap_or(&Value::Null);
                let last_exit = s
                    .pointer("/lastState/terminated/exitCode")
                    .and_then(Value::as_i64);
                if let Some(w) = state.get("waiting") {
                    (
                        "waiting".into(),
                        some(text(w, "/reason")),
                        some(text(w, "/message")),
                        last_exit,
                    )
                } else if state.get("running").is_some() {
                    ("running".into(), None, None, None)
                } else if let Some(t) = state.get("terminated") {
                    (
                        "terminated".into(),
                        some(text(t, "/reason")),
                        some(text(t, "/message")),
                        t.get("exitCode").and_then(Value::as_i64),
                    )
                } else {
                    ("unknown".into(), None, None, last_exit)
                }
            };
            let (state, reason, message, exit_code) = match st {
                Some(s) => state_of(s),
                None => ("waiting".into(), None, None, None),
            };
            out.push(ContainerView {
                name: name.to_string(),
                init,
                image: st
                    .map(|s| text(s, "/image"))
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| text(c, "/image"))
                    .to_string(),
                state,
                reason,
                message,
                exit_code,
                ready: st.is_some_and(|s| s["ready"] == true),
                restarts: st.and_then(|s| s["restartCount"].as_i64()).unwrap_or(0),
            });
        }
    }
    out
}

/// The events about an object, oldest first, as the page shows them.
pub(crate) async fn events_of(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Vec<EventView>, ApiError> {
    let api: kube::Api<KubeEvent> = kube::Api::namespaced(client.clone(), ns);
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let list = api.list(&params).await.map_err(|e| {
        ApiError::from(KubeError::from_kube(
            format!("list the events of {name}"),
            e,
        ))
    })?;
    let seen = |e: &KubeEvent| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.first_timestamp.as_ref().map(|t| t.0))
    };
    let mut items = list.items;
    items.sort_by_key(seen);
    Ok(items
        .iter()
        .map(|e| EventView {
            kind: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            count: i64::from(e.count.unwrap_or(1)),
            last_seen: seen(e).map(|t| t.to_string()),
        })
        .collect())
}

/// `namespace:name` of a pod the caller's org sees.
fn pod_of<'a>(caller: &Caller, pod_id: &'a str) -> Result<(&'a str, &'a str), ApiError> {
    let (ns, name) = crate::api::split_pod_id(pod_id)?;
    // A pod, not a workload's KIND/NAME.
    crate::names::object_name(name, "pod")?;
    let ns = caller.namespace(ns, &format!("pod {ns}/{name}"))?;
    Ok((ns, name))
}

async fn read_pod(client: &kube::Client, ns: &str, name: &str) -> Result<Value, ApiError> {
    serde_json::to_value(get_pod(client, ns, name).await?).map_err(|e| {
        ApiError::new(
            http::StatusCode::BAD_GATEWAY,
            "cluster_error",
            format!("the API server's pod {ns}/{name} does not read as a Pod: {e}"),
        )
    })
}

async fn get_pod(client: &kube::Client, ns: &str, name: &str) -> Result<Pod, ApiError> {
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::not_found(format!(
            "pod {ns}/{name} not found; it may have been deleted or replaced (the failing list shows the current pods)"
        ))),
        Err(e) => Err(KubeError::from_kube(format!("read pod {ns}/{name}"), e).into()),
    }
}

/// GET /api/pods/{pod_id}
pub async fn pod_detail(
    State(s): S,
    caller: Caller,
    Path(pod_id): Path<String>,
) -> Result<Json<PodDetail>, ApiError> {
    if let Ok((ns, target)) = crate::api::split_pod_id(&pod_id)
        && let Ok(Some(kind)) = crate::names::target(target)
    {
        let ns = caller.namespace(ns, &format!("{target} in {ns}"))?;
        return workload_detail(&s, ns, kind, target).await.map(Json);
    }
    let (ns, name) = pod_of(&caller, &pod_id)?;
    let mut pod = read_pod(&s.client, ns, name).await?;
    let events = events_of(&s.client, ns, name).await?;
    if let Some(md) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
    }
    Ok(Json(PodDetail {
        namespace: ns.into(),
        pod: name.into(),
        pod_id: format!("{ns}:{name}"),
        phase: text(&pod, "/status/phase").into(),
        node: some(text(&pod, "/spec/nodeName")),
        containers: containers(&pod),
        events,
        yaml: podmirror_core::render::yaml(&pod),
    }))
}

/// A workload with no pod to diagnose, as a pod's details: no containers,
/// the events of its owner chain (the workload and its ReplicaSets), its YAML.
async fn workload_detail(
    s: &AppState,
    ns: &str,
    kind: &str,
    target: &str,
) -> Result<PodDetail, ApiError> {
    let name = target.split_once('/').map_or(target, |(_, n)| n);
    let snapshot = podmirror_kube::gather::Snapshot::take(&s.client, Some(ns)).await?;
    let Some(w) = snapshot.workload(ns, kind, name) else {
        return Err(ApiError::not_found(format!(
            "{kind} {ns}/{name} not found; it may have been deleted"
        )));
    };
    let ctx = snapshot.workload_context(w);
    let events = ctx
        .workload
        .as_ref()
        .map(|st| {
            st.events
                .iter()
                .map(|e| EventView {
                    kind: e.kind.clone(),
                    reason: e.reason.clone(),
                    message: e.message.clone(),
                    count: i64::from(e.count),
                    last_seen: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut yaml = w.clone();
    if let Some(md) = yaml.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
    }
    Ok(PodDetail {
        namespace: ns.into(),
        pod: target.into(),
        pod_id: format!("{ns}:{target}"),
        phase: "NoPods".into(),
        node: None,
        containers: Vec::new(),
        events,
        yaml: podmirror_core::render::yaml(&yaml),
    })
}

/// `?container=NAME&previous=true&tail=N` for a pod's logs.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    container: Option<String>,
    #[serde(default)]
    previous: bool,
    tail: Option<i64>,
}

/// GET /api/pods/{pod_id}/logs
pub async fn pod_logs(
    State(s): S,
    caller: Caller,
    Path(pod_id): Path<String>,
    Q(q): Q<LogQuery>,
) -> Result<Json<PodLogs>, ApiError> {
    let (ns, name) = pod_of(&caller, &pod_id)?;
    let tail = q.tail.unwrap_or(200);
    if !(1..=5000).contains(&tail) {
        return Err(ApiError::invalid(format!(
            "tail {tail} is outside 1..5000 (lines)"
        )));
    }
    let pod = read_pod(&s.client, ns, name).await?;
    let all = containers(&pod);
    let container = match &q.container {
        Some(c) => all.iter().find(|v| &v.name == c).ok_or_else(|| {
            ApiError::not_found(format!(
                "pod {ns}/{name} has no container {c:?}; it has {}",
                all.iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        None => all
            .iter()
            .find(|v| !v.init)
            .or(all.first())
            .ok_or_else(|| ApiError::not_found(format!("pod {ns}/{name} has no containers")))?,
    };
    if q.previous && container.restarts == 0 {
        return Err(ApiError::not_found(format!(
            "container {:?} has not restarted: there is no previous run to show",
            container.name
        )));
    }
    if !q.previous && container.state == "waiting" && container.restarts == 0 {
        return Err(ApiError::not_found(format!(
            "container {:?} has not started yet ({}): no logs",
            container.name,
            container.reason.as_deref().unwrap_or("waiting")
        )));
    }
    let api: kube::Api<Pod> = kube::Api::namespaced(s.client.clone(), ns);
    let params = LogParams {
        container: Some(container.name.clone()),
        previous: q.previous,
        tail_lines: Some(tail),
        ..Default::default()
    };
    let text = api.logs(name, &params).await.map_err(|e| {
        ApiError::from(KubeError::from_kube(
            format!("read the logs of {ns}/{name} container {}", container.name),
            e,
        ))
    })?;
    Ok(Json(PodLogs {
        container: container.name.clone(),
        previous: q.previous,
        lines: text.lines().map(str::to_string).collect(),
    }))
}

/// The query of `GET /api/traffic/{pod_id}`.
#[derive(Debug, Deserialize)]
pub struct TrafficQuery {
    /// The window, in minutes (1 to 60; default 15).
    minutes: Option<u64>,
}

/// GET /api/traffic/{pod_id} — what the pod's tap saw (admins only: it
/// tells who calls what, if not with what).
pub async fn pod_traffic(
    State(s): S,
    caller: Caller,
    Path(pod_id): Path<String>,
    Q(q): Q<TrafficQuery>,
) -> Result<Json<podmirror_tap::snapshot::Snapshot>, ApiError> {
    let (ns, name) = pod_of(&caller, &pod_id)?;
    let minutes = q.minutes.unwrap_or(15);
    if !(1..=60).contains(&minutes) {
        return Err(ApiError::invalid(format!(
            "minutes {minutes} is outside 1..60 (the tap keeps an hour of figures)"
        )));
    }
    let pod = get_pod(&s.client, ns, name).await?;
    podmirror_kube::traffic::read(&s.client, &pod, minutes)
        .await
        .map(Json)
        .map_err(|e| match e {
            TrafficError::NoTap { .. } => ApiError::not_found(e.to_string()),
            TrafficError::Unreachable(why) => ApiError::new(
                http::StatusCode::BAD_GATEWAY,
                "tap_unreachable",
                format!("pod {ns}/{name}: {why}"),
            ),
        })
}
