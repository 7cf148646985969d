//! What the kubelet needs from the cluster it serves, as one trait: the
//! in-process sim answers from its store, the node agent through the API.

use super::rules::Objects;
use crate::events::{EventType, Source};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How a pod status write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWrite {
    /// Written (or nothing to write).
    Done,
    /// Someone else wrote the pod in between; read it again and retry.
    Conflict,
}

/// What an Event names of a pod: apiVersion, kind and its metadata's keys.
pub fn pod_reference(ns: &str, name: &str, uid: &str, resource_version: Option<&str>) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": uid,
            "resourceVersion": resource_version,
        },
    })
}

/// The cluster as the kubelet sees it. Reads are answered at once (from a
/// store or a watch cache); writes may go out later, in order.
pub trait Host: Objects + Send + Sync + 'static {
    /// The pod as the cluster has it now, if it is still the one with `uid`.
    fn pod(&self, ns: &str, name: &str, uid: &str) -> Option<Arc<Value>>;

    /// What an Event's `involvedObject` needs of the pod (apiVersion, kind,
    /// name, namespace, uid, resourceVersion), if the pod is still there.
    fn pod_ref(&self, ns: &str, name: &str, uid: &str) -> Option<Value> {
        let pod = self.pod(ns, name, uid)?;
        let version = pod
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        Some(pod_reference(ns, name, uid, version))
    }

    /// A Node by name.
    fn node(&self, name: &str) -> Option<Arc<Value>>;

    /// Records an Event about `object` (correlating repeats, as client-go does).
    fn event(
        &self,
        object: &Value,
        field_path: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
        source: &Source,
    );

    /// Writes a pod's whole status; `pod` is what it was computed from.
    fn write_status<'a>(&'a self, pod: &'a Arc<Value>, status: Value)
    -> BoxFuture<'a, StatusWrite>;

    /// Removes a pod whose graceful deletion the kubelet has finished.
    fn finish_deletion(&self, ns: &str, name: &str, uid: &str);

    /// How long `d` of simulated time lasts on the wall clock; `None` once
    /// the cluster is gone (every pod worker then ends).
    fn scaled(&self, d: Duration) -> Option<Duration>;
}
