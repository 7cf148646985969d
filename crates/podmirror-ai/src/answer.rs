//! Reading the LLM's answer: one JSON object (a code fence around it is
//! tolerated), a known category, and a patch whose every path is one a fix
//! may touch. Anything else is refused with the reason.

use crate::AiError;
use podmirror_core::diagnosis::{Category, Proposal};
use serde::Deserialize;
use serde_json::Value;

/// The container fields a fix may change, under `/containers/N/` or
/// `/initContainers/N/`. Not among them: securityContext, volumeMounts and
/// anything that widens what the pod may do on its node.
pub const ALLOWED_FIELDS: &[&str] = &[
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
    "envFrom",
    "resources",
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "workingDir",
];

/// Pod-level fields a fix may change.
const ALLOWED_POD_FIELDS: &[&str] = &[
    "imagePullSecrets",
    "nodeSelector",
    "tolerations",
    "affinity",
];

#[derive(Debug, Deserialize)]
struct Answer {
    category: String,
    diagnosis: String,
    suggested_fix: String,
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    patch: Vec<Value>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    runnable: Option<bool>,
}

/// The JSON object in `content` (bare, or inside a ```json fence).
fn json_text(content: &str) -> &str {
    let t = content.trim();
    match (t.find('{'), t.rfind('}')) {
        (Some(a), Some(b)) if a < b => &t[a..=b],
        _ => t,
    }
}

/// Reads and checks an answer.
pub fn read_answer(content: &str) -> Result<Proposal, AiError> {
    let answer: Answer = serde_json::from_str(json_text(content)).map_err(|e| {
        let start: String = content.chars().take(80).collect();
        AiError::Shape(format!("{e}; it began {start:?}"))
    })?;
    let category: Category = serde_json::from_value(Value::String(answer.category.clone()))
        .map_err(|_| {
            AiError::Shape(format!(
                "unknown category {:?}; expected image-pull, crash-loop, oom-killed, config-error, unschedulable, probe, evicted, init-container or lifecycle-hook",
                answer.category
            ))
        })?;
    if answer.diagnosis.trim().is_empty() || answer.suggested_fix.trim().is_empty() {
        return Err(AiError::Shape(
            "diagnosis and suggested_fix must not be empty".into(),
        ));
    }
    if serde_json::from_value::<json_patch::Patch>(Value::Array(answer.patch.clone())).is_err() {
        return Err(AiError::Shape(
            "patch is not a list of JSON Patch operations".into(),
        ));
    }
    check_paths(&answer.patch)?;
    let confidence = answer.confidence.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&confidence) {
        return Err(AiError::Shape(format!(
            "confidence {confidence} is not between 0 and 1"
        )));
    }
    Ok(Proposal {
        category,
        diagnosis: answer.diagnosis,
        suggested_fix: answer.suggested_fix,
        evidence: answer.evidence,
        runnable: answer.runnable.unwrap_or(true) && !answer.patch.is_empty(),
        patch: answer.patch,
        confidence,
    })
}

/// Refuses any op outside the allowed paths, and `move`/`copy` (they read
/// from a second path).
pub fn check_paths(patch: &[Value]) -> Result<(), AiError> {
    for op in patch {
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        if !allowed(kind, path) {
            return Err(AiError::ForbiddenPath {
                path: format!("{kind} {path}"),
                allowed: ALLOWED_FIELDS.join(", "),
            });
        }
    }
    Ok(())
}

fn allowed(op: &str, path: &str) -> bool {
    if !matches!(op, "add" | "replace" | "remove" | "test") {
        return false;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [list, i, field, ..] if matches!(*list, "containers" | "initContainers") => {
            i.parse::<usize>().is_ok()
                && (ALLOWED_FIELDS.contains(field) || (op == "test" && *field == "name"))
        }
        [field, ..] => ALLOWED_POD_FIELDS.contains(field),
        [] => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_fenced_answer_is_read() {
        let p = read_answer(
            "Here it is:\n```json\n{\"category\":\"image-pull\",\"diagnosis\":\"tag 9.9 does not exist\",\"suggested_fix\":\"use 1.4.1\",\"patch\":[{\"op\":\"replace\",\"path\":\"/containers/0/image\",\"value\":\"api:1.4.1\"}],\"confidence\":0.9}\n```",
        )
        .unwrap();
        assert_eq!(p.category, Category::ImagePull);
        assert!(p.runnable);
        assert_eq!(p.confidence, 0.9);
    }

    #[test]
    fn only_fix_paths_pass() {
        for ok in [
            ("replace", "/containers/0/resources/limits/memory"),
            ("add", "/initContainers/1/env/-"),
            ("test", "/containers/0/name"),
            ("add", "/tolerations/-"),
            ("remove", "/nodeSelector"),
        ] {
            assert!(allowed(ok.0, ok.1), "{ok:?}");
        }
        for bad in [
            ("add", "/containers/0/securityContext"),
            ("replace", "/containers/0/name"),
            ("add", "/containers/-"),
            ("add", "/volumes/-"),
            ("replace", "/hostNetwork"),
            ("replace", "/serviceAccountName"),
            ("copy", "/containers/0/image"),
            ("add", "/containers/x/image"),
            ("add", ""),
        ] {
            assert!(!allowed(bad.0, bad.1), "{bad:?}");
        }
    }

    #[test]
    fn wrong_shapes_say_what_was_wrong() {
        let e = read_answer("I think the image is wrong.")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the JSON"), "{e}");
        let e = read_answer(r#"{"category":"network","diagnosis":"d","suggested_fix":"f"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown category \"network\""), "{e}");
        let e = read_answer(r#"{"category":"probe","diagnosis":"d","suggested_fix":"f","patch":[{"op":"add","path":"/hostPID","value":true}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"add /hostPID\""), "{e}");
        let e = read_answer(
            r#"{"category":"probe","diagnosis":"d","suggested_fix":"f","confidence":7}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("confidence 7"), "{e}");
        // No patch: a diagnosis a person acts on.
        let p = read_answer(r#"{"category":"config-error","diagnosis":"d","suggested_fix":"create secret db","runnable":true}"#).unwrap();
        assert!(!p.runnable);
    }
}
