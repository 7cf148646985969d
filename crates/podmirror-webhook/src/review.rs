//! AdmissionReview v1 in and out: reads the request, asks [`decide`] and
//! answers with the same `apiVersion` and `uid`, `allowed: true` always
//! (the tap never refuses a pod), and — when injecting — `patchType:
//! JSONPatch` with the patch as base64 of its JSON bytes.

use crate::decide::{self, Decision, NamespaceView};
use crate::patch;
use base64::Engine;
use serde_json::{Value, json};

/// A review that cannot be answered (not an AdmissionReview v1 request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an AdmissionReview admission.k8s.io/v1 request: {0}")]
pub struct BadReview(pub String);

/// What the webhook knows beyond the request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The tap's image.
    pub image: String,
    /// The namespace podmirror runs in (never tapped).
    pub own_namespace: String,
}

/// The parts of a request [`answer`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request's uid, echoed back.
    pub uid: String,
    /// The namespace of the pod.
    pub namespace: String,
    /// The pod.
    pub object: Value,
    /// Whether this is a pod CREATE (anything else is let through untouched).
    pub pod_create: bool,
}

/// Reads an AdmissionReview.
pub fn parse(body: &[u8]) -> Result<Request, BadReview> {
    let review: Value = serde_json::from_slice(body)
        .map_err(|e| BadReview(format!("the body is not JSON: {e}")))?;
    if review["apiVersion"] != "admission.k8s.io/v1" || review["kind"] != "AdmissionReview" {
        return Err(BadReview(format!(
            "apiVersion {} kind {}",
            review["apiVersion"], review["kind"]
        )));
    }
    let request = &review["request"];
    let uid = request["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| BadReview("request.uid is missing".into()))?;
    let pod_create = request["operation"] == "CREATE"
        && request["resource"]["resource"] == "pods"
        && request["resource"]["group"]
            .as_str()
            .unwrap_or("")
            .is_empty()
        && request["subResource"].as_str().unwrap_or("").is_empty();
    Ok(Request {
        uid: uid.to_string(),
        namespace: request["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        object: request["object"].clone(),
        pod_create,
    })
}

/// Decides for a parsed request given its namespace (`None`: it could not
/// be read, and the pod goes without the tap, with a warning).
pub fn decide_for(request: &Request, ns: Option<&NamespaceView>, settings: &Settings) -> Decision {
    if !request.pod_create {
        return Decision {
            tap: None,
            skipped: Some("not a pod create".into()),
            warnings: Vec::new(),
        };
    }
    match ns {
        Some(ns) => decide::decide(ns, &request.object, &settings.own_namespace),
        None => {
            let why = format!(
                "podmirror tap: could not read namespace {}; pod {} was created without the tap",
                request.namespace,
                decide::pod_name(&request.object)
            );
            Decision {
                tap: None,
                skipped: Some(why.clone()),
                warnings: vec![why],
            }
        }
    }
}

/// The AdmissionReview response for a decision.
pub fn answer(request: &Request, decision: &Decision, settings: &Settings) -> Value {
    let mut response = json!({"uid": request.uid, "allowed": true});
    if let Some(tap) = &decision.tap {
        let ops = patch::patch(&request.object, &settings.image, tap);
        let bytes = serde_json::to_vec(&ops).unwrap_or_default();
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    if !decision.warnings.is_empty() {
        response["warnings"] = json!(decision.warnings);
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{ANN_DEFAULT_INJECT, LABEL_TAP};

    fn review(object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "shop",
                "operation": "CREATE",
                "object": object,
            }
        }))
        .unwrap_or_default()
    }

    #[test]
    fn the_patch_travels_as_base64_and_applies_to_the_pod() {
        let pod = json!({
            "metadata": {"name": "api-1"},
            "spec": {"initContainers": [{"name": "migrate", "image": "m"}],
                     "containers": [{"name": "api", "image": "a", "ports": [{"containerPort": 8080}]}]},
        });
        let request = parse(&review(pod.clone())).unwrap_or_else(|e| panic!("{e}"));
        let settings = Settings {
            image: "ghcr.io/podmirror/podmirror:0.1.0".into(),
            own_namespace: "podmirror".into(),
        };
        let mut ns = NamespaceView {
            name: "shop".into(),
            ..Default::default()
        };
        ns.labels.insert(LABEL_TAP.into(), "enabled".into());
        ns.annotations
            .insert(ANN_DEFAULT_INJECT.into(), "true".into());
        let decision = decide_for(&request, Some(&ns), &settings);
        let out = answer(&request, &decision, &settings);
        let response = &out["response"];
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["allowed"], true);
        assert_eq!(response["patchType"], "JSONPatch");
        let text = response["patch"].as_str().unwrap_or_default();
        assert!(!text.starts_with('['), "the patch is base64, not raw JSON");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default();
        let patch: json_patch::Patch =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut patched = pod;
        json_patch::patch(&mut patched, &patch).unwrap_or_else(|e| panic!("{e}"));
        let init = patched["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(init.len(), 2);
        assert_eq!(init[0]["name"], "podmirror-tap", "the sidecar starts first");
        assert_eq!(init[0]["restartPolicy"], "Always");
        assert_eq!(
            init[0]["args"],
            json!(["tap", "--mode", "ingress", "--ports", "8080"])
        );
        assert_eq!(init[1]["name"], "migrate");
        assert_eq!(
            patched["metadata"]["annotations"]["tap.podmirror.dev/status"],
            "injected"
        );
    }

    #[test]
    fn other_requests_pass_untouched_and_garbage_is_refused() {
        let mut body: Value = serde_json::from_slice(&review(json!({}))).unwrap_or_default();
        body["request"]["operation"] = json!("UPDATE");
        let request =
            parse(&serde_json::to_vec(&body).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        let settings = Settings {
            image: "i".into(),
            own_namespace: "podmirror".into(),
        };
        let out = answer(&request, &decide_for(&request, None, &settings), &settings);
        assert_eq!(out["response"]["allowed"], true);
        assert!(
            out["response"].get("patch").is_none() && out["response"].get("warnings").is_none()
        );
        assert!(parse(b"{}").is_err());
        assert!(
            parse(b"not json")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }
}
