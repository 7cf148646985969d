//! Benchmark of diagnosing a large cluster: 10,000 pods in 10 namespaces,
//! 1,000 of them failing (crash loops, bad tags, unschedulable), on the
//! simulated API server. Measures what `podmirror diagnose --all
//! -A` does over HTTP on 127.0.0.1 — one snapshot, then context and rules for every pod that is not
//! healthy — and the rules alone per pod.
//!
//! `cargo run --release -p podmirror-kube --example bench_diagnose [-- --pods 10000]`

#![allow(clippy::unwrap_used)]

use podmirror_core::diagnosis;
use podmirror_kube::gather::Snapshot;
use podmirror_sim::Sim;
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::{Subresource, ids};
use serde_json::json;
use std::time::Instant;

fn status(i: usize) -> serde_json::Value {
    match i % 30 {
        0 => {
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]})
        }
        10 => {
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]})
        }
        20 => {
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory."}]})
        }
        _ => {
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "state": {"running": {}}}]})
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args
        .iter()
        .position(|a| a == "--pods")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sim = Sim::new();
    podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(3));
    let opts = WriteOptions::manager("bench");
    for n in 0..10 {
        sim.cluster
            .create(
                ids::namespaces(),
                "",
                json!({"metadata": {"name": format!("ns-{n}")}}),
                &opts,
            )
            .unwrap();
    }
    for i in 0..count {
        let ns = format!("ns-{}", i % 10);
        let name = format!("pod-{i}");
        let created = sim
            .cluster
            .create(
                ids::pods(),
                &ns,
                json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "app",
                    "image": "registry.example.com/shop/api:1.4.9",
                    "resources": {"requests": {"memory": "64Gi"}}}]}}),
                &opts,
            )
            .unwrap();
        let mut updated = (*created).clone();
        updated["status"] = status(i);
        sim.cluster
            .update(
                ids::pods(),
                &ns,
                &name,
                Some(Subresource::Status),
                updated,
                &opts,
            )
            .unwrap();
    }
    // Over HTTP on 127.0.0.1, as the CLI talks to a cluster.
    let served = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = kube::Config::new(served.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let mut walls = Vec::new();
    let mut found = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        let snapshot = Snapshot::take(&client, None).await.unwrap();
        found = 0;
        for p in &snapshot.pods {
            if diagnosis::healthy(p) {
                continue;
            }
            let ctx = snapshot.context(&client, p).await;
            if diagnosis::diagnose(&ctx).is_some() {
                found += 1;
            }
        }
        walls.push(t0.elapsed().as_secs_f64());
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "diagnose --all -A over HTTP, {count} pods ({found} failing): median {:.2} s (runs: {:?})",
        walls[walls.len() / 2],
        walls.iter().map(|w| format!("{w:.2}")).collect::<Vec<_>>()
    );
    // The rules alone, on contexts already gathered.
    let snapshot = Snapshot::take(&client, None).await.unwrap();
    let mut contexts = Vec::new();
    for p in snapshot.pods.iter().filter(|p| !diagnosis::healthy(p)) {
        contexts.push(snapshot.context(&client, p).await);
    }
    let t0 = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        for c in &contexts {
            std::hint::black_box(diagnosis::diagnose(c));
        }
    }
    let per = t0.elapsed().as_secs_f64() / (rounds * contexts.len()) as f64;
    println!("rules alone: {:.1} µs per failing pod", per * 1e6);
}
