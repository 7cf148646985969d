//! Real sockets behind simulated containers: a container whose image
//! `listens` binds a TCP listener on its pod's IP (a loopback address, so
//! nothing leaves the machine) for each port and answers HTTP/1.1 as the
//! catalog says — the health path 200, other paths 404 (every path 200
//! when the image names no health path) — and an HTTP or TCP probe is a
//! real request to it, worded as the kubelet's prober words its failures.

use crate::catalog::Route;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How a listener answers: the image's routes first (in catalog order),
/// then its health path.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// The only path that answers 200 when no route matches; `None`:
    /// every path does.
    pub health_path: Option<String>,
    /// The catalog's routes for the container's image tag.
    pub routes: Vec<Route>,
}

/// One answer: status, body, and how long to wait before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// The wait before the response.
    pub latency: Duration,
}

/// [`Answers`] shared by a container's connections, with a count of the
/// requests each route has matched (for `share`).
#[derive(Debug)]
struct Responder {
    answers: Answers,
    matched: Vec<AtomicU64>,
}

impl Responder {
    fn new(answers: Answers) -> Responder {
        let matched = answers.routes.iter().map(|_| AtomicU64::new(0)).collect();
        Responder { answers, matched }
    }

    /// The answer to a request's method and path (query left out).
    fn answer(&self, method: &str, path: &str) -> Answer {
        let bare = path.split('?').next().unwrap_or("/");
        let bare = if bare.is_empty() { "/" } else { bare };
        for (route, count) in self.answers.routes.iter().zip(&self.matched) {
            if !route.matches(method, bare) {
                continue;
            }
            // The n-th match is answered here when it moves the running
            // total of `share` past a whole number: evenly spread.
            let n = count.fetch_add(1, Ordering::Relaxed) as f64;
            if ((n + 1.0) * route.share).floor() > (n * route.share).floor() {
                return Answer {
                    status: route.status,
                    body: route.body.clone(),
                    latency: Duration::from_millis(route.latency_ms),
                };
            }
        }
        let (status, body) = match &self.answers.health_path {
            Some(h) if h != bare => (404, "not found\n"),
            _ => (200, "ok\n"),
        };
        Answer {
            status,
            body: body.to_string(),
            latency: Duration::ZERO,
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit
/// (once), as Go programs do at start: each running container's listener
/// and each open connection is a file descriptor, and the common default
/// soft limit of 1,024 is below a few hundred pods' worth.
pub fn raise_open_files_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
            tracing::warn!("could not raise the open files limit: {e}");
        }
    });
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
    let responder = Arc::new(Responder::new(answers));
    for &port in ports {
        let addr = SocketAddr::new(ip, port);
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                let responder = responder.clone();
                out.tasks.push(tokio::spawn(async move {
                    loop {
                        let stream = match listener.accept().await {
                            Ok((stream, _)) => stream,
                            // Out of file descriptors or the like: wait
                            // rather than spin, as Go's accept loop does.
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                        };
                        let responder = responder.clone();
                        tokio::spawn(async move {
                            let _ = respond(stream, &responder).await;
                        });
                    }
                }));
            }
            Err(e) => errors.push(format!("listen tcp {addr}: bind: {e}")),
        }
    }
    (out, errors)
}

/// Reads requests on one connection (keep-alive, pipelined) and answers
/// each; a body with a Content-Length is read and ignored.
async fn respond(mut stream: TcpStream, responder: &Responder) -> std::io::Result<()> {
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
        let lower = head.to_ascii_lowercase();
        let close = lower.contains("\r\nconnection: close");
        let mut body_left = lower
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while body_left > 0 {
            if buf.is_empty() {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let take = body_left.min(buf.len());
            buf.drain(..take);
            body_left -= take;
        }
        let answer = responder.answer(method, path);
        if !answer.latency.is_zero() {
            tokio::time::sleep(answer.latency).await;
        }
        let body = if method == "HEAD" {
            ""
        } else {
            answer.body.as_str()
        };
        let response = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n{body}",
            answer.status,
            http::StatusCode::from_u16(answer.status)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Status"),
            if method == "HEAD" {
                answer.body.len()
            } else {
                body.len()
            },
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
            routes: Vec::new(),
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

    #[tokio::test]
    async fn routes_answer_their_share_after_their_latency_and_bodies_are_read() {
        let route = |path: &str, status: u16, share: f64, latency_ms: u64| Route {
            path: path.into(),
            method: Some("GET".into()),
            tags: Vec::new(),
            status,
            body: format!("{status}\n"),
            latency_ms,
            share,
        };
        let answers = Answers {
            health_path: Some("/healthz".into()),
            routes: vec![
                route("/api/orders", 500, 0.25, 0),
                route("/api/orders", 200, 1.0, 0),
                route("/slow/*", 200, 1.0, 50),
            ],
        };
        let responder = Responder::new(answers.clone());
        let statuses: Vec<u16> = (0..8)
            .map(|_| responder.answer("GET", "/api/orders?page=2").status)
            .collect();
        assert_eq!(statuses, [200, 200, 200, 500, 200, 200, 200, 500]);
        assert_eq!(responder.answer("POST", "/api/orders").status, 404);
        assert_eq!(
            responder.answer("GET", "/slow/x").latency,
            Duration::from_millis(50)
        );
        assert_eq!(responder.answer("GET", "/healthz").status, 200);

        let (_listeners, _) = serve(ip(3), &[18080], answers).await;
        let mut s = TcpStream::connect((ip(3), 18080)).await.unwrap();
        let started = std::time::Instant::now();
        s.write_all(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /slow/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 404 Not Found\r\n"), "{got}");
        assert!(
            got.contains("HTTP/1.1 200 OK\r\n"),
            "the body was skipped: {got}"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
