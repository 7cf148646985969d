//! `podmirror traffic POD|deployment/NAME`: what the traffic tap of a pod
//! (or of every pod of a Deployment) saw, by endpoint, read from each
//! tap's report port through the API server's pod proxy (`pods/proxy`).

use crate::mirror_cmd::{Format, Target, connect};
use anyhow::{Context as _, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use podmirror_tap::snapshot::{self, EndpointFigures, Snapshot};

/// Figures of one pod's tap, or why there are none.
pub(crate) struct PodFigures {
    /// The pod's name.
    pub pod: String,
    /// Its tap's figures, or why there are none.
    pub snapshot: Result<Snapshot, String>,
}

/// Prints the figures; exit code 1 when no pod has a tap.
pub async fn traffic(
    target: Target,
    what: String,
    minutes: u64,
    output: Format,
) -> anyhow::Result<u8> {
    let (client, ns) = connect(&target).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let targets: Vec<Pod> = match what.split_once('/') {
        Some(("deployment" | "deploy" | "deployments" | "deployment.apps", name)) => {
            let d = Api::<Deployment>::namespaced(client.clone(), &ns)
                .get_opt(name)
                .await?
                .with_context(|| format!("deployment {name:?} not found in namespace {ns:?}"))?;
            let selector = d
                .spec
                .map(|s| selector_text(&s.selector))
                .unwrap_or_default();
            if selector.is_empty() {
                bail!("deployment {name:?} has an empty selector; name one of its pods instead");
            }
            let list = pods.list(&ListParams::default().labels(&selector)).await?;
            list.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect()
        }
        Some((kind, _)) => bail!(
            "{kind:?} is not a kind podmirror traffic reads; give a pod name or deployment/NAME"
        ),
        None => vec![
            pods.get_opt(&what)
                .await?
                .with_context(|| format!("pod {what:?} not found in namespace {ns:?}"))?,
        ],
    };
    if targets.is_empty() {
        bail!("{what} has no pods in namespace {ns:?}");
    }
    let mut all = Vec::new();
    for pod in &targets {
        all.push(PodFigures {
            pod: pod.metadata.name.clone().unwrap_or_default(),
            snapshot: podmirror_kube::traffic::read(&client, pod, minutes)
                .await
                .map_err(|e| e.to_string()),
        });
    }
    show(&ns, &what, minutes, output, &all)
}

/// Prints the figures of `all` merged by endpoint (and each pod's state);
/// exit code 1 when no pod has a tap.
pub(crate) fn show(
    ns: &str,
    what: &str,
    minutes: u64,
    output: Format,
    all: &[PodFigures],
) -> anyhow::Result<u8> {
    let read: Vec<&Snapshot> = all
        .iter()
        .filter_map(|p| p.snapshot.as_ref().ok())
        .collect();
    let merged = snapshot::merge(&read.iter().map(|s| s.endpoints.clone()).collect::<Vec<_>>());
    match output {
        Format::Json | Format::Yaml => {
            let value = serde_json::json!({
                "namespace": ns,
                "target": what,
                "window_minutes": minutes,
                "endpoints": merged,
                "pods": all.iter().map(|p| match &p.snapshot {
                    Ok(s) => serde_json::json!({"pod": p.pod, "tap": s}),
                    Err(e) => serde_json::json!({"pod": p.pod, "error": e}),
                }).collect::<Vec<_>>(),
            });
            if output == Format::Json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", serde_saphyr::to_string(&value)?);
            }
        }
        Format::Table => print!("{}", table(&merged, all, minutes)),
    }
    Ok(if read.is_empty() { 1 } else { 0 })
}

fn table(endpoints: &[EndpointFigures], pods: &[PodFigures], minutes: u64) -> String {
    let mut rows = vec![
        [
            "ENDPOINT",
            "COUNT",
            "2XX",
            "3XX",
            "4XX",
            "5XX",
            "P50",
            "P99",
            "INCOMPLETE",
            "5XX SINCE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for e in endpoints {
        let class = |c: u16| -> u64 {
            e.statuses
                .range(c * 100..(c + 1) * 100)
                .map(|(_, n)| n)
                .sum()
        };
        let ms = |v: Option<u32>| v.map_or("-".to_string(), |v| format!("{v}ms"));
        let since = e.errors_since_ms.map_or("-".to_string(), |ms| {
            jiff::Timestamp::from_millisecond(ms as i64)
                .map(|t| t.strftime("%H:%M UTC").to_string())
                .unwrap_or_default()
        });
        rows.push(vec![
            format!("{} {}", e.method, e.template),
            e.count.to_string(),
            class(2).to_string(),
            class(3).to_string(),
            class(4).to_string(),
            class(5).to_string(),
            ms(e.p50_ms),
            ms(e.p99_ms),
            e.incomplete.to_string(),
            since,
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if endpoints.is_empty() {
        out.push_str("(no requests seen in the window)\n");
    }
    out.push_str(&format!("\nlast {minutes} min; "));
    let mut notes = Vec::new();
    for p in pods {
        match &p.snapshot {
            Ok(s) => {
                let c = &s.counters;
                let mut n = format!(
                    "{}: tapped ({})",
                    p.pod,
                    if s.capturing {
                        "capturing"
                    } else {
                        "not capturing"
                    }
                );
                if let Some(e) = &s.error {
                    n.push_str(&format!(": {e}"));
                }
                let dropped = c.dropped_connections + c.dropped_exchanges;
                if dropped > 0 {
                    n.push_str(&format!(", {dropped} dropped"));
                }
                let skipped = c.tls + c.http2;
                if skipped > 0 {
                    n.push_str(&format!(
                        ", {} TLS and {} HTTP/2 connections not read",
                        c.tls, c.http2
                    ));
                }
                notes.push(n);
            }
            Err(e) => notes.push(format!("{}: {e}", p.pod)),
        }
    }
    out.push_str(&notes.join("\n"));
    out.push('\n');
    out
}

/// A LabelSelector as a label selector query (`app=web,tier in (a,b)`).
fn selector_text(sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector) -> String {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}
