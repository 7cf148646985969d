//! The tap's figures as it serves them (`GET /traffic` on its report port)
//! and as `podmirror traffic` and the backend read them: per endpoint over
//! a window, with the minute since which an endpoint keeps answering
//! errors. Only methods, path templates, statuses and times: no header,
//! cookie, query or body.

use crate::report::{Endpoint, Figures, Report};
use crate::tap::{Counters, Mode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An error share at or above this, in a minute with answers, counts as
/// "answering errors" for [`EndpointFigures::errors_since_ms`].
pub const ERROR_SHARE: f64 = 0.05;

/// One endpoint over the window.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointFigures {
    /// The method.
    pub method: String,
    /// The path template (`/api/orders/{id}`).
    pub template: String,
    /// Exchanges.
    pub count: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Median latency, milliseconds.
    pub p50_ms: Option<u32>,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: Option<u32>,
    /// Exchanges with bytes missing or no answer.
    pub incomplete: u64,
    /// The share of answers with status 500 or more.
    pub error_share: f64,
    /// The start of the minute since which every minute's answers were at
    /// least [`ERROR_SHARE`] errors (Unix milliseconds); `None` when the
    /// last minute was not.
    pub errors_since_ms: Option<u64>,
}

/// Everything the tap reports.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The pod's IP the tap watches.
    pub pod_ip: String,
    /// Ingress or egress.
    pub mode: Mode,
    /// The ports.
    pub ports: Vec<u16>,
    /// Whether capture runs; when not, `error` says why.
    pub capturing: bool,
    /// Why capture does not run.
    pub error: Option<String>,
    /// The window, in minutes.
    pub window_minutes: u64,
    /// Counters since the tap started.
    pub counters: Counters,
    /// Endpoints, busiest first.
    pub endpoints: Vec<EndpointFigures>,
}

/// The figures of the last `minutes` minutes before `now_ms`.
pub fn endpoints(report: &Report, now_ms: u64, minutes: u64) -> Vec<EndpointFigures> {
    let from = now_ms.saturating_sub(minutes.saturating_sub(1) * 60_000);
    let mut out: Vec<EndpointFigures> = report
        .since(from)
        .into_iter()
        .map(|(endpoint, f)| figures(report, &endpoint, &f, from))
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.template.cmp(&b.template)));
    out
}

fn figures(report: &Report, endpoint: &Endpoint, f: &Figures, from: u64) -> EndpointFigures {
    let minutes: Vec<(u64, Figures)> = report
        .by_minute(endpoint)
        .into_iter()
        .filter(|(m, _)| m + 60_000 > from)
        .collect();
    let mut since = None;
    for (m, fig) in minutes.iter().rev() {
        let answered: u64 = fig.statuses.values().sum();
        if answered > 0 && fig.error_share() >= ERROR_SHARE {
            since = Some(*m);
        } else {
            break;
        }
    }
    EndpointFigures {
        method: endpoint.method.clone(),
        template: endpoint.template.clone(),
        count: f.count,
        statuses: f.statuses.clone(),
        p50_ms: f.quantile_ms(0.5),
        p99_ms: f.quantile_ms(0.99),
        incomplete: f.incomplete,
        error_share: f.error_share(),
        errors_since_ms: since,
    }
}

/// Adds the endpoints of several pods (of one workload) together.
pub fn merge(all: &[Vec<EndpointFigures>]) -> Vec<EndpointFigures> {
    let mut by: BTreeMap<(String, String), EndpointFigures> = BTreeMap::new();
    for list in all {
        for e in list {
            let key = (e.method.clone(), e.template.clone());
            match by.get_mut(&key) {
                None => {
                    by.insert(key, e.clone());
                }
                Some(m) => {
                    m.count += e.count;
                    m.incomplete += e.incomplete;
                    for (s, n) in &e.statuses {
                        *m.statuses.entry(*s).or_default() += n;
                    }
                    // Quantiles of a union are not known from the parts: the
                    // larger of the two is reported, which never flatters.
                    m.p50_ms = m.p50_ms.max(e.p50_ms);
                    m.p99_ms = m.p99_ms.max(e.p99_ms);
                    let answered: u64 = m.statuses.values().sum();
                    let errors: u64 = m.statuses.range(500..).map(|(_, n)| n).sum();
                    m.error_share = if answered == 0 {
                        0.0
                    } else {
                        errors as f64 / answered as f64
                    };
                    m.errors_since_ms = match (m.errors_since_ms, e.errors_since_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
    }
    let mut out: Vec<EndpointFigures> = by.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.template.cmp(&b.template)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Exchange;

    fn ex(at_ms: u64, status: u16) -> Exchange {
        Exchange {
            method: "GET".into(),
            path: "/api/orders".into(),
            status: Some(status),
            latency_ms: Some(10),
            at_ms,
            incomplete: false,
        }
    }

    #[test]
    fn errors_since_is_the_first_minute_of_the_current_run_of_errors() {
        let mut r = Report::default();
        let base = 1_000 * 60_000;
        for m in 0..6u64 {
            for i in 0..10u64 {
                let failing = m >= 3 && i < 3;
                r.add(&ex(base + m * 60_000 + i, if failing { 500 } else { 200 }));
            }
        }
        let list = endpoints(&r, base + 5 * 60_000 + 1, 15);
        assert_eq!(list.len(), 1);
        let e = &list[0];
        assert_eq!(e.count, 60);
        assert_eq!(e.errors_since_ms, Some(base + 3 * 60_000));
        assert!((e.error_share - 9.0 / 60.0).abs() < 1e-9);
        let short = endpoints(&r, base + 5 * 60_000 + 1, 2);
        assert_eq!(short[0].count, 20);
        let merged = merge(&[list.clone(), list]);
        assert_eq!(merged[0].count, 120);
    }
}
