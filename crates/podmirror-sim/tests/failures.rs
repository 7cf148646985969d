//! Sim tier: every demo scenario fails (or runs) the way its failure class says, with
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
    let previous = |app: &str| {
        let pod = &pods_of(&sim, app)[0];
        let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
        let log = sim
            .cluster
            .logs
            .get(&(NAMESPACE.into(), uid, app.into()))
            .unwrap();
        log.previous
            .unwrap()
            .into_iter()
            .map(|(_, line)| line)
            .collect::<Vec<_>>()
    };
    let orders = previous("orders");
    assert!(
        orders.iter().any(|l| l.contains("DATABASE_URL")),
        "{orders:?}"
    );
    let notifier = previous("notifier");
    assert!(
        notifier.iter().any(|l| l.contains("not found")),
        "{notifier:?}"
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

fn plain_cluster() -> Sim {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        seed: Some(3),
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(1));
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    sim
}

async fn wait_pod(sim: &Sim, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        if let Ok(p) = sim.cluster.get(ids::pods(), "default", name) {
            last = (*p).clone();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "pod {name} never reached the expected state; last status: {}",
        last["status"]
    );
}

#[tokio::test]
async fn init_containers_run_in_order_before_the_app() {
    let sim = plain_cluster();
    let pod = serde_json::json!({"metadata": {"name": "migrate-then-serve"}, "spec": {
        "initContainers": [
            {"name": "migrate", "image": "registry.example.com/shop/db-migrate:43"},
            {"name": "warmup", "image": "busybox:1.36", "command": ["/bin/sh", "-c", "true"]}
        ],
        "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1"}]
    }});
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod,
            &podmirror_sim::cluster::WriteOptions::manager("test"),
        )
        .unwrap();
    // While the migration runs, the pod shows Init:0/2 and the app waits.
    let p = wait_pod(&sim, "migrate-then-serve", |p| {
        p["status"]["initContainerStatuses"][0]["state"]["running"].is_object()
    })
    .await;
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(podmirror_sim::table::pod_status_reason(&p), "Init:0/2");
    let p = wait_pod(&sim, "migrate-then-serve", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    let inits = p["status"]["initContainerStatuses"].as_array().unwrap();
    assert!(
        inits
            .iter()
            .all(|c| c["state"]["terminated"]["exitCode"] == 0
                && c["state"]["terminated"]["reason"] == "Completed"),
        "{inits:?}"
    );
    let migrate_done = inits[0]["state"]["terminated"]["finishedAt"]
        .as_str()
        .unwrap()
        .to_string();
    let warmup_started = inits[1]["state"]["terminated"]["startedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        migrate_done <= warmup_started,
        "init containers run one after the other"
    );
    let init_cond = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Initialized")
        .cloned()
        .unwrap();
    assert_eq!(init_cond["status"], "True");
}

#[tokio::test]
async fn restart_policies_never_and_on_failure() {
    let sim = plain_cluster();
    let opts = podmirror_sim::cluster::WriteOptions::manager("test");
    let pod = |name: &str, policy: &str, image: &str| serde_json::json!({"metadata": {"name": name}, "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": image}]}});
    // The api image exits 1 without DATABASE_URL; db-migrate exits 0.
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod(
                "never-fails",
                "Never",
                "registry.example.com/shop/api:1.4.2",
            ),
            &opts,
        )
        .unwrap();
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod(
                "onfailure-ok",
                "OnFailure",
                "registry.example.com/shop/db-migrate:43",
            ),
            &opts,
        )
        .unwrap();
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod(
                "onfailure-fails",
                "OnFailure",
                "registry.example.com/shop/api:1.4.2",
            ),
            &opts,
        )
        .unwrap();
    let p = wait_pod(&sim, "never-fails", |p| p["status"]["phase"] == "Failed").await;
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        1
    );
    assert_eq!(podmirror_sim::table::pod_status_reason(&p), "Error");
    let p = wait_pod(&sim, "onfailure-ok", |p| {
        p["status"]["phase"] == "Succeeded"
    })
    .await;
    assert_eq!(podmirror_sim::table::pod_status_reason(&p), "Completed");
    let p = wait_pod(&sim, "onfailure-fails", |p| {
        p["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    assert_eq!(p["status"]["phase"], "Running");
}

#[tokio::test]
async fn run_as_non_root_and_pull_secrets() {
    let sim = plain_cluster();
    let opts = podmirror_sim::cluster::WriteOptions::manager("test");
    let root = serde_json::json!({"metadata": {"name": "admin"}, "spec": {"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "admin", "image": "registry.example.com/shop/legacy-admin:0.7.2"}]}});
    sim.cluster
        .create(ids::pods(), "default", root, &opts)
        .unwrap();
    let p = wait_pod(&sim, "admin", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            == "CreateContainerConfigError"
    })
    .await;
    let msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with("container has runAsNonRoot and image will run as root"),
        "{msg}"
    );

    let secret = serde_json::json!({"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
    sim.cluster
        .create(ids::secrets(), "default", secret, &opts)
        .unwrap();
    let private = serde_json::json!({"metadata": {"name": "billing"}, "spec": {"imagePullSecrets": [{"name": "regcred"}], "containers": [{"name": "billing", "image": "registry.example.com/private/billing:3.2.0"}]}});
    sim.cluster
        .create(ids::pods(), "default", private, &opts)
        .unwrap();
    wait_pod(&sim, "billing", |p| p["status"]["phase"] == "Running").await;
}

#[tokio::test]
async fn a_failing_readiness_probe_never_restarts_the_container() {
    let sim = plain_cluster();
    // web answers 200 on /healthz only; readiness asks /ready.
    let pod = serde_json::json!({"metadata": {"name": "never-ready"}, "spec": {
        "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1",
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1}}]
    }});
    sim.cluster
        .create(
            ids::pods(),
            "default",
            pod,
            &podmirror_sim::cluster::WriteOptions::manager("test"),
        )
        .unwrap();
    let events = |sim: &Sim| -> Vec<String> {
        let data = sim.cluster.store.read();
        data.iter(ids::events(), Some("default"), None)
            .map(|(_, s)| s.value())
            .filter(|e| e.pointer("/involvedObject/name") == Some(&Value::from("never-ready")))
            .map(|e| e["reason"].as_str().unwrap_or("").to_string())
            .collect()
    };
    wait_pod(&sim, "never-ready", |p| {
        p["status"]["phase"] == "Running" && events(&sim).iter().any(|r| r == "Unhealthy")
    })
    .await;
    // ten more simulated seconds of failing probes
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = sim
        .cluster
        .get(ids::pods(), "default", "never-ready")
        .unwrap();
    let c = &p["status"]["containerStatuses"][0];
    assert_eq!(c["ready"], false);
    assert_eq!(c["restartCount"], 0, "{c}");
    assert!(
        !events(&sim).iter().any(|r| r == "Killing"),
        "no Killing event for a readiness failure"
    );
}

#[tokio::test]
async fn with_sockets_a_pod_really_listens_on_a_loopback_ip_and_probes_are_real_requests() {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        seed: Some(4),
        sockets: true,
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(1));
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    // web listens on 8080 and answers /healthz; liveness asks a path it answers 404 to.
    for (name, liveness) in [("served", "/healthz"), ("misprobed", "/nope")] {
        let pod = serde_json::json!({"metadata": {"name": name}, "spec": {
            "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1",
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
                "livenessProbe": {"httpGet": {"path": liveness, "port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 1, "failureThreshold": 2}}]
        }});
        sim.cluster
            .create(
                ids::pods(),
                "default",
                pod,
                &podmirror_sim::cluster::WriteOptions::manager("test"),
            )
            .unwrap();
    }
    let served = wait_pod(&sim, "served", |p| {
        p["status"]["containerStatuses"][0]["ready"] == true
    })
    .await;
    let ip = served["status"]["podIP"].as_str().unwrap().to_string();
    // a /16 of 127.64.0.0/10 of this kubelet's own
    let second: u8 = ip.split('.').nth(1).unwrap().parse().unwrap();
    assert!(
        ip.starts_with("127.") && (64..128).contains(&second),
        "{ip}"
    );
    // A real HTTP request to the pod's IP.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((ip.as_str(), 8080))
        .await
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).await.unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    // The 404 is the listener's, and the liveness probe restarts the container.
    let misprobed = wait_pod(&sim, "misprobed", |p| {
        p["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .unwrap_or(0)
            > 0
    })
    .await;
    assert_ne!(
        misprobed["status"]["podIP"], served["status"]["podIP"],
        "each pod its own IP"
    );
    let unhealthy: Vec<String> = sim
        .cluster
        .store
        .read()
        .iter(ids::events(), Some("default"), None)
        .map(|(_, e)| e.value())
        .filter(|e| {
            e.pointer("/involvedObject/name") == Some(&Value::from("misprobed"))
                && e["reason"] == "Unhealthy"
        })
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        unhealthy
            .iter()
            .any(|m| m == "Liveness probe failed: HTTP probe failed with statuscode: 404"),
        "{unhealthy:?}"
    );
    // Restarted, it listens again on the same address (the old listeners are
    // closed before the next run binds): its probes keep seeing the 404.
    wait_pod(&sim, "misprobed", |p| {
        p["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 2
    })
    .await;
    let data = sim.cluster.store.read();
    let odd: Vec<String> = data
        .iter(ids::events(), Some("default"), None)
        .map(|(_, e)| e.value())
        .filter(|e| {
            e.pointer("/involvedObject/name") == Some(&Value::from("misprobed"))
                && e["reason"] == "Unhealthy"
        })
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        // (readiness is refused while the program starts up, as it should be)
        .filter(|m| m.starts_with("Liveness") && (m.contains("reset") || m.contains("refused")))
        .collect();
    assert!(
        odd.is_empty(),
        "after a restart the listener is bound again: {odd:?}"
    );
}
