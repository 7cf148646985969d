//! podmirror-sim: a simulated Kubernetes cluster, in-process or on
//! 127.0.0.1, faithful enough that the real kubectl and kube-rs work against
//! it. Three parts, one folder each: the API server (`apiserver/`), the
//! controllers and scheduler (`controllers/`) and the kubelet (`kubelet/`),
//! which also runs as the node agent of a real API server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = podmirror_sim::Sim::new();
//! let client = sim.client(); // a kube::Client over the router, no socket
//! let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "default");
//! let list = pods.list(&Default::default()).await?;
//! # Ok(()) }
//! ```

pub mod apiserver;
pub mod catalog;
pub mod controllers;
pub mod error;
pub mod events;
pub mod kubelet;
pub mod logs;
pub mod meta;
pub mod quantity;
pub mod scenarios;
pub mod selector;
pub mod shopper;

// The parts' modules under their old names, so paths stay short.
pub use apiserver::{
    cluster, defaults, discovery, faults, http, managed, openapi, patch, podlog, proto, requests,
    resources, store, strategic, table, validate, watch,
};
pub use controllers::{
    controller, deployment, replicaset, scheduler, scheduler_rules, volumes, workloads,
};
pub use kubelet::nodes;

pub use cluster::Cluster;
pub use error::{ApiError, SimError};

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a simulated cluster.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Every timer runs this many times faster (1.0 = real time).
    pub time_scale: f64,
    /// How often watches that allow bookmarks receive one (before scaling).
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches resuming from a resourceVersion.
    pub history_len: usize,
    /// Seed for generated names, uids, IPs and injected faults (None: random).
    pub seed: Option<u64>,
    /// Containers bind real loopback listeners (pod IPs in 127.64.0.0/16)
    /// and HTTP/TCP probes are real requests (`kubelet::listen`). On by
    /// default; off, pods get 10.244.N.x addresses and simulated probes.
    pub sockets: bool,
    /// Images whose containers the kubelet runs as real processes on this
    /// machine (repository → program), e.g. podmirror's own image for the
    /// traffic tap. Default: none.
    pub programs: std::collections::HashMap<String, std::path::PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            time_scale: 1.0,
            bookmark_interval: Duration::from_secs(60),
            history_len: store::HISTORY_LEN,
            seed: None,
            sockets: true,
            programs: Default::default(),
        }
    }
}

/// The shared state behind a [`Sim`] handle.
pub struct SimInner {
    /// API objects and their semantics.
    pub cluster: Cluster,
    /// Injected faults.
    pub faults: faults::Faults,
    /// Settings.
    pub options: SimOptions,
    /// Event correlation for the simulated components.
    pub recorder: events::Recorder,
    /// The requests clients made over HTTP.
    pub requests: requests::RequestLog,
    /// Running control-plane tasks.
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for SimInner {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().map(std::mem::take).unwrap_or_default() {
            t.abort();
        }
    }
}

/// A simulated cluster; cheap to clone (all clones share state).
#[derive(Clone)]
pub struct Sim(Arc<SimInner>);

impl Deref for Sim {
    type Target = SimInner;
    fn deref(&self) -> &SimInner {
        &self.0
    }
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

/// A sim serving HTTP on a local port.
pub struct Served {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The server task; abort it to stop serving.
    pub task: tokio::task::JoinHandle<Result<(), SimError>>,
}

impl Served {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A handle that does not keep the sim alive (for its own background tasks).
#[derive(Clone)]
pub struct WeakSim(std::sync::Weak<SimInner>);

impl WeakSim {
    /// The sim, if it still exists.
    pub fn upgrade(&self) -> Option<Sim> {
        self.0.upgrade().map(Sim)
    }
}

impl Sim {
    /// A handle for background tasks that must not keep the sim alive.
    pub fn downgrade(&self) -> WeakSim {
        WeakSim(Arc::downgrade(&self.0))
    }

    /// A sim with default options.
    pub fn new() -> Self {
        Self::with_options(SimOptions::default())
    }

    /// A sim with the given options.
    pub fn with_options(options: SimOptions) -> Self {
        if let Some(seed) = options.seed {
            meta::seed_random(seed);
        }
        Sim(Arc::new(SimInner {
            cluster: Cluster::with_history(options.history_len),
            faults: faults::Faults::default(),
            options,
            recorder: events::Recorder::default(),
            requests: requests::RequestLog::default(),
            tasks: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// Keeps a background task to abort when the sim goes away.
    pub fn track(&self, handle: tokio::task::JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Starts the controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet,
    /// Job, volume binding, scheduler). Needs a tokio runtime.
    ///
    /// The tasks hold only a weak handle, so they stop when the last `Sim` clone is dropped.
    pub fn start_controllers(&self) {
        let handles = vec![
            controller::spawn(self, deployment::DeploymentController),
            controller::spawn(self, replicaset::ReplicaSetController::default()),
            controller::spawn(self, workloads::StatefulSetController),
            controller::spawn(self, workloads::DaemonSetController),
            controller::spawn(self, workloads::JobController),
            controller::spawn(self, volumes::VolumeBinder),
            controller::spawn(self, scheduler::Scheduler::default()),
        ];
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(handles);
    }

    /// Scales a duration of simulated time to wall-clock time.
    pub fn scaled(&self, d: Duration) -> Duration {
        let scale = if self.options.time_scale > 0.0 {
            self.options.time_scale
        } else {
            1.0
        };
        d.div_f64(scale)
    }

    /// How often bookmarks are sent, in wall-clock time.
    pub fn bookmark_interval(&self) -> Duration {
        self.scaled(self.options.bookmark_interval)
            .max(Duration::from_millis(10))
    }

    /// The HTTP API as an axum router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(discovery::version))
            .route("/version/", get(discovery::version))
            .route("/api", get(discovery::api))
            .route("/api/", get(discovery::api))
            .route("/apis", get(discovery::apis))
            .route("/apis/", get(discovery::apis))
            .route("/api/{version}", get(discovery::core_version))
            .route("/apis/{group}", get(discovery::group))
            .route("/apis/{group}/{version}", get(discovery::group_version))
            .route("/openapi/v3", get(openapi::index))
            .route("/openapi/v3/{*path}", get(openapi::document))
            .route(
                "/podmirror.dev/faults",
                get(faults::get_faults).put(faults::put_faults),
            )
            .route(
                "/podmirror.dev/faults/drop-watches",
                axum::routing::post(faults::drop_watches),
            )
            .route("/podmirror.dev/requests", get(requests::list))
            .route("/healthz", get(|| async { "ok" }))
            .route("/livez", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }))
            .fallback(http::resource)
            .layer(axum::middleware::map_response(with_date))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                requests::record,
            ))
            .with_state(self.clone())
    }

    /// A kube client that talks to this sim in-process, with no socket.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.router(), "default")
    }

    /// Serves HTTP on `addr` (port 0 picks a free port).
    pub async fn serve(&self, addr: SocketAddr) -> Result<Served, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(SimError::Serve)?;
        let router = self.router();
        let task =
            tokio::spawn(
                async move { axum::serve(listener, router).await.map_err(SimError::Serve) },
            );
        Ok(Served { addr, task })
    }

    /// Removes a gracefully deleted pod once its grace period has passed.
    pub fn schedule_pod_removal(&self, pod: &Value) {
        let grace = pod
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0) as u64;
        let ns = meta::namespace(pod).to_string();
        let name = meta::name(pod).to_string();
        let uid = meta::uid(pod).to_string();
        let sim = self.clone();
        let wait = self.scaled(Duration::from_secs(grace));
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            sim.cluster.finish_pod_deletion(&ns, &name, &uid);
        });
    }
}

/// Adds the `Date` header a real API server sends (clients read the
/// server's clock from it); a socket server may already have set one.
async fn with_date(mut res: axum::response::Response) -> axum::response::Response {
    if !res.headers().contains_key(::http::header::DATE) {
        let now = crate::meta::clock_now()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        if let Ok(v) = ::http::HeaderValue::from_str(&now) {
            res.headers_mut().insert(::http::header::DATE, v);
        }
    }
    res
}

/// A kubeconfig (YAML) whose context `podmirror-sim` points at `server`.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: podmirror-sim\n  cluster:\n    server: {server}\ncontexts:\n- name: podmirror-sim\n  context:\n    cluster: podmirror-sim\n    user: podmirror-sim\n    namespace: default\ncurrent-context: podmirror-sim\nusers:\n- name: podmirror-sim\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// Writes [`kubeconfig`] to `path`, creating parent directories.
pub fn write_kubeconfig(path: &Path, server: &str) -> Result<(), SimError> {
    let err = |source| SimError::Kubeconfig {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, kubeconfig(server)).map_err(err)
}
