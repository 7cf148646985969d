//! The kubelet as a node agent of any API server (a real kube-apiserver or
//! the sim on a socket): it registers its Nodes and renews their Leases,
//! follows the pods bound to them through a watch, plays them with the same
//! pod workers as the in-process sim, writes `pods/status` and Events through
//! the API, finishes graceful deletions, and serves `/containerLogs` over
//! HTTPS on the Nodes' kubelet port so that `kubectl logs` works.

use super::Kubelet;
use super::host::{Host, StatusWrite};
use super::rules::Objects;
use crate::catalog::Catalog;
use crate::events::{EventType, Source, correlation_key, new_event};
use crate::logs::Logs;
use crate::meta;
use crate::nodes::{NodeSpec, node_conditions, node_object};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::future::BoxFuture;
use http::StatusCode;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
};
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch as signal};

/// How often each Node's Lease is renewed (the node controller's grace is 40 s).
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How many recent events are remembered for counting repeats.
const CORRELATION_ENTRIES: usize = 4096;

/// What went wrong starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A Node or its Lease could not be written.
    #[error("cannot register node {node}: {source}")]
    Register {
        /// The node's name.
        node: String,
        /// The API server's answer.
        source: kube::Error,
    },
    /// The API server did not answer the first list of pods, ConfigMaps or Secrets.
    #[error("cannot list {what} from the API server: {message}")]
    Sync {
        /// pods, configmaps or secrets.
        what: &'static str,
        /// The watcher's last error.
        message: String,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Options(String),
    /// The kubelet port could not be opened.
    #[error("cannot listen on {addr} for the kubelet port: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// A certificate or key could not be read or used.
    #[error("kubelet TLS: {0}")]
    Tls(String),
}

/// Files for the kubelet port's TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// Serving certificate chain (PEM); a self-signed one is made when unset.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// When set, clients (the API server) must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

/// Settings of a node agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The Nodes it registers and serves.
    pub nodes: Vec<NodeSpec>,
    /// Every container timer runs this many times faster (1.0 = real time).
    pub time_scale: f64,
    /// The address every Node advertises (InternalIP) and the kubelet port binds.
    pub address: IpAddr,
    /// The kubelet port (0: a free one).
    pub port: u16,
    /// TLS of the kubelet port.
    pub tls: TlsFiles,
    /// Images run as real processes (repository → program).
    pub programs: HashMap<String, std::path::PathBuf>,
}

/// A running node agent; dropping it stops everything it started (the Nodes
/// stay registered and go NotReady once their Leases expire, as with a
/// stopped kubelet).
pub struct Agent {
    /// The registered Node names.
    pub nodes: Vec<String>,
    /// Where the kubelet port listens.
    pub kubelet_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Objects of one kind as last seen on a watch, by (namespace, name).
#[derive(Default)]
struct Cache(RwLock<HashMap<(String, String), Arc<Value>>>);

impl Cache {
    fn get(&self, ns: &str, name: &str) -> Option<Arc<Value>> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// Keeps `object` unless a newer version (by resourceVersion) is there.
    fn put(&self, object: Arc<Value>) {
        let key = key_of(&object);
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = map.get(&key)
            && meta::uid(old) == meta::uid(&object)
            && version(old) > version(&object)
        {
            return;
        }
        map.insert(key, object);
    }

    fn remove(&self, object: &Value) {
        let key = key_of(object);
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map
            .get(&key)
            .is_some_and(|o| meta::uid(o) == meta::uid(object))
        {
            map.remove(&key);
        }
    }

    /// Replaces everything (after a relist); returns the objects no longer there.
    fn replace(&self, fresh: HashMap<(String, String), Arc<Value>>) -> Vec<Arc<Value>> {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::replace(&mut *map, fresh);
        old.into_iter()
            .filter(|(k, v)| map.get(k).is_none_or(|n| meta::uid(n) != meta::uid(v)))
            .map(|(_, v)| v)
            .collect()
    }
}

fn key_of(object: &Value) -> (String, String) {
    (
        meta::namespace(object).to_string(),
        meta::name(object).to_string(),
    )
}

/// An object's resourceVersion as a number (etcd revisions are), 0 if not one.
fn version(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// An Event waiting to be written.
struct PendingEvent {
    object: Value,
    field_path: Option<String>,
    kind: EventType,
    reason: String,
    message: String,
    source: Source,
}

/// The cluster through its API, read from watch caches.
struct AgentHost {
    client: kube::Client,
    pods: Cache,
    configmaps: Cache,
    secrets: Cache,
    nodes: HashMap<String, Arc<Value>>,
    events: mpsc::UnboundedSender<PendingEvent>,
    time_scale: f64,
}

fn resource(kind: &str) -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    }
}

fn lease_resource() -> ApiResource {
    ApiResource {
        group: "coordination.k8s.io".into(),
        version: "v1".into(),
        api_version: "coordination.k8s.io/v1".into(),
        kind: "Lease".into(),
        plural: "leases".into(),
    }
}

impl AgentHost {
    fn pods_api(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &resource("Pod"))
    }
}

impl Objects for AgentHost {
    fn configmap(&self, namespace: &str, name: &str) -> Option<Value> {
        self.configmaps.get(namespace, name).map(|v| (*v).clone())
    }
    fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        self.secrets.get(namespace, name).map(|v| (*v).clone())
    }
}

impl Host for AgentHost {
    fn pod(&self, ns: &str, name: &str, uid: &str) -> Option<Arc<Value>> {
        self.pods.get(ns, name).filter(|p| meta::uid(p) == uid)
    }

    fn node(&self, name: &str) -> Option<Arc<Value>> {
        self.nodes.get(name).cloned()
    }

    fn event(
        &self,
        object: &Value,
        field_path: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
        source: &Source,
    ) {
        let _ = self.events.send(PendingEvent {
            object: object.clone(),
            field_path: field_path.map(str::to_string),
            kind,
            reason: reason.to_string(),
            message: message.to_string(),
            source: source.clone(),
        });
    }

    fn write_status<'a>(
        &'a self,
        pod: &'a Arc<Value>,
        status: Value,
    ) -> BoxFuture<'a, StatusWrite> {
        Box::pin(async move {
            // The uid makes the write a precondition: a pod re-created under
            // the same name is not written with another pod's status.
            let patch = json!({"metadata": {"uid": meta::uid(pod)}, "status": status});
            let api = self.pods_api(meta::namespace(pod));
            match api
                .patch_status(
                    meta::name(pod),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(written) => {
                    if let Ok(v) = serde_json::to_value(&written) {
                        self.pods.put(Arc::new(v));
                    }
                }
                Err(e) => tracing::debug!(pod = meta::name(pod), "pod status not written: {e}"),
            }
            StatusWrite::Done
        })
    }

    fn finish_deletion(&self, ns: &str, name: &str, uid: &str) {
        let api = self.pods_api(ns);
        let (name, uid) = (name.to_string(), uid.to_string());
        tokio::spawn(async move {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..Default::default()
            };
            if let Err(e) = api.delete(&name, &params).await {
                tracing::debug!(pod = name, "deletion not finished: {e}");
            }
        });
    }

    fn scaled(&self, d: Duration) -> Option<Duration> {
        Some(d.div_f64(self.time_scale))
    }
}

/// Writes Events in the order they come, counting repeats on the first one
/// as client-go's recorder does.
async fn write_events(client: kube::Client, mut rx: mpsc::UnboundedReceiver<PendingEvent>) {
    let mut seen: HashMap<String, (String, String, i64)> = HashMap::new();
    let mut order: VecDeque<String> = VecDeque::new();
    let api = |ns: &str| -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), ns, &resource("Event"))
    };
    while let Some(e) = rx.recv().await {
        let key = correlation_key(
            &e.object,
            e.field_path.as_deref(),
            &e.reason,
            &e.message,
            &e.source,
        );
        if let Some((ns, name, count)) = seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": meta::now_rfc3339()});
            if api(ns)
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                continue;
            }
            seen.remove(&key);
        }
        let event = new_event(
            &e.object,
            e.field_path.as_deref(),
            e.kind,
            &e.reason,
            &e.message,
            &e.source,
        );
        let ns = meta::namespace(&event).to_string();
        let Ok(object) = serde_json::from_value::<DynamicObject>(event) else {
            continue;
        };
        match api(&ns).create(&PostParams::default(), &object).await {
            Ok(created) => {
                let name = created.metadata.name.unwrap_or_default();
                if seen.insert(key.clone(), (ns, name, 1)).is_none() {
                    order.push_back(key);
                }
                while order.len() > CORRELATION_ENTRIES {
                    if let Some(old) = order.pop_front() {
                        seen.remove(&old);
                    }
                }
            }
            Err(err) => tracing::debug!(reason = e.reason, "event not written: {err}"),
        }
    }
}

/// What a watch saw, after the cache took it in.
enum Seen {
    Applied(Arc<Value>),
    Deleted(Arc<Value>),
}

/// Follows one kind of object into `cache`, handing each change to `on`;
/// `synced` turns true after the first complete list. Relists and
/// reconnects with back-off as the API server requires.
async fn follow(
    api: Api<DynamicObject>,
    config: watcher::Config,
    cache: Arc<AgentHost>,
    pick: fn(&AgentHost) -> &Cache,
    synced: signal::Sender<Option<Result<(), String>>>,
    on: impl Fn(Seen),
) {
    use kube::runtime::WatchStreamExt;
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut fresh: HashMap<(String, String), Arc<Value>> = HashMap::new();
    let mut failures = 0u32;
    while let Some(event) = stream.next().await {
        let c = pick(&cache);
        let event = match event {
            Ok(e) => {
                failures = 0;
                e
            }
            Err(e) => {
                failures += 1;
                if synced.borrow().is_none() && failures >= 3 {
                    synced.send_replace(Some(Err(e.to_string())));
                }
                tracing::warn!("watch failed, retrying: {e}");
                continue;
            }
        };
        let value = |o: DynamicObject| serde_json::to_value(o).ok().map(Arc::new);
        match event {
            watcher::Event::Init => fresh.clear(),
            watcher::Event::InitApply(o) => {
                if let Some(v) = value(o) {
                    fresh.insert(key_of(&v), v);
                }
            }
            watcher::Event::InitDone => {
                let now: Vec<Arc<Value>> = fresh.values().cloned().collect();
                let gone = c.replace(std::mem::take(&mut fresh));
                for v in gone {
                    on(Seen::Deleted(v));
                }
                for v in now {
                    on(Seen::Applied(v));
                }
                if !matches!(*synced.borrow(), Some(Ok(()))) {
                    synced.send_replace(Some(Ok(())));
                }
            }
            watcher::Event::Apply(o) => {
                if let Some(v) = value(o) {
                    c.put(v.clone());
                    on(Seen::Applied(v));
                }
            }
            watcher::Event::Delete(o) => {
                if let Some(v) = value(o) {
                    c.remove(&v);
                    on(Seen::Deleted(v));
                }
            }
        }
    }
}

/// Waits for a watch's first complete list.
async fn synced(
    mut rx: signal::Receiver<Option<Result<(), String>>>,
    what: &'static str,
) -> Result<(), AgentError> {
    let state = rx
        .wait_for(Option::is_some)
        .await
        .map(|s| s.clone())
        .unwrap_or(Some(Ok(())));
    match state {
        Some(Err(message)) => Err(AgentError::Sync { what, message }),
        _ => Ok(()),
    }
}

/// Registers (or takes over) a Node and its Lease.
async fn register(
    client: &kube::Client,
    spec: &NodeSpec,
    index: usize,
    address: IpAddr,
    port: u16,
) -> Result<Arc<Value>, AgentError> {
    let err = |source| AgentError::Register {
        node: spec.name.clone(),
        source,
    };
    let mut node = node_object(spec, index);
    node["status"]["conditions"] = node_conditions();
    node["status"]["addresses"] = json!([
        {"type": "InternalIP", "address": address.to_string()},
        {"type": "Hostname", "address": spec.name},
    ]);
    node["status"]["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
    let nodes: Api<DynamicObject> = Api::all_with(client.clone(), &resource("Node"));
    let object: DynamicObject =
        serde_json::from_value(node.clone()).map_err(|e| err(kube::Error::SerdeError(e)))?;
    let registered = match nodes.create(&PostParams::default(), &object).await {
        Ok(created) => created,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            // A Node of this name exists (an agent ran before): take it over.
            let patch = json!({
                "metadata": {"labels": node["metadata"]["labels"]},
                "spec": {"taints": node["spec"].get("taints").cloned().unwrap_or(json!(null))},
            });
            nodes
                .patch(&spec.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(err)?;
            let status = json!({"status": node["status"]});
            nodes
                .patch_status(&spec.name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .map_err(err)?
        }
        Err(e) => return Err(err(e)),
    };
    let leases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "kube-node-lease", &lease_resource());
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": spec.name},
        "spec": {"holderIdentity": spec.name, "leaseDurationSeconds": 40, "renewTime": meta::now_micro()},
    });
    let patch = PatchParams::apply("kubelet").force();
    leases
        .patch(&spec.name, &patch, &Patch::Apply(&lease))
        .await
        .map_err(err)?;
    serde_json::to_value(registered)
        .map(Arc::new)
        .map_err(|e| err(kube::Error::SerdeError(e)))
}

/// Renews every Node's Lease until dropped.
async fn renew_leases(client: kube::Client, names: Vec<String>) {
    let leases: Api<DynamicObject> =
        Api::namespaced_with(client, "kube-node-lease", &lease_resource());
    let mut tick = tokio::time::interval(LEASE_RENEW);
    loop {
        tick.tick().await;
        for name in &names {
            let patch = json!({"spec": {"holderIdentity": name, "renewTime": meta::now_micro()}});
            if let Err(e) = leases
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(node = name, "lease not renewed: {e}");
            }
        }
    }
}

fn tls_config(tls: &TlsFiles, address: IpAddr) -> Result<rustls::ServerConfig, AgentError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &PathBuf, e: &dyn std::fmt::Display| {
        AgentError::Tls(format!("cannot read the {what} {}: {e}", path.display()))
    };
    let (certs, key) = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| bad("certificate", cert, &e))?;
            let k = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
            (certs, k)
        }
        (None, None) => {
            let made = rcgen::generate_simple_self_signed(vec![
                address.to_string(),
                "localhost".to_string(),
            ])
            .map_err(|e| AgentError::Tls(format!("cannot make a serving certificate: {e}")))?;
            let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
            (vec![made.cert.der().clone()], key)
        }
        _ => {
            return Err(AgentError::Tls(
                "give both --tls-cert-file and --tls-private-key-file, or neither (a self-signed certificate is made)".into(),
            ));
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad("client CA", ca, &e))? {
                let cert = cert.map_err(|e| bad("client CA", ca, &e))?;
                roots.add(cert).map_err(|e| bad("client CA", ca, &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| AgentError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| AgentError::Tls(format!("the certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// TLS connections, handshaken off the accept loop, for `axum::serve`.
struct TlsListener {
    rx: mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

fn tls_listener(
    tcp: tokio::net::TcpListener,
    config: rustls::ServerConfig,
) -> (TlsListener, tokio::task::JoinHandle<()>) {
    let addr = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = tcp.accept().await else {
                continue;
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let shake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                match shake.await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "kubelet port: TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%peer, "kubelet port: TLS handshake timed out"),
                }
            });
        }
    });
    (TlsListener { rx, addr }, task)
}

/// What the kubelet port's handlers read.
#[derive(Clone)]
struct Port {
    host: Arc<AgentHost>,
    logs: Arc<Logs>,
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "text/plain")],
        message,
    )
        .into_response()
}

/// `GET /containerLogs/{namespace}/{pod}/{container}`, as the API server
/// asks for `pods/log` (it has checked the container name already).
async fn container_logs(
    State(port): State<Port>,
    Path((ns, name, container)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(pod) = port.host.pods.get(&ns, &name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {name:?} does not exist"),
        );
    };
    let known = ["containers", "initContainers"].iter().any(|list| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|c| c["name"] == container.as_str()))
    });
    if !known {
        return text(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {name:?}"),
        );
    }
    let uid = meta::uid(&pod).to_string();
    let host = port.host.clone();
    let gone = move || {
        host.pods
            .get(&ns, &name)
            .is_none_or(|p| meta::uid(&p) != uid)
    };
    match crate::podlog::respond(port.logs.clone(), &pod, &container, &q, gone) {
        Ok(r) => r,
        Err(message) => text(StatusCode::BAD_REQUEST, message),
    }
}

/// Starts the agent: the kubelet port, the Nodes and their Leases, the
/// watches (returns once their first lists are in), and the pod workers.
pub async fn start(
    client: kube::Client,
    catalog: Arc<Catalog>,
    options: AgentOptions,
) -> Result<Agent, AgentError> {
    if !(options.time_scale > 0.0 && options.time_scale.is_finite()) {
        return Err(AgentError::Options(format!(
            "the time scale must be a positive number (got {}); 1 is real time",
            options.time_scale
        )));
    }
    let mut tasks = Vec::new();
    let bind = SocketAddr::new(options.address, options.port);
    let tcp = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| AgentError::Listen { addr: bind, source })?;
    let kubelet_addr = tcp
        .local_addr()
        .map_err(|source| AgentError::Listen { addr: bind, source })?;
    let tls = tls_config(&options.tls, options.address)?;

    let mut nodes = HashMap::new();
    for (i, spec) in options.nodes.iter().enumerate() {
        let node = register(&client, spec, i, options.address, kubelet_addr.port()).await?;
        nodes.insert(spec.name.clone(), node);
    }
    let names: Vec<String> = options.nodes.iter().map(|n| n.name.clone()).collect();
    tasks.push(tokio::spawn(renew_leases(client.clone(), names.clone())));

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tasks.push(tokio::spawn(write_events(client.clone(), events_rx)));
    let host = Arc::new(AgentHost {
        client: client.clone(),
        pods: Cache::default(),
        configmaps: Cache::default(),
        secrets: Cache::default(),
        nodes,
        events: events_tx,
        time_scale: options.time_scale,
    });

    // ConfigMaps and Secrets first: a pod started before they are known
    // would be told its ConfigMap is missing.
    let mut waits = Vec::new();
    for (kind, what, pick) in [
        (
            "ConfigMap",
            "configmaps",
            (|h: &AgentHost| &h.configmaps) as fn(&AgentHost) -> &Cache,
        ),
        ("Secret", "secrets", |h: &AgentHost| &h.secrets),
    ] {
        let (tx, rx) = signal::channel(None);
        let api = Api::all_with(client.clone(), &resource(kind));
        tasks.push(tokio::spawn(follow(
            api,
            watcher::Config::default(),
            host.clone(),
            pick,
            tx,
            |_| {},
        )));
        waits.push((rx, what));
    }
    for (rx, what) in waits {
        synced(rx, what).await?;
    }
    let logs = Arc::new(Logs::default());
    let served: HashSet<String> = names.iter().cloned().collect();
    let kubelet = Arc::new(
        Kubelet::new(
            host.clone() as Arc<dyn Host>,
            catalog,
            logs.clone(),
            Some(served),
        )
        .with_sockets(true)
        .with_programs(options.programs.clone()),
    );
    let (tx, rx) = signal::channel(None);
    let api = Api::all_with(client.clone(), &resource("Pod"));
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let k = kubelet.clone();
    tasks.push(tokio::spawn(follow(
        api,
        config,
        host.clone(),
        |h| &h.pods,
        tx,
        move |seen| match seen {
            Seen::Applied(pod) => k.consider(&pod),
            Seen::Deleted(pod) => k.forget(meta::namespace(&pod), meta::uid(&pod)),
        },
    )));
    synced(rx, "pods").await?;

    let router = Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            axum::routing::get(container_logs),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(Port { host, logs });
    let (listener, accept) = tls_listener(tcp, tls);
    tasks.push(accept);
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    }));
    Ok(Agent {
        nodes: names,
        kubelet_addr,
        tasks,
    })
}
