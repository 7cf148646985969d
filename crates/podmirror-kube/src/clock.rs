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
            causes: Vec::new(),
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
            causes: Vec::new(),
        })?;
    parse_http_date(date).ok_or_else(|| KubeError::Api {
        action: "read the server clock".into(),
        message: format!("unreadable Date header {date:?}"),
        code: 0,
        causes: Vec::new(),
    })
}

/// The API server's clock tracked across many reads, finer than the `Date`
/// header's whole seconds and never ahead of the server.
///
/// Each read gives a lower bound: the server's time when it answered was at
/// least the (floored) `Date`, and the answer came before it was read, so
/// `Date + time elapsed since the read` is at most the server's time now. The
/// clock keeps the highest such bound (measured with the monotonic clock, so
/// a local clock that jumps changes nothing); reads that land just after a
/// server second begins make it tight.
#[derive(Debug, Default, Clone)]
pub struct ServerClock {
    anchor: Option<(Timestamp, std::time::Instant)>,
}

impl ServerClock {
    /// Reads the server's `Date` once more and tightens the estimate.
    pub async fn observe(&mut self, client: &kube::Client) -> Result<(), KubeError> {
        let date = server_now(client).await?;
        self.observe_date(date, std::time::Instant::now());
        Ok(())
    }

    /// Starts afresh with `readings` reads spread over one second, so one of
    /// them lands within `1 s / readings` after a server second begins: the
    /// estimate is then that close. (Also how to follow a server clock that
    /// was set back: the old bound would run ahead of it.)
    pub async fn calibrate(
        &mut self,
        client: &kube::Client,
        readings: u32,
    ) -> Result<(), KubeError> {
        self.anchor = None;
        let readings = readings.max(1);
        for i in 0..readings {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(1) / readings).await;
            }
            self.observe(client).await?;
        }
        Ok(())
    }

    /// Takes one reading: `date` from a response read at `at`.
    pub fn observe_date(&mut self, date: Timestamp, at: std::time::Instant) {
        if self.at(at).is_none_or(|best| date > best) {
            self.anchor = Some((date, at));
        }
    }

    /// The server's time at `at` (a lower bound); None before any reading.
    pub fn at(&self, at: std::time::Instant) -> Option<Timestamp> {
        let (date, seen) = self.anchor?;
        let elapsed = at.saturating_duration_since(seen);
        date.checked_add(jiff::SignedDuration::try_from(elapsed).ok()?)
            .ok()
    }

    /// The server's time now (a lower bound); None before any reading.
    pub fn now(&self) -> Option<Timestamp> {
        self.at(std::time::Instant::now())
    }
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

    #[test]
    fn the_tracked_clock_keeps_the_highest_lower_bound() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let start = std::time::Instant::now();
        let ms = |n: u64| start + std::time::Duration::from_millis(n);
        let mut c = ServerClock::default();
        assert!(c.at(start).is_none());
        // Read at 0 ms: the server said 10:00:00 (it may have been 10:00:00.9).
        c.observe_date(t("2026-11-22T10:00:00Z"), ms(0));
        assert_eq!(c.at(ms(500)), Some(t("2026-11-22T10:00:00.5Z")));
        // At 300 ms it already said 10:00:01: the server runs 0.7 s ahead of the
        // first estimate, and that tighter bound wins.
        c.observe_date(t("2026-11-22T10:00:01Z"), ms(300));
        assert_eq!(c.at(ms(500)), Some(t("2026-11-22T10:00:01.2Z")));
        // A later read that tells less changes nothing.
        c.observe_date(t("2026-11-22T10:00:01Z"), ms(1200));
        assert_eq!(c.at(ms(1500)), Some(t("2026-11-22T10:00:02.2Z")));
    }
}
