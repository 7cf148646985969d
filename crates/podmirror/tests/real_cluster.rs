//! The real control plane tier: `scripts/real-cluster` (kube-apiserver,
//! etcd, kube-controller-manager and kube-scheduler built from Go modules by
//! `scripts/build-control-plane`) driven by the real kubectl. The binaries
//! must be built already (`scripts/test` builds them first; cached); without
//! them, or without kubectl, the tests skip unless
//! `PODMIRROR_REQUIRE_REAL_CLUSTER` is set (CI), when they fail.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kubectl() -> Option<PathBuf> {
    std::env::var_os("PODMIRROR_KUBECTL")
        .map(PathBuf::from)
        .or_else(|| Some(root().join("target/tools/bin/kubectl")))
        .filter(|p| p.exists())
}

/// Why the tier cannot run here, if it cannot.
fn missing() -> Option<String> {
    let bin = root().join("target/control-plane/bin");
    for b in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        if !bin.join(b).exists() {
            return Some(format!(
                "{} is missing: run scripts/build-control-plane (~5 min cold)",
                bin.join(b).display()
            ));
        }
    }
    if kubectl().is_none() {
        return Some("kubectl is missing: run scripts/install-tools".into());
    }
    None
}

fn skip(test: &str) -> bool {
    match missing() {
        None => false,
        Some(why) if std::env::var_os("PODMIRROR_REQUIRE_REAL_CLUSTER").is_some() => {
            panic!("{test}: {why}, and PODMIRROR_REQUIRE_REAL_CLUSTER is set")
        }
        Some(why) => {
            eprintln!("{test}: skipped: {why}");
            true
        }
    }
}

/// A running `scripts/real-cluster`; stopped with SIGTERM on drop.
struct RealCluster {
    child: Child,
    kubeconfig: PathBuf,
    work: PathBuf,
    dir: PathBuf,
}

impl RealCluster {
    fn start(test: &str) -> RealCluster {
        let dir = std::env::temp_dir().join(format!("podmirror-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kc.yaml");
        let mut child = Command::new(root().join("scripts/real-cluster"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let started = Instant::now();
        let ready = loop {
            match rx.recv_timeout(Duration::from_secs(90)) {
                Ok(line) if line.contains("ready") => break line,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().unwrap();
                    panic!(
                        "real-cluster printed no ready line in {:?}:\n{}",
                        started.elapsed(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        };
        let work = PathBuf::from(
            ready
                .split("files in ")
                .nth(1)
                .and_then(|r| r.split(';').next())
                .unwrap_or_else(|| panic!("the ready line names its files: {ready}")),
        );
        RealCluster {
            child,
            kubeconfig,
            work,
            dir,
        }
    }

    /// `kubectl ARGS` against it; (success, stdout, stderr).
    fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(kubectl().unwrap())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--cache-dir", &self.dir.join("cache").to_string_lossy()])
            .args(args)
            .env("HOME", &self.dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Waits until `kubectl ARGS` prints something that `done` accepts.
    fn until(&self, what: &str, args: &[&str], done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let (ok, out, err) = self.kubectl(args);
            if ok && done(&out) {
                return out;
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("timed out waiting for {what}: kubectl {args:?}\n{out}\n{err}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("real-cluster did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn kubectl_drives_a_real_control_plane_that_stops_cleanly() {
    if skip("kubectl_drives_a_real_control_plane_that_stops_cleanly") {
        return;
    }
    let mut cluster = RealCluster::start("real-smoke");
    let needle = cluster.work.to_string_lossy().into_owned();
    assert!(!processes_with(&needle).is_empty(), "its processes run");

    // The real API server, version stamped.
    let (ok, out, err) = cluster.kubectl(&["version", "-o", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.35.4", "{out}");

    // The real controllers: a Deployment gets its ReplicaSet and pod, and a
    // new namespace its default ServiceAccount.
    let (ok, _, err) = cluster.kubectl(&["create", "namespace", "shop"]);
    assert!(ok, "{err}");
    cluster.until(
        "the default ServiceAccount of shop",
        &[
            "get",
            "serviceaccount",
            "default",
            "-n",
            "shop",
            "-o",
            "name",
        ],
        |o| o.trim() == "serviceaccount/default",
    );
    let (ok, _, err) = cluster.kubectl(&[
        "create",
        "deployment",
        "web",
        "-n",
        "shop",
        "--image=registry.example.com/shop/web:2.3.1",
    ]);
    assert!(ok, "{err}");
    cluster.until(
        "web's ReplicaSet",
        &[
            "get",
            "replicasets",
            "-n",
            "shop",
            "-l",
            "app=web",
            "-o",
            "name",
        ],
        |o| o.starts_with("replicaset.apps/web-"),
    );
    // The real scheduler: no node yet, so the pod is Pending with its words.
    cluster.until(
        "the scheduler's FailedScheduling event",
        &[
            "get",
            "events",
            "-n",
            "shop",
            "--field-selector",
            "reason=FailedScheduling",
            "-o",
            "jsonpath={.items[*].message}",
        ],
        |o| o.contains("no nodes available") || o.contains("0/0 nodes are available"),
    );

    // RBAC is enforced: a namespace's ServiceAccount may not create pods.
    let (_, out, _) = cluster.kubectl(&[
        "auth",
        "can-i",
        "create",
        "pods",
        "-n",
        "shop",
        "--as",
        "system:serviceaccount:shop:default",
    ]);
    assert_eq!(out.trim(), "no");

    // SIGTERM: every process it started is gone, and so are its files.
    let status = cluster.stop();
    assert!(
        status.code() == Some(143) || status.code() == Some(0),
        "exit {status:?}"
    );
    let left = processes_with(&needle);
    assert!(left.is_empty(), "still running after SIGTERM: {left:?}");
    assert!(!cluster.work.exists(), "{} removed", cluster.work.display());
}
