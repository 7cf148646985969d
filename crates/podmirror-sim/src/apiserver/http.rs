//! The HTTP face of the API server: routing of resource URLs, query options,
//! body decoding, content negotiation (JSON, Table, PartialObjectMetadata).

use crate::Sim;
use crate::cluster::{
    DeleteOptions, ListOptions, Propagation, WriteOptions, apply_scale, scale_view,
};
use crate::error::ApiError;
use crate::patch::PatchType;
use crate::resources::{self, ResourceId, Subresource, ids};
use crate::selector::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest request body the server reads (the real server's limit, 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A parsed resource URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Which resource.
    pub res: ResourceId,
    /// Namespace from the URL (None for all namespaces or cluster-scoped).
    pub ns: Option<String>,
    /// Object name, for object URLs.
    pub name: Option<String>,
    /// Subresource segment.
    pub sub: Option<String>,
}

/// Parses `/api/v1/...` or `/apis/g/v/...` into a [`Target`].
pub fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let find = |plural: &str| resources::find(group, version, plural);
    let t = |res, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Some(Target {
            res,
            ns: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        })
    };
    match rest {
        [plural] => t(find(plural)?, None, None, None),
        ["namespaces", ns, plural] if resources::get(find(plural)?).namespaced => {
            t(find(plural)?, Some(ns), None, None)
        }
        ["namespaces", ns, plural, name] if resources::get(find(plural)?).namespaced => {
            t(find(plural)?, Some(ns), Some(name), None)
        }
        ["namespaces", ns, plural, name, sub] if resources::get(find(plural)?).namespaced => {
            t(find(plural)?, Some(ns), Some(name), Some(sub))
        }
        [plural, name] if !resources::get(find(plural)?).namespaced => {
            t(find(plural)?, None, Some(name), None)
        }
        [plural, name, sub] if !resources::get(find(plural)?).namespaced => {
            t(find(plural)?, None, Some(name), Some(sub))
        }
        _ => None,
    }
}

/// Query parameters of a request.
pub type Query = HashMap<String, String>;

fn query(req_uri: &http::Uri) -> Query {
    req_uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn flag(q: &Query, key: &str) -> bool {
    matches!(q.get(key).map(String::as_str), Some("true" | "1"))
}

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Representation {
    /// Plain objects.
    Object,
    /// `meta.k8s.io/v1` Table.
    Table(IncludeObject),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

/// Reads the Accept header and `includeObject`.
pub fn representation(headers: &HeaderMap, q: &Query) -> Representation {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first acceptable entry wins, as the server negotiates in order.
    for entry in accept.split(',') {
        let entry = entry.trim();
        if entry.contains("as=Table") && entry.contains("g=meta.k8s.io") {
            let include = match q.get("includeObject").map(String::as_str) {
                Some("Object") => IncludeObject::Object,
                Some("None") => IncludeObject::None,
                _ => IncludeObject::Metadata,
            };
            return Representation::Table(include);
        }
        if entry.contains("as=PartialObjectMetadata") && entry.contains("g=meta.k8s.io") {
            return Representation::Metadata;
        }
        if entry.starts_with("application/json") || entry.starts_with("*/*") || entry.is_empty() {
            return Representation::Object;
        }
    }
    Representation::Object
}

/// A JSON response from raw bytes.
pub fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response from a value.
pub fn json_value(status: StatusCode, v: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(v).unwrap_or_default())
}

/// The PartialObjectMetadata of an object.
pub fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// Renders one object in the requested representation.
pub fn render_one(res: ResourceId, obj: &Value, repr: Representation) -> Value {
    match repr {
        Representation::Object => obj.clone(),
        Representation::Metadata => partial(obj),
        Representation::Table(include) => table::table(
            resources::get(res).kind,
            &[obj],
            json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))}),
            include,
            crate::meta::clock_now(),
        ),
    }
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::too_large(format!(
                "Request entity too large: limit is {MAX_BODY_BYTES}"
            ))
        })
}

/// Decodes a JSON or YAML body.
pub fn decode(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let base = ct.split(';').next().unwrap_or("").trim();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON or YAML object",
        ));
    }
    let yaml = base == "application/yaml" || base.ends_with("+yaml");
    if yaml {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ApiError::bad_request("the YAML body is not valid UTF-8"))?;
        // JSON is YAML too; parse it as JSON first for exact numbers.
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            return Ok(v);
        }
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")));
    }
    if base.contains("json") || base.is_empty() || base == "*/*" {
        return serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        });
    }
    if base == "application/vnd.kubernetes.protobuf" {
        return crate::proto::decode(bytes).map_err(|e| match e {
            crate::proto::ProtoError::Schema(_) => ApiError::internal(e.to_string()),
            other => ApiError::bad_request(other.to_string()),
        });
    }
    Err(ApiError::unsupported_media_type(ct))
}

fn field_manager(headers: &HeaderMap, q: &Query) -> String {
    if let Some(m) = q.get("fieldManager") {
        return m.clone();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.split('/').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn write_options(headers: &HeaderMap, q: &Query) -> Result<WriteOptions, ApiError> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            )));
        }
    };
    if let Some(fv) = q.get("fieldValidation")
        && !matches!(fv.as_str(), "Strict" | "Warn" | "Ignore" | "")
    {
        return Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: {fv:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
        )));
    }
    Ok(WriteOptions {
        dry_run,
        field_manager: field_manager(headers, q),
        force: flag(q, "force"),
        warnings: Default::default(),
    })
}

/// Checks fields the schema does not know, per `fieldValidation`; returns warnings.
fn field_validation(res: ResourceId, q: &Query, obj: &Value) -> Result<Vec<String>, ApiError> {
    let mode = q
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("Warn");
    if mode == "Ignore" {
        return Ok(Vec::new());
    }
    let unknown = crate::openapi::unknown_fields(res, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    if mode == "Strict" {
        let r = resources::get(res);
        return Err(ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
            r.kind,
            r.version,
            r.kind,
            texts.join(", ")
        )));
    }
    Ok(texts)
}

fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

fn list_options(q: &Query, res: ResourceId) -> Result<ListOptions, ApiError> {
    let labels = match q.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let fields = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => {
            let sel = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let kind = selector_kind(res);
            for f in sel.fields() {
                if crate::selector::field_value(kind, &json!({}), f).is_none() {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {f}"
                    )));
                }
            }
            Some(sel)
        }
        None => None,
    };
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| {
                ApiError::bad_request(format!("limit: Invalid value: {l:?}: must be an integer"))
            })?
            .max(0) as usize,
        None => 0,
    };
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

/// The kind name the field-selector table uses for a resource.
pub fn selector_kind(res: ResourceId) -> &'static str {
    if res == ids::new_events() {
        "events.k8s.io/Event"
    } else {
        resources::get(res).kind
    }
}

/// Serializes a list in the requested representation without cloning the objects.
fn list_response(
    res: ResourceId,
    page: crate::cluster::ListPage,
    repr: Representation,
) -> Response {
    let r = resources::get(res);
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = page.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    match repr {
        Representation::Table(include) => table_response(r.kind, &page.items, meta, include),
        Representation::Metadata | Representation::Object => {
            let (kind, api_version) = if repr == Representation::Metadata {
                (
                    "PartialObjectMetadataList".to_string(),
                    "meta.k8s.io/v1".to_string(),
                )
            } else {
                (r.list_kind(), r.api_version())
            };
            let mut out = Vec::with_capacity(256 + page.items.len() * 1024);
            out.extend_from_slice(
                format!(
                    "{{\"kind\":{kind:?},\"apiVersion\":{api_version:?},\"metadata\":{meta},\"items\":["
                )
                .as_bytes(),
            );
            for (i, item) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if repr == Representation::Metadata {
                    let written = serde_json::to_writer(&mut out, &partial(&item.value()));
                    debug_assert!(written.is_ok());
                } else {
                    out.extend_from_slice(&item.json);
                }
            }
            out.extend_from_slice(b"]}");
            json_bytes(StatusCode::OK, out)
        }
    }
}

/// A Table list written row by row, without building one large value.
fn table_response(
    kind: &str,
    items: &[Arc<crate::store::Stored>],
    meta: Value,
    include: IncludeObject,
) -> Response {
    let now = crate::meta::clock_now();
    let skeleton = table::table(kind, &[], meta, include, now);
    if items.is_empty() {
        return json_value(StatusCode::OK, &skeleton);
    }
    let mut head = skeleton;
    if let Some(m) = head.as_object_mut() {
        m.remove("rows");
    }
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop();
    out.extend_from_slice(b",\"rows\":[");
    for (i, stored) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let obj = stored.value();
        let mut row = table::row(kind, &obj, IncludeObject::None, now);
        if let Some(m) = row.as_object_mut() {
            m.remove("object");
        }
        let written = serde_json::to_writer(&mut out, &row);
        debug_assert!(written.is_ok());
        out.pop();
        match include {
            IncludeObject::None => out.extend_from_slice(b",\"object\":null}"),
            IncludeObject::Object => {
                out.extend_from_slice(b",\"object\":");
                out.extend_from_slice(&stored.json);
                out.push(b'}');
            }
            IncludeObject::Metadata => {
                out.extend_from_slice(
                    b",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":",
                );
                let md = obj.get("metadata").unwrap_or(&Value::Null);
                let written = serde_json::to_writer(&mut out, md);
                debug_assert!(written.is_ok());
                out.extend_from_slice(b"}}");
            }
        }
    }
    out.extend_from_slice(b"]}");
    json_bytes(StatusCode::OK, out)
}

fn delete_options(q: &Query, body: Option<&Value>) -> Result<DeleteOptions, ApiError> {
    let body = body.cloned().unwrap_or(json!({}));
    let propagation = q.get("propagationPolicy").cloned().or_else(|| {
        body.get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let orphan = q
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match (propagation.as_deref(), orphan) {
        (Some("Background"), _) => Some(Propagation::Background),
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
        (None, _) => None,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    };
    let grace = match q.get("gracePeriodSeconds") {
        Some(g) => Some(g.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "gracePeriodSeconds: Invalid value: {g:?}: must be an integer"
            ))
        })?),
        None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    let dry_run = q.get("dryRun").map(String::as_str) == Some("All")
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        dry_run,
        grace_period_seconds: grace,
        propagation,
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Handles every resource URL.
pub async fn resource(State(sim): State<Sim>, req: Request) -> Response {
    if let Some(resp) = sim.faults.before_request(req.method(), req.uri()).await {
        return resp;
    }
    match handle(sim, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn handle(sim: Sim, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    if let Some((ns, name, path)) = super::proxy::parse(parts.uri.path()) {
        if parts.method != Method::GET {
            return Err(ApiError::method_not_allowed(
                "the simulated API server proxies GET requests to pods only".to_string(),
            ));
        }
        return super::proxy::serve(&sim, &ns, &name, &path, parts.uri.query()).await;
    }
    let target = parse_path(parts.uri.path()).ok_or_else(ApiError::no_route)?;
    let q = query(&parts.uri);
    let headers = &parts.headers;
    let cluster = &sim.cluster;
    let res = target.res;
    let r = resources::get(res);
    let ns = target.ns.clone();
    let ns_str = ns.clone().unwrap_or_default();
    let repr = representation(headers, &q);
    let sub = match target.sub.as_deref() {
        None => None,
        Some(s) => Some(
            r.subresources
                .iter()
                .copied()
                .find(|x| x.name() == s)
                .ok_or_else(ApiError::no_route)?,
        ),
    };
    if r.namespaced && target.name.is_some() && ns.is_none() {
        return Err(ApiError::no_route());
    }
    let method = parts.method.clone();
    match (&target.name, method) {
        (None, Method::GET) => {
            let opts = list_options(&q, res)?;
            if flag(&q, "watch") {
                return crate::watch::serve(sim.clone(), res, ns, opts, &q, repr);
            }
            if let Some(rv) = q.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()) {
                let current = cluster.store.read().rv();
                if rv > current && q.get("resourceVersionMatch").is_none_or(|m| m != "Exact") {
                    return Err(ApiError::gone(format!(
                        "Timeout: Too large resource version: {rv}, current: {current}"
                    )));
                }
            }
            let page = cluster.list(res, ns.as_deref(), &opts)?;
            Ok(list_response(res, page, repr))
        }
        (None, Method::POST) => {
            let ns_for_create = if r.namespaced {
                ns.clone().ok_or_else(|| {
                    ApiError::method_not_allowed(format!(
                        "the server does not allow this method on the requested resource (post {})",
                        r.plural
                    ))
                })?
            } else {
                String::new()
            };
            let bytes = read_body(body).await?;
            let obj = decode(headers, &bytes)?;
            let warnings = field_validation(res, &q, &obj)?;
            let opts = write_options(headers, &q)?;
            let created = cluster.create(res, &ns_for_create, obj, &opts)?;
            let mut warnings = warnings;
            warnings.extend(
                opts.warnings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain(..),
            );
            Ok(with_warnings(
                json_value(StatusCode::CREATED, &render_one(res, &created, repr)),
                &warnings,
            ))
        }
        (None, Method::DELETE) => {
            let bytes = read_body(body).await?;
            let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(decode(headers, &bytes)?)
            };
            let opts = delete_options(&q, body.as_ref())?;
            let list = list_options(&q, res)?;
            let deleted = cluster.delete_collection(res, ns.as_deref(), &list, &opts)?;
            let page = crate::cluster::ListPage {
                items: deleted
                    .iter()
                    .map(|d| crate::store::Stored::new(d))
                    .collect(),
                rv: cluster.store.read().rv(),
                continue_token: None,
                remaining: None,
            };
            Ok(list_response(res, page, Representation::Object))
        }
        (Some(name), Method::GET) => match sub {
            Some(Subresource::Log) => crate::podlog::serve(&sim, &ns_str, name, &q).await,
            Some(Subresource::Scale) => {
                let obj = cluster.get(res, &ns_str, name)?;
                Ok(json_value(StatusCode::OK, &scale_view(&obj)))
            }
            _ => {
                let obj = cluster.get(res, &ns_str, name)?;
                Ok(json_value(StatusCode::OK, &render_one(res, &obj, repr)))
            }
        },
        (Some(name), Method::PUT) => {
            let bytes = read_body(body).await?;
            let obj = decode(headers, &bytes)?;
            let opts = write_options(headers, &q)?;
            if sub == Some(Subresource::Scale) {
                let current = cluster.get(res, &ns_str, name)?;
                let updated = apply_scale(&current, &obj)?;
                let out = cluster.update(res, &ns_str, name, None, updated, &opts)?;
                return Ok(json_value(StatusCode::OK, &scale_view(&out)));
            }
            if sub == Some(Subresource::Log) {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let warnings = field_validation(res, &q, &obj)?;
            let out = cluster.update(res, &ns_str, name, sub, obj, &opts)?;
            Ok(with_warnings(
                json_value(StatusCode::OK, &render_one(res, &out, repr)),
                &warnings,
            ))
        }
        (Some(name), Method::PATCH) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let kind = PatchType::from_content_type(ct)
                .ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            if sub == Some(Subresource::Log) {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let bytes = read_body(body).await?;
            let mut patch_headers = headers.clone();
            let decode_as = if kind == PatchType::Apply {
                "application/yaml"
            } else {
                "application/json"
            };
            patch_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(decode_as));
            let body = decode(&patch_headers, &bytes)?;
            let mut opts = write_options(headers, &q)?;
            if kind == PatchType::Apply {
                opts.field_manager = q.get("fieldManager").cloned().unwrap_or_default();
                let warnings = field_validation(res, &q, &body)?;
                let out = cluster.patch(res, &ns_str, name, sub, kind, &body, &opts)?;
                return Ok(with_warnings(
                    json_value(StatusCode::OK, &render_one(res, &out, repr)),
                    &warnings,
                ));
            }
            let out = cluster.patch(res, &ns_str, name, sub, kind, &body, &opts)?;
            if sub == Some(Subresource::Scale) {
                return Ok(json_value(StatusCode::OK, &scale_view(&out)));
            }
            let warnings = field_validation(res, &q, &out)?;
            Ok(with_warnings(
                json_value(StatusCode::OK, &render_one(res, &out, repr)),
                &warnings,
            ))
        }
        (Some(name), Method::DELETE) => {
            if sub.is_some() {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let bytes = read_body(body).await?;
            let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(decode(headers, &bytes)?)
            };
            let opts = delete_options(&q, body.as_ref())?;
            let deleted = cluster.delete(res, &ns_str, name, &opts)?;
            if !deleted.removed && res == ids::pods() {
                sim.schedule_pod_removal(&deleted.object);
            }
            let code = if deleted.removed {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok(json_value(code, &deleted.object))
        }
        (_, m) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            m.as_str().to_lowercase(),
            r.plural
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaced_and_cluster_urls() {
        let t = parse_path("/api/v1/namespaces/shop/pods/api-1/log").unwrap();
        assert_eq!(
            (t.res, t.ns.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            (ids::pods(), Some("shop"), Some("api-1"), Some("log"))
        );
        let t = parse_path("/api/v1/namespaces/shop").unwrap();
        assert_eq!(
            (t.res, t.name.as_deref()),
            (ids::namespaces(), Some("shop"))
        );
        let t = parse_path("/apis/apps/v1/deployments").unwrap();
        assert_eq!((t.res, t.ns), (ids::deployments(), None));
        let t = parse_path("/api/v1/nodes/n1/status").unwrap();
        assert_eq!(t.sub.as_deref(), Some("status"));
        assert!(parse_path("/api/v1/widgets").is_none());
        assert!(parse_path("/apis/apps/v1/namespaces/x/pods").is_none());
    }

    #[test]
    fn table_accept_header_is_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert_eq!(
            representation(&h, &Query::new()),
            Representation::Table(IncludeObject::Metadata)
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(representation(&h, &Query::new()), Representation::Object);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let h = HeaderMap::new();
        assert_eq!(decode(&h, b"{not json").unwrap_err().code, 400);
        let mut y = HeaderMap::new();
        y.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        );
        assert_eq!(decode(&y, b"a: [1, 2\n").unwrap_err().code, 400);
        assert_eq!(decode(&y, b"a: 1\n").unwrap(), json!({"a": 1}));
    }
}
