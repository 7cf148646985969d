//! `podmirror diagnose POD` and `podmirror diagnose --all`: the rules of
//! `podmirror-core::diagnosis` over what `podmirror-kube::gather` reads, and
//! the LLM of `podmirror-ai` when one is configured.

use crate::mirror_cmd::{Format, Target, connect};
use podmirror_ai::LlmConfig;
use podmirror_core::diagnosis::Context;
use podmirror_core::diagnosis::{self, Finding};
use podmirror_core::render;
use podmirror_kube::gather::Snapshot;
use serde_json::Value;

/// With `--all`, the LLM is asked about at most this many pods the rules do
/// not explain (each question takes seconds and may cost money).
const LLM_PER_RUN: usize = 10;

/// The configured LLM, if any and wanted.
fn llm(wanted: bool) -> anyhow::Result<Option<LlmConfig>> {
    if !wanted {
        return Ok(None);
    }
    Ok(LlmConfig::from_env()?)
}

/// The rules' finding, and the LLM's instead when it passes every check;
/// a note says why the LLM's answer was not used.
async fn judge(
    llm: Option<&LlmConfig>,
    client: &kube::Client,
    ctx: &Context,
) -> (Option<Finding>, Option<String>) {
    let rules = diagnosis::diagnose(ctx);
    match llm {
        Some(llm) if !diagnosis::healthy(&ctx.pod) => {
            let got = podmirror_ai::consult(llm, client, ctx, rules).await;
            (got.finding, got.note)
        }
        _ => (rules, None),
    }
}

/// `podmirror diagnose POD`: one pod, in words (or JSON/YAML).
pub async fn one(t: Target, pod: String, format: Format, use_llm: bool) -> anyhow::Result<u8> {
    let llm = llm(use_llm)?;
    let (client, ns) = connect(&t).await?;
    if let Some((kind, name)) = pod.split_once('/').filter(|(k, _)| *k != "pod") {
        return workload(&client, &ns, kind, name, format).await;
    }
    let name = pod.strip_prefix("pod/").unwrap_or(&pod).to_string();
    let snapshot = Snapshot::take_pod(&client, &ns, &name).await?;
    let Some(p) = snapshot
        .pods
        .iter()
        .find(|p| p.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str()))
    else {
        anyhow::bail!(
            "pod {name:?} not found in namespace {ns:?} (mirrors are not diagnosed); check the name with `kubectl -n {ns} get pods`"
        );
    };
    let ctx = snapshot.context(&client, p).await;
    if let Some(why) = podmirror_kube::gather::log_failure() {
        eprintln!("note: {why}");
    }
    if let Some(why) = snapshot.unreadable_note() {
        eprintln!("note: {why}");
    }
    let (found, note) = judge(llm.as_ref(), &client, &ctx).await;
    if let Some(note) = &note {
        eprintln!("note: {note}");
    }
    let Some(f) = found else {
        if diagnosis::healthy(p) {
            println!("pod {ns}/{name} is healthy; nothing to diagnose");
        } else {
            let phase = p
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending");
            println!(
                "pod {ns}/{name} is not healthy (phase {phase}) but no rule explains it yet; look at kubectl -n {ns} describe pod {name}"
            );
        }
        return Ok(0);
    };
    keep(std::slice::from_ref(&f)).await;
    show(&f, format)?;
    Ok(0)
}

/// `podmirror diagnose deployment/NAME` (statefulset, daemonset, job): what
/// its owner chain says when it has no pod to diagnose, else where its pods are.
async fn workload(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
    format: Format,
) -> anyhow::Result<u8> {
    let kind = match kind.to_ascii_lowercase().as_str() {
        "deployment" | "deployments" | "deploy" => "Deployment",
        "statefulset" | "statefulsets" | "sts" => "StatefulSet",
        "daemonset" | "daemonsets" | "ds" => "DaemonSet",
        "job" | "jobs" => "Job",
        other => anyhow::bail!(
            "cannot diagnose a {other:?}: give a pod, or deployment/NAME, statefulset/NAME, daemonset/NAME or job/NAME"
        ),
    };
    let snapshot = Snapshot::take(client, Some(ns)).await?;
    let Some(w) = snapshot.workload(ns, kind, name) else {
        anyhow::bail!(
            "{} {name:?} not found in namespace {ns:?}; check the name with `kubectl -n {ns} get {}`",
            kind.to_ascii_lowercase(),
            kind.to_ascii_lowercase()
        );
    };
    if let Some(why) = snapshot.unreadable_note() {
        eprintln!("note: {why}");
    }
    let ctx = snapshot.workload_context(w);
    let Some(f) = diagnosis::diagnose(&ctx) else {
        let state = ctx.workload.as_ref();
        println!(
            "{}/{name} has {} of {} pods and nothing its owner chain says explains a failure; its failing pods, if any: podmirror diagnose --all -n {ns}",
            kind.to_ascii_lowercase(),
            state.map_or(0, |s| s.pods),
            state.map_or(0, |s| s.desired),
        );
        return Ok(0);
    };
    keep(std::slice::from_ref(&f)).await;
    show(&f, format)?;
    Ok(0)
}

/// One finding in the chosen format.
fn show(f: &Finding, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(f)?),
        Format::Yaml => print!("{}", render::yaml(&serde_json::to_value(f)?)),
        Format::Table => print_finding(f),
    }
    Ok(())
}

fn ns_name(p: &Value) -> String {
    format!(
        "{}/{}",
        p.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(""),
        p.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    )
}

fn owner_text(f: &Finding) -> String {
    f.owner.as_ref().map_or_else(
        || "bare pod".to_string(),
        |o| format!("{}/{}", o.kind.to_ascii_lowercase(), o.name),
    )
}

pub(crate) fn print_finding(f: &Finding) {
    if f.pod.contains('/') {
        // a workload with no pod to diagnose
        println!(
            "{}/{}: {}, confidence {:.2}",
            f.namespace,
            f.pod,
            f.category.as_str(),
            f.confidence_score
        );
    } else {
        println!(
            "pod {}/{} ({}): {}, confidence {:.2}",
            f.namespace,
            f.pod,
            owner_text(f),
            f.category.as_str(),
            f.confidence_score
        );
    }
    if f.source != "rules" {
        println!(
            "Source: {} (checked: allowed paths, API server dry run)",
            f.source
        );
    }
    println!("Diagnosis: {}", f.diagnosis);
    println!("Suggested fix: {}", f.suggested_fix);
    if !f.evidence.is_empty() {
        println!("Evidence:");
        for e in &f.evidence {
            println!("  - {e}");
        }
    }
    if f.runnable {
        println!("Patch (relative to the pod spec): {}", f.patch);
        println!("Fix command:\n  {}", f.fix_command.replace('\n', "\n  "));
        if f.candidates.len() > 1 {
            println!(
                "Candidates ({}), most likely first; podmirror test tries them in turn:",
                f.candidates.len()
            );
            for (i, c) in f.candidates.iter().enumerate() {
                println!(
                    "  {}. [{:.2}] {}",
                    i + 1,
                    c.confidence_score,
                    c.suggested_fix
                );
            }
        }
    } else {
        println!("No automatic change: the fix needs a person (see above).");
    }
}

/// `podmirror diagnose --all [-A]`: a table of the failing pods.
pub async fn all(
    t: Target,
    every_namespace: bool,
    format: Format,
    use_llm: bool,
) -> anyhow::Result<u8> {
    let llm = llm(use_llm)?;
    let (client, ns) = connect(&t).await?;
    let snapshot = Snapshot::take(&client, (!every_namespace).then_some(ns.as_str())).await?;
    let mut findings = Vec::new();
    let mut unexplained = Vec::new();
    let mut asked = 0;
    for p in &snapshot.pods {
        // Healthy pods are skipped, but for a tapped one: only its tap can
        // tell that it answers errors.
        if diagnosis::healthy(p) && !podmirror_core::cleanup::tapped(p) {
            continue;
        }
        let ctx = snapshot.context(&client, p).await;
        let mut found = diagnosis::diagnose(&ctx);
        if found.is_none() && diagnosis::healthy(p) {
            continue;
        }
        // The LLM is asked only about what no rule explains, a few per run.
        if let Some(llm) = llm
            .as_ref()
            .filter(|_| found.is_none() && asked < LLM_PER_RUN)
        {
            asked += 1;
            let got = podmirror_ai::consult(llm, &client, &ctx, None).await;
            if let Some(note) = got.note {
                eprintln!("note: {}: {note}", ns_name(p));
            }
            found = got.finding;
        }
        match found {
            Some(f) => findings.push(f),
            None => unexplained.push(ns_name(p)),
        }
    }
    // Workloads whose pods the API server refuses, or that stalled, with no pod to say so.
    for w in snapshot.stuck_workloads() {
        if let Some(f) = diagnosis::diagnose(&snapshot.workload_context(w)) {
            findings.push(f);
        }
    }
    if llm.is_some() && asked == LLM_PER_RUN && !unexplained.is_empty() {
        eprintln!(
            "note: the LLM was asked about {LLM_PER_RUN} pods only; diagnose the others one by one"
        );
    }
    if let Some(why) = podmirror_kube::gather::log_failure() {
        eprintln!("note: {why}");
    }
    if let Some(why) = snapshot.unreadable_note() {
        eprintln!("note: {why}");
    }
    keep(&findings).await;
    print_all(&findings, &unexplained, format)?;
    Ok(0)
}

/// Prints `diagnose --all`'s findings (a table, JSON or YAML).
pub(crate) fn print_all(
    findings: &[Finding],
    unexplained: &[String],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
        Format::Yaml => print!("{}", render::yaml(&serde_json::to_value(findings)?)),
        Format::Table if findings.is_empty() && unexplained.is_empty() => {
            println!("No failing pods.")
        }
        Format::Table => {
            let rows: Vec<[String; 6]> = findings
                .iter()
                .map(|f| {
                    let first = f
                        .diagnosis
                        .split(". ")
                        .next()
                        .unwrap_or("")
                        .trim_end_matches('.');
                    let mut line: String = first.chars().take(70).collect();
                    if first.chars().count() > 70 {
                        line.push('…');
                    }
                    [
                        f.namespace.clone(),
                        f.pod.clone(),
                        owner_text(f),
                        f.category.as_str().to_string(),
                        line,
                        format!("{:.2}", f.confidence_score),
                    ]
                })
                .collect();
            let head = [
                "NAMESPACE",
                "POD",
                "OWNER",
                "CATEGORY",
                "DIAGNOSIS",
                "CONFIDENCE",
            ];
            let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let print_row = |cells: Vec<&str>| {
                let parts: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                println!("{}", parts.join("   ").trim_end());
            };
            print_row(head.to_vec());
            for r in &rows {
                print_row(r.iter().map(String::as_str).collect());
            }
        }
    }
    if format == Format::Table && !unexplained.is_empty() {
        println!(
            "Not healthy, no rule explains them yet (kubectl describe pod): {}",
            unexplained.join(", ")
        );
    }
    Ok(())
}

/// Saves findings as their pods' last diagnoses (for `podmirror fix`); a
/// store that cannot be written is a warning, not a failed diagnosis.
async fn keep(findings: &[Finding]) {
    let saved = async {
        let store = crate::fix_cmd::store().await?;
        for f in findings {
            store.save(f, jiff::Timestamp::now()).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = saved.await {
        eprintln!("warning: diagnoses not saved for podmirror fix: {e:#}");
    }
}
