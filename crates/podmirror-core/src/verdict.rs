//! Judging a mirror from its pod status: Healthy (every container running
//! and ready with no restarts for a settle period), Failing (why, exit code)
//! or Pending (why not yet). Pure: the caller supplies the pod and times.

use serde::Serialize;
use serde_json::Value;

/// Waiting reasons that mean the container will not come up by itself.
const FAILING_WAITS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// What the mirror shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Verdict {
    /// Running and ready, no restarts, for the settle period.
    Healthy,
    /// It fails: the reason Kubernetes gives, the exit code if it ran.
    Failing {
        /// Container that fails.
        container: String,
        /// `CrashLoopBackOff`, `OOMKilled`, `ImagePullBackOff`, ...
        reason: String,
        /// The message, if any.
        message: String,
        /// Exit code of the last run, if it ran.
        exit_code: Option<i64>,
    },
    /// Not judged yet: why (unschedulable, pulling, settling, ...).
    Pending {
        /// What it is waiting for.
        why: String,
    },
}

impl Verdict {
    /// One word: Healthy, Failing or Pending.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Healthy => "Healthy",
            Verdict::Failing { .. } => "Failing",
            Verdict::Pending { .. } => "Pending",
        }
    }
}

/// Restarts of the pod's containers, summed.
pub fn restarts(pod: &Value) -> i64 {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
        .sum()
}

/// Judges `pod`. `ready_for` is how long (seconds) every container has been
/// ready without a restart, as the caller observed; `settle` the seconds
/// that must pass before Healthy.
pub fn judge(pod: &Value, ready_for: f64, settle: f64) -> Verdict {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    let statuses: Vec<&Value> = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| {
            pod.pointer(&format!("/status/{k}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect();
    for c in &statuses {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let text = |p: &str| {
            c.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let last_exit = c
            .pointer("/lastState/terminated/exitCode")
            .and_then(Value::as_i64);
        let last_reason = text("/lastState/terminated/reason");
        let waiting = text("/state/waiting/reason");
        if FAILING_WAITS.contains(&waiting.as_str()) {
            // A crash loop is best explained by how the last run ended.
            let (reason, exit_code) = if waiting == "CrashLoopBackOff" && !last_reason.is_empty() {
                (last_reason.clone(), last_exit)
            } else {
                (waiting.clone(), last_exit)
            };
            return Verdict::Failing {
                container: name,
                reason,
                message: text("/state/waiting/message"),
                exit_code,
            };
        }
        let term_code = c
            .pointer("/state/terminated/exitCode")
            .and_then(Value::as_i64);
        if let Some(code) = term_code
            && code != 0
        {
            return Verdict::Failing {
                container: name,
                reason: text("/state/terminated/reason"),
                message: text("/state/terminated/message"),
                exit_code: Some(code),
            };
        }
        if c.get("restartCount").and_then(Value::as_i64).unwrap_or(0) > 0 {
            return Verdict::Failing {
                container: name,
                reason: if last_reason.is_empty() {
                    "Restarted".into()
                } else {
                    last_reason
                },
                message: String::new(),
                exit_code: last_exit,
            };
        }
    }
    if phase == "Failed" {
        return Verdict::Failing {
            container: String::new(),
            reason: pod
                .pointer("/status/reason")
                .and_then(Value::as_str)
                .unwrap_or("Failed")
                .to_string(),
            message: pod
                .pointer("/status/message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            exit_code: None,
        };
    }
    let condition = |t: &str| {
        pod.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
    };
    if let Some(c) = condition("PodScheduled")
        && c.get("status").and_then(Value::as_str) == Some("False")
    {
        let msg = c
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("not scheduled yet");
        return Verdict::Pending {
            why: format!("Unschedulable: {msg}"),
        };
    }
    let all_ready = !statuses.is_empty()
        && pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                !l.is_empty() && l.iter().all(|c| c.get("ready") == Some(&Value::Bool(true)))
            });
    if phase == "Succeeded" {
        return Verdict::Healthy;
    }
    if all_ready && phase == "Running" {
        if ready_for >= settle {
            return Verdict::Healthy;
        }
        return Verdict::Pending {
            why: format!(
                "ready, settling ({:.0}s of {:.0}s without a restart)",
                ready_for, settle
            ),
        };
    }
    let waiting: Vec<String> = statuses
        .iter()
        .filter_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    Verdict::Pending {
        why: if waiting.is_empty() {
            format!("{phase}, containers not ready")
        } else {
            waiting.join(", ")
        },
    }
}

/// Whether every container is running and ready right now (the settle clock runs while true).
pub fn all_ready(pod: &Value) -> bool {
    pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                !l.is_empty()
                    && l.iter().all(|c| {
                        c.get("ready") == Some(&Value::Bool(true))
                            && c.get("restartCount").and_then(Value::as_i64).unwrap_or(0) == 0
                    })
            })
}

/// Each container's state in a few words, init containers first while they
/// matter: `web running, ready` · `api waiting: CrashLoopBackOff` ·
/// `m terminated: Completed (exit 0)`.
pub fn container_states(pod: &Value) -> String {
    let describe = |c: &Value| {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let state = c.get("state").unwrap_or(&Value::Null);
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(w) = state.get("waiting") {
            format!("{name} waiting: {}", text(w, "reason"))
        } else if state.get("running").is_some() {
            let ready = c.get("ready") == Some(&Value::Bool(true));
            format!(
                "{name} running, {}",
                if ready { "ready" } else { "not ready" }
            )
        } else if let Some(t) = state.get("terminated") {
            let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
            format!("{name} terminated: {} (exit {code})", text(t, "reason"))
        } else {
            format!("{name} not started")
        }
    };
    let list = |key: &str| {
        pod.pointer(&format!("/status/{key}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let init_done = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Initialized" && c["status"] == "True");
    let mut parts: Vec<String> = Vec::new();
    if !init_done {
        parts.extend(
            list("initContainerStatuses")
                .iter()
                .map(|c| format!("init {}", describe(c))),
        );
    }
    parts.extend(list("containerStatuses").iter().map(describe));
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_states_read_like_kubectl_describe() {
        let pod = json!({"status": {
            "conditions": [{"type": "Initialized", "status": "False"}],
            "initContainerStatuses": [{"name": "wait-db", "state": {"running": {}}, "ready": false}],
            "containerStatuses": [
                {"name": "api", "state": {"waiting": {"reason": "PodInitializing"}}},
                {"name": "m", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}
            ]
        }});
        assert_eq!(
            container_states(&pod),
            "init wait-db running, not ready · api waiting: PodInitializing · m terminated: Completed (exit 0)"
        );
        assert_eq!(container_states(&json!({})), "");
    }

    #[test]
    fn judges_the_usual_states() {
        let running = json!({"status": {"phase": "Running", "containerStatuses": [
            {"name": "api", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        assert_eq!(judge(&running, 31.0, 30.0), Verdict::Healthy);
        assert_eq!(judge(&running, 5.0, 30.0).word(), "Pending");
        assert!(all_ready(&running));

        let crash = json!({"status": {"phase": "Running", "containerStatuses": [
            {"name": "api", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
             "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}});
        assert_eq!(
            judge(&crash, 0.0, 30.0),
            Verdict::Failing {
                container: "api".into(),
                reason: "OOMKilled".into(),
                message: "back-off 40s".into(),
                exit_code: Some(137)
            }
        );

        let pull = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"name": "api", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}}}]}});
        assert_eq!(judge(&pull, 0.0, 30.0).word(), "Failing");

        let unsched = json!({"status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory."}]}});
        assert_eq!(
            judge(&unsched, 0.0, 30.0),
            Verdict::Pending {
                why: "Unschedulable: 0/3 nodes are available: 3 Insufficient memory.".into()
            }
        );

        let creating = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"name": "api", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(
            judge(&creating, 0.0, 30.0),
            Verdict::Pending {
                why: "ContainerCreating".into()
            }
        );
    }
}
