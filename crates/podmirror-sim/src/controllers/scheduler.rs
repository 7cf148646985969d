//! The scheduler: binds pending pods to nodes with the filters in
//! `scheduler_rules`, or marks them `PodScheduled=False/Unschedulable` with a
//! FailedScheduling event, and retries when the cluster changes.

use crate::controller::{Key, Next, Reconciler};
use crate::error::ApiError;
use crate::events::{EventType, Source};
use crate::resources::{ResourceId, Subresource, ids};
use crate::scheduler_rules::{self, Decision, NodeInfo};
use crate::store::{Change, Stored};
use crate::{Sim, meta};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Scheduler name pods ask for by default.
pub const NAME: &str = "default-scheduler";

/// The scheduler.
#[derive(Default)]
pub struct Scheduler {
    usage: Mutex<Usage>,
    /// Nodes as last parsed, keyed by the stored version they came from
    /// (kept alive here, so a key cannot be reused by a newer version).
    nodes: Mutex<Vec<(Arc<Stored>, Arc<Value>)>>,
}

/// What bound, unfinished pods request of each node, kept up to date from changes.
#[derive(Default)]
struct Usage {
    primed: bool,
    pods: HashMap<String, (String, i64, i64)>,
    nodes: HashMap<String, (i64, i64, i64)>,
}

impl Usage {
    fn add(&mut self, uid: &str, node: &str, cpu: i64, mem: i64) {
        if self.pods.contains_key(uid) {
            return;
        }
        self.pods
            .insert(uid.to_string(), (node.to_string(), cpu, mem));
        let n = self.nodes.entry(node.to_string()).or_default();
        n.0 += cpu;
        n.1 += mem;
        n.2 += 1;
    }

    fn remove(&mut self, uid: &str) {
        if let Some((node, cpu, mem)) = self.pods.remove(uid)
            && let Some(n) = self.nodes.get_mut(&node)
        {
            n.0 -= cpu;
            n.1 -= mem;
            n.2 -= 1;
        }
    }

    /// Accounts for one stored pod as it is now.
    fn observe(&mut self, pod: &crate::store::Stored, deleted: bool) {
        let uid = &*pod.select.uid;
        let node = pod.select.field("spec.nodeName");
        let finished = matches!(pod.select.field("status.phase"), "Succeeded" | "Failed");
        if deleted || finished || node.is_empty() {
            self.remove(uid);
        } else if !self.pods.contains_key(uid) {
            let (cpu, mem) = scheduler_rules::pod_requests(&pod.value());
            self.add(uid, node, cpu, mem);
        }
    }
}

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

impl Scheduler {
    /// Every node, parsed; only versions not seen before are parsed again.
    fn parsed_nodes(&self, sim: &Sim) -> Vec<Arc<Value>> {
        let data = sim.cluster.store.read();
        let mut cache = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let fresh: Vec<(Arc<Stored>, Arc<Value>)> = data
            .iter(ids::nodes(), None, None)
            .map(|(_, s)| {
                let parsed = cache
                    .iter()
                    .find(|(seen, _)| Arc::ptr_eq(seen, s))
                    .map_or_else(|| s.value(), |(_, v)| v.clone());
                (s.clone(), parsed)
            })
            .collect();
        *cache = fresh;
        cache.iter().map(|(_, v)| v.clone()).collect()
    }
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
            {
                let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
                if usage.primed {
                    usage.observe(
                        &change.object,
                        change.kind == crate::store::ChangeType::Deleted,
                    );
                }
            }
            let bound = !change.object.select.field("spec.nodeName").is_empty();
            if !bound {
                return vec![(
                    change.namespace.clone(),
                    change.object.select.name.to_string(),
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
            .filter(|(_, s)| s.select.field("spec.nodeName").is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let (ns, name) = key;
        {
            // Most pod changes are to bound pods: skip them without parsing.
            let data = sim.cluster.store.read();
            if let Some(s) = data.get_stored(ids::pods(), ns, name)
                && (s.select.deleting || !s.select.field("spec.nodeName").is_empty())
            {
                return Ok(Next::Done);
            }
        }
        let pod = sim.cluster.get(ids::pods(), ns, name)?;
        if !unscheduled(&pod) {
            return Ok(Next::Done);
        }
        let nodes = self.parsed_nodes(sim);
        let mut usage_guard = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if !usage_guard.primed {
            let data = sim.cluster.store.read();
            for (_, s) in data.iter(ids::pods(), None, None) {
                usage_guard.observe(s, false);
            }
            usage_guard.primed = true;
        }
        let usage = usage_guard.nodes.clone();
        drop(usage_guard);
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
                let bound = sim
                    .cluster
                    .bind_pod(ns, name, meta::uid(&pod), &node, &opts())?;
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
                crate::controller::set_pod_condition(
                    &mut with_status["status"],
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    &message,
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
