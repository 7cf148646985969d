//! The HTTPS server: `POST /inject` answers AdmissionReviews, `GET
//! /healthz` says it is up; a background task keeps the configuration's
//! `caBundle` current.

use crate::configuration;
use crate::decide::NamespaceView;
use crate::review::{self, Settings};
use crate::{WebhookError, certs};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How to run the webhook.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The tap's image.
    pub image: String,
    /// podmirror's own namespace (never tapped).
    pub own_namespace: String,
    /// The MutatingWebhookConfiguration to keep current.
    pub configuration: String,
    /// Names for the generated serving certificate.
    pub dns_names: Vec<String>,
    /// A serving certificate and key (PEM) and the CA that signed it,
    /// instead of generated ones.
    pub certificate: Option<certs::Served>,
    /// Create (or rewrite) the configuration to call this URL, for a
    /// webhook outside the cluster; `None`: the chart installed it.
    pub register_url: Option<String>,
    /// How often the `caBundle` is checked.
    pub resync: Duration,
}

impl Options {
    /// Defaults for a webhook on `listen`.
    pub fn new(listen: SocketAddr, image: &str) -> Options {
        Options {
            listen,
            image: image.to_string(),
            own_namespace: "podmirror".into(),
            configuration: configuration::DEFAULT_NAME.into(),
            dns_names: vec![
                "podmirror-webhook.podmirror.svc".into(),
                "localhost".into(),
                "127.0.0.1".into(),
            ],
            certificate: None,
            register_url: None,
            resync: Duration::from_secs(30),
        }
    }
}

/// A running webhook.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The CA the API server must trust (PEM).
    pub ca_pem: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Serves until the tasks end (they do not, unless aborted).
    pub async fn wait(mut self) {
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone)]
struct AppState {
    namespaces: Api<Namespace>,
    settings: Arc<Settings>,
}

/// Starts the webhook: certificates, the configuration (registered or
/// checked once, so a missing one fails here), the server and the
/// `caBundle` upkeep.
pub async fn start(options: Options, client: kube::Client) -> Result<Running, WebhookError> {
    let served = match options.certificate.clone() {
        Some(c) => c,
        None => certs::generate(&options.dns_names)?,
    };
    let tls = certs::server_config(&served.cert_pem, &served.key_pem)?;
    let tcp = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| WebhookError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = tcp.local_addr().map_err(|source| WebhookError::Listen {
        addr: options.listen,
        source,
    })?;
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    if let Some(url) = &options.register_url {
        let url = url.replace("{port}", &addr.port().to_string());
        configuration::register(
            &configs,
            &options.configuration,
            serde_json::json!({"url": url}),
            &served.ca_pem,
        )
        .await?;
    } else {
        configuration::keep_ca_bundle(&configs, &options.configuration, &served.ca_pem).await?;
    }
    let state = AppState {
        namespaces: Api::all(client),
        settings: Arc::new(Settings {
            image: options.image.clone(),
            own_namespace: options.own_namespace.clone(),
        }),
    };
    let app = Router::new()
        .route("/inject", post(inject))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state);
    let (listener, accept) = TlsListener::new(tcp, tls, addr);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("webhook server stopped: {e}");
        }
    });
    let upkeep = {
        let (name, ca, every) = (
            options.configuration.clone(),
            served.ca_pem.clone(),
            options.resync,
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match configuration::keep_ca_bundle(&configs, &name, &ca).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("restored the caBundle of {n} webhook(s) in {name}"),
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        })
    };
    Ok(Running {
        addr,
        ca_pem: served.ca_pem,
        tasks: vec![server, accept, upkeep],
    })
}

async fn inject(State(state): State<AppState>, body: Bytes) -> Response {
    let request = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let ns = if request.pod_create {
        match tokio::time::timeout(
            Duration::from_secs(2),
            state.namespaces.get(&request.namespace),
        )
        .await
        {
            Ok(Ok(ns)) => Some(NamespaceView::from_object(
                &serde_json::to_value(&ns).unwrap_or_default(),
            )),
            Ok(Err(e)) => {
                tracing::warn!("reading namespace {}: {e}", request.namespace);
                None
            }
            Err(_) => {
                tracing::warn!("reading namespace {}: timed out", request.namespace);
                None
            }
        }
    } else {
        None
    };
    let decision = review::decide_for(&request, ns.as_ref(), &state.settings);
    match (&decision.tap, &decision.skipped) {
        (Some(tap), _) => tracing::info!(
            namespace = %request.namespace,
            pod = %crate::decide::pod_name(&request.object),
            mode = tap.mode.as_str(),
            "injecting the tap"
        ),
        (None, Some(why)) => {
            tracing::debug!(namespace = %request.namespace, "not injecting: {why}")
        }
        _ => {}
    }
    axum::Json(review::answer(&request, &decision, &state.settings)).into_response()
}

/// TLS connections for `axum::serve`, each handshaken in a task of its own
/// so a slow client does not hold up the others.
struct TlsListener {
    rx: mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

impl TlsListener {
    fn new(
        tcp: tokio::net::TcpListener,
        tls: rustls::ServerConfig,
        addr: SocketAddr,
    ) -> (TlsListener, JoinHandle<()>) {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let (tx, rx) = mpsc::channel(128);
        let accept = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "webhook: TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "webhook: TLS handshake timed out"),
                    }
                });
            }
        });
        (TlsListener { rx, addr }, accept)
    }
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
