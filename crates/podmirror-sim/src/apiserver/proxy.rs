//! `pods/proxy`: `GET /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH`
//! forwarded to the pod's IP and port as the API server does (the pod IPs
//! of the sim are real loopback addresses), answered with the pod's status,
//! content type and body. Without a port, the pod's first container port.
//! As the real API server, it refuses loopback and link-local pod
//! addresses (400 `address not allowed`) — which the sim's own pods have,
//! so clients fall back to the pod's address (`podmirror traffic` does).

use crate::error::ApiError;
use crate::resources::ids;
use crate::{Sim, meta};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// If `path` is a pod proxy URL: (namespace, name with optional port, rest).
pub fn parse(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("pods/")?;
    let (name, rest) = rest.split_once('/')?;
    let tail = rest.strip_prefix("proxy")?;
    if !(tail.is_empty() || tail.starts_with('/')) {
        return None;
    }
    let tail = if tail.is_empty() { "/" } else { tail };
    Some((ns.to_string(), name.to_string(), tail.to_string()))
}

/// Forwards a GET.
pub async fn serve(
    sim: &Sim,
    ns: &str,
    name_port: &str,
    path: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let (name, port) = match name_port.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (name_port, None),
    };
    let pod = sim.cluster.get(ids::pods(), ns, name)?;
    let port: u16 = match port {
        Some(p) => p.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid port {p:?}: a named port is not supported here; give the number"
            ))
        })?,
        None => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find_map(|p| p["containerPort"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(80),
    };
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::unavailable(format!(
                "pod {name:?} has no IP address yet ({})",
                meta::name(&pod)
            ))
        })?;
    let addr: SocketAddr = format!("{ip}:{port}")
        .parse()
        .map_err(|_| ApiError::internal(format!("pod {name:?} has an unusable IP {ip:?}")))?;
    let refused = match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local(),
    };
    if refused {
        return Err(ApiError::bad_request("address not allowed"));
    }
    let target = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                "connect: connection refused".to_string()
            } else {
                e.to_string()
            };
            format!("error trying to reach service: dial tcp {addr}: {why}")
        })?;
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: podmirror-sim/pods-proxy\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        Ok::<Vec<u8>, String>(out)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| {
            ApiError::unavailable(format!(
                "error trying to reach service: dial tcp {addr}: i/o timeout"
            ))
        })?
        .map_err(ApiError::unavailable)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ApiError::unavailable("the pod's answer is not HTTP".to_string()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "text/plain".into());
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, [(http::header::CONTENT_TYPE, content_type)], body).into_response())
}

fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(line_end) = b[at..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + at)
    {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[at..line_end])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || line_end + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        at = line_end + 2 + size + 2;
        if at >= b.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths() {
        assert_eq!(
            parse("/api/v1/namespaces/shop/pods/web-1:15090/proxy/traffic"),
            Some(("shop".into(), "web-1:15090".into(), "/traffic".into()))
        );
        assert_eq!(
            parse("/api/v1/namespaces/shop/pods/web-1/proxy"),
            Some(("shop".into(), "web-1".into(), "/".into()))
        );
        assert_eq!(parse("/api/v1/namespaces/shop/pods/web-1/log"), None);
        assert_eq!(parse("/api/v1/namespaces/shop/pods/web-1/proxyx"), None);
    }
}
