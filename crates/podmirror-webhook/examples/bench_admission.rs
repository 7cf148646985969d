//! Benchmark of tap admission: pod creates on the simulated API server in a
//! namespace the webhook taps (an AdmissionReview over TLS per pod, a patch
//! applied) against one it does not look at, side by side in one run;
//! prints p50 and p99 of each and their ratio.
//!
//! `cargo run --release -p podmirror-webhook --example bench_admission [-- PODS]`

#![allow(clippy::unwrap_used)]

use podmirror_sim::{Sim, SimOptions};
use podmirror_webhook::Options;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

async fn create(client: &kube::Client, path: &str, body: &Value) -> Duration {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap();
    let started = Instant::now();
    let _: Value = client.request(req).await.unwrap();
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let pods: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let sim = Sim::with_options(SimOptions {
        sockets: false,
        ..Default::default()
    });
    let client = sim.client();
    let mut options = Options::new(
        "127.0.0.1:0".parse().unwrap(),
        "ghcr.io/podmirror/podmirror:0.1.0",
    );
    options.register_url = Some("https://127.0.0.1:{port}/inject".into());
    let _webhook = podmirror_webhook::start(options, client.clone())
        .await
        .unwrap();
    for (ns, tapped) in [("tapped", true), ("plain", false)] {
        let mut md = json!({"name": ns});
        if tapped {
            md["labels"] = json!({"podmirror.dev/tap": "enabled"});
            md["annotations"] = json!({"tap.podmirror.dev/default-inject": "true"});
        }
        create(
            &client,
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": md}),
        )
        .await;
    }
    let pod = |ns: &str, i: usize| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p-{i}"), "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/web:2.3.1",
                "ports": [{"containerPort": 8080}]}]}})
    };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    // Interleaved, so both see the same machine.
    for i in 0..pods {
        with.push(create(&client, "/api/v1/namespaces/tapped/pods", &pod("tapped", i)).await);
        without.push(create(&client, "/api/v1/namespaces/plain/pods", &pod("plain", i)).await);
    }
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let (w50, w99) = (quantile(&mut with, 0.5), quantile(&mut with, 0.99));
    let (o50, o99) = (quantile(&mut without, 0.5), quantile(&mut without, 0.99));
    println!("{pods} pod creates each");
    println!(
        "  tapped namespace (webhook called, patch applied): p50 {} p99 {}",
        ms(w50),
        ms(w99)
    );
    println!(
        "  plain namespace (no webhook):                      p50 {} p99 {}",
        ms(o50),
        ms(o99)
    );
    println!(
        "  admission cost: p50 {} p99 {}",
        ms(w50.saturating_sub(o50)),
        ms(w99.saturating_sub(o99))
    );
}
