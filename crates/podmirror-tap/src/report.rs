//! What the tap saw, by endpoint: method and path template (`/api/orders/{id}`),
//! count, status mix, p50 and p99 latency, incomplete exchanges, per minute,
//! bounded (minutes kept, endpoints per minute, latencies kept per cell).

use crate::http::Exchange;
use std::collections::{BTreeMap, HashMap};

/// Minutes kept.
pub const MINUTES: u64 = 60;
/// Endpoints per minute; the rest are counted under `(other)`.
pub const ENDPOINTS: usize = 200;
/// Latencies kept per endpoint and minute (the first ones).
pub const LATENCIES: usize = 1024;

/// An endpoint: method and path template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The method.
    pub method: String,
    /// The path with ids replaced by `{id}`.
    pub template: String,
}

/// The figures of one endpoint over some minutes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Exchanges.
    pub count: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Exchanges with bytes missing or no answer.
    pub incomplete: u64,
    latencies: Vec<u32>,
}

impl Figures {
    fn add(&mut self, e: &Exchange) {
        self.count += 1;
        if let Some(s) = e.status {
            *self.statuses.entry(s).or_default() += 1;
        }
        if e.incomplete {
            self.incomplete += 1;
        }
        if let Some(ms) = e.latency_ms
            && self.latencies.len() < LATENCIES
        {
            self.latencies.push(u32::try_from(ms).unwrap_or(u32::MAX));
        }
    }

    fn merge(&mut self, other: &Figures) {
        self.count += other.count;
        self.incomplete += other.incomplete;
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.latencies.extend_from_slice(&other.latencies);
    }

    /// The share of answers with status 500 or more.
    pub fn error_share(&self) -> f64 {
        let answered: u64 = self.statuses.values().sum();
        if answered == 0 {
            return 0.0;
        }
        let errors: u64 = self.statuses.range(500..).map(|(_, n)| n).sum();
        errors as f64 / answered as f64
    }

    /// A latency quantile in milliseconds (nearest rank), if any answered.
    pub fn quantile_ms(&self, q: f64) -> Option<u32> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

/// The per-minute table.
#[derive(Debug, Default)]
pub struct Report {
    minutes: BTreeMap<u64, HashMap<Endpoint, Figures>>,
}

impl Report {
    /// Counts an exchange (its minute is from `at_ms`).
    pub fn add(&mut self, e: &Exchange) {
        let minute = e.at_ms / 60_000;
        let cells = self.minutes.entry(minute).or_default();
        let mut key = Endpoint {
            method: e.method.clone(),
            template: template(&e.path),
        };
        if !cells.contains_key(&key) && cells.len() >= ENDPOINTS {
            key = Endpoint {
                method: "*".into(),
                template: "(other)".into(),
            };
        }
        cells.entry(key).or_default().add(e);
        while self.minutes.len() as u64 > MINUTES {
            self.minutes.pop_first();
        }
    }

    /// Figures by endpoint since `from_ms`.
    pub fn since(&self, from_ms: u64) -> BTreeMap<Endpoint, Figures> {
        let mut out: BTreeMap<Endpoint, Figures> = BTreeMap::new();
        for (_, cells) in self.minutes.range(from_ms / 60_000..) {
            for (k, f) in cells {
                out.entry(k.clone()).or_default().merge(f);
            }
        }
        out
    }

    /// Per minute (start in ms), one endpoint's figures.
    pub fn by_minute(&self, endpoint: &Endpoint) -> Vec<(u64, Figures)> {
        self.minutes
            .iter()
            .filter_map(|(m, cells)| cells.get(endpoint).map(|f| (m * 60_000, f.clone())))
            .collect()
    }
}

/// The path with ids replaced: all-digit segments, UUIDs and long hex.
pub fn template(path: &str) -> String {
    let parts: Vec<String> = path
        .split('/')
        .map(|seg| {
            let digits = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
            let uuid = seg.len() == 36
                && seg.bytes().filter(|b| *b == b'-').count() == 4
                && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
            let hex = seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit());
            if digits || uuid || hex {
                "{id}".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect();
    let joined = parts.join("/");
    if joined.is_empty() {
        "/".into()
    } else {
        joined
    }
}
