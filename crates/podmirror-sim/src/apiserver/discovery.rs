//! Discovery: `/version`, `/api`, `/apis`, per-group-version resource lists,
//! and the aggregated (apidiscovery.k8s.io/v2) documents newer clients prefer.

use crate::http::{json_bytes, json_value};
use crate::resources::{self, RESOURCES, Resource, Subresource, VERBS};
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// The Kubernetes version the sim reports (matching the k8s-openapi feature in use).
pub const KUBE_VERSION: &str = "v1.35.0";

/// `GET /version`.
pub async fn version() -> Response {
    json_value(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": "35",
            "emulationMajor": "1",
            "emulationMinor": "35",
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": "34",
            "gitVersion": KUBE_VERSION,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-12-17T00:00:00Z",
            "goVersion": "go1.25.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

fn wants_aggregated(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for entry in accept.split(',') {
        if entry.contains("as=APIGroupDiscoveryList") && entry.contains("g=apidiscovery.k8s.io") {
            if entry.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if entry.contains("v=v2") {
                return Some("v2");
            }
        }
        if entry.trim().starts_with("application/json") && !entry.contains("as=") {
            return None;
        }
    }
    None
}

fn response_kind(r: &Resource, sub: Option<Subresource>) -> Value {
    match sub {
        Some(Subresource::Scale) => {
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        }
        Some(Subresource::Log) => json!({"group": "", "version": "", "kind": ""}),
        _ => json!({"group": r.group, "version": r.version, "kind": r.kind}),
    }
}

fn sub_verbs(sub: Subresource) -> &'static [&'static str] {
    match sub {
        Subresource::Log => &["get"],
        _ => &["get", "patch", "update"],
    }
}

fn aggregated_resource(r: &Resource) -> Value {
    let mut v = json!({
        "resource": r.plural,
        "responseKind": response_kind(r, None),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        v["subresources"] = json!(
            r.subresources
                .iter()
                .map(|s| json!({
                    "subresource": s.name(),
                    "responseKind": response_kind(r, Some(*s)),
                    "verbs": sub_verbs(*s),
                }))
                .collect::<Vec<_>>()
        );
    }
    v
}

fn aggregated(core: bool, version: &str) -> Response {
    let mut items = Vec::new();
    for (group, gv) in resources::group_versions() {
        if core != group.is_empty() {
            continue;
        }
        let list: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| r.group == group && r.version == gv)
            .map(aggregated_resource)
            .collect();
        let mut md = json!({"creationTimestamp": null});
        if !group.is_empty() {
            md["name"] = json!(group);
        }
        items.push(json!({
            "metadata": md,
            "versions": [{"version": gv, "resources": list, "freshness": "Current"}],
        }));
    }
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    let mut resp = json_bytes(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut()
        .insert("Vary", HeaderValue::from_static("Accept"));
    resp
}

/// `GET /api`.
pub async fn api(headers: HeaderMap) -> Response {
    if let Some(v) = wants_aggregated(&headers) {
        return aggregated(true, v);
    }
    json_value(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
        }),
    )
}

fn group_json(group: &str) -> Value {
    let versions: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(json!({}));
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `GET /apis`.
pub async fn apis(headers: HeaderMap) -> Response {
    if let Some(v) = wants_aggregated(&headers) {
        return aggregated(false, v);
    }
    let mut groups: Vec<&str> = Vec::new();
    for (g, _) in resources::group_versions() {
        if !g.is_empty() && !groups.contains(&g) {
            groups.push(g);
        }
    }
    json_value(
        StatusCode::OK,
        &json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": groups.iter().map(|g| group_json(g)).collect::<Vec<_>>(),
        }),
    )
}

/// `GET /apis/{group}`.
pub async fn group(Path(group): Path<String>) -> Response {
    if !RESOURCES.iter().any(|r| r.group == group) {
        return crate::error::ApiError::no_route().into_response();
    }
    let mut g = group_json(&group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    json_value(StatusCode::OK, &g)
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut list = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        list.push(v);
        for s in r.subresources {
            let mut sv = json!({
                "name": format!("{}/{}", r.plural, s.name()),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": sub_verbs(*s),
            });
            if *s == Subresource::Scale {
                sv["group"] = json!("autoscaling");
                sv["version"] = json!("v1");
                sv["kind"] = json!("Scale");
            }
            list.push(sv);
        }
    }
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// `GET /api/{version}`.
pub async fn core_version(Path(version): Path<String>) -> Response {
    match resource_list("", &version) {
        Some(v) => json_value(StatusCode::OK, &v),
        None => crate::error::ApiError::no_route().into_response(),
    }
}

/// `GET /apis/{group}/{version}`.
pub async fn group_version(Path((group, version)): Path<(String, String)>) -> Response {
    match resource_list(&group, &version) {
        Some(v) => json_value(StatusCode::OK, &v),
        None => crate::error::ApiError::no_route().into_response(),
    }
}
