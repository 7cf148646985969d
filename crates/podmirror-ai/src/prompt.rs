//! The prompt: the pod's context as JSON with every env value and anything
//! Secret-like taken out, and the answer's shape. Secret data is never in
//! the context (`podmirror-kube` reads Secret keys only); env values are
//! replaced by `<redacted>` and scrubbed from log and event text too, where
//! a program may have printed them.

use podmirror_core::diagnosis::{Context, Finding};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// `system` or `user`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// What stands in for a removed value.
const REDACTED: &str = "<redacted>";

/// Values shorter than this are not scrubbed from free text (`1`, `on`
/// would blank out unrelated words); they are still removed from the spec.
const MIN_SCRUB: usize = 4;

const SYSTEM: &str = "You diagnose failing Kubernetes pods. You are given one pod's context as JSON: \
the pod (env values redacted), its events, the last log lines of its containers, its owner and \
rollout history, the ConfigMaps, Secrets (names and keys only), PersistentVolumeClaims and nodes of \
its namespace, and what podmirror's rules found, if anything. Answer with one JSON object and nothing \
else, of this shape:\n\
{\"category\": one of \"image-pull\", \"crash-loop\", \"oom-killed\", \"config-error\", \"unschedulable\", \
\"probe\", \"evicted\", \"init-container\", \"lifecycle-hook\",\n \"diagnosis\": why the pod fails, one or two sentences,\n \
\"suggested_fix\": what to change, in words,\n \"evidence\": [the status fields, event and log lines you used],\n \
\"patch\": [RFC 6902 JSON Patch operations on the pod's spec, paths relative to the spec, e.g. \
{\"op\": \"replace\", \"path\": \"/containers/0/image\", \"value\": \"registry.example.com/app:1.2.3\"}],\n \
\"confidence\": 0.0 to 1.0,\n \"runnable\": true when the patch alone fixes the pod, false when a person must act \
(then say exactly what to create)}.\n\
The patch may only touch, under /containers/N/ or /initContainers/N/: image, imagePullPolicy, command, args, \
env, envFrom, resources, ports, livenessProbe, readinessProbe, startupProbe, workingDir; and \
/imagePullSecrets, /nodeSelector, /tolerations, /affinity. Never invent Secret values.";

/// The chat messages for `ctx`'s pod.
pub fn messages(ctx: &Context, rules: Option<&Finding>) -> Vec<Message> {
    let facts = redacted_context(ctx, rules);
    vec![
        Message {
            role: "system",
            content: SYSTEM.to_string(),
        },
        Message {
            role: "user",
            content: facts.to_string(),
        },
    ]
}

/// `ctx` as the JSON the LLM sees: env values and annotations removed, free
/// text scrubbed of the values.
pub fn redacted_context(ctx: &Context, rules: Option<&Finding>) -> Value {
    let mut secrets_seen = Vec::new();
    let pod = redact_pod(&ctx.pod, &mut secrets_seen);
    let history: Vec<Value> = ctx
        .history
        .iter()
        .map(|r| {
            let mut spec = r.spec.clone();
            redact_spec(&mut spec, &mut secrets_seen);
            json!({"revision": r.number, "ran": r.ran, "spec": spec})
        })
        .collect();
    // Longest first, so a value that contains another is scrubbed whole.
    secrets_seen.sort_by_key(|s: &String| std::cmp::Reverse(s.len()));
    secrets_seen.dedup();
    let scrub = |s: &str| -> String {
        let mut out = s.to_string();
        for v in secrets_seen.iter().filter(|v| v.len() >= MIN_SCRUB) {
            out = out.replace(v.as_str(), REDACTED);
        }
        out
    };
    let events: Vec<Value> = ctx
        .events
        .iter()
        .map(
            |e| json!({"type": e.kind, "reason": e.reason, "message": e.message, "count": e.count}),
        )
        .collect();
    let logs: Map<String, Value> = ctx
        .logs
        .iter()
        .map(|(c, (current, previous))| {
            (c.clone(), json!({"current": current, "previous": previous}))
        })
        .collect();
    let secrets: Map<String, Value> = ctx
        .secrets
        .iter()
        .map(|(n, s)| (n.clone(), json!({"type": s.kind, "keys": s.keys})))
        .collect();
    let nodes: Vec<Value> = ctx
        .nodes
        .iter()
        .map(|n| {
            json!({"name": n.name, "labels": n.labels, "taints": n.taints.iter().map(|(k, v, e)| json!({"key": k, "value": v, "effect": e})).collect::<Vec<_>>(),
                "allocatable": {"memoryBytes": n.memory_bytes, "cpuMillis": n.cpu_millis}})
        })
        .collect();
    let rules = rules.map(|f| {
        // A rule's patch sets env lists whole, values included.
        let mut patch = f.patch.clone();
        redact_env_entries(&mut patch);
        json!({"category": f.category, "diagnosis": f.diagnosis, "suggested_fix": f.suggested_fix,
            "patch": patch, "confidence": f.confidence_score, "runnable": f.runnable})
    });
    let mut facts = json!({
        "pod": pod,
        "events": events,
        "logs": logs,
        "owner": ctx.owner,
        "rolloutHistory": history,
        "configMaps": ctx.configmaps,
        "secrets": secrets,
        "persistentVolumeClaims": ctx.pvcs.iter().map(|(n, (phase, class))| json!({"name": n, "phase": phase, "storageClass": class})).collect::<Vec<_>>(),
        "storageClasses": ctx.storage_classes,
        "nodes": nodes,
        "rulesFound": rules,
    });
    scrub_strings(&mut facts, &scrub);
    facts
}

/// Applies `scrub` to every string in `v`.
fn scrub_strings(v: &mut Value, scrub: &impl Fn(&str) -> String) {
    match v {
        Value::String(s) => {
            let clean = scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub_strings(i, scrub)),
        Value::Object(m) => m.values_mut().for_each(|i| scrub_strings(i, scrub)),
        _ => {}
    }
}

/// Redacts the `value` of every `{name, value}` env entry anywhere in `v`.
fn redact_env_entries(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(redact_env_entries),
        Value::Object(m) => {
            if m.contains_key("name") && m.get("value").is_some_and(Value::is_string) {
                m.insert("value".into(), json!(REDACTED));
            }
            m.values_mut().for_each(redact_env_entries);
        }
        _ => {}
    }
}

fn redact_pod(pod: &Value, seen: &mut Vec<String>) -> Value {
    let mut out = json!({
        "metadata": {
            "name": pod.pointer("/metadata/name"),
            "namespace": pod.pointer("/metadata/namespace"),
            "labels": pod.pointer("/metadata/labels"),
            "ownerReferences": pod.pointer("/metadata/ownerReferences"),
        },
        "spec": pod.get("spec").cloned().unwrap_or(Value::Null),
        "status": pod.get("status").cloned().unwrap_or(Value::Null),
    });
    redact_spec(&mut out["spec"], seen);
    out
}

/// Replaces every literal env value in a PodSpec, remembering the values.
fn redact_spec(spec: &mut Value, seen: &mut Vec<String>) {
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) else {
                continue;
            };
            for e in env {
                if let Some(v) = e.get_mut("value") {
                    if let Some(s) = v.as_str() {
                        seen.push(s.to_string());
                    }
                    *v = json!(REDACTED);
                }
            }
        }
    }
}
