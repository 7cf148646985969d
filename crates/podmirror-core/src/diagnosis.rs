//! The rule engine of the diagnosis: from the context gathered about a failing
//! pod to a finding — why it fails, the change that fixes it (a JSON Patch
//! relative to a PodSpec and a kubectl command to paste), the evidence used,
//! a confidence and whether the change is safe to make automatically. Pure:
//! the context is gathered elsewhere (`podmirror-kube`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod guess;
mod traffic;
mod workload;
use guess::Source;
pub use traffic::{EndpointTraffic, FAILING_SHARE, MIN_REQUESTS, Traffic};
pub use workload::WorkloadState;

/// An event about the pod, as `kubectl describe` lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventLine {
    /// `Normal` or `Warning`.
    pub kind: String,
    /// `FailedScheduling`, `Unhealthy`, `Failed`, ...
    pub reason: String,
    /// The event's text.
    pub message: String,
    /// How many times it happened.
    pub count: u32,
}

/// The workload that owns the pod, at the top of its owner chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Owner {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// One revision of the owner's rollout history (a ReplicaSet of a Deployment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revision {
    /// `deployment.kubernetes.io/revision`.
    pub number: u64,
    /// Its pod template's spec.
    pub spec: Value,
    /// Whether its pods ever ran (it reported available replicas or it was
    /// replaced by a newer revision after a complete roll-out).
    pub ran: bool,
}

/// A Secret as podmirror may see it: never its data, only its keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretInfo {
    /// `type`, e.g. `kubernetes.io/dockerconfigjson`.
    pub kind: String,
    /// The keys of its data.
    pub keys: Vec<String>,
}

/// A node's capacity for pods and its taints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints as (key, value, effect).
    pub taints: Vec<(String, String, String)>,
    /// Allocatable memory in bytes.
    pub memory_bytes: i64,
    /// Allocatable CPU in millicores.
    pub cpu_millis: i64,
}

/// Everything the rules read about one pod.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The pod as the API server returned it.
    pub pod: Value,
    /// Its events, oldest first.
    pub events: Vec<EventLine>,
    /// Last log lines per container: (current run, previous run).
    pub logs: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// The workload at the top of the owner chain.
    pub owner: Option<Owner>,
    /// The owner's rollout history, oldest first (Deployments).
    pub history: Vec<Revision>,
    /// ConfigMaps in the namespace: name → keys.
    pub configmaps: BTreeMap<String, Vec<String>>,
    /// Secrets in the namespace: name → type and keys.
    pub secrets: BTreeMap<String, SecretInfo>,
    /// PersistentVolumeClaims the pod uses: name → (phase, storage class).
    pub pvcs: BTreeMap<String, (String, String)>,
    /// Every PersistentVolumeClaim of the namespace, by name.
    pub claim_names: Vec<String>,
    /// Every ServiceAccount of the namespace, by name.
    pub service_accounts: Vec<String>,
    /// For a workload that has no pod to diagnose, what its owner chain
    /// says; `pod` is then its template as a pod, named `kind/name`.
    pub workload: Option<WorkloadState>,
    /// The storage classes the cluster offers.
    pub storage_classes: Vec<String>,
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
    /// When the context was gathered (API server clock).
    pub now: Option<Timestamp>,
    /// What the pod's traffic tap saw, for a tapped pod that looks healthy.
    pub traffic: Option<Traffic>,
}

/// The failure classes of the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The image cannot be pulled.
    ImagePull,
    /// A container keeps exiting.
    CrashLoop,
    /// A container ran out of memory.
    OomKilled,
    /// The container cannot be configured (ConfigMap, Secret, security).
    ConfigError,
    /// No node can take the pod.
    Unschedulable,
    /// A probe fails.
    Probe,
    /// The kubelet evicted the pod.
    Evicted,
    /// An init container fails.
    InitContainer,
    /// A container's postStart hook fails, so the kubelet kills it.
    LifecycleHook,
    /// The API server refuses to create the workload's pods (quota,
    /// ServiceAccount, Pod Security, an admission webhook).
    Admission,
    /// A Deployment's rollout stopped progressing.
    Rollout,
    /// A Job reached its backoff limit.
    JobFailed,
    /// The pod is Ready but answers its real requests with errors (seen by
    /// the traffic tap).
    ServerErrors,
}

impl Category {
    /// The name tables and JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::ImagePull => "image-pull",
            Category::CrashLoop => "crash-loop",
            Category::OomKilled => "oom-killed",
            Category::ConfigError => "config-error",
            Category::Unschedulable => "unschedulable",
            Category::Probe => "probe",
            Category::Evicted => "evicted",
            Category::InitContainer => "init-container",
            Category::LifecycleHook => "lifecycle-hook",
            Category::Admission => "admission",
            Category::Rollout => "rollout",
            Category::JobFailed => "job-failed",
            Category::ServerErrors => "server-errors",
        }
    }
}

/// A diagnosis (the diagnosis rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// `namespace/pod@timestamp`.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod uid.
    pub pod_uid: String,
    /// The owning workload.
    pub owner: Option<Owner>,
    /// The failure class.
    pub category: Category,
    /// Why it fails, in one or two sentences.
    pub diagnosis: String,
    /// What to change, in words.
    pub suggested_fix: String,
    /// The status fields, events and log lines the rule used.
    pub evidence: Vec<String>,
    /// JSON Patch operations relative to a PodSpec (empty when not runnable).
    pub patch: Value,
    /// A command a person could paste.
    pub fix_command: String,
    /// 0.0 to 1.0.
    pub confidence_score: f64,
    /// Whether the patch is a safe automatic change.
    pub runnable: bool,
    /// `rules` (or `llm`).
    pub source: String,
    /// When it was made (API server clock), RFC 3339.
    pub timestamp: String,
    /// Every change worth trying on a mirror, in confidence order; the first
    /// is the finding's own (`suggested_fix`, `patch`). Empty when nothing
    /// is runnable. `podmirror test` tries them until one proves Healthy.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Real requests a mirror must answer for the change to be proven, when
    /// the failure shows only in answers (a Ready pod answering 5xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<RequestCheck>,
}

/// Requests `podmirror test` sends a Ready mirror: the finding's failing
/// endpoint, which must then answer errors less often than
/// [`FAILING_SHARE`]. Only safe methods (GET, HEAD) are sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestCheck {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The path sent (the endpoint's template with `{id}` as `1`).
    pub path: String,
    /// The port the tap saw it on.
    pub port: u16,
    /// How many to send.
    pub count: u32,
    /// The share of the source pod's answers that were 5xx.
    pub source_error_share: f64,
}

/// One change a finding proposes to try on a mirror.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Candidate {
    /// What to change, in words.
    pub suggested_fix: String,
    /// JSON Patch operations relative to a PodSpec.
    pub patch: Value,
    /// A command a person could paste.
    pub fix_command: String,
    /// 0.0 to 1.0.
    pub confidence_score: f64,
}

impl Finding {
    /// The finding as if candidate `index` were its own change (the
    /// suggested fix, patch, command and confidence); itself when there is
    /// no such candidate.
    pub fn with_candidate(&self, index: usize) -> Finding {
        let mut f = self.clone();
        if let Some(c) = self.candidates.get(index) {
            f.suggested_fix = c.suggested_fix.clone();
            f.patch = c.patch.clone();
            f.fix_command = c.fix_command.clone();
            f.confidence_score = c.confidence_score;
        }
        f
    }
}

/// What a rule found, before the common fields are added.
struct Found {
    category: Category,
    diagnosis: String,
    suggested_fix: String,
    evidence: Vec<String>,
    patch: Vec<Value>,
    /// A `kubectl set image` that says the same as the patch, when it is one.
    set_image: Option<(String, String)>,
    confidence: f64,
    runnable: bool,
    /// Other changes worth a mirror when the first does not prove Healthy:
    /// (suggested fix, patch ops, confidence).
    alternatives: Vec<(String, Vec<Value>, f64)>,
    /// Requests a mirror must answer (see [`RequestCheck`]).
    requests: Option<RequestCheck>,
}

impl Found {
    fn new(category: Category, diagnosis: String, suggested_fix: String) -> Found {
        Found {
            category,
            diagnosis,
            suggested_fix,
            evidence: Vec::new(),
            patch: Vec::new(),
            set_image: None,
            confidence: 0.5,
            runnable: false,
            alternatives: Vec::new(),
            requests: None,
        }
    }

    /// Another change to try after the first (or first, when the finding has
    /// none yet: it becomes the finding's own change).
    fn also(&mut self, fix: String, patch: Vec<Value>, confidence: f64) {
        if self.runnable {
            self.alternatives.push((fix, patch, confidence));
        } else {
            self.suggested_fix = fix;
            self.patch = patch;
            self.confidence = confidence;
            self.runnable = true;
        }
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn list<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Bytes in a memory quantity (`256Mi`, `1G`, `1048576`); None if unreadable.
pub fn memory_bytes(q: &str) -> Option<i64> {
    let q = q.trim();
    let (num, mult) = [
        ("Ki", 1i64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ]
    .iter()
    .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
    .unwrap_or((q, 1));
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as i64)
}

/// A memory size as a quantity in whole MiB (`512Mi`).
fn mib(bytes: i64) -> String {
    format!("{}Mi", bytes / (1 << 20))
}

/// Container index by name in the pod spec.
fn container_index(spec: &Value, name: &str) -> Option<(usize, bool)> {
    if let Some(i) = list(spec, "/containers")
        .iter()
        .position(|c| c["name"] == name)
    {
        return Some((i, false));
    }
    list(spec, "/initContainers")
        .iter()
        .position(|c| c["name"] == name)
        .map(|i| (i, true))
}

fn container_path(spec: &Value, name: &str) -> String {
    match container_index(spec, name) {
        Some((i, true)) => format!("/initContainers/{i}"),
        Some((i, false)) => format!("/containers/{i}"),
        None => "/containers/0".into(),
    }
}

/// Diagnoses the pod; None when it is healthy (running and ready, or done)
/// and its tap, if any, saw no errors.
pub fn diagnose(ctx: &Context) -> Option<Finding> {
    // The rules judge the pod as its owner's template made it, so that a
    // patch's container indexes are the template's (and a mirror's: mirrors
    // carry no tap); only a tap that cannot start is about the tap.
    if let Some(found) = traffic::tap_failing(ctx) {
        return Some(finish(ctx, found));
    }
    let untapped;
    let ctx = match crate::cleanup::without_tap(&ctx.pod) {
        Some(pod) => {
            untapped = Context { pod, ..ctx.clone() };
            &untapped
        }
        None => ctx,
    };
    if healthy(&ctx.pod) {
        return traffic::server_errors(ctx).map(|found| finish(ctx, found));
    }
    // A container the kubelet restarts for failing its liveness probe also
    // shows as terminated: the probe is the cause, so it is judged first.
    let liveness = ctx
        .events
        .iter()
        .any(|e| e.reason == "Unhealthy" && e.message.starts_with("Liveness"));
    let found = workload::diagnose(ctx)
        .or_else(|| evicted(ctx))
        .or_else(|| unschedulable(ctx))
        .or_else(|| waiting(ctx))
        .or_else(|| failed_mount(ctx))
        .or_else(|| post_start_hook(ctx))
        .or_else(|| if liveness { probes(ctx) } else { None })
        .or_else(|| terminated(ctx))
        .or_else(|| probes(ctx))?;
    Some(finish(ctx, found))
}

/// Running with every container ready, or finished successfully.
pub fn healthy(pod: &Value) -> bool {
    match text(pod, "/status/phase") {
        "Succeeded" => true,
        "Running" => {
            let all = list(pod, "/status/containerStatuses");
            !all.is_empty() && all.iter().all(|c| c["ready"] == true)
        }
        _ => false,
    }
}

/// Puts a `test` of the container's name before the ops on each container,
/// so a patch applied to a template whose containers are in another order
/// (a sidecar injected into the pod) fails instead of changing the wrong one.
fn guard_containers(spec: &Value, ops: Vec<Value>) -> Vec<Value> {
    let mut tests: Vec<Value> = Vec::new();
    for op in &ops {
        let path = text(op, "/path");
        let mut parts = path.trim_start_matches('/').split('/');
        if let (Some(list @ ("containers" | "initContainers")), Some(i)) =
            (parts.next(), parts.next())
            && i.parse::<usize>().is_ok()
        {
            let at = format!("/{list}/{i}/name");
            let name = text(spec, &at);
            let test = json!({"op": "test", "path": at, "value": name});
            if !name.is_empty() && !tests.contains(&test) {
                tests.push(test);
            }
        }
    }
    tests.into_iter().chain(ops).collect()
}

/// The ops of a PodSpec-relative patch moved under `spec.template.spec`, for
/// the owning workload.
pub fn template_ops(patch: &Value) -> Vec<Value> {
    patch
        .as_array()
        .into_iter()
        .flatten()
        .map(|op| {
            let mut op = op.clone();
            op["path"] = json!(format!("/spec/template/spec{}", text(&op, "/path")));
            op
        })
        .collect()
}

/// A diagnosis proposed from elsewhere than the rules (an LLM), already
/// checked by the caller; [`proposed`] gives it the common fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The failure class.
    pub category: Category,
    /// Why it fails.
    pub diagnosis: String,
    /// What to change, in words.
    pub suggested_fix: String,
    /// What it was read from.
    pub evidence: Vec<String>,
    /// JSON Patch operations relative to the pod's spec.
    pub patch: Vec<Value>,
    /// 0.0 to 1.0.
    pub confidence: f64,
    /// Whether the patch is a safe automatic change.
    pub runnable: bool,
}

/// The finding for a proposal about `ctx`'s pod, with `source` (e.g. `llm`):
/// the same id, guards on container ops and kubectl command as a rule's.
pub fn proposed(ctx: &Context, p: Proposal, source: &str) -> Finding {
    // A lone image change reads better as `kubectl set image`.
    let set_image = match p.patch.as_slice() {
        [op] if text(op, "/op") == "replace" => {
            let path = text(op, "/path");
            let image = text(op, "/value");
            path.strip_prefix("/containers/")
                .and_then(|rest| rest.strip_suffix("/image"))
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| ctx.pod.pointer(&format!("/spec/containers/{i}/name")))
                .and_then(Value::as_str)
                .filter(|_| !image.is_empty())
                .map(|name| (name.to_string(), image.to_string()))
        }
        _ => None,
    };
    let found = Found {
        category: p.category,
        diagnosis: p.diagnosis,
        suggested_fix: p.suggested_fix,
        evidence: p.evidence,
        runnable: p.runnable && !p.patch.is_empty(),
        patch: p.patch,
        set_image,
        confidence: p.confidence.clamp(0.0, 1.0),
        alternatives: Vec::new(),
        requests: None,
    };
    let mut f = finish(ctx, found);
    f.source = source.to_string();
    f
}

fn finish(ctx: &Context, mut f: Found) -> Finding {
    if let Some(spec) = ctx.pod.get("spec") {
        f.patch = guard_containers(spec, std::mem::take(&mut f.patch));
        for (_, ops, _) in &mut f.alternatives {
            *ops = guard_containers(spec, std::mem::take(ops));
        }
    }
    let pod = &ctx.pod;
    let namespace = text(pod, "/metadata/namespace").to_string();
    let name = text(pod, "/metadata/name").to_string();
    let timestamp = ctx.now.map(|t| t.to_string()).unwrap_or_default();
    let patch = Value::Array(f.patch.clone());
    let fix_command = if f.runnable {
        fix_command(ctx, &namespace, &name, &f.patch, f.set_image.as_ref())
    } else {
        String::new()
    };
    let mut candidates = Vec::new();
    if f.runnable {
        candidates.push(Candidate {
            suggested_fix: f.suggested_fix.clone(),
            patch: Value::Array(f.patch.clone()),
            fix_command: fix_command.clone(),
            confidence_score: f.confidence,
        });
        let mut others = std::mem::take(&mut f.alternatives);
        // stable: equal confidences keep the order the rule gave
        others.sort_by(|a, b| b.2.total_cmp(&a.2));
        for (fix, ops, confidence) in others {
            candidates.push(Candidate {
                fix_command: self::fix_command(ctx, &namespace, &name, &ops, None),
                suggested_fix: fix,
                patch: Value::Array(ops),
                confidence_score: confidence,
            });
        }
    }
    Finding {
        id: format!("{namespace}/{name}@{timestamp}"),
        namespace,
        pod: name,
        pod_uid: text(pod, "/metadata/uid").to_string(),
        owner: ctx.owner.clone(),
        category: f.category,
        diagnosis: f.diagnosis,
        suggested_fix: f.suggested_fix,
        evidence: f.evidence,
        patch,
        fix_command,
        confidence_score: f.confidence,
        runnable: f.runnable,
        source: "rules".into(),
        timestamp,
        candidates,
        requests: f.requests,
    }
}

/// The kubectl command that makes the same change on the owner.
fn fix_command(
    ctx: &Context,
    ns: &str,
    pod: &str,
    patch: &[Value],
    set_image: Option<&(String, String)>,
) -> String {
    let target = match &ctx.owner {
        Some(o) => format!("{}/{}", o.kind.to_ascii_lowercase(), o.name),
        None => format!("pod/{pod}"),
    };
    if let Some((container, image)) = set_image {
        return format!("kubectl -n {ns} set image {target} {container}={image}");
    }
    let Some(owner) = &ctx.owner else {
        return format!(
            "# pod {pod} has no owner and a pod's spec cannot change: recreate it with the patch applied"
        );
    };
    let ops = template_ops(&Value::Array(patch.to_vec()));
    let body = Value::Array(ops).to_string().replace('\'', "'\\''");
    let prefix = if owner.kind == "Job" {
        "# a Job's template cannot change: delete and recreate the Job with this patch\n"
    } else {
        ""
    };
    format!(
        "{prefix}kubectl -n {ns} patch {} {} --type=json -p '{body}'",
        owner.kind.to_ascii_lowercase(),
        owner.name
    )
}

fn evicted(ctx: &Context) -> Option<Found> {
    if text(&ctx.pod, "/status/reason") != "Evicted" {
        return None;
    }
    let message = text(&ctx.pod, "/status/message");
    let mut f = Found::new(
        Category::Evicted,
        format!("The kubelet evicted the pod: {message}"),
        "Give the containers memory and ephemeral-storage requests that match what they use, so the node is not overcommitted; the owner makes a new pod.".into(),
    );
    f.evidence
        .push(format!("status.reason: Evicted; status.message: {message}"));
    f.confidence = 0.8;
    Some(f)
}

fn scheduled_condition(pod: &Value) -> Option<&Value> {
    list(pod, "/status/conditions")
        .iter()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
}

fn unschedulable(ctx: &Context) -> Option<Found> {
    let cond = scheduled_condition(&ctx.pod)?;
    let message = text(cond, "/message").to_string();
    let spec = ctx.pod.get("spec")?;
    let evidence = format!("PodScheduled=False ({}): {message}", text(cond, "/reason"));
    let mut f = Found::new(
        Category::Unschedulable,
        format!("No node can take the pod: {message}"),
        String::new(),
    );
    f.evidence.push(evidence);
    if message.contains("Insufficient memory") || message.contains("Insufficient cpu") {
        let memory = message.contains("Insufficient memory");
        let (resource, largest) = if memory {
            ("memory", ctx.nodes.iter().map(|n| n.memory_bytes).max()?)
        } else {
            ("cpu", ctx.nodes.iter().map(|n| n.cpu_millis).max()?)
        };
        // The request that fits: half the largest node's allocatable, shared
        // among the containers asking for that resource.
        let asking: Vec<(usize, &Value)> = list(spec, "/containers")
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.pointer(&format!("/resources/requests/{resource}"))
                    .is_some()
            })
            .collect();
        if asking.is_empty() {
            return None;
        }
        let share = largest / 2 / asking.len() as i64;
        let value = if memory {
            mib(share)
        } else {
            format!("{share}m")
        };
        let amount = |c: &Value, at: &str| {
            let q = text(c, &format!("/resources/{at}/{resource}"));
            if memory {
                memory_bytes(q)
            } else {
                q.strip_suffix('m')
                    .and_then(|m| m.parse().ok())
                    .or_else(|| q.parse::<f64>().ok().map(|c| (c * 1000.0) as i64))
            }
        };
        // Only requests larger than any node can hold are lowered; smaller
        // ones mean the nodes are full, which no pod change fixes.
        let asking: Vec<(usize, &Value)> = asking
            .into_iter()
            .filter(|(_, c)| amount(c, "requests").is_some_and(|r| r > largest))
            .collect();
        if asking.is_empty() {
            f.suggested_fix = format!(
                "Every request fits a node, but the nodes are full: free {resource} (scale other workloads down) or add nodes."
            );
            f.confidence = 0.6;
            return Some(f);
        }
        for (i, c) in &asking {
            // The whole resources object: its parts may be missing in the template.
            let mut resources = c.get("resources").cloned().unwrap_or_else(|| json!({}));
            resources["requests"][resource] = json!(value);
            if amount(c, "limits").is_some_and(|l| l < share) {
                resources["limits"][resource] = json!(value);
            }
            f.patch.push(json!({"op": "add", "path": format!("/containers/{i}/resources"), "value": resources}));
            f.evidence.push(format!(
                "container {}: requests.{resource} {}",
                text(c, "/name"),
                text(c, &format!("/resources/requests/{resource}"))
            ));
        }
        let node = ctx
            .nodes
            .iter()
            .max_by_key(|n| if memory { n.memory_bytes } else { n.cpu_millis })?;
        f.evidence.push(format!(
            "largest node {}: allocatable {resource} {}",
            node.name,
            if memory {
                mib(node.memory_bytes)
            } else {
                format!("{}m", node.cpu_millis)
            }
        ));
        f.suggested_fix = format!(
            "Request {value} of {resource} (half of the largest node's allocatable), or add a node that large."
        );
        f.confidence = 0.7;
        f.runnable = true;
        return Some(f);
    }
    let selector = spec.get("nodeSelector").and_then(Value::as_object);
    let unmatched: Vec<String> = selector
        .into_iter()
        .flatten()
        .filter(|(k, v)| {
            !ctx.nodes
                .iter()
                .any(|n| n.labels.get(*k).map(String::as_str) == v.as_str())
        })
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    if message.contains("didn't match Pod's node affinity/selector") && !unmatched.is_empty() {
        f.evidence.push(format!(
            "nodeSelector {} matches no node",
            unmatched.join(",")
        ));
        let keep: serde_json::Map<String, Value> = selector
            .into_iter()
            .flatten()
            .filter(|(k, v)| !unmatched.contains(&format!("{k}={}", v.as_str().unwrap_or(""))))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        f.patch.push(if keep.is_empty() {
            json!({"op": "remove", "path": "/nodeSelector"})
        } else {
            json!({"op": "replace", "path": "/nodeSelector", "value": keep})
        });
        f.suggested_fix = format!(
            "Remove the nodeSelector {} that no node satisfies (or label a node with it).",
            unmatched.join(",")
        );
        f.confidence = 0.85;
        f.runnable = true;
        return Some(f);
    }
    if message.contains("untolerated taint") {
        let found = untolerated_taints(&message, spec, &ctx.nodes);
        // Taints the node lifecycle controller puts on a node that stopped
        // reporting, or that a person cordoned: the node's problem, and no
        // toleration of the pod's is the fix.
        let (down, taints): (Vec<_>, Vec<_>) = found.into_iter().partition(|(_, t)| {
            matches!(
                t.0.as_str(),
                "node.kubernetes.io/unreachable"
                    | "node.kubernetes.io/not-ready"
                    | "node.kubernetes.io/unschedulable"
            )
        });
        for (node, taint) in down.iter().chain(&taints) {
            let shown = taint_text(taint);
            f.evidence.push(if node.is_empty() {
                format!("taint {shown}")
            } else {
                format!("node {node}: taint {shown}")
            });
        }
        let mut down_nodes: Vec<&str> = down.iter().map(|(n, _)| n.as_str()).collect();
        down_nodes.dedup();
        if taints.is_empty() && !down.is_empty() {
            let cordoned = down
                .iter()
                .all(|(_, t)| t.0 == "node.kubernetes.io/unschedulable");
            f.diagnosis = if cordoned {
                format!(
                    "No node can take the pod: node {} is cordoned (marked unschedulable); a node matter, not the pod's",
                    down_nodes.join(", ")
                )
            } else {
                format!(
                    "No node can take the pod: node {} is down (not ready or unreachable: its kubelet stopped reporting); a node problem, not the pod's",
                    down_nodes.join(", ")
                )
            };
            f.suggested_fix = if cordoned {
                format!(
                    "Uncordon the node when its maintenance is over (kubectl uncordon {}), or add a node.",
                    down_nodes.join(" ")
                )
            } else {
                format!(
                    "Bring the node back: kubectl describe node {} shows when its kubelet last reported; check the machine and its kubelet, or add a node. The pod schedules once a node is Ready.",
                    down_nodes.join(" ")
                )
            };
            f.confidence = 0.8;
            return Some(f);
        }
        if taints.is_empty() {
            f.suggested_fix = "Read the taints of the nodes (kubectl describe nodes | grep Taints) and tolerate the one of the node the pod is meant for.".into();
            f.confidence = 0.3;
            return Some(f);
        }
        // The API server's own additions (not-ready/unreachable for 300 s) are
        // left out: the patch also applies to the owner's template.
        let mut tolerations: Vec<Value> = list(spec, "/tolerations")
            .iter()
            .filter(|t| {
                !(t.get("tolerationSeconds") == Some(&json!(300))
                    && matches!(
                        text(t, "/key"),
                        "node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable"
                    ))
            })
            .cloned()
            .collect();
        let mut shown: Vec<String> = Vec::new();
        for (_, taint) in &taints {
            let (key, value, effect) = taint;
            let t = if value.is_empty() {
                json!({"key": key, "operator": "Exists", "effect": effect})
            } else {
                json!({"key": key, "operator": "Equal", "value": value, "effect": effect})
            };
            if !tolerations.contains(&t) {
                tolerations.push(t);
                shown.push(taint_text(taint));
            }
        }
        f.patch
            .push(json!({"op": "add", "path": "/tolerations", "value": tolerations}));
        f.suggested_fix = format!(
            "Tolerate the taint {} of the node the pod is meant for.",
            shown.join(", ")
        );
        if !down_nodes.is_empty() {
            f.suggested_fix.push_str(&format!(
                " Node {} is down too; that is a node problem.",
                down_nodes.join(", ")
            ));
        }
        f.confidence = 0.8;
        f.runnable = true;
        return Some(f);
    }
    if message.contains("didn't match Pod's node affinity/selector") {
        f.suggested_fix = "Relax the pod's required node affinity so some node matches, or label a node to match it.".into();
        f.confidence = 0.5;
        return Some(f);
    }
    if let Some(rest) = message.split("persistentvolumeclaim \"").nth(1)
        && let Some((claim, after)) = rest.split_once('"')
        && after.starts_with(" not found")
    {
        f.suggested_fix = format!(
            "Create the PersistentVolumeClaim {claim:?} in this namespace, or point the pod's volume at a claim that exists."
        );
        f.confidence = 0.85;
        let close = guess::closest(claim, ctx.claim_names.iter().map(String::as_str));
        let volumes: Vec<String> = list(spec, "/volumes")
            .iter()
            .enumerate()
            .filter(|(_, v)| text(v, "/persistentVolumeClaim/claimName") == claim)
            .map(|(i, _)| format!("/volumes/{i}/persistentVolumeClaim/claimName"))
            .collect();
        match close.as_slice() {
            [one] if !volumes.is_empty() => {
                f.evidence.push(format!(
                    "no PersistentVolumeClaim {claim:?} in the namespace; {one:?} has a close name"
                ));
                f.also(
                    format!(
                        "Use the claim {one:?} instead of {claim:?}, which does not exist (a guess from the close name: a mirror shows whether the pod runs with it; a ReadWriteOnce claim in use elsewhere may keep it Pending). If {claim:?} is meant, create it."
                    ),
                    guess::set_all(&volumes, one),
                    0.6,
                );
            }
            [] | [_] => {}
            several => {
                f.evidence.push(format!(
                    "no PersistentVolumeClaim {claim:?} in the namespace; close names: {}",
                    guess::quoted_list(several)
                ));
                guess::each_close(&mut f, several, &volumes, |one, all| {
                    format!(
                        "Use the claim {one:?} instead of {claim:?}, which does not exist (one of several close names, {all}: each is a guess a mirror tries in turn). If {claim:?} is meant, create it."
                    )
                });
            }
        }
        return Some(f);
    }
    if message.contains("unbound immediate PersistentVolumeClaims") {
        for (name, (phase, class)) in &ctx.pvcs {
            if phase == "Bound" {
                continue;
            }
            f.evidence.push(format!(
                "PersistentVolumeClaim {name}: {phase}, storageClassName {class:?}"
            ));
            let offered = if ctx.storage_classes.is_empty() {
                "see kubectl get storageclass".to_string()
            } else {
                ctx.storage_classes.join(", ")
            };
            f.suggested_fix = if !class.is_empty() && !ctx.storage_classes.contains(class) {
                format!(
                    "The claim {name} asks for storage class {class:?}, which no provisioner here serves ({offered}). A claim's class cannot change: delete it and create it again with a class the cluster offers."
                )
            } else {
                format!(
                    "The claim {name} is not bound: check its events (kubectl describe pvc {name})."
                )
            };
        }
        f.confidence = 0.85;
        return Some(f);
    }
    f.suggested_fix =
        "Read the scheduler's message above: each part names a filter no node passed.".into();
    f.confidence = 0.3;
    Some(f)
}

/// A taint: (key, value, effect).
type Taint = (String, String, String);

/// A taint as kubectl writes it: `key=value:Effect`, or `key:Effect`.
fn taint_text((key, value, effect): &Taint) -> String {
    if value.is_empty() {
        format!("{key}:{effect}")
    } else {
        format!("{key}={value}:{effect}")
    }
}

/// Whether `tolerations` let a pod stay on a node with `taint`, as the
/// scheduler matches them (an empty key with `Exists` tolerates every taint;
/// an empty effect every effect).
fn tolerated(tolerations: &[Value], (key, value, effect): &Taint) -> bool {
    tolerations.iter().any(|t| {
        let (k, op, e) = (text(t, "/key"), text(t, "/operator"), text(t, "/effect"));
        let effect_ok = e.is_empty() || e == effect;
        let key_ok = if k.is_empty() {
            op == "Exists"
        } else {
            k == key && (op == "Exists" || text(t, "/value") == value)
        };
        effect_ok && key_ok
    })
}

/// The taints the pod does not tolerate, with the node that has each. The
/// scheduler of Kubernetes 1.35 says only `node(s) had untolerated
/// taint(s)`, so they are read from the nodes (NoSchedule and NoExecute
/// taints the pod's tolerations miss); older schedulers and the sim named
/// them (`untolerated taint {key: value}`), and a named taint narrows the
/// list to it.
fn untolerated_taints(message: &str, spec: &Value, nodes: &[NodeInfo]) -> Vec<(String, Taint)> {
    let tolerations = list(spec, "/tolerations");
    let mut named: Vec<(String, String)> = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find("untolerated taint {") {
        rest = &rest[at + "untolerated taint {".len()..];
        let Some(end) = rest.find('}') else { break };
        let (key, value) = rest[..end].split_once(": ").unwrap_or((&rest[..end], ""));
        named.push((key.to_string(), value.to_string()));
        rest = &rest[end..];
    }
    let mut out: Vec<(String, Taint)> = Vec::new();
    for n in nodes {
        for t in &n.taints {
            if !matches!(t.2.as_str(), "NoSchedule" | "NoExecute") || tolerated(tolerations, t) {
                continue;
            }
            if !named.is_empty() && !named.iter().any(|(k, v)| *k == t.0 && *v == t.1) {
                continue;
            }
            let entry = (n.name.clone(), t.clone());
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    // A named taint no node shows (the nodes changed since): tolerate it as named.
    for (key, value) in named {
        if !out.iter().any(|(_, t)| t.0 == key && t.1 == value) {
            out.push((String::new(), (key, value, "NoSchedule".into())));
        }
    }
    out
}

/// Container statuses, init containers first.
fn statuses(pod: &Value) -> Vec<&Value> {
    list(pod, "/status/initContainerStatuses")
        .iter()
        .chain(list(pod, "/status/containerStatuses"))
        .collect()
}

fn waiting(ctx: &Context) -> Option<Found> {
    let spec = ctx.pod.get("spec")?;
    for s in statuses(&ctx.pod) {
        let reason = text(s, "/state/waiting/reason");
        let message = text(s, "/state/waiting/message");
        let name = text(s, "/name");
        match reason {
            "ErrImagePull" | "ImagePullBackOff" => {
                return Some(image_pull(ctx, spec, name, reason));
            }
            "RunContainerError" | "CreateContainerError" | "StartError" | "ContainerCannotRun"
                if !has_terminated(s) =>
            {
                if let Some(kind) = command_failure(reason, 128, message) {
                    let path = container_path(spec, name);
                    let mut f =
                        bad_command(ctx, spec, name, &path, 128, kind, runtime_words(message));
                    f.evidence
                        .insert(0, format!("container {name} waiting: {reason}: {message}"));
                    return Some(f);
                }
            }
            "CreateContainerConfigError" => {
                let mut f = Found::new(
                    Category::ConfigError,
                    format!("Container {name} cannot be configured: {message}"),
                    config_fix(message),
                );
                f.evidence
                    .push(format!("container {name} waiting: {reason}: {message}"));
                f.confidence = 0.9;
                config_guess(ctx, spec, name, message, &mut f);
                return Some(f);
            }
            _ => {}
        }
    }
    None
}

/// A pod held in ContainerCreating because a ConfigMap or Secret volume
/// cannot be set up (`FailedMount` events).
fn failed_mount(ctx: &Context) -> Option<Found> {
    let spec = ctx.pod.get("spec")?;
    let created = statuses(&ctx.pod)
        .iter()
        .any(|s| s.pointer("/state/running").is_some() || s.pointer("/state/terminated").is_some());
    if created {
        return None;
    }
    let event = ctx
        .events
        .iter()
        .rev()
        .find(|e| e.reason == "FailedMount")?;
    let (volume, error) = event
        .message
        .strip_prefix("MountVolume.SetUp failed for volume ")?
        .split_once(" : ")?;
    let volume = volume.trim_matches('"');
    let quoted = error.split('"').nth(1).unwrap_or("");
    let source = if error.starts_with("configmap ") {
        Source::ConfigMap
    } else if error.starts_with("secret ") {
        Source::Secret
    } else {
        return None;
    };
    if !error.ends_with("not found") {
        return None;
    }
    let mut f = Found::new(
        Category::ConfigError,
        format!("Volume {volume} cannot be mounted: {error}, so no container starts."),
        config_fix(error),
    );
    f.evidence.push(format!(
        "event FailedMount (x{}): {}",
        event.count.max(1),
        event.message
    ));
    f.confidence = 0.9;
    let existing: Vec<&str> = match source {
        Source::ConfigMap => ctx.configmaps.keys().map(String::as_str).collect(),
        Source::Secret => ctx.secrets.keys().map(String::as_str).collect(),
    };
    guess::missing_object(&mut f, spec, None, source, quoted, &existing);
    Some(f)
}

/// The change a configuration error lets one guess, if any (see `guess`).
fn config_guess(ctx: &Context, spec: &Value, name: &str, message: &str, f: &mut Found) {
    let path = container_path(spec, name);
    let quoted = message.split('"').nth(1).unwrap_or("");
    let configmaps: Vec<&str> = ctx.configmaps.keys().map(String::as_str).collect();
    let secrets: Vec<&str> = ctx.secrets.keys().map(String::as_str).collect();
    if message.starts_with("configmap ") && message.ends_with("not found") {
        guess::missing_object(f, spec, Some(&path), Source::ConfigMap, quoted, &configmaps);
    } else if message.starts_with("secret ") && message.ends_with("not found") {
        guess::missing_object(f, spec, Some(&path), Source::Secret, quoted, &secrets);
    } else if let Some(rest) = message.strip_prefix("couldn't find key ") {
        // `couldn't find key KEY in ConfigMap NS/NAME` (or Secret)
        let Some((key, object)) = rest.split_once(" in ") else {
            return;
        };
        let Some((kind, full)) = object.split_once(' ') else {
            return;
        };
        let object_name = full.rsplit('/').next().unwrap_or(full);
        let (source, keys) = match kind {
            "ConfigMap" => (Source::ConfigMap, ctx.configmaps.get(object_name).cloned()),
            "Secret" => (
                Source::Secret,
                ctx.secrets.get(object_name).map(|s| s.keys.clone()),
            ),
            _ => return,
        };
        if let Some(keys) = keys {
            guess::missing_key(f, spec, &path, source, object_name, key, &keys);
        }
    } else if message.contains("runAsNonRoot and image will run as root")
        || message.contains("runAsUser breaks non-root policy")
    {
        guess::non_root_user(f, spec, &path);
    }
}

fn config_fix(message: &str) -> String {
    let quoted = message.split('"').nth(1).unwrap_or("");
    if message.starts_with("configmap") {
        format!(
            "Create the ConfigMap {quoted:?} in this namespace (kubectl create configmap {quoted} --from-literal=KEY=VALUE …) with the keys the pod reads, or mark the reference optional."
        )
    } else if message.starts_with("secret") {
        format!(
            "Create the Secret {quoted:?} in this namespace with the keys the pod reads (only someone who knows the values can: kubectl create secret generic {quoted} --from-literal=KEY=…)."
        )
    } else if let Some(rest) = message.strip_prefix("couldn't find key ") {
        let (key, secret) = rest.split_once(" in ").unwrap_or((rest, ""));
        format!(
            "Add the key {key} to {secret} (only someone who knows its value can), or point the reference at a key that exists."
        )
    } else if message.contains("runAsNonRoot") {
        "The image runs as root but the pod requires a non-root user: set securityContext.runAsUser to the image's non-root user, or use an image built to run as non-root.".into()
    } else {
        "Create what the message names, in the pod's namespace.".into()
    }
}

fn image_pull(ctx: &Context, spec: &Value, container: &str, reason: &str) -> Found {
    let path = container_path(spec, container);
    let image = text(spec, &format!("{path}/image")).to_string();
    let failed: Vec<&EventLine> = ctx
        .events
        .iter()
        .filter(|e| e.reason == "Failed" && e.message.contains("Failed to pull image"))
        .collect();
    let detail = failed.last().map(|e| e.message.clone()).unwrap_or_default();
    let mut f = Found::new(Category::ImagePull, String::new(), String::new());
    f.evidence
        .push(format!("container {container} waiting: {reason}"));
    if !detail.is_empty() {
        f.evidence.push(format!("event Failed: {detail}"));
    }
    let lower = detail.to_ascii_lowercase();
    let denied = [
        "pull access denied",
        "unauthorized",
        "authentication required",
        "denied:",
        "403 forbidden",
    ]
    .iter()
    .any(|m| lower.contains(m));
    if denied {
        f.diagnosis = format!(
            "The registry refuses to serve {image} without credentials, and the pod has none that work."
        );
        let pull_secrets: Vec<&String> = ctx
            .secrets
            .iter()
            .filter(|(_, s)| {
                s.kind == "kubernetes.io/dockerconfigjson" || s.kind == "kubernetes.io/dockercfg"
            })
            .map(|(n, _)| n)
            .collect();
        let used: Vec<&str> = list(spec, "/imagePullSecrets")
            .iter()
            .map(|s| text(s, "/name"))
            .collect();
        match pull_secrets.iter().find(|s| !used.contains(&s.as_str())) {
            Some(secret) => {
                let mut all: Vec<Value> = list(spec, "/imagePullSecrets").to_vec();
                all.push(json!({"name": secret}));
                f.patch
                    .push(json!({"op": "add", "path": "/imagePullSecrets", "value": all}));
                f.suggested_fix = format!(
                    "Use the registry credentials in Secret {secret}: add it to imagePullSecrets."
                );
                f.evidence.push(format!(
                    "Secret {secret} in the namespace has type kubernetes.io/dockerconfigjson"
                ));
                f.confidence = 0.9;
                f.runnable = true;
            }
            None => {
                let registry = image.split('/').next().unwrap_or("");
                f.suggested_fix = format!(
                    "Create a pull Secret for {registry} and add it to imagePullSecrets: kubectl create secret docker-registry regcred --docker-server={registry} --docker-username=… --docker-password=…"
                );
                f.confidence = 0.85;
            }
        }
        return f;
    }
    f.diagnosis = format!(
        "The image {image} cannot be pulled: {}",
        if detail.contains("not found") {
            "the tag does not exist"
        } else {
            "see the event"
        }
    );
    // The last image of this container that ran, from the rollout history.
    let current = repo(&image);
    let tag_in = |r: &Revision, must_have_run: bool| {
        let p = container_path(&r.spec, container);
        let img = text(&r.spec, &format!("{p}/image"));
        (r.ran >= must_have_run && !img.is_empty() && img != image && repo(img) == current)
            .then(|| (r.number, img.to_string(), r.ran))
    };
    // A revision that ran; else (less sure) the latest other one.
    let earlier = ctx
        .history
        .iter()
        .rev()
        .find_map(|r| tag_in(r, true))
        .or_else(|| ctx.history.iter().rev().find_map(|r| tag_in(r, false)));
    match earlier {
        Some((number, img, ran)) => {
            f.patch
                .push(json!({"op": "replace", "path": format!("{path}/image"), "value": img}));
            f.set_image = Some((container.to_string(), img.clone()));
            f.suggested_fix = if ran {
                format!("Go back to {img}, the image of revision {number}, which ran.")
            } else {
                format!(
                    "Go back to {img}, the image of revision {number} (no revision is known to have run it)."
                )
            };
            f.evidence.push(if ran {
                format!("rollout history: revision {number} ran {img}")
            } else {
                format!("rollout history: revision {number} had {img}")
            });
            f.confidence = if ran { 0.95 } else { 0.6 };
            f.runnable = true;
        }
        None => {
            f.suggested_fix =
                format!("Push {image} to the registry, or set an image tag that exists.");
            f.confidence = 0.6;
        }
    }
    f
}

/// An image reference without its tag or digest.
fn repo(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

fn terminated(ctx: &Context) -> Option<Found> {
    let spec = ctx.pod.get("spec")?;
    for s in statuses(&ctx.pod) {
        let Some(last) = s
            .pointer("/lastState/terminated")
            .or_else(|| s.pointer("/state/terminated"))
        else {
            continue;
        };
        let code = last.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
        let reason = text(last, "/reason");
        if code == 0 && reason != "OOMKilled" {
            continue;
        }
        let name = text(s, "/name");
        let path = container_path(spec, name);
        let init = container_index(spec, name).is_some_and(|(_, init)| init);
        let restarts = s.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let mut evidence = vec![format!(
            "container {name}: last run ended {reason} (exit code {code}), {restarts} restart(s)"
        )];
        let logs = ctx.logs.get(name);
        let lines: Vec<&String> = logs
            .map(|(cur, prev)| prev.iter().chain(cur.iter()).collect())
            .unwrap_or_default();
        let mut f = if reason == "OOMKilled" {
            oom(ctx, spec, name, &path)
        } else if let Some(kind) = command_failure(reason, code, text(last, "/message")) {
            // The runtime's message, else what the shell printed.
            let message = match runtime_words(text(last, "/message")) {
                "" => lines.last().map_or(String::new(), |l| l.to_string()),
                m => m.to_string(),
            };
            bad_command(ctx, spec, name, &path, code, kind, &message)
        } else {
            crash(ctx, name, &path, code, &lines)
        };
        if init && f.category == Category::CrashLoop {
            f.category = Category::InitContainer;
        }
        evidence.append(&mut f.evidence);
        f.evidence = evidence;
        if let Some(l) = lines.iter().rev().find(|l| !l.trim().is_empty()) {
            f.evidence.push(format!("log: {l}"));
        }
        return Some(f);
    }
    None
}

fn oom(ctx: &Context, spec: &Value, name: &str, path: &str) -> Found {
    let limit = text(spec, &format!("{path}/resources/limits/memory")).to_string();
    let mut f = Found::new(
        Category::OomKilled,
        format!(
            "Container {name} is killed for using more memory than its limit ({}).",
            if limit.is_empty() {
                "none set: the node ran out".into()
            } else {
                limit.clone()
            }
        ),
        String::new(),
    );
    let largest = ctx
        .nodes
        .iter()
        .map(|n| n.memory_bytes)
        .max()
        .unwrap_or(i64::MAX);
    // The API does not say how much it needed: four times the limit (at
    // least 1 GiB, at most the largest node), to be proven with a mirror.
    let wanted = memory_bytes(&limit)
        .map_or(1 << 30, |l| (l * 4).max(1 << 30))
        .min(largest);
    let value = mib(wanted);
    if memory_bytes(&limit).is_some_and(|l| l >= wanted) {
        f.suggested_fix = format!(
            "Its limit ({limit}) is already as large as the largest node can give: the app needs less memory (a leak, a cache size) or a bigger node."
        );
        f.confidence = 0.6;
        return f;
    }
    // The whole resources object: its parts may be missing in the template.
    let mut resources = spec
        .pointer(&format!("{path}/resources"))
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    resources["limits"]["memory"] = json!(value);
    if memory_bytes(text(&resources, "/requests/memory")).is_some_and(|r| r > wanted) {
        resources["requests"]["memory"] = json!(value);
    }
    f.patch
        .push(json!({"op": "add", "path": format!("{path}/resources"), "value": resources}));
    f.suggested_fix = format!(
        "Raise the memory limit of {name} to {value} (from {}), then prove it with a mirror.",
        if limit.is_empty() { "none" } else { &limit }
    );
    f.confidence = 0.75;
    f.runnable = true;
    f
}

/// Why a container's command could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommandFailure {
    /// The executable is not in the image (shell exit 127; runc's
    /// "executable file not found in $PATH" or "stat X: no such file or
    /// directory").
    NotFound,
    /// It is there but cannot be executed (shell exit 126; runc's
    /// "permission denied").
    NotExecutable,
}

/// Reads a container's end (or its waiting state) as a command that could
/// not start, in every form the runtimes report it:
/// - through a shell (`sh -c "…"`), the shell's exit code: 127 not found,
///   126 not executable;
/// - in exec form, runc's words inside the runtime's message, with reason
///   `StartError` (containerd), `ContainerCannotRun` (Docker),
///   `RunContainerError` (the kubelet's waiting reason after it) or
///   `CreateContainerError` (CRI-O), and exit code 128 when it ended.
fn command_failure(reason: &str, code: i64, message: &str) -> Option<CommandFailure> {
    let runtime = matches!(
        reason,
        "StartError" | "ContainerCannotRun" | "RunContainerError" | "CreateContainerError"
    ) || code == 128;
    if runtime {
        // The part runc wrote: `exec: "NAME": …`.
        if let Some((_, exec)) = message.split_once("exec: ") {
            if exec.contains("executable file not found")
                || exec.contains("no such file or directory")
            {
                return Some(CommandFailure::NotFound);
            }
            if exec.contains("permission denied") {
                return Some(CommandFailure::NotExecutable);
            }
        }
    }
    match code {
        127 => Some(CommandFailure::NotFound),
        126 => Some(CommandFailure::NotExecutable),
        _ => None,
    }
}

/// The words that matter in a runtime's message: from runc's `exec: …` on,
/// without the layers' prefixes and the trailing `: unknown`.
fn runtime_words(message: &str) -> &str {
    let words = message
        .find("exec: ")
        .map_or(message, |at| &message[at..])
        .trim_end();
    words
        .strip_suffix(": unknown")
        .unwrap_or(words)
        .trim_end_matches(['"', '\\'])
}

fn has_terminated(status: &Value) -> bool {
    status.pointer("/lastState/terminated").is_some()
        || status.pointer("/state/terminated").is_some()
}

fn bad_command(
    ctx: &Context,
    spec: &Value,
    name: &str,
    path: &str,
    code: i64,
    kind: CommandFailure,
    message: &str,
) -> Found {
    let command = spec.pointer(&format!("{path}/command")).cloned();
    let args = spec.pointer(&format!("{path}/args")).cloned();
    let why = match kind {
        CommandFailure::NotExecutable => "the command cannot be executed",
        CommandFailure::NotFound => "the command is not found",
    };
    let mut f = Found::new(
        Category::CrashLoop,
        if message.is_empty() {
            format!("Container {name} cannot start its command (exit code {code}: {why}).")
        } else {
            format!(
                "Container {name} cannot start its command (exit code {code}: {why}): {message}"
            )
        },
        String::new(),
    );
    if let Some(c) = &command {
        f.evidence.push(format!("command: {c}"));
    }
    if let Some(a) = &args {
        f.evidence.push(format!("args: {a}"));
    }
    // The command and args of the last revision that ran, when they differ.
    let earlier = ctx.history.iter().rev().find_map(|r| {
        let p = container_path(&r.spec, name);
        let c = r.spec.pointer(&format!("{p}/command")).cloned();
        let a = r.spec.pointer(&format!("{p}/args")).cloned();
        (r.ran && (c.as_ref(), a.as_ref()) != (command.as_ref(), args.as_ref()))
            .then_some((r.number, c, a))
    });
    let set = |f: &mut Found, field: &str, now: &Option<Value>, then: Option<Value>| {
        let at = format!("{path}/{field}");
        match (now, then) {
            (Some(n), Some(t)) if *n == t => {}
            (_, Some(t)) => f.patch.push(json!({"op": "add", "path": at, "value": t})),
            (Some(_), None) => f.patch.push(json!({"op": "remove", "path": at})),
            (None, None) => {}
        }
    };
    if let Some((number, c, a)) = earlier {
        set(&mut f, "command", &command, c.clone());
        set(&mut f, "args", &args, a.clone());
        // then the image's entrypoint, should that revision's command not do
        if command.is_some() && c.is_some() {
            let mut entry = Found::new(Category::CrashLoop, String::new(), String::new());
            set(&mut entry, "command", &command, None);
            set(&mut entry, "args", &args, None);
            f.alternatives.push((
                "Remove the command and its args so the image's own entrypoint runs.".into(),
                entry.patch,
                0.5,
            ));
        }
        let shown = |v: &Option<Value>| v.as_ref().map_or("none".to_string(), Value::to_string);
        f.suggested_fix = format!(
            "Go back to the command of revision {number}, which ran: command {}, args {}.",
            shown(&c),
            shown(&a)
        );
        f.evidence.push(format!(
            "revision {number} ran with command {}, args {}",
            shown(&c),
            shown(&a)
        ));
        f.confidence = 0.85;
        f.runnable = true;
        return f;
    }
    if kind == CommandFailure::NotExecutable {
        f.suggested_fix = "The command exists but cannot be executed: check its permissions and that it is a binary or a script with a shebang.".into();
        f.confidence = 0.7;
        return f;
    }
    if command.is_none() {
        f.suggested_fix = "The image's own entrypoint is missing: use an image whose entrypoint exists, or set a command.".into();
        f.confidence = 0.6;
        return f;
    }
    // No revision ran with another command: the image's own entrypoint, a
    // guess a mirror proves or refutes.
    set(&mut f, "command", &command, None);
    set(&mut f, "args", &args, None);
    f.suggested_fix = "Remove the command and its args so the image's own entrypoint runs (or correct the typo in it); a mirror shows whether the entrypoint is what the pod needs.".into();
    f.confidence = 0.6;
    f.runnable = true;
    f
}

/// A container the kubelet kills after each start because its postStart
/// hook fails (`FailedPostStartHook` events; the container is not ready).
fn post_start_hook(ctx: &Context) -> Option<Found> {
    let spec = ctx.pod.get("spec")?;
    let event = ctx
        .events
        .iter()
        .rev()
        .find(|e| e.reason == "FailedPostStartHook")?;
    // The hook's output: in the event on kubelets before 1.34 (`… for
    // Container "NAME" in Pod …`); since then the event says only
    // "PostStartHook failed" and the container waits with reason
    // PostStartHookError and that text until its next start.
    let waiting: Vec<&str> = statuses(&ctx.pod)
        .into_iter()
        .filter(|s| text(s, "/state/waiting/reason") == "PostStartHookError")
        .map(|s| text(s, "/state/waiting/message"))
        .collect();
    let detail = std::iter::once(event.message.as_str())
        .chain(waiting.iter().copied())
        .find(|m| m.contains("exited with ") || m.contains("for Container \""))
        .unwrap_or(event.message.as_str());
    let named = detail
        .split_once("for Container \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(n, _)| n);
    let status = statuses(&ctx.pod).into_iter().find(|s| {
        s["ready"] != true
            && named.is_none_or(|n| text(s, "/name") == n)
            && list(spec, "/containers")
                .iter()
                .chain(list(spec, "/initContainers"))
                .find(|c| c["name"] == s["name"])
                .and_then(|c| c.pointer("/lifecycle/postStart"))
                .is_some()
    })?;
    let name = text(status, "/name");
    let path = container_path(spec, name);
    let hook = spec
        .pointer(&format!("{path}/lifecycle/postStart"))
        .cloned();
    let code = detail
        .split_once("exited with ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i64>().ok());
    let why = match code {
        Some(126 | 127) => format!(
            " (exit code {}: its command is not in the image)",
            code.unwrap_or(0)
        ),
        Some(c) => format!(" (exit code {c})"),
        None => String::new(),
    };
    let mut f = Found::new(
        Category::LifecycleHook,
        format!(
            "The postStart hook of container {name} fails{why}, so the kubelet kills the container after every start."
        ),
        String::new(),
    );
    f.evidence.push(format!(
        "event FailedPostStartHook (x{}): {}",
        event.count, event.message
    ));
    if detail != event.message {
        f.evidence
            .push(format!("container {name}: PostStartHookError: {detail}"));
    }
    if let Some(h) = &hook {
        f.evidence.push(format!("lifecycle.postStart: {h}"));
    }
    f.evidence.push(format!(
        "container {name}: restartCount {}",
        status["restartCount"]
    ));
    // The hook of the last revision that ran, else no hook.
    let earlier = ctx.history.iter().rev().find_map(|r| {
        let p = container_path(&r.spec, name);
        let h = r.spec.pointer(&format!("{p}/lifecycle/postStart")).cloned();
        (r.ran && h != hook).then_some((r.number, h))
    });
    let at = format!("{path}/lifecycle/postStart");
    match earlier {
        Some((number, Some(h))) => {
            f.patch
                .push(json!({"op": "replace", "path": at, "value": h}));
            f.suggested_fix =
                format!("Go back to the postStart hook of revision {number}, which ran.");
            f.confidence = 0.85;
        }
        Some((number, None)) => {
            f.patch.push(json!({"op": "remove", "path": at}));
            f.suggested_fix = format!(
                "Remove the postStart hook: revision {number} ran without it. If the hook is needed, correct its command instead."
            );
            f.confidence = 0.8;
        }
        None => {
            f.patch.push(json!({"op": "remove", "path": at}));
            f.suggested_fix = "Correct the hook's command, or remove the hook if the container does not need it: the patch removes it, so a mirror shows whether the container is healthy without it.".into();
            f.confidence = 0.55;
        }
    }
    f.runnable = hook.is_some();
    if !f.runnable {
        f.patch.clear();
    }
    Some(f)
}

/// A name in a log line that reads as a missing environment variable.
fn missing_env(lines: &[&String]) -> Option<String> {
    for l in lines.iter().rev() {
        for word in l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let looks = word.len() >= 3
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && word.contains('_');
            let says = [
                "is not set",
                "not set",
                "is required",
                "missing",
                "undefined",
                "environment variable",
            ]
            .iter()
            .any(|m| l.contains(m));
            if looks && says {
                return Some(word.to_string());
            }
        }
    }
    None
}

fn crash(ctx: &Context, name: &str, path: &str, code: i64, lines: &[&String]) -> Found {
    let mut f = Found::new(
        Category::CrashLoop,
        format!("Container {name} keeps exiting with code {code}."),
        "Read its last log lines: the application says why it stops.".into(),
    );
    f.confidence = 0.4;
    if let Some(var) = missing_env(lines) {
        f.diagnosis = format!(
            "Container {name} exits (code {code}) because the environment variable {var} is not set."
        );
        // A ConfigMap or Secret of the namespace with that key can provide it;
        // when several can, none is picked.
        let mut having: Vec<(Value, String)> = ctx
            .configmaps
            .iter()
            .filter(|(_, keys)| keys.contains(&var))
            .map(|(cm, _)| {
                (
                    json!({"configMapKeyRef": {"name": cm, "key": var}}),
                    format!("ConfigMap {cm}"),
                )
            })
            .collect();
        having.extend(
            ctx.secrets
                .iter()
                .filter(|(_, s)| s.keys.contains(&var))
                .map(|(s, _)| {
                    (
                        json!({"secretKeyRef": {"name": s, "key": var}}),
                        format!("Secret {s}"),
                    )
                }),
        );
        if having.len() > 1 {
            let names: Vec<&str> = having.iter().map(|(_, n)| n.as_str()).collect();
            f.evidence
                .push(format!("the key {var} is in {}", names.join(", ")));
            f.suggested_fix = format!(
                "Set {var} from one of {}, which all have that key: none is picked, as only you know which is meant (kubectl -n {} set env {} --from=configmap/NAME --keys={var}, or valueFrom a secretKeyRef).",
                names.join(", "),
                text(&ctx.pod, "/metadata/namespace"),
                ctx.owner.as_ref().map_or_else(
                    || format!("pod/{}", text(&ctx.pod, "/metadata/name")),
                    |o| format!("{}/{}", o.kind.to_ascii_lowercase(), o.name)
                )
            );
            f.confidence = 0.7;
            return f;
        }
        let source = having.pop().map(|(v, _)| v);
        match source {
            Some(value_from) => {
                let from = value_from
                    .as_object()
                    .and_then(|m| m.iter().next())
                    .map(|(k, v)| format!("{k} {}", text(v, "/name")))
                    .unwrap_or_default();
                let mut env: Vec<Value> = ctx
                    .pod
                    .pointer(&format!("/spec{path}/env"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                env.push(json!({"name": var, "valueFrom": value_from}));
                // The whole list: the template may have none to append to.
                f.patch
                    .push(json!({"op": "add", "path": format!("{path}/env"), "value": env}));
                f.suggested_fix = format!("Set {var} from the {from}, which has that key.");
                f.confidence = 0.8;
                f.runnable = true;
            }
            None => {
                f.suggested_fix = format!(
                    "Set {var} to its real value (only someone who knows it can): kubectl -n {} set env {} {var}=…",
                    text(&ctx.pod, "/metadata/namespace"),
                    ctx.owner.as_ref().map_or_else(
                        || format!("pod/{}", text(&ctx.pod, "/metadata/name")),
                        |o| format!("{}/{}", o.kind.to_ascii_lowercase(), o.name)
                    )
                );
                f.confidence = 0.85;
            }
        }
        return f;
    }
    if let Some(l) = lines
        .iter()
        .rev()
        .find(|l| l.to_ascii_lowercase().contains("no such file or directory"))
    {
        f.diagnosis =
            format!("Container {name} exits (code {code}): a file it needs is missing: {l}");
        f.suggested_fix = "Mount the file (a ConfigMap or Secret volume) at the path the log names, or fix the path.".into();
        f.confidence = 0.6;
        if let Some(file) = missing_path(l) {
            guess::mount_file(&mut f, ctx, path, &file);
        }
    }
    f
}

/// The absolute path a "no such file or directory" log line names
/// (`open /etc/app/app.yaml: no such file or directory`, Python's
/// `[Errno 2] No such file or directory: '/etc/app/app.yaml'`).
fn missing_path(line: &str) -> Option<String> {
    let is_path = |c: char| c.is_ascii_alphanumeric() || "/._-+@".contains(c);
    let mut best: Option<&str> = None;
    for (at, _) in line.match_indices('/') {
        let before = line[..at].chars().next_back();
        if before.is_some_and(is_path) {
            continue;
        }
        let rest = &line[at..];
        let end = rest.find(|c: char| !is_path(c)).unwrap_or(rest.len());
        let candidate = rest[..end].trim_end_matches(['.', '/']);
        if candidate.len() > 1 && !candidate.starts_with("//") {
            best = Some(candidate);
        }
    }
    best.map(str::to_string)
}

fn probes(ctx: &Context) -> Option<Found> {
    let spec = ctx.pod.get("spec")?;
    let unhealthy: Vec<&EventLine> = ctx
        .events
        .iter()
        .filter(|e| e.reason == "Unhealthy")
        .collect();
    let last = unhealthy.last()?;
    let kind = ["Liveness", "Readiness", "Startup"]
        .into_iter()
        .find(|k| last.message.starts_with(k))
        .unwrap_or("Liveness");
    let field = format!("{}Probe", kind.to_ascii_lowercase());
    for (i, c) in list(spec, "/containers").iter().enumerate() {
        let Some(probe) = c.get(&field) else { continue };
        let name = text(c, "/name");
        let mut f = Found::new(
            Category::Probe,
            format!(
                "The {} probe of {name} fails: {}",
                kind.to_ascii_lowercase(),
                last.message
            ),
            String::new(),
        );
        f.evidence.push(format!(
            "event Unhealthy (x{}): {}",
            last.count.max(1),
            last.message
        ));
        let handler = ["httpGet", "tcpSocket", "grpc"]
            .into_iter()
            .find(|h| probe.get(*h).is_some());
        let port = handler.and_then(|h| probe.pointer(&format!("/{h}/port")));
        let declared: Vec<&Value> = list(c, "/ports")
            .iter()
            .filter_map(|p| p.get("containerPort"))
            .collect();
        let refused = last.message.contains("connection refused");
        if let (Some(h), Some(port)) = (handler, port)
            && refused
            && !declared.is_empty()
            && !declared
                .iter()
                .any(|d| *d == port || text(c, "/ports/0/name") == port.as_str().unwrap_or("-"))
        {
            let to = declared[0].clone();
            f.patch.push(json!({"op": "replace", "path": format!("/containers/{i}/{field}/{h}/port"), "value": to}));
            f.evidence.push(format!(
                "probe port {port}; the container declares containerPort {to}"
            ));
            f.suggested_fix =
                format!("Probe port {to}, where the container listens, instead of {port}.");
            f.confidence = 0.9;
            f.runnable = true;
            return Some(f);
        }
        // An HTTP path the app answers 404 to: the path a sibling probe of
        // the container asks with success, else this probe's path in a
        // revision that ran.
        if handler == Some("httpGet") && last.message.contains("statuscode: 404") {
            let asked = text(probe, "/httpGet/path").to_string();
            let failing = |k: &str| unhealthy.iter().any(|e| e.message.starts_with(k));
            let sibling = ["Readiness", "Liveness", "Startup"]
                .into_iter()
                .filter(|k| *k != kind && !failing(k))
                .find_map(|k| {
                    let other = c.get(format!("{}Probe", k.to_ascii_lowercase()))?;
                    let p = other.pointer("/httpGet/path")?.as_str()?;
                    (p != asked && other.pointer("/httpGet/port") == probe.pointer("/httpGet/port"))
                        .then(|| {
                            (
                                format!("the {} probe", k.to_ascii_lowercase()),
                                p.to_string(),
                            )
                        })
                });
            let earlier = || {
                ctx.history.iter().rev().find_map(|r| {
                    let p = container_path(&r.spec, name);
                    let path = r
                        .spec
                        .pointer(&format!("{p}/{field}/httpGet/path"))?
                        .as_str()?;
                    (r.ran && path != asked)
                        .then(|| (format!("revision {}", r.number), path.to_string()))
                })
            };
            if let Some((from, to)) = sibling.or_else(earlier) {
                f.patch.push(json!({"op": "replace", "path": format!("/containers/{i}/{field}/httpGet/path"), "value": to}));
                f.evidence
                    .push(format!("probe path {asked} answers 404; {from} asks {to}"));
                f.suggested_fix = format!(
                    "Probe {to} (what {from} asks) instead of {asked}, which the app answers 404 to (a guess: a mirror shows whether {to} answers)."
                );
                f.confidence = 0.65;
                f.runnable = true;
                return Some(f);
            }
            // The paths health endpoints are usually at, each a guess for a mirror.
            f.evidence.push(format!(
                "probe path {asked} answers 404; no other probe or revision names a path"
            ));
            let mut confidence = 0.35;
            for to in guess::HEALTH_PATHS.iter().filter(|p| **p != asked) {
                f.also(
                    format!(
                        "Probe {to} instead of {asked}, which the app answers 404 to (a guess from where health endpoints usually are: a mirror shows whether {to} answers; the app's docs say for sure)."
                    ),
                    vec![json!({"op": "replace", "path": format!("/containers/{i}/{field}/httpGet/path"), "value": to})],
                    confidence,
                );
                confidence -= 0.01;
            }
            return Some(f);
        }
        // Right port, but it gives up before the app is up: a startupProbe.
        if kind == "Liveness" && c.get("startupProbe").is_none() {
            let mut startup = probe.clone();
            if let Some(m) = startup.as_object_mut() {
                m.remove("initialDelaySeconds");
                m.insert("periodSeconds".into(), json!(5));
                m.insert("failureThreshold".into(), json!(60));
            }
            let delay = probe
                .get("initialDelaySeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            f.evidence.push(format!(
                "{field}: initialDelaySeconds {delay}, no startupProbe"
            ));
            f.patch.push(json!({"op": "add", "path": format!("/containers/{i}/startupProbe"), "value": startup}));
            f.suggested_fix = "Give the app time to start: a startupProbe (the same check, up to 5 minutes) holds the liveness probe back until it first succeeds.".into();
            f.confidence = 0.75;
            f.runnable = true;
            return Some(f);
        }
        f.suggested_fix = format!(
            "Check what the {} probe asks of {name} (path, port, timeout) against what the app serves.",
            kind.to_ascii_lowercase()
        );
        f.confidence = 0.4;
        return Some(f);
    }
    None
}

#[cfg(test)]
mod tests;
