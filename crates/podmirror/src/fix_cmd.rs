//! `podmirror fix POD` (the last diagnosis's fix, within its window) and
//! `podmirror fix POD --apply [--yes]` (patch the owning workload after an
//! explicit yes, with an audit row).

use crate::mirror_cmd::{Target, color, connect, who};
use anyhow::bail;
use podmirror_core::diagnosis::Finding;
use podmirror_core::{render, ttl};
use podmirror_kube::fixes;
use podmirror_store::{AuditRow, Store};
use serde_json::Value;
use std::io::{IsTerminal, Write};

/// Options of `podmirror fix`.
#[derive(clap::Args, Debug, Clone)]
pub struct FixArgs {
    /// Apply the fix to the owning workload (asks first).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: do not ask (for scripts).
    #[arg(long, requires = "apply")]
    pub yes: bool,
    /// How old a diagnosis may be (e.g. 90s, 15m, 2h).
    #[arg(long, default_value = "15m")]
    pub max_age: String,
}

/// Markers: emoji on a UTF-8 terminal, ASCII otherwise.
struct Marks {
    idea: &'static str,
    tool: &'static str,
    ok: &'static str,
    warn: &'static str,
}

fn marks() -> Marks {
    let utf8 = crate::mirror_cmd::utf8_locale();
    if utf8 {
        Marks {
            idea: "💡",
            tool: "🛠️",
            ok: "✅",
            warn: "⚠️",
        }
    } else {
        Marks {
            idea: "[fix]",
            tool: "[patch]",
            ok: "[ok]",
            warn: "[!]",
        }
    }
}

/// A duration like `15m`, `90s`, `2h`, given to the flag `flag`.
pub(crate) fn duration(flag: &str, s: &str) -> anyhow::Result<std::time::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        anyhow::anyhow!("invalid {flag} {s:?}: use a number with s, m or h, such as 15m")
    })?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => bail!("invalid {flag} {s:?}: use a number with s, m or h, such as 15m"),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// Opens the local store (XDG data dir).
pub async fn store() -> anyhow::Result<Store> {
    Ok(Store::open(&podmirror_store::default_path()).await?)
}

/// Prints a saved diagnosis's fix, whether a mirror verified it and how to apply it.
pub(crate) fn show(saved: &podmirror_store::Saved, ns: &str, pod: &str, now: jiff::Timestamp) {
    // the candidate a mirror proved Healthy comes first
    let f = &saved.best();
    let n = saved.finding.candidates.len();
    let m = marks();
    let age = now.duration_since(saved.saved_at).as_secs().max(0) as u64;
    println!(
        "{} Suggested Fix (from last diagnosis, {} ago, confidence {:.2}):",
        m.idea,
        ttl::human(age),
        f.confidence_score
    );
    println!("- {:?}", f.suggested_fix);
    if f.runnable {
        println!("{} Suggested Patch:", m.tool);
        println!("{}", f.fix_command);
        let which = |i: usize| {
            if n > 1 {
                format!(" (candidate {}/{n})", i + 1)
            } else {
                String::new()
            }
        };
        let shown = saved.verified_candidate.unwrap_or(0);
        match &saved.verified {
            Some((mirror, verdict)) if verdict == "Healthy" => {
                println!(
                    "{} Verified: mirror {mirror} was {verdict}{}",
                    m.ok,
                    which(shown)
                )
            }
            Some((mirror, verdict)) if n > 1 => println!(
                "{} Mirror {mirror} was {verdict}{}: no candidate has proved Healthy yet",
                m.warn,
                which(shown)
            ),
            Some((mirror, verdict)) => println!(
                "{} Mirror {mirror} was {verdict}: the fix did not work there",
                m.warn
            ),
            None if n > 1 => println!(
                "{} Not yet verified: podmirror test {pod} -n {ns} tries the {n} candidates in turn",
                m.warn
            ),
            None => println!(
                "{} Not yet verified: podmirror test {pod} -n {ns} (it uses this fix)",
                m.warn
            ),
        }
        if n > 1 {
            println!("Candidates, in confidence order:");
            for (i, c) in saved.finding.candidates.iter().enumerate() {
                let tried = saved.tries.iter().find(|t| t.candidate == i).map_or_else(
                    || "not tried".to_string(),
                    |t| format!("{} on {}", t.verdict, t.mirror),
                );
                println!(
                    "  {}. [{:.2}, {tried}] {}",
                    i + 1,
                    c.confidence_score,
                    c.suggested_fix
                );
            }
        }
        println!(
            "{} Apply this fix with: podmirror fix {pod} -n {ns} --apply",
            m.warn
        );
    } else {
        println!(
            "{} No automatic change: only a person can make this fix.",
            m.warn
        );
    }
}

/// Asks `Proceed? (y/N)` on the terminal; Ok(true) only for y/yes. Without
/// a terminal it refuses (the caller handles `--yes` first).
pub(crate) fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to apply without a terminal to ask on; pass --yes to confirm");
    }
    print!("Proceed? (y/N) ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `podmirror fix POD [--apply]`. Returns the exit code.
pub async fn fix(t: Target, pod: String, args: FixArgs) -> anyhow::Result<u8> {
    let max_age = duration("--max-age", &args.max_age)?;
    let (client, ns) = connect(&t).await?;
    let pod = pod.strip_prefix("pod/").unwrap_or(&pod).to_string();
    let store = store().await?;
    let now = jiff::Timestamp::now();
    let Some(saved) = store.last(&ns, &pod, max_age, now).await? else {
        println!(
            "No diagnosis of pod {ns}/{pod} in the last {}. Get one with: podmirror diagnose {pod} -n {ns}",
            args.max_age
        );
        return Ok(1);
    };
    if !args.apply {
        show(&saved, &ns, &pod, now);
        return Ok(0);
    }
    // the candidate a mirror proved Healthy, else the first
    let f = &saved.best();
    apply(&client, &t, &store, f, args.yes).await
}

fn context_name(t: &Target) -> String {
    t.context.clone().unwrap_or_else(|| {
        kube::config::Kubeconfig::read()
            .ok()
            .and_then(|k| k.current_context)
            .unwrap_or_else(|| "(none)".into())
    })
}

async fn apply(
    client: &kube::Client,
    t: &Target,
    store: &Store,
    f: &Finding,
    yes: bool,
) -> anyhow::Result<u8> {
    let prepared = fixes::prepare(client, f).await?;
    let (before, after, target) = (&prepared.before, &prepared.after, &prepared.target);
    println!("Context: {}", context_name(t));
    print!(
        "{}",
        render::diff(
            &render::yaml(before),
            &render::yaml(after),
            &format!("{target} spec.template.spec"),
            "with the fix",
            color()
        )
    );
    println!(
        "You are about to apply the suggested fix to {} '{}' (pod '{}') in namespace '{}'. This may affect live workloads.",
        prepared.kind, prepared.name, f.pod, f.namespace
    );
    let prefixed = podmirror_core::diagnosis::template_ops(&f.patch);
    let record = |outcome: String| AuditRow {
        at: jiff::Timestamp::now(),
        who: who(),
        context: context_name(t),
        namespace: f.namespace.clone(),
        target: format!("{target} (pod {})", f.pod),
        patch: Value::Array(prefixed.clone()).to_string(),
        outcome,
    };
    if !yes {
        let proceed = match confirm() {
            Ok(p) => p,
            Err(e) => {
                store
                    .audit(&record("refused: no terminal to ask on".into()))
                    .await?;
                return Err(e);
            }
        };
        if !proceed {
            store.audit(&record("declined".into())).await?;
            println!("Nothing applied.");
            return Ok(1);
        }
    }
    // A test op on the resourceVersion: nothing changes if the workload did meanwhile.
    match fixes::apply(client, &prepared).await {
        Ok(_) => {
            store.audit(&record("applied".into())).await?;
            println!(
                "{target} patched. The same with kubectl:\n  {}",
                f.fix_command
            );
            Ok(0)
        }
        Err(e) => {
            let why = e.to_string();
            store.audit(&record(format!("failed: {why}"))).await?;
            bail!("{why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_ages_read_like_durations() {
        assert_eq!(duration("--max-age", "15m").unwrap().as_secs(), 900);
        assert_eq!(duration("--max-age", "2h").unwrap().as_secs(), 7200);
        assert_eq!(duration("--max-age", "90s").unwrap().as_secs(), 90);
        assert!(
            duration("--max-age", "soon")
                .unwrap_err()
                .to_string()
                .contains("such as 15m")
        );
    }
}
