//! The MutatingWebhookConfiguration: made whole by the webhook when it runs
//! outside the cluster (`--register-url`, for the demo and tests), and in
//! every case kept trusting the webhook's current CA (`caBundle`).

use crate::WebhookError;
use crate::decide::{LABEL_MIRROR, LABEL_TAP};
use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The configuration's name (the chart installs it under this name too).
pub const DEFAULT_NAME: &str = "podmirror-tap";
/// The one webhook in it.
pub const WEBHOOK_NAME: &str = "tap.podmirror.dev";

/// The whole configuration, calling `client_config` (`{url}` or
/// `{service}`) and trusting `ca_pem`.
pub fn object(name: &str, client_config: Value, ca_pem: &str) -> Value {
    let mut client_config = client_config;
    client_config["caBundle"] = json!(bundle(ca_pem));
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "podmirror"}},
        "webhooks": [{
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "timeoutSeconds": 5,
            "reinvocationPolicy": "Never",
            "clientConfig": client_config,
            "namespaceSelector": {"matchLabels": {LABEL_TAP: "enabled"}},
            "objectSelector": {"matchExpressions": [
                {"key": LABEL_MIRROR, "operator": "DoesNotExist"},
            ]},
            "rules": [{
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }],
        }],
    })
}

fn bundle(ca_pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes())
}

/// Creates the configuration, or replaces an existing one's webhooks.
pub async fn register(
    api: &Api<MutatingWebhookConfiguration>,
    name: &str,
    client_config: Value,
    ca_pem: &str,
) -> Result<(), WebhookError> {
    let wanted: MutatingWebhookConfiguration =
        serde_json::from_value(object(name, client_config, ca_pem))
            .map_err(|e| WebhookError::Configuration(e.to_string()))?;
    match api.get_opt(name).await.map_err(WebhookError::kube)? {
        None => {
            api.create(&PostParams::default(), &wanted)
                .await
                .map_err(WebhookError::kube)?;
        }
        Some(_) => {
            let patch = json!({"webhooks": wanted.webhooks});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(WebhookError::kube)?;
        }
    }
    Ok(())
}

/// Makes every webhook of the configuration trust `ca_pem`; returns how
/// many it changed. A missing configuration is an error that says how to
/// install it.
pub async fn keep_ca_bundle(
    api: &Api<MutatingWebhookConfiguration>,
    name: &str,
    ca_pem: &str,
) -> Result<usize, WebhookError> {
    let Some(current) = api.get_opt(name).await.map_err(WebhookError::kube)? else {
        return Err(WebhookError::Configuration(format!(
            "MutatingWebhookConfiguration {name:?} does not exist; install it with the Helm chart (it ships one with an empty caBundle that the webhook fills in), or run the webhook with --register-url"
        )));
    };
    let want = bundle(ca_pem);
    let mut hooks = serde_json::to_value(&current.webhooks)
        .map_err(|e| WebhookError::Configuration(e.to_string()))?;
    let mut changed = 0;
    for hook in hooks.as_array_mut().into_iter().flatten() {
        if hook["clientConfig"]["caBundle"].as_str() != Some(want.as_str()) {
            hook["clientConfig"]["caBundle"] = json!(want);
            changed += 1;
        }
    }
    if changed == 0 {
        return Ok(0);
    }
    // A merge patch replaces the list whole; the resourceVersion makes it
    // fail (409) rather than undo a change made since we read it.
    let patch = json!({
        "metadata": {"resourceVersion": current.metadata.resource_version},
        "webhooks": hooks,
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(WebhookError::kube)?;
    Ok(changed)
}
