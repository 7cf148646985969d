//! The API server's clock, read from the `Date` header of a cheap request.
//! Expiry is always judged by it: a local clock that runs ahead must never
//! delete a mirror early.

use crate::KubeError;
use jiff::Timestamp;

/// The API server's current time (one-second resolution).
pub async fn server_now(client: &kube::Client) -> Result<Timestamp, KubeError> {
    let req = http::Request::get("/version")
        .body(Vec::new())
        .map_err(|e| KubeError::Api {
            action: "read the server clock".into(),
            message: e.to_string(),
            code: 0,
        })?;
    let res = client
        .send(req.map(kube::client::Body::from))
        .await
        .map_err(|e| KubeError::from_kube("read the server clock", e))?;
    let date = res
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| KubeError::Api {
            action: "read the server clock".into(),
            message: "the response has no Date header".into(),
            code: 0,
        })?;
    parse_http_date(date).ok_or_else(|| KubeError::Api {
        action: "read the server clock".into(),
        message: format!("unreadable Date header {date:?}"),
        code: 0,
    })
}

/// Parses an HTTP date (`Sun, 22 Nov 2026 02:53:02 GMT`).
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    let s = s.trim().strip_suffix(" GMT")?;
    let zoned = jiff::fmt::strtime::parse("%a, %d %b %Y %H:%M:%S", s).ok()?;
    zoned
        .to_datetime()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_http_dates() {
        let t = parse_http_date("Sun, 22 Nov 2026 02:53:02 GMT");
        assert_eq!(
            t.map(|t| t.to_string()),
            Some("2026-11-22T02:53:02Z".into())
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
