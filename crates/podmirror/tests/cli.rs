//! CLI tier: the real `podmirror` binary in a scratch directory. The tests
//! of the product's cluster behaviour run on both tiers: against `podmirror
//! demo` (the embedded sim) and against `podmirror demo --real` on the real
//! control plane with podmirror's kubelet as its node agent (tests/common).

#![allow(clippy::unwrap_used)]

mod common;

use common::http;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("podmirror-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sim_serves_and_writes_a_kubeconfig() {
    let dir = scratch("sim_serves_and_writes_a_kubeconfig");
    let kubeconfig = dir.join("kc.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", "0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains(&format!("server: {url}")), "{text}");
    assert!(text.contains("current-context: podmirror-sim"), "{text}");

    let addr = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET /version HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"gitVersion\":\"v1.35.0\""), "{resp}");
}

#[test]
fn sim_refuses_a_bad_time_scale() {
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", "0", "--time-scale", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--time-scale must be a positive number"),
        "{stderr}"
    );
}

#[test]
fn sim_reports_a_busy_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = scratch("sim_reports_a_busy_port");
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", &port, "--kubeconfig"])
        .arg(dir.join("kc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 127.0.0.1:") && stderr.contains("--port 0"),
        "{stderr}"
    );
    assert!(
        !dir.join("kc").exists(),
        "no kubeconfig for a sim that did not start"
    );
}

#[test]
fn a_bad_catalog_is_refused_with_file_and_line() {
    let dir = scratch("a_bad_catalog_is_refused_with_file_and_line");
    let catalog = dir.join("catalog.yaml");
    std::fs::write(
        &catalog,
        "images:\n  - name: registry.example.com/shop/api\n    tags: [\"1.0\"]\n    memory_mib: lots\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", "0", "--kubeconfig"])
        .arg(dir.join("kc"))
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("catalog.yaml:4") && stderr.contains("memory_mib"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_lists_its_failing_workloads() {
    let dir = scratch("demo_lists_its_failing_workloads");
    let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args([
            "demo",
            "--port",
            "0",
            "--api-port",
            "0",
            "--time-scale",
            "20",
            "--kubeconfig",
        ])
        .arg(dir.join("kc"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Press Ctrl-C"))
        .collect();
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let text = lines.join("\n");
    for want in [
        "/api/openapi.json",
        "Authorization: Bearer pm_",
        "OOMKilled",
        "image pull: bad tag",
        "unschedulable: untolerated taint",
        "kubectl get pods -n shop",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn node_flags_are_checked() {
    let dir = scratch("node_flags_are_checked");
    for (flag, value, want) in [
        ("--node-label", "disktype", "needs the form key=value"),
        ("--node-taint", "dedicated=gpu", "has no effect"),
        ("--node-memory", "lots", "is not a quantity"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args(["sim", "--port", "0", flag, value, "--kubeconfig"])
            .arg(dir.join("kc"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(want), "{flag} {value}: {stderr}");
    }
    assert!(!dir.join("kc").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `web-mirror-…` id a command printed.
fn web_mirror_id(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("web-mirror-"))
        .unwrap_or_else(|| panic!("no mirror id in: {out}"))
        .to_string()
}

/// Where a test's cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// `podmirror demo`: the embedded simulated API server.
    Sim,
    /// `podmirror demo --real` on `scripts/real-cluster` with the demo's
    /// nodes served by `podmirror sim kubelet`.
    Real,
}

/// Runs a test once per tier: `NAME::sim` and `NAME::real_control_plane`.
macro_rules! on_both_tiers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sim() {
                super::$name(super::Tier::Sim)
            }
            #[test]
            fn real_control_plane() {
                super::$name(super::Tier::Real)
            }
        }
    )*};
}

on_both_tiers!(
    mirror_commands_preview_test_status_delete_and_gc,
    diagnose_names_every_failure_of_the_demo_and_its_fixes_prove_healthy,
    fix_shows_the_last_diagnosis_and_applies_it_only_after_a_yes_with_an_audit_row,
    the_cli_through_the_backend_prints_what_it_prints_locally,
    the_backends_reaper_deletes_an_expired_mirror_and_restores_its_scale_down,
);

/// Waits for a demo's first line, printed once the shop is seeded and the
/// backend serves; the rest of its output is read and dropped.
fn first_line(child: &mut std::process::Child) {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
}

/// A `podmirror demo` at 20× speed on a free port; killed on drop.
struct Demo {
    child: std::process::Child,
    kubeconfig: std::path::PathBuf,
    dir: std::path::PathBuf,
    /// The real control plane under a `--real` demo, stopped after the demo.
    _real: Option<common::RealCluster>,
}

impl Demo {
    fn start(test: &str) -> Demo {
        Demo::on(Tier::Sim, test).unwrap()
    }

    /// The demo on `tier`; None when the real tier cannot run here (see tests/common).
    fn on(tier: Tier, test: &str) -> Option<Demo> {
        if tier == Tier::Real {
            return Demo::on_real(test);
        }
        let dir = scratch(test);
        let kubeconfig = dir.join("kc.yaml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args([
                "demo",
                "--port",
                "0",
                "--api-port",
                "0",
                "--time-scale",
                "20",
                "--seed",
                "5",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        first_line(&mut child);
        Some(Demo {
            child,
            kubeconfig,
            dir,
            _real: None,
        })
    }

    fn on_real(test: &str) -> Option<Demo> {
        if common::skip(test) {
            return None;
        }
        let real = common::RealCluster::with_agent(test, 3, 20, &["--demo-nodes"]);
        let dir = scratch(&format!("{test}-real"));
        let kubeconfig = real.kubeconfig.clone();
        let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args(["demo", "--api-port", "0", "--time-scale", "20", "--real"])
            .arg(&kubeconfig)
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        first_line(&mut child);
        Some(Demo {
            child,
            kubeconfig,
            dir,
            _real: Some(real),
        })
    }

    /// The name of the demo's api pod once `diagnose` calls it an image-pull
    /// failure (it takes a few simulated seconds to show).
    fn api_pull_failure(&self) -> String {
        (0..60)
            .find_map(|_| {
                let (_, out, _) =
                    self.run(&["diagnose", "--all", "-n", "shop", "-o", "json", "--no-llm"]);
                let found: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
                let api = found
                    .iter()
                    .find(|f| f["owner"]["name"] == "api" && f["category"] == "image-pull")
                    .map(|f| f["pod"].as_str().unwrap().to_string());
                if api.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                api
            })
            .expect("api's image-pull failure")
    }

    /// Runs `podmirror ARGS` against the demo; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with(args, &[], "")
    }

    /// Runs `podmirror ARGS` with extra environment and `stdin` as its input.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("LANG", "C.UTF-8")
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env_remove("VISUAL")
            .env_remove("PODMIRROR_CONFIG")
            .env_remove("PODMIRROR_LLM_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            let _ = input.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        eprintln!("$ podmirror {}\n{o}{e}", args.join(" "));
        (out.status.code().unwrap_or(-1), o, e)
    }
}

impl Demo {
    /// `kubectl ARGS` against the demo's cluster; stdout, once `done` accepts
    /// it (within 90 s).
    fn kubectl_until(&self, what: &str, args: &[&str], done: impl Fn(&str) -> bool) -> String {
        let kubectl = common::kubectl().expect("kubectl (scripts/install-tools)");
        let started = std::time::Instant::now();
        loop {
            let out = Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(args)
                .env("HOME", &self.dir)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(90),
                "timed out waiting for {what}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mirror_commands_preview_test_status_delete_and_gc(tier: Tier) {
    let Some(demo) = Demo::on(tier, "mirror_commands") else {
        return;
    };
    let (code, out, _) = demo.run(&[
        "preview",
        "deployment/web",
        "-n",
        "shop",
        "--set-image",
        "web=registry.example.com/shop/web:2.3.0",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("podmirror.dev/mirror: \"true\""), "{out}");
    assert!(
        out.contains("-  - image: registry.example.com/shop/web:2.3.1"),
        "{out}"
    );
    assert!(
        out.contains("+  - image: registry.example.com/shop/web:2.3.0"),
        "{out}"
    );

    // A fixed image is Healthy; the missing env var stays Failing with its log line.
    let (code, out, _) = demo.run(&[
        "test",
        "deployment/api",
        "-n",
        "shop",
        "--set-image",
        "api=registry.example.com/shop/api:1.4.1",
        "--settle",
        "2",
        "--wait-verdict",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: Healthy"), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    assert!(id.starts_with("api-mirror-"), "{out}");
    let (code, out, _) = demo.run(&[
        "test",
        "deployment/orders",
        "-n",
        "shop",
        "--settle",
        "2",
        "--wait-verdict",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict: Failing") && out.contains("exit code 1"),
        "{out}"
    );
    assert!(out.contains("DATABASE_URL"), "{out}");
    // Without --wait-verdict a verdict reached is a successful run.
    let (code, out, _) = demo.run(&["test", "deployment/orders", "-n", "shop", "--settle", "2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: Failing"), "{out}");

    let (code, out, _) = demo.run(&["status", "-A"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ORIGINAL TARGET"), "{out}");
    assert!(out.contains(&id) && out.contains("deployment/api"), "{out}");
    let (_, out, _) = demo.run(&["status", "-n", "default"]);
    assert_eq!(out.trim(), "No active mirrors.");

    // Extending adds to the TTL; a whole life over an hour is refused.
    let (code, out, err) = demo.run(&["extend", &id, "--by", "5m"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("mirror {id} now lives 8m in all")),
        "{out}"
    );
    let (code, _, err) = demo.run(&["extend", &id, "--by", "55m"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("a mirror lives at most 1h") && err.contains("52m left to add"),
        "{err}"
    );
    let (code, _, err) = demo.run(&["extend", "no-such-mirror", "--by", "5m"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-mirror"), "{err}");

    let (code, out, _) = demo.run(&["delete", &id]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("mirror {id} deleted")), "{out}");
    // Again: still terminating, or gone by now.
    let (code, out, err) = demo.run(&["delete", &id]);
    assert!(
        (code == 0 && out.contains("already being deleted"))
            || (code == 2 && err.contains("podmirror status -A")),
        "{code} {out} {err}"
    );
    let (code, out, _) = demo.run(&["gc"]);
    assert_eq!(code, 0);
    assert!(out.contains("0 expired mirror(s) deleted"), "{out}");

    // --scale-down: the status table marks it, delete scales the source back up.
    let (code, out, _) = demo.run(&[
        "test",
        "deployment/web",
        "-n",
        "shop",
        "--scale-down",
        "--no-follow",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("deployment web scaled down from 1 to 0 replicas"),
        "{out}"
    );
    let id = web_mirror_id(&out);
    let (_, out, _) = demo.run(&["status", "-n", "shop"]);
    let row = out.lines().find(|l| l.contains(&id)).unwrap();
    assert!(row.contains(" * "), "{out}");
    let (code, err_out, err) = demo.run(&[
        "test",
        "deployment/web",
        "-n",
        "shop",
        "--scale-down",
        "--no-follow",
    ]);
    assert_eq!(code, 2, "{err_out}");
    assert!(
        err.contains(&format!(
            "deployment web is already scaled down by mirror {id}"
        )),
        "{err}"
    );
    let (code, _, _) = demo.run(&["delete", &id]);
    assert_eq!(code, 0);
    let (_, out, _) = demo.run(&["status", "-n", "shop"]);
    assert!(!out.contains(" * "), "{out}");
}

#[test]
fn mirror_commands_refuse_bad_input_and_create_nothing() {
    let demo = Demo::start("mirror_bad_input");
    for (args, says) in [
        (
            vec!["test", "deployment/api", "-n", "shop", "--ttl", "10s"],
            "30s to 60m",
        ),
        (
            vec![
                "test",
                "deployment/api",
                "-n",
                "shop",
                "--set-image",
                "nope=x",
            ],
            "no container named \"nope\"",
        ),
        (
            vec!["test", "deployment/api", "-n", "shop", "--set-env", "api=x"],
            "CONTAINER:KEY=VALUE",
        ),
        (
            vec!["test", "nosuchpod", "-n", "shop"],
            "pod \"nosuchpod\" not found",
        ),
        (
            vec!["preview", "cronjob/x", "-n", "shop"],
            "deployment/NAME",
        ),
    ] {
        let (code, _, err) = demo.run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (_, out, _) = demo.run(&["status", "-A"]);
    assert_eq!(out.trim(), "No active mirrors.");
}

/// Writes an executable editor script into the demo's scratch directory.
fn editor(demo: &Demo, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = demo.dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn edit_refuses_a_bad_manifest_and_creates_nothing() {
    let demo = Demo::start("edit_bad");
    let test = [
        "test",
        "deployment/api",
        "-n",
        "shop",
        "--edit",
        "--no-follow",
    ];
    // Aborted edits are kept for the user: here, in the scratch directory.
    let tmp = demo.dir.display().to_string();
    for (script, says) in [
        ("exit 3", "exited with status 3; nothing was created"),
        (
            r#"sed -i 's/^kind: Pod$/kind: Deployment/' "$1""#,
            r#"its kind is "Deployment"; a mirror is a Pod"#,
        ),
        (r#"sed -i 's/^spec:$/spec: [oops/' "$1""#, "not valid YAML"),
        (
            r#"sed -i 's/^\(  *\)image: .*/\1image: ""/' "$1""#,
            "spec.containers[0].image: Required value",
        ),
        (r#": > "$1""#, "edit cancelled, nothing was created"),
    ] {
        let ed = editor(&demo, "ed.sh", script);
        // No answer to "Edit again?": abort.
        let (code, _, err) = demo.run_with(&test, &[("EDITOR", &ed), ("TMPDIR", &tmp)], "");
        assert_eq!(code, 2, "{script}: {err}");
        assert!(err.contains(says), "{script}: {err}");
    }
    // The YAML error names where it is, as the file in the editor shows it.
    let ed = editor(&demo, "ed.sh", r#"sed -i 's/^spec:$/spec: [oops/' "$1""#);
    let (_, _, err) = demo.run_with(&test, &[("EDITOR", &ed), ("TMPDIR", &tmp)], "n\n");
    assert!(err.contains("line") && err.contains("column"), "{err}");
    assert!(err.contains("your edit is kept in"), "{err}");
    let (_, out, _) = demo.run(&["status", "-A"]);
    assert_eq!(out.trim(), "No active mirrors.");
}

#[test]
fn edit_again_after_an_error_then_deploy_the_fix() {
    let demo = Demo::start("edit_again");
    let once = demo.dir.join("once").display().to_string();
    // First round: a mistake (a Deployment). Second round: a Pod with the fixed image.
    let ed = editor(
        &demo,
        "ed.sh",
        &format!(
            r#"if [ -e {once} ]; then
  grep -q '^# error: .*its kind is' "$1" || exit 9
  sed -i 's/^kind: Deployment$/kind: Pod/; s#image: registry.example.com/shop/api:.*#image: registry.example.com/shop/api:1.4.1#' "$1"
else
  touch {once}
  sed -i 's/^kind: Pod$/kind: Deployment/' "$1"
fi"#
        ),
    );
    let (code, out, err) = demo.run_with(
        &[
            "test",
            "deployment/api",
            "-n",
            "shop",
            "--edit",
            "--settle",
            "2",
            "--wait-verdict",
        ],
        &[("VISUAL", &ed), ("EDITOR", "false")],
        "y\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Edit again? (y/N)"), "{err}");
    assert!(out.contains("verdict: Healthy"), "{out}");
    let (_, out, _) = demo.run(&["status", "-n", "shop"]);
    assert!(out.contains("deployment/api"), "{out}");
}

fn diagnose_names_every_failure_of_the_demo_and_its_fixes_prove_healthy(tier: Tier) {
    let Some(demo) = Demo::on(tier, "diagnose_all") else {
        return;
    };
    let want = [
        ("analytics", "unschedulable"),
        ("api", "image-pull"),
        // Ready, but its tap sees it answer 500s to the demo's shopper.
        ("api-canary", "server-errors"),
        ("billing", "image-pull"),
        ("cart", "config-error"),
        ("checkout", "probe"),
        ("inventory", "lifecycle-hook"),
        ("ml-ranker", "unschedulable"),
        ("notifier", "crash-loop"),
        ("orders", "crash-loop"),
        ("payments", "config-error"),
        ("recommender", "unschedulable"),
        ("reports", "oom-killed"),
        ("search", "probe"),
        ("uploads", "unschedulable"),
    ];
    // The failures take a few (simulated) restarts to show: ask until they all do.
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut findings = Vec::new();
    for _ in 0..120 {
        let (code, out, err) = demo.run(&["diagnose", "--all", "-n", "shop", "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        findings = serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap();
        seen = findings
            .iter()
            .map(|f| {
                let owner = f["owner"]["name"].as_str().unwrap_or("").to_string();
                (owner, f["category"].as_str().unwrap().to_string())
            })
            .collect();
        seen.sort();
        if seen.len() == want.len()
            && seen
                .iter()
                .zip(&want)
                .all(|(s, w)| s.0 == w.0 && s.1 == w.1)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let expected: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert!(
        findings
            .iter()
            .all(|f| f["evidence"].as_array().is_some_and(|e| !e.is_empty()))
    );

    // The table, and a healthy pod said to be healthy.
    let (_, table, _) = demo.run(&["diagnose", "--all", "-n", "shop"]);
    assert!(table.starts_with("NAMESPACE   POD"), "{table}");
    assert!(
        table.contains("image-pull") && table.contains("0.95"),
        "{table}"
    );
    let (_, pods, _) = demo.run(&["diagnose", "--all", "-A", "-o", "json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&pods).unwrap();
    // Only the failing workloads (a rollout may show two of a workload's pods).
    assert!(
        listed
            .iter()
            .all(|f| want.iter().any(|(app, _)| f["owner"]["name"] == *app)),
        "healthy pods are not listed: {pods}"
    );

    // Every runnable fix proves Healthy on a mirror: `podmirror test POD`
    // takes the pod's last diagnosis as its change. All at once.
    let runnable: Vec<&serde_json::Value> =
        findings.iter().filter(|f| f["runnable"] == true).collect();
    let mut not_runnable: Vec<&str> = findings
        .iter()
        .filter(|f| f["runnable"] != true)
        .map(|f| f["owner"]["name"].as_str().unwrap())
        .collect();
    not_runnable.sort();
    // Each needs a person: a value only they know, or storage to provide.
    assert_eq!(not_runnable, ["cart", "orders", "payments", "uploads"]);
    assert_eq!(runnable.len(), 11);
    std::thread::scope(|s| {
        let runs: Vec<_> = runnable
            .iter()
            .map(|f| {
                let demo = &demo;
                s.spawn(move || {
                    let pod = f["pod"].as_str().unwrap();
                    let (code, out, err) =
                        demo.run(&["test", pod, "-n", "shop", "--settle", "2", "--wait-verdict"]);
                    (f["owner"]["name"].clone(), code, out, err)
                })
            })
            .collect();
        for r in runs {
            let (app, code, out, err) = r.join().unwrap();
            assert_eq!(code, 0, "{app}: {out}{err}");
            assert!(out.contains("verdict: Healthy"), "{app}: {out}");
        }
    });
    let (code, _, err) = demo.run(&["diagnose", "nosuchpod", "-n", "shop"]);
    assert_eq!(code, 2);
    assert!(err.contains("pod \"nosuchpod\" not found"), "{err}");
}

/// Runs `podmirror ARGS` on a pseudo-terminal (util-linux `script`), typing
/// `input`; None when `script` is not installed.
fn run_on_tty(demo: &Demo, args: &[&str], input: &str) -> Option<(i32, String)> {
    let mut line = String::from(env!("CARGO_BIN_EXE_podmirror"));
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("KUBECONFIG", &demo.kubeconfig)
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", demo.dir.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _ = i.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    ))
}

fn fix_shows_the_last_diagnosis_and_applies_it_only_after_a_yes_with_an_audit_row(tier: Tier) {
    let Some(demo) = Demo::on(tier, "fix") else {
        return;
    };
    // Diagnose until the api pod shows its bad tag.
    let mut api_pod = String::new();
    for _ in 0..60 {
        let (_, out, _) = demo.run(&["diagnose", "--all", "-n", "shop", "-o", "json"]);
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        if let Some(f) = all
            .iter()
            .find(|f| f["owner"]["name"] == "api" && f["runnable"] == true)
        {
            api_pod = f["pod"].as_str().unwrap().to_string();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(!api_pod.is_empty(), "the api pod was never diagnosed");

    let (code, out, _) = demo.run(&["fix", &api_pod, "-n", "shop"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("💡 Suggested Fix (from last diagnosis,") && out.contains("confidence 0.95"),
        "{out}"
    );
    assert!(
        out.contains(
            "kubectl -n shop set image deployment/api api=registry.example.com/shop/api:1.4.1"
        ),
        "{out}"
    );
    assert!(out.contains("⚠️ Not yet verified"), "{out}");
    // podmirror test takes the diagnosed fix by default, and its verdict verifies it.
    let (code, out, err) = demo.run(&[
        "test",
        &api_pod,
        "-n",
        "shop",
        "--settle",
        "2",
        "--wait-verdict",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("using the fix of the last diagnosis (image-pull"),
        "{err}"
    );
    assert!(out.contains("verdict: Healthy"), "{out}");
    let (_, out, _) = demo.run(&["fix", &api_pod, "-n", "shop"]);
    assert!(
        out.contains("✅ Verified: mirror") && out.contains("was Healthy"),
        "{out}"
    );
    let (_, out, err) = demo.run(&["preview", &api_pod, "-n", "shop", "--no-fix"]);
    assert!(
        !err.contains("using the fix") && out.contains("api:1.4.9"),
        "{err}"
    );
    // ASCII markers when the terminal is not UTF-8.
    let (_, ascii, _) = demo.run_with(&["fix", &api_pod, "-n", "shop"], &[("LANG", "C")], "");
    assert!(
        ascii.contains("[fix] Suggested Fix") && !ascii.contains('💡'),
        "{ascii}"
    );
    // Nothing in the window: say how to get a diagnosis.
    let (code, out, _) = demo.run(&["fix", "web-nothing", "-n", "shop"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("podmirror diagnose web-nothing -n shop"),
        "{out}"
    );
    // A fix only a person can make cannot be applied.
    let orders = {
        let (_, out, _) = demo.run(&["diagnose", "--all", "-n", "shop", "-o", "json"]);
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        all.iter().find(|f| f["owner"]["name"] == "orders").unwrap()["pod"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (code, _, err) = demo.run(&["fix", &orders, "-n", "shop", "--apply", "--yes"]);
    assert_eq!(code, 2);
    assert!(err.contains("runnable: false"), "{err}");
    // No terminal and no --yes: refused, nothing changed.
    let (code, _, err) = demo.run(&["fix", &api_pod, "-n", "shop", "--apply"]);
    assert_eq!(code, 2);
    assert!(err.contains("pass --yes"), "{err}");

    // On a terminal: anything but y/yes does nothing; y applies.
    if let Some((code, out)) =
        run_on_tty(&demo, &["fix", &api_pod, "-n", "shop", "--apply"], "sure\n")
    {
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("You are about to apply the suggested fix to deployment 'api'"),
            "{out}"
        );
        assert!(
            out.contains("Proceed? (y/N)") && out.contains("Nothing applied."),
            "{out}"
        );
        assert!(
            out.contains("+  image: registry.example.com/shop/api:1.4.1"),
            "diff: {out}"
        );
        let (code, out) =
            run_on_tty(&demo, &["fix", &api_pod, "-n", "shop", "--apply"], "y\n").unwrap();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("deployment/api patched"), "{out}");
    } else {
        let (code, out, err) = demo.run(&["fix", &api_pod, "-n", "shop", "--apply", "--yes"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    // The live Deployment turns healthy: no api pod is diagnosed any more.
    let mut healthy = false;
    for _ in 0..60 {
        let (_, out, _) = demo.run(&["diagnose", "--all", "-n", "shop", "-o", "json"]);
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        if !all.iter().any(|f| f["owner"]["name"] == "api") {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(healthy, "deployment api still has a failing pod");
    // Every decision is in the audit.
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = podmirror_store::Store::open(&demo.dir.join("data/podmirror/podmirror.db"))
            .await
            .unwrap();
        store.audit_rows().await.unwrap()
    });
    let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert!(outcomes.ends_with(&["applied"]), "{outcomes:?}");
    let last = rows.last().unwrap();
    assert_eq!(last.namespace, "shop");
    assert_eq!(last.target, format!("deployment/api (pod {api_pod})"));
    assert!(
        last.patch
            .contains("/spec/template/spec/containers/0/image"),
        "{}",
        last.patch
    );
}

/// A chat-completions endpoint on a thread: answers every request with
/// `content` and keeps the request bodies.
fn fake_llm(content: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock().unwrap().push(String::from_utf8(body).unwrap());
            let answer = serde_json::json!({"object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
            .to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, bodies)
}

#[test]
fn diagnose_uses_a_configured_llm_when_its_answer_checks_out_and_says_why_when_not() {
    let demo = Demo::start("diagnose_llm");
    let pod = demo.api_pull_failure();
    let good = r#"{"category":"image-pull","diagnosis":"Tag 1.5.0 of shop/api was never pushed.","suggested_fix":"Use 1.4.1.","evidence":["ErrImagePull"],"patch":[{"op":"replace","path":"/containers/0/image","value":"registry.example.com/shop/api:1.4.1"}],"confidence":0.8}"#;
    let (url, bodies) = fake_llm(good);
    let llm_env = [
        ("PODMIRROR_LLM_URL", url.as_str()),
        ("PODMIRROR_LLM_MODEL", "m"),
    ];
    let (code, out, err) = demo.run_with(&["diagnose", &pod, "-n", "shop"], &llm_env, "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Source: llm") && out.contains("never pushed"),
        "{out}"
    );
    let body = bodies.lock().unwrap().pop().unwrap();
    assert!(
        !body.contains("postgres://shop@db:5432/shop"),
        "an env value was sent"
    );
    assert!(!body.contains("ZGVtbzpkZW1v"), "Secret data was sent");
    // podmirror fix shows what the LLM proposed.
    let (_, out, _) = demo.run(&["fix", &pod, "-n", "shop"]);
    assert!(out.contains("Use 1.4.1."), "{out}");

    let (url, _) = fake_llm("Sorry, I cannot help with that.");
    let llm_env = [
        ("PODMIRROR_LLM_URL", url.as_str()),
        ("PODMIRROR_LLM_MODEL", "m"),
    ];
    let (code, out, err) = demo.run_with(&["diagnose", &pod, "-n", "shop"], &llm_env, "");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("Source: llm"), "{out}");
    assert!(out.contains("image-pull"), "{out}");
    assert!(
        err.contains("note: the LLM's answer was not used: the answer is not the JSON asked for")
            && err.contains("the rules' diagnosis stands"),
        "{err}"
    );
    // A half-configured LLM is a clear error.
    let (code, _, err) = demo.run_with(
        &["diagnose", &pod, "-n", "shop"],
        &[("PODMIRROR_LLM_URL", url.as_str())],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("PODMIRROR_LLM_MODEL"), "{err}");
}

/// A `podmirror serve` against a demo; its stderr (the logs) goes to a file.
struct Server {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
}

impl Server {
    fn start(demo: &Demo, env: &[(&str, &str)]) -> Server {
        let log = demo.dir.join("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database"])
            .arg(demo.dir.join("serve.db"))
            .env("KUBECONFIG", &demo.kubeconfig)
            .env("PODMIRROR_LOG", "info")
            .env_remove("PODMIRROR_LLM_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap().to_string();
                return Server { child, url, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("podmirror serve exited ({status}): {text}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("podmirror serve did not start");
    }

    /// A new token of role `read` (named `viewer`) in the server's database.
    fn read_token(&self, demo: &Demo) -> String {
        let db = demo.dir.join("serve.db");
        let (_, token, _) = demo.run(&[
            "token",
            "create",
            "--name",
            "viewer",
            "--role",
            "read",
            "--database",
            db.to_str().unwrap(),
        ]);
        token.trim().to_string()
    }

    /// One HTTP/1.1 request; (status, body).
    fn call(&self, method: &str, path: &str, token: &str, headers: &str) -> (u16, String) {
        let auth = format!("authorization: Bearer {token}\r\n{headers}");
        http(&self.url, method, path, &auth, "")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_survives_schemathesis_and_never_logs_a_token() {
    let demo = Demo::start("serve");
    let admin = format!("pm_ci0admin_{}", "5e".repeat(24));
    let server = Server::start(&demo, &[("PODMIRROR_ADMIN_TOKEN", admin.as_str())]);
    let db = demo.dir.join("serve.db");
    let (code, reader, err) = demo.run(&[
        "token",
        "create",
        "--name",
        "ci-reader",
        "--role",
        "read",
        "--database",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let reader = reader.trim().to_string();
    let (code, listed, _) = demo.run(&["token", "list", "--database", db.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        listed.contains("ci-reader") && listed.contains("admin") && !listed.contains(&reader[12..]),
        "{listed}"
    );

    // The reader sees; client impersonation headers go nowhere.
    let (status, body) = server.call(
        "GET",
        "/api/pods/failing",
        &reader,
        "impersonate-user: system:admin\r\nimpersonate-group: system:masters\r\n",
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.call("PUT", "/api/admin/settings/mirror-ttl", &reader, "");
    assert_eq!(status, 403);

    match std::env::var("PODMIRROR_SCHEMATHESIS") {
        Ok(st) if !st.is_empty() => {
            let out = Command::new(&st)
                .args(["run", &format!("{}/api/openapi.json", server.url)])
                .args(["-H", &format!("Authorization: Bearer {admin}")])
                .args([
                    "--checks",
                    "not_a_server_error",
                    "--max-examples",
                    "25",
                    "--seed",
                    "7",
                    "-w",
                    "1",
                ])
                // The event stream of a live mirror never ends by design.
                .args(["--exclude-path-regex", "events$", "--request-timeout", "20"])
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "schemathesis found server errors:\n{text}"
            );
        }
        _ => assert!(
            std::env::var_os("PODMIRROR_REQUIRE_SCHEMATHESIS").is_none(),
            "PODMIRROR_SCHEMATHESIS is not set; scripts/install-schemathesis installs it"
        ),
    }

    // The logs have every request with its id, and never a token's secret.
    let log_path = server.log.clone();
    drop(server);
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(
        log.contains("request_id=req-") && log.contains("path=/api/pods/failing"),
        "{log}"
    );
    for secret in [&admin[12..], &reader[reader.rfind('_').unwrap() + 1..]] {
        assert!(!log.contains(secret), "a token is in the server's log");
    }
    // The audit log holds (token creation is not a server call; the 403 is).
    let (code, out, _) = demo.run(&["audit", "verify", "--database", db.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("audit log verified:"), "{out}");
}

fn the_cli_through_the_backend_prints_what_it_prints_locally(tier: Tier) {
    let Some(demo) = Demo::on(tier, "remote") else {
        return;
    };
    let admin = format!("pm_ci0admin_{}", "7a".repeat(24));
    let server = Server::start(&demo, &[("PODMIRROR_ADMIN_TOKEN", admin.as_str())]);
    let reader = server.read_token(&demo);
    let as_admin = [
        ("PODMIRROR_SERVER", server.url.as_str()),
        ("PODMIRROR_TOKEN", admin.as_str()),
    ];
    let as_reader = [
        ("PODMIRROR_SERVER", server.url.as_str()),
        ("PODMIRROR_TOKEN", reader.as_str()),
    ];
    let api = demo.api_pull_failure();

    // diagnose: the same words.
    let (_, local, _) = demo.run(&["diagnose", &api, "-n", "shop", "--no-llm"]);
    let (code, remote, err) = demo.run_with(&["diagnose", &api, "-n", "shop"], &as_admin, "");
    assert_eq!(code, 0, "{err}");
    let head = |s: &str| s.lines().take(3).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(head(&remote), head(&local));
    // fix: the same block (after the age line).
    let (_, local, _) = demo.run(&["fix", &api, "-n", "shop"]);
    let (code, remote, _) = demo.run_with(&["fix", &api, "-n", "shop"], &as_reader, "");
    assert_eq!(code, 0);
    let tail = |s: &str| {
        s.lines()
            .skip(1)
            .take(3)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(tail(&remote), tail(&local));
    // A read token may not apply: the policy's words.
    let (code, out, _) = demo.run_with(
        &["fix", &api, "-n", "shop", "--apply", "--yes"],
        &as_reader,
        "",
    );
    assert_eq!(code, 1);
    assert_eq!(
        out.trim(),
        "🚫 Fix application is disabled for your role. Contact your platform admin."
    );

    // test → status → delete, through the backend.
    let (code, out, err) = demo.run_with(
        &[
            "test",
            "deployment/web",
            "-n",
            "shop",
            "--set-image",
            "web=registry.example.com/shop/web:2.3.0",
            "--settle",
            "2",
            "--wait-verdict",
        ],
        &as_admin,
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("verdict: Healthy — mirror web-mirror-"),
        "{out}"
    );
    let id = web_mirror_id(&out);
    let (_, remote, _) = demo.run_with(&["status", "-n", "shop"], &as_reader, "");
    let (_, local, _) = demo.run(&["status", "-n", "shop"]);
    let cells = |s: &str| {
        s.lines().find(|l| l.contains(&id)).map(|l| {
            l.split_whitespace()
                .take(3)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    assert!(remote.starts_with("ORIGINAL TARGET"), "{remote}");
    assert_eq!(cells(&remote), cells(&local));
    let (code, _, err) = demo.run_with(&["delete", &id], &as_reader, "");
    assert_eq!(code, 2);
    assert!(err.contains("mirror.delete needs the admin role"), "{err}");
    let (code, out, _) = demo.run_with(&["delete", &id], &as_admin, "");
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("mirror {id} deleted from namespace shop")
    );

    // A wrong token or a missing one: said so.
    let (code, _, err) = demo.run_with(
        &["status", "-n", "shop"],
        &[
            ("PODMIRROR_SERVER", server.url.as_str()),
            ("PODMIRROR_TOKEN", "pm_nope_nope"),
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("the token is unknown or revoked"), "{err}");
    let (code, _, err) = demo.run_with(&["status", "--server", &server.url], &[], "");
    assert_eq!(code, 2);
    assert!(err.contains("--server needs a token"), "{err}");
}

#[test]
fn a_server_killed_between_scale_down_and_create_is_repaired_by_the_next_one() {
    let demo = Demo::start("kill9");
    let admin = format!("pm_ci0admin_{}", "3c".repeat(24));
    let env = [("PODMIRROR_ADMIN_TOKEN", admin.as_str())];
    let mut first = Server::start(&demo, &env);
    let kc = std::fs::read_to_string(&demo.kubeconfig).unwrap();
    let sim = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let replicas = || {
        let (_, body) = http(
            &sim,
            "GET",
            "/apis/apps/v1/namespaces/shop/deployments/web",
            "",
            "",
        );
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["spec"]["replicas"].clone()
    };
    assert_eq!(replicas(), 1);
    // Every cluster request takes 1.5 s, so the deploy's steps can be told apart.
    let (status, _) = http(
        &sim,
        "PUT",
        "/podmirror.dev/faults",
        "",
        r#"{"latencyMillis":1500}"#,
    );
    assert_eq!(status, 200);
    let url = first.url.clone();
    let token = admin.clone();
    let deploy = std::thread::spawn(move || {
        http(
            &url,
            "POST",
            "/api/mirror/deploy/shop:deployment%2Fweb",
            &format!("authorization: Bearer {token}\r\n"),
            r#"{"scale_down": true}"#,
        )
    });
    // kill -9 once the Deployment is scaled down, before the mirror exists.
    let mut scaled = false;
    for _ in 0..200 {
        if replicas() == 0 {
            scaled = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(scaled, "the deploy never scaled web down");
    first.child.kill().unwrap();
    let _ = first.child.wait();
    let _ = deploy.join();
    http(&sim, "PUT", "/podmirror.dev/faults", "", "{}");
    let (_, pods) = http(
        &sim,
        "GET",
        "/api/v1/namespaces/shop/pods?labelSelector=podmirror.dev%2Fmirror%3Dtrue",
        "",
        "",
    );
    assert!(
        !pods.contains("web-mirror-"),
        "the mirror was created after all: {pods}"
    );
    assert_eq!(replicas(), 0);
    // The next server's reaper takes the Lease when the dead one's expires and
    // restores the Deployment once the orphan grace (30 s) has passed.
    let _second = Server::start(&demo, &env);
    let started = std::time::Instant::now();
    while replicas() != 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "web was not restored"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    eprintln!("restored {:?} after the restart", started.elapsed());
}

fn the_backends_reaper_deletes_an_expired_mirror_and_restores_its_scale_down(tier: Tier) {
    if tier == Tier::Sim && common::kubectl().is_none() {
        return;
    }
    let Some(demo) = Demo::on(tier, "reaper") else {
        return;
    };
    let (code, out, err) = demo.run(&[
        "test",
        "deployment/web",
        "-n",
        "shop",
        "--scale-down",
        "--ttl",
        "30s",
        "--no-follow",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let id = web_mirror_id(&out);
    let replicas = [
        "get",
        "deployment",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.replicas}",
    ];
    demo.kubectl_until("web scaled down", &replicas, |r| r == "0");
    // Nobody deletes it: the demo's backend reaper does at its expiry (the
    // API server's clock) and scales web back up.
    let mirror = format!("pod/{id}");
    demo.kubectl_until(
        "the expired mirror gone",
        &[
            "get",
            "pods",
            "-n",
            "shop",
            "-l",
            "podmirror.dev/mirror=true",
            "-o",
            "name",
        ],
        |o| !o.contains(&mirror),
    );
    demo.kubectl_until("web restored", &replicas, |r| r == "1");
}

#[test]
fn several_candidates_through_the_backend_are_tried_until_one_is_healthy() {
    let demo = Demo::start("candidates-remote");
    let admin = format!("pm_ci0admin_{}", "7b".repeat(24));
    let server = Server::start(&demo, &[("PODMIRROR_ADMIN_TOKEN", admin.as_str())]);
    let as_admin = [
        ("PODMIRROR_SERVER", server.url.as_str()),
        ("PODMIRROR_TOKEN", admin.as_str()),
    ];
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/beacon.yaml");
    demo.kubectl_until(
        "beacon applied",
        &["apply", "-f", manifest.to_str().unwrap()],
        |_| true,
    );
    let pod = demo
        .kubectl_until(
            "beacon's pod",
            &[
                "get",
                "pods",
                "-n",
                "shop",
                "-l",
                "app=beacon",
                "-o",
                "name",
            ],
            |o| !o.trim().is_empty(),
        )
        .trim()
        .trim_start_matches("pod/")
        .to_string();
    // The backend's watcher diagnoses it: eight candidates.
    let mut shown = String::new();
    for _ in 0..120 {
        let (_, out, _) = demo.run_with(&["fix", &pod, "-n", "shop"], &as_admin, "");
        shown = out;
        if shown.contains("Candidates, in confidence order") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(shown.contains("tries the 8 candidates in turn"), "{shown}");
    // Two at a time: /healthz proves Healthy, /health fails and goes.
    let (code, out, err) = demo.run_with(
        &[
            "test",
            &pod,
            "-n",
            "shop",
            "--settle",
            "2",
            "--wait-verdict",
            "--parallel",
            "2",
        ],
        &as_admin,
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("trying them 2 at a time"), "{out}");
    assert!(out.contains("candidate 2/8: Failing; mirror"), "{out}");
    assert!(
        out.contains("verdict: Healthy — candidate 1/8 proved Healthy"),
        "{out}"
    );
    // The backend recorded both verdicts on their candidates.
    let (_, shown, _) = demo.run_with(&["fix", &pod, "-n", "shop"], &as_admin, "");
    assert!(
        shown.contains("Verified: mirror") && shown.contains("(candidate 1/8)"),
        "{shown}"
    );
    assert!(shown.contains("[0.34, Failing on"), "{shown}");
    drop(server);
}

/// `podmirror webhook` outside the cluster (`--register-url`): the API
/// server — the sim, or the real kube-apiserver — calls it for the pods of
/// a labelled namespace; `kubectl rollout restart` brings the tap in (1/1
/// becomes 2/2), and with the webhook gone pods are still created.
fn the_tap_webhook_injects_after_a_rollout_restart_and_pods_go_on_without_it(tier: Tier) {
    let Some(demo) = Demo::on(tier, &format!("tap-webhook-{tier:?}")) else {
        return;
    };
    let ok = |_: &str| true;
    // The demo injects the shop's taps with a webhook of its own; this test
    // is about `podmirror webhook` alone.
    demo.kubectl_until(
        "the demo's webhook out of the way",
        &[
            "delete",
            "mutatingwebhookconfiguration",
            "podmirror-demo-tap",
        ],
        ok,
    );
    demo.kubectl_until("namespace tapped", &["create", "namespace", "tapped"], ok);
    demo.kubectl_until(
        "the default ServiceAccount",
        &[
            "get",
            "serviceaccount",
            "default",
            "-n",
            "tapped",
            "-o",
            "name",
        ],
        |o| o.trim() == "serviceaccount/default",
    );
    demo.kubectl_until(
        "deployment web",
        &[
            "create",
            "deployment",
            "web",
            "-n",
            "tapped",
            "--image=registry.example.com/shop/web:2.3.1",
            "--port=8080",
        ],
        ok,
    );
    let ready_column = |want: &'static str| {
        move |o: &str| {
            let rows: Vec<&str> = o
                .lines()
                .skip(1)
                .filter(|l| l.contains("Running"))
                .collect();
            rows.len() == 1 && rows[0].split_whitespace().nth(1) == Some(want)
        }
    };
    demo.kubectl_until(
        "web 1/1",
        &["get", "pods", "-n", "tapped"],
        ready_column("1/1"),
    );

    let mut webhook = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args([
            "webhook",
            "--listen",
            "127.0.0.1:0",
            "--register-url",
            "https://127.0.0.1:{port}/inject",
        ])
        .env("KUBECONFIG", &demo.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(webhook.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening on https://127.0.0.1:"), "{first}");
    std::thread::spawn(move || for _ in lines {});

    demo.kubectl_until(
        "the label",
        &["label", "namespace", "tapped", "podmirror.dev/tap=enabled"],
        ok,
    );
    demo.kubectl_until(
        "the annotation",
        &[
            "annotate",
            "namespace",
            "tapped",
            "tap.podmirror.dev/default-inject=true",
        ],
        ok,
    );
    demo.kubectl_until(
        "the restart",
        &["rollout", "restart", "deployment/web", "-n", "tapped"],
        ok,
    );
    demo.kubectl_until(
        "web 2/2 with its tap",
        &["get", "pods", "-n", "tapped"],
        |o| ready_column("2/2")(o) && o.lines().skip(1).count() == 1,
    );
    let init = demo.kubectl_until(
        "the tap's spec",
        &[
            "get",
            "pods",
            "-n",
            "tapped",
            "-o",
            "jsonpath={.items[0].spec.initContainers[0].name} {.items[0].spec.initContainers[0].restartPolicy} {.items[0].metadata.annotations.tap\\.podmirror\\.dev/status}",
        ],
        ok,
    );
    assert_eq!(init.trim(), "podmirror-tap Always injected");

    // The tap is a real `podmirror tap` process capturing the pod's real
    // listener: requests to the pod's IP show up in its figures.
    let ip = demo.kubectl_until(
        "the pod's IP",
        &[
            "get",
            "pods",
            "-n",
            "tapped",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ],
        |o| !o.trim().is_empty(),
    );
    let ip = ip.trim();
    let app = format!("http://{ip}:8080");
    for _ in 0..4 {
        assert_eq!(common::http(&app, "GET", "/healthz", "", "").0, 200);
    }
    for n in [17, 18] {
        assert_eq!(
            common::http(&app, "GET", &format!("/orders/{n}"), "", "").0,
            404
        );
    }
    let report = format!("http://{ip}:15090");
    let figures = (0..50)
        .find_map(|_| {
            let (status, body) = common::http(&report, "GET", "/traffic?minutes=5", "", "");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let counted: u64 = v["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["template"] == "/healthz" || e["template"] == "/orders/{id}")
                .map(|e| e["count"].as_u64().unwrap_or(0))
                .sum();
            if status == 200 && counted >= 6 {
                return Some(v);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            None
        })
        .unwrap_or_else(|| panic!("the tap at {report} never counted the 6 requests"));
    assert_eq!(figures["capturing"], true, "{figures}");
    let orders = figures["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template"] == "/orders/{id}")
        .unwrap();
    assert_eq!(orders["statuses"]["404"], 2, "{figures}");

    // The same figures where users look: through the API server's pod proxy.
    let (code, out, err) = demo.run(&["traffic", "deployment/web", "-n", "tapped"]);
    assert_eq!(code, 0, "{out}{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("GET /orders/{id}"))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[2..7], ["2", "0", "0", "2", "0"], "{out}");
    assert!(out.contains("tapped (capturing)"), "{out}");
    let (code, out, _) = demo.run(&["traffic", "deployment/web", "-n", "tapped", "-o", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["template"] == "/healthz")
    );

    // A mirror of a tapped pod is a copy without the tap (the webhook
    // leaves mirrors alone, and the copy does not carry the injected one).
    let (code, out, err) = demo.run(&[
        "test",
        "deployment/web",
        "-n",
        "tapped",
        "--settle",
        "2",
        "--wait-verdict",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: Healthy"), "{out}");
    let mirror = demo.kubectl_until(
        "the mirror",
        &[
            "get",
            "pods",
            "-n",
            "tapped",
            "-l",
            "podmirror.dev/mirror=true",
            "-o",
            "jsonpath={.items[0].metadata.name} [{.items[0].spec.initContainers}] [{.items[0].metadata.annotations.tap\\.podmirror\\.dev/status}]",
        ],
        |o| o.contains("web-mirror-"),
    );
    assert!(mirror.trim().ends_with("[] []"), "{mirror}");

    // The webhook gone: failurePolicy Ignore admits pods without the tap.
    let _ = webhook.kill();
    let _ = webhook.wait();
    demo.kubectl_until(
        "a pod while the webhook is down",
        &[
            "run",
            "lone",
            "-n",
            "tapped",
            "--image=registry.example.com/shop/web:2.3.1",
            "--port=8080",
        ],
        ok,
    );
    let spec = demo.kubectl_until(
        "pod lone",
        &[
            "get",
            "pod",
            "lone",
            "-n",
            "tapped",
            "-o",
            "jsonpath={.spec.initContainers}",
        ],
        ok,
    );
    assert_eq!(spec.trim(), "", "created without the tap");
}

on_both_tiers!(the_tap_webhook_injects_after_a_rollout_restart_and_pods_go_on_without_it);

/// The demo's taps on the real listeners: the backend serves a tapped
/// pod's figures to admins only (`GET /api/traffic/{pod_id}`), with the
/// canary's 500s in them; `podmirror traffic deployment/api` shows live
/// figures; and with its tap killed the app answers as before while the
/// kubelet restarts the tap.
fn the_demos_taps_show_the_canarys_500s_to_admins_and_the_app_outlives_its_tap(tier: Tier) {
    let Some(demo) = Demo::on(tier, &format!("tap-demo-{tier:?}")) else {
        return;
    };
    let admin = format!("pm_ci0admin_{}", "5c".repeat(24));
    let server = Server::start(&demo, &[("PODMIRROR_ADMIN_TOKEN", admin.as_str())]);
    let reader = server.read_token(&demo);
    let canary = demo.kubectl_until(
        "the canary's tapped pod (2/2)",
        &[
            "get",
            "pods",
            "-n",
            "shop",
            "-l",
            "app=api-canary",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.podIP} {.spec.containers[0].image} {.status.containerStatuses[0].ready} {.status.initContainerStatuses[0].ready}{\"\\n\"}{end}",
        ],
        |o| {
            o.lines().any(|l| {
                l.contains("api:1.4.2") && l.ends_with("true true") && l.split(' ').count() == 5
            })
        },
    );
    let line = canary
        .lines()
        .find(|l| l.contains("api:1.4.2") && l.ends_with("true true"))
        .unwrap();
    let mut cells = line.split(' ');
    let (pod, ip) = (cells.next().unwrap(), cells.next().unwrap());
    let path = format!("/api/traffic/shop:{pod}?minutes=5");

    // The shopper's requests, and a third of the order listings failing.
    let figures = (0..120)
        .find_map(|_| {
            let (status, body) = server.call("GET", &path, &admin, "");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let orders = v["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["method"] == "GET" && e["template"] == "/api/orders")
                .cloned();
            match orders {
                Some(o) if status == 200 && o["statuses"]["500"].as_u64() >= Some(5) => Some(v),
                _ => {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    None
                }
            }
        })
        .unwrap_or_else(|| panic!("the canary's tap never showed its 500s at {path}"));
    assert_eq!(figures["capturing"], true, "{figures}");
    let orders = figures["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template"] == "/api/orders")
        .unwrap();
    let share = orders["error_share"].as_f64().unwrap();
    assert!((0.2..0.45).contains(&share), "{orders}");
    assert!(orders["statuses"]["200"].as_u64() > Some(0), "{orders}");

    // Admins only; a pod without a tap and a bad window are said so.
    let (status, body) = server.call("GET", &path, &reader, "");
    assert_eq!(status, 403, "{body}");
    let catalog = demo.kubectl_until(
        "the catalog pod",
        &[
            "get",
            "pods",
            "-n",
            "shop",
            "-l",
            "app=catalog",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
        |o| !o.trim().is_empty(),
    );
    let (status, body) = server.call(
        "GET",
        &format!("/api/traffic/shop:{}", catalog.trim()),
        &admin,
        "",
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("has no traffic tap"), "{body}");
    let (status, body) = server.call(
        "GET",
        &format!("/api/traffic/shop:{pod}?minutes=0"),
        &admin,
        "",
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("outside 1..60"), "{body}");

    // Through the backend: the same table for one pod.
    let as_admin = [
        ("PODMIRROR_SERVER", server.url.as_str()),
        ("PODMIRROR_TOKEN", admin.as_str()),
    ];
    let (code, out, err) = demo.run_with(&["traffic", pod, "-n", "shop"], &as_admin, "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines().any(|l| l.starts_with("GET /api/orders "))
            && out.contains("tapped (capturing)"),
        "{out}"
    );
    let (code, _, err) = demo.run_with(&["traffic", "deployment/api", "-n", "shop"], &as_admin, "");
    assert_eq!(code, 2);
    assert!(err.contains("give a pod name"), "{err}");

    // Where users look: live figures of deployment/api.
    let (code, out, err) = demo.run(&["traffic", "deployment/api", "-n", "shop"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("tapped (capturing)"), "{out}");

    // diagnose names the Ready pod; a mirror proves the fix by answering the
    // failing requests, and a plain copy shows the failure again.
    // (once the tap has seen enough requests to judge)
    let out = (0..60)
        .find_map(|_| {
            let (code, out, err) = demo.run(&["diagnose", pod, "-n", "shop"]);
            assert_eq!(code, 0, "{err}");
            if out.contains("server-errors") {
                return Some(out);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            None
        })
        .unwrap_or_else(|| panic!("{pod} was never diagnosed server-errors"));
    assert!(out.contains("of GET /api/orders answer 500"), "{out}");
    // The backend lists it with the failing pods (its watcher reads the
    // taps of Ready pods), and diagnoses it through --server too.
    (0..90)
        .find(|_| {
            let (_, body) = server.call("GET", "/api/pods/failing", &admin, "");
            let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
            let listed = rows
                .iter()
                .any(|r| r["pod"] == pod && r["reason"] == "ServerErrors");
            if !listed {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            listed
        })
        .unwrap_or_else(|| panic!("{pod} never listed as failing by the backend"));
    let (code, out, err) = demo.run_with(
        &["diagnose", "--all", "-n", "shop", "-o", "json"],
        &[
            ("PODMIRROR_SERVER", server.url.as_str()),
            ("PODMIRROR_TOKEN", admin.as_str()),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let remote: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(
        remote
            .iter()
            .any(|f| f["pod"] == pod && f["category"] == "server-errors"),
        "{out}"
    );
    let (code, out, err) =
        demo.run(&["test", pod, "-n", "shop", "--settle", "2", "--wait-verdict"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("requests: GET /api/orders (port 8080): 0 of 50 answered 5xx on the mirror"),
        "{out}"
    );
    let (code, out, err) = demo.run(&[
        "test",
        pod,
        "-n",
        "shop",
        "--no-fix",
        "--settle",
        "2",
        "--wait-verdict",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("verdict: Failing — container api: ServerErrors"),
        "{out}"
    );

    // The tap killed: the app answers on, and the kubelet restarts the tap.
    let tap = tap_process(ip).unwrap_or_else(|| panic!("no tap process with POD_IP={ip}"));
    let killed = Command::new("kill")
        .args(["-KILL", &tap.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill {tap}");
    let app = format!("http://{ip}:8080");
    for n in 0..20 {
        let (status, _) = common::http(&app, "GET", &format!("/api/orders/{n}"), "", "");
        assert_eq!(status, 200, "request {n} after the tap died");
    }
    demo.kubectl_until(
        "the tap restarted",
        &[
            "get",
            "pod",
            pod,
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.initContainerStatuses[0].restartCount}",
        ],
        |o| o.trim().parse::<u32>().is_ok_and(|n| n >= 1),
    );
}

on_both_tiers!(the_demos_taps_show_the_canarys_500s_to_admins_and_the_app_outlives_its_tap);

/// The pid of the `podmirror tap` process whose POD_IP is `ip`.
fn tap_process(ip: &str) -> Option<i32> {
    let want = format!("POD_IP={ip}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) != Some(&&b"tap"[..]) {
            return None;
        }
        let environ = std::fs::read(e.path().join("environ")).ok()?;
        environ
            .split(|b| *b == 0)
            .any(|kv| kv == want.as_bytes())
            .then_some(pid)
    })
}
