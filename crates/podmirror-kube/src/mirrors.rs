//! Mirrors in the cluster: create (after a server-side dry run), list,
//! find, extend the TTL, delete with a UID precondition, and the reaper (one pass, or a
//! loop) that deletes expired mirrors judged by the API server's clock.

use crate::KubeError;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PostParams, Preconditions,
};
use podmirror_core::contract::{ANN_TTL_SECONDS, LABEL_MIRROR, LABEL_MIRROR_ID};
use podmirror_core::mirror::MirrorInfo;
use podmirror_core::ttl::Ttl;
use serde_json::Value;

/// Field manager of every write podmirror makes.
pub const FIELD_MANAGER: &str = "podmirror";

fn pods(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<Pod>(&()))
}

fn namespace_of(manifest: &Value) -> &str {
    manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
}

fn as_object(manifest: &Value) -> Result<DynamicObject, KubeError> {
    serde_json::from_value(manifest.clone())
        .map_err(|e| KubeError::Core(podmirror_core::CoreError::Manifest(e.to_string())))
}

/// Asks the API server to validate `manifest` as a new pod without creating it.
pub async fn dry_run(client: &kube::Client, manifest: &Value) -> Result<(), KubeError> {
    let ns = namespace_of(manifest);
    let params = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    pods(client, ns)
        .create(&params, &as_object(manifest)?)
        .await
        .map_err(|e| KubeError::from_kube("validate the mirror (dry run)", e))?;
    Ok(())
}

/// Creates the mirror pod; returns it as the API server stored it.
pub async fn create(client: &kube::Client, manifest: &Value) -> Result<Value, KubeError> {
    let ns = namespace_of(manifest);
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let created = pods(client, ns)
        .create(&params, &as_object(manifest)?)
        .await
        .map_err(|e| KubeError::from_kube("create the mirror", e))?;
    Ok(serde_json::to_value(created).unwrap_or(Value::Null))
}

/// The mirrors in `ns`, or in every namespace with `None`, oldest first.
pub async fn list(
    client: &kube::Client,
    ns: Option<&str>,
) -> Result<Vec<(MirrorInfo, Value)>, KubeError> {
    list_selected(client, ns, &format!("{LABEL_MIRROR}=true")).await
}

/// The mirrors matching a label selector.
async fn list_selected(
    client: &kube::Client,
    ns: Option<&str>,
    selector: &str,
) -> Result<Vec<(MirrorInfo, Value)>, KubeError> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => pods(client, ns),
        None => Api::all_with(client.clone(), &ApiResource::erase::<Pod>(&())),
    };
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| KubeError::from_kube("list mirrors", e))?;
    let mut out: Vec<(MirrorInfo, Value)> = list
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .filter_map(|v| MirrorInfo::from_pod(&v).map(|i| (i, v)))
        .collect();
    out.sort_by(|a, b| a.0.created.cmp(&b.0.created).then(a.0.id.cmp(&b.0.id)));
    Ok(out)
}

/// The mirror with `id`, in `ns` or anywhere.
pub async fn find(
    client: &kube::Client,
    ns: Option<&str>,
    id: &str,
) -> Result<(MirrorInfo, Value), KubeError> {
    // Mirror ids are label values; anything else cannot name a mirror.
    let label_value = !id.is_empty()
        && id.len() <= 63
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !label_value {
        return Err(KubeError::NoMirror(id.to_string()));
    }
    // The server filters by the id label, so this is one small list call.
    list_selected(
        client,
        ns,
        &format!("{LABEL_MIRROR}=true,{LABEL_MIRROR_ID}={id}"),
    )
    .await?
    .into_iter()
    .find(|(i, _)| i.id == id)
    .ok_or_else(|| KubeError::NoMirror(id.to_string()))
}

/// Deletes a mirror, only if it is still the same pod (UID precondition),
/// and scales its source Deployment back up if it scaled it down.
/// Returns false when it was already gone.
pub async fn delete(client: &kube::Client, info: &MirrorInfo) -> Result<bool, KubeError> {
    let deleted = delete_pod(client, info).await?;
    restore_source(client, info, "was deleted").await?;
    Ok(deleted)
}

/// Scales the Deployment a mirror scaled down back up, if it did.
async fn restore_source(
    client: &kube::Client,
    info: &MirrorInfo,
    what: &str,
) -> Result<(), KubeError> {
    if let Some(deployment) = &info.scaled_down {
        crate::scaledown::restore(
            client,
            &info.namespace,
            deployment,
            &info.id,
            &format!("mirror {} {what}", info.id),
        )
        .await?;
    }
    Ok(())
}

async fn delete_pod(client: &kube::Client, info: &MirrorInfo) -> Result<bool, KubeError> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(info.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match pods(client, &info.namespace)
        .delete(&info.id, &params)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(false),
        Err(e) => Err(KubeError::from_kube(
            format!("delete mirror {}", info.id),
            e,
        )),
    }
}

/// Makes a mirror live `by` longer: rewrites its ttl-seconds (the cluster contract, docs/architecture.md),
/// judged on the API server's clock. The write carries the resourceVersion
/// the new TTL was computed from; when the pod changed meanwhile (the kubelet
/// updates its status often) it is read again and the TTL recomputed, so two
/// extensions at once both count. Returns the mirror as it is now.
pub async fn extend(
    client: &kube::Client,
    info: &MirrorInfo,
    by: Ttl,
) -> Result<MirrorInfo, KubeError> {
    let params = crate::scaledown::merge_params();
    let mut current = info.clone();
    for _ in 0..10 {
        let now = crate::clock::server_now(client).await?;
        let ttl = current.extended_ttl(by, now)?;
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": current.resource_version,
            "annotations": {ANN_TTL_SECONDS: ttl.seconds().to_string()},
        }});
        match pods(client, &current.namespace)
            .patch(&current.id, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(pod) => {
                let pod = serde_json::to_value(pod).map_err(|e| KubeError::Api {
                    action: format!("extend mirror {}", info.id),
                    message: format!("unreadable answer: {e}"),
                    code: 0,
                    causes: Vec::new(),
                })?;
                return MirrorInfo::from_pod(&pod)
                    .ok_or_else(|| KubeError::NoMirror(info.id.clone()));
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                current = find(client, Some(&info.namespace), &info.id).await?.0;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(KubeError::NoMirror(info.id.clone()));
            }
            Err(e) => {
                return Err(KubeError::from_kube(
                    format!("extend mirror {}", info.id),
                    e,
                ));
            }
        }
    }
    Err(KubeError::Api {
        action: format!("extend mirror {}", info.id),
        message: "it kept changing while being extended; run the command again".into(),
        code: 409,
        causes: Vec::new(),
    })
}

/// The reaper's delete: with the UID and the resourceVersion it judged as
/// preconditions, so a mirror extended since it was listed is not deleted.
/// On a conflict it reads the mirror again and judges anew (the kubelet's
/// status writes also change the resourceVersion). Then, as [`delete`],
/// scales its source back up. Returns whether it deleted the mirror.
async fn delete_expired(
    client: &kube::Client,
    info: &MirrorInfo,
    server_now: jiff::Timestamp,
) -> Result<bool, KubeError> {
    let api = pods(client, &info.namespace);
    let mut current = info.clone();
    let mut deleted = false;
    for _ in 0..5 {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(current.uid.clone()),
                resource_version: Some(current.resource_version.clone()),
            }),
            ..DeleteParams::default()
        };
        match api.delete(&current.id, &params).await {
            Ok(_) => {
                deleted = true;
                break;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(false),
            Err(e) if crate::retry::is_conflict(&e) => {
                let now = api
                    .get_opt(&current.id)
                    .await
                    .map_err(|e| KubeError::from_kube(format!("read mirror {}", info.id), e))?
                    .and_then(|p| serde_json::to_value(p).ok())
                    .and_then(|p| MirrorInfo::from_pod(&p));
                match now {
                    Some(n) if n.uid == info.uid && !n.deleting && n.expired(server_now) => {
                        current = n;
                    }
                    // Gone, replaced, already going, or extended: nothing to do now.
                    _ => return Ok(false),
                }
            }
            Err(e) => {
                return Err(KubeError::from_kube(
                    format!("delete mirror {}", info.id),
                    e,
                ));
            }
        }
    }
    if !deleted {
        // It kept changing: the next pass tries again.
        return Ok(false);
    }
    restore_source(client, &current, "expired").await?;
    Ok(true)
}

/// What one reaper pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReapReport {
    /// Mirrors deleted because they expired.
    pub deleted: Vec<String>,
    /// Mirrors still within their TTL.
    pub kept: Vec<String>,
    /// Deployments (`namespace/name`) scaled back up because their mirror is gone.
    pub restored: Vec<String>,
    /// The soonest expiry among the mirrors kept (API server clock).
    pub next_expiry: Option<jiff::Timestamp>,
}

/// One reaper pass over every namespace: deletes the mirrors whose expiry
/// (creationTimestamp + ttl-seconds) has passed on the API server's clock.
/// Idempotent: a mirror already gone counts as nothing to do.
pub async fn reap(client: &kube::Client) -> Result<ReapReport, KubeError> {
    let now = crate::clock::server_now(client).await?;
    reap_at(client, now).await
}

/// A reaper pass judging expiry at `server_now`, which must be the API
/// server's time (or a lower bound of it, as [`ServerClock`] gives).
///
/// [`ServerClock`]: crate::clock::ServerClock
pub async fn reap_at(
    client: &kube::Client,
    server_now: jiff::Timestamp,
) -> Result<ReapReport, KubeError> {
    let mut report = ReapReport::default();
    for (info, _) in list(client, None).await? {
        if info.deleting {
            continue;
        }
        if info.expired(server_now) {
            if delete_expired(client, &info, server_now).await? {
                tracing::info!(mirror = %info.id, namespace = %info.namespace, "deleted expired mirror");
                report.deleted.push(info.id);
            }
        } else {
            if let Some(e) = info.expires {
                report.next_expiry = Some(report.next_expiry.map_or(e, |n| n.min(e)));
            }
            report.kept.push(info.id);
        }
    }
    report.restored = crate::scaledown::restore_orphans(client, server_now).await?;
    Ok(report)
}

/// Runs reaper passes forever (drop the future to stop); the backend runs
/// this. A pass runs at least every `every`, and also as soon as the next
/// mirror expires, judged by a [`ServerClock`] (finer than the `Date`
/// header's seconds, never ahead of the server), so a mirror goes within a
/// pass's time of its expiry. A failed pass is logged and the next tries again.
///
/// [`ServerClock`]: crate::clock::ServerClock
pub async fn reap_every(client: kube::Client, every: std::time::Duration) {
    let mut clock = crate::clock::ServerClock::default();
    let mut calibrated: Option<std::time::Instant> = None;
    loop {
        // Calibrated at the start and every ten minutes (8 reads, ~125 ms).
        if calibrated.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(600)) {
            match clock.calibrate(&client, 8).await {
                Ok(()) => calibrated = Some(std::time::Instant::now()),
                Err(e) => tracing::warn!(error = %e, "reaper cannot read the server clock"),
            }
        }
        let mut next = None;
        match clock.observe(&client).await {
            Err(e) => tracing::warn!(error = %e, "reaper cannot read the server clock"),
            Ok(()) => {
                if let Some(now) = clock.now() {
                    match reap_at(&client, now).await {
                        Ok(report) => next = report.next_expiry,
                        Err(e) => tracing::warn!(error = %e, "reaper pass failed"),
                    }
                }
            }
        }
        let mut wait = every;
        if let (Some(next), Some(now)) = (next, clock.now()) {
            let until = std::time::Duration::try_from(next.duration_since(now))
                .unwrap_or(std::time::Duration::ZERO);
            wait = wait.min(until + std::time::Duration::from_millis(2));
        }
        tokio::time::sleep(wait).await;
    }
}
