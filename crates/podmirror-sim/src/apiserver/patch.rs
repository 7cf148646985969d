//! The four patch types the API server accepts: JSON Patch, JSON merge patch,
//! strategic merge patch, and server-side apply.

use crate::cluster::WriteOptions;
use crate::error::ApiError;
use crate::managed::{self, Operation};
use crate::resources::{self, ResourceId};
use crate::{meta, strategic};
use serde_json::{Value, json};

/// The patch type, chosen by the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// Parses a Content-Type header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

fn rejected(kind: &str, name: &str, err: impl std::fmt::Display) -> ApiError {
    let mut e = ApiError::invalid(kind, "", name, vec![]);
    e.message = format!("the server rejected our request due to an error in our request: {err}");
    e.details = Some(
        json!({"causes": [{"reason": "FieldValueInvalid", "field": "patch", "message": err.to_string()}]}),
    );
    e
}

/// Applies a JSON, merge or strategic patch to `current`.
pub fn patch(
    kind: PatchType,
    res: ResourceId,
    current: &Value,
    body: &Value,
) -> Result<Value, ApiError> {
    let r = resources::get(res);
    let name = meta::name(current);
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(body.clone()).map_err(|e| {
                ApiError::bad_request(format!(
                    "json: cannot unmarshal the patch into a JSON Patch document: {e}"
                ))
            })?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| rejected(r.kind, name, e))?;
            Ok(doc)
        }
        PatchType::Merge => {
            if !body.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal a merge patch that is not a JSON object",
                ));
            }
            let mut doc = current.clone();
            json_patch::merge(&mut doc, body);
            Ok(doc)
        }
        PatchType::Strategic => {
            if !body.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal a strategic merge patch that is not a JSON object",
                ));
            }
            strategic::strategic_merge(current, body).map_err(|e| rejected(r.kind, name, e))
        }
        PatchType::Apply => Err(ApiError::internal(
            "server-side apply goes through patch::apply",
        )),
    }
}

/// Server-side apply of `config` by `opts.field_manager` onto the live object.
pub fn apply(
    res: ResourceId,
    live: &Value,
    config: &Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let r = resources::get(res);
    if opts.field_manager.is_empty() {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let Some(map) = config.as_object() else {
        return Err(ApiError::bad_request(
            "error decoding YAML: the apply configuration is not an object",
        ));
    };
    for (field, expected) in [
        ("apiVersion", r.api_version()),
        ("kind", r.kind.to_string()),
    ] {
        match map.get(field).and_then(Value::as_str) {
            Some(v) if v == expected => {}
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "the {field} in the apply configuration ({v}) does not match the object ({expected})"
                )));
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "{field} must be set in the apply configuration"
                )));
            }
        }
    }
    let mut config = config.clone();
    meta::drop_nulls(&mut config);
    if let Some(md) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
        md.remove("resourceVersion");
    }
    let applied = managed::paths_of(&config);
    let api_version = r.api_version();

    // Fields the config sets to a different value than another manager left there conflict.
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for (manager, owned) in managed::entries(live) {
        if manager.manager == opts.field_manager {
            continue;
        }
        for path in applied.intersection(&owned) {
            if strategic::get_path(live, path) != strategic::get_path(&config, path) {
                conflicts.push((manager.manager.clone(), managed::path_string(path)));
            }
        }
    }
    let mut merged = strategic::strategic_merge(live, &config)
        .map_err(|e| rejected(r.kind, meta::name(live), e))?;
    if !conflicts.is_empty() && !opts.force {
        return Err(conflict_error(
            r.kind,
            meta::name(live),
            &api_version,
            &conflicts,
        ));
    }
    // Fields this manager applied before and no longer applies go away, unless someone else owns them.
    let previous = managed::owned_by(live, &opts.field_manager, Operation::Apply);
    let others = managed::owned_by_others(live, &opts.field_manager);
    for path in previous.difference(&applied) {
        if !others.contains(path) {
            strategic::remove_path(&mut merged, path);
        }
    }
    managed::take_ownership(
        &mut merged,
        live,
        &opts.field_manager,
        r,
        &applied,
        opts.force,
    );
    Ok(merged)
}

fn conflict_error(
    kind: &str,
    name: &str,
    api_version: &str,
    conflicts: &[(String, String)],
) -> ApiError {
    let mut e = ApiError::conflict(
        crate::error::GroupResource {
            group: "",
            resource: kind,
        },
        name,
        "",
    );
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {:?} using {api_version}: {}",
            conflicts[0].0, conflicts[0].1
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("- conflict with {m:?} using {api_version}: {p}"))
            .collect();
        format!(
            "Apply failed with {} conflicts:\n{}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    e.message = message;
    e.details = Some(json!({
        "causes": conflicts.iter().map(|(m, p)| json!({
            "reason": "FieldManagerConflict",
            "message": format!("conflict with {m:?} using {api_version}"),
            "field": p,
        })).collect::<Vec<_>>(),
    }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ids;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "api", "image": "api:1", "env": [{"name": "A", "value": "1"}]}
            ]}}}
        })
    }

    #[test]
    fn content_types_map_to_patch_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("text/plain"), None);
    }

    #[test]
    fn json_patch_replaces_image() {
        let out = patch(
            PatchType::Json,
            ids::deployments(),
            &deployment(),
            &json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "api:2"}]),
        )
        .unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "api:2"
        );
    }

    #[test]
    fn json_patch_on_missing_path_is_invalid() {
        let err = patch(
            PatchType::Json,
            ids::deployments(),
            &deployment(),
            &json!([{"op": "remove", "path": "/spec/nothing"}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn merge_patch_replaces_lists_but_strategic_merges_them() {
        let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:2"}]}}}});
        let merged = patch(PatchType::Merge, ids::deployments(), &deployment(), &body).unwrap();
        assert!(
            merged["spec"]["template"]["spec"]["containers"][0]
                .get("env")
                .is_none()
        );
        let smp = patch(
            PatchType::Strategic,
            ids::deployments(),
            &deployment(),
            &body,
        )
        .unwrap();
        assert_eq!(
            smp["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"],
            "A"
        );
        assert_eq!(
            smp["spec"]["template"]["spec"]["containers"][0]["image"],
            "api:2"
        );
    }

    #[test]
    fn apply_conflicts_with_another_manager_unless_forced() {
        let mut live = deployment();
        managed::record(
            &mut live,
            None,
            "kubectl-scale",
            Operation::Update,
            resources::get(ids::deployments()),
        );
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 5}});
        let opts = WriteOptions {
            field_manager: "kubectl".into(),
            ..Default::default()
        };
        let err = apply(ids::deployments(), &live, &config, &opts).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message
                .contains("conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"),
            "{}",
            err.message
        );
        let forced = apply(
            ids::deployments(),
            &live,
            &config,
            &WriteOptions {
                force: true,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
    }

    #[test]
    fn apply_removes_fields_the_manager_stopped_applying() {
        let opts = WriteOptions {
            field_manager: "kubectl".into(),
            ..Default::default()
        };
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let first = apply(ids::configmaps(), &live, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}), &opts).unwrap();
        let second = apply(ids::configmaps(), &first, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}), &opts).unwrap();
        assert_eq!(second["data"], json!({"a": "1"}));
    }
}
