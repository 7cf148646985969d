//! The JSON shapes the API answers with and takes (their schemas go into
//! the OpenAPI document).

use podmirror_core::diagnosis::Finding;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An error answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// A stable code: `not_found`, `forbidden`, `invalid`, …
    pub error: String,
    /// What was wrong and what to do.
    pub message: String,
}

/// A failing pod, from the watch cache, with its last diagnosis if any.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FailingPod {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// `namespace:name`, for the mirror routes.
    pub pod_id: String,
    /// status.phase.
    pub phase: String,
    /// The first reason Kubernetes gives (`CrashLoopBackOff`, `Unschedulable`, …).
    pub reason: String,
    /// Container restarts.
    pub restarts: i64,
    /// The owning controller (`ReplicaSet/api-7c9f`), if any.
    pub owner: Option<String>,
    /// The last diagnosis within the window, if any.
    pub diagnosis: Option<DiagnosisSummary>,
}

/// A diagnosis in one line.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiagnosisSummary {
    /// The failure class.
    pub category: String,
    /// Why it fails.
    pub diagnosis: String,
    /// 0 to 1.
    pub confidence_score: f64,
    /// `rules` or `llm`.
    pub source: String,
}

/// A stored diagnosis, for the caller.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisView {
    /// The diagnosis.
    #[serde(flatten)]
    pub finding: Finding,
    /// When it was saved (RFC 3339).
    pub saved_at: String,
    /// The mirror that tested its fix and its verdict, if one did.
    pub verified_by: Option<Verification>,
    /// Whether the caller may apply its fix (org policy, and a runnable fix).
    pub can_apply_fix: bool,
}

/// A mirror's verdict on a fix.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Verification {
    /// The mirror's id.
    pub mirror: String,
    /// `Healthy` or `Failing`.
    pub verdict: String,
}

/// The answer to "diagnose now".
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiagnoseResult {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// True when the pod is running and ready (nothing to diagnose).
    pub healthy: bool,
    /// The diagnosis, when one explains the pod.
    pub finding: Option<Finding>,
    /// What else to know (healthy, unexplained, why the LLM's answer was not used).
    pub message: Option<String>,
}

/// What to deploy (or preview). Who deploys, and in which org, come from
/// the token: `role`, `org` and `created_by` in a body are ignored; any
/// other unknown field is refused (a typo would otherwise pass silently).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Ignored: the token's role counts.
    #[serde(default, rename = "role")]
    #[schemars(skip)]
    pub _role: Option<serde::de::IgnoredAny>,
    /// Ignored: the token's org counts.
    #[serde(default, rename = "org")]
    #[schemars(skip)]
    pub _org: Option<serde::de::IgnoredAny>,
    /// Ignored: the token's name counts.
    #[serde(default, rename = "created_by")]
    #[schemars(skip)]
    pub _created_by: Option<serde::de::IgnoredAny>,
    /// A whole Pod manifest to run instead of the source's spec: a JSON
    /// object, or YAML text.
    #[schemars(schema_with = "manifest_schema")]
    pub manifest: Option<Value>,
    /// JSON Patch operations on the pod's spec.
    #[schemars(schema_with = "patch_schema")]
    pub patch: Option<Value>,
    /// Set a container's image: `CONTAINER=IMAGE` (`*` for all).
    #[serde(default)]
    pub set_image: Vec<String>,
    /// Set an environment variable: `CONTAINER:KEY=VALUE`.
    #[serde(default)]
    pub set_env: Vec<String>,
    /// The diagnosis whose fix this tests; the mirror's verdict is recorded on it.
    pub diagnosis_id: Option<String>,
    /// Lifetime in seconds (30 to 3600; default: the mirror-ttl setting).
    #[schemars(range(min = 30, max = 3600))]
    pub ttl_seconds: Option<u64>,
    /// Remove liveness, readiness and startup probes.
    #[serde(default)]
    pub strip_probes: bool,
    /// Scale the source's Deployment to zero while the mirror runs.
    #[serde(default)]
    pub scale_down: bool,
    /// Keep the source's labels (Services may send it traffic).
    #[serde(default)]
    pub keep_labels: bool,
}

fn manifest_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"anyOf": [{"type": "object"}, {"type": "string"}, {"type": "null"}]})
}

fn patch_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"anyOf": [{"type": "null"}, {"type": "array", "items": {
        "type": "object", "required": ["op", "path"],
        "properties": {"op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string"}, "from": {"type": "string"}, "value": {}}}}]})
}

/// A mirror's manifest before it is deployed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Preview {
    /// The mirror's id (its name), if deployed now.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// The Pod manifest.
    pub manifest: Value,
    /// A unified diff of the source (less runtime fields) and the mirror.
    pub diff: String,
}

/// An event about a mirror.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventView {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Pulled`, `BackOff`, …
    pub reason: String,
    /// Its text.
    pub message: String,
    /// How many times.
    pub count: i64,
}

/// A mirror's state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MirrorStatus {
    /// The mirror's id (its pod name).
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// The source, as `Kind/name` or the pod's name.
    pub source: String,
    /// status.phase.
    pub phase: String,
    /// Whether every container is ready.
    pub ready: bool,
    /// Container restarts.
    pub restarts: i64,
    /// `Healthy`, `Failing` or `Pending`.
    pub verdict: String,
    /// Why, in a few words.
    pub verdict_detail: String,
    /// When the reaper deletes it (RFC 3339).
    pub expires_at: Option<String>,
    /// Seconds left.
    pub remaining_seconds: i64,
    /// Who made it.
    pub created_by: String,
    /// The Deployment it scaled down, if any.
    pub scaled_down: Option<String>,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// Its latest events, newest last (status only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_events: Option<Vec<EventView>>,
}

/// The mirror TTL setting.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct MirrorTtl {
    /// Seconds a mirror lives unless its request says otherwise (30 to 3600).
    #[schemars(range(min = 30, max = 3600))]
    pub ttl_seconds: u64,
}

/// A fix applied to a live workload.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Applied {
    /// `deployment/api`.
    pub target: String,
    /// The diagnosis whose fix it was.
    pub diagnosis_id: String,
    /// The same change with kubectl.
    pub kubectl_command: String,
    /// The workload's pod spec before.
    pub before: Value,
    /// And after.
    pub after: Value,
}

/// Deleted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    /// The mirror's id.
    pub id: String,
    /// Its namespace.
    pub namespace: String,
    /// False when it was already gone.
    pub deleted: bool,
}
