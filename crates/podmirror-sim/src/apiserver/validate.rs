//! Validation the real API server performs, with its error texts.

use crate::error::{ApiError, Cause};
use crate::meta;
use crate::resources::{self, ResourceId, ids};
use crate::selector::LabelSelector;
use serde_json::{Value, json};
use std::collections::HashSet;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Whether `s` is an RFC 1123 label (≤ 63 chars).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is an RFC 1123 subdomain (≤ 253 chars).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_dns1035(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn name_causes(res: ResourceId, name: &str, causes: &mut Vec<Cause>) {
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
        return;
    }
    let (ok, msg, max) = if res == ids::namespaces() {
        (is_dns_label(name), LABEL_MSG, 63)
    } else if res == ids::services() {
        (is_dns1035(name), DNS1035_MSG, 63)
    } else {
        (is_dns_subdomain(name), SUBDOMAIN_MSG, 253)
    };
    if name.len() > max {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            &format!("must be no more than {max} characters"),
        ));
    } else if !ok {
        causes.push(Cause::invalid("metadata.name", &json!(name), msg));
    }
}

fn labels_causes(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(labels) = meta::labels(obj) else {
        return;
    };
    for (k, v) in labels {
        if LabelSelector::parse(&format!("{k}={}", v.as_str().unwrap_or("?"))).is_err() {
            causes.push(Cause::invalid(
                "metadata.labels",
                v,
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ));
        }
    }
}

fn container_causes(
    list: &[Value],
    path: &str,
    volumes: &HashSet<String>,
    seen: &mut HashSet<String>,
    causes: &mut Vec<Cause>,
) {
    for (i, c) in list.iter().enumerate() {
        let cp = format!("{path}[{i}]");
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            causes.push(Cause::required(format!("{cp}.name"), ""));
        } else if !is_dns_label(name) {
            causes.push(Cause::invalid(
                format!("{cp}.name"),
                &json!(name),
                LABEL_MSG,
            ));
        } else if !seen.insert(name.to_string()) {
            causes.push(Cause::duplicate(format!("{cp}.name"), &json!(name)));
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required(format!("{cp}.image"), ""));
        }
        let mut paths = HashSet::new();
        for (j, m) in c
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mp = format!("{cp}.volumeMounts[{j}]");
            let vname = m.get("name").and_then(Value::as_str).unwrap_or("");
            if vname.is_empty() {
                causes.push(Cause::required(format!("{mp}.name"), ""));
            } else if !volumes.contains(vname) {
                causes.push(Cause::not_found(format!("{mp}.name"), &json!(vname)));
            }
            let mount_path = m.get("mountPath").and_then(Value::as_str).unwrap_or("");
            if mount_path.is_empty() {
                causes.push(Cause::required(format!("{mp}.mountPath"), ""));
            } else if !paths.insert(mount_path.to_string()) {
                causes.push(Cause::invalid(
                    format!("{mp}.mountPath"),
                    &json!(mount_path),
                    "must be unique",
                ));
            }
        }
        for (j, p) in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
            if !(1..=65535).contains(&port) {
                causes.push(Cause::invalid(
                    format!("{cp}.ports[{j}].containerPort"),
                    &json!(port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        for (j, e) in c
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if e.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::required(format!("{cp}.env[{j}].name"), ""));
            }
        }
    }
}

/// Validates a PodSpec found at `path` (`spec` or `spec.template.spec`).
pub fn pod_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    let mut volumes = HashSet::new();
    for (i, v) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            causes.push(Cause::required(format!("{path}.volumes[{i}].name"), ""));
        } else if !volumes.insert(name.to_string()) {
            causes.push(Cause::duplicate(
                format!("{path}.volumes[{i}].name"),
                &json!(name),
            ));
        }
    }
    let containers = spec.get("containers").and_then(Value::as_array);
    let mut seen = HashSet::new();
    match containers {
        Some(list) if !list.is_empty() => container_causes(
            list,
            &format!("{path}.containers"),
            &volumes,
            &mut seen,
            causes,
        ),
        _ => causes.push(Cause::required(format!("{path}.containers"), "")),
    }
    if let Some(list) = spec.get("initContainers").and_then(Value::as_array) {
        container_causes(
            list,
            &format!("{path}.initContainers"),
            &volumes,
            &mut seen,
            causes,
        );
    }
    if let Some(rp) = spec.get("restartPolicy")
        && !matches!(rp.as_str(), Some("Always" | "OnFailure" | "Never"))
    {
        causes.push(Cause::not_supported(
            format!("{path}.restartPolicy"),
            rp,
            &["Always", "OnFailure", "Never"],
        ));
    }
    if let Some(d) = spec.get("activeDeadlineSeconds").and_then(Value::as_i64)
        && d <= 0
    {
        causes.push(Cause::invalid(
            format!("{path}.activeDeadlineSeconds"),
            &json!(d),
            "must be between 1 and 2147483647, inclusive",
        ));
    }
}

fn pod_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    // Only images, activeDeadlineSeconds, tolerations (additions) and a few more may change.
    let mutable = |spec: &Value| {
        let mut s = spec.clone();
        if let Some(m) = s.as_object_mut() {
            for k in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
                "schedulingGates",
                "nodeName",
            ] {
                m.remove(k);
            }
            for key in ["containers", "initContainers"] {
                if let Some(list) = m.get_mut(key).and_then(Value::as_array_mut) {
                    for c in list.iter_mut().filter_map(Value::as_object_mut) {
                        c.remove("image");
                        c.remove("resources");
                    }
                }
            }
        }
        s
    };
    let old_spec = old.get("spec").unwrap_or(&Value::Null);
    let new_spec = new.get("spec").unwrap_or(&Value::Null);
    if mutable(old_spec) != mutable(new_spec) {
        causes.push(Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
    // The deadline may be set or shortened, never lengthened or removed.
    let deadline = |spec: &Value| spec.get("activeDeadlineSeconds").and_then(Value::as_i64);
    match (deadline(old_spec), new_spec.get("activeDeadlineSeconds")) {
        (Some(before), Some(after)) if after.as_i64().is_some_and(|a| a > before) => {
            causes.push(Cause::invalid(
                "spec.activeDeadlineSeconds",
                after,
                "must be less than or equal to previous value",
            ));
        }
        (Some(_), None | Some(Value::Null)) => causes.push(Cause::invalid(
            "spec.activeDeadlineSeconds",
            &Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let old_node = old_spec
        .get("nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let new_node = new_spec
        .get("nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !old_node.is_empty() && old_node != new_node {
        causes.push(Cause::forbidden(
            "spec.nodeName",
            "pod updates may not change nodeName",
        ));
    }
}

fn workload(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    match spec.get("selector") {
        None | Some(Value::Null) => causes.push(Cause::required("spec.selector", "")),
        Some(sel) => match LabelSelector::from_api(sel) {
            Ok(s) if s.is_empty() => causes.push(Cause::invalid(
                "spec.selector",
                sel,
                "empty selector is invalid for deployment",
            )),
            Ok(s) => {
                let labels = spec
                    .pointer("/template/metadata/labels")
                    .and_then(Value::as_object);
                if !s.matches(labels) {
                    let shown = labels.map(|l| {
                        let parts: Vec<String> =
                            l.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                        format!("map[string]string{{{}}}", parts.join(", "))
                    });
                    causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: "spec.template.metadata.labels".into(),
                        message: format!(
                            "Invalid value: {}: `selector` does not match template `labels`",
                            shown.unwrap_or_else(|| "map[string]string(nil)".into())
                        ),
                    });
                }
            }
            Err(e) => causes.push(Cause::invalid("spec.selector", sel, &e.to_string())),
        },
    }
    if let Some(r) = spec.get("replicas").and_then(Value::as_i64)
        && r < 0
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            &json!(r),
            "must be greater than or equal to 0",
        ));
    }
    match spec.pointer("/template/spec") {
        Some(ps) => pod_spec(ps, "spec.template.spec", causes),
        None => causes.push(Cause::required("spec.template.spec.containers", "")),
    }
    if let Some(old) = old
        && old.pointer("/spec/selector") != spec.get("selector")
    {
        causes.push(Cause::invalid(
            "spec.selector",
            spec.get("selector").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
}

/// Validates an object before it is stored; `old` is the stored object on update.
pub fn object(res: ResourceId, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let r = resources::get(res);
    let name = meta::name(obj);
    let mut causes = Vec::new();
    if old.is_none() {
        name_causes(res, name, &mut causes);
    }
    labels_causes(obj, &mut causes);
    if res == ids::pods() {
        pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", &mut causes);
        if let Some(old) = old {
            pod_update(old, obj, &mut causes);
        }
    } else if res == ids::deployments()
        || res == ids::replicasets()
        || res == ids::statefulsets()
        || res == ids::daemonsets()
    {
        workload(obj, old, &mut causes);
    } else if res == ids::jobs() {
        workload(obj, old, &mut causes);
        let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
        let generated =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": meta::uid(obj)}});
        if let Some(sel) = obj.pointer("/spec/selector")
            && !manual
            && *sel != generated
        {
            causes.push(Cause::invalid(
                "spec.selector",
                sel,
                "`selector` not auto-generated",
            ));
        }
        let rp = obj
            .pointer("/spec/template/spec/restartPolicy")
            .cloned()
            .unwrap_or(Value::Null);
        if !matches!(rp.as_str(), Some("OnFailure" | "Never")) {
            causes.push(Cause::not_supported(
                "spec.template.spec.restartPolicy",
                &rp,
                &["OnFailure", "Never"],
            ));
        }
    } else if res == ids::services() {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
        if !external
            && spec
                .get("ports")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        {
            causes.push(Cause::required("spec.ports", ""));
        }
    } else if res == ids::configmaps() || res == ids::secrets() {
        for field in ["data", "binaryData"] {
            for key in obj
                .get(field)
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.keys())
            {
                let ok = !key.is_empty()
                    && key.len() <= 253
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
                if !ok {
                    causes.push(Cause::invalid(
                        format!("{field}[{key}]"),
                        &json!(key),
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    ));
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(r.kind, r.group, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "x"}, "spec": spec})
    }

    #[test]
    fn missing_image_reads_like_the_real_error() {
        let err = object(
            ids::pods(),
            &pod(json!({"containers": [{"name": "a"}]})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "Pod \"x\" is invalid: spec.containers[0].image: Required value"
        );
    }

    #[test]
    fn duplicate_containers_and_undeclared_mounts() {
        let err = object(
            ids::pods(),
            &pod(json!({"containers": [
                {"name": "a", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/d"}]},
                {"name": "a", "image": "i"}
            ]})),
            None,
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("spec.containers[0].volumeMounts[0].name: Not found: \"data\""),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("spec.containers[1].name: Duplicate value: \"a\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let err = object(ids::pods(), &json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "a", "image": "i"}]}}), None).unwrap_err();
        assert!(err.message.starts_with("Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("-a"));
    }

    #[test]
    fn pod_spec_is_immutable_except_images() {
        let old = pod(json!({"containers": [{"name": "a", "image": "i:1"}]}));
        let ok = pod(json!({"containers": [{"name": "a", "image": "i:2"}]}));
        assert!(object(ids::pods(), &ok, Some(&old)).is_ok());
        let bad = pod(json!({"containers": [{"name": "a", "image": "i:1", "command": ["sh"]}]}));
        let err = object(ids::pods(), &bad, Some(&old)).unwrap_err();
        assert!(
            err.message
                .contains("spec: Forbidden: pod updates may not change fields")
        );
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let d = json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        }});
        let err = object(ids::deployments(), &d, None).unwrap_err();
        assert!(
            err.message
                .contains("`selector` does not match template `labels`"),
            "{}",
            err.message
        );
        assert!(err.message.starts_with("Deployment.apps \"d\" is invalid"));
    }
}
