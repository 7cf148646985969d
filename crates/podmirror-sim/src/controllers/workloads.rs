//! The StatefulSet, DaemonSet and Job controllers, to the depth podmirror
//! needs: their pods carry the names, labels, owner references and
//! scheduling the real controllers give them, and their status counts them.
//! Not simulated: rolling a changed template out to existing pods
//! (StatefulSet, DaemonSet), ControllerRevision objects, indexed Jobs, pod
//! failure policies and the Job's back-off between retries.

use crate::controller::{self, Key, Next, Reconciler};
use crate::error::ApiError;
use crate::events::{EventType, Source};
use crate::resources::{ResourceId, ids};
use crate::store::{Change, Stored};
use crate::{Sim, meta};
use serde_json::{Value, json};
use std::sync::Arc;

fn opts() -> crate::cluster::WriteOptions {
    crate::cluster::WriteOptions::manager("kube-controller-manager")
}

/// Keys of `res` objects a change concerns: the object itself, or the owner
/// of a pod that changed.
fn owner_keys(sim: &Sim, res: ResourceId, change: &Change) -> Vec<Key> {
    if let Some(key) = controller::own_key(res, change) {
        return vec![key];
    }
    let owners = controller::pod_owners(change);
    if owners.is_empty() {
        return Vec::new();
    }
    let data = sim.cluster.store.read();
    data.iter(res, Some(&change.namespace), None)
        .filter(|(_, o)| owners.iter().any(|u| **u == *o.select.uid))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The pods `owner` controls, parsed.
fn owned_pods(sim: &Sim, owner: &Value) -> Vec<Arc<Value>> {
    let uid = meta::uid(owner);
    let data = sim.cluster.store.read();
    let stored: Vec<Arc<Stored>> = data
        .iter(ids::pods(), Some(meta::namespace(owner)), None)
        .filter(|(_, s)| s.owners.iter().any(|o| o == uid))
        .map(|(_, s)| s.clone())
        .collect();
    drop(data);
    stored
        .iter()
        .map(|s| s.value())
        .filter(|p| controller::controlled_by(p, uid))
        .collect()
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
}

fn ready(pod: &Value) -> bool {
    controller::pod_ready(pod)
}

/// A pod from `owner`'s template, owned by it, named `name` (or generated),
/// with `labels` added to the template's. (The ReplicaSet controller uses it
/// too.)
pub(crate) fn pod_from(owner: &Value, name: Option<&str>, labels: &[(&str, String)]) -> Value {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut md = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    match name {
        Some(n) => md["name"] = json!(n),
        None => {
            md["generateName"] = json!(format!("{}-", meta::name(owner)));
            if let Some(m) = md.as_object_mut() {
                m.remove("name");
            }
        }
    }
    md["ownerReferences"] = json!([controller::owner_ref(owner)]);
    if !md["labels"].is_object() {
        md["labels"] = json!({});
    }
    for (k, v) in labels {
        md["labels"][*k] = json!(v);
    }
    if let Some(m) = md.as_object_mut() {
        m.remove("creationTimestamp");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

fn event(sim: &Sim, owner: &Value, warning: bool, reason: &str, message: &str, who: &str) {
    let kind = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    sim.recorder.record(
        &sim.cluster,
        owner,
        None,
        kind,
        reason,
        message,
        &Source::component(who),
    );
}

/// Creates a pod for `owner`, with the events the real controllers record.
fn create(sim: &Sim, owner: &Value, pod: Value, who: &str) -> Result<Value, ApiError> {
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    let owner_name = meta::name(owner);
    match sim
        .cluster
        .create(ids::pods(), meta::namespace(owner), pod, &opts())
    {
        Ok(created) => {
            let pod_name = meta::name(&created);
            let message = if kind == "StatefulSet" {
                format!("create Pod {pod_name} in StatefulSet {owner_name} successful")
            } else {
                format!("Created pod: {pod_name}")
            };
            event(sim, owner, false, "SuccessfulCreate", &message, who);
            Ok((*created).clone())
        }
        Err(e) => {
            let message = if kind == "StatefulSet" {
                format!(
                    "create Pod in StatefulSet {owner_name} failed error: {}",
                    e.message
                )
            } else {
                format!("Error creating: {}", e.message)
            };
            event(sim, owner, true, "FailedCreate", &message, who);
            Err(e)
        }
    }
}

fn delete(sim: &Sim, owner: &Value, pod: &Value, who: &str) -> Result<(), ApiError> {
    let deleted = sim.cluster.delete(
        ids::pods(),
        meta::namespace(pod),
        meta::name(pod),
        &crate::cluster::DeleteOptions {
            precondition_uid: Some(meta::uid(pod).to_string()),
            ..Default::default()
        },
    );
    match deleted {
        Ok(d) => {
            if !d.removed {
                sim.schedule_pod_removal(&d.object);
            }
            let message = if owner["kind"] == "StatefulSet" {
                format!(
                    "delete Pod {} in StatefulSet {} successful",
                    meta::name(pod),
                    meta::name(owner)
                )
            } else {
                format!("Deleted pod: {}", meta::name(pod))
            };
            event(sim, owner, false, "SuccessfulDelete", &message, who);
            Ok(())
        }
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `status` through the status subresource when it changed.
fn write_status(
    sim: &Sim,
    res: ResourceId,
    owner: &Arc<Value>,
    status: Value,
) -> Result<(), ApiError> {
    let status = match status {
        Value::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            Value::Object(m)
        }
        other => other,
    };
    if owner.get("status") == Some(&status) {
        return Ok(());
    }
    sim.cluster
        .update_status_of(res, owner, status, &opts())
        .map(|_| ())
}

fn count(n: usize) -> Value {
    if n == 0 { Value::Null } else { json!(n) }
}

/// The StatefulSet controller: pods `<name>-0` … `<name>-(N-1)`, created in
/// order and each only once the one before is Running and Ready
/// (`OrderedReady`; all at once with `Parallel`), removed from the highest.
pub struct StatefulSetController;

/// Field manager and event source of the StatefulSet controller.
pub const STATEFULSET: &str = "statefulset-controller";

impl Reconciler for StatefulSetController {
    fn name(&self) -> &'static str {
        STATEFULSET
    }

    fn resource(&self) -> ResourceId {
        ids::statefulsets()
    }

    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key> {
        owner_keys(sim, ids::statefulsets(), change)
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let sts = sim.cluster.get(ids::statefulsets(), &key.0, &key.1)?;
        if meta::is_deleting(&sts) {
            return Ok(Next::Done);
        }
        let name = meta::name(&sts);
        let want = sts
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let ordered = sts
            .pointer("/spec/podManagementPolicy")
            .and_then(Value::as_str)
            != Some("Parallel");
        let revision = format!(
            "{name}-{}",
            crate::deployment::template_hash(sts.pointer("/spec/template").unwrap_or(&Value::Null))
        );
        let pods = owned_pods(sim, &sts);
        let ordinal = |p: &Value| {
            meta::name(p)
                .strip_prefix(&format!("{name}-"))
                .and_then(|o| o.parse::<usize>().ok())
        };
        let at = |i: usize| pods.iter().find(|p| ordinal(p) == Some(i));
        // Scale up, in order.
        for i in 0..want {
            match at(i) {
                Some(p) if ordered && !(phase(p) == "Running" && ready(p)) => break,
                Some(_) => {}
                None => {
                    let pod_name = format!("{name}-{i}");
                    let mut pod = pod_from(
                        &sts,
                        Some(&pod_name),
                        &[
                            ("controller-revision-hash", revision.clone()),
                            ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                            ("apps.kubernetes.io/pod-index", i.to_string()),
                        ],
                    );
                    pod["spec"]["hostname"] = json!(pod_name);
                    if let Some(svc) = sts.pointer("/spec/serviceName").and_then(Value::as_str)
                        && !svc.is_empty()
                    {
                        pod["spec"]["subdomain"] = json!(svc);
                    }
                    match create(sim, &sts, pod, STATEFULSET) {
                        Ok(_) => {}
                        Err(e) if e.code == 409 => {}
                        Err(e) => return Err(e),
                    }
                    if ordered {
                        break;
                    }
                }
            }
        }
        // Scale down, from the highest ordinal.
        let mut extra: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| ordinal(p).is_none_or(|o| o >= want) && !meta::is_deleting(p))
            .collect();
        extra.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
        for p in extra.into_iter().take(if ordered { 1 } else { usize::MAX }) {
            delete(sim, &sts, p, STATEFULSET)?;
        }
        let live: Vec<&Arc<Value>> = pods.iter().filter(|p| !meta::is_deleting(p)).collect();
        let ready_n = live.iter().filter(|p| ready(p)).count();
        let current = live
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/controller-revision-hash") == Some(&json!(revision))
            })
            .count();
        write_status(
            sim,
            ids::statefulsets(),
            &sts,
            json!({
                "observedGeneration": sts.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
                "replicas": live.len(),
                "readyReplicas": count(ready_n),
                "currentReplicas": count(current),
                "updatedReplicas": count(current),
                "availableReplicas": ready_n,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            }),
        )?;
        Ok(Next::Done)
    }
}

/// The DaemonSet controller: one pod per eligible node (its nodeSelector
/// and taints), pinned there by required node affinity on `metadata.name`,
/// with the tolerations the real controller adds.
pub struct DaemonSetController;

/// Field manager and event source of the DaemonSet controller.
pub const DAEMONSET: &str = "daemonset-controller";

/// Tolerations every DaemonSet pod gets, as the real controller adds them.
fn daemon_tolerations() -> Vec<Value> {
    let mut out = Vec::new();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        out.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute"}));
    }
    for key in [
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
    ] {
        out.push(json!({"key": key, "operator": "Exists", "effect": "NoSchedule"}));
    }
    out
}

impl Reconciler for DaemonSetController {
    fn name(&self) -> &'static str {
        DAEMONSET
    }

    fn resource(&self) -> ResourceId {
        ids::daemonsets()
    }

    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key> {
        if change.resource == ids::nodes() {
            let data = sim.cluster.store.read();
            return data
                .iter(ids::daemonsets(), None, None)
                .map(|(k, _)| k.clone())
                .collect();
        }
        owner_keys(sim, ids::daemonsets(), change)
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let ds = sim.cluster.get(ids::daemonsets(), &key.0, &key.1)?;
        if meta::is_deleting(&ds) {
            return Ok(Next::Done);
        }
        let template_spec = ds
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut tolerations: Vec<Value> = template_spec["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for t in daemon_tolerations() {
            if !tolerations.contains(&t) {
                tolerations.push(t);
            }
        }
        let tolerations = Value::Array(tolerations);
        let selector = template_spec["nodeSelector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let nodes: Vec<Arc<Value>> = {
            let data = sim.cluster.store.read();
            let stored: Vec<Arc<Stored>> = data
                .iter(ids::nodes(), None, None)
                .map(|(_, s)| s.clone())
                .collect();
            drop(data);
            stored.iter().map(|s| s.value()).collect()
        };
        let eligible: Vec<String> = nodes
            .iter()
            .filter(|n| {
                selector
                    .iter()
                    .all(|(k, v)| n.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
                    && n.pointer("/spec/taints")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|t| t["effect"] != "PreferNoSchedule")
                        .all(|t| crate::scheduler_rules::tolerates(&tolerations, t))
            })
            .map(|n| meta::name(n).to_string())
            .collect();
        let generation = ds
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let revision =
            crate::deployment::template_hash(ds.pointer("/spec/template").unwrap_or(&Value::Null));
        let pods = owned_pods(sim, &ds);
        let target = |p: &Value| -> Option<String> {
            p.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
                .and_then(Value::as_str)
                .or_else(|| p.pointer("/spec/nodeName").and_then(Value::as_str))
                .map(str::to_string)
        };
        for node in &eligible {
            if pods.iter().any(|p| target(p).as_deref() == Some(node)) {
                continue;
            }
            let mut pod = pod_from(
                &ds,
                None,
                &[
                    ("controller-revision-hash", revision.clone()),
                    ("pod-template-generation", generation.to_string()),
                ],
            );
            pod["spec"]["tolerations"] = tolerations.clone();
            pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
                "nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node]}
                ]}]
            });
            create(sim, &ds, pod, DAEMONSET)?;
        }
        for p in pods.iter().filter(|p| !meta::is_deleting(p)) {
            if target(p).is_none_or(|n| !eligible.contains(&n)) {
                delete(sim, &ds, p, DAEMONSET)?;
            }
        }
        let live: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| !meta::is_deleting(p) && target(p).is_some_and(|n| eligible.contains(&n)))
            .collect();
        let ready_n = live.iter().filter(|p| ready(p)).count();
        write_status(
            sim,
            ids::daemonsets(),
            &ds,
            json!({
                "observedGeneration": generation,
                "desiredNumberScheduled": eligible.len(),
                "currentNumberScheduled": live.len(),
                "numberMisscheduled": 0,
                "numberReady": ready_n,
                "numberAvailable": count(ready_n),
                "numberUnavailable": count(eligible.len().saturating_sub(ready_n)),
                "updatedNumberScheduled": count(live.len()),
            }),
        )?;
        Ok(Next::Done)
    }
}

/// The Job controller: runs pods until `completions` succeeded (at most
/// `parallelism` at once), or more than `backoffLimit` failed.
pub struct JobController;

/// Field manager and event source of the Job controller.
pub const JOB: &str = "job-controller";

impl Reconciler for JobController {
    fn name(&self) -> &'static str {
        JOB
    }

    fn resource(&self) -> ResourceId {
        ids::jobs()
    }

    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key> {
        owner_keys(sim, ids::jobs(), change)
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let job = sim.cluster.get(ids::jobs(), &key.0, &key.1)?;
        if meta::is_deleting(&job) {
            return Ok(Next::Done);
        }
        let spec_n = |k: &str, d: i64| {
            job.pointer(&format!("/spec/{k}"))
                .and_then(Value::as_i64)
                .unwrap_or(d)
                .max(0) as usize
        };
        let (parallelism, backoff) = (spec_n("parallelism", 1), spec_n("backoffLimit", 6));
        // No completions: a work queue, done when a pod succeeded and none runs.
        let completions = job
            .pointer("/spec/completions")
            .and_then(Value::as_i64)
            .map(|c| c.max(0) as usize);
        let conditions: Vec<Value> = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let finished = conditions.iter().any(|c| {
            matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True"
        });
        let pods = owned_pods(sim, &job);
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count();
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count();
        let active: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| !matches!(phase(p), "Succeeded" | "Failed") && !meta::is_deleting(p))
            .collect();
        let now = meta::now_rfc3339();
        let mut status = job.get("status").cloned().unwrap_or_else(|| json!({}));
        if status.get("startTime").is_none() {
            status["startTime"] = json!(now);
        }
        let condition = |kind: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": "True", "reason": reason, "message": message,
                   "lastProbeTime": now, "lastTransitionTime": now})
        };
        let mut active_n = active.len();
        if !finished && job.pointer("/spec/suspend").and_then(Value::as_bool) != Some(true) {
            if failed > backoff {
                for p in &active {
                    delete(sim, &job, p, JOB)?;
                }
                active_n = 0;
                let message = "Job has reached the specified backoff limit";
                status["conditions"] = json!([
                    condition("FailureTarget", "BackoffLimitExceeded", message),
                    condition("Failed", "BackoffLimitExceeded", message),
                ]);
                event(sim, &job, true, "BackoffLimitExceeded", message, JOB);
            } else if completions.map_or(succeeded > 0 && active.is_empty(), |c| succeeded >= c) {
                let message = "Reached expected number of succeeded pods";
                status["conditions"] = json!([
                    condition("SuccessCriteriaMet", "CompletionsReached", message),
                    condition("Complete", "CompletionsReached", message),
                ]);
                status["completionTime"] = json!(now);
                event(sim, &job, false, "Completed", "Job completed", JOB);
            } else {
                let want = match completions {
                    Some(c) => parallelism.min(c - succeeded),
                    // A work queue stops starting pods once one succeeded.
                    None if succeeded > 0 => 0,
                    None => parallelism,
                };
                for _ in active.len()..want {
                    create(sim, &job, pod_from(&job, None, &[]), JOB)?;
                    active_n += 1;
                }
            }
        }
        status["active"] = count(active_n);
        status["succeeded"] = count(succeeded);
        status["failed"] = count(failed);
        status["ready"] = json!(active.iter().filter(|p| ready(p)).count());
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        write_status(sim, ids::jobs(), &job, status)?;
        Ok(Next::Done)
    }
}
