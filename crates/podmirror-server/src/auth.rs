//! Who is calling: the bearer token, looked up in the store (hash only,
//! constant-time compare), its org from the config, a per-token rate limit,
//! and the role checks of the API contract (docs/architecture.md) (`read` < `write` < `admin`).

use crate::AppState;
use crate::config::Org;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use http::StatusCode;
use http::request::Parts;
use podmirror_store::Role;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its org.
    pub org: Org,
    /// This request's id.
    pub request_id: String,
    /// When its token stops being accepted, if it ever does.
    pub expires_at: Option<jiff::Timestamp>,
}

impl Caller {
    /// Refuses unless the caller's role is at least `needed`; the message
    /// says what the action needs and what the caller has.
    pub fn require(&self, needed: Role, action: &str) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{action} needs the {} role; token {:?} has {}",
                needed.as_str(),
                self.name,
                self.role.as_str()
            )))
        }
    }

    /// A namespace the caller's org may see, or 404 — the same answer as
    /// for something that does not exist, so other orgs' objects are not
    /// disclosed.
    pub fn namespace<'a>(&self, ns: &'a str, what: &str) -> Result<&'a str, ApiError> {
        if !crate::names::dns_label(ns) {
            return Err(ApiError::bad_request(format!(
                "namespace {ns:?} is not a namespace name (lower-case letters, digits and '-', at most 63)"
            )));
        }
        if self.org.sees(ns) {
            Ok(ns)
        } else {
            Err(ApiError::not_found(format!("{what} not found")))
        }
    }
}

/// The request id set by the request-id layer.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Tokens the store recognised in the last few seconds, by the SHA-256 of
/// the token (the secret itself is not kept), so a busy client does not cost
/// a database read per request. A revocation takes effect within [`Self::TTL`].
#[derive(Debug, Default)]
pub struct KnownTokens {
    map: Mutex<HashMap<String, (podmirror_store::TokenInfo, Instant)>>,
}

impl KnownTokens {
    /// How long a recognised token is trusted without asking the store again.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    fn get(&self, token: &str) -> Option<podmirror_store::TokenInfo> {
        let key = podmirror_store::sha256_hex(token.as_bytes());
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&key)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(info, _)| info.clone())
    }

    fn put(&self, token: &str, info: podmirror_store::TokenInfo) {
        let key = podmirror_store::sha256_hex(token.as_bytes());
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < Self::TTL);
        }
        map.insert(key, (info, Instant::now()));
    }
}

/// Token buckets, one per token name.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// Takes one request from `who`'s bucket (capacity and refill per
    /// minute `per_minute`); Err(seconds to wait) when it is empty.
    pub fn take(&self, who: &str, per_minute: u32) -> Result<(), u64> {
        let cap = f64::from(per_minute);
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, at) = buckets.entry(who.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * cap / 60.0).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) * 60.0 / cap).ceil().max(1.0) as u64)
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        // The auth layer has already authenticated routed requests.
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        Caller::authenticate(parts, state).await
    }
}

impl Caller {
    /// Authenticates a request: its bearer token, its org, its rate.
    pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "send Authorization: Bearer TOKEN; an admin makes tokens with `podmirror token create`",
            ));
        };
        let info = match state.known_tokens.get(token) {
            Some(info) => info,
            None => {
                let info = state
                    .store
                    .authenticate(token)
                    .await
                    .map_err(ApiError::store)?
                    .ok_or_else(|| {
                        ApiError::unauthorized(
                            "the token is unknown or revoked; ask an admin for a new one",
                        )
                    })?;
                state.known_tokens.put(token, info.clone());
                info
            }
        };
        // Checked on every request, cached entries too: expiry is not a
        // revocation that may wait for the cache.
        not_expired(&info)?;
        let Some(org) = state.config.org(&info.org).cloned() else {
            return Err(ApiError::forbidden(format!(
                "token {:?} belongs to org {:?}, which the server's config does not list; ask an admin to add it",
                info.name, info.org
            )));
        };
        if let Err(wait) = state
            .limiter
            .take(&info.name, state.config.rate_limit_per_minute)
        {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "token {:?} made more than {} requests in a minute; retry in {wait} s",
                    info.name, state.config.rate_limit_per_minute
                ),
            ));
        }
        Ok(Caller {
            name: info.name,
            role: info.role,
            org,
            request_id,
            expires_at: info.expires_at,
        })
    }
}

/// The bearer token of a request's `Authorization` header.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn not_expired(info: &podmirror_store::TokenInfo) -> Result<(), ApiError> {
    match info.expires_at {
        Some(end) if info.expired(jiff::Timestamp::now()) => Err(ApiError::unauthorized(format!(
            "token {:?} expired at {end}; ask an admin for a new one",
            info.name
        ))),
        _ => Ok(()),
    }
}

/// Whether a token an open stream was started with still counts: asks the
/// store (not the cache), so a revocation ends the stream within its
/// next check. 401 when revoked or expired.
pub async fn still_valid(state: &AppState, token: &str) -> Result<(), ApiError> {
    let info = state
        .store
        .authenticate(token)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::unauthorized("the token was revoked; sign in with another one"))?;
    not_expired(&info)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_of_requests_and_refills() {
        let l = Limiter::default();
        for _ in 0..3 {
            l.take("a", 3).unwrap();
        }
        let wait = l.take("a", 3).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        // Another token has its own bucket.
        l.take("b", 3).unwrap();
    }
}
