//! `podmirror sim kubelet`: the simulated kubelet as the node agent of any
//! API server, until Ctrl-C or SIGTERM.

use anyhow::Context;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `podmirror sim kubelet` takes.
#[derive(clap::Args, Debug)]
pub struct KubeletArgs {
    /// The API server's kubeconfig (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long)]
    context: Option<String>,
    #[command(flatten)]
    nodes: crate::NodeArgs,
    /// Serve the demo's nodes instead (two workers and a GPU node tainted
    /// dedicated=gpu:NoSchedule), for `podmirror demo --real`.
    #[arg(long)]
    demo_nodes: bool,
    /// Image catalog (YAML); the built-in shop catalog when absent.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Run every container timer this many times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// The address the Nodes advertise and the kubelet port listens on.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// The kubelet port, where the API server reads container logs (0: a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serving certificate of the kubelet port (PEM); self-signed when absent.
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// Accept only clients (the API server) with a certificate signed by this CA.
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
}

/// A client for the cluster of a kubeconfig (default: $KUBECONFIG or
/// ~/.kube/config) and the name of the context used.
pub async fn client_for(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> anyhow::Result<(kube::Client, String)> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let file = match kubeconfig {
        Some(path) => kube::config::Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?,
        None => kube::config::Kubeconfig::read()
            .context("cannot load the kubeconfig (give --kubeconfig or set KUBECONFIG)")?,
    };
    let name = context
        .map(str::to_string)
        .or_else(|| file.current_context.clone())
        .unwrap_or_else(|| "kubernetes".into());
    let config = kube::Config::from_custom_kubeconfig(file, &options).await?;
    let client =
        kube::Client::try_from(config).context("cannot make a client for the API server")?;
    Ok((client, name))
}

/// Runs the node agent until Ctrl-C or SIGTERM.
pub async fn run(args: KubeletArgs) -> anyhow::Result<()> {
    let specs = if args.demo_nodes {
        podmirror_sim::scenarios::nodes()
    } else {
        args.nodes.specs()?
    };
    if specs.is_empty() {
        anyhow::bail!("--nodes 0: the kubelet needs at least one node to serve");
    }
    let catalog = crate::load_catalog(args.catalog.as_deref())?;
    let (client, _) = client_for(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let server = client
        .apiserver_version()
        .await
        .context("the API server does not answer (is it running, and is the kubeconfig for it?)")?;
    let options = podmirror_sim::kubelet::agent::AgentOptions {
        nodes: specs,
        time_scale: args.time_scale,
        address: args.address,
        port: args.port,
        tls: podmirror_sim::kubelet::agent::TlsFiles {
            cert: args.tls_cert_file.clone(),
            key: args.tls_private_key_file.clone(),
            client_ca: args.client_ca_file.clone(),
        },
        programs: crate::own_programs(),
    };
    let agent = podmirror_sim::kubelet::agent::start(client, Arc::new(catalog), options).await?;
    println!(
        "podmirror sim kubelet: ready: node(s) {} registered with the API server ({}), kubelet port https://{}",
        agent.nodes.join(", "),
        server.git_version,
        agent.kubelet_addr
    );
    wait_for_stop().await?;
    println!("stopping (the Nodes stay registered and go NotReady when their Leases expire)");
    drop(agent);
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}
