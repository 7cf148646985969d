//! One chat completion over HTTP(S): the OpenAI shape (`choices[0].message
//! .content`) or Ollama's (`message.content`), JSON output asked for,
//! temperature 0, bounded by the configured timeout.

use crate::{AiError, LlmConfig, Message, Protocol};
use serde_json::{Value, json};

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
    let http = podmirror_client::Http::new().map_err(|e| AiError::Unreachable {
        url: llm.endpoint.clone(),
        reason: e.to_string(),
    })?;
    let headers: Vec<(&str, String)> = llm
        .api_key
        .iter()
        .map(|key| ("authorization", format!("Bearer {key}")))
        .collect();
    let (status, bytes) = http
        .send(
            http::Method::POST,
            &llm.endpoint,
            &headers,
            Some(body.to_string().into_bytes()),
        )
        .await
        .map_err(|e| match e {
            podmirror_client::RemoteError::Unreachable { url, reason } => {
                AiError::Unreachable { url, reason }
            }
            other => AiError::Protocol(other.to_string()),
        })?;
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
