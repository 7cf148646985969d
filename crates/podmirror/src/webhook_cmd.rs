//! `podmirror webhook`: the tap injector (an HTTPS admission webhook) as a
//! process of its own — in the cluster beside the backend (the chart), or
//! on a workstation against any API server with `--register-url`.

use crate::mirror_cmd::{Target, connect};
use anyhow::Context as _;
use podmirror_webhook::{Options, certs};
use std::path::PathBuf;

/// The tap image the webhook injects by default: this build's own.
pub const DEFAULT_TAP_IMAGE: &str =
    concat!("ghcr.io/podmirror/podmirror:", env!("CARGO_PKG_VERSION"));

/// Options of `podmirror webhook`.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Address to listen on (HTTPS).
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: String,
    /// The tap's image.
    #[arg(long, default_value = DEFAULT_TAP_IMAGE)]
    pub image: String,
    /// podmirror's own namespace: its pods are never tapped.
    #[arg(long, env = "POD_NAMESPACE", default_value = "podmirror")]
    pub namespace: String,
    /// The MutatingWebhookConfiguration whose caBundle it keeps current.
    #[arg(long, default_value = podmirror_webhook::configuration::DEFAULT_NAME)]
    pub configuration: String,
    /// A name for the generated serving certificate (repeatable; default
    /// the chart's Service name, localhost and 127.0.0.1).
    #[arg(long = "dns-name")]
    pub dns_names: Vec<String>,
    /// Serve this certificate (PEM) instead of a generated one; needs
    /// --tls-private-key-file and --ca-file.
    #[arg(long, requires_all = ["tls_private_key_file", "ca_file"])]
    pub tls_cert_file: Option<PathBuf>,
    /// The key of --tls-cert-file (PEM).
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// The CA that signed --tls-cert-file (PEM): the caBundle.
    #[arg(long, requires = "tls_cert_file")]
    pub ca_file: Option<PathBuf>,
    /// Create (or rewrite) the configuration to call this URL, for a webhook
    /// that runs outside the cluster (`{port}` is replaced by the port it
    /// listens on), e.g. https://127.0.0.1:{port}/inject.
    #[arg(long)]
    pub register_url: Option<String>,
    /// kubeconfig context to use (default: in-cluster, else the current one).
    #[arg(long)]
    pub context: Option<String>,
}

/// Runs the webhook until Ctrl-C.
pub async fn webhook(args: WebhookArgs) -> anyhow::Result<()> {
    let listen: std::net::SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address; give HOST:PORT such as 0.0.0.0:8443",
            args.listen
        )
    })?;
    if let Some(url) = &args.register_url
        && !url.starts_with("https://")
    {
        anyhow::bail!(
            "--register-url {url:?} must start with https:// (the API server calls webhooks over TLS only)"
        );
    }
    let mut options = Options::new(listen, &args.image);
    options.own_namespace = args.namespace.clone();
    options.configuration = args.configuration.clone();
    if !args.dns_names.is_empty() {
        options.dns_names = args.dns_names.clone();
    }
    options.register_url = args.register_url.clone();
    if let (Some(cert), Some(key), Some(ca)) = (
        &args.tls_cert_file,
        &args.tls_private_key_file,
        &args.ca_file,
    ) {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        options.certificate = Some(certs::Served {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            ca_pem: read(ca)?,
        });
    }
    let (client, _) = connect(&Target {
        namespace: None,
        context: args.context.clone(),
    })
    .await?;
    let running = podmirror_webhook::start(options, client).await?;
    eprintln!(
        "podmirror webhook: listening on https://{} (POST /inject), keeping MutatingWebhookConfiguration {} trusting its CA",
        running.addr, args.configuration
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = running.wait() => {}
    }
    Ok(())
}
