//! The JSONPatch (RFC 6902) that adds the tap to a pod: a native sidecar
//! (an init container with `restartPolicy: Always`, first, so it runs
//! before the app starts and for as long as the pod does) and the status
//! annotation that makes injection happen once.

use crate::decide::{ANN_STATUS, TAP_CONTAINER, Tap};
use serde_json::{Value, json};

use podmirror_core::contract::TAP_REPORT_PORT as REPORT_PORT;

/// The tap's container: the `podmirror` image running `podmirror tap`.
pub fn tap_container(image: &str, tap: &Tap) -> Value {
    let ports: Vec<String> = tap.ports.iter().map(u16::to_string).collect();
    json!({
        "name": TAP_CONTAINER,
        "image": image,
        "args": ["tap", "--mode", tap.mode.as_str(), "--ports", ports.join(",")],
        "restartPolicy": "Always",
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "ports": [{"name": "tap-report", "containerPort": REPORT_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "64Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]},
        },
    })
}

/// The patch for `pod`.
pub fn patch(pod: &Value, image: &str, tap: &Tap) -> Value {
    let mut ops = Vec::new();
    let container = tap_container(image, tap);
    match pod["spec"]["initContainers"].as_array() {
        Some(list) if !list.is_empty() => ops.push(json!({
            "op": "add", "path": "/spec/initContainers/0", "value": container,
        })),
        _ => ops.push(json!({
            "op": "add", "path": "/spec/initContainers", "value": [container],
        })),
    }
    if pod["metadata"]["annotations"].is_object() {
        ops.push(json!({
            "op": "add",
            "path": format!("/metadata/annotations/{}", escape(ANN_STATUS)),
            "value": "injected",
        }));
    } else {
        ops.push(json!({
            "op": "add", "path": "/metadata/annotations", "value": {ANN_STATUS: "injected"},
        }));
    }
    Value::Array(ops)
}

/// A JSON Pointer segment (RFC 6901): `~` → `~0`, `/` → `~1`.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
