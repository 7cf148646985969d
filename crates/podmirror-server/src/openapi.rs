//! The OpenAPI 3.1 document, generated from the code: the table of
//! operations below (the router's routes, kept in step by a test) and the
//! JSON schemas of the request and answer types (schemars).

use crate::views::*;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// A schema maker for one type.
type SchemaFn = fn(&mut SchemaGenerator) -> Value;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

fn list<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    json!({"type": "array", "items": g.subschema_for::<T>().to_value()})
}

fn text(_: &mut SchemaGenerator) -> Value {
    json!({"type": "string"})
}

/// One operation of the API.
pub struct Operation {
    /// `get`, `post`, `put`, `delete`.
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it (`none` for no token; `policy`: the org's fix policy).
    pub role: &'static str,
    /// Whether it takes `?namespace=`.
    pub namespace_query: bool,
    /// The body it takes, if any.
    pub request: Option<SchemaFn>,
    /// Its success status and answer.
    pub response: (u16, SchemaFn),
    /// Its content type, when not JSON.
    pub content_type: &'static str,
}

const JSON: &str = "application/json";

impl Operation {
    /// Its name in the audit log and in refusals.
    pub fn action(&self) -> &'static str {
        match (self.method, self.path) {
            ("post", "/api/diagnosis/{pod}") => "diagnose",
            ("post", "/api/fix/{pod}/apply") => "fix.apply",
            ("post", "/api/mirror/preview/{pod_id}") => "mirror.preview",
            ("post", "/api/mirror/deploy/{pod_id}") => "mirror.deploy",
            ("delete", _) => "mirror.delete",
            ("post", "/api/mirror/{mirror_id}/extend") => "mirror.extend",
            ("put", "/api/admin/settings/mirror-ttl") => "settings.mirror-ttl",
            ("get", "/api/audit") => "audit.read",
            _ => "read",
        }
    }

    /// The least role that may call it; None when no token is needed.
    pub fn least_role(&self) -> Option<podmirror_store::Role> {
        match self.role {
            "none" => None,
            "write" => Some(podmirror_store::Role::Write),
            "admin" => Some(podmirror_store::Role::Admin),
            // "read", and "policy" (checked by the handler against the org).
            _ => Some(podmirror_store::Role::Read),
        }
    }
}

static OPERATIONS: std::sync::LazyLock<Vec<Operation>> = std::sync::LazyLock::new(operations);

/// The operation a routed request is for.
pub fn find(method: &http::Method, path: &str) -> Option<&'static Operation> {
    let m = method.as_str().to_ascii_lowercase();
    OPERATIONS.iter().find(|o| o.method == m && o.path == path)
}

/// Every operation the router serves.
pub fn operations() -> Vec<Operation> {
    let op = |method, path, summary, role, response: (u16, SchemaFn)| Operation {
        method,
        path,
        summary,
        role,
        namespace_query: false,
        request: None,
        response,
        content_type: JSON,
    };
    vec![
        Operation {
            content_type: "text/plain",
            ..op("get", "/healthz", "The process is up.", "none", (200, text))
        },
        Operation {
            content_type: "text/plain",
            ..op(
                "get",
                "/readyz",
                "The pod watch has synced and the database answers.",
                "none",
                (200, text),
            )
        },
        Operation {
            content_type: "text/plain",
            ..op(
                "get",
                "/metrics",
                "Prometheus metrics.",
                "none",
                (200, text),
            )
        },
        op(
            "get",
            "/api/openapi.json",
            "This document.",
            "none",
            (200, |_| json!({"type": "object"})),
        ),
        op(
            "get",
            "/api/auth/me",
            "The caller: token name, role, org, and what the role may do.",
            "read",
            (200, schema::<Me>),
        ),
        op(
            "get",
            "/api/pods/failing",
            "Pods of the caller's org that are not healthy, with their last diagnosis and live mirrors.",
            "read",
            (200, list::<FailingPod>),
        ),
        Operation {
            content_type: "text/event-stream",
            ..op(
                "get",
                "/api/pods/failing/events",
                "Server-sent events: `snapshot` {now, pods: [FailingPod]} first, then `update` {now, upsert: [FailingPod], remove: [pod_id]} on each change; `unauthorized` when the token stops counting.",
                "read",
                (200, text),
            )
        },
        op(
            "get",
            "/api/pods/{pod_id}",
            "A pod's containers, events and YAML (managedFields removed); pod_id is namespace:name.",
            "read",
            (200, schema::<PodDetail>),
        ),
        op(
            "get",
            "/api/pods/{pod_id}/logs",
            "The last log lines of a container (`?container=NAME&previous=true&tail=N`).",
            "read",
            (200, schema::<PodLogs>),
        ),
        op(
            "get",
            "/api/traffic/{pod_id}",
            "What the pod's traffic tap saw, by endpoint (`?minutes=N`, 1 to 60, default 15): counts, status mix, p50/p99 latency, incomplete exchanges, the tap's counters. Methods, path templates, statuses and times only: no header, cookie, query or body. 404 when the pod has no tap.",
            "admin",
            (200, schema::<podmirror_tap::snapshot::Snapshot>),
        ),
        Operation {
            namespace_query: true,
            ..op(
                "get",
                "/api/diagnosis/{pod}",
                "The pod's last diagnosis within the window, and whether the caller may apply its fix.",
                "read",
                (200, schema::<DiagnosisView>),
            )
        },
        Operation {
            namespace_query: true,
            ..op(
                "post",
                "/api/diagnosis/{pod}",
                "Diagnose the pod now and keep the diagnosis.",
                "write",
                (200, schema::<DiagnoseResult>),
            )
        },
        Operation {
            namespace_query: true,
            ..op(
                "post",
                "/api/fix/{pod}/apply",
                "Apply the last diagnosis's fix to the pod's workload (org policy; default admin).",
                "policy",
                (200, schema::<Applied>),
            )
        },
        Operation {
            request: Some(schema::<DeployRequest>),
            ..op(
                "post",
                "/api/mirror/preview/{pod_id}",
                "The mirror manifest and its diff, checked by the API server in a dry run (422 with causes at their fields when refused), without deploying.",
                "read",
                (200, schema::<Preview>),
            )
        },
        Operation {
            request: Some(schema::<DeployRequest>),
            ..op(
                "post",
                "/api/mirror/deploy/{pod_id}",
                "Deploy a mirror of the pod (pod_id is namespace:name).",
                "admin",
                (201, schema::<MirrorStatus>),
            )
        },
        op(
            "get",
            "/api/mirror/status/{mirror_id}",
            "A mirror's phase, readiness, restarts, verdict, expiry and recent events.",
            "read",
            (200, schema::<MirrorStatus>),
        ),
        Operation {
            content_type: "text/event-stream",
            ..op(
                "get",
                "/api/mirror/status/{mirror_id}/events",
                "Server-sent events: `status` (a MirrorStatus) on every change and each second; `deleted` at the end.",
                "read",
                (200, text),
            )
        },
        op(
            "delete",
            "/api/mirror/{mirror_id}",
            "Delete a mirror (its scaled-down Deployment is restored).",
            "admin",
            (200, schema::<Deleted>),
        ),
        Operation {
            request: Some(schema::<ExtendRequest>),
            ..op(
                "post",
                "/api/mirror/{mirror_id}/extend",
                "Make a mirror live longer (its TTL grows by by_seconds, at most 3600 s from now).",
                "admin",
                (200, schema::<MirrorStatus>),
            )
        },
        op(
            "get",
            "/api/mirror/active",
            "The caller's org's mirrors.",
            "read",
            (200, list::<MirrorStatus>),
        ),
        Operation {
            content_type: "text/event-stream",
            ..op(
                "get",
                "/api/mirror/active/events",
                "Server-sent events: `mirrors` {now, mirrors: [MirrorStatus]} at once and on each change; `unauthorized` when the token stops counting.",
                "read",
                (200, text),
            )
        },
        op(
            "get",
            "/api/admin/settings/mirror-ttl",
            "The default mirror TTL.",
            "read",
            (200, schema::<MirrorTtl>),
        ),
        Operation {
            request: Some(schema::<MirrorTtl>),
            ..op(
                "put",
                "/api/admin/settings/mirror-ttl",
                "Change the default mirror TTL (30 to 3600 s).",
                "admin",
                (200, schema::<MirrorTtl>),
            )
        },
        op(
            "get",
            "/api/audit",
            "The audit log of the caller's org (`?after=SEQ&limit=N`).",
            "admin",
            (200, list::<podmirror_store::AuditEntry>),
        ),
        op(
            "get",
            "/api/audit/verify",
            "Whether the audit log's hash chain holds, as `podmirror audit verify` reports it.",
            "admin",
            (200, schema::<AuditVerify>),
        ),
    ]
}

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let error = schema::<ErrorBody>(&mut g);
    let mut paths = Map::new();
    for op in operations() {
        let mut params = Vec::new();
        for part in op.path.split('/') {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        if op.namespace_query {
            params.push(
                json!({"name": "namespace", "in": "query", "required": false,
                "schema": {"type": "string", "default": "default"}}),
            );
        }
        if op.path == "/api/mirror/status/{mirror_id}" {
            params.push(json!({"name": "settle", "in": "query", "required": false,
                "description": "Seconds every container must stay ready without a restart to be Healthy.",
                "schema": {"type": "number", "minimum": 0, "maximum": 3600, "default": 30}}));
        }
        if op.path == "/api/fix/{pod}/apply" {
            params.push(json!({"name": "dry_run", "in": "query", "required": false,
                "description": "Show what would change without changing it.",
                "schema": {"type": "boolean", "default": false}}));
        }
        if op.path == "/api/pods/{pod_id}/logs" {
            params.push(
                json!({"name": "container", "in": "query", "required": false,
                "description": "The container (default: the first that is not an init container).",
                "schema": {"type": "string"}}),
            );
            params.push(json!({"name": "previous", "in": "query", "required": false,
                "description": "The previous run's lines.",
                "schema": {"type": "boolean", "default": false}}));
            params.push(json!({"name": "tail", "in": "query", "required": false,
                "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 200}}));
        }
        if op.path == "/api/traffic/{pod_id}" {
            params.push(json!({"name": "minutes", "in": "query", "required": false,
                "description": "The window, in minutes.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 15}}));
        }
        if op.path == "/api/audit" {
            for name in ["after", "limit"] {
                params.push(json!({"name": name, "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}));
            }
        }
        let (status, answer) = op.response;
        let mut responses = Map::new();
        responses.insert(
            status.to_string(),
            json!({"description": "OK", "content": {op.content_type: {"schema": answer(&mut g)}}}),
        );
        let has_params = op.path.contains('{') || op.namespace_query || op.path == "/api/audit";
        let touches_cluster = op.path.starts_with("/api/mirror")
            || op.path.starts_with("/api/fix")
            || (op.path.starts_with("/api/diagnosis") && op.method == "post");
        let mut errors = Vec::new();
        if op.role != "none" {
            errors.extend([
                ("401", "No token, or an unknown or revoked one"),
                ("403", "The role or the org's policy does not allow it"),
                ("429", "The token's rate limit is spent"),
            ]);
        }
        if has_params || op.request.is_some() {
            errors.extend([
                ("400", "The request does not parse"),
                ("404", "Not found, or not the caller's org's"),
                ("422", "Values outside what is accepted"),
            ]);
        }
        if op.request.is_some() {
            errors.push(("413", "The body is over 1 MiB"));
        }
        if touches_cluster {
            errors.extend([
                ("409", "A conflict in the cluster"),
                ("502", "The Kubernetes API failed"),
                (
                    "503",
                    "The Kubernetes API or the database is unavailable; try again",
                ),
            ]);
        }
        if op.path == "/readyz" {
            errors.push(("503", "Not ready yet"));
        }
        for (code, what) in errors {
            responses.insert(
                code.into(),
                json!({"description": what, "content": {JSON: {"schema": error.clone()}}}),
            );
        }
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
            "x-podmirror-role": op.role,
        });
        if op.role != "none" {
            operation["security"] = json!([{"bearer": []}]);
        } else {
            operation["security"] = json!([]);
        }
        if let Some(request) = op.request {
            operation["requestBody"] = json!({"required": op.method == "put",
                "content": {JSON: {"schema": request(&mut g)}}});
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "podmirror", "version": env!("CARGO_PKG_VERSION"),
            "description": "Diagnose failing pods, prove fixes on disposable mirrors, apply them with an audit trail."},
        "paths": paths,
        "components": {
            "schemas": g.take_definitions(true),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}
