//! Finding what a mirror copies: a pod by name (with its owner chain up to
//! the workload), or a workload's pod template when a workload is named.

use crate::KubeError;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::Value;

/// The source of a mirror.
#[derive(Debug, Clone)]
pub struct Source {
    /// The pod to copy: the live pod, or one made from the workload's template.
    pub pod: Value,
    /// The owning workload as `Kind/name` (`Deployment/api`), if any.
    pub owner: Option<String>,
    /// True when `pod` was made from a pod template rather than read.
    pub from_template: bool,
    /// The pod asked for, when it is gone and its owner's template stands in.
    pub gone_pod: Option<String>,
}

impl Source {
    /// The source pod's name (the workload's name for a template).
    pub fn name(&self) -> &str {
        self.pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The owning Deployment's name, if the owner is one.
    pub fn deployment(&self) -> Option<&str> {
        self.owner.as_deref()?.strip_prefix("Deployment/")
    }
}

/// A namespaced Kubernetes kind of k8s-openapi, read as JSON.
pub(crate) trait NamespacedKind:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
{
}

impl<K> NamespacedKind for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
{
}

async fn get_value<K: NamespacedKind>(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let kind = K::kind(&()).to_ascii_lowercase();
    let got = api
        .get_opt(name)
        .await
        .map_err(|e| KubeError::from_kube(format!("read {kind} {ns}/{name}"), e))?;
    Ok(got.and_then(|o| serde_json::to_value(o).ok()))
}

fn not_found(kind: &str, name: &str, ns: &str) -> KubeError {
    KubeError::NotFound {
        kind: kind.to_string(),
        plural: format!("{kind}s"),
        name: name.to_string(),
        namespace: ns.to_string(),
    }
}

/// The controller named in an object's ownerReferences, as (kind, name).
pub(crate) fn controller(obj: &Value) -> Option<(String, String)> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            (
                r.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                r.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
}

/// Resolves `target` in `ns`: `POD`, `pod/POD`, or `KIND/NAME` for a
/// Deployment, StatefulSet, DaemonSet, ReplicaSet or Job (its pod template).
pub async fn resolve(client: &kube::Client, ns: &str, target: &str) -> Result<Source, KubeError> {
    let (kind, name) = match target.split_once('/') {
        Some((k, n)) => (k.to_ascii_lowercase(), n.to_string()),
        None => ("pod".to_string(), target.to_string()),
    };
    if name.is_empty() {
        return Err(KubeError::Target(target.to_string()));
    }
    let kind = match kind.as_str() {
        "pod" | "pods" | "po" => "pod",
        "deployment" | "deployments" | "deploy" => "deployment",
        "statefulset" | "statefulsets" | "sts" => "statefulset",
        "daemonset" | "daemonsets" | "ds" => "daemonset",
        "replicaset" | "replicasets" | "rs" => "replicaset",
        "job" | "jobs" => "job",
        _ => return Err(KubeError::Target(target.to_string())),
    };
    if kind == "pod" {
        let Some(pod) = get_value::<Pod>(client, ns, &name).await? else {
            return match gone_pod_owner(client, ns, &name).await? {
                Some(mut src) => {
                    src.gone_pod = Some(name);
                    Ok(src)
                }
                None => Err(not_found("pod", &name, ns)),
            };
        };
        let owner = owner_chain(client, ns, &pod).await?;
        return Ok(Source {
            pod,
            owner,
            from_template: false,
            gone_pod: None,
        });
    }
    workload_template(client, ns, kind, &name)
        .await?
        .ok_or_else(|| not_found(kind, &name, ns))
}

/// A pod that is gone is sourced from its owner's template, the owner found
/// the way controllers name pods: `<statefulset>-<ordinal>`, or
/// `<replicaset|daemonset|job>-<5 random characters>`. None when no such
/// workload exists.
async fn gone_pod_owner(
    client: &kube::Client,
    ns: &str,
    pod: &str,
) -> Result<Option<Source>, KubeError> {
    let Some((prefix, last)) = pod.rsplit_once('-') else {
        return Ok(None);
    };
    let mut candidates: Vec<&str> = Vec::new();
    if !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()) {
        candidates.push("statefulset");
    }
    // The characters of generated names (no vowels, no 0, 1, 3).
    const GENERATED: &str = "bcdfghjklmnpqrstvwxz2456789";
    if last.len() == 5 && last.chars().all(|c| GENERATED.contains(c)) {
        candidates.extend(["replicaset", "daemonset", "job"]);
    }
    for kind in candidates {
        if let Some(src) = workload_template(client, ns, kind, prefix).await? {
            return Ok(Some(src));
        }
    }
    Ok(None)
}

/// The pod template of workload `kind/name`, as a source; None when absent.
async fn workload_template(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<Option<Source>, KubeError> {
    let workload = match kind {
        "deployment" => get_value::<Deployment>(client, ns, name).await?,
        "statefulset" => get_value::<StatefulSet>(client, ns, name).await?,
        "daemonset" => get_value::<DaemonSet>(client, ns, name).await?,
        "replicaset" => get_value::<ReplicaSet>(client, ns, name).await?,
        _ => get_value::<Job>(client, ns, name).await?,
    };
    let Some(workload) = workload else {
        return Ok(None);
    };
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let kind_title = workload
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(kind)
        .to_string();
    // A ReplicaSet's own owner (its Deployment) is the workload users know.
    let owner = match controller(&workload) {
        Some((k, n)) if kind == "replicaset" && k == "Deployment" => format!("{k}/{n}"),
        _ => format!("{kind_title}/{name}"),
    };
    Ok(Some(Source {
        pod: podmirror_core::cleanup::pod_from_template(&template, name, ns),
        owner: Some(owner),
        from_template: true,
        gone_pod: None,
    }))
}

/// The workload that owns `pod`: its controller, or the Deployment above a ReplicaSet.
async fn owner_chain(
    client: &kube::Client,
    ns: &str,
    pod: &Value,
) -> Result<Option<String>, KubeError> {
    let Some((kind, name)) = controller(pod) else {
        return Ok(None);
    };
    if kind == "ReplicaSet"
        && let Some(rs) = get_value::<ReplicaSet>(client, ns, &name).await?
        && let Some((k, n)) = controller(&rs)
        && k == "Deployment"
    {
        return Ok(Some(format!("{k}/{n}")));
    }
    Ok(Some(format!("{kind}/{name}")))
}
