//! The demo's shopper: steady HTTP requests to the Ready pods of the shop's
//! tapped Deployments, at their pod IPs (no Service is needed), so their
//! taps have real traffic to show — including the canary's 500s.

use crate::scenarios::{NAMESPACE, TAPPED};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// What the shopper asks each Deployment's pods, in turn; `{n}` is a
/// number that changes with every request.
pub const VISITS: &[(&str, &str, &str)] = &[
    ("web", "GET", "/"),
    ("web", "GET", "/products/{n}"),
    ("api", "GET", "/api/orders"),
    ("api", "GET", "/api/orders/{n}"),
    ("api", "POST", "/api/cart"),
    ("api-canary", "GET", "/api/orders"),
    ("api-canary", "GET", "/api/orders/{n}"),
    ("api-canary", "POST", "/api/cart"),
];

/// The port the shop's apps listen on.
const PORT: u16 = 8080;

/// Sends each Ready pod of the tapped Deployments one request every
/// `every`, until the task is aborted; the pods are listed again every
/// two seconds (new pods join, gone ones leave).
pub fn start(client: kube::Client, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
        let selector = format!("app in ({})", TAPPED.join(","));
        let mut targets: Vec<(String, SocketAddr)> = Vec::new();
        let mut listed = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut turn: BTreeMap<String, usize> = BTreeMap::new();
        let mut n: u64 = 0;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if listed.elapsed() >= Duration::from_secs(2) {
                listed = tokio::time::Instant::now();
                if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
                    targets = list.items.iter().filter_map(ready_target).collect();
                }
            }
            for (app, addr) in &targets {
                let visits: Vec<&(&str, &str, &str)> =
                    VISITS.iter().filter(|v| v.0 == app).collect();
                if visits.is_empty() {
                    continue;
                }
                let at = turn.entry(addr.to_string()).or_default();
                let (_, method, path) = visits[*at % visits.len()];
                *at += 1;
                n += 1;
                let path = path.replace("{n}", &(1000 + n % 97).to_string());
                let (addr, method) = (*addr, *method);
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), request(addr, method, &path))
                            .await;
                });
            }
        }
    })
}

/// The pod's app label and address, when it is Ready and has an IP.
fn ready_target(pod: &Pod) -> Option<(String, SocketAddr)> {
    let status = pod.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ip: std::net::IpAddr = status.pod_ip.as_deref()?.parse().ok()?;
    let app = pod.metadata.labels.as_ref()?.get("app")?.clone();
    Some((app, SocketAddr::new(ip, PORT)))
}

/// One request on its own connection; the status, or None.
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let body = if method == "POST" {
        "{\"sku\":\"tea\",\"qty\":1}"
    } else {
        ""
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: podmirror-demo-shopper\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let line = String::from_utf8_lossy(&out[..out.len().min(64)]).into_owned();
    line.split_whitespace().nth(1)?.parse().ok()
}
