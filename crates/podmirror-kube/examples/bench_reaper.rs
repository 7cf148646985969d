//! Benchmark of reaper precision: 500 mirrors with staggered TTLs on the
//! simulated cluster at time-scale 1; how late after its expiry each one is
//! deleted (p50, p99, max). Runs the library's reaper loop (`reap_every`, as
//! the backend will) beside a plain loop of one `reap` per second.
//!
//! `cargo run --release -p podmirror-kube --example bench_reaper [-- --mirrors 500]`

#![allow(clippy::unwrap_used)]

use podmirror_core::contract::ANN_TTL_SECONDS;
use podmirror_core::mirror::{self, MirrorInfo, MirrorOptions};
use podmirror_kube::mirrors;
use podmirror_sim::Sim;
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use podmirror_sim::store::ChangeType;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Reaper {
    /// `reap_every`: passes at least every 2 s and at each next expiry. (The
    /// bench's TTLs start at 3 s; with the CLI's, 30 s, a pass every 10 s
    /// sees every mirror long before it expires in the same way.)
    Library,
    /// One `reap` (server clock from the Date header) every second.
    EverySecond,
}

/// Lateness of each deletion after its expiry, in milliseconds, sorted.
async fn run(count: usize, reaper: Reaper) -> Vec<i64> {
    let sim = Sim::new();
    let client = sim.client();
    sim.cluster
        .create(
            ids::namespaces(),
            "",
            json!({"metadata": {"name": "bench"}}),
            &WriteOptions::manager("bench"),
        )
        .unwrap();
    let source = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "src", "namespace": "bench", "uid": "u1"},
        "spec": {"containers": [{"name": "c", "image": "registry.example.com/shop/web:2.3.1"}]}
    });
    // Deletions as the API server records them, with the host clock (the sim's).
    let mut changes = sim.cluster.store.subscribe();
    let deleted = tokio::spawn(async move {
        let mut at = HashMap::new();
        while let Ok(c) = changes.recv().await {
            if c.resource == ids::pods() && c.kind == ChangeType::Deleted {
                at.entry(c.object.select.name.to_string())
                    .or_insert_with(|| jiff::Timestamp::now().as_millisecond());
            }
            if at.len() == count {
                break;
            }
        }
        at
    });
    let task = match reaper {
        Reaper::Library => {
            tokio::spawn(mirrors::reap_every(client.clone(), Duration::from_secs(2)))
        }
        Reaper::EverySecond => {
            let client = client.clone();
            tokio::spawn(async move {
                loop {
                    let _ = mirrors::reap(&client).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        }
    };
    // Created in batches over ~5 s, with TTLs of 3 to 12 s: expiries spread over ~15 s.
    let mut expiry = HashMap::new();
    for batch in 0..10 {
        for i in 0..count / 10 {
            let n = batch * (count / 10) + i;
            let mut m =
                mirror::build(&source, &[], &MirrorOptions::default(), &format!("{n:05}")).unwrap();
            m["metadata"]["annotations"][ANN_TTL_SECONDS] = json!((3 + n % 10).to_string());
            let created = mirrors::create(&client, &m).await.unwrap();
            let info = MirrorInfo::from_pod(&created).unwrap();
            expiry.insert(info.id, info.expires.unwrap().as_millisecond());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deleted = tokio::time::timeout(Duration::from_secs(60), deleted)
        .await
        .expect("every mirror deleted within a minute")
        .unwrap();
    task.abort();
    let mut late: Vec<i64> = expiry
        .iter()
        .map(|(id, e)| deleted.get(id).copied().unwrap_or(i64::MAX) - e)
        .collect();
    late.sort_unstable();
    late
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = args
        .iter()
        .position(|a| a == "--mirrors")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(500usize)
        .max(10);
    for (name, reaper) in [
        ("reap_every (tracked server clock)", Reaper::Library),
        ("reap once a second (Date header)", Reaper::EverySecond),
    ] {
        let late = run(count, reaper).await;
        println!(
            "{name:<36} {count} mirrors: lateness after expiry p50 {} ms, p99 {} ms, max {} ms, earliest {} ms",
            pct(&late, 0.5),
            pct(&late, 0.99),
            late.last().unwrap(),
            late.first().unwrap()
        );
    }
}
