//! Container logs: the current and previous run of each container, with
//! followers woken on every new line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Identifies a container: (namespace, pod uid, container name).
pub type ContainerKey = (String, String, String);

/// Lines of one container.
#[derive(Debug, Default, Clone)]
pub struct ContainerLog {
    /// Lines of the running (or last) instance, with their timestamps.
    pub current: Vec<(String, String)>,
    /// Lines of the instance before it, if it restarted.
    pub previous: Option<Vec<(String, String)>>,
    /// True once the current instance has stopped writing.
    pub finished: bool,
}

/// All containers' logs.
#[derive(Default)]
pub struct Logs {
    inner: Mutex<HashMap<ContainerKey, ContainerLog>>,
    tick: Arc<watch::Sender<u64>>,
}

impl Logs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContainerKey, ContainerLog>> {
        // The map stays usable even if a writer panicked.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a line to a container's current log.
    pub fn append(&self, key: &ContainerKey, line: &str) {
        self.lock()
            .entry(key.clone())
            .or_default()
            .current
            .push((crate::meta::now_micro(), line.to_string()));
        self.tick.send_modify(|t| *t += 1);
    }

    /// Starts a new instance: the current log becomes the previous one.
    pub fn restart(&self, key: &ContainerKey) {
        let mut map = self.lock();
        let log = map.entry(key.clone()).or_default();
        log.previous = Some(std::mem::take(&mut log.current));
        log.finished = false;
        drop(map);
        self.tick.send_modify(|t| *t += 1);
    }

    /// Marks the current instance as stopped (followers end).
    pub fn finish(&self, key: &ContainerKey) {
        self.lock().entry(key.clone()).or_default().finished = true;
        self.tick.send_modify(|t| *t += 1);
    }

    /// A snapshot of one container's log.
    pub fn get(&self, key: &ContainerKey) -> Option<ContainerLog> {
        self.lock().get(key).cloned()
    }

    /// Forgets every container of a pod.
    pub fn forget_pod(&self, ns: &str, pod_uid: &str) {
        self.lock().retain(|k, _| !(k.0 == ns && k.1 == pod_uid));
    }

    /// A receiver that changes whenever any log changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }
}
