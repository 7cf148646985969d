//! The `podmirror` command line: parses arguments, sets up logging and hands
//! over to the library crates.

mod agent_cmd;
mod diagnose_cmd;
mod edit;
mod fix_cmd;
mod mirror_cmd;
mod remote_cmd;
mod serve_cmd;
mod tap_cmd;
mod traffic_cmd;
mod webhook_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand};
use podmirror_sim::nodes::NodeSpec;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

// The simulated cluster churns through many small JSON values; mimalloc keeps that fast.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Find failing Kubernetes pods, explain them, and prove fixes on disposable mirrors.
#[derive(Parser, Debug)]
#[command(name = "podmirror", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: remote_cmd::RemoteArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the simulated Kubernetes cluster until Ctrl-C.
    Sim(Box<SimArgs>),
    /// The tour: a simulated cluster with a shop whose workloads fail in every way podmirror knows.
    Demo(DemoArgs),
    /// Print the mirror manifest for a pod (or deployment/NAME) and its diff against the source.
    Preview {
        /// The source: a pod name, or KIND/NAME of its workload.
        pod: String,
        #[command(flatten)]
        target: mirror_cmd::Target,
        #[command(flatten)]
        changes: mirror_cmd::ChangeArgs,
    },
    /// Deploy a mirror with the changes and follow it to a verdict.
    Test {
        /// The source: a pod name, or KIND/NAME of its workload.
        pod: String,
        #[command(flatten)]
        target: mirror_cmd::Target,
        #[command(flatten)]
        changes: mirror_cmd::ChangeArgs,
        #[command(flatten)]
        test: mirror_cmd::TestArgs,
    },
    /// Say why a pod fails and what change fixes it (`--all`: every failing pod).
    Diagnose {
        /// The pod (omit with --all).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        pod: Option<String>,
        /// Every failing pod of the namespace (with -A: of every namespace).
        #[arg(long)]
        all: bool,
        /// With --all: every namespace.
        #[arg(short = 'A', long, requires = "all")]
        all_namespaces: bool,
        #[command(flatten)]
        target: mirror_cmd::Target,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: mirror_cmd::Format,
        /// Rules only, even when an LLM is configured (PODMIRROR_LLM_URL).
        #[arg(long)]
        no_llm: bool,
    },
    /// Show the fix of the pod's last diagnosis; --apply patches its workload (asks first).
    Fix {
        /// The pod.
        pod: String,
        #[command(flatten)]
        target: mirror_cmd::Target,
        #[command(flatten)]
        fix: fix_cmd::FixArgs,
    },
    /// List the active mirrors.
    Status {
        #[command(flatten)]
        target: mirror_cmd::Target,
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: mirror_cmd::Format,
    },
    /// Delete a mirror before its TTL.
    Delete {
        /// The mirror id (its pod name, as `podmirror status` shows it).
        mirror_id: String,
        #[command(flatten)]
        target: mirror_cmd::Target,
    },
    /// Let a mirror live longer (its whole life stays within 60m).
    Extend {
        /// The mirror id (its pod name, as `podmirror status` shows it).
        mirror_id: String,
        /// How much longer: 30s to 60m (e.g. 90s, 5m).
        #[arg(long, default_value = "3m")]
        by: String,
        #[command(flatten)]
        target: mirror_cmd::Target,
    },
    /// One reaper pass: delete every expired mirror.
    Gc {
        #[command(flatten)]
        target: mirror_cmd::Target,
    },
    /// Run the backend: the REST API, the reaper, tokens and the audit log.
    Serve(serve_cmd::ServeArgs),
    /// Run the tap injector: the admission webhook that adds the traffic
    /// tap to the pods of opted-in namespaces (docs/tap.md).
    Webhook(webhook_cmd::WebhookArgs),
    /// What the traffic tap saw on a pod or a Deployment's pods, by
    /// endpoint: counts, status mix, p50/p99 latency (docs/tap.md).
    Traffic {
        /// POD or deployment/NAME.
        what: String,
        #[command(flatten)]
        target: mirror_cmd::Target,
        /// The window, in minutes (1-60).
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=60))]
        minutes: u64,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: mirror_cmd::Format,
    },
    /// The traffic tap sidecar the webhook injects: captures its pod's
    /// HTTP traffic out of band and serves the figures (docs/tap.md).
    Tap(tap_cmd::TapArgs),
    /// Manage the backend's API tokens.
    Token {
        #[command(subcommand)]
        command: serve_cmd::TokenCommand,
    },
    /// The backend's audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `podmirror audit …`.
#[derive(clap::Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain: finds an edited, inserted or deleted entry.
    Verify {
        #[command(flatten)]
        database: serve_cmd::DatabaseArg,
    },
}

/// What `podmirror demo` takes.
#[derive(clap::Args, Debug)]
struct DemoArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Port on 127.0.0.1 for the backend's API (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    api_port: u16,
    /// Run the demo on the cluster of this kubeconfig instead of the embedded
    /// sim, e.g. a real control plane from `scripts/real-cluster` whose node
    /// agent has the demo's nodes (`-- --demo-nodes`). Give the agent's --time-scale.
    #[arg(long, value_name = "KUBECONFIG")]
    real: Option<PathBuf>,
    /// The backend's config file, as `podmirror serve --config` takes it
    /// (orgs, fix policy, TTL); the demo's admin token belongs to its first org.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// What every simulated cluster takes.
#[derive(clap::Args, Debug)]
struct ClusterArgs {
    /// Port on 127.0.0.1 to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Where to write a kubeconfig whose context `podmirror-sim` points at the sim.
    #[arg(long, default_value = "podmirror-sim.kubeconfig")]
    kubeconfig: PathBuf,
    /// Run every timer this many times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Image catalog (YAML, see docs/sim.md); the built-in shop catalog when absent.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Seed for generated names, uids and IPs, so runs repeat (random when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Fault injection: milliseconds added to every API request.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Fault injection: fraction (0–1) of API requests answered with --fault-error-code.
    #[arg(long, default_value_t = 0.0)]
    fault_error_rate: f64,
    /// Fault injection: 500, 503 or 429.
    #[arg(long, default_value_t = 503)]
    fault_error_code: u16,
    /// Fault injection: fraction (0–1) of writes answered with 409 Conflict.
    #[arg(long, default_value_t = 0.0)]
    fault_conflict_rate: f64,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct SimArgs {
    #[command(subcommand)]
    agent: Option<SimCommand>,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    nodes: NodeArgs,
}

#[derive(clap::Subcommand, Debug)]
enum SimCommand {
    /// Run only the simulated kubelet, as the node agent of another API server
    /// (e.g. a real kube-apiserver): it registers Nodes and plays their pods
    /// from the image catalog.
    Kubelet(agent_cmd::KubeletArgs),
}

/// The simulated nodes.
#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// How many worker nodes the cluster has.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// CPU capacity of each node.
    #[arg(long, default_value = "4")]
    node_cpu: String,
    /// Memory capacity of each node.
    #[arg(long, default_value = "8Gi")]
    node_memory: String,
    /// Pod capacity of each node.
    #[arg(long, default_value_t = 110)]
    node_pods: u32,
    /// Taint the last node: key=value:Effect (repeatable).
    #[arg(long = "node-taint", value_name = "TAINT")]
    node_taints: Vec<String>,
    /// Label the last node: key=value (repeatable).
    #[arg(long = "node-label", value_name = "LABEL")]
    node_labels: Vec<String>,
}

impl NodeArgs {
    fn specs(&self) -> anyhow::Result<Vec<NodeSpec>> {
        for (what, q) in [
            ("--node-cpu", &self.node_cpu),
            ("--node-memory", &self.node_memory),
        ] {
            podmirror_sim::quantity::parse(q).map_err(|e| {
                anyhow::anyhow!("{what} {q:?} is not a quantity: {e} (examples: 4, 3500m, 8Gi)")
            })?;
        }
        let mut nodes = NodeSpec::workers(self.nodes);
        for node in &mut nodes {
            node.cpu = self.node_cpu.clone();
            node.memory = self.node_memory.clone();
            node.pods = self.node_pods;
        }
        for label in &self.node_labels {
            let (k, v) = label.split_once('=').ok_or_else(|| {
                anyhow::anyhow!(
                    "--node-label {label:?} needs the form key=value (e.g. disktype=ssd)"
                )
            })?;
            podmirror_sim::selector::LabelSelector::parse(&format!("{k}={v}"))
                .map_err(|e| anyhow::anyhow!("--node-label {label:?} is not a valid label: {e}"))?;
            match nodes.last_mut() {
                Some(last) => last.labels.push((k.to_string(), v.to_string())),
                None => anyhow::bail!("--node-label needs at least one node (--nodes 0 was given)"),
            }
        }
        for taint in &self.node_taints {
            let parsed = NodeSpec::parse_taint(taint).map_err(anyhow::Error::msg)?;
            match nodes.last_mut() {
                Some(last) => last.taints.push(parsed),
                None => anyhow::bail!("--node-taint needs at least one node (--nodes 0 was given)"),
            }
        }
        Ok(nodes)
    }
}

/// A running simulated cluster.
struct Running {
    sim: podmirror_sim::Sim,
    served: podmirror_sim::Served,
    kubeconfig: PathBuf,
}

/// The image catalog of a file, or the built-in one.
fn load_catalog(path: Option<&std::path::Path>) -> anyhow::Result<podmirror_sim::catalog::Catalog> {
    Ok(match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the catalog {}", path.display()))?;
            podmirror_sim::catalog::Catalog::parse(&text, &path.display().to_string())?
        }
        None => podmirror_sim::catalog::Catalog::builtin(),
    })
}

async fn start_cluster(args: &ClusterArgs, nodes: &[NodeSpec]) -> anyhow::Result<Running> {
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        anyhow::bail!(
            "--time-scale must be a positive number (got {}); 1 is real time, 10 runs timers ten times faster",
            args.time_scale
        );
    }
    let catalog = load_catalog(args.catalog.as_deref())?;
    let faults = podmirror_sim::faults::FaultConfig {
        latency: std::time::Duration::from_millis(args.fault_latency_ms),
        error_rate: args.fault_error_rate,
        error_code: args.fault_error_code,
        conflict_rate: args.fault_conflict_rate,
    };
    faults
        .validate()
        .map_err(|e| anyhow::anyhow!("fault injection: {e}"))?;
    let sim = podmirror_sim::Sim::with_options(podmirror_sim::SimOptions {
        time_scale: args.time_scale,
        seed: args.seed,
        programs: own_programs(),
        ..Default::default()
    });
    sim.faults.set(faults);
    let served = sim
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await?;
    podmirror_sim::nodes::start(&sim, nodes);
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, std::sync::Arc::new(catalog));
    podmirror_sim::write_kubeconfig(&args.kubeconfig, &served.url())?;
    let kubeconfig = std::fs::canonicalize(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
    Ok(Running {
        sim,
        served,
        kubeconfig,
    })
}

async fn serve_until_ctrl_c(running: Running) -> anyhow::Result<()> {
    println!("Press Ctrl-C to stop; state is kept in memory only.");
    tokio::select! {
        r = running.served.task => {
            r.context("the API server task failed")??;
        }
        r = tokio::signal::ctrl_c() => {
            r.context("cannot listen for Ctrl-C")?;
            println!("stopping");
        }
    }
    drop(running.sim);
    Ok(())
}

fn print_started(running: &Running, nodes: usize) {
    println!(
        "podmirror sim: Kubernetes API (v1.35) serving on {} with {nodes} node(s)",
        running.served.url()
    );
    println!(
        "kubeconfig written to {} (context podmirror-sim)",
        running.kubeconfig.display()
    );
    println!();
    println!("  export KUBECONFIG={}", running.kubeconfig.display());
    println!(
        "  (faults at run time: curl -X PUT {}/podmirror.dev/faults -d '{{\"errorRate\":0.1,\"errorCode\":503}}')",
        running.served.url()
    );
}

async fn run_sim(args: SimArgs) -> anyhow::Result<()> {
    if let Some(SimCommand::Kubelet(kubelet)) = args.agent {
        return agent_cmd::run(kubelet).await;
    }
    let nodes = args.nodes.specs()?;
    let running = start_cluster(&args.cluster, &nodes).await?;
    print_started(&running, nodes.len());
    println!("  kubectl get nodes");
    println!();
    serve_until_ctrl_c(running).await
}

async fn run_demo(demo: DemoArgs) -> anyhow::Result<()> {
    let args = &demo.cluster;
    // Read before anything starts, so a bad file leaves nothing running.
    let config = serve_cmd::load_config(demo.config.as_deref())?;
    // The cluster: the embedded sim, or the one a kubeconfig names.
    let (running, client, cluster_name) = match &demo.real {
        None => {
            let nodes = podmirror_sim::scenarios::nodes();
            let running = start_cluster(args, &nodes).await?;
            let client = running.sim.client();
            (Some(running), client, "podmirror-sim".to_string())
        }
        Some(kubeconfig) => {
            if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
                anyhow::bail!(
                    "--time-scale must be a positive number (got {}); give the node agent's",
                    args.time_scale
                );
            }
            let (client, context) = agent_cmd::client_for(Some(kubeconfig), None).await?;
            (None, client, context)
        }
    };
    // The tap's injector first, so the shop's first pods get their taps.
    let webhook = start_demo_webhook(&client).await?;
    podmirror_sim::scenarios::seed_through(&client)
        .await
        .context("seeding the demo workloads")?;
    let shopper =
        podmirror_sim::shopper::start(client.clone(), std::time::Duration::from_millis(100));
    // The backend, on the local store: its watcher diagnoses the failing
    // pods, its elected reaper deletes expired mirrors on time.
    let store = podmirror_store::Store::open(&podmirror_store::default_path()).await?;
    let backend = serve_cmd::Backend::start(
        client.clone(),
        store.clone(),
        podmirror_server::config::Config {
            cluster_name: Some(config.cluster_name.clone().unwrap_or(cluster_name.clone())),
            // A demo at N× speed judges its mirrors N× sooner.
            mirror_settle_seconds: (config.mirror_settle_seconds / args.time_scale).max(1.0),
            ..config.clone()
        },
        std::net::SocketAddr::from(([127, 0, 0, 1], demo.api_port)),
        Some("default"),
    )
    .await
    .context("starting the backend (--api-port picks another port)")?;
    let token = match &backend.new_token {
        Some(t) => t.clone(),
        // Tokens from an earlier demo exist: one more for this run.
        None => {
            let name = format!("demo-{}", jiff::Timestamp::now().as_second());
            store
                .create_token(
                    &name,
                    podmirror_store::Role::Admin,
                    &config.orgs[0].name,
                    jiff::Timestamp::now(),
                )
                .await?
        }
    };
    match (&running, &demo.real) {
        (Some(running), _) => print_started(running, podmirror_sim::scenarios::nodes().len()),
        (None, Some(kubeconfig)) => {
            let version = client
                .apiserver_version()
                .await
                .map(|v| v.git_version)
                .unwrap_or_else(|_| "unknown version".into());
            println!(
                "podmirror demo: on the cluster of {} (context {cluster_name}, Kubernetes {version}); the shop stays there after Ctrl-C",
                kubeconfig.display()
            );
            println!();
            println!("  export KUBECONFIG={}", kubeconfig.display());
        }
        (None, None) => {}
    }
    let ns = podmirror_sim::scenarios::NAMESPACE;
    println!();
    println!("Namespace {ns:?} runs a small shop. Its Deployments, one per failure class:");
    for s in podmirror_sim::scenarios::all() {
        println!("  {:<12} {:<36} {}", s.name, s.class, s.summary);
    }
    println!();
    println!("Things to try (give the failures a few seconds to show):");
    println!("  kubectl get pods -n {ns}");
    println!("  kubectl describe pod -n {ns} -l app=orders");
    println!("  kubectl logs -n {ns} deploy/orders --previous");
    println!("  kubectl get events -n {ns} --field-selector type=Warning");
    println!(
        "  kubectl rollout history -n {ns} deploy/api && kubectl rollout undo -n {ns} deploy/api"
    );
    println!();
    println!("Mirror a failing pod with a fix (expired mirrors are deleted by the reaper here):");
    println!(
        "  podmirror test deployment/api -n {ns} --set-image api=registry.example.com/shop/api:1.4.1"
    );
    println!("  podmirror status -A");
    println!();
    println!(
        "Live traffic: the namespace is labelled for the tap, so {} carry it (READY 2/2), and a shopper sends them requests:",
        podmirror_sim::scenarios::TAPPED.join(", ")
    );
    println!("  podmirror traffic deployment/api -n {ns}");
    println!("  podmirror traffic deployment/api-canary -n {ns}");
    println!(
        "  podmirror diagnose --all -n {ns}    # after a minute: the Ready api-canary pod answers 500s"
    );
    if let Err(why) = podmirror_tap::capture::PacketSocket::open(
        std::net::Ipv4Addr::LOCALHOST,
        &[],
        podmirror_tap::tap::Mode::Ingress,
    ) {
        println!(
            "  (note: the taps cannot capture here ({why}); run the demo as root, or give the binary the capability: sudo setcap cap_net_raw+ep $(command -v podmirror))"
        );
    }
    println!();
    println!("The dashboard (signs you in as admin; the token leaves the address bar at once):");
    println!("  http://{}/#token={token}", backend.addr);
    println!();
    println!("The backend (REST API, failing pods diagnosed as they fail, the mirror reaper):");
    println!("  http://{}/api/openapi.json", backend.addr);
    println!(
        "  curl -H 'Authorization: Bearer {token}' http://{}/api/pods/failing",
        backend.addr
    );
    println!();
    let result = match running {
        Some(running) => serve_until_ctrl_c(running).await,
        None => agent_cmd::wait_for_stop().await,
    };
    shopper.abort();
    webhook.stop(&client, demo.real.is_some()).await;
    backend.stop().await;
    result
}

/// The name of the demo's MutatingWebhookConfiguration (not the chart's,
/// so a `podmirror webhook` run beside the demo keeps its own).
const DEMO_WEBHOOK: &str = "podmirror-demo-tap";

/// The demo's tap injector, in this process, registered with the cluster.
struct DemoWebhook(podmirror_webhook::Running);

impl DemoWebhook {
    /// Stops serving; on a cluster that outlives the demo, its
    /// configuration goes too (with `failurePolicy: Ignore` a stale one
    /// would only slow pod creation down).
    async fn stop(self, client: &kube::Client, cluster_stays: bool) {
        drop(self.0);
        if cluster_stays {
            let api: kube::Api<
                k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
            > = kube::Api::all(client.clone());
            let _ = api.delete(DEMO_WEBHOOK, &Default::default()).await;
        }
    }
}

async fn start_demo_webhook(client: &kube::Client) -> anyhow::Result<DemoWebhook> {
    let mut options = podmirror_webhook::Options::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        webhook_cmd::DEFAULT_TAP_IMAGE,
    );
    options.configuration = DEMO_WEBHOOK.into();
    options.register_url = Some("https://127.0.0.1:{port}/inject".into());
    let running = podmirror_webhook::start(options, client.clone())
        .await
        .context("starting the tap's webhook for the demo")?;
    Ok(DemoWebhook(running))
}

fn main() -> std::process::ExitCode {
    // kube's TLS stack needs a process-wide crypto provider chosen before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    // The backend logs each request (info); the CLI only what went wrong.
    // kube-rs logs every failed request at ERROR (a 500 from pods/log among
    // them); the CLI says what matters once, in its own words, instead.
    let default_level = if matches!(cli.command, Command::Serve(_) | Command::Webhook(_)) {
        "info"
    } else {
        "warn,kube_client::client::builder=off"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODMIRROR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs that go to files stay plain.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        // Through the backend: the commands that have a remote form.
        let remote = match cli.remote.remote() {
            Ok(r) => r,
            Err(e) => return Err(e),
        };
        if let Some(r) = &remote {
            match &cli.command {
                Command::Diagnose {
                    pod,
                    all,
                    all_namespaces,
                    target,
                    output,
                    ..
                } => {
                    return match pod.as_deref().filter(|_| !all) {
                        Some(pod) => remote_cmd::diagnose_one(r, target, pod, *output).await,
                        None => remote_cmd::diagnose_all(r, target, *all_namespaces, *output).await,
                    };
                }
                Command::Fix { pod, target, fix } => {
                    return remote_cmd::fix(r, target, pod, fix).await;
                }
                Command::Preview {
                    pod,
                    target,
                    changes,
                } => return remote_cmd::preview(r, target, pod, changes).await,
                Command::Test {
                    pod,
                    target,
                    changes,
                    test,
                } => return remote_cmd::test(r, target, pod, changes, test).await,
                Command::Status {
                    target,
                    all_namespaces,
                    output,
                } => return remote_cmd::status(r, target, *all_namespaces, *output).await,
                Command::Delete { mirror_id, .. } => {
                    return remote_cmd::delete(r, mirror_id).await;
                }
                Command::Traffic {
                    what,
                    target,
                    minutes,
                    output,
                } => return remote_cmd::traffic(r, target, what, *minutes, *output).await,
                Command::Extend { .. } | Command::Gc { .. } => {
                    return Err(anyhow::anyhow!(
                        "extend and gc work against the cluster, not through --server (the backend's reaper runs gc)"
                    ));
                }
                _ => {}
            }
        }
        match cli.command {
            Command::Sim(args) => run_sim(*args).await.map(|()| 0),
            Command::Demo(args) => run_demo(args).await.map(|()| 0),
            Command::Preview {
                pod,
                target,
                changes,
            } => mirror_cmd::preview(target, pod, changes).await.map(|()| 0),
            Command::Test {
                pod,
                target,
                changes,
                test,
            } => mirror_cmd::test(target, pod, changes, test).await,
            Command::Diagnose {
                pod,
                all,
                all_namespaces,
                target,
                output,
                no_llm,
            } => match pod.filter(|_| !all) {
                Some(pod) => diagnose_cmd::one(target, pod, output, !no_llm).await,
                None => diagnose_cmd::all(target, all_namespaces, output, !no_llm).await,
            },
            Command::Fix { pod, target, fix } => fix_cmd::fix(target, pod, fix).await,
            Command::Status {
                target,
                all_namespaces,
                output,
            } => mirror_cmd::status(target, all_namespaces, output)
                .await
                .map(|()| 0),
            Command::Delete { mirror_id, target } => {
                mirror_cmd::delete(target, mirror_id).await.map(|()| 0)
            }
            Command::Extend {
                mirror_id,
                by,
                target,
            } => mirror_cmd::extend(target, mirror_id, by).await.map(|()| 0),
            Command::Gc { target } => mirror_cmd::gc(target).await.map(|()| 0),
            Command::Serve(args) => serve_cmd::serve(args).await.map(|()| 0),
            Command::Webhook(args) => webhook_cmd::webhook(args).await.map(|()| 0),
            Command::Tap(args) => tap_cmd::tap(args).await.map(|()| 0),
            Command::Traffic {
                what,
                target,
                minutes,
                output,
            } => traffic_cmd::traffic(target, what, minutes, output).await,
            Command::Token { command } => serve_cmd::token(command).await,
            Command::Audit {
                command: AuditCommand::Verify { database },
            } => serve_cmd::audit_verify(database).await,
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// The images the simulated kubelet runs as real processes: podmirror's
/// own (the traffic tap the webhook injects), as this very binary.
pub(crate) fn own_programs() -> std::collections::HashMap<String, PathBuf> {
    let mut programs = std::collections::HashMap::new();
    if let Ok(me) = std::env::current_exe() {
        programs.insert("ghcr.io/podmirror/podmirror".to_string(), me);
    }
    programs
}
