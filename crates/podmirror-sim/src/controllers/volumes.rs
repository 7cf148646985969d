//! The PersistentVolumeClaim binder: claims of a storage class the sim offers
//! are provisioned and bound; others stay Pending with a ProvisioningFailed event.

use crate::controller::{Key, Next, Reconciler};
use crate::error::ApiError;
use crate::events::{EventType, Source};
use crate::resources::{ResourceId, Subresource, ids};
use crate::store::Change;
use crate::{Sim, meta};
use serde_json::{Value, json};

/// Storage classes the sim provisions; the first is the default.
pub const STORAGE_CLASSES: &[&str] = &["standard", "premium-rwo"];

/// Binds claims.
pub struct VolumeBinder;

fn opts() -> crate::cluster::WriteOptions {
    crate::cluster::WriteOptions::manager("kube-controller-manager")
}

impl Reconciler for VolumeBinder {
    fn name(&self) -> &'static str {
        "persistentvolume-binder-controller"
    }

    fn resource(&self) -> ResourceId {
        ids::pvcs()
    }

    fn keys_for(&self, _sim: &Sim, change: &Change) -> Vec<Key> {
        if change.resource == ids::pvcs() {
            vec![(
                change.namespace.clone(),
                change.object.select.name.to_string(),
            )]
        } else {
            Vec::new()
        }
    }

    fn reconcile(&self, sim: &Sim, key: &Key) -> Result<Next, ApiError> {
        let (ns, name) = key;
        let pvc = sim.cluster.get(ids::pvcs(), ns, name)?;
        if meta::is_deleting(&pvc)
            || pvc.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
        {
            return Ok(Next::Done);
        }
        let class = pvc
            .pointer("/spec/storageClassName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !STORAGE_CLASSES.contains(&class.as_str()) {
            let message = if class.is_empty() {
                "no persistent volumes available for this claim and no storage class is set"
                    .to_string()
            } else {
                format!("storageclass.storage.k8s.io {class:?} not found")
            };
            sim.recorder.record(
                &sim.cluster,
                &pvc,
                None,
                EventType::Warning,
                "ProvisioningFailed",
                &message,
                &Source::component("persistentvolume-controller"),
            );
            return Ok(Next::Done);
        }
        let volume = format!("pvc-{}", meta::uid(&pvc));
        let mut bound = (*pvc).clone();
        bound["spec"]["volumeName"] = json!(volume);
        let md = meta::metadata_mut(&mut bound);
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert("pv.kubernetes.io/bind-completed".into(), json!("yes"));
            a.insert("pv.kubernetes.io/bound-by-controller".into(), json!("yes"));
            a.insert(
                "volume.kubernetes.io/storage-provisioner".into(),
                json!("podmirror.dev/sim-provisioner"),
            );
        }
        let bound = sim
            .cluster
            .update(ids::pvcs(), ns, name, None, bound, &opts())?;
        let mut with_status = (*bound).clone();
        with_status["status"] = json!({
            "phase": "Bound",
            "accessModes": pvc.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
            "capacity": {"storage": pvc.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))},
        });
        sim.cluster.update(
            ids::pvcs(),
            ns,
            name,
            Some(Subresource::Status),
            with_status,
            &opts(),
        )?;
        sim.recorder.record(
            &sim.cluster,
            &bound,
            None,
            EventType::Normal,
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {volume}"),
            &Source::component("podmirror.dev/sim-provisioner"),
        );
        Ok(Next::Done)
    }
}
