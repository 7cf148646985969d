//! `podmirror tap`: the sidecar the webhook injects. It captures its pod's
//! HTTP/1.1 traffic out of band (podmirror-tap) and serves what it saw on
//! the report port (`GET /traffic?minutes=N`, `GET /healthz`), which
//! `podmirror traffic` and the backend read through the API server's pod
//! proxy. It never exits because capture fails: it keeps serving and says
//! why, so a missing capability cannot crash-loop the pod.

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use podmirror_tap::capture::{Capture, PacketSocket};
use podmirror_tap::snapshot::{self, Snapshot};
use podmirror_tap::{Config, Mode, Tap};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use podmirror_core::contract::TAP_REPORT_PORT as REPORT_PORT;

/// Options of `podmirror tap`.
#[derive(clap::Args, Debug, Clone)]
pub struct TapArgs {
    /// ingress: requests to the pod and their answers; egress: the pod's
    /// outgoing calls and theirs.
    #[arg(long, default_value = "ingress", value_parser = ["ingress", "egress"])]
    pub mode: String,
    /// The pod's ports, comma-separated (the served ones).
    #[arg(long, default_value = "")]
    pub ports: String,
    /// The pod's IP (the webhook passes it from status.podIP).
    #[arg(long, env = "POD_IP")]
    pub pod_ip: IpAddr,
    /// Where to serve the figures (default: the pod IP, port 15090).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

struct Shared {
    tap: Mutex<Tap>,
    error: Mutex<Option<String>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the tap until killed.
pub async fn tap(args: TapArgs) -> anyhow::Result<()> {
    let ports = if args.ports.trim().is_empty() {
        Vec::new()
    } else {
        podmirror_webhook::decide::parse_ports(&args.ports)
            .map_err(|e| anyhow::anyhow!("--ports {:?}: {e}; write e.g. 8080,9090", args.ports))?
    };
    let mode = if args.mode == "egress" {
        Mode::Egress
    } else {
        Mode::Ingress
    };
    let listen = args
        .listen
        .unwrap_or(SocketAddr::new(args.pod_ip, REPORT_PORT));
    let shared = Arc::new(Shared {
        tap: Mutex::new(Tap::new(Config::new(args.pod_ip, ports.clone(), mode))),
        error: Mutex::new(None),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for the tap's figures"))?;
    // Started by the simulated kubelet: end with it, as a container ends
    // with its node.
    if let Some(parent) = std::env::var("PODMIRROR_PARENT_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        std::thread::spawn(move || {
            loop {
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(0);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
    }
    let capture = shared.clone();
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || capture_loop(&capture, args.pod_ip, &ports, mode))
        .context("cannot start the capture thread")?;
    eprintln!(
        "podmirror tap: {} traffic of {} on ports {}; figures at http://{listen}/traffic",
        mode_name(mode),
        args.pod_ip,
        if args.ports.is_empty() {
            "(none)"
        } else {
            &args.ports
        }
    );
    let app = Router::new()
        .route("/traffic", get(traffic))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(shared);
    axum::serve(listener, app).await?;
    Ok(())
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Ingress => "ingress",
        Mode::Egress => "egress",
    }
}

/// Captures until the process ends; on failure, says why and tries again.
fn capture_loop(shared: &Shared, ip: IpAddr, ports: &[u16], mode: Mode) {
    let IpAddr::V4(v4) = ip else {
        *lock(&shared.error) = Some(format!("capture of IPv6 pod {ip} is not supported yet"));
        return;
    };
    loop {
        match PacketSocket::open(v4, ports, mode) {
            Ok(mut socket) => {
                *lock(&shared.error) = None;
                let mut last_expiry = now_ms();
                loop {
                    let frame = socket.next_frame();
                    let now = now_ms();
                    match frame {
                        Ok(Some(frame)) => lock(&shared.tap).feed(now, frame),
                        Ok(None) => {}
                        Err(e) => {
                            *lock(&shared.error) = Some(format!("reading captured frames: {e}"));
                            break;
                        }
                    }
                    if now - last_expiry > 10_000 {
                        lock(&shared.tap).expire(now);
                        last_expiry = now;
                    }
                }
            }
            Err(e) => {
                *lock(&shared.error) = Some(format!(
                    "cannot open a packet socket ({e}); the tap needs the NET_RAW capability"
                ));
            }
        }
        std::thread::sleep(Duration::from_secs(10));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn traffic(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<Snapshot> {
    let minutes = q
        .get("minutes")
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(15)
        .clamp(1, podmirror_tap::report::MINUTES);
    let error = lock(&shared.error).clone();
    let tap = lock(&shared.tap);
    let config = tap.config();
    axum::Json(Snapshot {
        pod_ip: config.pod_ip.to_string(),
        mode: config.mode,
        ports: config.ports.clone(),
        capturing: error.is_none(),
        error,
        window_minutes: minutes,
        counters: tap.counters(),
        endpoints: snapshot::endpoints(tap.report(), now_ms(), minutes),
    })
}
