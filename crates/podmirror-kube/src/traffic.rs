//! Reaching a tapped pod: its tap's figures from the report port, and the
//! requests a mirror must answer to prove a fix (`RequestCheck`). Both go
//! through the API server's pod proxy (`pods/proxy`), or straight to the
//! pod's address when that works better (kube-apiserver refuses to proxy to
//! loopback and link-local addresses). Shared by the CLI and the backend.

use k8s_openapi::api::core::v1::Pod;
use podmirror_core::contract::TAP_REPORT_PORT;
use podmirror_core::diagnosis::RequestCheck;
use podmirror_tap::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a pod's figures cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// The pod carries no tap.
    #[error(
        "pod {namespace}/{name} has no traffic tap: label its namespace (kubectl label namespace {namespace} podmirror.dev/tap=enabled), opt it in (annotation tap.podmirror.dev/inject=\"true\" on its template) and let its owner re-create it (kubectl rollout restart)"
    )]
    NoTap {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// The tap could not be reached, or its answer did not read.
    #[error("{0}")]
    Unreachable(String),
}

/// Whether the tap injector tapped the pod (`cleanup::tapped`).
pub fn tapped(pod: &Pod) -> bool {
    serde_json::to_value(pod).is_ok_and(|v| podmirror_core::cleanup::tapped(&v))
}

/// The pod's namespace, name and IP.
fn address(pod: &Pod) -> (String, String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
        pod.status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default(),
    )
}

/// The tap's figures of the last `minutes` minutes.
pub async fn read(
    client: &kube::Client,
    pod: &Pod,
    minutes: u64,
) -> Result<Snapshot, TrafficError> {
    let (ns, name, ip) = address(pod);
    if !tapped(pod) {
        return Err(TrafficError::NoTap {
            namespace: ns,
            name,
        });
    }
    let path = format!("/traffic?minutes={minutes}");
    let proxied = format!("/api/v1/namespaces/{ns}/pods/{name}:{TAP_REPORT_PORT}/proxy{path}");
    let request = http::Request::get(proxied)
        .body(Vec::new())
        .map_err(|e| TrafficError::Unreachable(e.to_string()))?;
    let text = match client.request_text(request).await {
        Ok(text) => text,
        Err(proxy) => match exchange(&ip, TAP_REPORT_PORT, "GET", &path).await {
            Ok((200, body)) => String::from_utf8_lossy(&body).into_owned(),
            Ok((status, _)) => {
                return Err(TrafficError::Unreachable(format!(
                    "the tap did not answer: through the API server: {proxy}; at {ip}: status {status}"
                )));
            }
            Err(direct) => {
                return Err(TrafficError::Unreachable(format!(
                    "the tap did not answer: through the API server: {proxy}; at {ip}: {direct}"
                )));
            }
        },
    };
    serde_json::from_str::<Snapshot>(&text)
        .map_err(|e| TrafficError::Unreachable(format!("the tap answered something else: {e}")))
}

/// What a pod answered to the requests of a [`RequestCheck`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u32>,
    /// Requests that got no answer.
    pub unanswered: u32,
}

impl Answers {
    /// Answers with status 500 or more.
    pub fn errors(&self) -> u32 {
        self.statuses.range(500..).map(|(_, n)| n).sum()
    }

    /// Answers of any status.
    pub fn answered(&self) -> u32 {
        self.statuses.values().sum()
    }
}

/// Sends the pod the check's requests, one after the other: at its address
/// when this machine reaches it, else through the API server's pod proxy.
/// Err when it can be reached neither way.
pub async fn ask(
    client: &kube::Client,
    pod: &Pod,
    check: &RequestCheck,
) -> Result<Answers, String> {
    if !matches!(check.method.as_str(), "GET" | "HEAD") {
        return Err(format!("{} requests are not sent again", check.method));
    }
    let (ns, name, ip) = address(pod);
    let mut answers = Answers::default();
    // At the pod's address until a connection cannot be made (its first).
    let mut direct = true;
    for _ in 0..check.count {
        let status = if direct {
            match exchange(&ip, check.port, &check.method, &check.path).await {
                Ok((status, _)) => Some(status),
                Err(Failed::Connect(_)) if answers.answered() == 0 => {
                    direct = false;
                    proxied(client, &ns, &name, check).await?
                }
                Err(_) => None,
            }
        } else {
            proxied(client, &ns, &name, check).await?
        };
        match status {
            Some(s) => *answers.statuses.entry(s).or_default() += 1,
            None => answers.unanswered += 1,
        }
    }
    Ok(answers)
}

/// One of the check's requests through the pod proxy: the app's status,
/// None without an answer; Err when the proxy itself refuses (RBAC, an
/// address it will not dial), as opposed to the app answering.
async fn proxied(
    client: &kube::Client,
    ns: &str,
    name: &str,
    check: &RequestCheck,
) -> Result<Option<u16>, String> {
    let path = format!(
        "/api/v1/namespaces/{ns}/pods/{name}:{}/proxy{}",
        check.port, check.path
    );
    let request = http::Request::builder()
        .method(check.method.as_str())
        .uri(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(5), client.send(request.map(Into::into))).await {
        Ok(Ok(r)) if matches!(r.status().as_u16(), 400 | 401 | 403) => Err(format!(
            "the API server does not proxy to {ns}/{name}:{} ({}) and the pod's address is not reachable from here",
            check.port,
            r.status()
        )),
        Ok(Ok(r)) => Ok(Some(r.status().as_u16())),
        Ok(Err(e)) => Err(format!("through the API server: {e}")),
        Err(_) => Ok(None),
    }
}

/// Why a request at the pod's address got no answer.
#[derive(Debug)]
enum Failed {
    /// No connection (no route, refused, timed out).
    Connect(String),
    /// Connected, but no HTTP answer.
    Answer(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Connect(why) | Failed::Answer(why) => f.write_str(why),
        }
    }
}

/// One HTTP/1.1 request on its own connection to `ip:port`: the answer's
/// status and body (read until the server closes).
async fn exchange(ip: &str, port: u16, method: &str, path: &str) -> Result<(u16, Vec<u8>), Failed> {
    let addr: SocketAddr = format!("{ip}:{port}")
        .parse()
        .map_err(|_| Failed::Connect(format!("the pod has no usable IP ({ip:?})")))?;
    let mut s = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| Failed::Connect("timed out".into()))?
        .map_err(|e| Failed::Connect(e.to_string()))?;
    let talk = async {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: podmirror\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<Vec<u8>, std::io::Error>(out)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), talk)
        .await
        .map_err(|_| Failed::Answer("timed out".into()))?
        .map_err(|e| Failed::Answer(e.to_string()))?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Failed::Answer("not an HTTP answer".into()))?;
    let status = std::str::from_utf8(&raw[..end])
        .ok()
        .and_then(|head| head.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failed::Answer("not an HTTP answer".into()))?;
    Ok((status, raw[end + 4..].to_vec()))
}
