//! Defaulting as the real API server applies it on create and update, so that
//! objects read back carry the same noise a real cluster adds.

use crate::meta;
use crate::resources::{ResourceId, ids};
use serde_json::{Map, Value, json};

fn obj_mut<'a>(parent: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    parent.get_mut(key).and_then(Value::as_object_mut)
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

/// Applies the defaults of one resource type in place.
pub fn apply(res: ResourceId, obj: &mut Value) {
    if res == ids::pods() {
        if let Some(spec) = obj_mut(obj, "spec") {
            pod_spec(spec);
            pod_admission(spec);
        }
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        let status = obj
            .as_object_mut()
            .map(|m| m.entry("status").or_insert_with(|| json!({})));
        if let Some(Value::Object(status)) = status {
            set_default(status, "phase", json!("Pending"));
            set_default(status, "qosClass", json!(qos));
        }
    } else if res == ids::deployments() || res == ids::replicasets() {
        let is_deploy = res == ids::deployments();
        if let Some(spec) = obj_mut(obj, "spec") {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            if is_deploy {
                set_default(spec, "progressDeadlineSeconds", json!(600));
                set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
                if let Some(strategy) = spec.get_mut("strategy").and_then(Value::as_object_mut)
                    && strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
                {
                    let ru = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        set_default(ru, "maxUnavailable", json!("25%"));
                        set_default(ru, "maxSurge", json!("25%"));
                    }
                }
            } else {
                spec.remove("revisionHistoryLimit");
            }
            if let Some(tspec) = spec
                .get_mut("template")
                .and_then(|t| t.get_mut("spec"))
                .and_then(Value::as_object_mut)
            {
                pod_spec(tspec);
            }
        }
    } else if res == ids::statefulsets() || res == ids::daemonsets() {
        let sts = res == ids::statefulsets();
        if let Some(spec) = obj_mut(obj, "spec") {
            set_default(spec, "revisionHistoryLimit", json!(10));
            if sts {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
                set_default(
                    spec,
                    "persistentVolumeClaimRetentionPolicy",
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
            } else {
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
            }
            if let Some(tspec) = spec
                .get_mut("template")
                .and_then(|t| t.get_mut("spec"))
                .and_then(Value::as_object_mut)
            {
                pod_spec(tspec);
            }
        }
    } else if res == ids::jobs() {
        job(obj);
    } else if res == ids::mutatingwebhookconfigurations() {
        mutating_webhooks(obj);
    } else if res == ids::services() {
        if let Some(spec) = obj_mut(obj, "spec") {
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            let headless_or_external =
                spec.get("type").and_then(Value::as_str) == Some("ExternalName");
            if !headless_or_external {
                if spec.get("clusterIP").is_none_or(Value::is_null) {
                    let ip =
                        meta::with_rng(|r| format!("10.96.{}.{}", r.u8(0..=255), r.u8(1..=254)));
                    spec.insert("clusterIP".into(), json!(ip));
                }
                let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
                set_default(spec, "clusterIPs", json!([ip]));
                set_default(spec, "ipFamilies", json!(["IPv4"]));
                set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(p, "protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "targetPort", port);
                    }
                }
            }
        }
        if let Some(m) = obj.as_object_mut() {
            m.entry("status")
                .or_insert_with(|| json!({"loadBalancer": {}}));
        }
    } else if res == ids::namespaces() {
        let name = meta::name(obj).to_string();
        meta::metadata_mut(obj)
            .entry("labels")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|l| l.insert("kubernetes.io/metadata.name".into(), json!(name)));
        if let Some(m) = obj.as_object_mut() {
            let spec = m.entry("spec").or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                set_default(spec, "finalizers", json!(["kubernetes"]));
            }
            let status = m.entry("status").or_insert_with(|| json!({}));
            if let Some(status) = status.as_object_mut() {
                set_default(status, "phase", json!("Active"));
            }
        }
    } else if res == ids::secrets() {
        secret(obj);
    } else if res == ids::pvcs() {
        if let Some(spec) = obj_mut(obj, "spec") {
            set_default(spec, "volumeMode", json!("Filesystem"));
            // The DefaultStorageClass admission plugin names the default class.
            set_default(
                spec,
                "storageClassName",
                json!(crate::volumes::STORAGE_CLASSES[0]),
            );
        }
        if let Some(m) = obj.as_object_mut() {
            let status = m.entry("status").or_insert_with(|| json!({}));
            if let Some(status) = status.as_object_mut() {
                set_default(status, "phase", json!("Pending"));
            }
        }
    }
}

fn secret(obj: &mut Value) {
    use base64::Engine;
    let Some(m) = obj.as_object_mut() else { return };
    set_default(m, "type", json!("Opaque"));
    if let Some(Value::Object(string_data)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| json!({}));
        if let Some(data) = data.as_object_mut() {
            for (k, v) in string_data {
                let text = v.as_str().unwrap_or_default();
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
}

/// Image pull policy by tag: `Always` for `:latest` or no tag, else `IfNotPresent`.
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn probe(p: &mut Value) {
    let Some(p) = p.as_object_mut() else { return };
    set_default(p, "timeoutSeconds", json!(1));
    set_default(p, "periodSeconds", json!(10));
    set_default(p, "successThreshold", json!(1));
    set_default(p, "failureThreshold", json!(3));
    if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(h, "scheme", json!("HTTP"));
        set_default(h, "path", json!("/"));
    }
}

fn container(c: &mut Value) {
    let Some(c) = c.as_object_mut() else { return };
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    set_default(c, "imagePullPolicy", json!(pull_policy(&image)));
    set_default(c, "resources", json!({}));
    if let Some(res) = c.get_mut("resources").and_then(Value::as_object_mut) {
        // Requests default to limits when only limits are given.
        if let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() {
            let requests = res.entry("requests").or_insert_with(|| json!({}));
            if let Some(requests) = requests.as_object_mut() {
                for (k, v) in limits {
                    requests.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(key) {
            probe(p);
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env {
            if let Some(fr) = e
                .pointer_mut("/valueFrom/fieldRef")
                .and_then(Value::as_object_mut)
            {
                set_default(fr, "apiVersion", json!("v1"));
            }
        }
    }
}

/// Defaults of a PodSpec (also used for pod templates).
pub fn pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for key in ["containers", "initContainers"] {
        if let Some(list) = spec.get_mut(key).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(container);
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            for kind in ["configMap", "secret"] {
                if let Some(src) = v.get_mut(kind).and_then(Value::as_object_mut) {
                    set_default(src, "defaultMode", json!(420));
                }
            }
        }
    }
}

/// What admission adds to a pod (not to templates): service account, priority, tolerations, links.
fn pod_admission(spec: &mut Map<String, Value>) {
    set_default(spec, "serviceAccountName", json!("default"));
    let sa = spec
        .get("serviceAccountName")
        .cloned()
        .unwrap_or(json!("default"));
    spec.insert("serviceAccount".into(), sa);
    set_default(spec, "enableServiceLinks", json!(true));
    if spec.get("priorityClassName").is_none() {
        set_default(spec, "priority", json!(0));
    }
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let present = list.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    && t.get("effect")
                        .and_then(Value::as_str)
                        .is_none_or(|e| e == "NoExecute")
            });
            if !present {
                list.push(json!({
                    "key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300,
                }));
            }
        }
    }
}

/// Adds the projected service-account token volume and its mounts, as the ServiceAccount admission does.
pub fn pod_service_account_token(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("automountServiceAccountToken") == Some(&json!(false)) {
        return;
    }
    const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let already = spec
        .get("volumes")
        .and_then(Value::as_array)
        .is_some_and(|v| {
            v.iter().any(|v| {
                v.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.starts_with("kube-api-access-"))
            })
        });
    if already {
        return;
    }
    let volume_name = format!("kube-api-access-{}", meta::random_suffix(5));
    let mut mounted = false;
    for key in ["initContainers", "containers"] {
        if let Some(list) = spec.get_mut(key).and_then(Value::as_array_mut) {
            for c in list.iter_mut().filter_map(Value::as_object_mut) {
                let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
                if let Some(mounts) = mounts.as_array_mut() {
                    if mounts
                        .iter()
                        .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH))
                    {
                        continue;
                    }
                    mounts.push(
                        json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH}),
                    );
                    mounted = true;
                }
            }
        }
    }
    if !mounted {
        return;
    }
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(volumes) = volumes.as_array_mut() {
        volumes.push(json!({
            "name": volume_name,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ],
                "defaultMode": 420
            }
        }));
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        if limits.is_some_and(|l| !l.is_empty()) || requests.is_some_and(|r| !r.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = limits.and_then(|l| l.get(res));
            let r = requests.and_then(|r| r.get(res)).or(l);
            if l.is_none() || l != r {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A Job's defaults, and the selector and labels the API server generates
/// for it (unless `spec.manualSelector`): both tie its pods to its uid.
fn job(obj: &mut Value) {
    let uid = meta::uid(obj).to_string();
    let name = meta::name(obj).to_string();
    let Some(spec) = obj_mut(obj, "spec") else {
        return;
    };
    // Both unset: one pod, once. Only parallelism set: a work queue (no
    // completions). Only completions set: one at a time.
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && !uid.is_empty() {
        // A selector the user wrote is kept, for validation to refuse.
        set_default(
            spec,
            "selector",
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        let template = spec.entry("template").or_insert_with(|| json!({}));
        let labels = &mut template["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels[k] = json!(v);
        }
    }
    if let Some(tspec) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod_spec(tspec);
    }
}

/// A MutatingWebhookConfiguration's webhooks get the API server's defaults.
fn mutating_webhooks(obj: &mut Value) {
    let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(Value::as_object_mut) {
        set_default(hook, "failurePolicy", json!("Fail"));
        set_default(hook, "matchPolicy", json!("Equivalent"));
        set_default(hook, "namespaceSelector", json!({}));
        set_default(hook, "objectSelector", json!({}));
        set_default(hook, "timeoutSeconds", json!(10));
        set_default(hook, "reinvocationPolicy", json!("Never"));
        if let Some(svc) = hook
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
        {
            set_default(svc, "port", json!(443));
        }
        for rule in hook
            .get_mut("rules")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            set_default(rule, "scope", json!("*"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(pull_policy("registry:5000/nginx:1.2"), "IfNotPresent");
        assert_eq!(pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn pod_gets_real_noise() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}});
        apply(ids::pods(), &mut pod);
        pod_service_account_token(&mut pod);
        let spec = &pod["spec"];
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["tolerations"].as_array().map(Vec::len), Some(2));
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            spec["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
        let vol = spec["volumes"][0]["name"].as_str().unwrap();
        assert!(vol.starts_with("kube-api-access-") && vol.len() == 21);
        assert_eq!(spec["containers"][0]["volumeMounts"][0]["name"], vol);
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
    }

    #[test]
    fn deployment_defaults() {
        let mut d =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        apply(ids::deployments(), &mut d);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert!(d["spec"]["template"]["spec"].get("tolerations").is_none());
    }

    #[test]
    fn qos_classes() {
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"memory": "1Gi"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
    }
}
