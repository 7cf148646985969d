//! Sim tier: every demo scenario fails (or runs) the way DESIGN §3 says, with
//! the real status fields, reasons, exit codes, events and logs.

#![allow(clippy::unwrap_used)]

use podmirror_sim::resources::ids;
use podmirror_sim::scenarios::{self, Expect, NAMESPACE};
use podmirror_sim::{Sim, SimOptions};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A cluster like the demo's, at 20× speed.
async fn demo_cluster() -> Sim {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &scenarios::nodes());
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    scenarios::seed(&sim).await.unwrap();
    sim
}

fn pods_of(sim: &Sim, app: &str) -> Vec<Arc<Value>> {
    let data = sim.cluster.store.read();
    data.iter(ids::pods(), Some(NAMESPACE), None)
        .filter(|(_, s)| {
            s.labels()
                .and_then(|l| l.get("app"))
                .and_then(Value::as_str)
                == Some(app)
        })
        .map(|(_, s)| s.value())
        .collect()
}

fn events_of(sim: &Sim, pod: &str) -> Vec<(String, String, String)> {
    let data = sim.cluster.store.read();
    data.iter(ids::events(), Some(NAMESPACE), None)
        .map(|(_, s)| s.value())
        .filter(|e| e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(pod))
        .map(|e| {
            let f = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (f("type"), f("reason"), f("message"))
        })
        .collect()
}

fn container(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

/// Whether a pod shows what the scenario promises; the reason when it does not.
fn check(sim: &Sim, pod: &Value, expect: &Expect) -> Result<(), String> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let c = container(pod);
    match expect {
        Expect::Healthy => {
            let ready = pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (pod["status"]["phase"] == "Running" && ready && c["restartCount"] == 0)
                .then_some(())
                .ok_or("not Running and Ready".into())
        }
        Expect::Waiting(reason, text) => {
            let w = &c["state"]["waiting"];
            (w["reason"] == *reason && w["message"].as_str().unwrap_or("").contains(text))
                .then_some(())
                .ok_or(format!("waiting {}", c["state"]))
        }
        Expect::Crashing(reason, code) => {
            let t = &c["lastState"]["terminated"];
            (t["reason"] == *reason
                && t["exitCode"] == *code
                && c["restartCount"].as_i64().unwrap_or(0) >= 1)
                .then_some(())
                .ok_or(format!("lastState {}", c["lastState"]))
        }
        Expect::Unschedulable(text) => {
            let cond = pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "PodScheduled")
                .cloned()
                .unwrap_or_default();
            let event = events_of(sim, name)
                .iter()
                .any(|(t, r, m)| t == "Warning" && r == "FailedScheduling" && m.contains(text));
            (cond["status"] == "False"
                && cond["reason"] == "Unschedulable"
                && cond["message"].as_str().unwrap_or("").contains(text)
                && event
                && pod["status"]["phase"] == "Pending")
                .then_some(())
                .ok_or(format!("PodScheduled {cond}"))
        }
        Expect::MountFailing(text) => events_of(sim, name)
            .iter()
            .any(|(_, r, m)| r == "FailedMount" && m.contains(text))
            .then_some(())
            .ok_or("no FailedMount".into()),
        Expect::ProbeFailing(text) => {
            let unhealthy = events_of(sim, name)
                .iter()
                .any(|(t, r, m)| t == "Warning" && r == "Unhealthy" && m.contains(text));
            (unhealthy && c["restartCount"].as_i64().unwrap_or(0) >= 1)
                .then_some(())
                .ok_or(format!("restarts {}", c["restartCount"]))
        }
    }
}

#[tokio::test]
async fn every_failure_class_shows_its_real_symptoms() {
    let sim = demo_cluster().await;
    let mut pending: Vec<scenarios::Scenario> = scenarios::all();
    let mut last_reason = std::collections::HashMap::new();
    for _ in 0..300 {
        pending.retain(|s| {
            let pods = pods_of(&sim, s.name);
            let ok = pods.iter().any(|p| match check(&sim, p, &s.expect) {
                Ok(()) => true,
                Err(why) => {
                    last_reason.insert(s.name, why);
                    false
                }
            });
            !ok
        });
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let missing: Vec<String> = pending
        .iter()
        .map(|s| format!("{} ({}): {:?}", s.name, s.class, last_reason.get(s.name)))
        .collect();
    assert!(
        missing.is_empty(),
        "scenarios not showing their symptoms:\n{}",
        missing.join("\n")
    );

    // Details a diagnosis will rely on.
    let orders = &pods_of(&sim, "orders")[0];
    let uid = orders["metadata"]["uid"].as_str().unwrap().to_string();
    let previous = sim
        .cluster
        .logs
        .get(&(NAMESPACE.into(), uid, "orders".into()))
        .unwrap()
        .previous
        .unwrap();
    assert!(
        previous.iter().any(|(_, l)| l.contains("DATABASE_URL")),
        "{previous:?}"
    );
    let notifier = &pods_of(&sim, "notifier")[0];
    let uid = notifier["metadata"]["uid"].as_str().unwrap().to_string();
    let previous = sim
        .cluster
        .logs
        .get(&(NAMESPACE.into(), uid, "notifier".into()))
        .unwrap()
        .previous
        .unwrap();
    assert!(
        previous.iter().any(|(_, l)| l.contains("not found")),
        "{previous:?}"
    );
    let api_pods = pods_of(&sim, "api");
    assert_eq!(
        api_pods.len(),
        2,
        "the old revision keeps serving while the bad tag fails"
    );
    let bad = api_pods
        .iter()
        .find(|p| container(p)["state"]["waiting"].is_object())
        .unwrap();
    let events = events_of(&sim, bad["metadata"]["name"].as_str().unwrap());
    assert!(
        events.iter().any(|(t, r, m)| t == "Warning"
            && r == "Failed"
            && m.contains("Failed to pull image \"registry.example.com/shop/api:1.4.9\"")),
        "{events:?}"
    );
    let reports = pods_of(&sim, "reports")[0].clone();
    let backoff = |events: &[(String, String, String)]| {
        events.iter().any(|(_, r, m)| {
            r == "BackOff" && m.starts_with("Back-off restarting failed container reports")
        })
    };
    let mut events = Vec::new();
    for _ in 0..200 {
        events = events_of(&sim, reports["metadata"]["name"].as_str().unwrap());
        if backoff(&events) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        events.iter().any(|(_, r, m)| r == "BackOff"
            && m.starts_with("Back-off restarting failed container reports")),
        "{events:?}"
    );
}

#[tokio::test]
async fn graceful_deletion_and_deadlines() {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(1));
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    let opts = podmirror_sim::cluster::WriteOptions::manager("test");
    let pod = |name: &str, extra: Value| {
        let mut p = serde_json::json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1"}]}});
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                p["spec"][k] = v.clone();
            }
        }
        p
    };
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod("short", serde_json::json!({"activeDeadlineSeconds": 2})),
            &opts,
        )
        .unwrap();
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod("goner", serde_json::json!({})),
            &opts,
        )
        .unwrap();
    let phase = |n: &str| {
        sim.cluster.get(ids::pods(), "default", n).ok().map(|p| {
            (
                p["status"]["phase"].as_str().unwrap_or("").to_string(),
                p["status"]["reason"].as_str().unwrap_or("").to_string(),
            )
        })
    };
    for _ in 0..200 {
        if phase("short").is_some_and(|p| p.0 == "Failed")
            && phase("goner").is_some_and(|p| p.0 == "Running")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        phase("short"),
        Some(("Failed".into(), "DeadlineExceeded".into()))
    );
    let deleted = sim
        .cluster
        .delete(ids::pods(), "default", "goner", &Default::default())
        .unwrap();
    assert!(!deleted.removed, "a running pod terminates gracefully");
    assert!(deleted.object["metadata"]["deletionTimestamp"].is_string());
    for _ in 0..200 {
        if phase("goner").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        phase("goner"),
        None,
        "the kubelet removes the pod once its containers stopped"
    );
}

#[tokio::test]
async fn the_same_seed_generates_the_same_names() {
    let names = || {
        let sim = Sim::with_options(SimOptions {
            seed: Some(42),
            ..Default::default()
        });
        let opts = podmirror_sim::cluster::WriteOptions::manager("test");
        (0..5)
            .map(|_| {
                let cm = serde_json::json!({"metadata": {"generateName": "web-"}});
                let c = sim
                    .cluster
                    .create(ids::configmaps(), "default", cm, &opts)
                    .unwrap();
                (
                    c["metadata"]["name"].as_str().unwrap().to_string(),
                    c["metadata"]["uid"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(names(), names());
}
