//! Workloads that have no pod to diagnose: the API server refuses to create
//! their pods (a ResourceQuota, a missing ServiceAccount, Pod Security, an
//! admission webhook: `FailedCreate` events on the workload or its
//! ReplicaSet), a Deployment whose rollout stopped progressing, a Job that
//! reached its backoff limit. The context's pod is the workload's template
//! as a pod, so a fix is a PodSpec patch like any other.

use super::{Category, Context, Found, guess, list, memory_bytes, mib, text};
use serde_json::{Value, json};

/// The workload's part of a context: what its owner chain says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadState {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `ReplicaSet`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Replicas it wants (a Job: parallelism; a DaemonSet: nodes it targets).
    pub desired: i64,
    /// Its pods that exist now.
    pub pods: i64,
    /// The events of the workload and of its ReplicaSets, oldest first.
    pub events: Vec<super::EventLine>,
    /// Its conditions and its newest ReplicaSet's: (type, status, reason, message).
    pub conditions: Vec<(String, String, String, String)>,
}

/// The workload rules, before any pod rule.
pub(super) fn diagnose(ctx: &Context) -> Option<Found> {
    let w = ctx.workload.as_ref()?;
    refused(ctx, w)
        .or_else(|| job_failed(w))
        .or_else(|| stalled(w))
}

/// The API server's reason for refusing a pod, from a FailedCreate message:
/// `Error creating: pods "x-" is forbidden: …` (ReplicaSet, DaemonSet, Job
/// controllers) or `create Pod web-0 in StatefulSet web failed error: …`.
fn refusal(message: &str) -> &str {
    message
        .split_once(" is forbidden: ")
        .map(|(_, why)| why)
        .or_else(|| message.strip_prefix("Error creating: "))
        .or_else(|| message.split_once(" failed error: ").map(|(_, why)| why))
        .unwrap_or(message)
}

fn refused(ctx: &Context, w: &WorkloadState) -> Option<Found> {
    // The newest refusal: an event, else a ReplicaFailure condition.
    let from_event = w
        .events
        .iter()
        .rev()
        .find(|e| e.reason == "FailedCreate")
        .map(|e| {
            (
                format!("event FailedCreate (x{}): {}", e.count.max(1), e.message),
                e.message.clone(),
            )
        });
    let from_condition = w
        .conditions
        .iter()
        .find(|(t, s, r, _)| t == "ReplicaFailure" && s == "True" && r == "FailedCreate")
        .map(|(_, _, _, m)| {
            (
                format!("condition ReplicaFailure (FailedCreate): {m}"),
                m.clone(),
            )
        });
    let (evidence, message) = from_event.or(from_condition)?;
    let why = refusal(&message).to_string();
    let target = format!("{}/{}", w.kind.to_ascii_lowercase(), w.name);
    let mut f = Found::new(
        Category::Admission,
        format!(
            "The API server refuses to create the pods of {target} ({} of {} exist): {why}",
            w.pods, w.desired
        ),
        String::new(),
    );
    f.evidence.push(evidence);
    f.confidence = 0.9;
    let spec = ctx.pod.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(rest) = why.strip_prefix("exceeded quota: ") {
        quota_exceeded(&mut f, &spec, rest);
    } else if let Some(rest) = why.strip_prefix("failed quota: ") {
        quota_unspecified(&mut f, &spec, rest);
    } else if why.starts_with("error looking up service account ") {
        service_account(&mut f, ctx, &spec, &why);
    } else if why.starts_with("violates PodSecurity ") {
        pod_security(&mut f, &spec, &why);
    } else if let Some(rest) = why.strip_prefix("admission webhook ") {
        let webhook = rest.split('"').nth(1).unwrap_or(rest);
        f.suggested_fix = format!(
            "The admission webhook {webhook:?} refuses the pod; its words above say what it wants. Change the template to satisfy it (only its owners know its policy), or ask them."
        );
        f.confidence = 0.8;
    } else {
        f.suggested_fix = "Read the API server's words above: they name what it refuses.".into();
        f.confidence = 0.5;
    }
    Some(f)
}

/// `k=v,k=v` as a quota message lists resources.
fn resources(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A quantity of `resource` in base units (bytes, millicores, a count).
fn amount(resource: &str, q: &str) -> Option<i64> {
    if resource.ends_with("memory") || resource.ends_with("storage") {
        memory_bytes(q)
    } else if resource.ends_with("cpu") {
        q.strip_suffix('m')
            .and_then(|m| m.parse().ok())
            .or_else(|| q.parse::<f64>().ok().map(|c| (c * 1000.0) as i64))
    } else {
        q.parse().ok()
    }
}

/// Base units back to a quantity.
fn quantity(resource: &str, n: i64) -> String {
    if resource.ends_with("cpu") {
        format!("{n}m")
    } else {
        mib(n)
    }
}

/// `NAME, requested: …, used: …, limited: …`: each pod asks for less than
/// what is left of the quota, when something is left.
fn quota_exceeded(f: &mut Found, spec: &Value, rest: &str) {
    let name = rest.split(',').next().unwrap_or("").trim().to_string();
    let part = |label: &str| {
        rest.split_once(&format!("{label}: "))
            .map(|(_, r)| r.split(", ").next().unwrap_or(""))
            .map(resources)
            .unwrap_or_default()
    };
    let (requested, used, limited) = (part("requested"), part("used"), part("limited"));
    let value_of = |list: &[(String, String)], r: &str| {
        list.iter()
            .find(|(k, _)| k == r)
            .and_then(|(_, v)| amount(r, v))
    };
    let mut ops = Vec::new();
    let mut said = Vec::new();
    let mut full = Vec::new();
    for (resource, asked) in &requested {
        let (Some(asked), Some(used_now), Some(hard)) = (
            amount(resource, asked),
            value_of(&used, resource),
            value_of(&limited, resource),
        ) else {
            continue;
        };
        let left = hard - used_now;
        // A pod count or a quota used up: nothing to ask less of.
        let field = match resource.as_str() {
            "requests.cpu" | "cpu" => Some(("requests", "cpu")),
            "requests.memory" | "memory" => Some(("requests", "memory")),
            "limits.cpu" => Some(("limits", "cpu")),
            "limits.memory" => Some(("limits", "memory")),
            _ => None,
        };
        let Some((kind, what)) = field.filter(|_| left > 0 && asked > 0) else {
            full.push(format!(
                "{resource} ({} used of {})",
                quantity_of(resource, used_now),
                quantity_of(resource, hard)
            ));
            continue;
        };
        // Every container's share scaled so the pod fits what is left.
        for (i, c) in list(spec, "/containers").iter().enumerate() {
            let Some(now) = amount(resource, text(c, &format!("/resources/{kind}/{what}"))) else {
                continue;
            };
            let scaled = ((now as i128 * left as i128) / asked as i128) as i64;
            let value = quantity(resource, scaled.max(1));
            let mut resources = c.get("resources").cloned().unwrap_or_else(|| json!({}));
            resources[kind][what] = json!(value);
            // A request may not exceed its limit.
            if kind == "limits"
                && amount(resource, text(&resources, &format!("/requests/{what}")))
                    .is_some_and(|r| r > scaled)
            {
                resources["requests"][what] = json!(value);
            }
            ops.push((i, resources));
            said.push(format!("{} {kind}.{what} {value}", text(c, "/name")));
        }
    }
    if ops.is_empty() {
        f.suggested_fix = format!(
            "The quota {name} is used up: {}. Free some (scale down or delete what uses it) or ask for a larger quota; asking for less cannot fit a pod.",
            full.join(", ")
        );
        return;
    }
    // One resources object per container, the later resource's edits included.
    let mut merged: Vec<(usize, Value)> = Vec::new();
    for (i, r) in ops {
        match merged.iter_mut().find(|(j, _)| *j == i) {
            Some((_, m)) => {
                for kind in ["requests", "limits"] {
                    if let Some(o) = r.get(kind).and_then(Value::as_object) {
                        for (k, v) in o {
                            m[kind][k] = v.clone();
                        }
                    }
                }
            }
            None => merged.push((i, r)),
        }
    }
    for (i, r) in merged {
        f.patch
            .push(json!({"op": "add", "path": format!("/containers/{i}/resources"), "value": r}));
    }
    f.evidence.push(format!(
        "quota {name}: requested {}, used {}, limited {}",
        join(&requested),
        join(&used),
        join(&limited)
    ));
    f.suggested_fix = format!(
        "Ask for what is left of the quota {name}: {} (a guess: a mirror shows whether the app runs with that much; otherwise free some of the quota or ask for a larger one).",
        said.join(", ")
    );
    f.confidence = 0.55;
    f.runnable = true;
}

fn quantity_of(resource: &str, n: i64) -> String {
    if resource.ends_with("cpu") || resource.ends_with("memory") {
        quantity(resource, n)
    } else {
        n.to_string()
    }
}

fn join(list: &[(String, String)]) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `NAME: must specify limits.cpu,requests.memory`: the template gives
/// every container the named values it lacks (its limit when it has one,
/// else a small default), each a guess for a mirror.
fn quota_unspecified(f: &mut Found, spec: &Value, rest: &str) {
    let (name, wanted) = rest.split_once(": must specify ").unwrap_or((rest, ""));
    // `limits.memory for: app,sidecar; requests.cpu for: app` (older API
    // servers: `limits.memory,requests.cpu`, for every container)
    let mut needs: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for item in wanted.split("; ") {
        match item.split_once(" for: ") {
            Some((r, cs)) => needs.push((
                r.trim().to_string(),
                Some(cs.split(',').map(|c| c.trim().to_string()).collect()),
            )),
            None => needs.extend(
                item.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(|r| (r.to_string(), None)),
            ),
        }
    }
    let mut said = Vec::new();
    for (i, c) in list(spec, "/containers").iter().enumerate() {
        let mut resources = c
            .get("resources")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        let mut changed = false;
        let cname = text(c, "/name");
        for (r, only) in &needs {
            if only
                .as_ref()
                .is_some_and(|cs| !cs.iter().any(|n| n == cname))
            {
                continue;
            }
            let Some((kind, what)) = r.split_once('.') else {
                continue;
            };
            if resources.pointer(&format!("/{kind}/{what}")).is_some() {
                continue;
            }
            let other = if kind == "requests" {
                "limits"
            } else {
                "requests"
            };
            let value = resources
                .pointer(&format!("/{other}/{what}"))
                .cloned()
                .unwrap_or_else(|| json!(if what == "cpu" { "100m" } else { "128Mi" }));
            said.push(format!(
                "{cname} {kind}.{what} {}",
                value.as_str().unwrap_or("")
            ));
            resources[kind][what] = value;
            changed = true;
        }
        if changed {
            f.patch.push(json!({"op": "add", "path": format!("/containers/{i}/resources"), "value": resources}));
        }
    }
    if f.patch.is_empty() {
        f.suggested_fix =
            format!("The quota {name} requires {wanted} on every container: set them.");
        return;
    }
    f.suggested_fix = format!(
        "The quota {name} requires {wanted} on every container: set {} (a guess where no value was given: a mirror shows whether the app runs with it).",
        said.join(", ")
    );
    f.confidence = 0.6;
    f.runnable = true;
}

/// `error looking up service account NS/NAME: serviceaccount "NAME" not
/// found`: the ServiceAccount with a close name, else the namespace's
/// default one, each a guess.
fn service_account(f: &mut Found, ctx: &Context, spec: &Value, why: &str) {
    let wanted = why
        .split_once("service account ")
        .and_then(|(_, r)| r.split(':').next())
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or("")
        .to_string();
    let ns = text(&ctx.pod, "/metadata/namespace").to_string();
    let create = format!("kubectl -n {ns} create serviceaccount {wanted}");
    f.suggested_fix = format!(
        "Create the ServiceAccount {wanted:?} ({create}) with the Role bindings the app needs, or point serviceAccountName at one that exists."
    );
    let op = |to: &str| {
        let field = if spec.get("serviceAccountName").is_some() {
            "serviceAccountName"
        } else {
            "serviceAccount"
        };
        vec![json!({"op": "add", "path": format!("/{field}"), "value": to})]
    };
    let names: Vec<&str> = ctx.service_accounts.iter().map(String::as_str).collect();
    for one in guess::closest(&wanted, names.iter().copied()) {
        f.also(
            format!(
                "Use the ServiceAccount {one:?} instead of {wanted:?}, which does not exist (a guess from the close name: a mirror shows whether the app runs with its permissions). If {wanted:?} is meant: {create}."
            ),
            op(one),
            0.6,
        );
    }
    if wanted != "default" && names.contains(&"default") {
        f.also(
            format!(
                "Run as the namespace's default ServiceAccount instead of {wanted:?}, which does not exist (a guess: it has fewer permissions, and a mirror shows whether the app needs more). If {wanted:?} is meant: {create}."
            ),
            op("default"),
            0.35,
        );
    }
    f.evidence.push(format!(
        "ServiceAccounts in {ns}: {}",
        if names.is_empty() {
            "none readable".to_string()
        } else {
            names.join(", ")
        }
    ));
}

/// `violates PodSecurity "restricted:latest": …`: every setting the level
/// asks for, on every container (the policy's own words name them).
fn pod_security(f: &mut Found, spec: &Value, why: &str) {
    let level = why.split('"').nth(1).unwrap_or("").to_string();
    let mut settings: Vec<(&str, Value)> = Vec::new();
    if why.contains("allowPrivilegeEscalation != false") {
        settings.push(("allowPrivilegeEscalation", json!(false)));
    }
    if why.contains("unrestricted capabilities") {
        settings.push(("capabilities", json!({"drop": ["ALL"]})));
    }
    if why.contains("runAsNonRoot != true") {
        settings.push(("runAsNonRoot", json!(true)));
    }
    if why.contains("seccompProfile") {
        settings.push(("seccompProfile", json!({"type": "RuntimeDefault"})));
    }
    if why.contains("privileged (") {
        settings.push(("privileged", json!(false)));
    }
    if settings.is_empty() {
        f.suggested_fix = format!(
            "The namespace enforces Pod Security {level:?}: change what the message names (host namespaces, hostPath volumes, host ports cannot be set by a guess), or run it elsewhere."
        );
        f.confidence = 0.7;
        return;
    }
    let names: Vec<&str> = settings.iter().map(|(k, _)| *k).collect();
    let ops = |with_user: bool| -> Vec<Value> {
        list(spec, "/containers")
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut sc = c
                    .get("securityContext")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                for (k, v) in &settings {
                    sc[*k] = v.clone();
                }
                if with_user {
                    sc["runAsUser"] = json!(guess::NON_ROOT_UID);
                }
                json!({"op": "add", "path": format!("/containers/{i}/securityContext"), "value": sc})
            })
            .collect()
    };
    f.also(
        format!(
            "Set securityContext {} on every container, as Pod Security {level:?} asks (a guess: a mirror shows whether the app runs so restricted).",
            names.join(", ")
        ),
        ops(false),
        0.55,
    );
    if names.contains(&"runAsNonRoot") {
        f.also(
            format!(
                "The same, and runAsUser {} for an image whose user is root (a guess a mirror proves).",
                guess::NON_ROOT_UID
            ),
            ops(true),
            0.45,
        );
    }
}

/// A Job that reached its backoff limit (its pods may be gone).
fn job_failed(w: &WorkloadState) -> Option<Found> {
    let (_, _, reason, message) = w
        .conditions
        .iter()
        .find(|(t, s, _, _)| t == "Failed" && s == "True")?;
    let mut f = Found::new(
        Category::JobFailed,
        format!("Job {} failed: {reason}: {message}", w.name),
        "Its pods failed: diagnose one of them (kubectl get pods -l job-name=NAME), fix the template and create the Job again; a Job's template cannot change.".into(),
    );
    f.evidence
        .push(format!("condition Failed ({reason}): {message}"));
    f.confidence = 0.6;
    Some(f)
}

/// A Deployment whose rollout stopped progressing with no failing pod to say why.
fn stalled(w: &WorkloadState) -> Option<Found> {
    let (_, _, _, message) = w.conditions.iter().find(|(t, s, r, _)| {
        t == "Progressing" && s == "False" && r == "ProgressDeadlineExceeded"
    })?;
    let mut f = Found::new(
        Category::Rollout,
        format!(
            "The rollout of deployment/{} stopped progressing: {message}",
            w.name
        ),
        format!(
            "Its new pods never became available in time: see kubectl rollout status deployment/{0} and the new ReplicaSet's pods; kubectl rollout undo deployment/{0} goes back to the revision that ran.",
            w.name
        ),
    );
    f.evidence.push(format!(
        "condition Progressing (ProgressDeadlineExceeded): {message}"
    ));
    f.confidence = 0.5;
    Some(f)
}
