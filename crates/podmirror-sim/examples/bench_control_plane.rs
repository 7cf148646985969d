//! Benchmark of the simulated control plane at time-scale 1: N Deployments ×
//! 100 pods reaching steady state (every Deployment reporting 100 ready
//! replicas), the CPU that took on average, then sim CPU and RSS over a quiet
//! window. Runs N/10 and N Deployments side by side.
//!
//! `cargo run --release -p podmirror-sim --example bench_control_plane [-- --deployments 100 --window 30]`
//!
//! For investigation: `BENCH_NO_KUBELET=1` leaves pods unstarted (controllers and
//! scheduler only), `BENCH_SOCKETS=0` gives pods no real listeners,
//! `BENCH_HISTORY=N` shrinks the change history, and
//! `BENCH_VERBOSE=1` prints object counts and stored JSON per resource.

#![allow(clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use podmirror_sim::{Sim, SimOptions};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::rss_mib;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Ready pods as the Deployments report them (`status.readyReplicas`), so
/// steady state means every pod Running and Ready and the controllers caught up.
fn ready_pods(sim: &Sim, ns: &str) -> usize {
    let data = sim.cluster.store.read();
    data.iter(ids::deployments(), Some(ns), None)
        .map(|(_, s)| {
            s.value()
                .pointer("/status/readyReplicas")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0) as usize
        })
        .sum()
}

async fn run(deployments: usize, window: u64) -> (f64, f64, f64, f64) {
    let history_len = std::env::var("BENCH_HISTORY")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(podmirror_sim::store::HISTORY_LEN);
    let sim = Sim::with_options(SimOptions {
        seed: Some(1),
        history_len,
        sockets: std::env::var("BENCH_SOCKETS").map_or(true, |v| v != "0"),
        ..Default::default()
    });
    let nodes: Vec<_> = (1..=deployments.div_ceil(2).max(1))
        .map(|i| {
            let mut n = podmirror_sim::nodes::NodeSpec::worker(&format!("bench-{i}"));
            n.cpu = "64".into();
            n.memory = "256Gi".into();
            n.pods = 250;
            n
        })
        .collect();
    podmirror_sim::nodes::start(&sim, &nodes);
    sim.start_controllers();
    let kubelet = std::env::var_os("BENCH_NO_KUBELET").is_none();
    if kubelet {
        podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    }
    let ns = format!("bench-{deployments}");
    let opts = WriteOptions::manager("bench");
    sim.cluster
        .create(
            ids::namespaces(),
            "",
            json!({"metadata": {"name": ns}}),
            &opts,
        )
        .unwrap();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for d in 0..deployments {
        let name = format!("svc-{d:03}");
        let deploy = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 100,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                    "name": "web", "image": "registry.example.com/shop/web:2.3.1",
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
                }]}}
            }
        });
        sim.cluster
            .create(ids::deployments(), &ns, deploy, &opts)
            .unwrap();
    }
    let want = deployments * 100;
    loop {
        if ready_pods(&sim, &ns) >= want || (!kubelet && t0.elapsed() > Duration::from_secs(20)) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            eprintln!(
                "gave up waiting: {} of {want} pods running",
                ready_pods(&sim, &ns)
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ramp = t0.elapsed().as_secs_f64();
    let ramp_cpu = cpu_seconds() - cpu0;
    // Let readiness settle, then measure a quiet window.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let c1 = cpu_seconds();
    let w0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(window)).await;
    let steady_cores = (cpu_seconds() - c1) / w0.elapsed().as_secs_f64();
    let rss = rss_mib();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        let data = sim.cluster.store.read();
        for (i, r) in podmirror_sim::resources::RESOURCES.iter().enumerate() {
            let (n, bytes) = data
                .iter(i, None, None)
                .fold((0, 0), |(n, b), (_, s)| (n + 1, b + s.json.len()));
            if n > 0 {
                eprintln!(
                    "  {:<24} {n:>7} objects {:>8.1} MiB JSON",
                    r.plural,
                    bytes as f64 / 1048576.0
                );
            }
        }
    }
    drop(sim);
    (ramp, ramp_cpu, steady_cores, rss)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let deployments = arg("--deployments", 100) as usize;
    let window = arg("--window", 30);
    // The large case runs first, so its RSS is not inflated by pages the
    // allocator kept from an earlier run.
    let (r2, c2, s2, m2) = run(deployments, window).await;
    let (r1, c1, s1, _) = run(deployments / 10, window).await;
    println!(
        "{:>4} deployments x 100 pods: steady state after {r1:.1} s ({c1:.1} CPU-s, {:.2} cores on average), then {s1:.3} cores over {window} s",
        deployments / 10,
        c1 / r1.max(1e-6)
    );
    println!(
        "{deployments:>4} deployments x 100 pods: steady state after {r2:.1} s ({c2:.1} CPU-s, {:.2} cores on average), then {s2:.3} cores over {window} s, RSS {m2:.0} MiB",
        c2 / r2.max(1e-6)
    );
    println!(
        "ratios 10x pods: steady CPU {:.1}x, ramp CPU {:.1}x",
        s2 / s1.max(1e-6),
        c2 / c1.max(1e-6)
    );
}
