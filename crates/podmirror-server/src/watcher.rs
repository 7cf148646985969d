//! The diagnosis watcher: when a pod starts failing, diagnose it — once it
//! has failed for `debounce` (a pod that is only starting up is left
//! alone), at most `per_minute` diagnoses a minute, and again when its last
//! diagnosis is older than half the window — so `GET /api/diagnosis/{pod}`
//! and `podmirror fix` find a fresh diagnosis without anyone asking. Every
//! `sweep` it also reads the cluster's workloads for those with no pod to
//! say what is wrong (pods refused at creation, a stalled rollout, a failed
//! Job), diagnoses them (`kind/name`) and lists them with the failing pods;
//! and it reads the taps of Ready tapped pods, listing those that answer
//! errors (`server-errors`) as failing too.

use crate::AppState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the watcher paces itself.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// How long a pod must have been failing before it is diagnosed.
    pub debounce: Duration,
    /// Most diagnoses a minute.
    pub per_minute: u32,
    /// How often the workloads are read for those with no pod to diagnose.
    pub sweep: Duration,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            debounce: Duration::from_secs(10),
            per_minute: 30,
            sweep: Duration::from_secs(15),
        }
    }
}

/// A workload the sweep found with no pod to say what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Stuck {
    /// Its namespace.
    pub namespace: String,
    /// `deployment/NAME` (the diagnosis's `pod`).
    pub target: String,
    /// `Deployment/NAME`.
    pub owner: String,
    /// The category of its diagnosis (`admission`, `rollout`, `job-failed`).
    pub reason: String,
    /// Pods it wants, and has.
    pub desired: i64,
    /// Pods it has.
    pub pods: i64,
    /// Its creationTimestamp.
    pub created_at: Option<String>,
}

/// Keeps the sweep's finding `f` unless its last one (in `last`, by
/// `namespace/pod`) is younger than half the window.
async fn keep(
    s: &AppState,
    f: &podmirror_core::diagnosis::Finding,
    last: &mut HashMap<String, Instant>,
    now: Instant,
    what: &str,
) {
    let key = format!("{}/{}", f.namespace, f.pod);
    let stale = last
        .get(&key)
        .is_none_or(|t| now.duration_since(*t) > s.window / 2);
    if !stale {
        return;
    }
    match s.store.save(f, jiff::Timestamp::now()).await {
        Ok(()) => {
            last.insert(key, now);
            s.diagnoses.send_modify(|n| *n += 1);
            tracing::info!(namespace = %f.namespace, target = %f.pod, "{what}");
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not keep the diagnosis of {}/{}", f.namespace, f.pod)
        }
    }
}

/// Reads the workloads, diagnoses the stuck ones (again once their
/// diagnosis is older than half the window) and publishes the list.
async fn sweep(s: &AppState, last: &mut HashMap<String, Instant>) {
    let snapshot = match podmirror_kube::gather::Snapshot::take(&s.client, None).await {
        Ok(snap) => snap,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the workloads");
            return;
        }
    };
    let now = Instant::now();
    let mut found = Vec::new();
    for w in snapshot.stuck_workloads() {
        let ctx = snapshot.workload_context(w);
        let Some(f) = podmirror_core::diagnosis::diagnose(&ctx) else {
            continue;
        };
        keep(s, &f, last, now, "diagnosed a workload with no pod").await;
        let state = ctx.workload.as_ref();
        found.push(Stuck {
            namespace: f.namespace.clone(),
            target: f.pod.clone(),
            owner: f
                .owner
                .as_ref()
                .map(|o| format!("{}/{}", o.kind, o.name))
                .unwrap_or_default(),
            reason: f.category.as_str().to_string(),
            desired: state.map_or(0, |w| w.desired),
            pods: state.map_or(0, |w| w.pods),
            created_at: w
                .pointer("/metadata/creationTimestamp")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
        });
    }
    // Ready pods that answer errors: only their taps can tell.
    let mut answering = std::collections::BTreeSet::new();
    for p in snapshot
        .pods
        .iter()
        .filter(|p| podmirror_core::cleanup::tapped(p) && podmirror_core::diagnosis::healthy(p))
    {
        let ctx = snapshot.context(&s.client, p).await;
        let Some(f) = podmirror_core::diagnosis::diagnose(&ctx) else {
            continue;
        };
        keep(
            s,
            &f,
            last,
            now,
            "diagnosed a Ready pod that answers errors",
        )
        .await;
        answering.insert((f.namespace.clone(), f.pod.clone()));
    }
    last.retain(|k, _| {
        found
            .iter()
            .any(|f| format!("{}/{}", f.namespace, f.target) == *k)
            || k.split_once('/')
                .is_some_and(|(ns, pod)| answering.contains(&(ns.to_string(), pod.to_string())))
    });
    let mut listed = s
        .answering_errors
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *listed != answering {
        *listed = answering;
        drop(listed);
        s.diagnoses.send_modify(|n| *n += 1);
    }
    let mut stuck = s
        .stuck
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *stuck != found {
        *stuck = found;
        drop(stuck);
        s.diagnoses.send_modify(|n| *n += 1);
    }
}

/// Starts the watcher; it stops when the state is dropped.
pub fn start(state: &Arc<AppState>, pacing: Pacing) {
    let weak = Arc::downgrade(state);
    let every = pacing.sweep;
    tokio::spawn(async move {
        let mut last = HashMap::new();
        loop {
            let Some(s) = weak.upgrade() else { return };
            sweep(&s, &mut last).await;
            drop(s);
            tokio::time::sleep(every).await;
        }
    });
    let weak = Arc::downgrade(state);
    let mut changes = state.pods.changes();
    tokio::spawn(async move {
        // uid → (first seen failing, last diagnosed)
        let mut seen: HashMap<String, (Instant, Option<Instant>)> = HashMap::new();
        let mut spent: Vec<Instant> = Vec::new();
        loop {
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let Some(s) = weak.upgrade() else { return };
            let now = Instant::now();
            let mut failing = Vec::new();
            let pods = s.pods.pods();
            for p in &pods {
                if p.mirror || p.healthy || p.deleting {
                    continue;
                }
                let entry = seen.entry(p.uid.clone()).or_insert((now, None));
                let stale = entry.1.is_none_or(|t| now.duration_since(t) > s.window / 2);
                if now.duration_since(entry.0) >= pacing.debounce && stale {
                    failing.push((p.uid.clone(), p.namespace.clone(), p.name.clone()));
                }
            }
            let live: std::collections::HashSet<&str> =
                pods.iter().map(|p| p.uid.as_str()).collect();
            seen.retain(|uid, _| live.contains(uid.as_str()));
            spent.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
            for (uid, ns, name) in failing {
                if spent.len() >= pacing.per_minute as usize {
                    break;
                }
                spent.push(Instant::now());
                match s.diagnose(&ns, &name).await {
                    Ok(_) => {
                        tracing::info!(namespace = %ns, pod = %name, "diagnosed a failing pod")
                    }
                    Err(e) => {
                        tracing::warn!(namespace = %ns, pod = %name, error = %e.message, "could not diagnose a failing pod")
                    }
                }
                if let Some(entry) = seen.get_mut(&uid) {
                    entry.1 = Some(Instant::now());
                }
            }
        }
    });
}
