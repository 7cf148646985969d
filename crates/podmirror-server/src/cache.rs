//! Live cluster state from a watch, not polling: every pod, kept as pruned
//! JSON (no managedFields, no annotations but podmirror's, a spec cut to
//! what the status and verdict read), converted once per change rather than
//! per request, with the mirrors indexed apart; and a counter that moves on
//! every change so streams wake up.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type Key = (String, String);

#[derive(Default)]
struct Pods {
    all: HashMap<Key, Arc<Value>>,
    mirrors: HashMap<Key, Arc<Value>>,
    /// The relist in progress after a watch restart.
    relist: Option<HashMap<Key, Arc<Value>>>,
}

impl Pods {
    fn insert(&mut self, key: Key, pod: Arc<Value>) {
        if is_mirror(&pod) {
            self.mirrors.insert(key.clone(), pod.clone());
        } else {
            self.mirrors.remove(&key);
        }
        self.all.insert(key, pod);
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

/// The parts of a pod the server reads.
fn prune(pod: &Pod) -> Option<(Key, Arc<Value>)> {
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
                        for f in ["name", "image"] {
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
    Some((key, Arc::new(v)))
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
                    let mut p = store.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                    match event {
                        watcher::Event::Apply(pod) => {
                            if let Some((k, v)) = prune(&pod) {
                                p.insert(k, v);
                            }
                        }
                        watcher::Event::Delete(pod) => {
                            if let Some(k) = key_of(&pod) {
                                p.remove(&k);
                            }
                        }
                        watcher::Event::Init => p.relist = Some(HashMap::new()),
                        watcher::Event::InitApply(pod) => {
                            if let (Some((k, v)), Some(relist)) = (prune(&pod), p.relist.as_mut()) {
                                relist.insert(k, v);
                            }
                        }
                        watcher::Event::InitDone => {
                            let fresh = p.relist.take().unwrap_or_default();
                            p.all.clear();
                            p.mirrors.clear();
                            for (k, v) in fresh {
                                p.insert(k, v);
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
        self.pods.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the first list has arrived.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every pod.
    pub fn pods(&self) -> Vec<Arc<Value>> {
        self.read().all.values().cloned().collect()
    }

    /// The mirrors.
    pub fn mirrors(&self) -> Vec<Arc<Value>> {
        self.read().mirrors.values().cloned().collect()
    }

    /// One pod.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.read()
            .all
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
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
