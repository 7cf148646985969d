//! Reading a tapped pod's figures: from the tap's report port through the
//! API server's pod proxy (`pods/proxy`), or at the pod's address when the
//! API server refuses to proxy there (kube-apiserver refuses loopback and
//! link-local addresses). Shared by `podmirror traffic` and the backend.

use k8s_openapi::api::core::v1::Pod;
use podmirror_tap::snapshot::Snapshot;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use podmirror_core::contract::{TAP_CONTAINER, TAP_REPORT_PORT as REPORT_PORT};

/// Whether the pod carries the injected tap.
pub fn tapped(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|l| l.iter().any(|c| c.name == TAP_CONTAINER))
}

/// The tap's figures of the last `minutes` minutes, or why there are none
/// (in words for the user).
pub async fn read(client: &kube::Client, pod: &Pod, minutes: u64) -> Result<Snapshot, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    if !tapped(pod) {
        return Err(format!(
            "no tap: label the namespace (kubectl label namespace {ns} podmirror.dev/tap=enabled), opt the pod in (tap.podmirror.dev/inject=\"true\") and re-create it"
        ));
    }
    let path = format!(
        "/api/v1/namespaces/{ns}/pods/{name}:{REPORT_PORT}/proxy/traffic?minutes={minutes}"
    );
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = match client.request_text(request).await {
        Ok(text) => text,
        Err(proxy) => {
            let ip = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_default();
            direct(&ip, minutes).await.map_err(|direct| {
                format!(
                    "the tap did not answer: through the API server: {proxy}; at {ip}: {direct}"
                )
            })?
        }
    };
    serde_json::from_str::<Snapshot>(&text)
        .map_err(|e| format!("the tap answered something else: {e}"))
}

/// `GET /traffic` on the tap's report port at the pod's address.
async fn direct(ip: &str, minutes: u64) -> Result<String, String> {
    let addr: std::net::SocketAddr = format!("{ip}:{REPORT_PORT}")
        .parse()
        .map_err(|_| format!("the pod has no usable IP ({ip:?})"))?;
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let head = format!(
            "GET /traffic?minutes={minutes} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        Ok::<Vec<u8>, String>(out)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "timed out".to_string())??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("not an HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    Ok(body.to_string())
}

/// What a pod answered to the requests of a [`RequestCheck`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answers {
    /// Answers by status code.
    pub statuses: std::collections::BTreeMap<u16, u32>,
    /// Requests that got no answer.
    pub unanswered: u32,
}

impl Answers {
    /// Answers with status 500 or more.
    pub fn errors(&self) -> u32 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum()
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
    check: &podmirror_core::diagnosis::RequestCheck,
) -> Result<Answers, String> {
    if !matches!(check.method.as_str(), "GET" | "HEAD") {
        return Err(format!("{} requests are not sent again", check.method));
    }
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default();
    let addr: Option<std::net::SocketAddr> = format!("{ip}:{}", check.port).parse().ok();
    let mut answers = Answers::default();
    let direct = match addr {
        Some(a) => matches!(
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(a)).await,
            Ok(Ok(_))
        ),
        None => false,
    };
    for _ in 0..check.count {
        let status = if direct {
            match addr {
                Some(a) => once_direct(a, &check.method, &check.path).await,
                None => None,
            }
        } else {
            let path = format!(
                "/api/v1/namespaces/{ns}/pods/{name}:{}/proxy{}",
                check.port, check.path
            );
            let request = http::Request::builder()
                .method(check.method.as_str())
                .uri(path)
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            match tokio::time::timeout(Duration::from_secs(5), client.send(request.map(Into::into)))
                .await
            {
                Ok(Ok(r)) if answers.answered() == 0 && refused_by_proxy(r.status()) => {
                    return Err(format!(
                        "the API server does not proxy to {ns}/{name}:{} ({}) and {ip} is not reachable from here",
                        check.port,
                        r.status()
                    ));
                }
                Ok(Ok(r)) => Some(r.status().as_u16()),
                Ok(Err(e)) if answers.answered() == 0 => {
                    return Err(format!("through the API server: {e}"));
                }
                _ => None,
            }
        };
        match status {
            Some(s) => *answers.statuses.entry(s).or_default() += 1,
            None => answers.unanswered += 1,
        }
    }
    Ok(answers)
}

/// The pod proxy's own refusals (RBAC, an address it will not dial), as
/// opposed to the app's answers.
fn refused_by_proxy(status: http::StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 401 | 403)
}

/// One request on its own connection; the answer's status.
async fn once_direct(addr: std::net::SocketAddr, method: &str, path: &str) -> Option<u16> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: podmirror-test\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.ok()?;
        let mut first = [0u8; 16];
        let mut got = 0;
        while got < first.len() {
            match s.read(&mut first[got..]).await.ok()? {
                0 => break,
                n => got += n,
            }
        }
        let line = std::str::from_utf8(&first[..got]).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}
