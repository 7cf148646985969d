//! Benchmark of the simulated API server with 10,000 pods in 100 namespaces:
//! list over HTTP, create in-process, one change fanned out to 100 watchers,
//! resident memory, and the real `kubectl get pods -A` as a whole process.
//!
//! `cargo run --release -p podmirror-sim --example bench [-- --pods N]`

#![allow(clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, WatchEvent, WatchParams};
use podmirror_sim::Sim;
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use serde_json::json;
use std::time::{Duration, Instant};
use support::rss_mib;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn pod(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i:05}"), "labels": {"app": "web", "shard": (i % 10).to_string()}},
        "spec": {"containers": [{
            "name": "web", "image": "registry.example.com/shop/web:1.0",
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "MODE", "value": "bench"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}
        }]}
    })
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args
        .iter()
        .position(|a| a == "--pods")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let namespaces = 100;
    let sim = Sim::new();
    let opts = WriteOptions::manager("bench");
    let rss_before = rss_mib();
    let load = Instant::now();
    for n in 0..namespaces {
        sim.cluster
            .create(
                ids::namespaces(),
                "",
                json!({"metadata": {"name": format!("ns-{n:03}")}}),
                &opts,
            )
            .expect("namespace");
    }
    for i in 0..total {
        let ns = format!("ns-{:03}", i % namespaces);
        sim.cluster
            .create(ids::pods(), &ns, pod(i), &opts)
            .expect("pod");
    }
    println!(
        "loaded {total} pods in {namespaces} namespaces in {:.2} s",
        load.elapsed().as_secs_f64()
    );
    println!(
        "sim RSS: {:.1} MiB (process before loading: {:.1} MiB)",
        rss_mib(),
        rss_before
    );

    // Create one pod in-process.
    let mut creates = Vec::new();
    for i in 0..500 {
        let t = Instant::now();
        sim.cluster
            .create(ids::pods(), "ns-000", pod(total + i), &opts)
            .expect("pod");
        creates.push(t.elapsed());
    }
    let create_p50 = median(creates);
    println!("create one pod in-process: p50 {}", ms(create_p50));

    // List every pod in-process and over HTTP.
    let mut in_process = Vec::new();
    for _ in 0..9 {
        let page = sim
            .cluster
            .list(ids::pods(), None, &Default::default())
            .expect("list");
        // Baseline: what a store of parsed objects pays to encode the list.
        let items: Vec<std::sync::Arc<serde_json::Value>> =
            page.items.iter().map(|s| s.value()).collect();
        let t = Instant::now();
        let refs: Vec<&serde_json::Value> = items.iter().map(|a| a.as_ref()).collect();
        let bytes = serde_json::to_vec(&refs).expect("encode");
        std::hint::black_box(bytes);
        in_process.push(t.elapsed());
    }
    let served = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let config = kube::Config::new(served.url().parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let mut over_http = Vec::new();
    for _ in 0..9 {
        let req = http::Request::get("/api/v1/pods")
            .body(Vec::new())
            .expect("request");
        let t = Instant::now();
        let text = client.request_text(req).await.expect("list over http");
        over_http.push(t.elapsed());
        std::hint::black_box(text);
    }
    let (ip, hp) = (median(in_process), median(over_http));
    println!(
        "list all pods: over HTTP p50 {} vs in-process JSON encoding of the parsed list p50 {} (ratio {:.2})",
        ms(hp),
        ms(ip),
        hp.as_secs_f64() / ip.as_secs_f64()
    );

    // One change delivered to 100 watchers.
    let mut fanout = Vec::new();
    for round in 0..5 {
        let rv = sim.cluster.store.read().rv().to_string();
        let api: Api<Pod> = Api::namespaced(client.clone(), "ns-001");
        let mut streams = Vec::new();
        for _ in 0..100 {
            streams.push(
                api.watch(&WatchParams::default().timeout(30), &rv)
                    .await
                    .expect("watch")
                    .boxed(),
            );
        }
        let t = Instant::now();
        sim.cluster
            .create(ids::pods(), "ns-001", pod(10_000_000 + round), &opts)
            .expect("pod");
        let waits = streams.into_iter().map(|mut s| async move {
            while let Some(ev) = s.next().await {
                if matches!(ev, Ok(WatchEvent::Added(_))) {
                    return;
                }
            }
        });
        futures::future::join_all(waits).await;
        fanout.push(t.elapsed());
    }
    println!(
        "one change to 100 watchers: p50 {} (5 rounds)",
        ms(median(fanout))
    );
    println!("sim RSS after benchmarks: {:.1} MiB", rss_mib());

    if std::env::var_os("BENCH_HOLD").is_some() {
        println!("holding: {}", served.url());
        tokio::time::sleep(Duration::from_secs(120)).await;
    }

    // The real kubectl as a whole process.
    let kubectl = std::env::var("PODMIRROR_KUBECTL").unwrap_or_else(|_| {
        format!(
            "{}/../../target/tools/bin/kubectl",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    if std::path::Path::new(&kubectl).exists() {
        let dir = std::env::temp_dir().join(format!("podmirror-bench-{}", std::process::id()));
        podmirror_sim::write_kubeconfig(&dir.join("kubeconfig"), &served.url())
            .expect("kubeconfig");
        let mut runs = Vec::new();
        for _ in 0..5 {
            let mut cmd = std::process::Command::new(&kubectl);
            cmd.arg("--kubeconfig")
                .arg(dir.join("kubeconfig"))
                .arg("--cache-dir")
                .arg(dir.join("cache"));
            cmd.args(["get", "pods", "-A"])
                .stdout(std::process::Stdio::null());
            if std::env::var_os("BENCH_VERBOSE").is_some() {
                cmd.arg("-v=6");
            }
            let t = Instant::now();
            let out = tokio::task::spawn_blocking(move || cmd.status())
                .await
                .expect("join")
                .expect("kubectl");
            assert!(out.success());
            runs.push(t.elapsed());
        }
        let kp = median(runs);
        println!(
            "kubectl get pods -A (whole process, {} pods): p50 {} ({:.1}x the raw HTTP list)",
            total + 505,
            ms(kp),
            kp.as_secs_f64() / hp.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(dir);
    } else {
        println!(
            "kubectl not found at {kubectl}: run scripts/install-tools for the kubectl figure"
        );
    }
}
