//! The real control plane tier, shared by the test files: `scripts/real-cluster`
//! (kube-apiserver, etcd, kube-controller-manager and kube-scheduler built
//! from Go modules by `scripts/build-control-plane`), optionally with
//! podmirror's kubelet as its node agent. The binaries must be built already
//! (`scripts/test` builds them first; cached); without them, or without
//! kubectl, real-tier tests skip unless `PODMIRROR_REQUIRE_REAL_CLUSTER` is
//! set (CI), when they fail.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn kubectl() -> Option<PathBuf> {
    std::env::var_os("PODMIRROR_KUBECTL")
        .map(PathBuf::from)
        .or_else(|| Some(root().join("target/tools/bin/kubectl")))
        .filter(|p| p.exists())
}

/// Why the tier cannot run here, if it cannot.
pub fn missing() -> Option<String> {
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

pub fn skip(test: &str) -> bool {
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
pub struct RealCluster {
    pub child: Child,
    pub kubeconfig: PathBuf,
    pub work: PathBuf,
    pub dir: PathBuf,
}

impl RealCluster {
    /// The control plane alone: no Nodes, pods stay Pending.
    pub fn start(test: &str) -> RealCluster {
        RealCluster::with_nodes(test, 0, 1)
    }

    /// The control plane and podmirror's kubelet as the agent of `nodes`
    /// Nodes, container timers `time_scale` times faster.
    pub fn with_nodes(test: &str, nodes: usize, time_scale: u32) -> RealCluster {
        RealCluster::with_agent(test, nodes, time_scale, &[])
    }

    /// As [`RealCluster::with_nodes`], with more arguments for `podmirror sim kubelet`.
    pub fn with_agent(test: &str, nodes: usize, time_scale: u32, agent: &[&str]) -> RealCluster {
        let dir = std::env::temp_dir().join(format!("podmirror-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kc.yaml");
        let mut child = Command::new(root().join("scripts/real-cluster"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--nodes", &nodes.to_string()])
            .args(["--time-scale", &time_scale.to_string()])
            .arg("--")
            .args(agent)
            .env("PODMIRROR_BIN", env!("CARGO_BIN_EXE_podmirror"))
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
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
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
    pub fn until(&self, what: &str, args: &[&str], done: impl Fn(&str) -> bool) -> String {
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
    pub fn stop(&mut self) -> std::process::ExitStatus {
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
pub fn processes_with(needle: &str) -> Vec<String> {
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

impl RealCluster {
    /// Creates a namespace and waits for the real controllers to give it
    /// its default ServiceAccount.
    pub fn namespace(&self, ns: &str) {
        let (ok, _, err) = self.kubectl(&["create", "namespace", ns]);
        assert!(ok, "{err}");
        self.until(
            "the namespace's default ServiceAccount",
            &["get", "serviceaccount", "default", "-n", ns, "-o", "name"],
            |o| o.trim() == "serviceaccount/default",
        );
    }

    /// `podmirror ARGS` against it; (exit code, stdout, stderr).
    pub fn podmirror(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The one finding `diagnose POD -o json` gives, once `done` accepts it.
    pub fn finding(
        &self,
        ns: &str,
        pod: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let (_, out, err) =
                self.podmirror(&["diagnose", pod, "-n", ns, "-o", "json", "--no-llm"]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
            let f = if v.is_array() { v[0].clone() } else { v };
            if done(&f) {
                return f;
            }
            if started.elapsed() > Duration::from_secs(90) {
                panic!("no such finding for {ns}/{pod} in time: {f}\n{err}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// One HTTP/1.1 request to `base` with extra header lines and a JSON body;
/// (status, body).
pub fn http(base: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}
