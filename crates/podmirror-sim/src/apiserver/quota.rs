//! ResourceQuota admission for pods, as the API server's quota plugin does
//! it: a quota whose `hard` names `requests.*`/`limits.*` refuses a pod
//! whose containers do not state them (`failed quota: NAME: must specify
//! limits.memory for: app`), and one whose usage would pass `hard` refuses
//! it (`exceeded quota: NAME, requested: …, used: …, limited: …`). Usage is
//! counted from the namespace's pods that are not finished, at admission
//! time (the real API server reads the quota controller's `status.used`;
//! the sim keeps no status).

use serde_json::Value;
use std::collections::BTreeMap;

/// The compute resources a pod quota counts, in base units (bytes,
/// millicores, pods).
fn usage(pod: &Value) -> BTreeMap<&'static str, i64> {
    let mut out = BTreeMap::new();
    let containers = |field: &str| -> Vec<Value> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    // Requests and limits of the app containers summed; an init container
    // counts when it asks for more than they do (it runs alone).
    for (kind, resource, name) in [
        ("requests", "cpu", "requests.cpu"),
        ("requests", "memory", "requests.memory"),
        ("limits", "cpu", "limits.cpu"),
        ("limits", "memory", "limits.memory"),
    ] {
        let of = |c: &Value| {
            amount(
                resource,
                c.pointer(&format!("/resources/{kind}/{resource}"))
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
        };
        let app: i64 = containers("containers").iter().filter_map(of).sum();
        let init = containers("initContainers")
            .iter()
            .filter_map(of)
            .max()
            .unwrap_or(0);
        out.insert(name, app.max(init));
    }
    out.insert("cpu", out["requests.cpu"]);
    out.insert("memory", out["requests.memory"]);
    out.insert("pods", 1);
    out
}

/// A quantity in base units: bytes for memory, millicores for cpu.
fn amount(resource: &str, q: &str) -> Option<i64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    if resource == "cpu" {
        return match q.strip_suffix('m') {
            Some(m) => m.parse().ok(),
            None => q.parse::<f64>().ok().map(|c| (c * 1000.0).round() as i64),
        };
    }
    let (num, mult) = [
        ("Ki", 1i64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ]
    .iter()
    .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
    .unwrap_or((q, 1));
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as i64)
}

/// A value of `resource` (a quota name) as the API server prints a quantity.
fn quantity(resource: &str, n: i64) -> String {
    if n == 0 {
        return "0".into();
    }
    if resource.ends_with("cpu") {
        return if n % 1000 == 0 {
            (n / 1000).to_string()
        } else {
            format!("{n}m")
        };
    }
    if resource.ends_with("memory") {
        for (suffix, unit) in [
            ("Ti", 1i64 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if n % unit == 0 {
                return format!("{}{suffix}", n / unit);
            }
        }
    }
    n.to_string()
}

fn listed(values: &BTreeMap<&str, i64>, names: &[&str]) -> String {
    names
        .iter()
        .map(|r| format!("{r}={}", quantity(r, values.get(r).copied().unwrap_or(0))))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why the quotas of the namespace refuse `pod`, in the API server's words
/// (after `pods "NAME" is forbidden: `), or None. `quotas` are the
/// namespace's ResourceQuotas, `others` its other pods.
pub fn refusal<'a>(
    pod: &Value,
    quotas: impl Iterator<Item = &'a Value>,
    others: impl Iterator<Item = &'a Value> + Clone,
) -> Option<String> {
    let wanted = usage(pod);
    for quota in quotas {
        let name = quota
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(hard) = quota.pointer("/spec/hard").and_then(Value::as_object) else {
            continue;
        };
        let hard: BTreeMap<&str, i64> = hard
            .iter()
            .filter_map(|(k, v)| {
                let key = [
                    "requests.cpu",
                    "requests.memory",
                    "limits.cpu",
                    "limits.memory",
                    "cpu",
                    "memory",
                    "pods",
                ]
                .into_iter()
                .find(|r| r == k)?;
                let resource = if key.ends_with("cpu") {
                    "cpu"
                } else {
                    "memory"
                };
                let n = if key == "pods" {
                    v.as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| v.as_i64())
                } else {
                    amount(resource, v.as_str().unwrap_or(""))
                };
                Some((key, n?))
            })
            .collect();
        // Every container must state what the quota limits.
        let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for field in ["containers", "initContainers"] {
            for c in pod
                .pointer(&format!("/spec/{field}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for r in [
                    "requests.cpu",
                    "requests.memory",
                    "limits.cpu",
                    "limits.memory",
                ] {
                    if !hard.contains_key(r) {
                        continue;
                    }
                    let (kind, resource) = r.split_once('.').unwrap_or(("", ""));
                    if c.pointer(&format!("/resources/{kind}/{resource}"))
                        .is_none()
                    {
                        let cname = c
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        missing.entry(r).or_default().push(cname);
                    }
                }
            }
        }
        if !missing.is_empty() {
            let parts: Vec<String> = missing
                .iter()
                .map(|(r, cs)| {
                    let mut cs = cs.clone();
                    cs.sort();
                    format!("{r} for: {}", cs.join(","))
                })
                .collect();
            return Some(format!(
                "failed quota: {name}: must specify {}",
                parts.join("; ")
            ));
        }
        let mut used: BTreeMap<&str, i64> = BTreeMap::new();
        for other in others.clone() {
            let phase = other
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            if matches!(phase, "Succeeded" | "Failed")
                || other.pointer("/metadata/deletionTimestamp").is_some()
            {
                continue;
            }
            for (k, v) in usage(other) {
                *used.entry(k).or_default() += v;
            }
        }
        let exceeded: Vec<&str> = hard
            .iter()
            .filter(|(r, limit)| {
                let asked = wanted.get(*r).copied().unwrap_or(0);
                asked > 0 && used.get(*r).copied().unwrap_or(0) + asked > **limit
            })
            .map(|(r, _)| *r)
            .collect();
        if !exceeded.is_empty() {
            return Some(format!(
                "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                listed(&wanted, &exceeded),
                listed(&used, &exceeded),
                listed(&hard, &exceeded)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, requests: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]}, "status": {"phase": "Running"}})
    }

    #[test]
    fn a_pod_over_the_quota_or_without_the_values_it_limits_is_refused_in_the_api_servers_words() {
        let quota = json!({"metadata": {"name": "batch-compute"}, "spec": {"hard": {"requests.memory": "4Gi", "pods": "10"}}});
        let running = [pod("a", json!({"memory": "3584Mi"}))];
        let asking = pod("b", json!({"memory": "1Gi"}));
        assert_eq!(
            refusal(&asking, [&quota].into_iter(), running.iter()).as_deref(),
            Some(
                "exceeded quota: batch-compute, requested: requests.memory=1Gi, used: requests.memory=3584Mi, limited: requests.memory=4Gi"
            )
        );
        assert_eq!(
            refusal(
                &pod("c", json!({"memory": "512Mi"})),
                [&quota].into_iter(),
                running.iter()
            ),
            None
        );
        assert_eq!(
            refusal(
                &pod("d", json!({"cpu": "1"})),
                [&quota].into_iter(),
                running.iter()
            )
            .as_deref(),
            Some("failed quota: batch-compute: must specify requests.memory for: app")
        );
        // Finished pods use nothing.
        let done = [
            json!({"metadata": {"name": "e"}, "spec": {"containers": [{"name": "app", "resources": {"requests": {"memory": "4Gi"}}}]}, "status": {"phase": "Succeeded"}}),
        ];
        assert_eq!(refusal(&asking, [&quota].into_iter(), done.iter()), None);
        assert_eq!(quantity("requests.cpu", 1500), "1500m");
        assert_eq!(quantity("requests.cpu", 2000), "2");
        assert_eq!(quantity("requests.memory", 0), "0");
    }
}
