//! The edits a user asks for on the mirror: `--set-image CONTAINER=IMAGE`
//! (`*` for every container), `--set-env CONTAINER:KEY=VALUE`, `--patch`
//! (JSON Patch operations relative to a PodSpec, the form diagnoses produce)
//! and `-f` (a whole Pod manifest). They apply in the order given.

use crate::CoreError;
use serde_json::{Value, json};

/// One requested edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Set the image of one container, or of every container with `*`.
    SetImage {
        /// Container name or `*`.
        container: String,
        /// The new image reference.
        image: String,
    },
    /// Set (or add) one environment variable of one container.
    SetEnv {
        /// Container name.
        container: String,
        /// Variable name.
        key: String,
        /// Its value.
        value: String,
    },
    /// JSON Patch operations with paths relative to the pod's `spec`.
    Patch(Value),
    /// A whole Pod manifest that replaces the source's metadata labels/annotations and spec.
    Manifest(Value),
}

impl Change {
    /// Parses `--set-image CONTAINER=IMAGE`.
    pub fn set_image(arg: &str) -> Result<Change, CoreError> {
        match arg.split_once('=') {
            Some((c, i)) if !c.trim().is_empty() && !i.trim().is_empty() => Ok(Change::SetImage {
                container: c.trim().to_string(),
                image: i.trim().to_string(),
            }),
            _ => Err(CoreError::ChangeSyntax {
                flag: "--set-image",
                input: arg.to_string(),
                expected: "CONTAINER=IMAGE (or *=IMAGE for every container)",
            }),
        }
    }

    /// Parses `--set-env CONTAINER:KEY=VALUE` (the value may be empty or contain `=`).
    pub fn set_env(arg: &str) -> Result<Change, CoreError> {
        let bad = || CoreError::ChangeSyntax {
            flag: "--set-env",
            input: arg.to_string(),
            expected: "CONTAINER:KEY=VALUE",
        };
        let (container, rest) = arg.split_once(':').ok_or_else(bad)?;
        let (key, value) = rest.split_once('=').ok_or_else(bad)?;
        if container.trim().is_empty() || key.trim().is_empty() {
            return Err(bad());
        }
        Ok(Change::SetEnv {
            container: container.trim().to_string(),
            key: key.trim().to_string(),
            value: value.to_string(),
        })
    }

    /// Reads `--patch`: a JSON (or YAML) array of JSON Patch operations on a PodSpec.
    pub fn patch(ops: Value) -> Result<Change, CoreError> {
        if serde_json::from_value::<json_patch::Patch>(ops.clone()).is_err() {
            return Err(CoreError::ChangeSyntax {
                flag: "--patch",
                input: truncate(&ops.to_string()),
                expected: "a JSON Patch: a list of {op, path, value} operations with paths relative to the pod spec, e.g. [{\"op\":\"replace\",\"path\":\"/containers/0/image\",\"value\":\"api:1.4.1\"}]",
            });
        }
        Ok(Change::Patch(ops))
    }

    /// Reads `-f`: a whole Pod manifest.
    pub fn manifest(pod: Value) -> Result<Change, CoreError> {
        let kind = pod.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "Pod" {
            return Err(CoreError::Manifest(format!(
                "its kind is {:?}; podmirror test -f takes a Pod (kind: Pod)",
                kind
            )));
        }
        if !pod.pointer("/spec/containers").is_some_and(Value::is_array) {
            return Err(CoreError::Manifest(
                "it has no spec.containers list".to_string(),
            ));
        }
        Ok(Change::Manifest(pod))
    }

    /// One line saying what this change does, for previews and audit records.
    pub fn describe(&self) -> String {
        match self {
            Change::SetImage { container, image } if container == "*" => {
                format!("image of every container → {image}")
            }
            Change::SetImage { container, image } => format!("image of {container} → {image}"),
            Change::SetEnv { container, key, .. } => format!("env {key} of {container} set"),
            Change::Patch(ops) => format!(
                "JSON Patch with {} operation(s)",
                ops.as_array().map_or(0, Vec::len)
            ),
            Change::Manifest(_) => "whole manifest replaced".to_string(),
        }
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Applies `changes` in order to a (cleaned) pod. `pod_name` names it in errors.
pub fn apply(pod: &mut Value, changes: &[Change], pod_name: &str) -> Result<(), CoreError> {
    for change in changes {
        match change {
            Change::SetImage { container, image } => {
                let names = container_names(pod);
                let mut hit = false;
                for c in containers_mut(pod) {
                    if container == "*" || c.get("name").and_then(Value::as_str) == Some(container)
                    {
                        c["image"] = json!(image);
                        hit = true;
                    }
                }
                if !hit {
                    return Err(no_such(pod_name, container, &names));
                }
            }
            Change::SetEnv {
                container,
                key,
                value,
            } => {
                let names = container_names(pod);
                let c = containers_mut(pod)
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
                    .ok_or_else(|| no_such(pod_name, container, &names))?;
                let env = c
                    .as_object_mut()
                    .map(|m| m.entry("env").or_insert_with(|| json!([])));
                let Some(Value::Array(env)) = env else {
                    return Err(no_such(pod_name, container, &names));
                };
                match env
                    .iter_mut()
                    .find(|e| e.get("name").and_then(Value::as_str) == Some(key))
                {
                    // A literal value replaces whatever source the variable had.
                    Some(e) => *e = json!({"name": key, "value": value}),
                    None => env.push(json!({"name": key, "value": value})),
                }
            }
            Change::Patch(ops) => {
                let patch: json_patch::Patch =
                    serde_json::from_value(ops.clone()).map_err(|e| CoreError::Patch {
                        pod: pod_name.to_string(),
                        reason: e.to_string(),
                    })?;
                let spec = pod
                    .as_object_mut()
                    .map(|m| m.entry("spec").or_insert_with(|| json!({})))
                    .ok_or_else(|| CoreError::NotAPod(pod_name.to_string()))?;
                json_patch::patch(spec, &patch).map_err(|e| CoreError::Patch {
                    pod: pod_name.to_string(),
                    reason: e.to_string(),
                })?;
            }
            Change::Manifest(manifest) => {
                let clean = crate::cleanup::clean_pod(manifest);
                for key in ["labels", "annotations"] {
                    match clean.pointer(&format!("/metadata/{key}")) {
                        Some(v) => pod["metadata"][key] = v.clone(),
                        None => {
                            if let Some(md) = pod.get_mut("metadata").and_then(Value::as_object_mut)
                            {
                                md.remove(key);
                            }
                        }
                    }
                }
                pod["spec"] = clean.get("spec").cloned().unwrap_or_else(|| json!({}));
            }
        }
    }
    Ok(())
}

fn containers_mut(pod: &mut Value) -> impl Iterator<Item = &mut Value> {
    pod.pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn container_names(pod: &Value) -> String {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

fn no_such(pod: &str, container: &str, known: &str) -> CoreError {
    CoreError::NoSuchContainer {
        pod: pod.to_string(),
        container: container.to_string(),
        known: known.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "api-1", "labels": {"app": "api"}}, "spec": {"containers": [
            {"name": "api", "image": "api:1", "env": [{"name": "MODE", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            {"name": "proxy", "image": "envoy:1"}
        ]}})
    }

    #[test]
    fn parses_flags_and_refuses_malformed_ones() {
        assert_eq!(
            Change::set_image("api=api:2").ok(),
            Some(Change::SetImage {
                container: "api".into(),
                image: "api:2".into()
            })
        );
        assert_eq!(
            Change::set_env("api:URL=http://x?a=b").ok(),
            Some(Change::SetEnv {
                container: "api".into(),
                key: "URL".into(),
                value: "http://x?a=b".into()
            })
        );
        for bad in ["api", "=x", "api="] {
            let e = Change::set_image(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("CONTAINER=IMAGE"), "{e}");
        }
        for bad in ["api=x", ":K=V", "api:=V", "api:K"] {
            let e = Change::set_env(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("CONTAINER:KEY=VALUE"), "{e}");
        }
        let e = Change::patch(json!({"op": "add"}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("JSON Patch"), "{e}");
        let e = Change::manifest(json!({"kind": "Deployment"}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("\"Deployment\""), "{e}");
    }

    #[test]
    fn applies_in_order() {
        let mut p = pod();
        apply(
            &mut p,
            &[
                Change::SetImage { container: "*".into(), image: "x:9".into() },
                Change::SetImage { container: "api".into(), image: "api:2".into() },
                Change::SetEnv { container: "api".into(), key: "MODE".into(), value: "safe".into() },
                Change::SetEnv { container: "proxy".into(), key: "LOG".into(), value: "debug".into() },
                Change::patch(json!([{"op": "add", "path": "/containers/0/resources", "value": {"limits": {"memory": "256Mi"}}}])).unwrap(),
            ],
            "api-1",
        )
        .unwrap();
        assert_eq!(p["spec"]["containers"][0]["image"], "api:2");
        assert_eq!(p["spec"]["containers"][1]["image"], "x:9");
        assert_eq!(
            p["spec"]["containers"][0]["env"],
            json!([{"name": "MODE", "value": "safe"}])
        );
        assert_eq!(
            p["spec"]["containers"][1]["env"],
            json!([{"name": "LOG", "value": "debug"}])
        );
        assert_eq!(
            p["spec"]["containers"][0]["resources"]["limits"]["memory"],
            "256Mi"
        );
    }

    #[test]
    fn says_which_containers_exist_and_why_a_patch_failed() {
        let mut p = pod();
        let e = apply(&mut p, &[Change::set_image("web=x").unwrap()], "api-1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            e,
            "pod api-1 has no container named \"web\" (containers: api, proxy)"
        );
        let e = apply(
            &mut p,
            &[Change::patch(
                json!([{"op": "replace", "path": "/containers/5/image", "value": "x"}]),
            )
            .unwrap()],
            "api-1",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.starts_with("the patch does not apply to the pod spec of api-1:"),
            "{e}"
        );
    }

    #[test]
    fn manifest_replaces_spec_and_labels() {
        let mut p = pod();
        let m = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ignored", "labels": {"tier": "x"}},
                       "spec": {"containers": [{"name": "c", "image": "c:1"}]}, "status": {"phase": "Running"}});
        apply(&mut p, &[Change::manifest(m).unwrap()], "api-1").unwrap();
        assert_eq!(p["metadata"]["name"], "api-1");
        assert_eq!(p["metadata"]["labels"], json!({"tier": "x"}));
        assert_eq!(
            p["spec"],
            json!({"containers": [{"name": "c", "image": "c:1"}]})
        );
    }
}
