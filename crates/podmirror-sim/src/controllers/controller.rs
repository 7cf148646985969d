//! The loop every simulated controller runs: watch committed changes, queue
//! the keys they touch, reconcile each key, requeue on conflicts or timers,
//! and resync everything now and then.

use crate::Sim;
use crate::error::ApiError;
use crate::meta;
use crate::resources::ResourceId;
use crate::store::Change;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// (namespace, name) of an object a controller reconciles.
pub type Key = (String, String);

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until something changes.
    Done,
    /// Look again after this much (simulated) time.
    After(Duration),
}

/// A deduplicating work queue.
#[derive(Default)]
pub struct Queue {
    keys: Mutex<BTreeSet<Key>>,
    notify: Notify,
    /// Keys with a timer pending, and when it fires: one timer per key at most.
    delayed: Mutex<std::collections::HashMap<Key, tokio::time::Instant>>,
}

impl Queue {
    /// Adds a key.
    pub fn push(&self, key: Key) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        self.notify.notify_one();
    }

    /// Adds a key after `delay`, unless a timer for it already fires sooner.
    pub fn push_after(self: &Arc<Self>, key: Key, delay: Duration) {
        let at = tokio::time::Instant::now() + delay;
        {
            let mut delayed = self.delayed.lock().unwrap_or_else(|e| e.into_inner());
            match delayed.get(&key) {
                Some(pending) if *pending <= at => return,
                _ => {
                    delayed.insert(key.clone(), at);
                }
            }
        }
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let due = {
                let mut delayed = queue.delayed.lock().unwrap_or_else(|e| e.into_inner());
                // A sooner timer for the same key replaced this one: it did the push.
                if delayed.get(&key) == Some(&at) {
                    delayed.remove(&key);
                    true
                } else {
                    false
                }
            };
            if due {
                queue.push(key);
            }
        });
    }

    fn drain(&self) -> Vec<Key> {
        std::mem::take(&mut *self.keys.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect()
    }
}

/// A controller: which resource it owns, which changes concern it, how it reconciles.
pub trait Reconciler: Send + Sync + 'static {
    /// Name used in logs and as the field manager.
    fn name(&self) -> &'static str;
    /// The resource whose objects are the keys.
    fn resource(&self) -> ResourceId;
    /// Keys a committed change affects.
    fn keys_for(&self, sim: &Sim, change: &Change) -> Vec<Key>;
    /// Brings one object's world in line with its spec.
    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError>;
}

/// Runs a controller until the sim is dropped.
pub fn spawn<R: Reconciler>(sim: &Sim, r: R) -> tokio::task::JoinHandle<()> {
    let weak = sim.downgrade();
    let r = Arc::new(r);
    let queue = Arc::new(Queue::default());
    let mut rx = sim.cluster.store.subscribe();
    resync(sim, r.as_ref(), &queue);
    let resync_every = sim.scaled(Duration::from_secs(30));
    // Changes feed the queue.
    {
        let (weak, r, queue) = (weak.clone(), r.clone(), queue.clone());
        tokio::spawn(async move {
            loop {
                let msg = rx.recv().await;
                let Some(sim) = weak.upgrade() else { return };
                match msg {
                    Ok(change) => {
                        for k in r.keys_for(&sim, &change) {
                            queue.push(k);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => resync(&sim, r.as_ref(), &queue),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    // Periodic resync, as informers do.
    {
        let (weak, r, queue) = (weak.clone(), r.clone(), queue.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(resync_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(sim) = weak.upgrade() else { return };
                resync(&sim, r.as_ref(), &queue);
            }
        });
    }
    tokio::spawn(async move {
        loop {
            queue.notify.notified().await;
            // Let a burst of changes coalesce.
            tokio::task::yield_now().await;
            let Some(sim) = weak.upgrade() else { return };
            for key in queue.drain() {
                let next = r.reconcile(&sim, &key);
                let delay = match next {
                    Ok(Next::Done) => None,
                    Ok(Next::After(d)) => Some(sim.scaled(d)),
                    Err(e) if e.code == 409 => Some(Duration::from_millis(5)),
                    Err(e) if e.code == 404 => None,
                    Err(e) => {
                        tracing::debug!(controller = r.name(), ?key, error = %e, "reconcile failed");
                        Some(sim.scaled(Duration::from_secs(1)))
                    }
                };
                if let Some(d) = delay {
                    queue.push_after(key, d);
                }
            }
        }
    })
}

fn resync<R: Reconciler>(sim: &Sim, r: &R, queue: &Queue) {
    let keys: Vec<Key> = sim
        .cluster
        .store
        .read()
        .iter(r.resource(), None, None)
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        queue.push(k);
    }
}

/// The key of the changed object when it is of resource `res`.
pub fn own_key(res: ResourceId, change: &Change) -> Option<Key> {
    (change.resource == res).then(|| {
        (
            change.namespace.clone(),
            change.object.select.name.to_string(),
        )
    })
}

/// The owner uids of a changed pod, before and after the change (empty for
/// anything else).
pub fn pod_owners(change: &Change) -> Vec<&String> {
    if change.resource != crate::resources::ids::pods() {
        return Vec::new();
    }
    change
        .object
        .owners
        .iter()
        .chain(change.previous.iter().flat_map(|p| p.owners.iter()))
        .collect()
}

/// The ownerReference with `controller: true`, if any.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// Whether `obj` is controlled by the object with `uid`.
pub fn controlled_by(obj: &Value, uid: &str) -> bool {
    controller_of(obj)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        == Some(uid)
}

/// A controller ownerReference pointing at `owner`.
pub fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": owner.get("kind").cloned().unwrap_or(Value::Null),
        "name": meta::name(owner),
        "uid": meta::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether the pod counts toward a ReplicaSet (not finished, not being deleted).
pub fn pod_active(pod: &Value) -> bool {
    !meta::is_deleting(pod)
        && !matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

/// Whether the pod's Ready condition is True.
pub fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Sets or updates a condition in `status.conditions`, keeping lastTransitionTime when the status is unchanged.
pub fn set_condition(
    status: &mut Value,
    cond_type: &str,
    value: &str,
    reason: &str,
    message: &str,
    with_update_time: bool,
) {
    let now = meta::now_rfc3339();
    if !status.is_object() {
        *status = json!({});
    }
    let list = status
        .as_object_mut()
        .map(|m| m.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(list)) = list else {
        return;
    };
    let existing = list.iter_mut().find(|c| c["type"] == cond_type);
    let mut cond = json!({"type": cond_type, "status": value});
    if with_update_time {
        cond["lastUpdateTime"] = json!(now);
    }
    cond["lastTransitionTime"] = json!(now);
    cond["reason"] = json!(reason);
    cond["message"] = json!(message);
    match existing {
        Some(c) => {
            if c["status"] == value {
                cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
                if c["reason"] == reason && c["message"] == message && with_update_time {
                    cond["lastUpdateTime"] = c["lastUpdateTime"].clone();
                }
            }
            *c = cond;
        }
        None => list.push(cond),
    }
}

/// Sets a pod condition as the kubelet and scheduler write them: `lastProbeTime: null`,
/// no reason or message when empty, `lastTransitionTime` kept while the status holds.
pub fn set_pod_condition(status: &mut Value, t: &str, value: &str, reason: &str, message: &str) {
    let now = meta::now_rfc3339();
    let list = status
        .as_object_mut()
        .map(|m| m.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(list)) = list else {
        return;
    };
    let mut cond =
        json!({"type": t, "status": value, "lastProbeTime": null, "lastTransitionTime": now});
    if !reason.is_empty() {
        cond["reason"] = json!(reason);
    }
    if !message.is_empty() {
        cond["message"] = json!(message);
    }
    match list.iter_mut().find(|c| c["type"] == t) {
        Some(c) => {
            if c["status"] == value {
                cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
            *c = cond;
        }
        None => list.push(cond),
    }
}
