//! The Deployment controller: one ReplicaSet per template (named with its
//! pod-template-hash and numbered by `deployment.kubernetes.io/revision`),
//! rolling updates within maxSurge/maxUnavailable or Recreate, history kept
//! per revisionHistoryLimit, and status with Available/Progressing conditions.

use crate::controller::{self, Key, Next, Reconciler};
use crate::error::ApiError;
use crate::events::{EventType, Source};
use crate::resources::{ResourceId, Subresource, ids};
use crate::selector::LabelSelector;
use crate::store::Change;
use crate::{Sim, meta};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Event source of this controller.
pub const NAME: &str = "deployment-controller";
const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// The Deployment controller.
pub struct DeploymentController;

fn opts() -> crate::cluster::WriteOptions {
    crate::cluster::WriteOptions::manager("kube-controller-manager")
}

/// The hash the controller puts in `pod-template-hash`, from the template's JSON.
pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    t
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn replicas(rs: &Value) -> i64 {
    rs.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn status_count(rs: &Value, field: &str) -> i64 {
    rs.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Resolves an int-or-percent against `total`, rounding up or down.
fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let v = v.cloned().unwrap_or(json!(default));
    match &v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let exact = pct * total as f64 / 100.0;
            if round_up {
                exact.ceil() as i64
            } else {
                exact.floor() as i64
            }
        }
        _ => 0,
    }
}

impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resource(&self) -> ResourceId {
        ids::deployments()
    }

    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key> {
        if change.resource == ids::deployments() {
            return vec![(
                change.namespace.clone(),
                change.object.select.name.to_string(),
            )];
        }
        if change.resource != ids::replicasets() {
            return Vec::new();
        }
        let owners: Vec<&String> = change.object.owners.iter().collect();
        let data = sim.cluster.store.read();
        data.iter(ids::deployments(), Some(&change.namespace), None)
            .filter(|(_, d)| owners.is_empty() || owners.iter().any(|o| **o == *d.select.uid))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let (ns, name) = key;
        let d = sim.cluster.get(ids::deployments(), ns, name)?;
        if meta::is_deleting(&d) {
            return Ok(Next::Done);
        }
        let selector = d
            .pointer("/spec/selector")
            .map(LabelSelector::from_api)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .unwrap_or_else(LabelSelector::everything);
        let mut sets = claim_replicasets(sim, &d, &selector)?;
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let desired = d
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0);
        let rolling = d.pointer("/spec/strategy/type").and_then(Value::as_str) != Some("Recreate");
        let surge = if rolling {
            int_or_percent(
                d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                desired,
                true,
                "25%",
            )
        } else {
            0
        };
        let mut unavailable = if rolling {
            int_or_percent(
                d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                desired,
                false,
                "25%",
            )
        } else {
            desired
        };
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        let max_revision = sets.iter().map(|rs| revision(rs)).max().unwrap_or(0);
        let mut new_index = sets.iter().position(|rs| {
            rs.pointer("/spec/template").map(without_hash).as_ref() == Some(&template)
        });
        let mut created_new = None;
        if new_index.is_none() && !paused {
            let old_total: i64 = sets.iter().map(|rs| replicas(rs)).sum();
            let initial = if !rolling {
                if sets
                    .iter()
                    .any(|rs| status_count(rs, "replicas") > 0 || replicas(rs) > 0)
                {
                    0
                } else {
                    desired
                }
            } else if old_total == 0 {
                desired
            } else {
                (desired + surge - old_total).clamp(0, desired)
            };
            let rs = create_replicaset(sim, &d, &template, initial, max_revision + 1, surge)?;
            created_new = Some(meta::name(&rs).to_string());
            sets.push(rs);
            new_index = Some(sets.len() - 1);
        }
        // A template that comes back (rollout undo) becomes the newest revision again.
        if let Some(i) = new_index
            && revision(&sets[i]) < max_revision
        {
            let mut rs = (*sets[i]).clone();
            set_annotation(&mut rs, REVISION, &(max_revision + 1).to_string());
            sets[i] = sim.cluster.update(
                ids::replicasets(),
                ns,
                meta::name(&rs),
                None,
                rs.clone(),
                &opts(),
            )?;
        }
        if !paused && let Some(i) = new_index {
            if rolling {
                rolling_update(sim, &d, &mut sets, i, desired, surge, unavailable)?;
            } else {
                recreate(sim, &d, &mut sets, i, desired)?;
            }
        }
        cleanup_history(sim, &d, &sets, new_index)?;
        let new_rs = new_index.map(|i| sets[i].clone());
        if let Some(rs) = &new_rs {
            let rev = rs
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                .cloned();
            if d.pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                != rev.as_ref()
            {
                let mut updated = (*d).clone();
                set_annotation(
                    &mut updated,
                    REVISION,
                    rev.as_ref().and_then(Value::as_str).unwrap_or("1"),
                );
                sim.cluster
                    .update(ids::deployments(), ns, name, None, updated, &opts())?;
                return Ok(Next::After(Duration::ZERO));
            }
        }
        update_status(
            sim,
            &d,
            &sets,
            new_rs.as_deref(),
            desired,
            unavailable,
            created_new.as_deref(),
        )
    }
}

fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    let md = meta::metadata_mut(obj);
    let ann = md.entry("annotations").or_insert_with(|| json!({}));
    if let Some(a) = ann.as_object_mut() {
        a.insert(key.to_string(), json!(value));
    }
}

fn claim_replicasets(
    sim: &Sim,
    d: &Value,
    selector: &LabelSelector,
) -> Result<Vec<Arc<Value>>, ApiError> {
    let ns = meta::namespace(d);
    let uid = meta::uid(d);
    let (owned, orphans): (Vec<Arc<Value>>, Vec<Arc<Value>>) = {
        let data = sim.cluster.store.read();
        let owned = data
            .dependents(uid)
            .into_iter()
            .filter(|(res, _, _)| *res == ids::replicasets())
            .filter_map(|(_, ns, name)| data.get(ids::replicasets(), &ns, &name))
            .filter(|rs| controller::controlled_by(rs, uid) && !meta::is_deleting(rs))
            .collect();
        let orphans = data
            .iter(ids::replicasets(), Some(ns), None)
            .filter(|(_, s)| s.owners.is_empty() && selector.matches(s.labels()))
            .map(|(_, s)| s.value())
            .collect();
        (owned, orphans)
    };
    let mut out = owned;
    if selector.is_empty() {
        return Ok(out);
    }
    for rs in orphans {
        let mut adopted = (*rs).clone();
        let md = meta::metadata_mut(&mut adopted);
        let refs = md.entry("ownerReferences").or_insert_with(|| json!([]));
        if let Some(refs) = refs.as_array_mut() {
            refs.push(controller::owner_ref(d));
        }
        match sim.cluster.update(
            ids::replicasets(),
            ns,
            meta::name(&rs),
            None,
            adopted,
            &opts(),
        ) {
            Ok(r) => out.push(r),
            Err(e) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn create_replicaset(
    sim: &Sim,
    d: &Value,
    template: &Value,
    replicas: i64,
    revision: i64,
    surge: i64,
) -> Result<Arc<Value>, ApiError> {
    let ns = meta::namespace(d);
    let hash = template_hash(template);
    let mut tpl = template.clone();
    {
        let md = tpl
            .as_object_mut()
            .map(|m| m.entry("metadata").or_insert_with(|| json!({})));
        if let Some(Value::Object(md)) = md {
            let labels = md.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(HASH_LABEL.into(), json!(hash));
            }
        }
    }
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut labels = tpl
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels[HASH_LABEL] = json!(hash);
    let mut annotations = json!({
        "deployment.kubernetes.io/desired-replicas": desired.to_string(),
        "deployment.kubernetes.io/max-replicas": (desired + surge).to_string(),
        REVISION: revision.to_string(),
    });
    if let Some(cause) = d
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("kubernetes.io/change-cause"))
    {
        annotations["kubernetes.io/change-cause"] = cause.clone();
    }
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", meta::name(d)),
            "namespace": ns,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [controller::owner_ref(d)],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": tpl},
    });
    let created = sim.cluster.create(ids::replicasets(), ns, rs, &opts())?;
    if replicas > 0 {
        scaled_event(sim, d, &created, 0, replicas);
    }
    Ok(created)
}

fn scaled_event(sim: &Sim, d: &Value, rs: &Value, from: i64, to: i64) {
    let verb = if to > from { "up" } else { "down" };
    sim.recorder.record(
        &sim.cluster,
        d,
        None,
        EventType::Normal,
        "ScalingReplicaSet",
        &format!(
            "Scaled {verb} replica set {} to {to} from {from}",
            meta::name(rs)
        ),
        &Source::component(NAME),
    );
}

fn scale(sim: &Sim, d: &Value, rs: &mut Arc<Value>, to: i64) -> Result<(), ApiError> {
    let from = replicas(rs);
    if from == to {
        return Ok(());
    }
    let mut updated = (**rs).clone();
    updated["spec"]["replicas"] = json!(to);
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    set_annotation(
        &mut updated,
        "deployment.kubernetes.io/desired-replicas",
        &desired.to_string(),
    );
    *rs = sim.cluster.update(
        ids::replicasets(),
        meta::namespace(rs),
        meta::name(rs),
        None,
        updated,
        &opts(),
    )?;
    scaled_event(sim, d, rs, from, to);
    Ok(())
}

fn rolling_update(
    sim: &Sim,
    d: &Value,
    sets: &mut [Arc<Value>],
    new: usize,
    desired: i64,
    surge: i64,
    unavailable: i64,
) -> Result<(), ApiError> {
    // Scale the new ReplicaSet up within maxSurge (or down to the desired count).
    let all: i64 = sets.iter().map(|rs| replicas(rs)).sum();
    let new_replicas = replicas(&sets[new]);
    if new_replicas > desired {
        scale(sim, d, &mut sets[new], desired)?;
    } else if new_replicas < desired {
        let room = desired + surge - all;
        let up = room.min(desired - new_replicas);
        if up > 0 {
            scale(sim, d, &mut sets[new], new_replicas + up)?;
        }
    }
    // Scale old ReplicaSets down while keeping desired - maxUnavailable available.
    let all: i64 = sets.iter().map(|rs| replicas(rs)).sum();
    let min_available = desired - unavailable;
    let new_unavailable = replicas(&sets[new]) - status_count(&sets[new], "availableReplicas");
    let mut budget = all - min_available - new_unavailable;
    let mut order: Vec<usize> = (0..sets.len())
        .filter(|&i| i != new && replicas(&sets[i]) > 0)
        .collect();
    order.sort_by_key(|&i| revision(&sets[i]));
    // First the old pods that are not available anyway.
    for &i in &order {
        if budget <= 0 {
            break;
        }
        let r = replicas(&sets[i]);
        let unhealthy = (r - status_count(&sets[i], "availableReplicas")).max(0);
        let cut = unhealthy.min(budget);
        if cut > 0 {
            scale(sim, d, &mut sets[i], r - cut)?;
            budget -= cut;
        }
    }
    let available: i64 = sets
        .iter()
        .map(|rs| status_count(rs, "availableReplicas"))
        .sum();
    let mut can_cut = (available - min_available).max(0);
    for &i in &order {
        if can_cut <= 0 {
            break;
        }
        let r = replicas(&sets[i]);
        let cut = r.min(can_cut);
        if cut > 0 {
            scale(sim, d, &mut sets[i], r - cut)?;
            can_cut -= cut;
        }
    }
    Ok(())
}

fn recreate(
    sim: &Sim,
    d: &Value,
    sets: &mut [Arc<Value>],
    new: usize,
    desired: i64,
) -> Result<(), ApiError> {
    let mut old_running = false;
    for (i, rs) in sets.iter_mut().enumerate() {
        if i == new {
            continue;
        }
        if replicas(rs) > 0 {
            scale(sim, d, rs, 0)?;
        }
        if status_count(rs, "replicas") > 0 {
            old_running = true;
        }
    }
    if !old_running {
        scale(sim, d, &mut sets[new], desired)?;
    }
    Ok(())
}

fn cleanup_history(
    sim: &Sim,
    d: &Value,
    sets: &[Arc<Value>],
    new: Option<usize>,
) -> Result<(), ApiError> {
    let limit = d
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10)
        .max(0) as usize;
    let mut idle: Vec<&Arc<Value>> = sets
        .iter()
        .enumerate()
        .filter(|(i, rs)| Some(*i) != new && replicas(rs) == 0 && status_count(rs, "replicas") == 0)
        .map(|(_, rs)| rs)
        .collect();
    if idle.len() <= limit {
        return Ok(());
    }
    idle.sort_by_key(|rs| revision(rs));
    let excess = idle.len() - limit;
    for rs in idle.into_iter().take(excess) {
        match sim.cluster.delete(
            ids::replicasets(),
            meta::namespace(rs),
            meta::name(rs),
            &Default::default(),
        ) {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn update_status(
    sim: &Sim,
    d: &Value,
    sets: &[Arc<Value>],
    new_rs: Option<&Value>,
    desired: i64,
    max_unavailable: i64,
    created_new: Option<&str>,
) -> Result<Next, ApiError> {
    let total: i64 = sets.iter().map(|rs| status_count(rs, "replicas")).sum();
    let ready: i64 = sets
        .iter()
        .map(|rs| status_count(rs, "readyReplicas"))
        .sum();
    let available: i64 = sets
        .iter()
        .map(|rs| status_count(rs, "availableReplicas"))
        .sum();
    let updated = new_rs.map_or(0, |rs| status_count(rs, "replicas"));
    let old = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut status = old.clone();
    status["observedGeneration"] = d
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    for (k, v) in [
        ("replicas", total),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        (
            "unavailableReplicas",
            (desired.max(total) - available).max(0),
        ),
    ] {
        if v == 0 {
            if let Some(m) = status.as_object_mut() {
                m.remove(k);
            }
        } else {
            status[k] = json!(v);
        }
    }
    let min_available = desired - max_unavailable;
    if available >= min_available {
        controller::set_condition(
            &mut status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            true,
        );
    } else {
        controller::set_condition(
            &mut status,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            true,
        );
    }
    let rs_name = new_rs.map(meta::name).unwrap_or("");
    let complete = new_rs.is_some()
        && updated == desired
        && total == desired
        && available == desired
        && new_rs.is_some_and(|rs| replicas(rs) == desired);
    let progressed = [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ]
    .iter()
    .any(|k| old.get(*k) != status.get(*k));
    let deadline = d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(600);
    let mut next = Next::Done;
    if let Some(name) = created_new {
        controller::set_condition(
            &mut status,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set {name:?}"),
            true,
        );
    } else if complete {
        controller::set_condition(
            &mut status,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet {rs_name:?} has successfully progressed."),
            true,
        );
    } else if progressed || !has_condition(&old, "Progressing") {
        controller::set_condition(
            &mut status,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet {rs_name:?} is progressing."),
            true,
        );
        next = Next::After(Duration::from_secs(deadline.max(1) as u64));
    } else if condition_reason(&old, "Progressing") != Some("ProgressDeadlineExceeded") {
        let since =
            last_update_seconds(&old, "Progressing").unwrap_or(0.0) * sim.options.time_scale;
        if since >= deadline as f64 {
            controller::set_condition(
                &mut status,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet {rs_name:?} has timed out progressing."),
                true,
            );
        } else {
            next = Next::After(Duration::from_secs_f64((deadline as f64 - since).max(0.5)));
        }
    }
    if status != old {
        let mut updated_d = d.clone();
        updated_d["status"] = status;
        sim.cluster.update(
            ids::deployments(),
            meta::namespace(d),
            meta::name(d),
            Some(Subresource::Status),
            updated_d,
            &opts(),
        )?;
    }
    Ok(next)
}

fn has_condition(status: &Value, t: &str) -> bool {
    condition_reason(status, t).is_some()
}

fn condition_reason<'a>(status: &'a Value, t: &str) -> Option<&'a str> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == t)
        .and_then(|c| c.get("reason").and_then(Value::as_str))
}

fn last_update_seconds(status: &Value, t: &str) -> Option<f64> {
    let ts = status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == t)?
        .get("lastUpdateTime")?
        .as_str()?
        .parse::<jiff::Timestamp>()
        .ok()?;
    Some(crate::meta::clock_now().duration_since(ts).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_is_stable_and_safe() {
        let t = json!({"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api:1"}]}});
        let h = template_hash(&t);
        assert_eq!(h, template_hash(&t));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_ne!(h, template_hash(&json!({"spec": {}})));
    }

    #[test]
    fn percentages_round_like_the_controller() {
        assert_eq!(int_or_percent(Some(&json!("25%")), 10, true, "25%"), 3);
        assert_eq!(int_or_percent(Some(&json!("25%")), 10, false, "25%"), 2);
        assert_eq!(int_or_percent(Some(&json!(2)), 10, false, "25%"), 2);
        assert_eq!(int_or_percent(None, 4, true, "25%"), 1);
    }
}
