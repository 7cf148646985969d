//! The scheduler: binds pending pods to nodes with the filters in
//! `scheduler_rules`, or marks them `PodScheduled=False/Unschedulable` with a
//! FailedScheduling event, and retries when the cluster changes.

use crate::controller::{Key, Next, Reconciler};
use crate::error::ApiError;
use crate::events::{EventType, Source};
use crate::resources::{ResourceId, Subresource, ids};
use crate::scheduler_rules::{self, Decision, NodeInfo};
use crate::store::Change;
use crate::{Sim, meta};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Scheduler name pods ask for by default.
pub const NAME: &str = "default-scheduler";

/// The scheduler.
pub struct Scheduler;

fn opts() -> crate::cluster::WriteOptions {
    crate::cluster::WriteOptions::manager("kube-scheduler")
}

fn unscheduled(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && !meta::is_deleting(pod)
        && pod
            .pointer("/spec/schedulerName")
            .and_then(Value::as_str)
            .is_none_or(|s| s == NAME)
}

impl Reconciler for Scheduler {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource(&self) -> ResourceId {
        ids::pods()
    }

    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key> {
        let res = change.resource;
        if res == ids::pods() {
            let bound = change
                .object
                .select
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            if !bound {
                return vec![(
                    change.namespace.clone(),
                    meta::name(&change.object.select).to_string(),
                )];
            }
            // A pod leaving a node frees room: pending pods get another chance.
            if change.kind != crate::store::ChangeType::Deleted {
                return Vec::new();
            }
        } else if res != ids::nodes() && res != ids::pvcs() {
            return Vec::new();
        }
        let data = sim.cluster.store.read();
        data.iter(ids::pods(), None, None)
            .filter(|(_, s)| {
                s.select
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let (ns, name) = key;
        let pod = sim.cluster.get(ids::pods(), ns, name)?;
        if !unscheduled(&pod) {
            return Ok(Next::Done);
        }
        let (nodes, usage) = {
            let data = sim.cluster.store.read();
            let nodes: Vec<std::sync::Arc<Value>> = data
                .iter(ids::nodes(), None, None)
                .map(|(_, s)| s.value())
                .collect();
            let mut usage: HashMap<String, (i64, i64, i64)> = HashMap::new();
            for (_, s) in data.iter(ids::pods(), None, None) {
                let Some(node) = s
                    .select
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                else {
                    continue;
                };
                if matches!(
                    s.select.pointer("/status/phase").and_then(Value::as_str),
                    Some("Succeeded" | "Failed")
                ) {
                    continue;
                }
                let (cpu, mem) = scheduler_rules::pod_requests(&s.value());
                let u = usage.entry(node.to_string()).or_default();
                u.0 += cpu;
                u.1 += mem;
                u.2 += 1;
            }
            (nodes, usage)
        };
        let infos: Vec<NodeInfo> = nodes
            .iter()
            .map(|n| {
                let u = usage.get(meta::name(n)).copied().unwrap_or_default();
                NodeInfo {
                    node: n,
                    requested_cpu_millis: u.0,
                    requested_memory_bytes: u.1,
                    pod_count: u.2,
                }
            })
            .collect();
        let pvc = |claim: &str| {
            sim.cluster
                .get(ids::pvcs(), ns, claim)
                .ok()
                .map(|p| (*p).clone())
        };
        match scheduler_rules::schedule(&pod, &infos, &pvc) {
            Decision::Bind(node) => {
                let mut bound = (*pod).clone();
                bound["spec"]["nodeName"] = json!(node);
                let bound = sim
                    .cluster
                    .update(ids::pods(), ns, name, None, bound, &opts())?;
                let mut with_status = (*bound).clone();
                crate::controller::set_condition(
                    &mut with_status["status"],
                    "PodScheduled",
                    "True",
                    "",
                    "",
                    false,
                );
                strip_empty_reason(&mut with_status["status"]);
                sim.cluster.update(
                    ids::pods(),
                    ns,
                    name,
                    Some(Subresource::Status),
                    with_status,
                    &opts(),
                )?;
                sim.recorder.record(
                    &sim.cluster,
                    &bound,
                    None,
                    EventType::Normal,
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                    &Source::component(NAME),
                );
                Ok(Next::Done)
            }
            Decision::Unschedulable { message } => {
                let mut with_status = (*pod).clone();
                crate::controller::set_condition(
                    &mut with_status["status"],
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    &message,
                    false,
                );
                if with_status != *pod {
                    sim.cluster.update(
                        ids::pods(),
                        ns,
                        name,
                        Some(Subresource::Status),
                        with_status,
                        &opts(),
                    )?;
                }
                sim.recorder.record(
                    &sim.cluster,
                    &pod,
                    None,
                    EventType::Warning,
                    "FailedScheduling",
                    &message,
                    &Source::component(NAME),
                );
                Ok(Next::After(Duration::from_secs(60)))
            }
        }
    }
}

/// The scheduler's PodScheduled=True condition carries no reason or message.
fn strip_empty_reason(status: &mut Value) {
    if let Some(list) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in list.iter_mut().filter(|c| c["type"] == "PodScheduled") {
            if let Some(m) = c.as_object_mut() {
                m.retain(|k, v| !(matches!(k.as_str(), "reason" | "message") && v == &json!("")));
            }
        }
    }
}
