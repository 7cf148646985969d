//! Gathering what the diagnosis rules read: one snapshot of a namespace (or
//! all) — pods, events of both events APIs, ReplicaSets (owner chain and
//! rollout history), the workloads (Deployments, StatefulSets, DaemonSets,
//! Jobs) for those that have no pod to diagnose, ConfigMap and Secret keys
//! (never Secret values), claims, ServiceAccounts, nodes — then, per failing
//! pod, the tail of its containers' logs. A namespace costs 14 requests (the
//! clock and 13 lists) plus 1–2 log reads per container that is not ready,
//! however many pods it has.

use crate::KubeError;
use crate::source::controller;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Node, PersistentVolumeClaim, Pod, Secret, ServiceAccount,
};
use kube::api::{Api, ListParams, LogParams};
use podmirror_core::contract::LABEL_MIRROR;
use podmirror_core::diagnosis::{
    Context, EndpointTraffic, EventLine, NodeInfo, Owner, Revision, SecretInfo, Traffic,
    WorkloadState,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// How many log lines of each run are kept.
pub const LOG_LINES: i64 = 20;

/// One namespace (or every one) as the rules need it.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Pods, mirrors excluded.
    pub pods: Vec<Value>,
    events: Vec<(String, String, EventLine)>,
    replicasets: Vec<Value>,
    configmaps: BTreeMap<(String, String), Vec<String>>,
    secrets: BTreeMap<(String, String), SecretInfo>,
    pvcs: BTreeMap<(String, String), (String, String)>,
    /// Deployments, StatefulSets, DaemonSets and Jobs.
    workloads: Vec<Value>,
    service_accounts: Vec<(String, String)>,
    nodes: Vec<NodeInfo>,
    /// The API server's time when it was taken.
    pub now: Option<jiff::Timestamp>,
    /// What the API server would not let this user list (`configmaps`,
    /// `nodes`, …): the diagnosis goes on without it.
    pub unreadable: Vec<String>,
}

/// A list that the diagnosis can do without: a 403 is noted in
/// `unreadable` and read as empty; any other failure stops the snapshot.
fn optional<T: Default>(
    listed: Result<T, KubeError>,
    what: &str,
    unreadable: &mut Vec<String>,
) -> Result<T, KubeError> {
    match listed {
        Err(KubeError::Api { code: 403, .. }) => {
            unreadable.push(what.to_string());
            Ok(T::default())
        }
        other => other,
    }
}

async fn list<K: crate::source::NamespacedKind>(
    client: &kube::Client,
    ns: Option<&str>,
    what: &str,
) -> Result<Vec<Value>, KubeError> {
    list_with::<K>(client, ns, what, &ListParams::default()).await
}

async fn list_with<K: crate::source::NamespacedKind>(
    client: &kube::Client,
    ns: Option<&str>,
    what: &str,
    params: &ListParams,
) -> Result<Vec<Value>, KubeError> {
    let api: Api<K> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let items = api
        .list(params)
        .await
        .map_err(|e| KubeError::from_kube(format!("list {what}"), e))?
        .items;
    Ok(items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn key(v: &Value) -> (String, String) {
    (text(v, "/metadata/namespace"), text(v, "/metadata/name"))
}

fn keys_of(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

impl Snapshot {
    /// Reads a namespace (`None`: all of them).
    pub async fn take(client: &kube::Client, ns: Option<&str>) -> Result<Snapshot, KubeError> {
        Self::take_with(client, ns, None).await
    }

    /// Reads what one pod's diagnosis needs: the pod and its events only
    /// (field selectors), the rest of its namespace as [`Snapshot::take`]
    /// does — so a namespace of thousands of pods costs no more.
    pub async fn take_pod(
        client: &kube::Client,
        ns: &str,
        pod: &str,
    ) -> Result<Snapshot, KubeError> {
        Self::take_with(client, Some(ns), Some(pod)).await
    }

    async fn take_with(
        client: &kube::Client,
        ns: Option<&str>,
        only: Option<&str>,
    ) -> Result<Snapshot, KubeError> {
        let selected = |field: &str| match only {
            Some(name) => ListParams::default().fields(&format!("{field}={name}")),
            None => ListParams::default(),
        };
        let now = crate::clock::server_now(client).await.ok();
        let pods = list_with::<Pod>(client, ns, "pods", &selected("metadata.name"))
            .await?
            .into_iter()
            .filter(|p| {
                p.pointer(&format!(
                    "/metadata/labels/{}",
                    LABEL_MIRROR.replace('/', "~1")
                ))
                .is_none()
            })
            .collect();
        let mut unreadable = Vec::new();
        let mut events = Vec::new();
        let core_events = optional(
            list_with::<Event>(client, ns, "events", &selected("involvedObject.name")).await,
            "events",
            &mut unreadable,
        )?;
        for e in core_events {
            let involved = (
                text(&e, "/involvedObject/namespace"),
                text(&e, "/involvedObject/name"),
            );
            events.push((
                involved.0,
                involved.1,
                EventLine {
                    kind: text(&e, "/type"),
                    reason: text(&e, "/reason"),
                    message: text(&e, "/message"),
                    count: e.get("count").and_then(Value::as_u64).unwrap_or(1) as u32,
                },
            ));
        }
        // events.k8s.io/v1: the same store in a real cluster; kept when new.
        // (A set, not a scan: a large cluster has tens of thousands of events.)
        let mut seen: std::collections::HashSet<(String, String, String, String)> = events
            .iter()
            .map(|(n, p, l)| (n.clone(), p.clone(), l.reason.clone(), l.message.clone()))
            .collect();
        let new_api: Api<k8s_openapi::api::events::v1::Event> = match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        if let Ok(list) = new_api.list(&selected("regarding.name")).await {
            for e in list
                .items
                .into_iter()
                .filter_map(|e| serde_json::to_value(e).ok())
            {
                let line = EventLine {
                    kind: text(&e, "/type"),
                    reason: text(&e, "/reason"),
                    message: text(&e, "/note"),
                    count: e
                        .pointer("/series/count")
                        .and_then(Value::as_u64)
                        .unwrap_or(1) as u32,
                };
                let who = (
                    text(&e, "/regarding/namespace"),
                    text(&e, "/regarding/name"),
                );
                if seen.insert((
                    who.0.clone(),
                    who.1.clone(),
                    line.reason.clone(),
                    line.message.clone(),
                )) {
                    events.push((who.0, who.1, line));
                }
            }
        }
        let replicasets = optional(
            list::<ReplicaSet>(client, ns, "replicasets").await,
            "replicasets",
            &mut unreadable,
        )?;
        let configmaps = optional(
            list::<ConfigMap>(client, ns, "configmaps").await,
            "configmaps",
            &mut unreadable,
        )?
        .iter()
        .map(|c| {
            (
                key(c),
                [keys_of(c, "data"), keys_of(c, "binaryData")].concat(),
            )
        })
        .collect();
        // Only the type and the key names are kept; values are dropped here.
        let secrets = optional(
            list::<Secret>(client, ns, "secrets").await,
            "secrets",
            &mut unreadable,
        )?
        .iter()
        .map(|s| {
            (
                key(s),
                SecretInfo {
                    kind: text(s, "/type"),
                    keys: keys_of(s, "data"),
                },
            )
        })
        .collect();
        let pvcs = optional(
            list::<PersistentVolumeClaim>(client, ns, "persistentvolumeclaims").await,
            "persistentvolumeclaims",
            &mut unreadable,
        )?
        .iter()
        .map(|c| {
            (
                key(c),
                (text(c, "/status/phase"), text(c, "/spec/storageClassName")),
            )
        })
        .collect();
        // The workloads (a single pod's diagnosis does not need them).
        let mut workloads = Vec::new();
        let mut service_accounts = Vec::new();
        if only.is_none() {
            for (listed, what) in [
                (
                    list::<Deployment>(client, ns, "deployments").await,
                    "deployments",
                ),
                (
                    list::<StatefulSet>(client, ns, "statefulsets").await,
                    "statefulsets",
                ),
                (
                    list::<DaemonSet>(client, ns, "daemonsets").await,
                    "daemonsets",
                ),
                (list::<Job>(client, ns, "jobs").await, "jobs"),
            ] {
                workloads.extend(optional(listed, what, &mut unreadable)?);
            }
        }
        service_accounts.extend(
            optional(
                list::<ServiceAccount>(client, ns, "serviceaccounts").await,
                "serviceaccounts",
                &mut unreadable,
            )?
            .iter()
            .map(key),
        );
        let nodes: Api<Node> = Api::all(client.clone());
        let nodes = optional(
            nodes
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .map_err(|e| KubeError::from_kube("list nodes", e)),
            "nodes",
            &mut unreadable,
        )?
        .into_iter()
        .filter_map(|n| serde_json::to_value(n).ok())
        .map(|n| node_info(&n))
        .collect();
        Ok(Snapshot {
            pods,
            events,
            replicasets,
            configmaps,
            secrets,
            pvcs,
            workloads,
            service_accounts,
            nodes,
            now,
            unreadable,
        })
    }

    /// What could not be read, in words, when something could not.
    pub fn unreadable_note(&self) -> Option<String> {
        (!self.unreadable.is_empty()).then(|| {
            format!(
                "the API server does not let you list {}; diagnosed with what you may read (a fix that needs them may be missing; ask for list on them to get it)",
                self.unreadable.join(", ")
            )
        })
    }

    /// The context of one pod of the snapshot, its logs read now.
    pub async fn context(&self, client: &kube::Client, pod: &Value) -> Context {
        let (ns, name) = key(pod);
        let events = self
            .events
            .iter()
            .filter(|(n, p, _)| *n == ns && *p == name)
            .map(|(_, _, e)| e.clone())
            .collect();
        let (owner, history) = self.owner_and_history(pod);
        let in_ns = |k: &(String, String)| k.0 == ns;
        Context {
            pod: pod.clone(),
            events,
            logs: logs(client, pod).await,
            owner,
            history,
            configmaps: self
                .configmaps
                .iter()
                .filter(|(k, _)| in_ns(k))
                .map(|(k, v)| (k.1.clone(), v.clone()))
                .collect(),
            secrets: self
                .secrets
                .iter()
                .filter(|(k, _)| in_ns(k))
                .map(|(k, v)| (k.1.clone(), v.clone()))
                .collect(),
            pvcs: claims(pod)
                .into_iter()
                .map(|c| {
                    let unknown = self
                        .unreadable
                        .iter()
                        .any(|u| u == "persistentvolumeclaims");
                    let state = self
                        .pvcs
                        .get(&(ns.clone(), c.clone()))
                        .cloned()
                        .unwrap_or_else(|| {
                            let phase = if unknown { "Unknown" } else { "Missing" };
                            (phase.into(), String::new())
                        });
                    (c, state)
                })
                .collect(),
            claim_names: self
                .pvcs
                .keys()
                .filter(|k| in_ns(k))
                .map(|k| k.1.clone())
                .collect(),
            storage_classes: Vec::new(),
            service_accounts: self
                .service_accounts
                .iter()
                .filter(|k| in_ns(k))
                .map(|k| k.1.clone())
                .collect(),
            workload: None,
            nodes: self.nodes.clone(),
            now: self.now,
            traffic: tap_figures(client, pod).await,
        }
    }

    /// The workload `kind/name` of namespace `ns`, if the snapshot has it.
    pub fn workload(&self, ns: &str, kind: &str, name: &str) -> Option<&Value> {
        self.workloads.iter().find(|w| {
            text(w, "/metadata/namespace") == ns
                && text(w, "/kind").eq_ignore_ascii_case(kind)
                && text(w, "/metadata/name") == name
        })
    }

    /// The workloads with something to say and no failing pod that says
    /// it: pods refused at creation, a stalled rollout, a failed Job.
    pub fn stuck_workloads(&self) -> Vec<&Value> {
        self.workloads
            .iter()
            .filter(|w| {
                let pods = self.pods_of(w);
                let state = self.workload_state_with(w, pods.len() as i64);
                let refused = state.pods < state.desired
                    && (state.events.iter().any(|e| e.reason == "FailedCreate")
                        || state
                            .conditions
                            .iter()
                            .any(|(t, s, _, _)| t == "ReplicaFailure" && s == "True"));
                let no_failing_pod = !pods.iter().any(|p| !podmirror_core::diagnosis::healthy(p));
                let stalled = state.conditions.iter().any(|(t, s, r, _)| {
                    t == "Progressing" && s == "False" && r == "ProgressDeadlineExceeded"
                }) && no_failing_pod;
                let failed_job = state
                    .conditions
                    .iter()
                    .any(|(t, s, _, _)| t == "Failed" && s == "True")
                    && state.pods == 0;
                refused || stalled || failed_job
            })
            .collect()
    }

    /// The ReplicaSets a Deployment owns (for other kinds, none).
    fn replicasets_of(&self, w: &Value) -> Vec<&Value> {
        let uid = text(w, "/metadata/uid");
        self.replicasets
            .iter()
            .filter(|r| {
                r.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|o| o["uid"] == uid.as_str()))
            })
            .collect()
    }

    /// The pods of a workload (through its ReplicaSets for a Deployment), not being deleted.
    fn pods_of(&self, w: &Value) -> Vec<&Value> {
        let mut owners: Vec<String> = vec![text(w, "/metadata/uid")];
        owners.extend(
            self.replicasets_of(w)
                .iter()
                .map(|r| text(r, "/metadata/uid")),
        );
        self.pods
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .filter(|p| {
                p.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| {
                        o.iter()
                            .any(|o| owners.iter().any(|u| o["uid"] == u.as_str()))
                    })
            })
            .collect()
    }

    fn workload_state(&self, w: &Value) -> WorkloadState {
        self.workload_state_with(w, self.pods_of(w).len() as i64)
    }

    /// [`Snapshot::workload_state`] with its pods already counted.
    fn workload_state_with(&self, w: &Value, pods: i64) -> WorkloadState {
        let kind = text(w, "/kind");
        let (ns, name) = key(w);
        let rss = self.replicasets_of(w);
        let mut names: Vec<String> = vec![name.clone()];
        names.extend(rss.iter().map(|r| text(r, "/metadata/name")));
        let events = self
            .events
            .iter()
            .filter(|(n, p, _)| *n == ns && names.contains(p))
            .map(|(_, _, e)| e.clone())
            .collect();
        let conditions_of = |o: &Value| -> Vec<(String, String, String, String)> {
            o.pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        text(c, "/type"),
                        text(c, "/status"),
                        text(c, "/reason"),
                        text(c, "/message"),
                    )
                })
                .collect()
        };
        let mut conditions = conditions_of(w);
        let revision = |r: &Value| {
            text(
                r,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            )
            .parse::<u64>()
            .unwrap_or(0)
        };
        if let Some(newest) = rss.iter().max_by_key(|r| revision(r)) {
            conditions.extend(conditions_of(newest));
        }
        let number = |p: &str| w.pointer(p).and_then(Value::as_i64);
        let desired = match kind.as_str() {
            "DaemonSet" => number("/status/desiredNumberScheduled").unwrap_or(0),
            "Job" => number("/spec/parallelism").unwrap_or(1),
            _ => number("/spec/replicas").unwrap_or(1),
        };
        WorkloadState {
            kind,
            name,
            desired,
            pods,
            events,
            conditions,
        }
    }

    /// The context of a workload that has no pod to diagnose: its template
    /// as a pod named `kind/name`, and what its owner chain says.
    pub fn workload_context(&self, w: &Value) -> Context {
        let state = self.workload_state(w);
        let (ns, _) = key(w);
        let target = format!("{}/{}", state.kind.to_ascii_lowercase(), state.name);
        let template = w.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        let pod = podmirror_core::cleanup::pod_from_template(&template, &target, &ns);
        let mut ctx = Context {
            owner: Some(Owner {
                kind: state.kind.clone(),
                name: state.name.clone(),
            }),
            ..Context::default()
        };
        let in_ns = |k: &(String, String)| k.0 == ns;
        ctx.configmaps = self
            .configmaps
            .iter()
            .filter(|(k, _)| in_ns(k))
            .map(|(k, v)| (k.1.clone(), v.clone()))
            .collect();
        ctx.secrets = self
            .secrets
            .iter()
            .filter(|(k, _)| in_ns(k))
            .map(|(k, v)| (k.1.clone(), v.clone()))
            .collect();
        ctx.claim_names = self
            .pvcs
            .keys()
            .filter(|k| in_ns(k))
            .map(|k| k.1.clone())
            .collect();
        ctx.service_accounts = self
            .service_accounts
            .iter()
            .filter(|k| in_ns(k))
            .map(|k| k.1.clone())
            .collect();
        ctx.nodes = self.nodes.clone();
        ctx.now = self.now;
        ctx.pod = pod;
        ctx.workload = Some(state);
        ctx
    }

    /// The workload above the pod and, for a Deployment, its revisions.
    fn owner_and_history(&self, pod: &Value) -> (Option<Owner>, Vec<Revision>) {
        let Some((kind, name)) = controller(pod) else {
            return (None, Vec::new());
        };
        let ns = text(pod, "/metadata/namespace");
        if kind != "ReplicaSet" {
            return (Some(Owner { kind, name }), Vec::new());
        }
        let rs = self
            .replicasets
            .iter()
            .find(|r| key(r) == (ns.clone(), name.clone()));
        let Some((dkind, dname)) = rs.and_then(controller).filter(|(k, _)| k == "Deployment")
        else {
            return (Some(Owner { kind, name }), Vec::new());
        };
        let deployment_uid = rs
            .and_then(|r| r.pointer("/metadata/ownerReferences/0/uid"))
            .cloned();
        let number = |r: &Value| {
            text(
                r,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            )
            .parse::<u64>()
            .unwrap_or(0)
        };

        let mut history: Vec<Revision> = self
            .replicasets
            .iter()
            .filter(|r| text(r, "/metadata/namespace") == ns)
            .filter(|r| r.pointer("/metadata/ownerReferences/0/uid").cloned() == deployment_uid)
            .map(|r| {
                let n = number(r);
                let available = r
                    .pointer("/status/availableReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                Revision {
                    number: n,
                    spec: r
                        .pointer("/spec/template/spec")
                        .cloned()
                        .unwrap_or(Value::Null),
                    // Known to have run: it serves pods now. (An old revision
                    // scaled to zero may or may not have; the rules say so.)
                    ran: available > 0,
                }
            })
            .collect();
        history.sort_by_key(|r| r.number);
        (
            Some(Owner {
                kind: dkind,
                name: dname,
            }),
            history,
        )
    }
}

/// The minutes of the tap's figures a diagnosis reads.
pub const TRAFFIC_MINUTES: u64 = 10;

/// What the tap of a healthy-looking tapped pod saw (the only pods whose
/// failure it alone can show); `None` for others or when it does not answer.
async fn tap_figures(client: &kube::Client, pod: &Value) -> Option<Traffic> {
    if !podmirror_core::diagnosis::healthy(pod) || !podmirror_core::cleanup::tapped(pod) {
        return None;
    }
    let typed: Pod = serde_json::from_value(pod.clone()).ok()?;
    let snapshot = crate::traffic::read(client, &typed, TRAFFIC_MINUTES)
        .await
        .ok()?;
    Some(traffic_of(&snapshot))
}

/// The tap's figures as the diagnosis reads them.
pub fn traffic_of(snapshot: &podmirror_tap::snapshot::Snapshot) -> Traffic {
    let endpoints = snapshot
        .endpoints
        .iter()
        .map(|e| {
            let errors = e.statuses.iter().filter(|(s, _)| **s >= 500);
            EndpointTraffic {
                method: e.method.clone(),
                template: e.template.clone(),
                answered: e.statuses.values().sum(),
                errors: errors.clone().map(|(_, n)| n).sum(),
                top_error: errors.max_by_key(|(_, n)| **n).map_or(0, |(s, _)| *s),
                errors_since: e
                    .errors_since_ms
                    .and_then(|ms| jiff::Timestamp::from_millisecond(ms as i64).ok()),
            }
        })
        .collect();
    Traffic {
        window_minutes: snapshot.window_minutes,
        ports: snapshot.ports.clone(),
        endpoints,
    }
}

fn claims(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect()
}

fn node_info(n: &Value) -> NodeInfo {
    let quantity = |p: &str| text(n, p);
    let cpu = quantity("/status/allocatable/cpu");
    let cpu_millis = match cpu.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => cpu.parse::<f64>().map(|c| (c * 1000.0) as i64).unwrap_or(0),
    };
    NodeInfo {
        name: text(n, "/metadata/name"),
        labels: n
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        taints: n
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| (text(t, "/key"), text(t, "/value"), text(t, "/effect")))
            .collect(),
        memory_bytes: podmirror_core::diagnosis::memory_bytes(&quantity(
            "/status/allocatable/memory",
        ))
        .unwrap_or(0),
        cpu_millis,
    }
}

/// The last lines of the current and previous run of each container that
/// is not ready (what the rules read), `LOG_LINES` each.
/// The first time this process could not read logs because the API server
/// failed (not a container that has no logs yet), in podmirror's words.
static LOG_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn note_log_failure(e: &kube::Error, pod: &str) {
    // 400 and 404 are a container with no (previous) run: nothing to say.
    if let kube::Error::Api(s) = e
        && matches!(s.code, 400 | 404)
    {
        return;
    }
    let why = match e {
        kube::Error::Api(s) => format!("HTTP {}: {}", s.code, s.message),
        other => other.to_string(),
    };
    let _ = LOG_FAILURE.set(format!(
        "the API server could not serve container logs (pod {pod}: {why}); the diagnoses were made without them. Logs come from the kubelet of the pod's node: check that it runs and that the API server can reach it"
    ));
}

/// Why logs could not be read, if the API server failed to serve them at
/// least once in this process (said once, however many pods it hit).
pub fn log_failure() -> Option<&'static str> {
    LOG_FAILURE.get().map(String::as_str)
}

async fn logs(client: &kube::Client, pod: &Value) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let (ns, name) = key(pod);
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut out = BTreeMap::new();
    let statuses = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| {
            pod.pointer(&format!("/status/{k}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect::<Vec<_>>();
    for s in statuses
        .iter()
        .filter(|s| s.get("ready") != Some(&Value::Bool(true)))
    {
        let container = text(s, "/name");
        let restarted = s.get("restartCount").and_then(Value::as_i64).unwrap_or(0) > 0;
        let read = |previous: bool| {
            let api = api.clone();
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: Some(LOG_LINES),
                ..Default::default()
            };
            let name = name.clone();
            async move {
                match api.logs(&name, &params).await {
                    Ok(l) => l.lines().map(str::to_string).collect::<Vec<_>>(),
                    Err(e) => {
                        note_log_failure(&e, &name);
                        Vec::new()
                    }
                }
            }
        };
        let current = read(false).await;
        let previous = if restarted {
            read(true).await
        } else {
            Vec::new()
        };
        out.insert(container.clone(), (current, previous));
    }
    out
}
