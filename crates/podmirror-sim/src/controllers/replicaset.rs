//! The ReplicaSet controller: keeps `spec.replicas` pods alive from the
//! template, adopts matching orphans, releases pods whose labels no longer
//! match, and reports replicas, ready and available counts.

use crate::controller::{self, Key, Next, Reconciler};
use crate::error::ApiError;
use crate::events::{EventType, Source};
use crate::resources::{ResourceId, Subresource, ids};
use crate::selector::LabelSelector;
use crate::store::{Change, Stored};
use crate::{Sim, meta};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Field manager and event source of this controller.
pub const NAME: &str = "replicaset-controller";

/// The ReplicaSet controller.
#[derive(Default)]
pub struct ReplicaSetController {
    /// Per ReplicaSet ("namespace/name"), the views of its pods by the stored version they
    /// were read from: a pass re-reads only pods that changed since the last.
    views: Mutex<HashMap<String, ViewCache>>,
}

/// Pod views by pod uid, with the resourceVersion they were read at.
type ViewCache = HashMap<Box<str>, (u64, Arc<PodView>)>;

fn opts() -> crate::cluster::WriteOptions {
    crate::cluster::WriteOptions::manager("kube-controller-manager")
}

impl Reconciler for ReplicaSetController {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource(&self) -> ResourceId {
        ids::replicasets()
    }

    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key> {
        if let Some(key) = controller::own_key(ids::replicasets(), change) {
            return vec![key];
        }
        if change.resource != ids::pods() {
            return Vec::new();
        }
        // A pod change concerns its owner, or — for orphans — any ReplicaSet that selects it.
        let owners = controller::pod_owners(change);
        let data = sim.cluster.store.read();
        let mut keys = Vec::new();
        for (key, rs) in data.iter(ids::replicasets(), Some(&change.namespace), None) {
            let owns = owners.iter().any(|o| **o == *rs.select.uid);
            if owns || (change.object.owners.is_empty() && selects(rs, &change.object)) {
                keys.push(key.clone());
            }
        }
        keys
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let (ns, name) = key;
        let rs = match sim.cluster.get(ids::replicasets(), ns, name) {
            Ok(rs) => rs,
            Err(e) => {
                self.views
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&format!("{ns}/{name}"));
                return Err(e);
            }
        };
        if meta::is_deleting(&rs) {
            self.views
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&format!("{ns}/{name}"));
            return Ok(Next::Done);
        }
        let selector = rs
            .pointer("/spec/selector")
            .map(LabelSelector::from_api)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .unwrap_or_else(LabelSelector::everything);
        // As the real controller does, status is computed from the pods seen before acting;
        // the creates and deletes below bring their own changes and another pass.
        let pods = claim_pods(sim, &rs, &selector, &self.views)?;
        let active: Vec<&Arc<PodView>> = pods.iter().filter(|p| p.active()).collect();
        let want = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        if active.len() < want {
            for _ in active.len()..want {
                create_pod(sim, &rs)?;
            }
        } else if active.len() > want {
            let mut victims = active.clone();
            victims.sort_by(|a, b| a.deletion_rank().cmp(&b.deletion_rank()));
            for p in victims.into_iter().take(active.len() - want) {
                let deleted = sim.cluster.delete(
                    ids::pods(),
                    ns,
                    &p.metadata.name,
                    &crate::cluster::DeleteOptions {
                        precondition_uid: Some(p.metadata.uid.clone()),
                        ..Default::default()
                    },
                );
                match deleted {
                    Ok(d) => {
                        if !d.removed {
                            sim.schedule_pod_removal(&d.object);
                        }
                        sim.recorder.record(
                            &sim.cluster,
                            &rs,
                            None,
                            EventType::Normal,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", p.metadata.name),
                            &Source::component(NAME),
                        );
                    }
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let ready = active.iter().filter(|p| p.ready()).count();
        let template = rs
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object);
        let labeled = active
            .iter()
            .filter(|p| {
                template.is_none_or(|t| t.iter().all(|(k, v)| p.metadata.labels.get(k) == Some(v)))
            })
            .count();
        let mut status = rs.get("status").cloned().unwrap_or_else(|| json!({}));
        status["replicas"] = json!(active.len());
        status["fullyLabeledReplicas"] = json!(labeled);
        status["readyReplicas"] = json!(ready);
        status["availableReplicas"] = json!(ready);
        status["observedGeneration"] = rs
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| {
                !(matches!(
                    k.as_str(),
                    "readyReplicas" | "availableReplicas" | "fullyLabeledReplicas"
                ) && v == &json!(0))
            });
        }
        if rs.get("status") != Some(&status) {
            let mut updated = (*rs).clone();
            updated["status"] = status;
            sim.cluster.update(
                ids::replicasets(),
                ns,
                name,
                Some(Subresource::Status),
                updated,
                &opts(),
            )?;
        }
        Ok(Next::Done)
    }
}

fn selects(rs: &Stored, pod: &Stored) -> bool {
    // The selector is not in the pruned copy; parse the ReplicaSet (orphans are rare).
    let rs = rs.value();
    rs.pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_api(s).ok())
        .is_some_and(|s| !s.is_empty() && s.matches(pod.labels()))
}

/// The pods this ReplicaSet controls after adopting matching orphans and releasing non-matching pods.
fn claim_pods(
    sim: &Sim,
    rs: &Value,
    selector: &LabelSelector,
    views: &Mutex<HashMap<String, ViewCache>>,
) -> Result<Vec<Arc<PodView>>, ApiError> {
    let ns = meta::namespace(rs);
    let uid = meta::uid(rs);
    let (owned, orphans): (Vec<Arc<PodView>>, Vec<Arc<Value>>) = {
        let data = sim.cluster.store.read();
        let mut cache = views.lock().unwrap_or_else(|e| e.into_inner());
        let cache_key = format!("{ns}/{}", meta::name(rs));
        let seen = cache.remove(&cache_key).unwrap_or_default();
        let mut fresh = ViewCache::new();
        let owned: Vec<Arc<PodView>> = data
            .dependents(uid)
            .into_iter()
            .filter(|(res, _, _)| *res == ids::pods())
            .filter_map(|(_, ns, name)| data.get_stored(ids::pods(), &ns, &name))
            .map(|s| {
                let view = match seen.get(&s.select.uid) {
                    Some((rv, v)) if *rv == s.rv && s.rv != 0 => v.clone(),
                    _ => Arc::new(PodView::of(s)),
                };
                fresh.insert(s.select.uid.clone(), (s.rv, view.clone()));
                view
            })
            .filter(|p| p.controlled_by(uid))
            .collect();
        if !meta::is_deleting(rs) {
            cache.insert(cache_key, fresh);
        }
        let orphans = data
            .iter(ids::pods(), Some(ns), None)
            .filter(|(_, s)| s.owners.is_empty() && selector.matches(s.labels()))
            .map(|(_, s)| s.value())
            .filter(|p| !meta::is_deleting(p) && controller::controller_of(p).is_none())
            .collect();
        (owned, orphans)
    };
    let mut out = Vec::new();
    for view in owned {
        if selector.matches(Some(&view.metadata.labels)) {
            out.push(view);
            continue;
        }
        // Release: drop our controller reference.
        let Ok(pod) = sim.cluster.get(ids::pods(), ns, &view.metadata.name) else {
            continue;
        };
        let mut released = (*pod).clone();
        if let Some(refs) = released
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
        }
        sim.cluster
            .update(ids::pods(), ns, meta::name(&pod), None, released, &opts())?;
    }
    if meta::is_deleting(rs) || selector.is_empty() {
        return Ok(out);
    }
    for pod in orphans {
        let mut adopted = (*pod).clone();
        let md = meta::metadata_mut(&mut adopted);
        let refs = md.entry("ownerReferences").or_insert_with(|| json!([]));
        if let Some(refs) = refs.as_array_mut() {
            refs.push(controller::owner_ref(rs));
        }
        match sim
            .cluster
            .update(ids::pods(), ns, meta::name(&pod), None, adopted, &opts())
        {
            Ok(p) => out.push(Arc::new(PodView::parse(&p))),
            Err(e) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn create_pod(sim: &Sim, rs: &Value) -> Result<(), ApiError> {
    let ns = meta::namespace(rs);
    let pod = crate::workloads::pod_from(rs, None, &[]);
    match sim.cluster.create(ids::pods(), ns, pod, &opts()) {
        Ok(created) => {
            sim.recorder.record(
                &sim.cluster,
                rs,
                None,
                EventType::Normal,
                "SuccessfulCreate",
                &format!("Created pod: {}", meta::name(&created)),
                &Source::component(NAME),
            );
            Ok(())
        }
        Err(e) => {
            sim.recorder.record(
                &sim.cluster,
                rs,
                None,
                EventType::Warning,
                "FailedCreate",
                &format!("Error creating: {}", e.message),
                &Source::component(NAME),
            );
            Err(e)
        }
    }
}

/// The parts of a pod this controller reads, deserialized from the stored
/// JSON without building the whole object (it looks at every owned pod on
/// every pass).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PodView {
    metadata: ViewMeta,
    spec: ViewSpec,
    status: ViewStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ViewMeta {
    name: String,
    uid: String,
    labels: Map<String, Value>,
    creation_timestamp: Option<String>,
    deletion_timestamp: Option<String>,
    owner_references: Vec<ViewOwner>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ViewOwner {
    uid: String,
    controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ViewSpec {
    node_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ViewStatus {
    phase: Option<String>,
    conditions: Vec<ViewCondition>,
    container_statuses: Vec<ViewContainer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ViewCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ViewContainer {
    restart_count: i64,
}

impl PodView {
    fn of(stored: &Stored) -> PodView {
        // Stored bytes come from serializing a Value; a pod that does not fit the
        // view's types (it always does) counts as an empty one.
        serde_json::from_slice(&stored.json).unwrap_or_default()
    }

    fn parse(pod: &Value) -> PodView {
        PodView::deserialize(pod).unwrap_or_default()
    }

    fn controlled_by(&self, uid: &str) -> bool {
        self.metadata
            .owner_references
            .iter()
            .find(|r| r.controller == Some(true))
            .is_some_and(|r| r.uid == uid)
    }

    /// Counts toward the ReplicaSet: not finished, not being deleted.
    fn active(&self) -> bool {
        self.metadata.deletion_timestamp.is_none()
            && !matches!(self.status.phase.as_deref(), Some("Succeeded" | "Failed"))
    }

    fn ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.kind == "Ready" && c.status == "True")
    }

    /// Sort key for scale-down: the first pods are deleted first, as the real controller ranks them.
    fn deletion_rank(
        &self,
    ) -> (
        bool,
        u8,
        bool,
        std::cmp::Reverse<i64>,
        std::cmp::Reverse<&str>,
    ) {
        let scheduled = self
            .spec
            .node_name
            .as_deref()
            .is_some_and(|n| !n.is_empty());
        let phase = match self.status.phase.as_deref() {
            Some("Unknown") => 1,
            Some("Running") => 2,
            _ => 0,
        };
        let restarts = self
            .status
            .container_statuses
            .iter()
            .map(|c| c.restart_count)
            .sum();
        (
            scheduled,
            phase,
            self.ready(),
            std::cmp::Reverse(restarts),
            std::cmp::Reverse(self.metadata.creation_timestamp.as_deref().unwrap_or("")),
        )
    }
}
