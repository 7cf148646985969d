//! Live cluster state from a watch, not polling: every pod (a kube-runtime
//! reflector), from which the failing pods and the active mirrors are read,
//! and a counter that moves on every change so streams wake up.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use std::sync::Arc;
use tokio::sync::watch;

/// The pod cache.
#[derive(Clone)]
pub struct PodCache {
    reader: reflector::Store<Pod>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    changes: watch::Receiver<u64>,
}

impl PodCache {
    /// Starts watching every pod the client may list.
    pub fn start(client: kube::Client) -> PodCache {
        let (reader, writer) = reflector::store();
        let (tx, changes) = watch::channel(0u64);
        let api: kube::Api<Pod> = kube::Api::all(client);
        let stream = reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff()
            .touched_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    tracing::warn!(error = %e, "pod watch failed; retrying with back-off");
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, flag) = (reader.clone(), ready.clone());
        tokio::spawn(async move {
            if r.wait_until_ready().await.is_ok() {
                flag.store(true, std::sync::atomic::Ordering::Release);
            }
        });
        PodCache {
            reader,
            ready,
            changes,
        }
    }

    /// Whether the first list has arrived.
    pub fn ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits for the first list.
    pub async fn wait_ready(&self) {
        let _ = self.reader.wait_until_ready().await;
    }

    /// Every pod, as JSON.
    pub fn pods(&self) -> Vec<serde_json::Value> {
        self.reader
            .state()
            .iter()
            .filter_map(|p| serde_json::to_value(&**p).ok())
            .collect()
    }

    /// Every pod, typed.
    pub fn typed(&self) -> Vec<Arc<Pod>> {
        self.reader.state()
    }

    /// How many pods are watched.
    pub fn len(&self) -> usize {
        self.reader.len()
    }

    /// Whether no pod is watched.
    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    /// A receiver that changes whenever a pod does.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}
