//! One chat completion over HTTP(S): the OpenAI shape (`choices[0].message
//! .content`) or Ollama's (`message.content`), JSON output asked for,
//! temperature 0, bounded by the configured timeout.

use crate::{AiError, LlmConfig, Message, Protocol};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest response read.
const MAX_RESPONSE: usize = 4 << 20;

/// Sends `messages` and returns the answer's text.
pub async fn complete(llm: &LlmConfig, messages: &[Message]) -> Result<String, AiError> {
    let body = match llm.protocol {
        Protocol::OpenAi => json!({
            "model": llm.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }),
        Protocol::Ollama => json!({
            "model": llm.model,
            "messages": messages,
            "stream": false,
            "format": "json",
            "options": {"temperature": 0},
        }),
    };
    match tokio::time::timeout(llm.timeout, send(llm, body)).await {
        Ok(r) => r,
        Err(_) => Err(AiError::Timeout(llm.timeout.as_secs_f64())),
    }
}

async fn send(llm: &LlmConfig, body: Value) -> Result<String, AiError> {
    let unreachable = |reason: String| AiError::Unreachable {
        url: llm.endpoint.clone(),
        reason,
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(Arc::new(rustls::crypto::ring::default_provider()))
        .map_err(|e| unreachable(format!("no TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut req = http::Request::post(&llm.endpoint)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("podmirror/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(key) = &llm.api_key {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| AiError::Config(format!("bad URL {:?}: {e}", llm.endpoint)))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    let status = resp.status();
    let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| unreachable(format!("reading the response: {e}")))?
        .to_bytes();
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        return Err(AiError::Status {
            status: status.as_u16(),
            body: text,
        });
    }
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| AiError::Protocol(format!("not JSON: {e}")))?;
    let pointer = match llm.protocol {
        Protocol::OpenAi => "/choices/0/message/content",
        Protocol::Ollama => "/message/content",
    };
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| AiError::Protocol(format!("no {pointer} in the response")))
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
