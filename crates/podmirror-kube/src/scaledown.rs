//! Scaling a source Deployment down while its mirror runs (the cluster contract, docs/architecture.md):
//! a Lease per Deployment names the mirror that holds it, one patch with a
//! resourceVersion precondition sets `replicas: 0` and records the original
//! count, and the restore undoes it only while this mirror is still the one
//! named — then releases the Lease and says so in a Kubernetes Event.

use crate::KubeError;
use crate::retry::{Attempt, is_conflict, on_conflict};
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
    // Stamped with the API server's time: the reaper compares it with the
    // same clock (see ORPHAN_GRACE_SECONDS).
    let now = crate::clock::server_now(client).await?.to_string();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lease_name, "namespace": ns},
        "spec": {"holderIdentity": id, "leaseDurationSeconds": 3660,
                 "acquireTime": now, "renewTime": now}
    });
    let lease_obj: Lease = serde_json::from_value(lease.clone()).map_err(|e| KubeError::Api {
        action: action.clone(),
        message: e.to_string(),
        code: 0,
        causes: Vec::new(),
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
                        causes: Vec::new(),
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
    // The Deployment's controller writes its status often: a conflict means
    // read again and decide anew.
    let scaled = on_conflict(&format!("scale deployment {deployment} down"), || async {
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
            Ok(_) => Ok(Attempt::Done(ScaleDown {
                namespace: ns.to_string(),
                deployment: deployment.to_string(),
                original_replicas: replicas,
            })),
            Err(e) if is_conflict(&e) => Ok(Attempt::Conflict),
            Err(e) => Err(KubeError::from_kube(
                format!("scale deployment {deployment} down"),
                e,
            )),
        }
    })
    .await;
    if scaled.is_err() {
        release(client, ns, deployment, id).await;
    }
    scaled
}

/// A JSON merge patch written by field manager `podmirror`.
pub(crate) fn merge_params() -> PatchParams {
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
    let restored = on_conflict(&format!("restore deployment {deployment}"), || async {
        let Some(d) = deploys
            .get_opt(deployment)
            .await
            .map_err(|e| KubeError::from_kube(format!("read deployment {deployment}"), e))?
        else {
            return Ok(Attempt::Done(None));
        };
        let annotations = d.metadata.annotations.clone().unwrap_or_default();
        if annotations.get(ANN_SCALED_DOWN_BY).map(String::as_str) != Some(id) {
            return Ok(Attempt::Done(None));
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
            Ok(_) => Ok(Attempt::Done(Some((d, replicas, user_changed)))),
            Err(e) if is_conflict(&e) => Ok(Attempt::Conflict),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Attempt::Done(None)),
            Err(e) => Err(KubeError::from_kube(
                format!("restore deployment {deployment}"),
                e,
            )),
        }
    })
    .await?;
    let Some((d, replicas, user_changed)) = restored else {
        release(client, ns, deployment, id).await;
        return Ok(false);
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

/// Seconds after taking a scale-down Lease during which a missing mirror is
/// not yet an orphan: the mirror is created right after the scale-down
/// patch, and a reaper pass in between must not undo it.
pub const ORPHAN_GRACE_SECONDS: i64 = 30;

/// Whether `deployment`'s scale-down Lease was taken by `by` less than
/// [`ORPHAN_GRACE_SECONDS`] ago (API server clock). Unreadable: false.
async fn just_taken(
    client: &kube::Client,
    ns: &str,
    deployment: &str,
    by: &str,
    server_now: jiff::Timestamp,
) -> bool {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let Ok(Some(lease)) = leases.get_opt(&scale_down_lease(deployment)).await else {
        return false;
    };
    let Some(spec) = lease.spec else {
        return false;
    };
    if spec.holder_identity.as_deref() != Some(by) {
        return false;
    }
    spec.acquire_time
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()))
        .is_some_and(|taken| server_now.duration_since(taken).as_secs() < ORPHAN_GRACE_SECONDS)
}

/// Step 5, crash recovery: restores every Deployment whose `scaled-down-by`
/// mirror no longer exists. Returns the `namespace/name` of those restored.
pub async fn restore_orphans(
    client: &kube::Client,
    server_now: jiff::Timestamp,
) -> Result<Vec<String>, KubeError> {
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
        if just_taken(client, &ns, &name, &by, server_now).await {
            // Its podmirror is between the scale-down and creating the mirror.
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
