//! Real sockets behind simulated containers: a container whose image
//! `listens` binds a TCP listener on its pod's IP (a loopback address, so
//! nothing leaves the machine) for each port and answers HTTP/1.1 as the
//! catalog says — the health path 200, other paths 404 (every path 200
//! when the image names no health path) — and an HTTP or TCP probe is a
//! real request to it, worded as the kubelet's prober words its failures.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How a listener answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// The only path that answers 200; `None`: every path does.
    pub health_path: Option<String>,
}

impl Answers {
    /// The status line and body for a request's path (query left out).
    fn answer(&self, path: &str) -> (u16, &'static str) {
        let bare = path.split('?').next().unwrap_or("/");
        let bare = if bare.is_empty() { "/" } else { bare };
        match &self.health_path {
            Some(h) if h != bare => (404, "not found\n"),
            _ => (200, "ok\n"),
        }
    }
}

/// A container's listeners; dropping it closes them.
#[derive(Debug, Default)]
pub struct Listeners {
    tasks: Vec<JoinHandle<()>>,
}

impl Listeners {
    /// Closes the listeners and waits until their sockets are gone, so
    /// the addresses can be bound again at once.
    pub async fn close(mut self) {
        for t in std::mem::take(&mut self.tasks) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds `ip:port` for each port and serves `answers` until dropped. A
/// port that cannot be bound is skipped and named in the error list (the
/// container still runs, as a process whose bind failed would log it).
pub async fn serve(ip: IpAddr, ports: &[u16], answers: Answers) -> (Listeners, Vec<String>) {
    let mut out = Listeners::default();
    let mut errors = Vec::new();
    for &port in ports {
        let addr = SocketAddr::new(ip, port);
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                let answers = answers.clone();
                out.tasks.push(tokio::spawn(async move {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let answers = answers.clone();
                        tokio::spawn(async move {
                            let _ = respond(stream, &answers).await;
                        });
                    }
                }));
            }
            Err(e) => errors.push(format!("listen tcp {addr}: bind: {e}")),
        }
    }
    (out, errors)
}

/// Reads requests on one connection (keep-alive, pipelined) and answers each.
async fn respond(mut stream: TcpStream, answers: &Answers) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        // One request head at a time; bodies are not expected (GET, HEAD).
        let end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end + 4;
            }
            if buf.len() > 64 * 1024 {
                stream
                    .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await?;
                return Ok(());
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let mut parts = head.lines().next().unwrap_or("").split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let close = head.to_ascii_lowercase().contains("\r\nconnection: close");
        let (status, body) = answers.answer(path);
        let reason = if status == 200 { "OK" } else { "Not Found" };
        let body = if method == "HEAD" { "" } else { body };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        stream.write_all(response.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How a real probe failed, in the kubelet prober's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError(pub String);

/// An HTTP GET probe to `host:port` `path`: Ok for a status 200–399, else
/// the prober's words (`HTTP probe failed with statuscode: 404`, `Get
/// "http://…": dial tcp …: connect: connection refused`, a timeout).
pub async fn http_probe(
    host: IpAddr,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let addr = SocketAddr::new(host, port);
    let url = format!("http://{addr}{path}");
    let attempt = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ProbeError(format!("Get {url:?}: dial tcp {addr}: {}", dial_words(&e))))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.35\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| ProbeError(format!("Get {url:?}: {e}")))?;
        let mut head = Vec::new();
        let mut chunk = [0u8; 512];
        while find(&head, b"\r\n").is_none() {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| ProbeError(format!("Get {url:?}: {e}")))?;
            if n == 0 {
                return Err(ProbeError(format!("Get {url:?}: EOF")));
            }
            head.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ProbeError(format!("Get {url:?}: malformed HTTP response")))?;
        if (200..400).contains(&status) {
            Ok(())
        } else {
            Err(ProbeError(format!(
                "HTTP probe failed with statuscode: {status}"
            )))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))),
    }
}

/// A TCP probe: Ok once a connection opens.
pub async fn tcp_probe(host: IpAddr, port: u16, timeout: Duration) -> Result<(), ProbeError> {
    let addr = SocketAddr::new(host, port);
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ProbeError(format!("dial tcp {addr}: {}", dial_words(&e)))),
        Err(_) => Err(ProbeError(format!("dial tcp {addr}: i/o timeout"))),
    }
}

/// Go's net package words for a failed dial.
fn dial_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "read: connection reset by peer".into(),
        std::io::ErrorKind::TimedOut => "i/o timeout".into(),
        _ => format!("connect: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback address of its own per test, so tests do not collide.
    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 64, 250, last])
    }

    #[tokio::test]
    async fn a_listener_answers_its_health_path_and_probes_say_what_the_prober_says() {
        let answers = Answers {
            health_path: Some("/healthz".into()),
        };
        let (listeners, errors) = serve(ip(1), &[18080], answers).await;
        assert!(errors.is_empty(), "{errors:?}");
        let second = Duration::from_secs(1);
        assert_eq!(http_probe(ip(1), 18080, "/healthz", second).await, Ok(()));
        assert_eq!(
            http_probe(ip(1), 18080, "/healthz?full=1", second).await,
            Ok(())
        );
        assert_eq!(
            http_probe(ip(1), 18080, "/ready", second).await,
            Err(ProbeError("HTTP probe failed with statuscode: 404".into()))
        );
        assert_eq!(tcp_probe(ip(1), 18080, second).await, Ok(()));
        assert_eq!(
            http_probe(ip(1), 18081, "/healthz", second).await,
            Err(ProbeError(
                "Get \"http://127.64.250.1:18081/healthz\": dial tcp 127.64.250.1:18081: connect: connection refused".into()
            ))
        );
        assert_eq!(
            tcp_probe(ip(1), 18081, second).await,
            Err(ProbeError(
                "dial tcp 127.64.250.1:18081: connect: connection refused".into()
            ))
        );
        // Closed with the container, and bound again at once by its next run.
        listeners.close().await;
        assert!(tcp_probe(ip(1), 18080, second).await.is_err());
        let (again, errors) = serve(ip(1), &[18080], Answers::default()).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(http_probe(ip(1), 18080, "/ready", second).await, Ok(()));
        drop(again);
    }

    #[tokio::test]
    async fn keep_alive_and_pipelined_requests_are_answered_in_order() {
        let (_listeners, _) = serve(ip(2), &[18080], Answers::default()).await;
        let mut s = TcpStream::connect((ip(2), 18080)).await.unwrap();
        s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
        assert!(
            got.ends_with("Connection: close\r\n\r\n"),
            "HEAD has no body: {got}"
        );
    }
}
