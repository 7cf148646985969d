//! The rule engine per pod (criterion): one failing pod of each common
//! class, with the context a real namespace gives (a rollout history of
//! three revisions, 20 log lines, a dozen events, 50 nodes), and a healthy
//! pod (the early exit `diagnose --all` takes for most pods).
//!
//! `cargo bench -p podmirror-core --bench rules`

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use podmirror_core::diagnosis::{Context, EventLine, NodeInfo, Owner, Revision, diagnose};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::hint::black_box;

fn spec(image: &str) -> Value {
    json!({"containers": [{"name": "api", "image": image, "ports": [{"containerPort": 8080}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"memory": "128Mi", "cpu": "100m"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]})
}

fn base(status: Value, events: Vec<(&str, &str, &str)>, logs: Vec<String>) -> Context {
    Context {
        pod: json!({"metadata": {"name": "api-7c9f-abcde", "namespace": "shop", "uid": "u-1"},
            "spec": spec("registry.example.com/shop/api:1.4.9"), "status": status}),
        events: events
            .into_iter()
            .cycle()
            .take(12)
            .map(|(kind, reason, message)| EventLine {
                kind: kind.into(),
                reason: reason.into(),
                message: message.into(),
                count: 3,
            })
            .collect(),
        logs: BTreeMap::from([("api".to_string(), (logs.clone(), logs))]),
        owner: Some(Owner {
            kind: "Deployment".into(),
            name: "api".into(),
        }),
        history: (1..=3)
            .map(|n| Revision {
                number: n,
                spec: spec(&format!("registry.example.com/shop/api:1.4.{n}")),
                ran: n < 3,
            })
            .collect(),
        configmaps: BTreeMap::from([("api-config".to_string(), vec!["DATABASE_URL".to_string()])]),
        nodes: (1..=50)
            .map(|i| NodeInfo {
                name: format!("worker-{i}"),
                labels: BTreeMap::from([("kubernetes.io/hostname".into(), format!("worker-{i}"))]),
                memory_bytes: 16 << 30,
                cpu_millis: 8000,
                ..Default::default()
            })
            .collect(),
        now: "2026-11-22T10:00:00Z".parse().ok(),
        ..Default::default()
    }
}

fn lines(last: &str) -> Vec<String> {
    let mut l: Vec<String> = (0..19)
        .map(|i| format!("time=2026-11-22T09:59:{i:02}Z level=INFO msg=\"step {i}\""))
        .collect();
    l.push(last.to_string());
    l
}

fn cases() -> Vec<(&'static str, Context)> {
    vec![
        (
            "image-pull",
            base(
                json!({"phase": "Pending", "containerStatuses": [{"name": "api", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
                vec![(
                    "Warning",
                    "Failed",
                    "Failed to pull image \"registry.example.com/shop/api:1.4.9\": not found",
                )],
                vec![],
            ),
        ),
        (
            "crash-loop (missing env)",
            base(
                json!({"phase": "Running", "containerStatuses": [{"name": "api", "ready": false, "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
                vec![(
                    "Warning",
                    "BackOff",
                    "Back-off restarting failed container api",
                )],
                lines("level=ERROR msg=\"FATAL: DATABASE_URL is not set\""),
            ),
        ),
        (
            "oom-killed",
            base(
                json!({"phase": "Running", "containerStatuses": [{"name": "api", "ready": false, "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}),
                vec![(
                    "Warning",
                    "BackOff",
                    "Back-off restarting failed container api",
                )],
                lines("allocating buffers"),
            ),
        ),
        (
            "unschedulable",
            base(
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/50 nodes are available: 50 Insufficient memory."}]}),
                vec![(
                    "Warning",
                    "FailedScheduling",
                    "0/50 nodes are available: 50 Insufficient memory.",
                )],
                vec![],
            ),
        ),
        (
            "healthy",
            base(
                json!({"phase": "Running", "containerStatuses": [{"name": "api", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
                vec![("Normal", "Started", "Container started")],
                vec![],
            ),
        ),
    ]
}

fn rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("diagnose");
    for (name, ctx) in cases() {
        assert_eq!(diagnose(&ctx).is_none(), name == "healthy", "{name}");
        group.bench_function(name, |b| b.iter(|| diagnose(black_box(&ctx))));
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
