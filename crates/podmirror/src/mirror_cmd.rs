//! The mirror commands of the CLI: `preview`, `test`, `status`, `extend`,
//! `delete` and `gc`. Argument parsing and terminal output live here; the work is done
//! by `podmirror-core` (pure) and `podmirror-kube` (cluster calls).

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use podmirror_core::changes::Change;
use podmirror_core::diagnosis::{FAILING_SHARE, RequestCheck};
use podmirror_core::mirror::{MirrorInfo, MirrorOptions};
use podmirror_core::render;
use podmirror_core::ttl::{self, Ttl};
use podmirror_core::verdict::{self, Verdict};
use podmirror_kube::{clock, deploy, mirrors, source};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Which cluster and namespace, as kubectl takes them.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// kubeconfig context to use (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
}

/// The changes to make on the mirror.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ChangeArgs {
    /// Set a container's image: CONTAINER=IMAGE (`*` for every container); repeatable.
    #[arg(long = "set-image", value_name = "CONTAINER=IMAGE")]
    pub set_image: Vec<String>,
    /// Set an environment variable: CONTAINER:KEY=VALUE; repeatable.
    #[arg(long = "set-env", value_name = "CONTAINER:KEY=VALUE")]
    pub set_env: Vec<String>,
    /// A JSON Patch (JSON or YAML file) with paths relative to the pod spec.
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,
    /// A whole Pod manifest to run instead of the source's spec.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Copy the pod as it is, even when its last diagnosis has a fix (by
    /// default, with no change given, `test` and `preview` use that fix).
    #[arg(long)]
    pub no_fix: bool,
    /// Open the mirror manifest in $VISUAL or $EDITOR before anything is deployed.
    #[arg(long)]
    pub edit: bool,
    /// Remove liveness, readiness and startup probes from the mirror.
    #[arg(long)]
    pub strip_probes: bool,
    /// Keep the source's labels (Services that select them will send it traffic).
    #[arg(long)]
    pub keep_labels: bool,
    /// How long the mirror lives: 30s to 60m (e.g. 90s, 3m, 1h).
    #[arg(long, default_value = "3m")]
    pub ttl: String,
    /// Scale the source's Deployment to zero while the mirror runs (restored when it goes).
    #[arg(long)]
    pub scale_down: bool,
}

impl ChangeArgs {
    fn changes(&self) -> anyhow::Result<Vec<Change>> {
        let mut out = Vec::new();
        if let Some(path) = &self.manifest {
            out.push(Change::manifest(read_yaml(path)?)?);
        }
        for s in &self.set_image {
            out.push(Change::set_image(s)?);
        }
        for s in &self.set_env {
            out.push(Change::set_env(s)?);
        }
        if let Some(path) = &self.patch {
            out.push(Change::patch(read_yaml(path)?)?);
        }
        Ok(out)
    }
}

pub(crate) fn read_yaml(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_saphyr::from_str::<Value>(&text)
        .map_err(|e| anyhow::anyhow!("{} is not valid YAML or JSON: {e}", path.display()))
}

/// A client for the chosen context and the namespace to use.
pub async fn connect(t: &Target) -> anyhow::Result<(kube::Client, String)> {
    // A named context comes from the kubeconfig; otherwise the kubeconfig's
    // current context, or the pod's service account when run in a cluster.
    let mut config = match &t.context {
        Some(context) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .context("cannot load the kubeconfig (set KUBECONFIG or --context)")?
        }
        None => kube::Config::infer().await.context(
            "cannot find a cluster: no kubeconfig (set KUBECONFIG or --context) and not running in a pod",
        )?,
    };
    // Named in the API server's logs and audit records, as kubectl is.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("podmirror/", env!("CARGO_PKG_VERSION"))),
    ));
    let ns = t
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = match kube::Client::try_from(config) {
        Ok(c) => c,
        // rustls refuses X.509 v1 client certificates; say so in plain
        // words instead of its error chain.
        Err(e) if format!("{e:?}").contains("UnsupportedCertVersion") => {
            return Err(podmirror_kube::KubeError::CertificateVersion {
                action: "connect".into(),
            }
            .into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot build a Kubernetes client")),
    };
    Ok((client, ns))
}

pub(crate) fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub(crate) fn who() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The plan of a mirror of `pod` with `args`'s changes; with none, the
/// change is candidate `candidate` of the pod's last diagnosis, which is
/// returned with the plan.
async fn build(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    args: &ChangeArgs,
    candidate: usize,
) -> anyhow::Result<(
    deploy::Plan,
    Option<podmirror_store::Saved>,
    Option<RequestCheck>,
)> {
    let ttl: Ttl = args.ttl.parse()?;
    let mut changes = args.changes()?;
    let src = source::resolve(client, ns, pod).await?;
    // With no change given, a pod's last diagnosed fix is the change.
    let mut diagnosed = None;
    // A pod's diagnosis is kept under its name; a workload's (one with no
    // pod to diagnose) under `kind/name`.
    let key = match (&src.gone_pod, src.from_template) {
        (Some(_), _) => None,
        (None, false) => Some(src.name().to_string()),
        (None, true) => src
            .owner
            .as_deref()
            .and_then(|o| o.split_once('/'))
            .map(|(k, n)| format!("{}/{n}", k.to_ascii_lowercase())),
    };
    if changes.is_empty()
        && !args.no_fix
        && let Some(key) = &key
        && let Some(saved) = last_fix(ns, key).await
    {
        let f = saved.finding.with_candidate(candidate);
        let age = jiff::Timestamp::now()
            .duration_since(saved.saved_at)
            .as_secs()
            .max(0) as u64;
        if candidate == 0 {
            eprintln!(
                "using the fix of the last diagnosis ({}, {} ago): {} (--no-fix for a plain copy)",
                f.category.as_str(),
                ttl::human(age),
                f.suggested_fix
            );
        }
        changes.push(Change::patch(f.patch.clone())?);
        diagnosed = Some(saved);
    }
    // A failure only answers show is checked on every mirror of the pod:
    // with the fix it must be gone, on a plain copy it shows again.
    let check = match (&diagnosed, &key) {
        (Some(saved), _) => saved.finding.requests.clone(),
        (None, Some(key)) => last_diagnosis(ns, key)
            .await
            .and_then(|s| s.finding.requests),
        (None, None) => None,
    };
    if let Some(gone) = &src.gone_pod {
        eprintln!(
            "pod {gone} is gone; its owner's pod template ({}) is the source",
            src.owner
                .as_deref()
                .unwrap_or("workload")
                .to_ascii_lowercase()
        );
    }
    let opts = MirrorOptions {
        ttl,
        strip_probes: args.strip_probes,
        keep_labels: args.keep_labels,
        created_by: who(),
        // a backend watching the cluster records the verdict on it too
        diagnosis_id: diagnosed.as_ref().map(|s| s.finding.id.clone()),
        candidate: diagnosed.as_ref().map(|_| candidate),
        ..Default::default()
    };
    let mut plan = deploy::plan_from(src, ns, &changes, opts, args.scale_down)?;
    if args.edit {
        plan.manifest = crate::edit::edit(client, &plan.manifest).await?;
    }
    Ok((plan, diagnosed, check))
}

/// `podmirror preview POD`: the mirror manifest and its diff against the source.
pub async fn preview(t: Target, pod: String, args: ChangeArgs) -> anyhow::Result<()> {
    let (client, ns) = connect(&t).await?;
    let (plan, _, _) = build(&client, &ns, &pod, &args, 0).await?;
    print!("{}", render::yaml(&plan.manifest));
    println!("---");
    print!("{}", plan.diff(color()));
    if args.keep_labels {
        eprintln!(
            "warning: --keep-labels: Services selecting the source's labels will also send traffic to the mirror"
        );
    }
    Ok(())
}

/// Options of `podmirror test`.
#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    /// Deploy and return; do not follow the mirror.
    #[arg(long)]
    pub no_follow: bool,
    /// Exit 0 when Healthy, 1 when Failing, 2 on error, expiry or Ctrl-C (for
    /// scripts); without it, any verdict reached exits 0.
    #[arg(long)]
    pub wait_verdict: bool,
    /// Seconds all containers must stay ready without a restart to be Healthy.
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
    /// When the last diagnosis has several candidate changes: how many
    /// mirrors to try at once (1: one after the other). The first candidate
    /// that proves Healthy is kept; the other mirrors are deleted.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10))]
    pub parallel: u64,
}

/// `podmirror test POD`: deploy the mirror, then follow it to a verdict.
/// Returns the process exit code.
pub async fn test(t: Target, pod: String, args: ChangeArgs, test: TestArgs) -> anyhow::Result<u8> {
    let (client, ns) = connect(&t).await?;
    let (plan, diagnosed, check) = build(&client, &ns, &pod, &args, 0).await?;
    if let Some(saved) = &diagnosed
        && saved.finding.candidates.len() > 1
        && !args.edit
        && !test.no_follow
    {
        return candidates(&client, &ns, &pod, &args, &test, plan, saved).await;
    }
    if test.parallel > 1 && args.scale_down {
        anyhow::bail!(
            "--parallel tries several mirrors at once, and --scale-down holds the Deployment for one mirror: drop one of them"
        );
    }
    // A dry run comes before any scale-down, so a bad manifest leaves the
    // Deployment as it was; a failed create puts its replicas back.
    let deployed = deploy::deploy(&client, &plan).await?;
    let (info, scaled) = (deployed.info, deployed.scaled);
    println!(
        "mirror {} created in namespace {} (source {}), expires in {}",
        info.id,
        info.namespace,
        info.target(),
        ttl::human(info.ttl_seconds)
    );
    if let Some(s) = &scaled {
        println!(
            "deployment {} scaled down from {} to 0 replicas until the mirror goes",
            s.deployment, s.original_replicas
        );
    }
    if args.keep_labels {
        eprintln!(
            "warning: --keep-labels: Services selecting the source's labels also send traffic to {}",
            info.id
        );
    }
    if test.no_follow {
        println!(
            "follow it with: kubectl -n {} get pod {} -w",
            info.namespace, info.id
        );
        return Ok(0);
    }
    let code = follow(&client, &info, &test, false, check.as_ref()).await?;
    // The verdict verifies (or not) the diagnosed fix.
    if let Some(saved) = diagnosed {
        record(&saved.finding, 0, &info.id, code).await;
    }
    Ok(if test.wait_verdict { code } else { 0 })
}

/// Records a mirror's verdict (exit code 0 Healthy, 1 Failing) on candidate
/// `candidate` of `finding`; a warning when the store cannot take it.
async fn record(
    finding: &podmirror_core::diagnosis::Finding,
    candidate: usize,
    mirror: &str,
    code: u8,
) {
    if code >= 2 {
        return;
    }
    let verdict = if code == 0 { "Healthy" } else { "Failing" };
    let recorded = async {
        crate::fix_cmd::store()
            .await?
            .verify(finding, candidate, mirror, verdict)
            .await?;
        anyhow::Ok(())
    };
    if let Err(e) = recorded.await {
        eprintln!("warning: the verdict was not recorded on the diagnosis: {e:#}");
    }
}

/// `podmirror test POD` when the last diagnosis has several candidate
/// changes: a mirror per candidate, in confidence order, `--parallel` at a
/// time, until one proves Healthy; that one is kept, the others deleted.
async fn candidates(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    args: &ChangeArgs,
    test: &TestArgs,
    first: deploy::Plan,
    saved: &podmirror_store::Saved,
) -> anyhow::Result<u8> {
    let all = &saved.finding.candidates;
    let n = all.len();
    let at_once = usize::try_from(test.parallel).unwrap_or(1).clamp(1, n);
    if at_once > 1 && args.scale_down {
        anyhow::bail!(
            "--parallel tries several mirrors at once, and --scale-down holds the Deployment for one mirror: drop one of them"
        );
    }
    announce(n, at_once);
    let mut first = Some(first);
    let mut next = 0;
    while next < n {
        let batch: Vec<usize> = (next..(next + at_once).min(n)).collect();
        next += batch.len();
        let mut running: Vec<(usize, MirrorInfo)> = Vec::new();
        for &i in &batch {
            let plan = match first.take() {
                Some(p) if i == 0 => p,
                _ => build(client, ns, pod, args, i).await?.0,
            };
            let c = &all[i];
            println!(
                "candidate {}/{n} (confidence {:.2}): {}",
                i + 1,
                c.confidence_score,
                c.suggested_fix
            );
            let deployed = deploy::deploy(client, &plan).await?;
            println!(
                "  mirror {} created, expires in {}",
                deployed.info.id,
                ttl::human(deployed.info.ttl_seconds)
            );
            if let Some(s) = &deployed.scaled {
                println!(
                    "  deployment {} scaled down from {} to 0 replicas until the mirror goes",
                    s.deployment, s.original_replicas
                );
            }
            running.push((i, deployed.info));
        }
        // One mirror: followed as a single test is; several: quietly, at once.
        let codes: Vec<u8> = if running.len() == 1 {
            vec![
                follow(
                    client,
                    &running[0].1,
                    test,
                    false,
                    saved.finding.requests.as_ref(),
                )
                .await?,
            ]
        } else {
            let mut set = tokio::task::JoinSet::new();
            for (k, (_, info)) in running.iter().enumerate() {
                let (client, info, test) = (client.clone(), info.clone(), test.clone());
                let check = saved.finding.requests.clone();
                set.spawn(
                    async move { (k, follow(&client, &info, &test, true, check.as_ref()).await) },
                );
            }
            let mut codes = vec![2u8; running.len()];
            while let Some(done) = set.join_next().await {
                let (k, code) = done?;
                codes[k] = code?;
            }
            codes
        };
        let mut kept: Option<usize> = None;
        for ((i, info), &code) in running.iter().zip(&codes) {
            record(&saved.finding, *i, &info.id, code).await;
            if code == 0 && kept.is_none() {
                kept = Some(*i);
            }
        }
        for ((i, info), &code) in running.iter().zip(&codes) {
            if kept == Some(*i) {
                continue;
            }
            mirrors::delete(client, info).await?;
            println!("{}", deleted(*i, n, code, &info.id));
        }
        if let Some(i) = kept {
            let (_, info) = running.iter().find(|(j, _)| *j == i).unwrap_or(&running[0]);
            proven(i, n, &info.id, &all[i].suggested_fix, pod, ns);
            return Ok(0);
        }
    }
    println!("verdict: Failing — none of the {n} candidates proved Healthy");
    Ok(if test.wait_verdict { 1 } else { 0 })
}

/// How `test` says it tries several candidates.
pub(crate) fn announce(n: usize, at_once: usize) {
    println!(
        "the diagnosis has {n} candidate changes: trying them {}, until one proves Healthy",
        if at_once == 1 {
            "one after the other".to_string()
        } else {
            format!("{at_once} at a time")
        }
    );
}

/// The line for candidate `i`'s mirror, deleted after its batch.
pub(crate) fn deleted(i: usize, n: usize, code: u8, mirror: &str) -> String {
    let how = match code {
        0 => "Healthy too, a later candidate",
        1 => "Failing",
        _ => "without a verdict",
    };
    format!("  candidate {}/{n}: {how}; mirror {mirror} deleted", i + 1)
}

/// The verdict lines when candidate `i` proved Healthy on `mirror`.
pub(crate) fn proven(i: usize, n: usize, mirror: &str, fix: &str, pod: &str, ns: &str) {
    println!(
        "verdict: Healthy — candidate {}/{n} proved Healthy on mirror {mirror}: {fix}",
        i + 1
    );
    println!("podmirror fix {pod} -n {ns} shows it first; mirror {mirror} stays until its TTL");
}

/// The runnable fix of a pod's last diagnosis (15 minutes), if the store has one.
async fn last_fix(ns: &str, pod: &str) -> Option<podmirror_store::Saved> {
    last_diagnosis(ns, pod).await.filter(|s| s.finding.runnable)
}

/// The pod's last diagnosis (within 15 minutes), runnable or not.
async fn last_diagnosis(ns: &str, pod: &str) -> Option<podmirror_store::Saved> {
    let store = crate::fix_cmd::store().await.ok()?;
    store
        .last(
            ns,
            pod,
            std::time::Duration::from_secs(15 * 60),
            jiff::Timestamp::now(),
        )
        .await
        .ok()
        .flatten()
}

/// Spinner frames: braille dots on a UTF-8 terminal, else ASCII.
/// Whether the locale says the terminal takes UTF-8.
pub(crate) fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .is_some_and(|v| {
            let v = v.to_ascii_uppercase();
            v.contains("UTF-8") || v.contains("UTF8")
        })
}

fn spinner_frames() -> &'static [&'static str] {
    let utf8 = utf8_locale();
    if utf8 {
        &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
    } else {
        &["|", "/", "-", "\\"]
    }
}

/// The mirror's events not shown yet, oldest first, as one line each.
async fn new_events(
    api: &Api<k8s_openapi::api::core::v1::Event>,
    id: &str,
    seen: &mut std::collections::HashMap<String, i32>,
) -> Vec<String> {
    let params = kube::api::ListParams::default().fields(&format!("involvedObject.name={id}"));
    let list = match api.list(&params).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the mirror's events");
            return Vec::new();
        }
    };
    let mut items = list.items;
    items.sort_by_key(|e| e.last_timestamp.clone().or(e.first_timestamp.clone()));
    let mut out = Vec::new();
    for e in items {
        let key = e.metadata.name.clone().unwrap_or_default();
        let count = e.count.unwrap_or(1);
        if seen.get(&key) == Some(&count) {
            continue;
        }
        seen.insert(key, count);
        let times = if count > 1 {
            format!(" (x{count})")
        } else {
            String::new()
        };
        out.push(format!(
            "  event {} {}: {}{times}",
            e.type_.unwrap_or_default(),
            e.reason.unwrap_or_default(),
            e.message.unwrap_or_default()
        ));
    }
    out
}

/// Follows a mirror to its verdict, printing its status and events as they
/// change; `quiet` (several mirrors followed at once) prints only the
/// verdict. With `check`, a mirror Healthy by its probes must also answer
/// those requests (see [`answers`]). Returns 0 Healthy, 1 Failing, 2
/// expired, gone or interrupted.
async fn follow(
    client: &kube::Client,
    info: &MirrorInfo,
    test: &TestArgs,
    quiet: bool,
    check: Option<&RequestCheck>,
) -> anyhow::Result<u8> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &info.namespace);
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), &info.namespace);
    // Time left is counted from the server's clock once, then by the local monotonic clock.
    let server_start = clock::server_now(client).await?;
    let started = Instant::now();
    let mut expires = info.expires.unwrap_or(server_start);
    let settle = test.settle as f64;
    let mut ready_since: Option<Instant> = None;
    let mut last_line = String::new();
    let mut seen = std::collections::HashMap::new();
    let tty = std::io::stdout().is_terminal();
    let frames = spinner_frames();
    let mut tick = 0usize;
    loop {
        let got = tokio::select! {
            got = api.get_opt(&info.id) => got.context("cannot read the mirror")?,
            _ = tokio::signal::ctrl_c() => {
                if quiet {
                    return Ok(2);
                }
                return interrupted(client, info).await;
            }
        };
        let Some(pod) = got else {
            println!("\nmirror {} is gone (deleted or expired)", info.id);
            return Ok(2);
        };
        let typed = pod;
        let pod = serde_json::to_value(&typed).unwrap_or(Value::Null);
        // An extension from elsewhere moves the expiry.
        if let Some(e) = MirrorInfo::from_pod(&pod).and_then(|i| i.expires) {
            expires = e;
        }
        let left = ttl::remaining(expires, server_start) - started.elapsed().as_secs() as i64;
        if verdict::all_ready(&pod) {
            ready_since.get_or_insert_with(Instant::now);
        } else {
            ready_since = None;
        }
        let ready_for = ready_since.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let mut v = verdict::judge(&pod, ready_for, settle);
        let done = pod.pointer("/status/phase") == Some(&Value::from("Succeeded"));
        // Printed with the events, above the status line.
        let mut said = None;
        if let (Verdict::Healthy, Some(check), false) = (&v, check, done) {
            (v, said) = answers(client, &typed, check).await;
        }
        let line = status_line(&pod, &v);
        let fresh = if quiet {
            Vec::new()
        } else {
            let mut fresh = new_events(&events, &info.id, &mut seen).await;
            fresh.extend(said);
            fresh
        };
        let tty = tty && !quiet;
        if quiet {
            // several mirrors at once: only their verdicts are printed
        } else if tty {
            // Events scroll above; the status line with its spinner and countdown stays last.
            for e in &fresh {
                print!("\r\x1b[2K{e}\n");
            }
            print!(
                "\r\x1b[2K{} {line}  expires in {}",
                frames[tick % frames.len()],
                ttl::countdown(left)
            );
            tick += 1;
            let _ = std::io::stdout().flush();
        } else {
            for e in &fresh {
                println!("{e}");
            }
            if line != last_line {
                println!("{line} (expires in {})", ttl::countdown(left));
            }
        }
        last_line = line.clone();
        match &v {
            Verdict::Healthy | Verdict::Failing { .. } => {
                if tty {
                    println!();
                }
                let code = report(&api, info, &v, done).await;
                if quiet {
                    return Ok(code);
                }
                println!(
                    "mirror {} stays until its TTL (expires in {}); podmirror delete {} removes it now",
                    info.id,
                    ttl::countdown(left),
                    info.id
                );
                return Ok(code);
            }
            Verdict::Pending { .. } if left <= 0 => {
                println!("\nmirror {} expired before a verdict: {}", info.id, line);
                return Ok(2);
            }
            Verdict::Pending { .. } => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A mirror Ready by its probes, for a failure only answers show: it is
/// sent the failing endpoint's requests and must answer fewer than
/// [`FAILING_SHARE`] of them with 5xx. When they cannot be sent, the
/// probes' verdict stands. The verdict, and a line saying how it went.
async fn answers(
    client: &kube::Client,
    pod: &Pod,
    check: &RequestCheck,
) -> (Verdict, Option<String>) {
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let endpoint = format!("{} {} (port {})", check.method, check.path, check.port);
    match podmirror_kube::traffic::ask(client, pod, check).await {
        Ok(a) if a.answered() == 0 => (
            Verdict::Failing {
                container,
                reason: "NoAnswer".into(),
                message: format!("none of {} requests {endpoint} got an answer", check.count),
                exit_code: None,
            },
            None,
        ),
        Ok(a) => {
            let share = f64::from(a.errors()) / f64::from(a.answered());
            let line = format!(
                "{endpoint}: {} of {} answered 5xx on the mirror ({:.0}%; its source: {:.0}%)",
                a.errors(),
                a.answered(),
                100.0 * share,
                100.0 * check.source_error_share
            );
            if share >= FAILING_SHARE {
                let failing = Verdict::Failing {
                    container,
                    reason: "ServerErrors".into(),
                    message: line,
                    exit_code: None,
                };
                return (failing, None);
            }
            (Verdict::Healthy, Some(format!("requests: {line}")))
        }
        Err(why) => (
            Verdict::Healthy,
            Some(format!(
                "note: the mirror was not sent {endpoint} ({why}); the verdict is its probes'"
            )),
        ),
    }
}

fn status_line(pod: &Value, v: &Verdict) -> String {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    let restarts = verdict::restarts(pod);
    let detail = match v {
        Verdict::Pending { why } => why.clone(),
        Verdict::Failing { reason, .. } => reason.clone(),
        Verdict::Healthy if phase == "Succeeded" => "completed".into(),
        Verdict::Healthy => "all containers ready".into(),
    };
    let states = verdict::container_states(pod);
    if states.is_empty() {
        format!("phase {phase}, restarts {restarts}: {detail}")
    } else {
        format!("phase {phase}, restarts {restarts}, {states}: {detail}")
    }
}

async fn report(api: &Api<Pod>, info: &MirrorInfo, v: &Verdict, completed: bool) -> u8 {
    match v {
        Verdict::Healthy if completed => {
            println!(
                "verdict: Healthy — mirror {} ran to completion (every container exited 0)",
                info.id
            );
            0
        }
        Verdict::Healthy => {
            println!("verdict: Healthy — mirror {} runs with the change", info.id);
            0
        }
        Verdict::Failing {
            container,
            reason,
            message,
            exit_code,
        } => {
            let code = exit_code
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default();
            println!("verdict: Failing — container {container}: {reason}{code}");
            if !message.is_empty() {
                println!("  {message}");
            }
            for previous in [true, false] {
                let params = LogParams {
                    container: Some(container.clone()),
                    previous,
                    tail_lines: Some(5),
                    ..Default::default()
                };
                if let Ok(logs) = api.logs(&info.id, &params).await
                    && !logs.trim().is_empty()
                {
                    println!(
                        "  last log lines{}:",
                        if previous { " (previous run)" } else { "" }
                    );
                    for l in logs.lines() {
                        println!("    {l}");
                    }
                    break;
                }
            }
            1
        }
        Verdict::Pending { .. } => 2,
    }
}

async fn interrupted(client: &kube::Client, info: &MirrorInfo) -> anyhow::Result<u8> {
    println!();
    let delete = if std::io::stdin().is_terminal() {
        print!("Delete mirror {} now? (y/N) ", info.id);
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    } else {
        false
    };
    if delete {
        mirrors::delete(client, info).await?;
        println!("mirror {} deleted", info.id);
    } else {
        println!("mirror {} left to its TTL", info.id);
    }
    Ok(2)
}

/// Output formats of `status`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Table,
    /// JSON for scripts.
    Json,
    /// YAML for scripts.
    Yaml,
}

/// `podmirror status`: the active mirrors.
pub async fn status(t: Target, all: bool, format: Format) -> anyhow::Result<()> {
    let (client, ns) = connect(&t).await?;
    let list = mirrors::list(&client, (!all).then_some(ns.as_str())).await?;
    let infos: Vec<MirrorInfo> = list.into_iter().map(|(i, _)| i).collect();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&infos)?),
        Format::Yaml => print!("{}", render::yaml(&serde_json::to_value(&infos)?)),
        Format::Table => {
            if infos.is_empty() {
                println!("No active mirrors.");
                return Ok(());
            }
            let now = clock::server_now(&client).await?;
            let rows: Vec<[String; 6]> = infos
                .iter()
                .map(|i| {
                    [
                        i.target(),
                        i.namespace.clone(),
                        i.id.clone(),
                        if i.scaled_down.is_some() && !i.deleting {
                            "*".into()
                        } else {
                            String::new()
                        },
                        if i.deleting {
                            "Terminating".into()
                        } else {
                            i.phase.clone()
                        },
                        i.expires
                            .map_or_else(|| "?".into(), |e| ttl::countdown(ttl::remaining(e, now))),
                    ]
                })
                .collect();
            print_status_table(&rows);
        }
    }
    Ok(())
}

/// The `podmirror status` table: target, namespace, mirror, scale-down mark,
/// phase, time left.
pub(crate) fn print_status_table(rows: &[[String; 6]]) {
    let head = [
        "ORIGINAL TARGET",
        "NAMESPACE",
        "MIRROR POD",
        "SCALE DOWN?",
        "PHASE",
        "EXPIRES IN",
    ];
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("   ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(head.to_vec()));
    for r in rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
}

/// `podmirror delete MIRROR_ID`.
pub async fn delete(t: Target, id: String) -> anyhow::Result<()> {
    let (client, _) = connect(&t).await?;
    let (info, _) = mirrors::find(&client, t.namespace.as_deref(), &id).await?;
    if info.deleting {
        println!("mirror {} is already being deleted", info.id);
        return Ok(());
    }
    if mirrors::delete(&client, &info).await? {
        println!(
            "mirror {} deleted from namespace {}",
            info.id, info.namespace
        );
    } else {
        println!("mirror {} was already gone", info.id);
    }
    Ok(())
}

/// `podmirror extend MIRROR_ID --by 5m`.
pub async fn extend(t: Target, id: String, by: String) -> anyhow::Result<()> {
    let by: Ttl = by.parse()?;
    let (client, _) = connect(&t).await?;
    let (info, _) = mirrors::find(&client, t.namespace.as_deref(), &id).await?;
    let now = mirrors::extend(&client, &info, by).await?;
    let server_now = clock::server_now(&client).await?;
    let left = now
        .expires
        .map(|e| ttl::remaining(e, server_now))
        .unwrap_or(0);
    println!(
        "mirror {} now lives {} in all; expires in {}",
        now.id,
        ttl::human(now.ttl_seconds),
        ttl::countdown(left)
    );
    Ok(())
}

/// `podmirror gc`: one reaper pass.
pub async fn gc(t: Target) -> anyhow::Result<()> {
    let (client, _) = connect(&t).await?;
    let report = mirrors::reap(&client).await?;
    for id in &report.deleted {
        println!("deleted expired mirror {id}");
    }
    for d in &report.restored {
        println!("restored scaled-down deployment {d}");
    }
    println!(
        "{} expired mirror(s) deleted, {} still within their TTL, {} deployment(s) restored",
        report.deleted.len(),
        report.kept.len(),
        report.restored.len()
    );
    Ok(())
}
