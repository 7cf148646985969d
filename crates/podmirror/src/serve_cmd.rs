//! `podmirror serve` (the backend), `podmirror token create|list|revoke`
//! and `podmirror audit verify`: the work is in `podmirror-server` and
//! `podmirror-store`; here are the flags and the words.

use crate::mirror_cmd::{Format, Target, connect};
use anyhow::Context as _;
use podmirror_server::config::Config;
use podmirror_store::{Role, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the backend's records are.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseArg {
    /// sqlite://PATH, postgres://USER:PASSWORD@HOST:PORT/DB, or a file path
    /// (default: the local store in $XDG_DATA_HOME/podmirror).
    #[arg(long, env = "PODMIRROR_DATABASE")]
    pub database: Option<String>,
}

impl DatabaseArg {
    async fn open(&self) -> anyhow::Result<Store> {
        Ok(match &self.database {
            Some(url) => Store::connect(url).await?,
            None => Store::open(&podmirror_store::default_path()).await?,
        })
    }
}

/// Options of `podmirror serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Orgs, their namespaces, fix policy and rate limit (YAML; default: one
    /// org that sees every namespace).
    #[arg(long, env = "PODMIRROR_SERVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Do not run the mirror reaper in this process.
    #[arg(long)]
    pub no_reaper: bool,
    /// Namespace of the reaper's Lease (replicas elect one reaper with it).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// kubeconfig context to use (default: in-cluster, else the current one).
    #[arg(long)]
    pub context: Option<String>,
}

/// A running backend.
pub struct Backend {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The bootstrap admin token, when this start made one.
    pub new_token: Option<String>,
    /// The server task (ends on `shutdown`).
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Tells the server to stop.
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    client: kube::Client,
    reaper: Option<podmirror_reaper::Election>,
}

impl Backend {
    /// Starts the API, the diagnosis watcher and (unless `reaper` is None)
    /// the elected reaper whose Lease lives in that namespace.
    pub async fn start(
        client: kube::Client,
        store: Store,
        config: Config,
        listen: std::net::SocketAddr,
        reaper: Option<&str>,
    ) -> anyhow::Result<Backend> {
        let llm = podmirror_ai::LlmConfig::from_env()?;
        let state = podmirror_server::AppState::new(store, client.clone(), config, llm);
        podmirror_server::watcher::start(&state, Default::default());
        let given = std::env::var("PODMIRROR_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let new_token = state
            .bootstrap(given.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let reaper = reaper.map(|ns| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "podmirror".into());
            let identity = format!("{host}-{:06x}", fastrand::u32(..0x100_0000));
            let election = podmirror_reaper::Election::new(ns, &identity);
            tokio::spawn(podmirror_reaper::run(
                client.clone(),
                election.clone(),
                state.reaper_leading.clone(),
            ));
            election
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = podmirror_server::router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await
        });
        Ok(Backend {
            addr,
            new_token,
            task,
            shutdown,
            client,
            reaper,
        })
    }

    /// Stops serving and hands the reaper's Lease over at once.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
        if let Some(e) = &self.reaper {
            let _ = podmirror_reaper::release(&self.client, e).await;
        }
    }
}

/// The server's config file (`--config`), or the defaults without one.
pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    Config::parse(&text, &path.display().to_string()).map_err(anyhow::Error::msg)
}

/// `podmirror serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let addr: std::net::SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address; give HOST:PORT such as 127.0.0.1:8080",
            args.listen
        )
    })?;
    let store = args.database.open().await?;
    let (client, _) = connect(&Target {
        namespace: None,
        context: args.context.clone(),
    })
    .await?;
    let mut config = config;
    if config.cluster_name.is_none() {
        config.cluster_name = Some(cluster_name(args.context.as_deref()));
    }
    let reaper = (!args.no_reaper).then_some(args.lease_namespace.as_str());
    let mut backend = Backend::start(client, store, config, addr, reaper).await?;
    if let Some(token) = &backend.new_token {
        eprintln!(
            "podmirror serve: no tokens yet; the bootstrap admin token (shown once, keep it now):\n  {token}"
        );
    }
    eprintln!(
        "podmirror serve: listening on http://{} (the dashboard at /, the API under /api, its description at /api/openapi.json)",
        backend.addr
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        r = &mut backend.task => {
            r.context("the server task failed")?.context("the server stopped")?;
        }
    }
    backend.stop().await;
    Ok(())
}

/// The cluster's name for the dashboard: the kubeconfig context used, or
/// `in-cluster` when the server runs in a pod.
fn cluster_name(context: Option<&str>) -> String {
    if let Some(c) = context {
        return c.to_string();
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return "in-cluster".into();
    }
    kube::config::Kubeconfig::read()
        .ok()
        .and_then(|k| k.current_context)
        .unwrap_or_else(|| "in-cluster".into())
}

/// `podmirror token …`.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token (printed once; only its hash is kept).
    Create {
        /// Who it is for (unique).
        #[arg(long)]
        name: String,
        /// read, write or admin.
        #[arg(long, default_value = "read")]
        role: String,
        /// Its organisation (as the server's config names it).
        #[arg(long, default_value = "default")]
        org: String,
        /// How long it is accepted (e.g. 8h, 30m); for ever when absent.
        #[arg(long)]
        expires_in: Option<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArg,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Revoke a token by name.
    Revoke {
        /// Its name.
        name: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

/// `podmirror token …`.
pub async fn token(cmd: TokenCommand) -> anyhow::Result<u8> {
    let now = jiff::Timestamp::now();
    match cmd {
        TokenCommand::Create {
            name,
            role,
            org,
            expires_in,
            database,
        } => {
            let role = Role::parse(&role)?;
            let expires = match expires_in.as_deref() {
                None => None,
                Some(d) => {
                    let d = crate::fix_cmd::duration("--expires-in", d)?;
                    if d.is_zero() {
                        anyhow::bail!("--expires-in must be longer than 0s");
                    }
                    Some(now + jiff::SignedDuration::try_from(d)?)
                }
            };
            let store = database.open().await?;
            let token = store
                .create_token_until(&name, role, &org, now, expires)
                .await?;
            println!("{token}");
            eprintln!(
                "token {name:?} ({}, org {org}) created; it is shown only now",
                role.as_str()
            );
            Ok(0)
        }
        TokenCommand::List { database, output } => {
            let tokens = database.open().await?.tokens().await?;
            let rows: Vec<serde_json::Value> = tokens
                .iter()
                .map(|t| {
                    serde_json::json!({"name": t.name, "role": t.role.as_str(), "org": t.org,
                        "created": t.created_at.to_string(),
                        "revoked": t.revoked_at.map(|r| r.to_string()),
                        "expires": t.expires_at.map(|r| r.to_string())})
                })
                .collect();
            match output {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Yaml => print!(
                    "{}",
                    podmirror_core::render::yaml(&serde_json::Value::Array(rows))
                ),
                Format::Table => {
                    println!(
                        "{:<24} {:<6} {:<16} {:<22} {:<22} REVOKED",
                        "NAME", "ROLE", "ORG", "CREATED", "EXPIRES"
                    );
                    let at = |t: Option<jiff::Timestamp>| {
                        t.map(|r| r.strftime("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_else(|| "-".into())
                    };
                    for t in &tokens {
                        println!(
                            "{:<24} {:<6} {:<16} {:<22} {:<22} {}",
                            t.name,
                            t.role.as_str(),
                            t.org,
                            t.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                            at(t.expires_at),
                            at(t.revoked_at)
                        );
                    }
                }
            }
            Ok(0)
        }
        TokenCommand::Revoke { name, database } => {
            if database.open().await?.revoke_token(&name, now).await? {
                println!("token {name:?} revoked");
                Ok(0)
            } else {
                anyhow::bail!("no live token named {name:?}; `podmirror token list` shows them")
            }
        }
    }
}

/// `podmirror audit verify`: 0 when the chain holds, 1 when it breaks.
pub async fn audit_verify(database: DatabaseArg) -> anyhow::Result<u8> {
    match database.open().await?.verify_audit().await? {
        Ok(n) => {
            println!("audit log verified: {n} entries, the chain is unbroken");
            Ok(0)
        }
        Err(b) => {
            println!(
                "audit log BROKEN at entry {}: {} — it was changed outside podmirror",
                b.seq, b.reason
            );
            Ok(1)
        }
    }
}
