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
use serde_json::{Value, json};
use std::sync::Arc;

/// Field manager and event source of this controller.
pub const NAME: &str = "replicaset-controller";

/// The ReplicaSet controller.
pub struct ReplicaSetController;

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
        if change.resource == ids::replicasets() {
            return vec![(
                change.namespace.clone(),
                meta::name(&change.object.select).to_string(),
            )];
        }
        if change.resource != ids::pods() {
            return Vec::new();
        }
        // A pod change concerns its owner, or — for orphans — any ReplicaSet that selects it.
        let owners: Vec<&String> = change
            .object
            .owners
            .iter()
            .chain(change.previous.iter().flat_map(|p| p.owners.iter()))
            .collect();
        let data = sim.cluster.store.read();
        let mut keys = Vec::new();
        for (key, rs) in data.iter(ids::replicasets(), Some(&change.namespace), None) {
            let uid = rs.select.pointer("/metadata/uid").and_then(Value::as_str);
            let owns = uid.is_some_and(|u| owners.iter().any(|o| o.as_str() == u));
            if owns || (change.object.owners.is_empty() && selects(rs, &change.object)) {
                keys.push(key.clone());
            }
        }
        keys
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let (ns, name) = key;
        let rs = sim.cluster.get(ids::replicasets(), ns, name)?;
        if meta::is_deleting(&rs) {
            return Ok(Next::Done);
        }
        let selector = rs
            .pointer("/spec/selector")
            .map(LabelSelector::from_api)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .unwrap_or_else(LabelSelector::everything);
        let pods = claim_pods(sim, &rs, &selector)?;
        let active: Vec<&Arc<Value>> = pods.iter().filter(|p| controller::pod_active(p)).collect();
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
            victims.sort_by_key(|p| deletion_rank(p));
            for p in victims.into_iter().take(active.len() - want) {
                let deleted = sim.cluster.delete(
                    ids::pods(),
                    ns,
                    meta::name(p),
                    &crate::cluster::DeleteOptions {
                        precondition_uid: Some(meta::uid(p).to_string()),
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
                            &format!("Deleted pod: {}", meta::name(p)),
                            &Source::component(NAME),
                        );
                    }
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // Status from the pods as they are now.
        let pods = claim_pods(sim, &rs, &selector)?;
        let active: Vec<&Arc<Value>> = pods.iter().filter(|p| controller::pod_active(p)).collect();
        let ready = active.iter().filter(|p| controller::pod_ready(p)).count();
        let labeled = active
            .iter()
            .filter(|p| {
                let template = rs
                    .pointer("/spec/template/metadata/labels")
                    .and_then(Value::as_object);
                template.is_none_or(|t| {
                    t.iter()
                        .all(|(k, v)| meta::labels(p).and_then(|l| l.get(k)) == Some(v))
                })
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
) -> Result<Vec<Arc<Value>>, ApiError> {
    let ns = meta::namespace(rs);
    let uid = meta::uid(rs);
    let (owned, orphans): (Vec<Arc<Value>>, Vec<Arc<Value>>) = {
        let data = sim.cluster.store.read();
        let owned = data
            .dependents(uid)
            .into_iter()
            .filter(|(res, _, _)| *res == ids::pods())
            .filter_map(|(_, ns, name)| data.get(ids::pods(), &ns, &name))
            .filter(|p| controller::controlled_by(p, uid))
            .collect();
        let orphans = data
            .iter(ids::pods(), Some(ns), None)
            .filter(|(_, s)| s.owners.is_empty() && selector.matches(s.labels()))
            .map(|(_, s)| s.value())
            .filter(|p| !meta::is_deleting(p) && controller::controller_of(p).is_none())
            .collect();
        (owned, orphans)
    };
    let mut out = Vec::new();
    for pod in owned {
        if selector.matches(meta::labels(&pod)) {
            out.push(pod);
            continue;
        }
        // Release: drop our controller reference.
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
            Ok(p) => out.push(p),
            Err(e) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn create_pod(sim: &Sim, rs: &Value) -> Result<(), ApiError> {
    let ns = meta::namespace(rs);
    let template = rs
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut md = template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    md["generateName"] = json!(format!("{}-", meta::name(rs)));
    md["ownerReferences"] = json!([controller::owner_ref(rs)]);
    if let Some(m) = md.as_object_mut() {
        m.remove("name");
        m.remove("creationTimestamp");
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
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

/// Sort key for scale-down: the first pods are deleted first, as the real controller ranks them.
fn deletion_rank(
    pod: &Value,
) -> (
    bool,
    u8,
    bool,
    std::cmp::Reverse<i64>,
    std::cmp::Reverse<String>,
) {
    let scheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let phase = match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Pending") => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    };
    let restarts: i64 = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
        .sum();
    let created = pod
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    (
        scheduled,
        phase,
        controller::pod_ready(pod),
        std::cmp::Reverse(restarts),
        std::cmp::Reverse(created),
    )
}
