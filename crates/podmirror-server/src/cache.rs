//! Live cluster state from a watch, not polling: a small summary of every
//! pod (what the failing-pod list and the diagnosis watcher read), and each
//! mirror as pruned JSON (no managedFields, no annotations but podmirror's, a
//! spec cut to what the status reads) with its [`MirrorInfo`] read once per
//! change rather than per request; and a counter that moves on every change
//! so streams wake up.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use podmirror_core::mirror::MirrorInfo;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type Key = (String, String);

/// What the server keeps of every pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// status.phase.
    pub phase: String,
    /// The first reason Kubernetes gives for it not being healthy.
    pub reason: String,
    /// Every distinct reason, in the order of [`reasons`].
    pub reasons: Vec<String>,
    /// Container restarts.
    pub restarts: i64,
    /// When a container's previous run ended (its last restart).
    pub last_restart_at: Option<String>,
    /// Containers ready now.
    pub ready: i64,
    /// Containers, not counting init containers but counting native
    /// sidecars (init containers with `restartPolicy: Always`), as
    /// kubectl's READY column does.
    pub containers: i64,
    /// metadata.creationTimestamp.
    pub created_at: Option<String>,
    /// Its controller, `Kind/name`.
    pub owner: Option<String>,
    /// Running and ready, or done.
    pub healthy: bool,
    /// Being deleted.
    pub deleting: bool,
    /// A podmirror mirror.
    pub mirror: bool,
}

/// A mirror as the cache keeps it.
#[derive(Debug, Clone)]
pub struct MirrorEntry {
    /// The pod, pruned.
    pub pod: Arc<Value>,
    /// Read as a mirror.
    pub info: MirrorInfo,
}

type Entry = (Arc<PodSummary>, Option<Arc<MirrorEntry>>);

#[derive(Default)]
struct Pods {
    all: HashMap<Key, Arc<PodSummary>>,
    mirrors: HashMap<Key, Arc<MirrorEntry>>,
    /// The relist in progress after a watch restart.
    relist: Option<HashMap<Key, Entry>>,
}

impl Pods {
    fn insert(&mut self, key: Key, (summary, mirror): Entry) {
        match mirror {
            Some(m) => {
                self.mirrors.insert(key.clone(), m);
            }
            None => {
                self.mirrors.remove(&key);
            }
        }
        self.all.insert(key, summary);
    }

    fn remove(&mut self, key: &Key) {
        self.all.remove(key);
        self.mirrors.remove(key);
    }
}

/// Whether a pod carries the mirror label.
pub fn is_mirror(p: &Value) -> bool {
    p.pointer("/metadata/labels/podmirror.dev~1mirror")
        .and_then(Value::as_str)
        == Some("true")
}

/// The pod cache.
#[derive(Clone)]
pub struct PodCache {
    pods: Arc<RwLock<Pods>>,
    ready: Arc<AtomicBool>,
    changes: watch::Receiver<u64>,
}

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn statuses(p: &Value) -> impl Iterator<Item = &Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .flat_map(|list| {
            p.pointer(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
}

/// The pod's native sidecars: init containers with `restartPolicy: Always`.
fn sidecars(pod: &Value) -> impl Iterator<Item = &Value> {
    pod.pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["restartPolicy"] == "Always")
}

/// The statuses of the pod's native sidecars.
fn sidecar_statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    let names: Vec<&Value> = sidecars(pod).map(|c| &c["name"]).collect();
    pod.pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |s| names.contains(&&s["name"]))
}

/// The reasons Kubernetes gives for a pod not being healthy, each once:
/// what its unready containers wait on or ended with (the current state
/// before the last run, so `CrashLoopBackOff` comes before `OOMKilled`),
/// then an unschedulable condition, then the pod's own reason;
/// `NotReady` when none is given.
pub fn reasons(p: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !r.is_empty() && !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    };
    for c in statuses(p) {
        if c["ready"] == true {
            continue;
        }
        for state in [
            "/state/waiting/reason",
            "/state/terminated/reason",
            "/lastState/terminated/reason",
        ] {
            add(text(c, state));
        }
    }
    for c in p
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "PodScheduled" && c["status"] == "False")
    {
        add(text(c, "/reason"));
    }
    add(text(p, "/status/reason"));
    if out.is_empty() {
        out.push("NotReady".into());
    }
    out
}

/// When the latest previous run of any container ended.
fn last_restart_at(p: &Value) -> Option<String> {
    statuses(p)
        .filter(|c| c["restartCount"].as_i64().unwrap_or(0) > 0)
        .filter_map(|c| {
            c.pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
        })
        .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
        .max()
        .map(|t| t.to_string())
}

/// The summary of a pod, and the mirror entry when it is one.
fn entry(pod: &Pod) -> Option<(Key, Entry)> {
    let (key, v) = prune(pod)?;
    let reasons = reasons(&v);
    let main = || {
        v.pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    let summary = PodSummary {
        namespace: key.0.clone(),
        name: key.1.clone(),
        uid: text(&v, "/metadata/uid").to_string(),
        phase: text(&v, "/status/phase").to_string(),
        reason: reasons[0].clone(),
        reasons,
        restarts: podmirror_core::verdict::restarts(&v),
        last_restart_at: last_restart_at(&v),
        ready: main()
            .chain(sidecar_statuses(&v))
            .filter(|c| c["ready"] == true)
            .count() as i64,
        containers: v
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map_or(0, |c| c.len() as i64)
            + sidecars(&v).count() as i64,
        created_at: v
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .map(str::to_string),
        owner: v
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|o| o.iter().find(|r| r["controller"] == true))
            .map(|r| format!("{}/{}", text(r, "/kind"), text(r, "/name"))),
        healthy: podmirror_core::diagnosis::healthy(&v),
        deleting: v.pointer("/metadata/deletionTimestamp").is_some(),
        mirror: is_mirror(&v),
    };
    let mirror = if summary.mirror {
        MirrorInfo::from_pod(&v).map(|info| {
            Arc::new(MirrorEntry {
                pod: Arc::new(v),
                info,
            })
        })
    } else {
        None
    };
    Some((key, (Arc::new(summary), mirror)))
}

/// The parts of a pod the server reads.
fn prune(pod: &Pod) -> Option<(Key, Value)> {
    let mut v = serde_json::to_value(pod).ok()?;
    let md = v.get_mut("metadata")?.as_object_mut()?;
    md.remove("managedFields");
    if let Some(Value::Object(a)) = md.get_mut("annotations") {
        a.retain(|k, _| k.starts_with("podmirror.dev/"));
    }
    let key = (
        md.get("namespace")?.as_str()?.to_string(),
        md.get("name")?.as_str()?.to_string(),
    );
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        let mut kept = Map::new();
        for field in ["activeDeadlineSeconds", "nodeName"] {
            if let Some(x) = spec.remove(field) {
                kept.insert(field.into(), x);
            }
        }
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = spec.remove(list) {
                let slim: Vec<Value> = cs
                    .into_iter()
                    .map(|c| {
                        let mut m = Map::new();
                        for f in ["name", "image", "restartPolicy"] {
                            if let Some(x) = c.get(f) {
                                m.insert(f.into(), x.clone());
                            }
                        }
                        Value::Object(m)
                    })
                    .collect();
                kept.insert(list.into(), Value::Array(slim));
            }
        }
        *spec = kept;
    }
    Some((key, v))
}

fn key_of(pod: &Pod) -> Option<Key> {
    Some((pod.metadata.namespace.clone()?, pod.metadata.name.clone()?))
}

impl PodCache {
    /// Starts watching every pod the client may list.
    pub fn start(client: kube::Client) -> PodCache {
        let pods = Arc::new(RwLock::new(Pods::default()));
        let ready = Arc::new(AtomicBool::new(false));
        let (tx, changes) = watch::channel(0u64);
        let api: kube::Api<Pod> = kube::Api::all(client);
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        let (store, flag) = (pods.clone(), ready.clone());
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let event = match event {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "pod watch failed; retrying with back-off");
                        continue;
                    }
                };
                {
                    let mut p = store
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match event {
                        watcher::Event::Apply(pod) => {
                            if let Some((k, e)) = entry(&pod) {
                                p.insert(k, e);
                            }
                        }
                        watcher::Event::Delete(pod) => {
                            if let Some(k) = key_of(&pod) {
                                p.remove(&k);
                            }
                        }
                        watcher::Event::Init => p.relist = Some(HashMap::new()),
                        watcher::Event::InitApply(pod) => {
                            if let (Some((k, e)), Some(relist)) = (entry(&pod), p.relist.as_mut()) {
                                relist.insert(k, e);
                            }
                        }
                        watcher::Event::InitDone => {
                            let fresh = p.relist.take().unwrap_or_default();
                            p.all.clear();
                            p.mirrors.clear();
                            for (k, e) in fresh {
                                p.insert(k, e);
                            }
                            flag.store(true, Ordering::Release);
                        }
                    }
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        PodCache {
            pods,
            ready,
            changes,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Pods> {
        self.pods
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the first list has arrived.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every pod's summary.
    pub fn pods(&self) -> Vec<Arc<PodSummary>> {
        self.read().all.values().cloned().collect()
    }

    /// The mirrors.
    pub fn mirrors(&self) -> Vec<Arc<MirrorEntry>> {
        self.read().mirrors.values().cloned().collect()
    }

    /// The first mirror that `matches`, found under the lock (a status
    /// request or an event-stream tick does not copy the whole index).
    pub fn find_mirror(&self, matches: impl Fn(&MirrorEntry) -> bool) -> Option<Arc<MirrorEntry>> {
        self.read().mirrors.values().find(|m| matches(m)).cloned()
    }

    /// How many pods are watched.
    pub fn len(&self) -> usize {
        self.read().all.len()
    }

    /// Whether no pod is watched.
    pub fn is_empty(&self) -> bool {
        self.read().all.is_empty()
    }

    /// How many mirrors.
    pub fn mirror_count(&self) -> usize {
        self.read().mirrors.len()
    }

    /// A receiver that changes whenever a pod does.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_sidecars_count_in_ready_as_kubectl_counts_them() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api-1", "namespace": "shop", "uid": "u"},
            "spec": {
                "initContainers": [
                    {"name": "migrate", "image": "m"},
                    {"name": "podmirror-tap", "image": "t", "restartPolicy": "Always"},
                ],
                "containers": [{"name": "api", "image": "a"}],
            },
            "status": {
                "phase": "Running",
                "initContainerStatuses": [
                    {"name": "migrate", "ready": false, "restartCount": 0, "image": "m", "imageID": ""},
                    {"name": "podmirror-tap", "ready": true, "restartCount": 0, "image": "t", "imageID": ""},
                ],
                "containerStatuses": [{"name": "api", "ready": true, "restartCount": 0, "image": "a", "imageID": ""}],
            },
        }))
        .unwrap();
        let (_, (summary, _)) = entry(&pod).unwrap();
        assert_eq!((summary.ready, summary.containers), (2, 2), "READY 2/2");
    }
}
