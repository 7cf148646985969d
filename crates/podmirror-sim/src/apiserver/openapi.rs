//! OpenAPI v3 documents per group version, generated from k8s-openapi's
//! schemas, as `kubectl explain` and kubectl's field validation read them; and
//! the unknown-field check behind `fieldValidation=Strict`.

use crate::discovery::KUBE_VERSION;
use crate::error::ApiError;
use crate::http::json_value;
use crate::resources::{self, RESOURCES, Resource, ResourceId};
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use k8s_openapi::api::{admissionregistration, apps, batch, coordination, core, events};
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;

const REF_PREFIX: &str = "#/components/schemas/";

/// Generated documents, keyed by `api/v1` or `apis/{group}/{version}`.
struct Docs {
    docs: HashMap<String, (Value, String)>,
    /// All schemas of all documents, for field validation.
    schemas: Map<String, Value>,
}

fn add_schema(generator: &mut SchemaGenerator, r: &Resource) {
    match (r.group, r.kind) {
        ("", "Namespace") => drop(generator.subschema_for::<core::v1::Namespace>()),
        ("", "Pod") => drop(generator.subschema_for::<core::v1::Pod>()),
        ("", "Event") => drop(generator.subschema_for::<core::v1::Event>()),
        ("", "ConfigMap") => drop(generator.subschema_for::<core::v1::ConfigMap>()),
        ("", "Secret") => drop(generator.subschema_for::<core::v1::Secret>()),
        ("", "Service") => drop(generator.subschema_for::<core::v1::Service>()),
        ("", "ServiceAccount") => drop(generator.subschema_for::<core::v1::ServiceAccount>()),
        ("", "ResourceQuota") => drop(generator.subschema_for::<core::v1::ResourceQuota>()),
        ("", "Node") => drop(generator.subschema_for::<core::v1::Node>()),
        ("", "PersistentVolumeClaim") => {
            drop(generator.subschema_for::<core::v1::PersistentVolumeClaim>())
        }
        ("apps", "Deployment") => drop(generator.subschema_for::<apps::v1::Deployment>()),
        ("apps", "ReplicaSet") => drop(generator.subschema_for::<apps::v1::ReplicaSet>()),
        ("apps", "StatefulSet") => drop(generator.subschema_for::<apps::v1::StatefulSet>()),
        ("apps", "DaemonSet") => drop(generator.subschema_for::<apps::v1::DaemonSet>()),
        ("batch", "Job") => drop(generator.subschema_for::<batch::v1::Job>()),
        ("coordination.k8s.io", "Lease") => {
            drop(generator.subschema_for::<coordination::v1::Lease>())
        }
        ("events.k8s.io", "Event") => drop(generator.subschema_for::<events::v1::Event>()),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => drop(
            generator.subschema_for::<admissionregistration::v1::MutatingWebhookConfiguration>(),
        ),
        _ => {}
    }
}

/// The schema name k8s-openapi gives a kind (`io.k8s.api.core.v1.Pod`).
fn schema_name(r: &Resource) -> String {
    let pkg = match r.group {
        "" => "core".to_string(),
        g => g.trim_end_matches(".k8s.io").to_string(),
    };
    format!("io.k8s.api.{pkg}.{}.{}", r.version, r.kind)
}

/// Rewrites `{$ref, description}` into `{allOf: [{$ref}], description}` as the real documents do.
fn wrap_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("$ref")
                && m.len() > 1
                && let Some(r) = m.remove("$ref")
            {
                m.insert("allOf".into(), json!([{"$ref": r}]));
            }
            m.values_mut().for_each(wrap_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(wrap_refs),
        _ => {}
    }
}

fn gvk(r: &Resource) -> Value {
    json!({"group": r.group, "kind": r.kind, "version": r.version})
}

fn param(name: &str, description: &str, kind: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}})
}

fn operation(r: &Resource, action: &str, op_id: &str, params: Vec<Value>, body: bool) -> Value {
    let reference = json!({"$ref": format!("{REF_PREFIX}{}", schema_name(r))});
    let mut op = json!({
        "tags": [format!("{}{}", if r.group.is_empty() { "core" } else { r.group }, r.version)],
        "description": format!("{action} {}", r.kind),
        "operationId": op_id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r),
    });
    if body {
        op["requestBody"] = json!({"content": {"*/*": {"schema": reference}}, "required": true});
    }
    op
}

fn paths(r: &Resource) -> Map<String, Value> {
    let dry_run = param(
        "dryRun",
        "When present, indicates that modifications should not be persisted.",
        "string",
    );
    let manager = param(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
        "string",
    );
    let validation = param(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
        "string",
    );
    let force = param(
        "force",
        "Force is going to \"force\" Apply requests.",
        "boolean",
    );
    let base = r.prefix();
    let (collection, item) = if r.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", r.plural),
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
        )
    } else {
        (
            format!("{base}/{}", r.plural),
            format!("{base}/{}/{{name}}", r.plural),
        )
    };
    let id = |verb: &str| format!("{verb}{}", r.kind);
    let mut out = Map::new();
    out.insert(
        collection,
        json!({
            "get": operation(r, "list", &id("list"), vec![], false),
            "post": operation(r, "post", &id("create"), vec![dry_run.clone(), manager.clone(), validation.clone()], true),
            "delete": operation(r, "deletecollection", &id("deleteCollection"), vec![dry_run.clone()], false),
        }),
    );
    out.insert(
        item,
        json!({
            "get": operation(r, "get", &id("read"), vec![], false),
            "put": operation(r, "put", &id("replace"), vec![dry_run.clone(), manager.clone(), validation.clone()], true),
            "patch": operation(r, "patch", &id("patch"), vec![dry_run.clone(), manager, validation, force], true),
            "delete": operation(r, "delete", &id("delete"), vec![dry_run], false),
        }),
    );
    out
}

fn fnv_hash(bytes: &[u8]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for &x in bytes {
        a = (a ^ u64::from(x)).wrapping_mul(0x100_0000_01b3);
        b = (b ^ u64::from(x))
            .wrapping_mul(0x100_0000_01b3)
            .rotate_left(5);
    }
    format!("{a:016X}{b:016X}")
}

fn docs() -> &'static Docs {
    static DOCS: OnceLock<Docs> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = HashMap::new();
        let mut all = Map::new();
        for (group, version) in resources::group_versions() {
            let mut generator = SchemaSettings::openapi3()
                .with(|s| s.meta_schema = None)
                .into_generator();
            let members: Vec<&Resource> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == version)
                .collect();
            for r in &members {
                add_schema(&mut generator, r);
            }
            let mut schemas = generator.take_definitions(true);
            for r in &members {
                if let Some(s) = schemas
                    .get_mut(&schema_name(r))
                    .and_then(Value::as_object_mut)
                {
                    s.insert("x-kubernetes-group-version-kind".into(), json!([gvk(r)]));
                }
            }
            let mut schemas = Value::Object(schemas);
            wrap_refs(&mut schemas);
            let mut path_map = Map::new();
            for r in &members {
                path_map.extend(paths(r));
            }
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": KUBE_VERSION},
                "paths": path_map,
                "components": {"schemas": schemas},
            });
            let key = if group.is_empty() {
                format!("api/{version}")
            } else {
                format!("apis/{group}/{version}")
            };
            let hash = fnv_hash(doc.to_string().as_bytes());
            if let Some(m) = doc
                .pointer("/components/schemas")
                .and_then(Value::as_object)
            {
                all.extend(m.clone());
            }
            docs.insert(key, (doc, hash));
        }
        Docs { docs, schemas: all }
    })
}

/// `GET /openapi/v3`: the index of group-version documents.
pub async fn index() -> Response {
    let mut paths = Map::new();
    let mut keys: Vec<&String> = docs().docs.keys().collect();
    keys.sort();
    for k in keys {
        let hash = &docs().docs[k].1;
        paths.insert(
            k.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={hash}")}),
        );
    }
    json_value(StatusCode::OK, &json!({"paths": paths}))
}

/// `GET /openapi/v3/{path}`: one group-version document.
pub async fn document(Path(path): Path<String>) -> Response {
    match docs().docs.get(path.trim_matches('/')) {
        Some((doc, _)) => {
            let mut resp = json_value(StatusCode::OK, doc);
            resp.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("public, immutable"),
            );
            resp
        }
        None => ApiError::no_route().into_response(),
    }
}

fn resolve<'a>(schemas: &'a Map<String, Value>, mut s: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match schemas.get(r.trim_start_matches(REF_PREFIX)) {
                Some(next) => s = next,
                None => return s,
            }
        } else if let Some(first) = s
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            s = first;
        } else {
            return s;
        }
    }
    s
}

fn walk(
    schemas: &Map<String, Value>,
    schema: &Value,
    obj: &Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let schema = resolve(schemas, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
        return;
    }
    match obj {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if props.is_none() && additional.is_none() {
                return;
            }
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) => walk(schemas, s, v, &child, out),
                    (None, Some(a)) => walk(schemas, a, v, &child, out),
                    (None, None) => out.push(child),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(schemas, item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Fields of `obj` that the resource's schema does not declare, as dotted paths.
pub fn unknown_fields(res: ResourceId, obj: &Value) -> Vec<String> {
    let r = resources::get(res);
    let d = docs();
    let Some(schema) = d.schemas.get(&schema_name(r)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&d.schemas, schema, obj, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ids;

    #[test]
    fn pod_schema_has_gvk_and_wrapped_refs() {
        let (doc, _) = &docs().docs["api/v1"];
        let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(
            pod["properties"]["spec"]["allOf"][0]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("io.k8s.api.core.v1.PodSpec"))
        );
        assert!(
            doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "fieldValidation"))
        );
    }

    #[test]
    fn unknown_fields_are_found_with_their_paths() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolcy": "Always"}], "bogus": 1}
        });
        let mut found = unknown_fields(ids::pods(), &pod);
        found.sort();
        assert_eq!(
            found,
            vec!["spec.bogus", "spec.containers[0].imagePullPolcy"]
        );
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"anything": "ok"}});
        assert!(unknown_fields(ids::configmaps(), &cm).is_empty());
    }
}
