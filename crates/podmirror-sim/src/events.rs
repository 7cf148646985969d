//! Kubernetes Events written by the simulated control plane, correlated like
//! the real event recorder: a repeat of the same reason and message on the
//! same object bumps `count` and `lastTimestamp` instead of adding an event.

use crate::Cluster;
use crate::cluster::WriteOptions;
use crate::meta;
use crate::resources::ids;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many recent (object, reason, message) keys are remembered for
/// correlation; client-go's event correlator keeps the same number.
const CORRELATION_ENTRIES: usize = 4096;

/// What makes two events the same one, counted instead of repeated.
pub fn correlation_key(
    object: &Value,
    field_path: Option<&str>,
    reason: &str,
    message: &str,
    source: &Source,
) -> String {
    format!(
        "{}/{}/{reason}/{message}/{}",
        meta::uid(object),
        field_path.unwrap_or(""),
        source.component
    )
}

/// A new core/v1 Event about `object` (a whole object or just its
/// apiVersion, kind and metadata), counted once, stamped now.
pub fn new_event(
    object: &Value,
    field_path: Option<&str>,
    kind: EventType,
    reason: &str,
    message: &str,
    source: &Source,
) -> Value {
    let ns = match meta::namespace(object) {
        "" => "default",
        ns => ns,
    };
    let name = meta::name(object);
    let now = meta::now_rfc3339();
    let mut involved = json!({
        "kind": object.get("kind").cloned().unwrap_or(Value::Null),
        "namespace": meta::namespace(object),
        "name": name,
        "uid": meta::uid(object),
        "apiVersion": object.get("apiVersion").cloned().unwrap_or(Value::Null),
        "resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
    });
    if let Some(fp) = field_path {
        involved["fieldPath"] = json!(fp);
    }
    let mut src = json!({"component": source.component});
    if let Some(h) = &source.host {
        src["host"] = json!(h);
    }
    let nanos = crate::meta::clock_now().as_nanosecond();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{name}.{:x}", nanos as u64),
            "namespace": ns,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": src,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": kind.as_str(),
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": source.host.clone().unwrap_or_default(),
    })
}

/// Remembers which event each recent (object, reason, message) went to, for correlation.
#[derive(Default)]
pub struct Recorder {
    index: Mutex<Correlation>,
}

/// The remembered keys, forgetting the oldest beyond [`CORRELATION_ENTRIES`].
#[derive(Default)]
struct Correlation {
    events: HashMap<String, (String, String)>,
    order: VecDeque<String>,
}

impl Correlation {
    fn remember(&mut self, key: String, event: (String, String)) {
        if self.events.insert(key.clone(), event).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CORRELATION_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.events.remove(&old);
            }
        }
    }
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Routine progress.
    Normal,
    /// Something needs attention.
    Warning,
}

impl EventType {
    /// The `type` field's text.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Who reports an event.
#[derive(Debug, Clone)]
pub struct Source {
    /// `kubelet`, `default-scheduler`, `deployment-controller`, …
    pub component: String,
    /// Node name for kubelet events.
    pub host: Option<String>,
}

impl Source {
    /// A control-plane component.
    pub fn component(name: &str) -> Self {
        Source {
            component: name.to_string(),
            host: None,
        }
    }

    /// The kubelet of a node.
    pub fn kubelet(node: &str) -> Self {
        Source {
            component: "kubelet".to_string(),
            host: Some(node.to_string()),
        }
    }
}

impl Recorder {
    /// Records an event about `object`, optionally about one of its containers (`field_path`).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        cluster: &Cluster,
        object: &Value,
        field_path: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
        source: &Source,
    ) {
        let ns = match meta::namespace(object) {
            "" => "default",
            ns => ns,
        };
        let now = meta::now_rfc3339();
        let opts = WriteOptions::manager(&source.component);
        // Correlate with an earlier identical event on the same object.
        let key = correlation_key(object, field_path, reason, message, source);
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let existing = index
            .events
            .get(&key)
            .and_then(|(ns, name)| cluster.get(ids::events(), ns, name).ok());
        if let Some(e) = existing {
            let mut e = (*e).clone();
            let count = e.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
            e["count"] = json!(count);
            e["lastTimestamp"] = json!(now);
            let _ = cluster.update(
                ids::events(),
                ns,
                meta::name(&e).to_string().as_str(),
                None,
                e.clone(),
                &opts,
            );
            return;
        }
        let event = new_event(object, field_path, kind, reason, message, source);
        if let Ok(created) = cluster.create(ids::events(), ns, event, &opts) {
            index.remember(key, (ns.to_string(), meta::name(&created).to_string()));
        }
    }
}
