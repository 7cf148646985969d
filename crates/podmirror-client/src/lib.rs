//! HTTP for podmirror: [`Http`] sends one request over HTTP or HTTPS (the
//! LLM endpoint, the backend) and [`Remote`] speaks the backend's API with a
//! bearer token, turning its `{error, message}` answers into [`RemoteError`].

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::sync::Arc;

/// The largest answer read.
const MAX_RESPONSE: usize = 16 << 20;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server could not be reached, or the answer not read.
    #[error("could not reach {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The backend answered with an error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Its error code.
        error: String,
        /// Its message.
        message: String,
    },
    /// The answer is not what the API promises.
    #[error("the server's answer does not read: {0}")]
    Protocol(String),
}

/// One HTTP(S) client (connections are reused).
#[derive(Clone)]
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Http {
    /// A client trusting the system's root certificates.
    pub fn new() -> Result<Http, RemoteError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| RemoteError::Unreachable {
                url: String::new(),
                reason: format!("no TLS root certificates: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Http {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends a request; returns the status and body (any status).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), RemoteError> {
        let unreachable = |reason: String| RemoteError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let mut req = http::Request::builder().method(method).uri(url).header(
            http::header::USER_AGENT,
            concat!("podmirror/", env!("CARGO_PKG_VERSION")),
        );
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| unreachable(format!("bad URL: {e}")))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// The backend's API, as one token.
#[derive(Clone)]
pub struct Remote {
    base: String,
    token: String,
    http: Http,
}

impl Remote {
    /// A client of the backend at `base` (`http://host:8080`).
    pub fn new(base: &str, token: &str) -> Result<Remote, RemoteError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RemoteError::Unreachable {
                url: base.clone(),
                reason: "give the server as http://HOST:PORT or https://HOST".into(),
            });
        }
        Ok(Remote {
            base,
            token: token.to_string(),
            http: Http::new()?,
        })
    }

    /// The server's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Calls the API; Ok(JSON answer) on 2xx, Err(the server's message) else.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let url = format!("{}{path}", self.base);
        let (status, bytes) = self
            .http
            .send(
                method,
                &url,
                &[("authorization", format!("Bearer {}", self.token))],
                body.map(|b| b.to_string().into_bytes()),
            )
            .await?;
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if status.is_success() {
            return Ok(v);
        }
        Err(RemoteError::Api {
            status: status.as_u16(),
            error: v["error"].as_str().unwrap_or("").to_string(),
            message: v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status} from {url}")),
        })
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
