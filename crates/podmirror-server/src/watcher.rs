//! The diagnosis watcher: when a pod starts failing, diagnose it — once it
//! has failed for `debounce` (a pod that is only starting up is left
//! alone), at most `per_minute` diagnoses a minute, and again when its last
//! diagnosis is older than half the window — so `GET /api/diagnosis/{pod}`
//! and `podmirror fix` find a fresh diagnosis without anyone asking.

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
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            debounce: Duration::from_secs(10),
            per_minute: 30,
        }
    }
}

/// Starts the watcher; it stops when the state is dropped.
pub fn start(state: &Arc<AppState>, pacing: Pacing) {
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
