//! Scaling a source Deployment down while its mirror runs (DESIGN §2):
//! a Lease per Deployment names the mirror that holds it, one patch with a
//! resourceVersion precondition sets `replicas: 0` and records the original
//! count, and the restore undoes it only while this mirror is still the one
//! named — then releases the Lease and says so in a Kubernetes Event.

use crate::KubeError;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use podmirror_core::contract::{
    ANN_CREATED_BY, ANN_ORIGINAL_REPLICAS, ANN_SCALED_DOWN_BY, scale_down_lease,
};
use serde_json::json;

/// A Deployment this mirror scaled down.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDown {
    /// Namespace.
    pub namespace: String,
    /// The Deployment.
    pub deployment: String,
    /// Its replicas before.
    pub original_replicas: i32,
}

/// Whether mirror `id` exists in `ns` and is not being deleted; with who created it.
async fn live_mirror(
    client: &kube::Client,
    ns: &str,
    id: &str,
) -> Result<Option<String>, KubeError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = pods
        .get_opt(id)
        .await
        .map_err(|e| KubeError::from_kube(format!("read mirror {id}"), e))?;
    Ok(pod
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            p.metadata
                .annotations
                .and_then(|a| a.get(ANN_CREATED_BY).cloned())
                .unwrap_or_else(|| "unknown".into())
        }))
}

fn already(deployment: &str, holder: &str, by: &str) -> KubeError {
    KubeError::ScaledDown {
        deployment: deployment.to_string(),
        mirror: holder.to_string(),
        created_by: by.to_string(),
    }
}

/// Steps 1 and 2 of the protocol: take the Lease for mirror `id`, then scale
/// `deployment` to zero in one patch. Fails, changing nothing, when another
/// live mirror holds it.
pub async fn scale_down(
    client: &kube::Client,
    ns: &str,
    deployment: &str,
    id: &str,
) -> Result<ScaleDown, KubeError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let lease_name = scale_down_lease(deployment);
    let action = format!("take the scale-down Lease {lease_name}");
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lease_name, "namespace": ns},
        "spec": {"holderIdentity": id, "leaseDurationSeconds": 3660,
                 "acquireTime": jiff::Timestamp::now().to_string(), "renewTime": jiff::Timestamp::now().to_string()}
    });
    let lease_obj: Lease = serde_json::from_value(lease.clone()).map_err(|e| KubeError::Api {
        action: action.clone(),
        message: e.to_string(),
        code: 0,
    })?;
    match leases
        .get_opt(&lease_name)
        .await
        .map_err(|e| KubeError::from_kube(&action, e))?
    {
        None => {
            leases
                .create(&PostParams::default(), &lease_obj)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(s) if s.code == 409 => KubeError::Api {
                        action: action.clone(),
                        message: format!("another mirror took deployment {deployment} at the same moment; try again"),
                        code: 409,
                    },
                    other => KubeError::from_kube(&action, other),
                })?;
        }
        Some(existing) => {
            let holder = existing
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            if holder != id
                && let Some(by) = live_mirror(client, ns, &holder).await?
            {
                return Err(already(deployment, &holder, &by));
            }
            // The holder is gone: take the Lease over, only if nobody else did meanwhile.
            let mut replacement = lease_obj.clone();
            replacement.metadata.resource_version = existing.metadata.resource_version.clone();
            leases
                .replace(&lease_name, &PostParams::default(), &replacement)
                .await
                .map_err(|e| KubeError::from_kube(&action, e))?;
        }
    }
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let scaled = async {
        // The Deployment's controller writes its status often: a conflict means
        // read again and decide anew (a few times), not fail.
        let mut attempts = 0;
        let replicas = loop {
        attempts += 1;
        let d = deploys
            .get_opt(deployment)
            .await
            .map_err(|e| KubeError::from_kube(format!("read deployment {deployment}"), e))?
            .ok_or_else(|| KubeError::NotFound {
                kind: "deployment".into(),
                plural: "deployments".into(),
                name: deployment.to_string(),
                namespace: ns.to_string(),
            })?;
        let annotations = d.metadata.annotations.clone().unwrap_or_default();
        if let Some(by) = annotations.get(ANN_SCALED_DOWN_BY).filter(|b| *b != id)
            && let Some(creator) = live_mirror(client, ns, by).await?
        {
            return Err(already(deployment, by, &creator));
        }
        let replicas = match annotations.get(ANN_ORIGINAL_REPLICAS) {
            // Left by a mirror that is gone: the original count is still the one to keep.
            Some(n) if annotations.contains_key(ANN_SCALED_DOWN_BY) => n.parse().unwrap_or(1),
            _ => d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        };
        let patch = json!({
            "metadata": {
                "resourceVersion": d.metadata.resource_version,
                "annotations": {ANN_ORIGINAL_REPLICAS: replicas.to_string(), ANN_SCALED_DOWN_BY: id}
            },
            "spec": {"replicas": 0}
        });
        match deploys
            .patch(deployment, &merge_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => break replicas,
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 5 => continue,
            Err(e) => {
                return Err(KubeError::from_kube(
                    format!("scale deployment {deployment} down"),
                    e,
                ));
            }
        }
        };
        Ok(ScaleDown {
            namespace: ns.to_string(),
            deployment: deployment.to_string(),
            original_replicas: replicas,
        })
    }
    .await;
    if scaled.is_err() {
        release(client, ns, deployment, id).await;
    }
    scaled
}

/// A JSON merge patch written by field manager `podmirror`.
fn merge_params() -> PatchParams {
    PatchParams {
        field_manager: Some(crate::mirrors::FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Releases the Lease if mirror `id` still holds it. Best effort: a Lease
/// left behind is taken over by the next scale-down once its holder is gone.
async fn release(client: &kube::Client, ns: &str, deployment: &str, id: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let name = scale_down_lease(deployment);
    if let Ok(Some(l)) = leases.get_opt(&name).await
        && l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(id)
    {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: l.metadata.uid.clone(),
                resource_version: l.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        let _ = leases.delete(&name, &params).await;
    }
}

/// Step 4: restores `deployment` if mirror `id` is still the one that scaled
/// it down, then releases the Lease and records an Event. Replicas someone
/// set while it was scaled down are kept (only the annotations go). Safe to
/// run twice at once: one restores, the other finds nothing to do. Returns
/// whether it restored anything.
pub async fn restore(
    client: &kube::Client,
    ns: &str,
    deployment: &str,
    id: &str,
    why: &str,
) -> Result<bool, KubeError> {
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
    // Read, then one patch with the resourceVersion as a precondition; when
    // someone else wrote in between (another reaper restoring it, a user
    // scaling), read again and decide anew.
    let mut attempts = 0;
    let (d, replicas, user_changed) = loop {
        attempts += 1;
        let Some(d) = deploys
            .get_opt(deployment)
            .await
            .map_err(|e| KubeError::from_kube(format!("read deployment {deployment}"), e))?
        else {
            release(client, ns, deployment, id).await;
            return Ok(false);
        };
        let annotations = d.metadata.annotations.clone().unwrap_or_default();
        if annotations.get(ANN_SCALED_DOWN_BY).map(String::as_str) != Some(id) {
            release(client, ns, deployment, id).await;
            return Ok(false);
        }
        let original: i32 = annotations
            .get(ANN_ORIGINAL_REPLICAS)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        // Replicas someone set while it was scaled down are theirs to keep.
        let now = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let user_changed = now != 0;
        let replicas = if user_changed { now } else { original };
        let patch = json!({
            "metadata": {
                "resourceVersion": d.metadata.resource_version,
                "annotations": {ANN_ORIGINAL_REPLICAS: null, ANN_SCALED_DOWN_BY: null}
            },
            "spec": {"replicas": replicas}
        });
        match deploys
            .patch(deployment, &merge_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => break (d, replicas, user_changed),
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 5 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                release(client, ns, deployment, id).await;
                return Ok(false);
            }
            Err(e) => {
                return Err(KubeError::from_kube(
                    format!("restore deployment {deployment}"),
                    e,
                ));
            }
        }
    };
    release(client, ns, deployment, id).await;
    let now = jiff::Timestamp::now().to_string();
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": format!("{deployment}."), "namespace": ns},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "namespace": ns,
                           "uid": d.metadata.uid, "resourceVersion": d.metadata.resource_version},
        "reason": "ScaleDownRestored",
        "message": if user_changed {
            format!("podmirror left replicas at {replicas}, as they were changed while scaled down: {why}")
        } else {
            format!("podmirror restored replicas to {replicas}: {why}")
        },
        "type": "Normal",
        "source": {"component": "podmirror"},
        "reportingComponent": "podmirror",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1
    });
    if let Ok(ev) = serde_json::from_value::<Event>(event) {
        let events: Api<Event> = Api::namespaced(client.clone(), ns);
        if let Err(e) = events.create(&PostParams::default(), &ev).await {
            tracing::warn!(error = %e, "cannot record the restore event");
        }
    }
    Ok(true)
}

/// Step 5, crash recovery: restores every Deployment whose `scaled-down-by`
/// mirror no longer exists. Returns the `namespace/name` of those restored.
pub async fn restore_orphans(client: &kube::Client) -> Result<Vec<String>, KubeError> {
    let deploys: Api<Deployment> = Api::all(client.clone());
    let list = deploys
        .list(&ListParams::default())
        .await
        .map_err(|e| KubeError::from_kube("list deployments", e))?;
    let mut restored = Vec::new();
    for d in list.items {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        let Some(by) = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANN_SCALED_DOWN_BY))
            .cloned()
        else {
            continue;
        };
        if live_mirror(client, &ns, &by).await?.is_some() {
            continue;
        }
        if restore(
            client,
            &ns,
            &name,
            &by,
            &format!("mirror {by} no longer exists"),
        )
        .await?
        {
            restored.push(format!("{ns}/{name}"));
        }
    }
    Ok(restored)
}
