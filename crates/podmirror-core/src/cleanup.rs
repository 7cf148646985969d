//! Strips the runtime noise from a pod (or a pod template) so that the result
//! is a manifest the API server accepts as a new pod: what the API server,
//! the controllers and admission added, and what only makes sense for the
//! original (the cluster contract; kubectl-neat and `kubectl debug --copy-to` are the
//! references).

use crate::contract::{ANN_TAP_STATUS, CONTROLLER_LABELS, TAP_CONTAINER};
use serde_json::{Map, Value};

const METADATA_NOISE: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "selfLink",
    "generateName",
];

/// The API server's defaults that are noise when shown or copied.
const SPEC_DEFAULTS: &[(&str, &str)] = &[
    ("schedulerName", "default-scheduler"),
    ("preemptionPolicy", "PreemptLowerPriority"),
];

/// A copy of `pod` without runtime noise. Keeps `metadata.name` and
/// `metadata.namespace` (the mirror builder replaces the name).
pub fn clean_pod(pod: &Value) -> Value {
    let mut out = pod.clone();
    let Some(obj) = out.as_object_mut() else {
        return out;
    };
    obj.remove("status");
    obj.insert("apiVersion".into(), Value::from("v1"));
    obj.insert("kind".into(), Value::from("Pod"));
    strip_injected_tap(obj);
    if let Some(Value::Object(md)) = obj.get_mut("metadata") {
        clean_metadata(md);
    }
    if let Some(Value::Object(spec)) = obj.get_mut("spec") {
        clean_spec(spec);
    }
    prune_empty(&mut out);
    out
}

/// What the tap injector added, which admission adds again where it
/// applies (never to mirrors): the tap sidecar and its status annotation.
fn strip_injected_tap(obj: &mut Map<String, Value>) {
    let injected = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(ANN_TAP_STATUS))
        .is_some_and(|v| v == "injected");
    if !injected {
        return;
    }
    if let Some(Value::Array(init)) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("initContainers"))
    {
        init.retain(|c| c.get("name").and_then(Value::as_str) != Some(TAP_CONTAINER));
    }
}

/// Whether the tap injector tapped the pod (its status annotation and the
/// tap's container are both there).
pub fn tapped(pod: &Value) -> bool {
    let annotated = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANN_TAP_STATUS))
        .is_some_and(|v| v == "injected");
    annotated
        && pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|c| c["name"] == TAP_CONTAINER))
}

/// The pod as its owner's template made it: without the injected tap in
/// its spec (so container indexes are the template's) nor in its status.
/// `None` when the pod is not tapped.
pub fn without_tap(pod: &Value) -> Option<Value> {
    if !tapped(pod) {
        return None;
    }
    let mut out = pod.clone();
    let obj = out.as_object_mut()?;
    strip_injected_tap(obj);
    if let Some(Value::Object(spec)) = obj.get_mut("spec")
        && spec
            .get("initContainers")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        spec.remove("initContainers");
    }
    if let Some(Value::Object(status)) = obj.get_mut("status")
        && let Some(Value::Array(list)) = status.get_mut("initContainerStatuses")
    {
        list.retain(|c| c.get("name").and_then(Value::as_str) != Some(TAP_CONTAINER));
        if list.is_empty() {
            status.remove("initContainerStatuses");
        }
    }
    Some(out)
}

fn clean_metadata(md: &mut Map<String, Value>) {
    for key in METADATA_NOISE {
        md.remove(*key);
    }
    if let Some(Value::Object(ann)) = md.get_mut("annotations") {
        ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        ann.remove("deployment.kubernetes.io/revision");
    }
    if let Some(Value::Object(labels)) = md.get_mut("labels") {
        for key in CONTROLLER_LABELS {
            labels.remove(*key);
        }
    }
}

fn clean_spec(spec: &mut Map<String, Value>) {
    spec.remove("nodeName");
    spec.remove("serviceAccount");
    spec.remove("priority");
    spec.remove("ephemeralContainers");
    for (key, default) in SPEC_DEFAULTS {
        if spec.get(*key).and_then(Value::as_str) == Some(*default) {
            spec.remove(*key);
        }
    }
    if spec.get("enableServiceLinks") == Some(&Value::Bool(true)) {
        spec.remove("enableServiceLinks");
    }
    if let Some(Value::Array(tolerations)) = spec.get_mut("tolerations") {
        tolerations.retain(|t| !is_auto_toleration(t));
    }
    // Service account token volumes are added again by admission for the new pod.
    let mut token_volumes = Vec::new();
    if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
        volumes.retain(|v| {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            let token = name.starts_with("kube-api-access-") || name.starts_with("default-token-");
            if token {
                token_volumes.push(name.to_string());
            }
            !token
        });
    }
    for list in ["initContainers", "containers"] {
        let Some(Value::Array(containers)) = spec.get_mut(list) else {
            continue;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::Array(mounts)) = c.get_mut("volumeMounts") {
                mounts.retain(|m| {
                    let name = m.get("name").and_then(Value::as_str).unwrap_or("");
                    !token_volumes.iter().any(|t| t == name)
                });
            }
            if c.get("terminationMessagePath").and_then(Value::as_str)
                == Some("/dev/termination-log")
            {
                c.remove("terminationMessagePath");
            }
            if c.get("terminationMessagePolicy").and_then(Value::as_str) == Some("File") {
                c.remove("terminationMessagePolicy");
            }
        }
    }
}

/// The NoExecute tolerations for not-ready and unreachable nodes that admission adds to every pod.
fn is_auto_toleration(t: &Value) -> bool {
    matches!(
        t.get("key").and_then(Value::as_str),
        Some("node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable")
    ) && t.get("operator").and_then(Value::as_str) == Some("Exists")
        && t.get("effect").and_then(Value::as_str) == Some("NoExecute")
        && t.get("tolerationSeconds").and_then(Value::as_i64) == Some(300)
}

/// Removes empty maps and lists (and nulls), bottom-up. `containers` stays even if empty,
/// so the API server's error names the real problem.
fn prune_empty(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                prune_empty(child);
            }
            map.retain(|k, child| k == "containers" || !is_empty(child));
        }
        Value::Array(items) => {
            for child in items.iter_mut() {
                prune_empty(child);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A pod built from a workload's pod template, for when the source pod is gone.
pub fn pod_from_template(template: &Value, name: &str, namespace: &str) -> Value {
    let mut metadata = template
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.insert("name".into(), Value::from(name));
    metadata.insert("namespace".into(), Value::from(namespace));
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| serde_json::json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_runtime_noise_and_keeps_what_the_user_wrote() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "api-7d9c-x2x4q", "namespace": "shop", "generateName": "api-7d9c-",
                "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "api", "pod-template-hash": "7d9c"},
                "annotations": {"team": "shop", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9c", "uid": "r"}],
                "managedFields": [{"manager": "kube-controller-manager"}],
                "finalizers": []
            },
            "spec": {
                "nodeName": "sim-worker-1", "serviceAccount": "default", "serviceAccountName": "default",
                "schedulerName": "default-scheduler", "priority": 0,
                "preemptionPolicy": "PreemptLowerPriority", "enableServiceLinks": true,
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
                ],
                "volumes": [{"name": "kube-api-access-abcde", "projected": {}}, {"name": "config", "configMap": {"name": "api"}}],
                "containers": [{
                    "name": "api", "image": "api:1", "env": [],
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets"}, {"name": "config", "mountPath": "/etc/api"}],
                    "resources": {}
                }]
            },
            "status": {"phase": "Running"}
        });
        let clean = clean_pod(&pod);
        assert_eq!(
            clean,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": "api-7d9c-x2x4q", "namespace": "shop",
                    "labels": {"app": "api"},
                    "annotations": {"team": "shop"}
                },
                "spec": {
                    "serviceAccountName": "default",
                    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "volumes": [{"name": "config", "configMap": {"name": "api"}}],
                    "containers": [{
                        "name": "api", "image": "api:1",
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/api"}]
                    }]
                }
            })
        );
    }

    #[test]
    fn keeps_non_default_values() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "schedulerName": "custom", "enableServiceLinks": false, "preemptionPolicy": "Never",
            "containers": [{"name": "c", "terminationMessagePolicy": "FallbackToLogsOnError"}]
        }});
        let clean = clean_pod(&pod);
        assert_eq!(clean["spec"]["schedulerName"], "custom");
        assert_eq!(clean["spec"]["enableServiceLinks"], false);
        assert_eq!(clean["spec"]["preemptionPolicy"], "Never");
        assert_eq!(
            clean["spec"]["containers"][0]["terminationMessagePolicy"],
            "FallbackToLogsOnError"
        );
    }

    #[test]
    fn template_becomes_a_pod() {
        let t = json!({"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api"}]}});
        let pod = pod_from_template(&t, "api", "shop");
        assert_eq!(pod["metadata"]["name"], "api");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        assert_eq!(pod["metadata"]["labels"]["app"], "api");
        assert_eq!(pod["kind"], "Pod");
    }

    #[test]
    fn an_injected_tap_is_not_copied() {
        let pod = serde_json::json!({
            "metadata": {"name": "api-1", "annotations": {"tap.podmirror.dev/status": "injected", "team": "shop"}},
            "spec": {
                "initContainers": [{"name": "podmirror-tap", "image": "ghcr.io/podmirror/podmirror:0.1.0", "restartPolicy": "Always"},
                                   {"name": "migrate", "image": "m"}],
                "containers": [{"name": "api", "image": "a"}],
            },
        });
        let clean = clean_pod(&pod);
        assert_eq!(
            clean["spec"]["initContainers"],
            serde_json::json!([{"name": "migrate", "image": "m"}])
        );
        assert_eq!(
            clean["metadata"]["annotations"],
            serde_json::json!({"team": "shop"})
        );
        // A container of that name the injector did not add stays.
        let mut own = pod.clone();
        own["metadata"]["annotations"] = serde_json::json!({});
        assert_eq!(
            clean_pod(&own)["spec"]["initContainers"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let mut only = pod;
        only["spec"]["initContainers"] =
            serde_json::json!([{"name": "podmirror-tap", "image": "x"}]);
        assert!(
            clean_pod(&only)["spec"].get("initContainers").is_none(),
            "an emptied list goes"
        );
    }
}
