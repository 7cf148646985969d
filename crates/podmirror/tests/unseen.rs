//! Cluster tier, on the sim and on the real control plane: a table of
//! failing workloads written apart from the demo (`tests/data/unseen`: its
//! own image catalog, names, ports, paths and keys). Each must get the right
//! category, and each whose fix can be guessed a runnable change that turns a
//! mirror Healthy. The counts are printed as the figure of the diagnosis.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a workload of the table must get.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fix {
    /// A runnable change that a mirror proves Healthy.
    Proven,
    /// No change can be guessed: not runnable, the text says what to do.
    ByHand,
}

/// (namespace, Deployment, category, fix), in the order of `workloads.yaml`,
/// `quota.yaml` and `pod-security.yaml`.
const TABLE: &[(&str, &str, &str, Fix)] = &[
    ("ledger", "posting", "crash-loop", Fix::Proven),
    ("ledger", "fx-rates", "crash-loop", Fix::Proven),
    ("ledger", "relay", "crash-loop", Fix::Proven),
    ("ledger", "statements", "crash-loop", Fix::ByHand),
    ("ledger", "rates-sync", "config-error", Fix::Proven),
    ("ledger", "gatekeeper", "config-error", Fix::Proven),
    ("ledger", "journal", "crash-loop", Fix::Proven),
    ("ledger", "quotes", "config-error", Fix::Proven),
    ("ledger", "archive", "unschedulable", Fix::Proven),
    ("ledger", "rates-api", "probe", Fix::Proven),
    ("ledger", "ticker", "probe", Fix::Proven),
    ("ledger", "writer", "admission", Fix::Proven),
    ("ledger-batch", "reconcile", "admission", Fix::Proven),
    ("ledger-secure", "signer", "admission", Fix::Proven),
];

/// Rows only the real control plane runs: Pod Security admission, which
/// the sim does not have (pod-security.yaml).
const REAL_ONLY: &[&str] = &["signer"];

/// The table's rows this tier runs.
fn rows(
    c: &Cluster,
) -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str, Fix)> {
    let sim = c.tier == "sim";
    TABLE
        .iter()
        .filter(move |(_, app, _, _)| !(sim && REAL_ONLY.contains(app)))
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/unseen")
        .join(name)
}

/// A cluster with the table's catalog: `podmirror sim`, or the real control
/// plane with podmirror's kubelet as its node agent.
struct Cluster {
    /// `sim` or `real`: which `storage-*.yaml` gives the archive its claim.
    tier: &'static str,
    kubeconfig: PathBuf,
    dir: PathBuf,
    sim: Option<Child>,
    _real: Option<common::RealCluster>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(c) = &mut self.sim {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    fn sim(test: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("podmirror-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kc.yaml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args([
                "sim",
                "--port",
                "0",
                "--time-scale",
                "20",
                "--seed",
                "3",
                "--nodes",
                "2",
            ])
            .arg("--catalog")
            .arg(data("catalog.yaml"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert!(first.contains("serving on"), "{first}");
        std::thread::spawn(move || for _ in lines {});
        Cluster {
            tier: "sim",
            kubeconfig,
            dir,
            sim: Some(child),
            _real: None,
        }
    }

    fn real(test: &str) -> Option<Cluster> {
        if common::skip(test) {
            return None;
        }
        let catalog = data("catalog.yaml");
        let real =
            common::RealCluster::with_agent(test, 2, 20, &["--catalog", catalog.to_str().unwrap()]);
        Some(Cluster {
            tier: "real",
            kubeconfig: real.kubeconfig.clone(),
            dir: real.dir.clone(),
            sim: None,
            _real: Some(real),
        })
    }

    fn run(&self, program: &std::path::Path, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.dir)
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("NO_COLOR", "1")
            .env_remove("PODMIRROR_LLM_URL")
            .env_remove("PODMIRROR_CONFIG")
            .output()
            .unwrap();
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        eprintln!("$ {} {}\n{o}{e}", program.display(), args.join(" "));
        (out.status.code().unwrap_or(-1), o, e)
    }

    fn podmirror(&self, args: &[&str]) -> (i32, String, String) {
        self.run(std::path::Path::new(env!("CARGO_BIN_EXE_podmirror")), args)
    }

    fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        self.run(
            &common::kubectl().expect("kubectl (scripts/install-tools)"),
            args,
        )
    }
}

/// The findings of `diagnose --all -A` by Deployment, once every
/// workload of the table shows its category (or after 120 s, as they are).
fn findings(c: &Cluster) -> Vec<(String, serde_json::Value)> {
    let started = Instant::now();
    loop {
        let (code, out, err) = c.podmirror(&["diagnose", "--all", "-A", "-o", "json", "--no-llm"]);
        assert_eq!(code, 0, "{err}");
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let by_owner: Vec<(String, serde_json::Value)> = all
            .into_iter()
            .map(|f| (f["owner"]["name"].as_str().unwrap_or("").to_string(), f))
            .collect();
        let complete = rows(c).all(|(_, app, category, _)| {
            by_owner
                .iter()
                .any(|(o, f)| o == app && f["category"] == *category)
        });
        if complete || started.elapsed() > Duration::from_secs(120) {
            return by_owner;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn every_unseen_workload_is_diagnosed_and_its_guessed_fix_proves_healthy(c: &Cluster) {
    let (code, _, err) = c.kubectl(&["apply", "-f", data("workloads.yaml").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let storage = data(&format!("storage-{}.yaml", c.tier));
    let (code, _, err) = c.kubectl(&["apply", "-f", storage.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = c.kubectl(&["apply", "-f", data("quota.yaml").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    if c.tier == "real" {
        let psa = data("pod-security.yaml");
        let (code, _, err) = c.kubectl(&["apply", "-f", psa.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
    let found = findings(c);
    let mut right = 0;
    let mut runnable = Vec::new();
    let mut wrong = Vec::new();
    for (ns, app, category, fix) in rows(c) {
        let Some((_, f)) = found.iter().find(|(o, _)| o == app) else {
            wrong.push(format!("{app}: no finding"));
            continue;
        };
        if f["category"] != *category {
            wrong.push(format!(
                "{app}: {} instead of {category}: {}",
                f["category"], f["diagnosis"]
            ));
            continue;
        }
        right += 1;
        let is_runnable = f["runnable"] == true;
        if is_runnable != (*fix == Fix::Proven) {
            wrong.push(format!(
                "{app}: runnable {is_runnable}, wanted {fix:?}: {}",
                f["suggested_fix"]
            ));
        }
        if is_runnable {
            runnable.push((
                app.to_string(),
                ns.to_string(),
                f["pod"].as_str().unwrap().to_string(),
            ));
        }
    }
    // Every runnable change on a mirror of its pod, all at once; a pod's
    // several candidates one after the other on the real tier, two at a
    // time on the sim.
    let parallel = if c.tier == "sim" { "2" } else { "1" };
    let healthy: Vec<(String, bool, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = runnable
            .iter()
            .map(|(app, ns, pod)| {
                s.spawn(move || {
                    let (code, out, err) = c.podmirror(&[
                        "test",
                        pod,
                        "-n",
                        ns,
                        "--settle",
                        "2",
                        "--wait-verdict",
                        "--parallel",
                        parallel,
                    ]);
                    (
                        app.clone(),
                        code == 0 && out.contains("verdict: Healthy"),
                        format!("{out}{err}"),
                    )
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (app, ok, out) in &healthy {
        if !ok {
            wrong.push(format!("{app}: the mirror did not prove the change: {out}"));
        }
    }
    let proven = healthy.iter().filter(|(_, ok, _)| *ok).count();
    // The ticker's candidates: the usual health paths, tried until one is
    // Healthy; `fix` then shows that one first, verified, the others below.
    if let Some((_, _, out)) = healthy.iter().find(|(app, _, _)| app == "ticker") {
        assert!(out.contains("candidate changes"), "{out}");
        assert!(
            out.contains("Failing") && out.contains("deleted"),
            "earlier candidates failed and went: {out}"
        );
        let pod = &runnable
            .iter()
            .find(|(app, _, _)| app == "ticker")
            .unwrap()
            .2;
        let (_, shown, _) = c.podmirror(&["fix", pod, "-n", "ledger"]);
        let first = shown.lines().find(|l| l.starts_with("- ")).unwrap_or("");
        if !first.contains("/readyz") || !shown.contains("Verified") {
            wrong.push(format!(
                "ticker: fix does not show the proven candidate first: {shown}"
            ));
        }
        if !shown.contains("Failing on") || !shown.contains("not tried") {
            wrong.push(format!(
                "ticker: fix does not list the candidates' verdicts: {shown}"
            ));
        }
    }
    eprintln!(
        "unseen table ({}): {} workloads; right category {right}; runnable change {}; proven Healthy on a mirror {proven}",
        c.tier,
        rows(c).count(),
        runnable.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn unseen_workloads_on_the_sim() {
    let c = Cluster::sim("unseen-sim");
    every_unseen_workload_is_diagnosed_and_its_guessed_fix_proves_healthy(&c);
}

#[test]
fn unseen_workloads_on_the_real_control_plane() {
    let Some(c) = Cluster::real("unseen-real") else {
        return;
    };
    every_unseen_workload_is_diagnosed_and_its_guessed_fix_proves_healthy(&c);
}
