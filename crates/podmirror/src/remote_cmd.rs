//! The CLI through the backend (`--server URL` / `PODMIRROR_SERVER` with
//! `--token` / `PODMIRROR_TOKEN`): diagnose, fix, preview, test, status,
//! delete and traffic call the REST API instead of the cluster, and print what the
//! local commands print (the same printing code where the data allow).

use crate::diagnose_cmd;
use crate::fix_cmd::{self, FixArgs};
use crate::mirror_cmd::{ChangeArgs, Format, Target, TestArgs, color, print_status_table};
use anyhow::{Context as _, bail};
use http::Method;
use podmirror_client::{Remote, RemoteError, encode};
use podmirror_core::diagnosis::Finding;
use podmirror_core::{render, ttl};
use serde_json::{Value, json};

/// Where the backend is.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Go through the backend at this URL (podmirror serve), e.g. http://podmirror:8080.
    #[arg(long, global = true, env = "PODMIRROR_SERVER")]
    pub server: Option<String>,
    /// The backend's API token.
    #[arg(long, global = true, env = "PODMIRROR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl RemoteArgs {
    /// The client, when a server is given.
    pub fn remote(&self) -> anyhow::Result<Option<Remote>> {
        let Some(server) = self.server.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let Some(token) = self.token.as_deref().filter(|t| !t.is_empty()) else {
            bail!(
                "--server needs a token: pass --token or set PODMIRROR_TOKEN (an admin makes one with `podmirror token create`)"
            );
        };
        Ok(Some(Remote::new(server, token)?))
    }
}

/// The namespace: `-n`, else the kubeconfig's current one, else `default`.
fn namespace(t: &Target) -> String {
    t.namespace.clone().unwrap_or_else(|| {
        kube::config::Kubeconfig::read()
            .ok()
            .and_then(|k| {
                let current = k.current_context.clone()?;
                k.contexts
                    .iter()
                    .find(|c| c.name == current)
                    .and_then(|c| c.context.as_ref())
                    .and_then(|c| c.namespace.clone())
            })
            .unwrap_or_else(|| "default".into())
    })
}

/// The exact words of the API contract (docs/architecture.md), with the CLI's marker.
fn refused() -> String {
    let mark = if crate::mirror_cmd::utf8_locale() {
        "🚫"
    } else {
        "[refused]"
    };
    format!("{mark} {FIX_REFUSED}")
}

const FIX_REFUSED: &str = "Fix application is disabled for your role. Contact your platform admin.";

fn finding_of(v: &Value) -> anyhow::Result<Finding> {
    serde_json::from_value(v.clone()).context("the server's diagnosis does not read")
}

/// `podmirror diagnose POD --server …`.
pub async fn diagnose_one(r: &Remote, t: &Target, pod: &str, format: Format) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let pod = pod.strip_prefix("pod/").unwrap_or(pod);
    let got = r
        .call(
            Method::POST,
            &format!("/api/diagnosis/{}?namespace={}", encode(pod), encode(&ns)),
            None,
        )
        .await?;
    let Some(f) = got.get("finding").filter(|f| !f.is_null()) else {
        println!(
            "{}",
            got["message"].as_str().unwrap_or("nothing to diagnose")
        );
        return Ok(0);
    };
    if let Some(note) = got["message"].as_str() {
        eprintln!("note: {note}");
    }
    let f = finding_of(f)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&f)?),
        Format::Yaml => print!("{}", render::yaml(&serde_json::to_value(&f)?)),
        Format::Table => diagnose_cmd::print_finding(&f),
    }
    Ok(0)
}

/// `podmirror diagnose --all --server …`: every failing pod the token's org
/// sees (of the namespace, or all with -A), diagnosed now.
pub async fn diagnose_all(
    r: &Remote,
    t: &Target,
    every: bool,
    format: Format,
) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let failing = r.call(Method::GET, "/api/pods/failing", None).await?;
    let mut findings = Vec::new();
    let mut unexplained = Vec::new();
    for p in failing.as_array().into_iter().flatten() {
        let (pns, pod) = (
            p["namespace"].as_str().unwrap_or(""),
            p["pod"].as_str().unwrap_or(""),
        );
        if !every && pns != ns {
            continue;
        }
        let got = r
            .call(
                Method::POST,
                &format!("/api/diagnosis/{}?namespace={}", encode(pod), encode(pns)),
                None,
            )
            .await?;
        match got.get("finding").filter(|f| !f.is_null()) {
            Some(f) => findings.push(finding_of(f)?),
            None if got["healthy"] == true => {}
            None => unexplained.push(format!("{pns}/{pod}")),
        }
    }
    diagnose_cmd::print_all(&findings, &unexplained, format)?;
    Ok(0)
}

/// `podmirror fix POD --server …` (and `--apply`).
pub async fn fix(r: &Remote, t: &Target, pod: &str, args: &FixArgs) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let pod = pod.strip_prefix("pod/").unwrap_or(pod);
    let path = format!("/api/diagnosis/{}?namespace={}", encode(pod), encode(&ns));
    let view = match r.call(Method::GET, &path, None).await {
        Ok(v) => v,
        Err(RemoteError::Api { status: 404, .. }) => {
            println!(
                "No diagnosis of pod {ns}/{pod} on {} in its window. Get one with: podmirror diagnose {pod} -n {ns}",
                r.base()
            );
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    let saved = podmirror_store::Saved {
        finding: finding_of(&view)?,
        saved_at: view["savedAt"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(jiff::Timestamp::now),
        verified: view["verifiedBy"].as_object().map(|v| {
            (
                v["mirror"].as_str().unwrap_or("").to_string(),
                v["verdict"].as_str().unwrap_or("").to_string(),
            )
        }),
        verified_candidate: view["verifiedCandidate"]
            .as_u64()
            .and_then(|c| usize::try_from(c).ok()),
        tries: serde_json::from_value(view["tries"].clone()).unwrap_or_default(),
    };
    if !args.apply {
        fix_cmd::show(&saved, &ns, pod, jiff::Timestamp::now());
        return Ok(0);
    }
    let apply = format!("/api/fix/{}/apply?namespace={}", encode(pod), encode(&ns));
    let planned = match r
        .call(Method::POST, &format!("{apply}&dry_run=true"), None)
        .await
    {
        Ok(v) => v,
        Err(RemoteError::Api {
            status: 403,
            message,
            ..
        }) if message == FIX_REFUSED => {
            println!("{}", refused());
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    let target = planned["target"].as_str().unwrap_or("").to_string();
    let (kind, name) = target.split_once('/').unwrap_or(("workload", &target));
    println!("Server: {}", r.base());
    print!(
        "{}",
        render::diff(
            &render::yaml(&planned["before"]),
            &render::yaml(&planned["after"]),
            &format!("{target} spec.template.spec"),
            "with the fix",
            color()
        )
    );
    println!(
        "You are about to apply the suggested fix to {kind} '{name}' (pod '{pod}') in namespace '{ns}'. This may affect live workloads."
    );
    if !args.yes && !fix_cmd::confirm()? {
        println!("Nothing applied.");
        return Ok(1);
    }
    let done = r.call(Method::POST, &apply, None).await?;
    println!(
        "{target} patched. The same with kubectl:\n  {}",
        done["kubectl_command"].as_str().unwrap_or("")
    );
    Ok(0)
}

/// The body of a preview or deploy, from the change flags (and the last
/// diagnosis's fix when none is given).
/// The deploy request for `args`; with no change given, the last diagnosis's
/// fix (its first candidate), and that diagnosis.
async fn request(
    r: &Remote,
    ns: &str,
    pod: &str,
    args: &ChangeArgs,
) -> anyhow::Result<(Value, Option<Value>)> {
    if args.edit {
        bail!(
            "--edit works against the cluster, not through --server; edit a manifest and pass it with -f"
        );
    }
    let ttl: ttl::Ttl = args.ttl.parse()?;
    let mut body = json!({
        "ttl_seconds": ttl.seconds(),
        "strip_probes": args.strip_probes,
        "keep_labels": args.keep_labels,
        "scale_down": args.scale_down,
        "set_image": args.set_image,
        "set_env": args.set_env,
    });
    if let Some(path) = &args.manifest {
        body["manifest"] = crate::mirror_cmd::read_yaml(path)?;
    }
    if let Some(path) = &args.patch {
        body["patch"] = crate::mirror_cmd::read_yaml(path)?;
    }
    let no_change = args.manifest.is_none()
        && args.patch.is_none()
        && args.set_image.is_empty()
        && args.set_env.is_empty();
    if no_change && !args.no_fix && !pod.contains('/') {
        let path = format!("/api/diagnosis/{}?namespace={}", encode(pod), encode(ns));
        if let Ok(view) = r.call(Method::GET, &path, None).await
            && view["runnable"] == true
        {
            eprintln!(
                "using the fix of the last diagnosis ({}): {} (--no-fix for a plain copy)",
                view["category"].as_str().unwrap_or(""),
                view["suggested_fix"].as_str().unwrap_or("")
            );
            body["patch"] = view["patch"].clone();
            body["diagnosis_id"] = view["id"].clone();
            return Ok((body, Some(view)));
        }
    }
    Ok((body, None))
}

/// `podmirror preview POD --server …`.
pub async fn preview(r: &Remote, t: &Target, pod: &str, args: &ChangeArgs) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let (body, _) = request(r, &ns, pod, args).await?;
    let got = r
        .call(
            Method::POST,
            &format!("/api/mirror/preview/{}", encode(&format!("{ns}:{pod}"))),
            Some(&body),
        )
        .await?;
    print!("{}", render::yaml(&got["manifest"]));
    println!("---");
    print!("{}", got["diff"].as_str().unwrap_or(""));
    Ok(0)
}

/// `podmirror test POD --server …`: deploy, then follow the status to a verdict.
pub async fn test(
    r: &Remote,
    t: &Target,
    pod: &str,
    args: &ChangeArgs,
    test: &TestArgs,
) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let (body, diagnosis) = request(r, &ns, pod, args).await?;
    let candidates = diagnosis
        .as_ref()
        .and_then(|v| v["candidates"].as_array())
        .cloned()
        .unwrap_or_default();
    if candidates.len() > 1 && !test.no_follow {
        return remote_candidates(r, &ns, pod, body, &candidates, test).await;
    }
    if test.parallel > 1 && args.scale_down {
        bail!(
            "--parallel tries several mirrors at once, and --scale-down holds the Deployment for one mirror: drop one of them"
        );
    }
    let id = deploy(r, &ns, pod, &body, "").await?;
    if test.no_follow {
        println!(
            "follow it with: podmirror status -n {ns} --server {}",
            r.base()
        );
        return Ok(0);
    }
    let code = follow(r, &id, test, false).await?;
    Ok(if test.wait_verdict { code } else { 0 })
}

/// Deploys a mirror through the backend; its id. `indent` prefixes the lines.
async fn deploy(
    r: &Remote,
    ns: &str,
    pod: &str,
    body: &Value,
    indent: &str,
) -> anyhow::Result<String> {
    let created = r
        .call(
            Method::POST,
            &format!("/api/mirror/deploy/{}", encode(&format!("{ns}:{pod}"))),
            Some(body),
        )
        .await?;
    let id = created["id"].as_str().unwrap_or("").to_string();
    println!(
        "{indent}mirror {id} created in namespace {} (source {}), expires in {}",
        created["namespace"].as_str().unwrap_or(""),
        created["source"].as_str().unwrap_or(""),
        ttl::human(created["remaining_seconds"].as_u64().unwrap_or(0))
    );
    if let Some(d) = created["scaled_down"].as_str() {
        println!("{indent}deployment {d} scaled down to 0 replicas until the mirror goes");
    }
    Ok(id)
}

/// The diagnosis's candidates through the backend, as `podmirror test`
/// tries them against the cluster: `--parallel` at a time until one proves
/// Healthy; the backend records each verdict on its candidate.
async fn remote_candidates(
    r: &Remote,
    ns: &str,
    pod: &str,
    body: Value,
    candidates: &[Value],
    test: &TestArgs,
) -> anyhow::Result<u8> {
    let n = candidates.len();
    let at_once = usize::try_from(test.parallel).unwrap_or(1).clamp(1, n);
    if at_once > 1 && body["scale_down"] == true {
        bail!(
            "--parallel tries several mirrors at once, and --scale-down holds the Deployment for one mirror: drop one of them"
        );
    }
    crate::mirror_cmd::announce(n, at_once);
    let mut next = 0;
    while next < n {
        let batch: Vec<usize> = (next..(next + at_once).min(n)).collect();
        next += batch.len();
        let mut running = Vec::new();
        for &i in &batch {
            let c = &candidates[i];
            println!(
                "candidate {}/{n} (confidence {:.2}): {}",
                i + 1,
                c["confidence_score"].as_f64().unwrap_or(0.0),
                c["suggested_fix"].as_str().unwrap_or("")
            );
            let mut b = body.clone();
            b["patch"] = c["patch"].clone();
            b["candidate"] = serde_json::json!(i);
            running.push((i, deploy(r, ns, pod, &b, "  ").await?));
        }
        let codes: Vec<u8> = if running.len() == 1 {
            vec![follow(r, &running[0].1, test, false).await?]
        } else {
            let mut codes = Vec::new();
            let follows = running.iter().map(|(_, id)| follow(r, id, test, true));
            for code in futures::future::join_all(follows).await {
                codes.push(code?);
            }
            codes
        };
        let kept = running
            .iter()
            .zip(&codes)
            .find(|(_, code)| **code == 0)
            .map(|((i, _), _)| *i);
        for ((i, id), &code) in running.iter().zip(&codes) {
            if kept == Some(*i) {
                continue;
            }
            r.call(Method::DELETE, &format!("/api/mirror/{}", encode(id)), None)
                .await?;
            println!("{}", crate::mirror_cmd::deleted(*i, n, code, id));
        }
        if let Some(i) = kept {
            let id = &running
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, id)| id.clone())
                .unwrap_or_default();
            crate::mirror_cmd::proven(
                i,
                n,
                id,
                candidates[i]["suggested_fix"].as_str().unwrap_or(""),
                pod,
                ns,
            );
            return Ok(0);
        }
    }
    println!("verdict: Failing — none of the {n} candidates proved Healthy");
    Ok(if test.wait_verdict { 1 } else { 0 })
}

/// Follows a mirror's status through the backend to its verdict: 0
/// Healthy, 1 Failing, 2 gone or expired. `quiet` prints only the verdict.
async fn follow(r: &Remote, id: &str, test: &TestArgs, quiet: bool) -> anyhow::Result<u8> {
    let path = format!("/api/mirror/status/{}?settle={}", encode(id), test.settle);
    let mut seen = 0usize;
    let mut last = String::new();
    loop {
        let s = match r.call(Method::GET, &path, None).await {
            Ok(s) => s,
            Err(RemoteError::Api { status: 404, .. }) => {
                println!("mirror {id} is gone (deleted or expired)");
                return Ok(2);
            }
            Err(e) => return Err(e.into()),
        };
        let events = s["recent_events"].as_array().cloned().unwrap_or_default();
        for e in events.iter().skip(seen).filter(|_| !quiet) {
            let count = e["count"].as_i64().unwrap_or(1);
            let times = if count > 1 {
                format!(" (x{count})")
            } else {
                String::new()
            };
            println!(
                "  event {} {}: {}{times}",
                e["type"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            );
        }
        seen = seen.max(events.len());
        let left = s["remaining_seconds"].as_i64().unwrap_or(0);
        let line = format!(
            "phase {}, restarts {}: {}",
            s["phase"].as_str().unwrap_or(""),
            s["restarts"],
            s["verdict_detail"].as_str().unwrap_or("")
        );
        if line != last && !quiet {
            println!("{line} (expires in {})", ttl::countdown(left));
        }
        last = line;
        let code = match s["verdict"].as_str() {
            Some("Healthy") => {
                println!("verdict: Healthy — mirror {id} runs with the change");
                0
            }
            Some("Failing") => {
                println!(
                    "verdict: Failing — mirror {id}: {}",
                    s["verdict_detail"].as_str().unwrap_or("")
                );
                1
            }
            _ if left <= 0 => {
                println!("mirror {id} expired before a verdict: {last}");
                return Ok(2);
            }
            _ => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if !quiet {
            println!(
                "mirror {id} stays until its TTL (expires in {}); podmirror delete {id} removes it now",
                ttl::countdown(left)
            );
        }
        return Ok(code);
    }
}

/// `podmirror status --server …`.
pub async fn status(r: &Remote, t: &Target, all: bool, format: Format) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let list = r.call(Method::GET, "/api/mirror/active", None).await?;
    let mirrors: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| all || m["namespace"] == ns.as_str())
        .cloned()
        .collect();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&mirrors)?),
        Format::Yaml => print!("{}", render::yaml(&Value::Array(mirrors))),
        Format::Table if mirrors.is_empty() => println!("No active mirrors."),
        Format::Table => {
            let rows: Vec<[String; 6]> = mirrors
                .iter()
                .map(|m| {
                    let deleting = m["deleting"] == true;
                    [
                        m["source"].as_str().unwrap_or("").to_string(),
                        m["namespace"].as_str().unwrap_or("").to_string(),
                        m["id"].as_str().unwrap_or("").to_string(),
                        if m["scaled_down"].is_string() && !deleting {
                            "*".into()
                        } else {
                            String::new()
                        },
                        if deleting {
                            "Terminating".into()
                        } else {
                            m["phase"].as_str().unwrap_or("").to_string()
                        },
                        ttl::countdown(m["remaining_seconds"].as_i64().unwrap_or(0)),
                    ]
                })
                .collect();
            print_status_table(&rows);
        }
    }
    Ok(0)
}

/// `podmirror delete ID --server …`.
pub async fn delete(r: &Remote, id: &str) -> anyhow::Result<u8> {
    let got = r
        .call(Method::DELETE, &format!("/api/mirror/{}", encode(id)), None)
        .await?;
    if got["deleted"] == true {
        println!(
            "mirror {id} deleted from namespace {}",
            got["namespace"].as_str().unwrap_or("")
        );
    } else {
        println!("mirror {id} was already gone");
    }
    Ok(0)
}

/// `podmirror traffic POD --server …`: the pod's tap figures from the
/// backend (`GET /api/traffic/{pod_id}`, admins only), printed as locally.
pub async fn traffic(
    r: &Remote,
    t: &Target,
    what: &str,
    minutes: u64,
    format: Format,
) -> anyhow::Result<u8> {
    let ns = namespace(t);
    let pod = what.strip_prefix("pod/").unwrap_or(what);
    if pod.contains('/') {
        bail!(
            "through --server podmirror traffic reads one pod (the API serves a pod's figures): give a pod name, or run it against the cluster for {what}"
        );
    }
    let snapshot = match r
        .call(
            Method::GET,
            &format!(
                "/api/traffic/{}?minutes={minutes}",
                encode(&format!("{ns}:{pod}"))
            ),
            None,
        )
        .await
    {
        Ok(v) => {
            serde_json::from_value(v).map_err(|e| format!("the backend's figures do not read: {e}"))
        }
        Err(RemoteError::Api {
            status, message, ..
        }) if status == 404 || status == 502 => Err(message),
        Err(e) => return Err(e.into()),
    };
    let all = [crate::traffic_cmd::PodFigures {
        pod: pod.to_string(),
        snapshot,
    }];
    crate::traffic_cmd::show(&ns, what, minutes, format, &all)
}
