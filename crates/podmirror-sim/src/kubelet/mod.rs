//! The simulated kubelet: plays every pod bound to a node through the image
//! catalog — pulls, mounts, config checks, init containers, starts, logs,
//! probes, exits, OOM kills, CrashLoopBackOff, deadlines and graceful
//! deletion — and reports it in pod status and events as a real kubelet does.

pub mod agent;
pub mod host;
pub mod listen;
pub mod nodes;
pub mod rules;
pub mod sim_host;

pub use host::{Host, StatusWrite};
pub use sim_host::start;

use crate::catalog::{Catalog, Image};
use crate::controller::set_pod_condition;
use crate::events::{EventType, Source};
use crate::logs::Logs;
use crate::meta;
use rules::{Objects, ProbeKind, PullOutcome, Run, RunPlan};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// One container's state as the kubelet reports it.
#[derive(Debug, Clone)]
struct Container {
    name: String,
    image: String,
    init: bool,
    /// A native sidecar: an init container with `restartPolicy: Always`,
    /// started before the next one and kept running with the pod.
    sidecar: bool,
    state: Value,
    last_state: Value,
    ready: bool,
    started: bool,
    restart_count: u32,
    image_id: Option<String>,
    container_id: Option<String>,
    /// Finished for good (no restart coming).
    done: bool,
    exit_code: Option<i64>,
}

impl Container {
    fn waiting(&mut self, reason: &str, message: Option<&str>) {
        let mut w = json!({"reason": reason});
        if let Some(m) = message {
            w["message"] = json!(m);
        }
        self.state = json!({"waiting": w});
        self.ready = false;
        self.started = false;
    }

    fn status(&self) -> Value {
        let mut s = json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id.clone().unwrap_or_default(),
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        });
        if let Some(id) = &self.container_id {
            s["containerID"] = json!(id);
        }
        s
    }
}

/// Everything the kubelet knows about one pod.
struct PodState {
    containers: Vec<Container>,
    host_ip: String,
    pod_ip: String,
    start_time: String,
    sandbox_ready: bool,
    initialized: bool,
    failed_reason: Option<(String, String)>,
}

impl PodState {
    fn phase(&self, restart_policy: &str) -> &'static str {
        if self.failed_reason.is_some() {
            return "Failed";
        }
        let main: Vec<&Container> = self.containers.iter().filter(|c| !c.init).collect();
        if self
            .containers
            .iter()
            .any(|c| c.init && c.done && c.exit_code.is_some_and(|e| e != 0))
            && restart_policy == "Never"
        {
            return "Failed";
        }
        if !self.initialized {
            return "Pending";
        }
        if main.iter().all(|c| c.done) && !main.is_empty() {
            if main.iter().all(|c| c.exit_code == Some(0)) {
                return "Succeeded";
            }
            return "Failed";
        }
        let ever_started = main.iter().any(|c| {
            c.state.get("running").is_some()
                || c.state.get("terminated").is_some()
                || c.restart_count > 0
                || c.last_state.get("terminated").is_some()
        });
        if ever_started { "Running" } else { "Pending" }
    }
}

fn container_id() -> String {
    let hex: String = (0..64)
        .map(|_| char::from(b"0123456789abcdef"[meta::with_rng(|r| r.usize(..16))]))
        .collect();
    format!("containerd://{hex}")
}

fn image_digest(image: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in image.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let r = crate::catalog::parse_ref(image);
    format!(
        "{}@sha256:{h:016x}{:016x}{h:016x}{:016x}",
        r.kubelet().split(':').next().unwrap_or(""),
        h.rotate_left(7),
        h.rotate_left(13)
    )
}

/// A running pod worker.
struct Worker {
    host: Arc<dyn Host>,
    logs: Arc<Logs>,
    catalog: Arc<Catalog>,
    ns: String,
    name: String,
    uid: String,
    node: String,
    state: Mutex<PodState>,
    stop_tx: watch::Sender<bool>,
    /// Images each node has pulled (node, image), shared by all workers.
    images: Arc<Mutex<HashSet<(String, String)>>>,
    /// A status write is already on its way and will carry any newer state.
    publish_pending: AtomicBool,
    /// Status writes go out one at a time, in order; holds a hash of the
    /// last one written (thousands of workers: not the status itself).
    published: tokio::sync::Mutex<Option<u64>>,
    /// Real listeners and probes (`listen`).
    sockets: bool,
    /// Images whose containers run as real processes on this machine.
    programs: Arc<HashMap<String, std::path::PathBuf>>,
}

impl Worker {
    fn pod(&self) -> Option<Arc<Value>> {
        self.host.pod(&self.ns, &self.name, &self.uid)
    }

    fn event(&self, field_path: Option<&str>, kind: EventType, reason: &str, message: &str) {
        let Some(pod) = self.host.pod_ref(&self.ns, &self.name, &self.uid) else {
            return;
        };
        self.host.event(
            &pod,
            field_path,
            kind,
            reason,
            message,
            &Source::kubelet(&self.node),
        );
    }

    fn with<R>(&self, f: impl FnOnce(&mut PodState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut st)
    }

    /// Writes the pod status from the kubelet's state soon. Changes made
    /// together (sandbox ready, then containers created and started) go out as
    /// one write, as the real kubelet's status manager coalesces them.
    fn publish(self: &Arc<Self>) {
        if self.publish_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let w = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            w.publish_now().await;
        });
    }

    /// The pod's status as the kubelet's state says, on top of what the
    /// cluster has (conditions others set, such as PodScheduled, stay).
    fn status_for(&self, pod: &Value) -> Value {
        let restart_policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always");
        let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
        self.with(|st| {
            let phase = st.phase(restart_policy);
            status["phase"] = json!(phase);
            status["hostIP"] = json!(st.host_ip);
            status["hostIPs"] = json!([{"ip": st.host_ip}]);
            if st.sandbox_ready {
                status["podIP"] = json!(st.pod_ip);
                status["podIPs"] = json!([{"ip": st.pod_ip}]);
            }
            status["startTime"] = json!(st.start_time);
            let main: Vec<&Container> = st.containers.iter().filter(|c| !c.init).collect();
            let init: Vec<&Container> = st.containers.iter().filter(|c| c.init).collect();
            let sidecars: Vec<&Container> = init.iter().copied().filter(|c| c.sidecar).collect();
            let all_ready = !main.is_empty()
                && main.iter().all(|c| c.ready)
                && sidecars.iter().all(|c| c.ready || c.done);
            let (ready_reason, ready_msg) = if all_ready {
                ("", String::new())
            } else if matches!(phase, "Succeeded" | "Failed") {
                ("PodCompleted", String::new())
            } else {
                let not_ready: Vec<&str> = sidecars
                    .iter()
                    .chain(main.iter())
                    .filter(|c| !c.ready && !c.done)
                    .map(|c| c.name.as_str())
                    .collect();
                (
                    "ContainersNotReady",
                    format!("containers with unready status: [{}]", not_ready.join(" ")),
                )
            };
            let t = |b: bool| if b { "True" } else { "False" };
            set_pod_condition(
                &mut status,
                "PodReadyToStartContainers",
                t(st.sandbox_ready),
                "",
                "",
            );
            if st.initialized {
                set_pod_condition(&mut status, "Initialized", "True", "", "");
            } else {
                let pending: Vec<&str> = init
                    .iter()
                    .filter(|c| !(c.done || c.sidecar && c.started))
                    .map(|c| c.name.as_str())
                    .collect();
                set_pod_condition(
                    &mut status,
                    "Initialized",
                    "False",
                    "ContainersNotInitialized",
                    &format!("containers with incomplete status: [{}]", pending.join(" ")),
                );
            }
            set_pod_condition(&mut status, "Ready", t(all_ready), ready_reason, &ready_msg);
            set_pod_condition(
                &mut status,
                "ContainersReady",
                t(all_ready),
                ready_reason,
                &ready_msg,
            );
            status["containerStatuses"] =
                json!(main.iter().map(|c| c.status()).collect::<Vec<_>>());
            if !init.is_empty() {
                status["initContainerStatuses"] =
                    json!(init.iter().map(|c| c.status()).collect::<Vec<_>>());
            }
            if let Some((reason, message)) = &st.failed_reason {
                status["reason"] = json!(reason);
                status["message"] = json!(message);
            }
        });
        status
    }

    /// Writes the pod status from the kubelet's state now.
    async fn publish_now(&self) {
        let mut published = self.published.lock().await;
        // Cleared under the lock: a change made from here on publishes again.
        self.publish_pending.store(false, Ordering::Release);
        for _ in 0..5 {
            let Some(pod) = self.pod() else { return };
            let status = self.status_for(&pod);
            // Skipped only when both the cluster (as last seen) and the last
            // write already say this: a cache may lag behind a write.
            let hash = status_hash(&status);
            if pod.get("status") == Some(&status) && published.is_none_or(|p| p == hash) {
                return;
            }
            match self.host.write_status(&pod, status).await {
                StatusWrite::Conflict => continue,
                StatusWrite::Done => {
                    *published = Some(hash);
                    return;
                }
            }
        }
    }

    fn stopped(&self) -> bool {
        *self.stop_tx.borrow()
    }

    /// Sleeps simulated time; false when the pod is being stopped.
    async fn sleep(&self, d: Duration) -> bool {
        let Some(wall) = self.host.scaled(d) else {
            return false;
        };
        let mut rx = self.stop_tx.subscribe();
        if *rx.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(wall) => !self.stopped(),
            _ = rx.wait_for(|s| *s) => false,
        }
    }
}

/// A hash of a status as written (FNV-1a of its JSON).
fn status_hash(status: &Value) -> u64 {
    let bytes = serde_json::to_vec(status).unwrap_or_default();
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn probe_num(p: &Value, key: &str, default: f64) -> f64 {
    p.get(key).and_then(Value::as_f64).unwrap_or(default)
}

fn have_pull_secret(objects: &dyn Objects, pod: &Value) -> bool {
    let ns = meta::namespace(pod);
    pod.pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .any(|n| objects.secret(ns, n).is_some())
}

/// How a started container ended.
struct Ended {
    exit_code: i64,
    reason: String,
    message: Option<String>,
    /// Why the kubelet's last sync of it failed, shown as the waiting
    /// reason and message until the next start (`PostStartHookError`).
    sync_error: Option<(&'static str, String)>,
}

/// Runs one container until it finishes for good or the pod stops.
async fn run_container(w: Arc<Worker>, idx: usize) {
    let (is_init, sidecar, cname) = w.with(|st| {
        let c = &st.containers[idx];
        (c.init, c.sidecar, c.name.clone())
    });
    let list = if is_init {
        "initContainers"
    } else {
        "containers"
    };
    // Neither the parsed pod nor this container's parsed spec is kept across
    // awaits (thousands of containers sleep at a time): the spec stays
    // serialized and is parsed at each start.
    let Some(pod) = w.pod() else { return };
    let Some(spec) = pod
        .pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|c| c["name"] == cname.as_str()))
    else {
        return;
    };
    let spec_json = serde_json::to_vec(spec).unwrap_or_default();
    let field_path = format!("spec.{list}{{{cname}}}");
    let fp = Some(field_path.as_str());
    let image_name = spec
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let pull_policy = spec
        .get("imagePullPolicy")
        .and_then(Value::as_str)
        .unwrap_or("IfNotPresent")
        .to_string();
    let restart_policy = pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always")
        .to_string();
    let spec_json: Box<[u8]> = spec_json.into();
    drop(pod);
    let log_key = (w.ns.clone(), w.uid.clone(), cname.clone());
    // Catalog entries are borrowed, not copied, for the container's whole life.
    let catalog = w.catalog.clone();
    let mut pulled: Option<&Image> = None;
    let mut pull_failures: u32 = 0;
    loop {
        if w.stopped() {
            return;
        }
        // 1. The image. No strong handle on the sim is held across an await:
        // the sim must be able to go away while containers sleep.
        if pulled.is_none() || pull_policy == "Always" {
            let secret = w.pod().is_some_and(|p| have_pull_secret(&*w.host, &p));
            match rules::pull(&catalog, &image_name, secret) {
                PullOutcome::Pulled {
                    image,
                    size_bytes,
                    duration,
                } => {
                    let cached = w
                        .images
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains(&(w.node.clone(), image_name.clone()));
                    if pull_policy != "Always" && cached {
                        w.event(
                            fp,
                            EventType::Normal,
                            "Pulled",
                            &rules::already_present_event(&image_name),
                        );
                    } else {
                        w.event(
                            fp,
                            EventType::Normal,
                            "Pulling",
                            &rules::pulling_event(&image_name),
                        );
                        if !w.sleep(duration.min(Duration::from_secs(3))).await {
                            return;
                        }
                        w.event(
                            fp,
                            EventType::Normal,
                            "Pulled",
                            &rules::pulled_event(&image_name, duration, size_bytes),
                        );
                        w.images
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert((w.node.clone(), image_name.clone()));
                        pulled = Some(image);
                        continue;
                    }
                    pulled = Some(image);
                }
                failure => {
                    let message = failure.error().unwrap_or("").to_string();
                    w.event(
                        fp,
                        EventType::Normal,
                        "Pulling",
                        &rules::pulling_event(&image_name),
                    );
                    w.with(|st| st.containers[idx].waiting("ErrImagePull", Some(&message)));
                    w.event(
                        fp,
                        EventType::Warning,
                        "Failed",
                        &rules::pull_failed_event(&image_name, &message),
                    );
                    w.event(
                        fp,
                        EventType::Warning,
                        "Failed",
                        &rules::error_event("ErrImagePull"),
                    );
                    w.publish();
                    if !w.sleep(Duration::from_secs(1)).await {
                        return;
                    }
                    w.with(|st| {
                        st.containers[idx].waiting(
                            "ImagePullBackOff",
                            Some(&rules::image_pull_backoff_message(&image_name, &message)),
                        )
                    });
                    w.event(
                        fp,
                        EventType::Normal,
                        "BackOff",
                        &rules::pull_backoff_event(&image_name),
                    );
                    w.event(
                        fp,
                        EventType::Warning,
                        "Failed",
                        &rules::error_event("ImagePullBackOff"),
                    );
                    w.publish();
                    pull_failures += 1;
                    if !w.sleep(rules::image_pull_backoff(pull_failures)).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some(image) = pulled else {
            continue;
        };
        w.with(|st| st.containers[idx].image_id = Some(image_digest(&image_name)));
        // 2. Configuration.
        let spec: Value = serde_json::from_slice(&spec_json).unwrap_or_default();
        let checked = {
            let Some(pod) = w.pod() else { return };
            rules::check_config(&w.ns, &pod, &spec, image, &*w.host)
        };
        let resolved = match checked {
            Ok(r) => r,
            Err(message) => {
                drop(spec);
                w.with(|st| {
                    st.containers[idx].waiting("CreateContainerConfigError", Some(&message))
                });
                w.event(
                    fp,
                    EventType::Warning,
                    "Failed",
                    &rules::error_event(&message),
                );
                w.publish();
                if !w.sleep(Duration::from_secs(10)).await {
                    return;
                }
                continue;
            }
        };
        // 3. Start.
        let restarts = w.with(|st| st.containers[idx].restart_count);
        if restarts > 0 {
            w.logs.restart(&log_key);
        }
        let plan = rules::plan_run(&spec, image, &resolved, rules::memory_limit_bytes(&spec));
        let hook_failure = rules::post_start_failure(
            &spec,
            image,
            &resolved,
            &format!("{}_{}({})", w.name, w.ns, w.uid),
        );
        let probing = serde_json::to_vec(&probing_view(&spec)).unwrap_or_default();
        let host_program = w
            .programs
            .get(&crate::catalog::parse_ref(&image_name).repository)
            .map(|program| {
                (
                    program.clone(),
                    rules::strings(&spec, "args"),
                    resolved.env.clone(),
                )
            });
        drop(spec);
        let started_at = meta::now_rfc3339();
        w.with(|st| st.containers[idx].container_id = Some(container_id()));
        let ended = match plan {
            RunPlan::StartFailure {
                exit_code,
                reason,
                message,
            } => {
                w.event(
                    fp,
                    EventType::Normal,
                    "Created",
                    &rules::created_event(&cname),
                );
                w.event(
                    fp,
                    EventType::Warning,
                    "Failed",
                    &rules::error_event(&message),
                );
                Ended {
                    exit_code: i64::from(exit_code),
                    reason,
                    message: Some(message),
                    sync_error: None,
                }
            }
            RunPlan::Runs(run) => {
                w.event(
                    fp,
                    EventType::Normal,
                    "Created",
                    &rules::created_event(&cname),
                );
                w.event(
                    fp,
                    EventType::Normal,
                    "Started",
                    &rules::started_event(&cname),
                );
                // A failing postStart hook: the kubelet kills the container.
                if let Some(message) = hook_failure {
                    // The event never carries the hook's output (it may hold
                    // secrets); the container's waiting message does.
                    w.event(
                        fp,
                        EventType::Warning,
                        "FailedPostStartHook",
                        rules::POST_START_HOOK_FAILED,
                    );
                    w.event(fp, EventType::Normal, "Killing", "FailedPostStartHook");
                    Ended {
                        exit_code: 137,
                        reason: rules::exit_reason(137).to_string(),
                        message: None,
                        sync_error: Some(("PostStartHookError", message)),
                    }
                } else if let Some((program, args, env)) = &host_program {
                    match run_host_program(&w, idx, program, args, env, &log_key, &started_at).await
                    {
                        Some(e) => e,
                        None => return,
                    }
                } else {
                    match run_process(
                        &w,
                        idx,
                        &probing,
                        image,
                        &run,
                        &log_key,
                        &started_at,
                        fp,
                        is_init && !sidecar,
                    )
                    .await
                    {
                        Some(e) => e,
                        None => return,
                    }
                }
            }
        };
        w.logs.finish(&log_key);
        let finished_at = meta::now_rfc3339();
        let cid = w
            .with(|st| st.containers[idx].container_id.clone())
            .unwrap_or_default();
        let mut terminated = json!({
            "exitCode": ended.exit_code,
            "reason": ended.reason,
            "startedAt": started_at,
            "finishedAt": finished_at,
            "containerID": cid,
        });
        if let Some(m) = &ended.message {
            terminated["message"] = json!(m);
        }
        let restart = match (is_init && !sidecar, restart_policy.as_str()) {
            _ if sidecar => true,
            (_, "Never") => false,
            (true, _) | (false, "OnFailure") => ended.exit_code != 0,
            _ => true,
        };
        if !restart {
            w.with(|st| {
                let c = &mut st.containers[idx];
                c.state = json!({"terminated": terminated});
                c.ready = false;
                c.started = false;
                c.done = true;
                c.exit_code = Some(ended.exit_code);
            });
            w.publish();
            return;
        }
        let count = restarts + 1;
        w.with(|st| {
            let c = &mut st.containers[idx];
            c.last_state = json!({"terminated": terminated});
            c.restart_count = count;
            if ended.reason == "StartError" {
                c.waiting("RunContainerError", ended.message.as_deref());
            } else if let Some((reason, message)) = &ended.sync_error {
                c.waiting(reason, Some(message));
            } else {
                c.state = json!({"terminated": terminated});
                c.ready = false;
                c.started = false;
            }
        });
        w.publish();
        // The first restart is immediate; back-off starts with the second crash, as in the kubelet.
        if count == 1 {
            continue;
        }
        let delay = rules::crashloop_backoff(count - 1);
        let pod_text = (w.name.clone(), w.ns.clone(), w.uid.clone());
        w.with(|st| {
            st.containers[idx].waiting(
                "CrashLoopBackOff",
                Some(&rules::backoff_message(
                    &cname,
                    &pod_text.0,
                    &pod_text.1,
                    &pod_text.2,
                    delay,
                )),
            )
        });
        w.event(
            fp,
            EventType::Warning,
            "BackOff",
            &rules::backoff_event(&cname, &pod_text.0, &pod_text.1, &pod_text.2),
        );
        w.publish();
        if !w.sleep(delay).await {
            return;
        }
    }
}

/// The parts of a container spec a running container still reads: its name,
/// ports (named probe ports resolve through them) and probes.
fn probing_view(spec: &Value) -> Value {
    let mut view = serde_json::Map::new();
    for key in [
        "name",
        "ports",
        "startupProbe",
        "livenessProbe",
        "readinessProbe",
    ] {
        if let Some(v) = spec.get(key) {
            view.insert(key.into(), v.clone());
        }
    }
    Value::Object(view)
}

/// A probe's field in the container spec, initialDelaySeconds and periodSeconds.
type ProbeTiming<'a> = Option<(&'a str, f64, f64)>;

/// Plays a started process: logs, probes, exit or kill. None when the pod is stopping.
/// An HTTP or TCP probe as a real request to the pod's listener, when the
/// kubelet runs with sockets; `None` for an exec or gRPC probe (simulated).
async fn real_probe(
    w: &Worker,
    probe: &Value,
    container: &Value,
    pod_ip: &str,
) -> Option<Result<(), rules::ProbeFailure>> {
    if !w.sockets {
        return None;
    }
    // The probe's timeout in simulated seconds, at least half a real one:
    // a busy machine must not fail a probe the program would answer.
    let timeout = w
        .host
        .scaled(Duration::from_secs_f64(
            probe_num(probe, "timeoutSeconds", 1.0).max(1.0),
        ))?
        .max(Duration::from_millis(500));
    let failed = |e: listen::ProbeError| rules::ProbeFailure {
        errored: false,
        output: e.0,
    };
    let host = |h: &Value| -> Option<std::net::IpAddr> {
        h.get("host")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(pod_ip)
            .parse()
            .ok()
    };
    if let Some(http) = probe.get("httpGet") {
        let port = match rules::resolve_port(&http["port"], container) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let path = http.get("path").and_then(Value::as_str).unwrap_or("/");
        let ip = host(http)?;
        return Some(
            listen::http_probe(ip, port, path, timeout)
                .await
                .map_err(failed),
        );
    }
    if let Some(tcp) = probe.get("tcpSocket") {
        let port = match rules::resolve_port(&tcp["port"], container) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let ip = host(tcp)?;
        return Some(listen::tcp_probe(ip, port, timeout).await.map_err(failed));
    }
    None
}

/// Runs a container as a real process on this machine (an image of
/// [`Kubelet::with_programs`]): its `args` after the program, its resolved
/// environment (with `POD_IP` filled from the pod's address), its output as
/// the container's log; ready once started (no probes); killed when the pod
/// stops. `None` when the pod stopped.
async fn run_host_program(
    w: &Arc<Worker>,
    idx: usize,
    program: &std::path::Path,
    args: &[String],
    env: &std::collections::BTreeMap<String, String>,
    log_key: &crate::logs::ContainerKey,
    started_at: &str,
) -> Option<Ended> {
    use tokio::io::AsyncBufReadExt;
    let pod_ip = w.with(|st| st.pod_ip.clone());
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if env.get("POD_IP").is_none_or(String::is_empty) {
        cmd.env("POD_IP", &pod_ip);
    }
    // A process outlives a kubelet that is killed (kill_on_drop needs the
    // kubelet to run its destructors): it is told to end with its parent.
    cmd.env("PODMIRROR_PARENT_PID", std::process::id().to_string());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Some(Ended {
                exit_code: 128,
                reason: "StartError".into(),
                message: Some(format!("failed to start {}: {e}", program.display())),
                sync_error: None,
            });
        }
    };
    w.with(|st| {
        let c = &mut st.containers[idx];
        c.state = json!({"running": {"startedAt": started_at}});
        c.started = true;
        c.ready = true;
    });
    w.publish();
    let mut readers = Vec::new();
    for out in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let (logs, key) = (w.logs.clone(), log_key.clone());
        readers.push(tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                logs.append(&key, &line);
            }
        }));
    }
    let mut stop = w.stop_tx.subscribe();
    let stopping = async move {
        // The guard wait_for returns is not Send: keep it inside.
        let _ = stop.wait_for(|s| *s).await.map(|_| ());
    };
    let ended = tokio::select! {
        status = child.wait() => {
            let code = status.ok().and_then(|s| s.code()).map_or(137, i64::from);
            Some(Ended {
                exit_code: code,
                reason: rules::exit_reason(i32::try_from(code).unwrap_or(1)).to_string(),
                message: None,
                sync_error: None,
            })
        }
        () = stopping => {
            let _ = child.kill().await;
            None
        }
    };
    for r in readers {
        let _ = r.await;
    }
    ended
}

/// Runs a container's program until it ends; its listeners (with sockets)
/// are closed before this returns, so the next run can bind them again.
#[allow(clippy::too_many_arguments)]
async fn run_process(
    w: &Arc<Worker>,
    idx: usize,
    probing: &[u8],
    image: &Image,
    run: &Run,
    log_key: &crate::logs::ContainerKey,
    started_at: &str,
    fp: Option<&str>,
    is_init: bool,
) -> Option<Ended> {
    let mut listeners: Option<listen::Listeners> = None;
    let ended = run_program(
        w,
        idx,
        probing,
        image,
        run,
        log_key,
        started_at,
        fp,
        is_init,
        &mut listeners,
    )
    .await;
    if let Some(l) = listeners {
        l.close().await;
    }
    ended
}

#[allow(clippy::too_many_arguments)]
async fn run_program(
    w: &Arc<Worker>,
    idx: usize,
    probing: &[u8],
    image: &Image,
    run: &Run,
    log_key: &crate::logs::ContainerKey,
    started_at: &str,
    fp: Option<&str>,
    is_init: bool,
    listeners: &mut Option<listen::Listeners>,
) -> Option<Ended> {
    // `probing` is the serialized [`probing_view`]: it is parsed only on the
    // seconds a probe is due, as thousands of containers sleep in this loop.
    let parse = || serde_json::from_slice::<Value>(probing).unwrap_or_default();
    // Each probe's field and (initialDelaySeconds, periodSeconds), when it has one.
    let (startup, liveness, readiness) = {
        let view = parse();
        let timing = |field: &'static str| {
            view.get(field).filter(|p| p.is_object()).map(|p| {
                (
                    field,
                    probe_num(p, "initialDelaySeconds", 0.0),
                    probe_num(p, "periodSeconds", 10.0).max(1.0),
                )
            })
        };
        (
            timing("startupProbe"),
            timing("livenessProbe"),
            timing("readinessProbe"),
        )
    };
    w.with(|st| {
        let c = &mut st.containers[idx];
        c.state = json!({"running": {"startedAt": started_at}});
        c.started = startup.is_none();
        c.ready = !is_init && startup.is_none() && readiness.is_none();
    });
    w.publish();
    for line in &run.log_lines {
        w.logs.append(log_key, line);
    }
    let pod_ip = w.with(|st| st.pod_ip.clone());
    // With sockets, `listeners` are the program's, bound once it has
    // started up (the caller closes them when it ends).
    let mut failures: HashMap<&'static str, u32> = HashMap::new();
    let mut successes: HashMap<&'static str, u32> = HashMap::new();
    let mut started = startup.is_none();
    let mut t: f64 = 0.0;
    loop {
        if let Some(exit) = &run.exit
            && t >= exit.after_seconds
        {
            return Some(Ended {
                exit_code: i64::from(exit.exit_code),
                reason: exit.reason.clone(),
                message: None,
                sync_error: None,
            });
        }
        if w.sockets
            && listeners.is_none()
            && t >= run.startup_seconds
            && !run.listens.is_empty()
            && let Ok(ip) = pod_ip.parse::<std::net::IpAddr>()
        {
            let answers = listen::Answers {
                health_path: run.health_path.clone(),
                routes: run.routes.clone(),
            };
            let (bound, errors) = listen::serve(ip, &run.listens, answers).await;
            for e in errors {
                w.logs.append(log_key, &e);
            }
            *listeners = Some(bound);
        }
        let probes: [(&'static str, ProbeKind, ProbeTiming<'_>); 3] = [
            ("startup", ProbeKind::Startup, startup),
            ("liveness", ProbeKind::Liveness, liveness),
            ("readiness", ProbeKind::Readiness, readiness),
        ];
        let mut view: Option<Value> = None;
        for (key, kind, probe) in probes {
            let Some((field, delay, period)) = probe else {
                continue;
            };
            if is_init {
                continue;
            }
            match kind {
                ProbeKind::Startup if started => continue,
                ProbeKind::Liveness | ProbeKind::Readiness if !started => continue,
                _ => {}
            }
            if t < delay || ((t - delay) % period).abs() > 0.001 {
                continue;
            }
            let spec = view.get_or_insert_with(parse);
            let Some(p) = spec.get(field) else { continue };
            let outcome = match real_probe(w, p, spec, &pod_ip).await {
                Some(real) => real,
                None => rules::probe(p, spec, image, run, &pod_ip, t),
            };
            match outcome {
                Ok(()) => {
                    failures.insert(key, 0);
                    let s = successes.entry(key).or_default();
                    *s += 1;
                    match kind {
                        ProbeKind::Startup => {
                            started = true;
                            w.with(|st| {
                                let c = &mut st.containers[idx];
                                c.started = true;
                                c.ready = readiness.is_none();
                            });
                            w.publish();
                        }
                        ProbeKind::Readiness
                            if *s >= probe_num(p, "successThreshold", 1.0) as u32
                                && !w.with(|st| st.containers[idx].ready) =>
                        {
                            w.with(|st| st.containers[idx].ready = true);
                            w.publish();
                        }
                        _ => {}
                    }
                }
                Err(failure) => {
                    successes.insert(key, 0);
                    w.event(
                        fp,
                        EventType::Warning,
                        "Unhealthy",
                        &rules::unhealthy_event(kind, &failure),
                    );
                    let f = failures.entry(key).or_default();
                    *f += 1;
                    let threshold = probe_num(p, "failureThreshold", 3.0) as u32;
                    match kind {
                        // A readiness failure only takes the container out
                        // of ready; the kubelet never restarts it for that.
                        ProbeKind::Readiness if w.with(|st| st.containers[idx].ready) => {
                            w.with(|st| st.containers[idx].ready = false);
                            w.publish();
                        }
                        ProbeKind::Readiness => {}
                        _ if *f >= threshold => {
                            let cname = w.with(|st| st.containers[idx].name.clone());
                            w.event(
                                fp,
                                EventType::Normal,
                                "Killing",
                                &rules::probe_kill_event(&cname, kind),
                            );
                            return Some(Ended {
                                exit_code: 137,
                                reason: "Error".into(),
                                message: None,
                                sync_error: None,
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        drop(view);
        let next_exit = run
            .exit
            .as_ref()
            .map(|e| e.after_seconds - t)
            .filter(|d| *d > 0.0 && *d < 1.0);
        let step = next_exit.unwrap_or(1.0);
        if !w.sleep(Duration::from_secs_f64(step)).await {
            return None;
        }
        t += step;
        if next_exit.is_none() {
            t = t.round();
        }
    }
}

/// Stops a pod being deleted or past its deadline; removes it when deleted.
async fn stop_pod(w: &Arc<Worker>, deadline: bool) {
    let running: Vec<(usize, String, bool)> = w.with(|st| {
        st.containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state.get("running").is_some())
            .map(|(i, c)| (i, c.name.clone(), c.init))
            .collect()
    });
    for (i, name, init) in &running {
        let list = if *init {
            "initContainers"
        } else {
            "containers"
        };
        w.event(
            Some(&format!("spec.{list}{{{name}}}")),
            EventType::Normal,
            "Killing",
            &rules::stopping_event(name),
        );
        let now = meta::now_rfc3339();
        w.with(|st| {
            let c = &mut st.containers[*i];
            let started = c.state.pointer("/running/startedAt").cloned().unwrap_or(Value::Null);
            c.state = json!({"terminated": {"exitCode": if deadline { 137 } else { 0 }, "reason": if deadline { "Error" } else { "Completed" }, "startedAt": started, "finishedAt": now, "containerID": c.container_id.clone().unwrap_or_default()}});
            c.ready = false;
            c.started = false;
            c.done = true;
        });
    }
    if deadline {
        let msg = rules::DEADLINE_EXCEEDED;
        w.with(|st| st.failed_reason = Some(("DeadlineExceeded".into(), msg.into())));
        w.event(None, EventType::Normal, "DeadlineExceeded", msg);
    }
    w.publish();
}

/// Drives one pod from binding to the end.
async fn run_pod(w: Arc<Worker>) {
    // Parsed pods are read and dropped at once: thousands of these tasks sleep at a time.
    let Some(init_count) = w.pod().map(|pod| {
        pod.pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }) else {
        return;
    };
    w.publish();
    // Volumes.
    loop {
        let Some(pod) = w.pod() else { return };
        let failures = rules::mount_failures(&pod, &*w.host);
        drop(pod);
        if failures.is_empty() {
            break;
        }
        for f in &failures {
            w.event(None, EventType::Warning, "FailedMount", &f.event());
        }
        if !w.sleep(Duration::from_secs(10)).await {
            return;
        }
    }
    w.with(|st| st.sandbox_ready = true);
    w.publish();
    let mut sidecars = Vec::new();
    for i in 0..init_count {
        if w.with(|st| st.containers[i].sidecar) {
            // A native sidecar runs beside the rest; the next container
            // starts once it has started (startup probe passed).
            let task = tokio::spawn(run_container(w.clone(), i));
            while !w.with(|st| st.containers[i].started) {
                if task.is_finished() || !w.sleep(Duration::from_millis(100)).await {
                    return;
                }
            }
            sidecars.push((i, task));
            continue;
        }
        // Boxed: this task then stays small while its main containers run.
        Box::pin(run_container(w.clone(), i)).await;
        let ok = w.with(|st| st.containers[i].done && st.containers[i].exit_code == Some(0));
        if !ok {
            return;
        }
    }
    w.with(|st| {
        st.initialized = true;
        for c in st.containers.iter_mut().filter(|c| !c.init) {
            c.waiting("ContainerCreating", None);
        }
    });
    w.publish();
    let total = w.with(|st| st.containers.len());
    let tasks: Vec<_> = (init_count..total)
        .map(|i| tokio::spawn(run_container(w.clone(), i)))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    // The main containers have ended for good (a Job's pod): the kubelet
    // stops the sidecars, which exit 0 on SIGTERM.
    if w.stopped() {
        return;
    }
    for (i, task) in sidecars {
        task.abort();
        let _ = task.await;
        w.with(|st| {
            let c = &mut st.containers[i];
            let started_at = c.state["running"]["startedAt"].clone();
            c.state = json!({"terminated": {
                "exitCode": 0, "reason": "Completed",
                "startedAt": started_at, "finishedAt": meta::now_rfc3339(),
                "containerID": c.container_id.clone().unwrap_or_default(),
            }});
            c.ready = false;
            c.started = false;
            c.done = true;
            c.exit_code = Some(0);
        });
    }
    w.publish();
}

/// The kubelet of one or more nodes: a worker per pod bound to one of them.
/// Its driver (the sim's store feed or an API watch) hands it pod changes.
pub struct Kubelet {
    host: Arc<dyn Host>,
    logs: Arc<Logs>,
    catalog: Arc<Catalog>,
    /// Nodes it serves; `None` serves every node.
    nodes: Option<HashSet<String>>,
    /// Each running pod's stop signal, by uid.
    workers: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// The last pod IP handed out on each node.
    ip_counter: Mutex<HashMap<String, u32>>,
    images: Arc<Mutex<HashSet<(String, String)>>>,
    /// Real listeners and probes, and loopback pod IPs (`listen`).
    sockets: bool,
    /// Images run as real processes (repository → program).
    programs: Arc<HashMap<String, std::path::PathBuf>>,
    /// With sockets: the loopback pod IPs in use, by pod uid.
    loopback: Mutex<LoopbackIps>,
}

/// Pod IPs on loopback (all of 127.0.0.0/8 is local on Linux), each held
/// by one pod at a time, in a /16 of 127.64.0.0/10 that this kubelet owns:
/// several sims and agents on one machine never hand out the same address.
#[derive(Debug, Default)]
struct LoopbackIps {
    /// The /16: 127.(64 + block).0.0.
    block: u8,
    /// Held while the kubelet lives: the block's lock across processes (a
    /// listener on its last address, which no pod gets).
    _claim: Option<std::net::TcpListener>,
    next: u32,
    free: Vec<u32>,
    held: HashMap<String, u32>,
}

/// The port the block's lock listens on.
const CLAIM_PORT: u16 = 39_999;

impl LoopbackIps {
    /// The first /16 of 127.64.0.0/10 no other kubelet on the machine holds.
    fn claimed() -> LoopbackIps {
        for block in 0..64u8 {
            let addr = std::net::SocketAddr::from(([127, 64 + block, 255, 254], CLAIM_PORT));
            if let Ok(listener) = std::net::TcpListener::bind(addr) {
                return LoopbackIps {
                    block,
                    _claim: Some(listener),
                    ..Default::default()
                };
            }
        }
        tracing::warn!(
            "every /16 of 127.64.0.0/10 is held by another kubelet; sharing 127.64.0.0/16"
        );
        LoopbackIps::default()
    }

    fn take(&mut self, uid: &str) -> String {
        let n = self.free.pop().unwrap_or_else(|| {
            // x.2 to x.253 of each /24 up to 254.253 (255.x holds the lock)
            loop {
                self.next += 1;
                let n = self.next % (255 * 256);
                if n % 256 > 1 && n % 256 < 254 {
                    break n;
                }
            }
        });
        self.held.insert(uid.to_string(), n);
        let [_, _, c, d] = n.to_be_bytes();
        format!("127.{}.{c}.{d}", 64 + self.block)
    }

    fn give_back(&mut self, uid: &str) {
        if let Some(n) = self.held.remove(uid) {
            self.free.push(n);
        }
    }
}

impl Kubelet {
    /// A kubelet for `nodes` (every node when `None`), its containers' lines
    /// kept in `logs`.
    pub fn new(
        host: Arc<dyn Host>,
        catalog: Arc<Catalog>,
        logs: Arc<Logs>,
        nodes: Option<HashSet<String>>,
    ) -> Self {
        Kubelet {
            host,
            logs,
            catalog,
            nodes,
            workers: Mutex::default(),
            ip_counter: Mutex::default(),
            images: Arc::default(),
            sockets: false,
            programs: Arc::new(HashMap::new()),
            loopback: Mutex::default(),
        }
    }

    /// Runs the containers of these images (repository → program) as
    /// real processes on this machine instead of playing them from the
    /// catalog: `podmirror` runs the injected traffic tap this way.
    pub fn with_programs(mut self, programs: HashMap<String, std::path::PathBuf>) -> Self {
        self.programs = Arc::new(
            programs
                .into_iter()
                .map(|(repo, path)| (crate::catalog::parse_ref(&repo).repository, path))
                .collect(),
        );
        self
    }

    /// Containers bind real loopback listeners and probes are real
    /// requests (pod IPs in 127.64.0.0/16); see `listen`.
    pub fn with_sockets(mut self, on: bool) -> Self {
        if on {
            listen::raise_open_files_limit();
        }
        self.sockets = on;
        if on {
            self.loopback = Mutex::new(LoopbackIps::claimed());
        }
        self
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a pod with this uid has a worker.
    pub fn runs(&self, uid: &str) -> bool {
        self.workers().contains_key(uid)
    }

    /// Whether this kubelet serves `node`.
    pub fn serves(&self, node: &str) -> bool {
        !node.is_empty() && self.nodes.as_ref().is_none_or(|n| n.contains(node))
    }

    /// A pod was added or changed: start its worker if it is newly bound to
    /// one of our nodes, or stop it and finish the deletion when it is being
    /// deleted.
    pub fn consider(&self, pod: &Value) {
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !self.serves(node) {
            return;
        }
        let uid = meta::uid(pod).to_string();
        let mut map = self.workers();
        if let Some(stop) = map.get(&uid) {
            if meta::is_deleting(pod) && !*stop.borrow() {
                let _ = stop.send(true);
                drop(map);
                let grace = pod
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .clamp(0, 2) as u64;
                let host = self.host.clone();
                let (ns, name) = (
                    meta::namespace(pod).to_string(),
                    meta::name(pod).to_string(),
                );
                tokio::spawn(async move {
                    let Some(wait) = host.scaled(Duration::from_secs(grace)) else {
                        return;
                    };
                    tokio::time::sleep(wait).await;
                    host.finish_deletion(&ns, &name, &uid);
                });
            }
            return;
        }
        if meta::is_deleting(pod) {
            // Deleted before it ever ran here (or after a restart of the agent).
            self.host
                .finish_deletion(meta::namespace(pod), meta::name(pod), &uid);
            return;
        }
        if matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        ) {
            return;
        }
        let node_obj = self.host.node(node);
        let host_ip = node_obj
            .as_ref()
            .and_then(|n| {
                n.pointer("/status/addresses/0/address")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "172.18.0.2".into());
        let subnet = node_obj
            .as_ref()
            .and_then(|n| {
                n.pointer("/spec/podCIDR")
                    .and_then(Value::as_str)
                    .map(|c| c.trim_end_matches(".0/24").to_string())
            })
            .unwrap_or_else(|| "10.244.1".into());
        let n = {
            let mut ips = self.ip_counter.lock().unwrap_or_else(|e| e.into_inner());
            let c = ips.entry(node.to_string()).or_insert(1);
            *c = if *c >= 254 { 2 } else { *c + 1 };
            *c
        };
        let pod_ip = if self.sockets {
            self.loopback
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(&uid)
        } else {
            format!("{subnet}.{n}")
        };
        let containers = ["initContainers", "containers"]
            .iter()
            .flat_map(|k| {
                let init = *k == "initContainers";
                pod.pointer(&format!("/spec/{k}"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |c| (c, init))
            })
            .map(|(c, init)| {
                let mut cs = Container {
                    name: c["name"].as_str().unwrap_or("").to_string(),
                    image: c["image"].as_str().unwrap_or("").to_string(),
                    init,
                    sidecar: init && c["restartPolicy"] == "Always",
                    state: json!({}),
                    last_state: json!({}),
                    ready: false,
                    started: false,
                    restart_count: 0,
                    image_id: None,
                    container_id: None,
                    done: false,
                    exit_code: None,
                };
                cs.waiting(
                    if init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    },
                    None,
                );
                cs
            })
            .collect();
        let has_init = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty());
        let (stop_tx, _) = watch::channel(false);
        let worker = Arc::new(Worker {
            host: self.host.clone(),
            logs: self.logs.clone(),
            catalog: self.catalog.clone(),
            ns: meta::namespace(pod).to_string(),
            name: meta::name(pod).to_string(),
            uid: uid.clone(),
            node: node.to_string(),
            state: Mutex::new(PodState {
                containers,
                host_ip,
                pod_ip,
                start_time: meta::now_rfc3339(),
                sandbox_ready: false,
                initialized: !has_init,
                failed_reason: None,
            }),
            stop_tx: stop_tx.clone(),
            images: self.images.clone(),
            publish_pending: AtomicBool::new(false),
            published: tokio::sync::Mutex::new(None),
            sockets: self.sockets,
            programs: self.programs.clone(),
        });
        map.insert(uid, stop_tx);
        drop(map);
        let deadline = pod
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_u64);
        // The worker holds no strong handle on the sim and ends with the pod.
        tokio::spawn(async move {
            let main = run_pod(worker.clone());
            match deadline {
                Some(secs) => {
                    let w2 = worker.clone();
                    tokio::select! {
                        _ = main => {
                            // Containers may have ended; the deadline still applies to a pod that keeps running.
                        }
                        expired = async move { w2.sleep(Duration::from_secs(secs)).await } => {
                            if expired {
                                let _ = worker.stop_tx.send(true);
                                stop_pod(&worker, true).await;
                                return;
                            }
                        }
                    }
                }
                None => main.await,
            }
            // Wait for deletion, then stop the containers; end with the cluster.
            while !worker.stopped() {
                if !worker.sleep(Duration::from_secs(1)).await && !worker.stopped() {
                    return;
                }
            }
            stop_pod(&worker, false).await;
        });
    }

    /// A pod is gone from the cluster: stop its worker and drop its logs.
    pub fn forget(&self, ns: &str, uid: &str) {
        if let Some(stop) = self.workers().remove(uid) {
            let _ = stop.send(true);
        }
        self.loopback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .give_back(uid);
        self.logs.forget_pod(ns, uid);
    }
}

#[cfg(test)]
mod loopback_tests {
    use super::LoopbackIps;

    #[test]
    fn two_kubelets_on_one_machine_hand_out_addresses_from_different_blocks() {
        let mut a = LoopbackIps::claimed();
        let mut b = LoopbackIps::claimed();
        assert_ne!(a.block, b.block);
        let (x, y) = (a.take("u1"), b.take("u1"));
        assert_ne!(x, y);
        assert!(x.ends_with(".0.2") && y.ends_with(".0.2"), "{x} {y}");
        // Given back, an address is handed out again; held ones never twice.
        let second = a.take("u2");
        assert_ne!(second, x);
        a.give_back("u1");
        assert_eq!(a.take("u3"), x);
    }
}
