//! The `pods/{name}/log` subresource: current or previous container logs,
//! `tailLines`, `timestamps` and `follow`.

use crate::error::ApiError;
use crate::http::Query;
use crate::logs::{ContainerKey, ContainerLog, Logs};
use crate::resources::ids;
use crate::{Sim, meta};
use axum::body::{Body, Bytes};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use std::sync::Arc;

fn container_names(pod: &Value, key: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn waiting_reason(pod: &Value, container: &str) -> String {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| {
            pod.pointer(&format!("/status/{k}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str))
        .unwrap_or("ContainerCreating")
        .to_string()
}

fn render(
    lines: &[(String, String)],
    tail: Option<usize>,
    timestamps: bool,
    from: usize,
) -> String {
    let start = match tail {
        Some(n) => lines.len().saturating_sub(n).max(from),
        None => from,
    };
    let mut out = String::new();
    for (ts, l) in &lines[start.min(lines.len())..] {
        if timestamps {
            out.push_str(ts);
            out.push(' ');
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Serves a log request.
pub async fn serve(sim: &Sim, ns: &str, name: &str, q: &Query) -> Result<Response, ApiError> {
    let pod = sim.cluster.get(ids::pods(), ns, name)?;
    let containers = container_names(&pod, "containers");
    let init = container_names(&pod, "initContainers");
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if containers.len() == 1 && init.is_empty() => containers[0].clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    if !containers.contains(&container) && !init.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    let (ns_name, pod_name, uid) = (
        ns.to_string(),
        name.to_string(),
        meta::uid(&pod).to_string(),
    );
    let sim = sim.downgrade();
    respond(
        sim.upgrade()
            .map(|s| s.cluster.logs.clone())
            .unwrap_or_default(),
        &pod,
        &container,
        q,
        move || {
            sim.upgrade().is_none_or(|sim| {
                sim.cluster
                    .get(ids::pods(), &ns_name, &pod_name)
                    .map(|p| meta::uid(&p) != uid)
                    .unwrap_or(true)
            })
        },
    )
    .map_err(ApiError::bad_request)
}

/// A container's log as the kubelet answers it: `previous`, `tailLines`,
/// `timestamps` and `follow` (until the container stops writing or `gone`
/// says the pod is no longer there). An error is the message of a 400.
pub fn respond(
    logs: Arc<Logs>,
    pod: &Value,
    container: &str,
    q: &Query,
    gone: impl Fn() -> bool + Send + 'static,
) -> Result<Response, String> {
    let name = meta::name(pod);
    let previous = matches!(q.get("previous").map(String::as_str), Some("true" | "1"));
    let follow = matches!(q.get("follow").map(String::as_str), Some("true" | "1"));
    let timestamps = matches!(q.get("timestamps").map(String::as_str), Some("true" | "1"));
    let tail = match q.get("tailLines") {
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(format!(
                    "tailLines: Invalid value: {t:?}: must be an integer"
                ));
            }
        },
        None => None,
    };
    let key: ContainerKey = (
        meta::namespace(pod).to_string(),
        meta::uid(pod).to_string(),
        container.to_string(),
    );
    let log: Option<ContainerLog> = logs.get(&key);
    let text_response = |body: Body| {
        let mut resp = Response::new(body);
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        resp
    };
    if previous {
        let lines = log.and_then(|l| l.previous).ok_or_else(|| {
            format!("previous terminated container {container:?} in pod {name:?} not found")
        })?;
        return Ok(text_response(Body::from(render(
            &lines, tail, timestamps, 0,
        ))));
    }
    let Some(log) = log else {
        return Err(format!(
            "container {container:?} in pod {name:?} is waiting to start: {}",
            waiting_reason(pod, container)
        ));
    };
    let first = render(&log.current, tail, timestamps, 0);
    if !follow || log.finished {
        return Ok(text_response(Body::from(first)));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut sent = log.current.len();
    tokio::spawn(async move {
        let mut tick = logs.subscribe();
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                changed = tick.changed() => if changed.is_err() { return },
            }
            let Some(log) = logs.get(&key) else {
                return;
            };
            if log.current.len() < sent {
                sent = 0;
            }
            let more = render(&log.current, None, timestamps, sent);
            sent = log.current.len();
            if !more.is_empty() && tx.send(Bytes::from(more)).await.is_err() {
                return;
            }
            if log.finished || gone() {
                return;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let stream = futures::StreamExt::map(stream, Ok::<Bytes, std::io::Error>);
    Ok(text_response(Body::from_stream(stream)))
}
