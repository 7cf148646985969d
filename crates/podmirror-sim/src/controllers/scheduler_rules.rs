//! The placement rules of kube-scheduler v1.35, as pure functions over JSON
//! objects: which node a pod binds to, or the exact FailedScheduling message
//! when none fits.
//!
//! The plugins run in the default profile's order. PreFilter: NodeAffinity
//! (`matchFields` on `metadata.name` narrows the candidate nodes),
//! VolumeRestrictions and VolumeBinding (missing, lost, deleted or unbound
//! claims). Filter, per node, stopping at the first plugin that rejects it:
//! NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
//! NodeResourcesFit. When nothing fits, DefaultPreemption runs its dry run and
//! the message is assembled like `FitError.Error()`:
//!
//! ```text
//! 0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.
//! ```
//!
//! Reasons are counted per node and the `"<count> <reason>"` strings sorted as
//! strings, as Go's `sort.Strings` does. Among feasible nodes the one left
//! with the most free cpu and memory wins (LeastAllocated); ties go to the
//! first name, so runs repeat.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::quantity;

/// The scheduler's default cpu request for a pod that asks for none, used only
/// to score nodes (`DefaultMilliCPURequest`).
const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The scheduler's default memory request for a pod that asks for none, used
/// only to score nodes (`DefaultMemoryRequest`, 200 MiB).
const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The taint a cordoned node implies (`node.kubernetes.io/unschedulable`).
const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// A node as the scheduler sees it: the object plus what its pods already ask for.
#[derive(Debug, Clone, Copy)]
pub struct NodeInfo<'a> {
    /// The Node object; `status.allocatable` (cpu, memory, pods), labels,
    /// `spec.taints` and `spec.unschedulable` are read.
    pub node: &'a Value,
    /// Sum of the effective cpu requests of the pods bound to the node, in millicores.
    pub requested_cpu_millis: i64,
    /// Sum of the effective memory requests of the pods bound to the node, in bytes.
    pub requested_memory_bytes: i64,
    /// Number of pods bound to the node (terminated pods excluded).
    pub pod_count: i64,
}

/// What the scheduler decided for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Bind the pod to the named node.
    Bind(String),
    /// Leave the pod Pending: `PodScheduled=False`, reason `Unschedulable`,
    /// and a `FailedScheduling` warning event with this message.
    Unschedulable {
        /// The message, worded as kube-scheduler words it.
        message: String,
    },
}

/// Scheduler features that change the message text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Profile {
    /// Run the DynamicResources plugin (on by default in real clusters since
    /// v1.34). Its PostFilter adds `no new claims to deallocate, ` before
    /// `preemption: ` when every PreFilter passed and the pod claims no
    /// devices. Off by default, matching the messages kubectl users know.
    pub dynamic_resources: bool,
}

/// Schedules `pod` onto one of `nodes` with the default [`Profile`].
///
/// `pvcs` looks a PersistentVolumeClaim up by name in the pod's namespace.
pub fn schedule(pod: &Value, nodes: &[NodeInfo], pvcs: &dyn Fn(&str) -> Option<Value>) -> Decision {
    schedule_with(pod, nodes, pvcs, Profile::default())
}

/// Schedules `pod` onto one of `nodes` with the given [`Profile`].
pub fn schedule_with(
    pod: &Value,
    nodes: &[NodeInfo],
    pvcs: &dyn Fn(&str) -> Option<Value>,
    profile: Profile,
) -> Decision {
    if nodes.is_empty() {
        return Decision::Unschedulable {
            message: "no nodes available to schedule pods".into(),
        };
    }

    let candidates = match pre_filter(pod, pvcs) {
        Ok(candidates) => candidates,
        Err(status) => {
            // Every node shares the PreFilter status; its message stands in
            // for the per-node histogram.
            let codes = vec![status.code; nodes.len()];
            let fit = format!(
                "0/{} nodes are available: {}.",
                nodes.len(),
                status.reasons.join(", ")
            );
            let post = post_filter(pod, &codes, profile, false);
            return Decision::Unschedulable {
                message: format!("{fit} {post}"),
            };
        }
    };

    let requests = pod_requests(pod);
    let mut statuses: Vec<Status> = Vec::with_capacity(nodes.len());
    let mut feasible: Vec<(&NodeInfo, &str)> = Vec::new();
    for info in nodes {
        let name = node_name(info.node);
        if let Some(names) = &candidates
            && !names.contains(name)
        {
            statuses.push(Status::unresolvable(
                "node(s) didn't satisfy plugin(s) [NodeAffinity]".into(),
            ));
            continue;
        }
        match filter(pod, info, requests) {
            Some(status) => statuses.push(status),
            None => feasible.push((info, name)),
        }
    }

    if let Some((_, name)) = feasible
        .iter()
        .map(|(info, name)| (least_allocated_score(info, requests), *name))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
    {
        return Decision::Bind(name.to_string());
    }

    let reasons = statuses
        .iter()
        .flat_map(|s| s.reasons.iter().map(String::as_str));
    let fit = fit_error(nodes.len(), reasons);
    let codes: Vec<Code> = statuses.iter().map(|s| s.code).collect();
    let post = post_filter(pod, &codes, profile, true);
    Decision::Unschedulable {
        message: format!("{fit} {post}"),
    }
}

/// A pod's effective cpu (millicores) and memory (bytes) requests, as
/// `resource.PodRequests` computes them.
///
/// App containers are summed; each init container needs its own request plus
/// the sidecars (`restartPolicy: Always` init containers) started before it,
/// and the pod needs the larger of the two; sidecars also count toward the
/// sum. Pod-level `spec.resources` replaces the container total where set,
/// and `spec.overhead` is added. A container or pod with a limit but no
/// request for a resource counts its limit, as the API server's defaulting does.
pub fn pod_requests(pod: &Value) -> (i64, i64) {
    let spec = &pod["spec"];
    let mut total = Pair::default();
    for c in spec["containers"].as_array().into_iter().flatten() {
        total = total.add(resource_requests(&c["resources"]));
    }

    let mut sidecars = Pair::default();
    let mut init_peak = Pair::default();
    for c in spec["initContainers"].as_array().into_iter().flatten() {
        let own = resource_requests(&c["resources"]);
        let needed = if c["restartPolicy"] == "Always" {
            total = total.add(own);
            sidecars = sidecars.add(own);
            sidecars
        } else {
            own.add(sidecars)
        };
        init_peak = init_peak.max(needed);
    }
    total = total.max(init_peak);

    let pod_level = &spec["resources"];
    if let Some(cpu) = request_or_limit(pod_level, "cpu", quantity::millis) {
        total.cpu = cpu;
    }
    if let Some(memory) = request_or_limit(pod_level, "memory", quantity::bytes) {
        total.memory = memory;
    }

    let overhead = &spec["overhead"];
    total = total.add(Pair {
        cpu: quantity::millis(&overhead["cpu"]).unwrap_or(0),
        memory: quantity::bytes(&overhead["memory"]).unwrap_or(0),
    });
    (total.cpu, total.memory)
}

/// Whether a node matches one `nodeSelectorTerms` entry: every
/// `matchExpressions` requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) on
/// the node's labels and every `matchFields` requirement (In, NotIn with one
/// value) on `metadata.name`. An empty term, or one with an invalid
/// requirement, matches nothing, as in `LazyErrorNodeSelector`.
pub fn match_node_selector_term(term: &Value, node: &Value) -> bool {
    let expressions = term["matchExpressions"].as_array();
    let fields = term["matchFields"].as_array();
    let is_empty = |list: Option<&Vec<Value>>| list.is_none_or(|l| l.is_empty());
    if is_empty(expressions) && is_empty(fields) {
        return false;
    }
    let labels = &node["metadata"]["labels"];
    let name = node_name(node);
    expressions
        .into_iter()
        .flatten()
        .all(|r| label_requirement_matches(r, labels) == Some(true))
        && fields
            .into_iter()
            .flatten()
            .all(|r| field_requirement_matches(r, name) == Some(true))
}

/// Whether any of the pod's `tolerations` tolerates `taint`, by
/// `Toleration.ToleratesTaint`: effects must match unless the toleration's is
/// empty; keys must match unless the toleration's is empty; `Exists` accepts
/// any value, `Equal` (or no operator) needs the same value.
pub fn tolerates(tolerations: &Value, taint: &Value) -> bool {
    tolerations
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| toleration_tolerates(t, taint))
}

fn toleration_tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect = str_of(&toleration["effect"]);
    if !effect.is_empty() && effect != str_of(&taint["effect"]) {
        return false;
    }
    let key = str_of(&toleration["key"]);
    if !key.is_empty() && key != str_of(&taint["key"]) {
        return false;
    }
    match str_of(&toleration["operator"]) {
        "" | "Equal" => str_of(&toleration["value"]) == str_of(&taint["value"]),
        "Exists" => true,
        _ => false,
    }
}

/// How final a rejection is, which decides whether preemption is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    /// Evicting other pods might help (`Unschedulable`).
    Unschedulable,
    /// Evicting other pods cannot help (`UnschedulableAndUnresolvable`).
    Unresolvable,
}

/// A plugin's rejection: how final it is and its reason texts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    code: Code,
    reasons: Vec<String>,
}

impl Status {
    fn unresolvable(reason: String) -> Self {
        Self {
            code: Code::Unresolvable,
            reasons: vec![reason],
        }
    }
}

/// A cpu (millicores) and memory (bytes) amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Pair {
    cpu: i64,
    memory: i64,
}

impl Pair {
    fn add(self, other: Pair) -> Pair {
        Pair {
            cpu: self.cpu.saturating_add(other.cpu),
            memory: self.memory.saturating_add(other.memory),
        }
    }

    fn max(self, other: Pair) -> Pair {
        Pair {
            cpu: self.cpu.max(other.cpu),
            memory: self.memory.max(other.memory),
        }
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn node_name(node: &Value) -> &str {
    str_of(&node["metadata"]["name"])
}

/// A resource's request, or its limit when no request is given.
fn request_or_limit(resources: &Value, name: &str, read: fn(&Value) -> Option<i64>) -> Option<i64> {
    let request = &resources["requests"][name];
    if request.is_null() {
        read(&resources["limits"][name])
    } else {
        read(request)
    }
}

fn resource_requests(resources: &Value) -> Pair {
    Pair {
        cpu: request_or_limit(resources, "cpu", quantity::millis).unwrap_or(0),
        memory: request_or_limit(resources, "memory", quantity::bytes).unwrap_or(0),
    }
}

/// The PreFilter phase. `Ok(Some(names))` limits the candidates to those
/// nodes, `Ok(None)` keeps all, `Err` rejects the pod on every node.
fn pre_filter(
    pod: &Value,
    pvcs: &dyn Fn(&str) -> Option<Value>,
) -> Result<Option<BTreeSet<String>>, Status> {
    let candidates = node_affinity_pre_filter(pod)?;
    volume_pre_filter(pod, pvcs)?;
    Ok(candidates)
}

/// NodeAffinity's PreFilter: when every required term names nodes through
/// `matchFields` `metadata.name In`, only those nodes are considered.
fn node_affinity_pre_filter(pod: &Value) -> Result<Option<BTreeSet<String>>, Status> {
    let terms = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    let Some(terms) = terms.as_array().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let mut names = BTreeSet::new();
    for term in terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for r in term["matchFields"].as_array().into_iter().flatten() {
            if str_of(&r["key"]) != "metadata.name" || str_of(&r["operator"]) != "In" {
                continue;
            }
            let values: BTreeSet<String> = r["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            term_names = Some(match term_names {
                None => values,
                Some(prev) => prev.intersection(&values).cloned().collect(),
            });
        }
        // A term without a node-name requirement leaves every node eligible.
        let Some(term_names) = term_names else {
            return Ok(None);
        };
        names.extend(term_names);
    }
    if names.is_empty() {
        return Err(Status::unresolvable("pod affinity terms conflict".into()));
    }
    Ok(Some(names))
}

/// A claim the pod mounts: its name and whether it comes from an ephemeral volume.
struct ClaimRef {
    name: String,
    ephemeral: bool,
}

fn pod_claims(pod: &Value) -> Vec<ClaimRef> {
    let pod_name = str_of(&pod["metadata"]["name"]);
    let mut claims = Vec::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        if let Some(name) = v["persistentVolumeClaim"]["claimName"].as_str() {
            claims.push(ClaimRef {
                name: name.to_string(),
                ephemeral: false,
            });
        } else if v["ephemeral"].is_object() {
            claims.push(ClaimRef {
                name: format!("{pod_name}-{}", str_of(&v["name"])),
                ephemeral: true,
            });
        }
    }
    claims
}

/// VolumeRestrictions' and VolumeBinding's PreFilter checks, in that order.
///
/// Every claim that is not `status.phase: Bound` counts as an unbound claim
/// of an Immediate-binding storage class.
fn volume_pre_filter(pod: &Value, pvcs: &dyn Fn(&str) -> Option<Value>) -> Result<(), Status> {
    let claims = pod_claims(pod);
    // VolumeRestrictions looks up the plain claims first.
    for c in claims.iter().filter(|c| !c.ephemeral) {
        if pvcs(&c.name).is_none() {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim \"{}\" not found",
                c.name
            )));
        }
    }
    // VolumeBinding then checks every claim, ephemeral ones included.
    let mut unbound = false;
    for c in &claims {
        let Some(pvc) = pvcs(&c.name) else {
            let reason = if c.ephemeral {
                format!(
                    "waiting for ephemeral volume controller to create the persistentvolumeclaim \"{}\"",
                    c.name
                )
            } else {
                format!("persistentvolumeclaim \"{}\" not found", c.name)
            };
            return Err(Status::unresolvable(reason));
        };
        let phase = str_of(&pvc["status"]["phase"]);
        if phase == "Lost" {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim \"{}\" bound to non-existent persistentvolume \"{}\"",
                c.name,
                str_of(&pvc["spec"]["volumeName"])
            )));
        }
        if !pvc["metadata"]["deletionTimestamp"].is_null() {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim \"{}\" is being deleted",
                c.name
            )));
        }
        unbound |= phase != "Bound";
    }
    if unbound {
        return Err(Status::unresolvable(
            "pod has unbound immediate PersistentVolumeClaims".into(),
        ));
    }
    Ok(())
}

/// The Filter phase for one node: `None` when the node fits, else the first
/// plugin's rejection.
fn filter(pod: &Value, info: &NodeInfo, requests: (i64, i64)) -> Option<Status> {
    let node = info.node;
    let spec = &pod["spec"];

    // NodeUnschedulable
    if node["spec"]["unschedulable"] == true {
        let taint = serde_json::json!({"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule"});
        if !tolerates(&spec["tolerations"], &taint) {
            return Some(Status::unresolvable("node(s) were unschedulable".into()));
        }
    }

    // NodeName
    let wanted = str_of(&spec["nodeName"]);
    if !wanted.is_empty() && wanted != node_name(node) {
        return Some(Status::unresolvable(
            "node(s) didn't match the requested node name".into(),
        ));
    }

    // TaintToleration: the first NoSchedule/NoExecute taint not tolerated.
    let untolerated = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| matches!(str_of(&t["effect"]), "NoSchedule" | "NoExecute"))
        .find(|t| !tolerates(&spec["tolerations"], t));
    // Kubernetes 1.35 does not name the taint (its TaintToleration plugin
    // logs it at V(4) only): the reader must look at the Nodes.
    if untolerated.is_some() {
        return Some(Status::unresolvable(
            "node(s) had untolerated taint(s)".into(),
        ));
    }

    // NodeAffinity: nodeSelector and required node affinity, both must hold.
    if !required_node_affinity_matches(spec, node) {
        return Some(Status::unresolvable(
            "node(s) didn't match Pod's node affinity/selector".into(),
        ));
    }

    node_resources_fit(info, requests)
}

fn required_node_affinity_matches(spec: &Value, node: &Value) -> bool {
    let labels = &node["metadata"]["labels"];
    let selector_ok = spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels[k.as_str()].as_str().is_some() && labels[k.as_str()] == *v);
    if !selector_ok {
        return false;
    }
    let required =
        &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    if required.is_null() {
        return true;
    }
    required["nodeSelectorTerms"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|term| match_node_selector_term(term, node))
}

/// One `matchExpressions` requirement against node labels; `None` when the
/// requirement itself is invalid.
fn label_requirement_matches(r: &Value, labels: &Value) -> Option<bool> {
    let key = str_of(&r["key"]);
    if key.is_empty() {
        return None;
    }
    let values: Vec<&str> = r["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let label = labels[key].as_str();
    let matched = match str_of(&r["operator"]) {
        "In" if !values.is_empty() => label.is_some_and(|l| values.contains(&l)),
        "NotIn" if !values.is_empty() => label.is_none_or(|l| !values.contains(&l)),
        "Exists" if values.is_empty() => label.is_some(),
        "DoesNotExist" if values.is_empty() => label.is_none(),
        op @ ("Gt" | "Lt") if values.len() == 1 => {
            let bound: i64 = values[0].parse().ok()?;
            match label.and_then(|l| l.parse::<i64>().ok()) {
                Some(l) if op == "Gt" => l > bound,
                Some(l) => l < bound,
                None => false,
            }
        }
        _ => return None,
    };
    Some(matched)
}

/// One `matchFields` requirement against the node's fields (only
/// `metadata.name` exists); `None` when the requirement itself is invalid.
fn field_requirement_matches(r: &Value, node_name: &str) -> Option<bool> {
    let values = r["values"].as_array()?;
    let [value] = values.as_slice() else {
        return None;
    };
    let value = value.as_str()?;
    let field = if str_of(&r["key"]) == "metadata.name" {
        node_name
    } else {
        ""
    };
    match str_of(&r["operator"]) {
        "In" => Some(field == value),
        "NotIn" => Some(field != value),
        _ => None,
    }
}

/// Reads an allocatable amount; a missing one counts as zero, as in the real NodeInfo.
fn allocatable(node: &Value, name: &str, read: fn(&Value) -> Option<i64>) -> i64 {
    read(&node["status"]["allocatable"][name]).unwrap_or(0)
}

/// NodeResourcesFit's Filter: pods, cpu and memory against allocatable.
fn node_resources_fit(info: &NodeInfo, (cpu, memory): (i64, i64)) -> Option<Status> {
    let node = info.node;
    let mut reasons = Vec::new();
    let mut code = Code::Unschedulable;

    let allowed_pods = allocatable(node, "pods", quantity::bytes);
    if info.pod_count.saturating_add(1) > allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    let alloc_cpu = allocatable(node, "cpu", quantity::millis);
    if cpu > 0 && cpu > alloc_cpu.saturating_sub(info.requested_cpu_millis) {
        reasons.push("Insufficient cpu".to_string());
        if cpu > alloc_cpu {
            code = Code::Unresolvable;
        }
    }
    let alloc_memory = allocatable(node, "memory", quantity::bytes);
    if memory > 0 && memory > alloc_memory.saturating_sub(info.requested_memory_bytes) {
        reasons.push("Insufficient memory".to_string());
        if memory > alloc_memory {
            code = Code::Unresolvable;
        }
    }
    (!reasons.is_empty()).then_some(Status { code, reasons })
}

/// NodeResourcesFit's LeastAllocated score (0–100): the share of cpu and
/// memory left free once the pod is placed, pods without requests counting
/// the scheduler's defaults.
fn least_allocated_score(info: &NodeInfo, (cpu, memory): (i64, i64)) -> i64 {
    let cpu = if cpu == 0 {
        DEFAULT_MILLI_CPU_REQUEST
    } else {
        cpu
    };
    let memory = if memory == 0 {
        DEFAULT_MEMORY_REQUEST
    } else {
        memory
    };
    let free_share = |allocatable: i64, requested: i64, extra: i64| -> i64 {
        let used = i128::from(requested) + i128::from(extra);
        let allocatable = i128::from(allocatable);
        if allocatable <= 0 || used > allocatable {
            return 0;
        }
        // 0..=100 always fits an i64.
        ((allocatable - used) * 100 / allocatable) as i64
    };
    let cpu_score = free_share(
        allocatable(info.node, "cpu", quantity::millis),
        info.requested_cpu_millis,
        cpu,
    );
    let memory_score = free_share(
        allocatable(info.node, "memory", quantity::bytes),
        info.requested_memory_bytes,
        memory,
    );
    (cpu_score + memory_score) / 2
}

/// `FitError.Error()` for a Filter-phase failure: every node's reasons
/// counted, and the `"<count> <reason>"` entries sorted as strings.
fn fit_error<'a>(num_nodes: usize, reasons: impl Iterator<Item = &'a str>) -> String {
    let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in reasons {
        *histogram.entry(reason).or_default() += 1;
    }
    let mut entries: Vec<String> = histogram
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    entries.sort();
    format!("0/{num_nodes} nodes are available: {}.", entries.join(", "))
}

/// The PostFilter plugins' message: DynamicResources (when on) and then
/// DefaultPreemption, which tries preemption only on nodes whose rejection
/// was resolvable. No bound pod is assumed to have a lower priority than the
/// incoming one, so each such node reports that it has no victims.
fn post_filter(pod: &Value, codes: &[Code], profile: Profile, prefilter_passed: bool) -> String {
    let preemption = if pod["spec"]["preemptionPolicy"] == "Never" {
        "preemption: not eligible due to preemptionPolicy=Never.".to_string()
    } else {
        let reasons = codes.iter().map(|c| match c {
            Code::Unschedulable => "No preemption victims found for incoming pod",
            Code::Unresolvable => "Preemption is not helpful for scheduling",
        });
        format!("preemption: {}", fit_error(codes.len(), reasons))
    };
    if profile.dynamic_resources && prefilter_passed {
        format!("no new claims to deallocate, {preemption}")
    } else {
        preemption
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GI: i64 = 1024 * 1024 * 1024;

    fn node(name: &str) -> Value {
        json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
        })
    }

    fn info(node: &Value) -> NodeInfo<'_> {
        NodeInfo {
            node,
            requested_cpu_millis: 0,
            requested_memory_bytes: 0,
            pod_count: 0,
        }
    }

    fn pod(spec: Value) -> Value {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "app", "image": "shop/web:1",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]);
        }
        json!({"metadata": {"name": "web-1", "namespace": "default"}, "spec": spec})
    }

    fn with_memory(memory: &str) -> Value {
        pod(json!({"containers": [{"name": "app",
            "resources": {"requests": {"cpu": "100m", "memory": memory}}}]}))
    }

    fn no_pvcs(_: &str) -> Option<Value> {
        None
    }

    fn message(d: Decision) -> String {
        match d {
            Decision::Unschedulable { message } => message,
            Decision::Bind(n) => panic!("expected Unschedulable, bound to {n}"),
        }
    }

    fn three_nodes() -> Vec<Value> {
        vec![node("node-a"), node("node-b"), node("node-c")]
    }

    #[test]
    fn zero_nodes_says_no_nodes_available() {
        let d = schedule(&pod(json!({})), &[], &no_pvcs);
        assert_eq!(message(d), "no nodes available to schedule pods");
    }

    #[test]
    fn binds_to_the_least_allocated_node() {
        let nodes = three_nodes();
        let mut infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        infos[0].requested_cpu_millis = 3000;
        infos[1].requested_memory_bytes = 4 * GI;
        let d = schedule(&pod(json!({})), &infos, &no_pvcs);
        assert_eq!(d, Decision::Bind("node-c".into()));
    }

    #[test]
    fn ties_go_to_the_first_name() {
        let nodes = [node("zeta"), node("alpha"), node("mid")];
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let d = schedule(&pod(json!({})), &infos, &no_pvcs);
        assert_eq!(d, Decision::Bind("alpha".into()));
    }

    #[test]
    fn memory_no_node_can_hold_is_not_helped_by_preemption() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let d = schedule(&with_memory("64Gi"), &infos, &no_pvcs);
        assert_eq!(
            message(d),
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are \
             available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn memory_taken_by_other_pods_finds_no_victims() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes
            .iter()
            .map(|n| NodeInfo {
                requested_memory_bytes: 7 * GI,
                ..info(n)
            })
            .collect();
        let d = schedule(&with_memory("2Gi"), &infos, &no_pvcs);
        assert_eq!(
            message(d),
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are \
             available: 3 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn taints_and_memory_are_counted_and_sorted() {
        let mut nodes = three_nodes();
        nodes[0]["spec"]["taints"] =
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
        let infos: Vec<NodeInfo> = nodes
            .iter()
            .map(|n| NodeInfo {
                requested_memory_bytes: 7 * GI,
                ..info(n)
            })
            .collect();
        let d = schedule(&with_memory("2Gi"), &infos, &no_pvcs);
        assert_eq!(
            message(d),
            "0/3 nodes are available: 1 node(s) had untolerated taint(s), \
             2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is \
             not helpful for scheduling, 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn a_taint_is_not_named_as_in_kubernetes_1_35() {
        let mut nodes = [node("cp")];
        nodes[0]["spec"]["taints"] =
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let d = schedule(&pod(json!({})), &infos, &no_pvcs);
        assert_eq!(
            message(d),
            "0/1 nodes are available: 1 node(s) had untolerated taint(s). \
             preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn prefer_no_schedule_taints_do_not_block() {
        let mut nodes = [node("soft")];
        nodes[0]["spec"]["taints"] =
            json!([{"key": "a", "value": "b", "effect": "PreferNoSchedule"}]);
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        assert_eq!(
            schedule(&pod(json!({})), &infos, &no_pvcs),
            Decision::Bind("soft".into())
        );
    }

    #[test]
    fn matching_tolerations_let_the_pod_onto_tainted_nodes() {
        let mut nodes = [node("gpu")];
        nodes[0]["spec"]["taints"] = json!([
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "maint", "value": "x", "effect": "NoExecute"}
        ]);
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
            {"key": "maint", "operator": "Exists"}
        ]}));
        assert_eq!(schedule(&p, &infos, &no_pvcs), Decision::Bind("gpu".into()));
    }

    #[test]
    fn toleration_operators_and_effects() {
        let taint = json!({"key": "k", "value": "v", "effect": "NoSchedule"});
        let t = |tol: Value| tolerates(&json!([tol]), &taint);
        assert!(
            t(json!({"operator": "Exists"})),
            "empty key with Exists tolerates all"
        );
        assert!(
            t(json!({"key": "k", "value": "v"})),
            "no operator means Equal"
        );
        assert!(t(
            json!({"key": "k", "operator": "Exists", "effect": "NoSchedule"})
        ));
        assert!(!t(json!({"key": "k", "value": "w"})), "other value");
        assert!(
            !t(json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})),
            "other effect"
        );
        assert!(
            !t(json!({"key": "other", "operator": "Exists"})),
            "other key"
        );
        assert!(
            !t(json!({"key": "k", "operator": "Gt", "value": "1"})),
            "unknown operator"
        );
        assert!(!tolerates(&Value::Null, &taint), "no tolerations");
    }

    #[test]
    fn cordoned_nodes_are_unschedulable_unless_tolerated() {
        let mut nodes = vec![node("a"), node("b")];
        for n in &mut nodes {
            n["spec"]["unschedulable"] = json!(true);
            // A cordoned node also carries the taint; NodeUnschedulable runs first.
            n["spec"]["taints"] = json!([{"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule"}]);
        }
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        assert_eq!(
            message(schedule(&pod(json!({})), &infos, &no_pvcs)),
            "0/2 nodes are available: 2 node(s) were unschedulable. preemption: 0/2 nodes \
             are available: 2 Preemption is not helpful for scheduling."
        );
        let tolerant = pod(json!({"tolerations": [
            {"key": UNSCHEDULABLE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]}));
        assert_eq!(
            schedule(&tolerant, &infos, &no_pvcs),
            Decision::Bind("a".into())
        );
    }

    #[test]
    fn node_selector_that_nothing_matches() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"nodeSelector": {"disktype": "ssd"}}));
        assert_eq!(
            message(schedule(&p, &infos, &no_pvcs)),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn node_selector_picks_the_labelled_node() {
        let mut nodes = three_nodes();
        nodes[2]["metadata"]["labels"]["disktype"] = json!("ssd");
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"nodeSelector": {"disktype": "ssd"}}));
        assert_eq!(
            schedule(&p, &infos, &no_pvcs),
            Decision::Bind("node-c".into())
        );
    }

    #[test]
    fn taint_toleration_runs_before_node_affinity() {
        let mut nodes = [node("t")];
        nodes[0]["spec"]["taints"] = json!([{"key": "a", "value": "b", "effect": "NoExecute"}]);
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"nodeSelector": {"disktype": "ssd"}}));
        assert!(
            message(schedule(&p, &infos, &no_pvcs)).contains("1 node(s) had untolerated taint(s).")
        );
    }

    #[test]
    fn required_node_affinity_terms_are_ored() {
        let mut nodes = three_nodes();
        nodes[0]["metadata"]["labels"]["zone"] = json!("z1");
        nodes[1]["metadata"]["labels"]["zone"] = json!("z2");
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z9"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}
            ]}}}}),
        );
        assert_eq!(
            schedule(&p, &infos, &no_pvcs),
            Decision::Bind("node-b".into())
        );
    }

    #[test]
    fn node_selector_and_affinity_must_both_hold() {
        let mut nodes = [node("n")];
        nodes[0]["metadata"]["labels"]["zone"] = json!("z1");
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"nodeSelector": {"zone": "z1"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]}}}}));
        assert!(message(schedule(&p, &infos, &no_pvcs)).starts_with(
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        ));
    }

    #[test]
    fn selector_term_operators() {
        let n = json!({"metadata": {"name": "n1", "labels": {"zone": "z1", "cores": "8"}}});
        let m = |exprs: Value| match_node_selector_term(&json!({"matchExpressions": exprs}), &n);
        assert!(m(
            json!([{"key": "zone", "operator": "In", "values": ["z1", "z2"]}])
        ));
        assert!(!m(
            json!([{"key": "zone", "operator": "NotIn", "values": ["z1"]}])
        ));
        assert!(
            m(json!([{"key": "rack", "operator": "NotIn", "values": ["r1"]}])),
            "absent key is NotIn"
        );
        assert!(m(json!([{"key": "zone", "operator": "Exists"}])));
        assert!(m(json!([{"key": "rack", "operator": "DoesNotExist"}])));
        assert!(m(
            json!([{"key": "cores", "operator": "Gt", "values": ["4"]}])
        ));
        assert!(!m(
            json!([{"key": "cores", "operator": "Lt", "values": ["4"]}])
        ));
        assert!(
            !m(json!([{"key": "zone", "operator": "Gt", "values": ["4"]}])),
            "not a number"
        );
        assert!(
            m(json!([{"key": "zone", "operator": "In", "values": ["z1"]},
                     {"key": "cores", "operator": "Lt", "values": ["16"]}])),
            "requirements are ANDed"
        );
    }

    #[test]
    fn invalid_or_empty_terms_match_nothing() {
        let n = json!({"metadata": {"name": "n1", "labels": {"zone": "z1"}}});
        let m = |term: Value| match_node_selector_term(&term, &n);
        assert!(!m(json!({})), "empty term");
        assert!(!m(json!({"matchExpressions": []})));
        assert!(!m(
            json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": []}]})
        ));
        assert!(!m(
            json!({"matchExpressions": [{"key": "zone", "operator": "Exists", "values": ["z1"]}]})
        ));
        assert!(!m(
            json!({"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["1", "2"]}]})
        ));
        assert!(!m(
            json!({"matchExpressions": [{"key": "zone", "operator": "Like", "values": ["z1"]}]})
        ));
        assert!(!m(
            json!({"matchFields": [{"key": "metadata.name", "operator": "Exists"}]})
        ));
    }

    #[test]
    fn match_fields_on_metadata_name() {
        let n = json!({"metadata": {"name": "n1", "labels": {}}});
        let m = |fields: Value| match_node_selector_term(&json!({"matchFields": fields}), &n);
        assert!(m(
            json!([{"key": "metadata.name", "operator": "In", "values": ["n1"]}])
        ));
        assert!(!m(
            json!([{"key": "metadata.name", "operator": "In", "values": ["n2"]}])
        ));
        assert!(m(
            json!([{"key": "metadata.name", "operator": "NotIn", "values": ["n2"]}])
        ));
        assert!(
            !m(json!([{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}])),
            "field selectors take exactly one value"
        );
    }

    #[test]
    fn match_fields_narrow_the_candidates_in_prefilter() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let affinity = |name: &str| {
            pod(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name]}]}]}}}}))
        };
        assert_eq!(
            schedule(&affinity("node-b"), &infos, &no_pvcs),
            Decision::Bind("node-b".into())
        );
        assert_eq!(
            message(schedule(&affinity("gone"), &infos, &no_pvcs)),
            "0/3 nodes are available: 3 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn conflicting_node_name_terms_are_rejected_in_prefilter() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": ["node-a"]},
                    {"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]}}}}));
        assert_eq!(
            message(schedule(&p, &infos, &no_pvcs)),
            "0/3 nodes are available: pod affinity terms conflict. preemption: 0/3 nodes are \
             available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn requested_node_name_must_match() {
        let nodes = [node("a"), node("b")];
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"nodeName": "elsewhere"}));
        assert!(message(schedule(&p, &infos, &no_pvcs)).starts_with(
            "0/2 nodes are available: 2 node(s) didn't match the requested node name."
        ));
        assert_eq!(
            schedule(&pod(json!({"nodeName": "b"})), &infos, &no_pvcs),
            Decision::Bind("b".into())
        );
    }

    #[test]
    fn cpu_memory_and_pod_count_reasons_all_count() {
        let nodes = [node("full"), node("busy")];
        let infos = vec![
            NodeInfo {
                pod_count: 110,
                ..info(&nodes[0])
            },
            NodeInfo {
                requested_cpu_millis: 3900,
                requested_memory_bytes: 8 * GI,
                ..info(&nodes[1])
            },
        ];
        let p = pod(json!({"containers": [{"name": "app",
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}));
        assert_eq!(
            message(schedule(&p, &infos, &no_pvcs)),
            "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many \
             pods. preemption: 0/2 nodes are available: 2 No preemption victims found for \
             incoming pod."
        );
    }

    #[test]
    fn histogram_sorts_as_strings_not_numbers() {
        let reasons = (0..12).map(|i| if i < 10 { "B" } else { "A" });
        assert_eq!(
            fit_error(12, reasons),
            "0/12 nodes are available: 10 B, 2 A."
        );
    }

    #[test]
    fn missing_allocatable_counts_as_zero() {
        let bare = json!({"metadata": {"name": "bare"}});
        let d = schedule(&pod(json!({})), &[info(&bare)], &no_pvcs);
        assert_eq!(
            message(d),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many \
             pods. preemption: 0/1 nodes are available: 1 Preemption is not helpful for \
             scheduling."
        );
    }

    #[test]
    fn a_pod_without_requests_fits_a_full_node() {
        let nodes = [node("n")];
        let infos = vec![NodeInfo {
            requested_cpu_millis: 4000,
            requested_memory_bytes: 8 * GI,
            ..info(&nodes[0])
        }];
        let p = pod(json!({"containers": [{"name": "app"}]}));
        assert_eq!(schedule(&p, &infos, &no_pvcs), Decision::Bind("n".into()));
    }

    #[test]
    fn missing_claim_is_a_prefilter_error() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(
            json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}),
        );
        assert_eq!(
            message(schedule(&p, &infos, &no_pvcs)),
            "0/3 nodes are available: persistentvolumeclaim \"data\" not found. preemption: \
             0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn unbound_claim_blocks_and_bound_claim_passes() {
        let nodes = three_nodes();
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(
            json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}),
        );
        let pending =
            |_: &str| Some(json!({"metadata": {"name": "data"}, "status": {"phase": "Pending"}}));
        assert_eq!(
            message(schedule(&p, &infos, &pending)),
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        let bound =
            |_: &str| Some(json!({"metadata": {"name": "data"}, "status": {"phase": "Bound"}}));
        assert_eq!(
            schedule(&p, &infos, &bound),
            Decision::Bind("node-a".into())
        );
    }

    #[test]
    fn lost_deleted_and_ephemeral_claims() {
        let nodes = [node("n")];
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(
            json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}),
        );
        let lost =
            |_: &str| Some(json!({"spec": {"volumeName": "pv-1"}, "status": {"phase": "Lost"}}));
        assert!(message(schedule(&p, &infos, &lost)).starts_with(
            "0/1 nodes are available: persistentvolumeclaim \"data\" bound to non-existent \
             persistentvolume \"pv-1\"."
        ));
        let deleting = |_: &str| {
            Some(
                json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Bound"}}),
            )
        };
        assert!(message(schedule(&p, &infos, &deleting)).starts_with(
            "0/1 nodes are available: persistentvolumeclaim \"data\" is being deleted."
        ));
        let eph = pod(
            json!({"volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}]}),
        );
        assert!(message(schedule(&eph, &infos, &no_pvcs)).starts_with(
            "0/1 nodes are available: waiting for ephemeral volume controller to create the \
             persistentvolumeclaim \"web-1-scratch\"."
        ));
    }

    #[test]
    fn missing_plain_claim_is_reported_before_ephemeral_one() {
        let nodes = [node("n")];
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let p = pod(json!({"volumes": [
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}));
        assert!(
            message(schedule(&p, &infos, &no_pvcs))
                .starts_with("0/1 nodes are available: persistentvolumeclaim \"data\" not found.")
        );
    }

    #[test]
    fn preemption_policy_never_is_reported() {
        let nodes = [node("n")];
        let infos: Vec<NodeInfo> = nodes.iter().map(info).collect();
        let mut p = with_memory("64Gi");
        p["spec"]["preemptionPolicy"] = json!("Never");
        assert_eq!(
            message(schedule(&p, &infos, &no_pvcs)),
            "0/1 nodes are available: 1 Insufficient memory. preemption: not eligible due to \
             preemptionPolicy=Never."
        );
    }

    #[test]
    fn dynamic_resources_profile_adds_its_note_after_filtering() {
        let nodes = [node("n")];
        let infos = vec![NodeInfo {
            requested_cpu_millis: 4000,
            ..info(&nodes[0])
        }];
        let on = Profile {
            dynamic_resources: true,
        };
        assert_eq!(
            message(schedule_with(&pod(json!({})), &infos, &no_pvcs, on)),
            "0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, \
             preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        let p =
            pod(json!({"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "d"}}]}));
        assert!(!message(schedule_with(&p, &infos, &no_pvcs, on)).contains("claims to deallocate"));
    }

    #[test]
    fn pod_requests_sum_app_containers() {
        let p = pod(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}}},
            {"name": "c"}]}));
        assert_eq!(pod_requests(&p), (750, 64 * 1024 * 1024 + GI));
    }

    #[test]
    fn pod_requests_take_the_largest_init_container() {
        let p = pod(json!({
            "initContainers": [
                {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}],
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}));
        assert_eq!(pod_requests(&p), (2000, GI));
    }

    #[test]
    fn pod_requests_count_sidecars_and_overhead() {
        let p = pod(json!({
            "initContainers": [
                {"name": "proxy", "restartPolicy": "Always",
                 "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                {"name": "setup", "resources": {"requests": {"cpu": "1", "memory": "10Mi"}}}],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "200m", "memory": "200Mi"}}}],
            "overhead": {"cpu": "50m", "memory": "8Mi"}}));
        // app + sidecar = 300m; setup runs beside the sidecar: 1100m wins.
        // memory: 300Mi beats 110Mi; overhead is added on top.
        assert_eq!(pod_requests(&p), (1150, 308 * 1024 * 1024));
    }

    #[test]
    fn pod_requests_fall_back_to_limits_and_pod_level_resources() {
        let p = pod(json!({"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}}]}));
        assert_eq!(pod_requests(&p), (1000, 512 * 1024 * 1024));
        let p = pod(json!({"resources": {"requests": {"cpu": "3"}},
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}));
        assert_eq!(pod_requests(&p), (3000, GI));
    }

    #[test]
    fn overcommitted_node_scores_zero_but_stays_feasible_when_it_fits() {
        let nodes = [node("a"), node("b")];
        let infos = vec![
            NodeInfo {
                requested_cpu_millis: 3950,
                ..info(&nodes[0])
            },
            NodeInfo {
                requested_cpu_millis: 3900,
                ..info(&nodes[1])
            },
        ];
        let p = pod(json!({"containers": [{"name": "app",
            "resources": {"requests": {"cpu": "50m", "memory": "1Mi"}}}]}));
        assert_eq!(schedule(&p, &infos, &no_pvcs), Decision::Bind("b".into()));
    }
}
