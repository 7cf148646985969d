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
    /// The fields the cluster refused, when it named them (a dry run's
    /// validation errors), so a form can show each at its field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

/// One refused field.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Cause {
    /// The field's path as the API server writes it
    /// (`spec.containers[0].image`); empty when it named none.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The caller, for a page that hides what it may not do (the API still
/// checks every request).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The token's name.
    pub name: String,
    /// `read`, `write` or `admin`.
    pub role: String,
    /// The token's org.
    pub org: String,
    /// Whether the org's policy lets this role apply fixes.
    pub can_apply_fix: bool,
    /// Whether the role may deploy, extend and delete mirrors.
    pub can_deploy: bool,
    /// The cluster the server talks to (its API server's address).
    pub cluster: String,
    /// When the token stops being accepted (RFC 3339), if it ever does.
    pub expires_at: Option<String>,
    /// The namespaces the org sees; empty when it sees all.
    pub namespaces: Vec<String>,
    /// The shortest mirror TTL a deploy accepts, in seconds.
    pub min_ttl_seconds: u64,
    /// The longest.
    pub max_ttl_seconds: u64,
}

/// A failing pod, from the watch cache, with its last diagnosis if any.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FailingPod {
    /// Namespace.
    pub namespace: String,
    /// Pod name; for a workload with no pod to diagnose, `kind/name`.
    pub pod: String,
    /// `namespace:name`, for the mirror routes.
    pub pod_id: String,
    /// status.phase; `NoPods` for a workload with no pod to diagnose (its
    /// `ready` and `containers` are then the pods it has and wants).
    pub phase: String,
    /// The first reason Kubernetes gives (`CrashLoopBackOff`, `Unschedulable`, …).
    pub reason: String,
    /// Every distinct reason its containers and conditions give, in order.
    pub reasons: Vec<String>,
    /// Container restarts.
    pub restarts: i64,
    /// When a container last restarted (the end of its previous run, RFC 3339).
    pub last_restart_at: Option<String>,
    /// Containers ready now.
    pub ready: i64,
    /// Containers (not counting init containers).
    pub containers: i64,
    /// metadata.creationTimestamp (RFC 3339).
    pub created_at: Option<String>,
    /// The owning controller (`ReplicaSet/api-7c9f`), if any.
    pub owner: Option<String>,
    /// The last diagnosis within the window, if any.
    pub diagnosis: Option<DiagnosisSummary>,
    /// The mirrors of this pod that are alive.
    pub mirrors: Vec<MirrorRef>,
}

/// A mirror of a failing pod, for its chip.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MirrorRef {
    /// The mirror's id.
    pub id: String,
    /// status.phase.
    pub phase: String,
    /// `Healthy`, `Failing` or `Pending`.
    pub verdict: String,
    /// When the reaper deletes it (RFC 3339, the API server's clock).
    pub expires_at: Option<String>,
    /// Its TTL in seconds: it never has more than this left.
    pub ttl_seconds: u64,
}

/// One container of a pod, as its status says.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ContainerView {
    /// Its name.
    pub name: String,
    /// An init container (sidecars included).
    pub init: bool,
    /// Its image.
    pub image: String,
    /// `waiting`, `running`, `terminated` or `unknown`.
    pub state: String,
    /// The state's reason (`CrashLoopBackOff`, `OOMKilled`, …).
    pub reason: Option<String>,
    /// The state's message.
    pub message: Option<String>,
    /// The exit code, when terminated now, else of the last run.
    pub exit_code: Option<i64>,
    /// Ready now.
    pub ready: bool,
    /// Restarts.
    pub restarts: i64,
}

/// A pod in detail: its containers, events and YAML.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PodDetail {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub pod: String,
    /// `namespace:name`.
    pub pod_id: String,
    /// status.phase.
    pub phase: String,
    /// The node it runs on, if scheduled.
    pub node: Option<String>,
    /// Init containers first, then the others.
    pub containers: Vec<ContainerView>,
    /// Its events, oldest first.
    pub events: Vec<EventView>,
    /// The pod as YAML, without managedFields.
    pub yaml: String,
}

/// Log lines of one container.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PodLogs {
    /// The container.
    pub container: String,
    /// Whether these are the previous run's lines.
    pub previous: bool,
    /// The last lines, oldest first (secrets the diagnosis would redact are not removed: admins and readers of the namespace see what `kubectl logs` shows).
    pub lines: Vec<String>,
}

/// A diagnosis in one line.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DiagnosisSummary {
    /// The failure class.
    pub category: String,
    /// Why it fails.
    pub diagnosis: String,
    /// 0 to 1.
    pub confidence_score: f64,
    /// `rules` or `llm`.
    pub source: String,
    /// The final verdict of the mirror that tested its fix (`Healthy` or
    /// `Failing`), once there is one.
    pub verdict: Option<String>,
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
    /// The mirror that tested its fix and its verdict, if one did: the
    /// first candidate that proved Healthy, else the last one tried.
    pub verified_by: Option<Verification>,
    /// Which candidate (index into `candidates`) `verifiedBy` tested; an
    /// applied fix is that candidate when it proved Healthy.
    pub verified_candidate: Option<usize>,
    /// Every candidate tried on a mirror, with its verdict.
    pub tries: Vec<CandidateTry>,
    /// Whether the caller may apply its fix (org policy, and a runnable fix).
    pub can_apply_fix: bool,
}

/// One candidate of a diagnosis tried on a mirror.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CandidateTry {
    /// Index into the diagnosis's `candidates`.
    pub candidate: usize,
    /// The mirror that tried it.
    pub mirror: String,
    /// `Healthy` or `Failing`.
    pub verdict: String,
}

impl CandidateTry {
    /// The tries of a stored diagnosis.
    pub fn all(tries: &[podmirror_store::Try]) -> Vec<CandidateTry> {
        tries
            .iter()
            .map(|t| CandidateTry {
                candidate: t.candidate,
                mirror: t.mirror.clone(),
                verdict: t.verdict.clone(),
            })
            .collect()
    }
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
    #[serde(default)]
    #[schemars(schema_with = "manifest_schema")]
    pub manifest: Option<Value>,
    /// JSON Patch operations on the pod's spec.
    #[serde(default)]
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
    /// Which of that diagnosis's candidates `patch` is (index into
    /// `finding.candidates`; default 0, the first).
    pub candidate: Option<usize>,
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
    /// The source pod less its runtime fields, as YAML.
    pub source_yaml: String,
    /// The mirror's manifest as YAML (what an editor starts from).
    pub mirror_yaml: String,
    /// A unified diff of the source (less runtime fields) and the mirror.
    pub diff: String,
}

/// An event about a pod or mirror.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
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
    /// When it was last seen (RFC 3339), if known.
    pub last_seen: Option<String>,
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
    /// Its TTL in seconds: it never has more than this left.
    pub ttl_seconds: u64,
    /// Who made it.
    pub created_by: String,
    /// The Deployment it scaled down, if any.
    pub scaled_down: Option<String>,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// The API server's time of this answer (RFC 3339): a countdown runs
    /// on this clock, not the browser's.
    pub now: String,
    /// Seconds every container must stay ready without a restart for Healthy.
    pub settle_seconds: f64,
    /// Each container's state.
    pub containers: Vec<ContainerView>,
    /// Why it fails, when the verdict is Failing.
    pub failure: Option<MirrorFailure>,
    /// Its latest events, newest last (status only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_events: Option<Vec<EventView>>,
}

/// Why a mirror fails.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MirrorFailure {
    /// The container that fails (empty for the pod as a whole).
    pub container: String,
    /// `CrashLoopBackOff`, `OOMKilled`, `ImagePullBackOff`, …
    pub reason: String,
    /// Kubernetes' message, if any.
    pub message: String,
    /// The exit code of its last run, if it ran.
    pub exit_code: Option<i64>,
    /// The last lines it logged (of the previous run when it restarted).
    pub last_logs: Vec<String>,
}

/// How much longer a mirror should live.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Seconds to add (at most to the longest TTL, 3600 s, from now).
    #[schemars(range(min = 1, max = 3600))]
    pub by_seconds: u64,
}

/// The audit chain's state, as `podmirror audit verify` reports it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditVerify {
    /// True when every entry links to the one before it.
    pub ok: bool,
    /// How many entries were checked.
    pub entries: i64,
    /// What is wrong, when not ok.
    pub message: Option<String>,
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
    /// A unified diff of the two, as YAML.
    pub diff: String,
    /// The cluster it changes (the server's name for it).
    pub cluster: String,
    /// The mirror that proved the fix and its verdict; None when no mirror
    /// tested it.
    pub verified_by: Option<Verification>,
    /// The audit entry that records it (None for a dry run).
    pub audit_seq: Option<i64>,
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
