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
