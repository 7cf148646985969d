//! Real-client tier: the real kubectl v1.35 drives a sim served on 127.0.0.1.
//!
//! kubectl comes from `PODMIRROR_KUBECTL` (set by `scripts/test`) or
//! `target/tools/bin/kubectl`. Without it these tests skip locally, and fail
//! when `PODMIRROR_REQUIRE_KUBECTL` or `CI` is set.

#![allow(clippy::unwrap_used)]

use podmirror_sim::Sim;
use podmirror_sim::resources::ids;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn kubectl_path() -> Option<PathBuf> {
    let from_env = std::env::var_os("PODMIRROR_KUBECTL").map(PathBuf::from);
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin/kubectl");
    let found = from_env.or(Some(default)).filter(|p| p.exists());
    if found.is_none()
        && (std::env::var_os("PODMIRROR_REQUIRE_KUBECTL").is_some()
            || std::env::var_os("CI").is_some())
    {
        panic!(
            "kubectl v1.35 is required here but was not found: run scripts/install-tools (scripts/test does it)"
        );
    }
    found
}

struct Harness {
    sim: Sim,
    kubectl: PathBuf,
    dir: PathBuf,
    _served: podmirror_sim::Served,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    async fn start() -> Option<Harness> {
        Self::start_with(Sim::new()).await
    }

    async fn start_with(sim: Sim) -> Option<Harness> {
        let Some(kubectl) = kubectl_path() else {
            eprintln!("skipping: kubectl not installed (run scripts/install-tools)");
            return None;
        };
        let served = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir = std::env::temp_dir().join(format!(
            "podmirror-kubectl-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        podmirror_sim::write_kubeconfig(&dir.join("kubeconfig"), &served.url()).unwrap();
        Some(Harness {
            sim,
            kubectl,
            dir,
            _served: served,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .env("HOME", &self.dir)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs kubectl, asserting success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }

    /// Runs kubectl until its output satisfies `ready` (the cluster is still settling); returns it.
    async fn until(&self, args: &[&str], ready: impl Fn(&str) -> bool) -> String {
        let mut out = String::new();
        for _ in 0..200 {
            out = self.ok(args).await;
            if ready(&out) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out
    }

    /// Runs kubectl expecting failure; returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed\nstdout:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn create(&self, res: usize, ns: &str, obj: Value) -> Value {
        let opts = podmirror_sim::cluster::WriteOptions::manager("test");
        (*self.sim.cluster.create(res, ns, obj, &opts).unwrap()).clone()
    }
}

fn pod(name: &str, image: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": image}]}})
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api}
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: registry.example.com/shop/api:IMAGE_TAG
";

#[tokio::test]
async fn get_prints_the_usual_columns_and_yaml() {
    let Some(h) = Harness::start().await else {
        return;
    };
    h.create(
        ids::pods(),
        "default",
        pod("web-1", "registry.example.com/shop/web:1.0"),
    );
    let out = h.ok(&["get", "pods"]).await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(out.lines().nth(1).unwrap().starts_with("web-1 "), "{out}");
    assert!(out.contains("0/1") && out.contains("Pending"), "{out}");

    let wide = h.ok(&["get", "pods", "-o", "wide"]).await;
    assert!(
        wide.lines().next().unwrap().contains("NOMINATED NODE"),
        "{wide}"
    );

    let yaml = h.ok(&["get", "pod", "web-1", "-o", "yaml"]).await;
    assert!(
        yaml.contains("kind: Pod") && yaml.contains("dnsPolicy: ClusterFirst"),
        "{yaml}"
    );
    assert!(yaml.contains("serviceAccountName: default"), "{yaml}");

    let ns = h.ok(&["get", "namespaces"]).await;
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    let err = h.fails(&["get", "pod", "nope"]).await;
    assert!(
        err.contains("Error from server (NotFound): pods \"nope\" not found"),
        "{err}"
    );
    let err = h.fails(&["get", "widgets"]).await;
    assert!(
        err.contains("the server doesn't have a resource type \"widgets\""),
        "{err}"
    );
}

#[tokio::test]
async fn describe_shows_pod_details() {
    let Some(h) = Harness::start().await else {
        return;
    };
    h.create(
        ids::pods(),
        "default",
        pod("web-1", "registry.example.com/shop/web:1.0"),
    );
    let out = h.ok(&["describe", "pod", "web-1"]).await;
    for want in [
        "Name:             web-1",
        "Namespace:        default",
        "Service Account:  default",
        "Image:        registry.example.com/shop/web:1.0",
        "kube-api-access-",
        "QoS Class:                   BestEffort",
        "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[tokio::test]
async fn apply_client_side_then_server_side() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let file = h.file("d.yaml", &DEPLOYMENT.replace("IMAGE_TAG", "1.4.1"));
    assert_eq!(
        h.ok(&["apply", "-f", &file]).await.trim(),
        "deployment.apps/api created"
    );
    assert_eq!(
        h.ok(&["apply", "-f", &file]).await.trim(),
        "deployment.apps/api unchanged"
    );
    let file = h.file("d.yaml", &DEPLOYMENT.replace("IMAGE_TAG", "1.4.2"));
    assert_eq!(
        h.ok(&["apply", "-f", &file]).await.trim(),
        "deployment.apps/api configured"
    );
    let wide = h.ok(&["get", "deployment", "api", "-o", "wide"]).await;
    assert!(
        wide.contains("registry.example.com/shop/api:1.4.2") && wide.contains("app=api"),
        "{wide}"
    );
    let generation = h
        .ok(&[
            "get",
            "deployment",
            "api",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
        .await;
    assert_eq!(generation, "2");

    let ssa = h.file(
        "ssa.yaml",
        &DEPLOYMENT
            .replace("IMAGE_TAG", "1.4.1")
            .replace("name: api\n  labels", "name: api-ssa\n  labels"),
    );
    assert_eq!(
        h.ok(&["apply", "--server-side", "-f", &ssa]).await.trim(),
        "deployment.apps/api-ssa serverside-applied"
    );
    let managers = h
        .ok(&[
            "get",
            "deployment",
            "api-ssa",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert!(managers.contains("kubectl"), "{managers}");

    let bad = h.file("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: c\n    image: x\n    imagePullPolcy: Always\n");
    let err = h.fails(&["apply", "-f", &bad]).await;
    assert!(
        err.contains("strict decoding error: unknown field \"spec.containers[0].imagePullPolcy\""),
        "{err}"
    );
    let invalid = h.file(
        "invalid.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: invalid}\nspec:\n  containers:\n  - name: c\n",
    );
    let err = h.fails(&["apply", "-f", &invalid]).await;
    assert!(
        err.contains("Pod \"invalid\" is invalid: spec.containers[0].image: Required value"),
        "{err}"
    );
}

#[tokio::test]
async fn patch_label_annotate_scale() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let file = h.file("d.yaml", &DEPLOYMENT.replace("IMAGE_TAG", "1.4.1"));
    h.ok(&["apply", "-f", &file]).await;
    assert_eq!(h.ok(&["patch", "deployment", "api", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"registry.example.com/shop/api:1.4.2"}]}}}}"#]).await.trim(), "deployment.apps/api patched");
    assert_eq!(
        h.ok(&[
            "patch",
            "deployment",
            "api",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"team":"shop"}}}"#
        ])
        .await
        .trim(),
        "deployment.apps/api patched"
    );
    assert_eq!(
        h.ok(&[
            "patch",
            "deployment",
            "api",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#
        ])
        .await
        .trim(),
        "deployment.apps/api patched"
    );
    assert_eq!(
        h.ok(&["label", "deployment", "api", "tier=back"])
            .await
            .trim(),
        "deployment.apps/api labeled"
    );
    assert_eq!(
        h.ok(&["annotate", "deployment", "api", "note=checked"])
            .await
            .trim(),
        "deployment.apps/api annotated"
    );
    assert_eq!(
        h.ok(&["scale", "deployment", "api", "--replicas=5"])
            .await
            .trim(),
        "deployment.apps/api scaled"
    );
    let d = h
        .sim
        .cluster
        .get(ids::deployments(), "default", "api")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/shop/api:1.4.2"
    );
    assert_eq!(d["metadata"]["labels"]["team"], "shop");
    assert_eq!(d["metadata"]["labels"]["tier"], "back");
    assert_eq!(d["metadata"]["annotations"]["note"], "checked");
    let err = h
        .fails(&[
            "patch",
            "deployment",
            "api",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/nothing"}]"#,
        ])
        .await;
    assert!(
        err.contains("The request is invalid") && err.contains("/spec/nothing"),
        "{err}"
    );
}

#[tokio::test]
async fn create_deployment_and_debug_copy() {
    let Some(h) = Harness::start().await else {
        return;
    };
    assert_eq!(
        h.ok(&[
            "create",
            "deployment",
            "web",
            "--image=registry.example.com/shop/web:1.0",
            "--replicas=2"
        ])
        .await
        .trim(),
        "deployment.apps/web created"
    );
    let d = h
        .sim
        .cluster
        .get(ids::deployments(), "default", "web")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");

    h.create(
        ids::pods(),
        "default",
        pod("web-1", "registry.example.com/shop/web:1.0"),
    );
    h.ok(&[
        "debug",
        "web-1",
        "--copy-to=web-1-copy",
        "--set-image=*=registry.example.com/shop/web:1.1",
    ])
    .await;
    let copy = h
        .sim
        .cluster
        .get(ids::pods(), "default", "web-1-copy")
        .unwrap();
    assert_eq!(
        copy["spec"]["containers"][0]["image"],
        "registry.example.com/shop/web:1.1"
    );
    assert_eq!(
        h.ok(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=test"
        ])
        .await
        .trim(),
        "configmap/settings created"
    );
}

#[tokio::test]
async fn delete_wait_and_watch() {
    let Some(h) = Harness::start().await else {
        return;
    };
    h.create(
        ids::pods(),
        "default",
        pod("web-1", "registry.example.com/shop/web:1.0"),
    );
    h.create(
        ids::configmaps(),
        "default",
        json!({"metadata": {"name": "seen-before"}}),
    );

    // A bounded watch sees changes made while it runs.
    let mut watch = h.command(&["get", "configmaps", "-w", "--request-timeout=4s"]);
    let child = tokio::task::spawn_blocking(move || {
        watch
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.create(
        ids::configmaps(),
        "default",
        json!({"metadata": {"name": "made-during-watch"}}),
    );
    let out = child.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("seen-before"), "{stdout}");
    assert!(
        stdout.contains("made-during-watch"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = h.ok(&["delete", "pod", "web-1", "--wait=false"]).await;
    assert!(out.contains("pod \"web-1\" deleted"), "{out}");
    h.ok(&["wait", "--for=delete", "pod/web-1", "--timeout=10s"])
        .await;
    let err = h.fails(&["delete", "pod", "web-1"]).await;
    assert!(err.contains("pods \"web-1\" not found"), "{err}");
}

#[tokio::test]
async fn logs_current_and_previous() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let p = h.create(
        ids::pods(),
        "default",
        pod("web-1", "registry.example.com/shop/web:1.0"),
    );
    let key = (
        "default".to_string(),
        p["metadata"]["uid"].as_str().unwrap().to_string(),
        "web".to_string(),
    );
    h.sim.cluster.logs.append(&key, "starting");
    h.sim.cluster.logs.append(&key, "DATABASE_URL is not set");
    h.sim.cluster.logs.restart(&key);
    h.sim.cluster.logs.append(&key, "starting again");
    assert_eq!(h.ok(&["logs", "web-1"]).await, "starting again\n");
    assert_eq!(
        h.ok(&["logs", "web-1", "--previous"]).await,
        "starting\nDATABASE_URL is not set\n"
    );
    assert_eq!(
        h.ok(&["logs", "web-1", "--previous", "--tail=1"]).await,
        "DATABASE_URL is not set\n"
    );
    let err = h.fails(&["logs", "web-1", "-c", "nope"]).await;
    assert!(
        err.contains("container nope is not valid for pod web-1"),
        "{err}"
    );
}

#[tokio::test]
async fn explain_reads_the_openapi_schema() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let out = h.ok(&["explain", "pod.spec"]).await;
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("FIELD: spec <PodSpec>"), "{out}");
    assert!(
        out.contains("containers\t<[]Container> -required-"),
        "{out}"
    );
    let out = h.ok(&["explain", "deployment.spec.strategy"]).await;
    assert!(out.contains("rollingUpdate"), "{out}");
}

/// The demo cluster as a user sees it through kubectl.
#[tokio::test]
async fn demo_cluster_looks_like_a_troubled_real_one() {
    let sim = Sim::with_options(podmirror_sim::SimOptions {
        time_scale: 20.0,
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &podmirror_sim::scenarios::nodes());
    sim.start_controllers();
    podmirror_sim::kubelet::start(
        &sim,
        std::sync::Arc::new(podmirror_sim::catalog::Catalog::builtin()),
    );
    podmirror_sim::scenarios::seed(&sim).await.unwrap();
    let Some(h) = Harness::start_with(sim).await else {
        return;
    };
    let want = [
        ("web-", "Running"),
        ("billing-", "ImagePullBackOff"),
        ("orders-", "CrashLoopBackOff"),
        ("cart-", "CreateContainerConfigError"),
        ("analytics-", "Pending"),
    ];
    let mut table = String::new();
    for _ in 0..200 {
        table = h.ok(&["get", "pods", "-n", "shop"]).await;
        let all = want.iter().all(|(prefix, status)| {
            table
                .lines()
                .any(|l| l.starts_with(prefix) && l.split_whitespace().nth(2) == Some(status))
        });
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (prefix, status) in want {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(prefix) && l.split_whitespace().nth(2) == Some(status)),
            "{prefix} should be {status}:\n{table}"
        );
    }
    // OOMKilled shows in the STATUS column between back-offs; the last state always says it.
    let describe = h
        .until(
            &["describe", "pod", "-n", "shop", "-l", "app=reports"],
            |d| d.contains("OOMKilled"),
        )
        .await;
    assert!(
        describe.contains("Reason:       OOMKilled") && describe.contains("Exit Code:    137"),
        "{describe}"
    );
    let previous = h
        .until(
            &["logs", "-n", "shop", "deploy/orders", "--previous"],
            |l| l.contains("DATABASE_URL"),
        )
        .await;
    assert!(previous.contains("DATABASE_URL"), "{previous}");
    let describe = h
        .until(
            &["describe", "pod", "-n", "shop", "-l", "app=analytics"],
            |d| d.contains("FailedScheduling"),
        )
        .await;
    assert!(
        describe.contains("FailedScheduling") && describe.contains("Insufficient memory"),
        "{describe}"
    );
    let describe = h
        .until(
            &["describe", "pod", "-n", "shop", "-l", "app=checkout"],
            |d| d.contains("Liveness probe failed:"),
        )
        .await;
    assert!(
        describe.contains("Liveness probe failed:") && describe.contains("connection refused"),
        "{describe}"
    );

    let status = h
        .ok(&[
            "rollout",
            "status",
            "-n",
            "shop",
            "deploy/web",
            "--timeout=20s",
        ])
        .await;
    assert!(status.contains("successfully rolled out"), "{status}");
    let history = h
        .ok(&["rollout", "history", "-n", "shop", "deploy/api"])
        .await;
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );
    assert!(
        h.ok(&["rollout", "undo", "-n", "shop", "deploy/api"])
            .await
            .contains("rolled back")
    );
    h.ok(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "deploy/api",
        "--timeout=20s",
    ])
    .await;

    assert_eq!(
        h.ok(&["scale", "-n", "shop", "deploy/web", "--replicas=3"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    h.ok(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "deploy/web",
        "--timeout=20s",
    ])
    .await;
    h.ok(&["scale", "-n", "shop", "deploy/web", "--replicas=1"])
        .await;
    let mut pods = 0;
    for _ in 0..200 {
        pods = h
            .ok(&["get", "pods", "-n", "shop", "-l", "app=web", "-o", "name"])
            .await
            .lines()
            .count();
        if pods == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pods, 1);
}

#[tokio::test]
async fn statefulsets_daemonsets_and_jobs_as_kubectl_shows_them() {
    let sim = Sim::with_options(podmirror_sim::SimOptions {
        time_scale: 20.0,
        seed: Some(9),
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(2));
    sim.start_controllers();
    podmirror_sim::kubelet::start(
        &sim,
        std::sync::Arc::new(podmirror_sim::catalog::Catalog::builtin()),
    );
    let Some(h) = Harness::start_with(sim).await else {
        return;
    };
    let file = h.file(
        "w.yaml",
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: web, image: registry.example.com/shop/web:2.3.1}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: web, image: registry.example.com/shop/web:2.3.1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "registry.example.com/shop/db-migrate:42"}]
"#,
    );
    let applied = h.ok(&["apply", "-f", &file]).await;
    assert_eq!(
        applied.trim(),
        "statefulset.apps/db created\ndaemonset.apps/agent created\njob.batch/migrate created"
    );
    let sts = h
        .until(&["get", "statefulsets"], |o| o.contains("2/2"))
        .await;
    assert!(sts.starts_with("NAME   READY   AGE"), "{sts}");
    let ds = h
        .until(&["get", "ds", "agent"], |o| {
            o.lines()
                .nth(1)
                .is_some_and(|l| l.split_whitespace().nth(3) == Some("2"))
        })
        .await;
    assert!(
        ds.starts_with(
            "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE"
        ),
        "{ds}"
    );
    let job = h.until(&["get", "jobs"], |o| o.contains("Complete")).await;
    assert!(job.contains("1/1"), "{job}");
    assert!(
        job.starts_with("NAME      STATUS     COMPLETIONS   DURATION   AGE"),
        "{job}"
    );
    assert_eq!(
        h.ok(&["scale", "sts", "db", "--replicas=3"]).await.trim(),
        "statefulset.apps/db scaled"
    );
    let status = h
        .ok(&["rollout", "status", "statefulset/db", "--timeout=20s"])
        .await;
    assert!(status.contains("roll out complete"), "{status}");
    let pods = h.ok(&["get", "pods", "-o", "name"]).await;
    for p in ["pod/db-0", "pod/db-1", "pod/db-2"] {
        assert!(pods.contains(p), "{pods}");
    }
}
