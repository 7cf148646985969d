//! Applying a diagnosed fix to the live workload, as the CLI and the backend
//! both do it: [`prepare`] reads the owner and shows the template before and
//! after; [`apply`] sends the patch with the resourceVersion it was prepared
//! against, so nothing changes if the workload changed meanwhile.

use crate::KubeError;
use podmirror_core::diagnosis::{Finding, template_ops};
use serde_json::{Value, json};

/// A fix ready to apply.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `deployment/api`.
    pub target: String,
    /// The owner's kind, lower case (`deployment`).
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// Its `spec.template.spec` now.
    pub before: Value,
    /// With the fix.
    pub after: Value,
    /// The JSON Patch sent (under `/spec/template/spec`, after a test of the
    /// resourceVersion).
    pub body: Vec<Value>,
    path: String,
}

/// Why a fix cannot be applied, in words a person can act on.
fn refuse(message: String) -> KubeError {
    KubeError::CannotApply(message)
}

/// Which API path serves a workload kind.
fn workload_path(kind: &str, ns: &str, name: &str) -> Option<String> {
    let plural = match kind {
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        "ReplicaSet" => "replicasets",
        _ => return None,
    };
    Some(format!("/apis/apps/v1/namespaces/{ns}/{plural}/{name}"))
}

async fn send(
    client: &kube::Client,
    action: &str,
    req: http::Request<Vec<u8>>,
) -> Result<Value, KubeError> {
    let text = client
        .request_text(req)
        .await
        .map_err(|e| KubeError::from_kube(action, e))?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Reads the finding's owner and computes the change; refuses findings that
/// cannot be applied in place (not runnable, a bare pod, a Job).
pub async fn prepare(client: &kube::Client, f: &Finding) -> Result<Prepared, KubeError> {
    if !f.runnable {
        return Err(refuse(format!(
            "the diagnosis of pod {}/{} has no automatic change (runnable: false): {}",
            f.namespace, f.pod, f.suggested_fix
        )));
    }
    let Some(owner) = &f.owner else {
        return Err(refuse(format!(
            "pod {}/{} has no owning workload, and a pod's spec cannot be changed in place: recreate it with the patch (podmirror preview {} -n {} --patch FILE shows the result)",
            f.namespace, f.pod, f.pod, f.namespace
        )));
    };
    let Some(path) = workload_path(&owner.kind, &f.namespace, &owner.name) else {
        return Err(refuse(format!(
            "{} {} cannot take the fix in place ({}): {}",
            owner.kind,
            owner.name,
            if owner.kind == "Job" {
                "a Job's pod template cannot change; delete and recreate the Job with the patch"
            } else {
                "podmirror patches Deployments, StatefulSets, DaemonSets and ReplicaSets"
            },
            f.fix_command
        )));
    };
    let target = format!("{}/{}", owner.kind.to_ascii_lowercase(), owner.name);
    let get = http::Request::get(&path)
        .body(Vec::new())
        .map_err(|e| refuse(e.to_string()))?;
    let current = send(client, &format!("read {target}"), get).await?;
    let before = current
        .pointer("/spec/template/spec")
        .cloned()
        .ok_or_else(|| refuse(format!("{target} has no spec.template.spec")))?;
    let ops: json_patch::Patch = serde_json::from_value(f.patch.clone())
        .map_err(|e| refuse(format!("the stored patch is not a JSON Patch: {e}")))?;
    let mut after = before.clone();
    json_patch::patch(&mut after, &ops).map_err(|e| {
        refuse(format!(
            "the patch does not apply to {target}'s pod template: {e}"
        ))
    })?;
    let mut body = vec![json!({"op": "test", "path": "/metadata/resourceVersion",
        "value": current.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)})];
    body.extend(template_ops(&f.patch));
    Ok(Prepared {
        target,
        kind: owner.kind.to_ascii_lowercase(),
        name: owner.name.clone(),
        before,
        after,
        body,
        path,
    })
}

/// Sends the prepared patch.
pub async fn apply(client: &kube::Client, p: &Prepared) -> Result<(), KubeError> {
    let bytes = serde_json::to_vec(&p.body).unwrap_or_default();
    let req = http::Request::patch(format!(
        "{}?fieldManager={}",
        p.path,
        crate::mirrors::FIELD_MANAGER
    ))
    .header(http::header::CONTENT_TYPE, "application/json-patch+json")
    .body(bytes)
    .map_err(|e| refuse(e.to_string()))?;
    send(client, &format!("patch {}", p.target), req).await?;
    Ok(())
}
