//! Mirror lifetimes: parsing (`90s`, `3m`, `1h`), the allowed window, and
//! expiry computed from the API server's clock (the mirror's
//! creationTimestamp), never from the local one.

use crate::CoreError;
use jiff::Timestamp;
use std::fmt;
use std::str::FromStr;

/// Shortest TTL a mirror may have.
pub const MIN_SECONDS: u64 = 30;
/// Longest TTL a mirror may have.
pub const MAX_SECONDS: u64 = 3600;
/// TTL when none is given.
pub const DEFAULT_SECONDS: u64 = 180;

/// A mirror's lifetime, within [`MIN_SECONDS`]..=[`MAX_SECONDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(u64);

impl Ttl {
    /// A TTL of `seconds`, if inside the window.
    pub fn from_seconds(seconds: u64) -> Result<Ttl, CoreError> {
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
            return Err(CoreError::Ttl {
                input: format!("{seconds}s"),
                reason: format!("{} is outside 30s..60m", human(seconds)),
            });
        }
        Ok(Ttl(seconds))
    }

    /// Seconds.
    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl Default for Ttl {
    fn default() -> Self {
        Ttl(DEFAULT_SECONDS)
    }
}

impl FromStr for Ttl {
    type Err = CoreError;

    fn from_str(input: &str) -> Result<Ttl, CoreError> {
        let bad = |reason: &str| CoreError::Ttl {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let text = input.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return Err(bad("it does not start with a number"));
        }
        let n: u64 = digits.parse().map_err(|_| bad("the number is too large"))?;
        let factor = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(bad("the unit must be s, m or h")),
        };
        let seconds = n
            .checked_mul(factor)
            .ok_or_else(|| bad("the number is too large"))?;
        Ttl::from_seconds(seconds)
            .map_err(|_| bad(&format!("{} is outside the allowed window", human(seconds))))
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

/// `45s`, `3m`, `2m30s`, `1h`: a duration as a person writes it.
pub fn human(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// When a mirror created at `created` (its creationTimestamp) with `ttl_seconds` expires.
pub fn expiry(created: Timestamp, ttl_seconds: u64) -> Timestamp {
    let ttl = i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2);
    created
        .checked_add(jiff::SignedDuration::from_secs(ttl))
        .unwrap_or(Timestamp::MAX)
}

/// Seconds left until `expires`, judged at `cluster_now` (the API server's
/// clock as last seen, not the local one); negative once expired.
pub fn remaining(expires: Timestamp, cluster_now: Timestamp) -> i64 {
    expires.as_second() - cluster_now.as_second()
}

/// "2m13s" left, or "expired".
pub fn countdown(seconds_left: i64) -> String {
    if seconds_left <= 0 {
        "expired".into()
    } else {
        human(seconds_left.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        for (input, seconds) in [
            ("90s", 90),
            ("3m", 180),
            ("1h", 3600),
            ("30", 30),
            (" 60m ", 3600),
        ] {
            assert_eq!(
                input.parse::<Ttl>().map(Ttl::seconds).ok(),
                Some(seconds),
                "{input}"
            );
        }
        assert_eq!(Ttl::default().seconds(), 180);
    }

    #[test]
    fn refuses_what_is_outside_the_window_or_malformed() {
        for input in [
            "29s",
            "61m",
            "2h",
            "0",
            "",
            "m",
            "3d",
            "1.5m",
            "-5s",
            "99999999999999999999s",
        ] {
            let err = input
                .parse::<Ttl>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("30s to 60m"), "{input}: {err}");
        }
        let err = "29s"
            .parse::<Ttl>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("29s is outside"), "{err}");
    }

    #[test]
    fn shows_durations_as_people_write_them() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(45), "45s");
        assert_eq!(human(150), "2m30s");
        assert_eq!(human(3600), "1h");
        assert_eq!(countdown(-3), "expired");
        assert_eq!(countdown(61), "1m1s");
    }

    #[test]
    fn expiry_counts_from_the_creation_timestamp() {
        let created: Timestamp = "2026-11-22T10:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let exp = expiry(created, 180);
        assert_eq!(exp.to_string(), "2026-11-22T10:03:00Z");
        let now: Timestamp = "2026-11-22T10:02:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(remaining(exp, now), 60);
    }
}
