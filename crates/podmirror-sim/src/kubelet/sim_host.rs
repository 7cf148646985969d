//! The kubelet inside the simulated cluster: reads and writes the sim's
//! store directly and follows its change feed.

use super::Kubelet;
use super::host::{Host, StatusWrite, pod_reference};
use super::rules::Objects;
use crate::catalog::Catalog;
use crate::cluster::WriteOptions;
use crate::events::{EventType, Source};
use crate::resources::ids;
use crate::store::{ChangeType, Select, Stored};
use crate::{Sim, WeakSim};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Field manager of status writes.
const MANAGER: &str = "kubelet";

/// The sim, held weakly: pods' workers must not keep it alive.
struct SimHost(WeakSim);

impl Objects for SimHost {
    fn configmap(&self, namespace: &str, name: &str) -> Option<Value> {
        let sim = self.0.upgrade()?;
        let cm = sim.cluster.get(ids::configmaps(), namespace, name).ok()?;
        Some((*cm).clone())
    }
    fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        let sim = self.0.upgrade()?;
        let secret = sim.cluster.get(ids::secrets(), namespace, name).ok()?;
        Some((*secret).clone())
    }
}

impl Host for SimHost {
    fn pod(&self, ns: &str, name: &str, uid: &str) -> Option<Arc<Value>> {
        let sim = self.0.upgrade()?;
        let pod = sim.cluster.get(ids::pods(), ns, name).ok()?;
        (crate::meta::uid(&pod) == uid).then_some(pod)
    }

    /// Read from the stored bytes without parsing the whole pod.
    fn pod_ref(&self, ns: &str, name: &str, uid: &str) -> Option<Value> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            uid: String,
            resource_version: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Head {
            metadata: Meta,
        }
        let sim = self.0.upgrade()?;
        let head: Head = {
            let data = sim.cluster.store.read();
            let stored = data.get_stored(ids::pods(), ns, name)?;
            serde_json::from_slice(&stored.json).ok()?
        };
        (head.metadata.uid == uid)
            .then(|| pod_reference(ns, name, uid, head.metadata.resource_version.as_deref()))
    }

    fn node(&self, name: &str) -> Option<Arc<Value>> {
        self.0.upgrade()?.cluster.get(ids::nodes(), "", name).ok()
    }

    fn event(
        &self,
        object: &Value,
        field_path: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
        source: &Source,
    ) {
        if let Some(sim) = self.0.upgrade() {
            sim.recorder.record(
                &sim.cluster,
                object,
                field_path,
                kind,
                reason,
                message,
                source,
            );
        }
    }

    fn write_status<'a>(
        &'a self,
        pod: &'a Arc<Value>,
        status: Value,
    ) -> BoxFuture<'a, StatusWrite> {
        let written = self.0.upgrade().map(|sim| {
            sim.cluster
                .update_status_of(ids::pods(), pod, status, &WriteOptions::manager(MANAGER))
        });
        Box::pin(async move {
            match written {
                Some(Err(e)) if e.code == 409 => StatusWrite::Conflict,
                _ => StatusWrite::Done,
            }
        })
    }

    fn finish_deletion(&self, ns: &str, name: &str, uid: &str) {
        if let Some(sim) = self.0.upgrade() {
            sim.cluster.finish_pod_deletion(ns, name, uid);
        }
    }

    fn scaled(&self, d: Duration) -> Option<Duration> {
        self.0.upgrade().map(|sim| sim.scaled(d))
    }
}

/// Whether a pod change can matter to the kubelet, read from the pruned
/// selector view so that pods it already runs are skipped without parsing: a
/// bound pod with no worker yet, or a running pod that is being deleted.
fn worth_a_look(select: &Select, kubelet: &Kubelet) -> bool {
    !select.field("spec.nodeName").is_empty() && (select.deleting || !kubelet.runs(&select.uid))
}

/// Every stored pod worth a look, as after a relist, handed to the kubelet
/// one at a time: after a long lag thousands may qualify, and holding them all
/// parsed at once would set the process's memory high-water mark.
fn consider_all(sim: &Sim, kubelet: &Kubelet) {
    let keys: Vec<Arc<Stored>> = {
        let data = sim.cluster.store.read();
        data.iter(ids::pods(), None, None)
            .filter(|(_, s)| worth_a_look(&s.select, kubelet))
            .map(|(_, s)| s.clone())
            .collect()
    };
    for stored in keys {
        kubelet.consider(&stored.value());
    }
}

/// Starts the kubelet of every node of the sim.
pub fn start(sim: &Sim, catalog: Arc<Catalog>) {
    let weak = sim.downgrade();
    let mut rx = sim.cluster.store.subscribe();
    let host: Arc<dyn Host> = Arc::new(SimHost(weak.clone()));
    let kubelet = Kubelet::new(host, catalog, sim.cluster.logs.clone(), None)
        .with_sockets(sim.options.sockets)
        .with_programs(sim.options.programs.clone());
    // Pods already bound.
    consider_all(sim, &kubelet);
    let handle = tokio::spawn(async move {
        loop {
            let change = match rx.recv().await {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed changes: look at every pod again, as a relist would.
                    let Some(sim) = weak.upgrade() else {
                        return;
                    };
                    consider_all(&sim, &kubelet);
                    drop(sim);
                    continue;
                }
                Err(_) => return,
            };
            if change.resource != ids::pods() {
                continue;
            }
            if change.kind == ChangeType::Deleted {
                kubelet.forget(&change.namespace, &change.object.select.uid);
                continue;
            }
            if worth_a_look(&change.object.select, &kubelet) {
                kubelet.consider(&change.object.value());
            }
        }
    });
    sim.track(handle);
}
