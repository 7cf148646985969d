//! The real control plane tier: `scripts/real-cluster` driven by the real
//! kubectl and podmirror, with and without podmirror's kubelet as its node
//! agent (see tests/common for when these tests run).

#![allow(clippy::unwrap_used)]

mod common;

use common::{RealCluster, kubectl, processes_with, skip};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    cluster.namespace("shop");
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

#[test]
fn the_real_schedulers_unnamed_taints_are_read_from_the_nodes() {
    if skip("the_real_schedulers_unnamed_taints_are_read_from_the_nodes") {
        return;
    }
    let cluster = RealCluster::start("real-taints");
    // A Node whose kubelet reports it not ready: the real node lifecycle
    // controller taints it node.kubernetes.io/not-ready.
    let node = cluster.dir.join("node.yaml");
    std::fs::write(
        &node,
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: worker-1\n  labels: {kubernetes.io/hostname: worker-1}\n\
         status:\n  conditions: [{type: Ready, status: 'False', reason: KubeletNotReady}]\n  capacity: {cpu: '4', memory: 8Gi, pods: '110'}\n  allocatable: {cpu: '4', memory: 8Gi, pods: '110'}\n",
    )
    .unwrap();
    let (ok, _, err) = cluster.kubectl(&["create", "-f", &node.to_string_lossy()]);
    assert!(ok, "{err}");
    cluster.until(
        "the not-ready taint",
        &[
            "get",
            "node",
            "worker-1",
            "-o",
            "jsonpath={.spec.taints[*].key}",
        ],
        |o| o.contains("node.kubernetes.io/not-ready"),
    );
    cluster.namespace("shop");
    let (ok, _, err) = cluster.kubectl(&[
        "run",
        "web",
        "-n",
        "shop",
        "--image=registry.example.com/shop/web:2.3.1",
        "--restart=Never",
    ]);
    assert!(ok, "{err}");
    let message = cluster.until(
        "the scheduler's words",
        &[
            "get",
            "pod",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ],
        |o| o.contains("untolerated taint(s)"),
    );
    assert!(!message.contains('{'), "1.35 names no taint: {message}");

    // The node is down: a node problem, and no toleration is proposed.
    let f = cluster.finding("shop", "web", |f| f["category"] == "unschedulable");
    let text = f["diagnosis"].as_str().unwrap();
    assert!(text.contains("node worker-1 is down"), "{f}");
    assert!(
        f["suggested_fix"]
            .as_str()
            .unwrap()
            .contains("kubectl describe node worker-1"),
        "{f}"
    );
    assert_eq!(f["runnable"], false, "{f}");
    assert!(
        f["evidence"]
            .to_string()
            .contains("node.kubernetes.io/not-ready"),
        "{f}"
    );

    // A taint of its own too: that one is tolerated, and the node still named as down.
    let (ok, _, err) = cluster.kubectl(&["taint", "nodes", "worker-1", "dedicated=gpu:NoSchedule"]);
    assert!(ok, "{err}");
    let f = cluster.finding("shop", "web", |f| f["runnable"] == true);
    let fix = f["suggested_fix"].as_str().unwrap();
    assert!(
        fix.contains("dedicated=gpu:NoSchedule") && fix.contains("worker-1 is down"),
        "{f}"
    );
    assert!(
        f["patch"].to_string().contains("\"key\":\"dedicated\""),
        "{f}"
    );
}

#[test]
fn an_x509_v1_client_certificate_is_explained_once_in_plain_words() {
    if skip("an_x509_v1_client_certificate_is_explained_once_in_plain_words") {
        return;
    }
    let cluster = RealCluster::start("real-v1-cert");
    // A client certificate signed by the cluster's CA, without extensions:
    // OpenSSL makes it X.509 version 1, which kubectl accepts.
    let pki = cluster.work.join("pki");
    let (key, csr, crt) = (
        cluster.dir.join("v1.key"),
        cluster.dir.join("v1.csr"),
        cluster.dir.join("v1.crt"),
    );
    let ssl = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    ssl(&[
        &os("req"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-subj"),
        &os("/O=system:masters/CN=old-admin"),
        &os("-keyout"),
        key.as_os_str(),
        &os("-out"),
        csr.as_os_str(),
    ]);
    ssl(&[
        &os("x509"),
        &os("-req"),
        &os("-in"),
        csr.as_os_str(),
        &os("-CA"),
        pki.join("ca.crt").as_os_str(),
        &os("-CAkey"),
        pki.join("ca.key").as_os_str(),
        &os("-CAcreateserial"),
        &os("-days"),
        &os("1"),
        &os("-out"),
        crt.as_os_str(),
    ]);
    let text = ssl(&[
        &os("x509"),
        &os("-in"),
        crt.as_os_str(),
        &os("-noout"),
        &os("-text"),
    ]);
    assert!(text.contains("Version: 1 (0x0)"), "{text}");
    let b64 = |p: &Path| {
        use std::io::Write;
        let mut child = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&std::fs::read(p).unwrap())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let admin = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let old = admin
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("client-certificate-data:") {
                format!("    client-certificate-data: {}", b64(&crt))
            } else if l.trim_start().starts_with("client-key-data:") {
                format!("    client-key-data: {}", b64(&key))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let old_kc = cluster.dir.join("v1.kubeconfig");
    std::fs::write(&old_kc, old).unwrap();

    // kubectl takes it…
    let out = Command::new(kubectl().unwrap())
        .args([
            "--kubeconfig",
            &old_kc.to_string_lossy(),
            "get",
            "namespaces",
            "-o",
            "name",
        ])
        .env("HOME", &cluster.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // …podmirror says what is wrong and what to do, once.
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["diagnose", "--all", "-n", "default", "--no-llm"])
        .env("KUBECONFIG", &old_kc)
        .env("XDG_DATA_HOME", cluster.dir.join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("X.509 version 1").count(), 1, "{err}");
    assert!(
        err.contains("X.509 v3") && err.contains("extendedKeyUsage=clientAuth"),
        "{err}"
    );
    assert!(!err.contains("UnsupportedCertVersion"), "{err}");
}

#[test]
fn logs_the_api_server_cannot_serve_are_said_once_in_podmirrors_words() {
    if skip("logs_the_api_server_cannot_serve_are_said_once_in_podmirrors_words") {
        return;
    }
    let cluster = RealCluster::start("real-logs");
    // A node whose kubelet port nobody listens on: pods/log answers 500.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = cluster.dir.join("node.yaml");
    std::fs::write(
        &node,
        format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: worker-1\nstatus:\n  \
             addresses: [{{type: InternalIP, address: 127.0.0.1}}]\n  \
             daemonEndpoints: {{kubeletEndpoint: {{Port: {closed}}}}}\n  \
             capacity: {{cpu: '4', memory: 8Gi, pods: '110'}}\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = cluster.kubectl(&["create", "-f", &node.to_string_lossy()]);
    assert!(ok, "{err}");
    cluster.until(
        "the default ServiceAccount",
        &["get", "serviceaccount", "default", "-o", "name"],
        |o| o.trim() == "serviceaccount/default",
    );
    let (ok, _, err) = cluster.kubectl(&[
        "run",
        "web",
        "--image=registry.example.com/shop/web:2.3.1",
        "--restart=Always",
        "--overrides={\"spec\":{\"nodeName\":\"worker-1\"}}",
    ]);
    assert!(ok, "{err}");
    // What a kubelet would report of a crash loop.
    let status = r#"{"status":{"phase":"Running","containerStatuses":[{"name":"web","image":"registry.example.com/shop/web:2.3.1","imageID":"","ready":false,"restartCount":3,"started":false,"state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s restarting failed container=web"}},"lastState":{"terminated":{"exitCode":1,"reason":"Error","startedAt":"2026-01-01T00:00:00Z","finishedAt":"2026-01-01T00:00:01Z"}}}]}}"#;
    let (ok, _, err) = cluster.kubectl(&[
        "patch",
        "pod",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
    assert!(ok, "{err}");
    let (_, _, err) = cluster.kubectl(&["logs", "web"]);
    assert!(!err.is_empty(), "kubectl cannot read them either");

    let (code, out, err) = cluster.podmirror(&["diagnose", "web", "-n", "default", "--no-llm"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        err.matches("note: the API server could not serve container logs")
            .count(),
        1,
        "{err}"
    );
    assert!(!err.contains("kube_client"), "{err}");
    assert!(out.contains("exit"), "diagnosed without the logs: {out}");
}

#[test]
fn podmirrors_kubelet_is_the_real_control_planes_node_agent() {
    if skip("podmirrors_kubelet_is_the_real_control_planes_node_agent") {
        return;
    }
    let cluster = RealCluster::with_nodes("real-agent", 2, 10);
    // Its Nodes are registered, Ready, and their Leases held.
    let nodes = cluster.until(
        "two Ready nodes",
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}",
        ],
        |o| o.matches("=True").count() == 2,
    );
    assert!(nodes.contains("sim-worker-1=True"), "{nodes}");
    let (_, holder, _) = cluster.kubectl(&[
        "get",
        "lease",
        "sim-worker-2",
        "-n",
        "kube-node-lease",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(holder, "sim-worker-2");

    // The real scheduler places the pods; the agent plays them from the catalog.
    cluster.namespace("shop");
    for (name, image) in [
        ("api", "registry.example.com/shop/api:1.4.2"),
        ("web", "registry.example.com/shop/web:2.3.1"),
    ] {
        let (ok, _, err) = cluster.kubectl(&[
            "create",
            "deployment",
            name,
            "-n",
            "shop",
            &format!("--image={image}"),
        ]);
        assert!(ok, "{err}");
    }
    let pods = |app: &str| {
        format!(
            "jsonpath={{range .items[?(@.metadata.labels.app==\"{app}\")]}}{{.metadata.name}} {{.status.containerStatuses[0].ready}} {{.status.containerStatuses[0].state.waiting.reason}}{{end}}"
        )
    };
    let web = cluster.until(
        "web Ready",
        &["get", "pods", "-n", "shop", "-o", &pods("web")],
        |o| o.contains(" true"),
    );
    let api = cluster.until(
        "api in CrashLoopBackOff",
        &["get", "pods", "-n", "shop", "-o", &pods("api")],
        |o| o.contains("CrashLoopBackOff"),
    );
    let api_pod = api.split_whitespace().next().unwrap().to_string();
    let web_pod = web.split_whitespace().next().unwrap().to_string();

    // kubectl logs goes API server → the agent's kubelet port (TLS, the API
    // server's client certificate checked): current and previous runs.
    let (ok, out, err) = cluster.kubectl(&["logs", "-n", "shop", &api_pod]);
    assert!(ok && out.contains("DATABASE_URL is not set"), "{out}{err}");
    let (ok, out, err) = cluster.kubectl(&["logs", "-n", "shop", &api_pod, "--previous"]);
    assert!(ok && out.contains("DATABASE_URL"), "{out}{err}");
    // Events with the kubelet's reasons, written through the API.
    let (_, reasons, _) = cluster.kubectl(&[
        "get",
        "events",
        "-n",
        "shop",
        "--field-selector",
        &format!("involvedObject.name={api_pod}"),
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    for reason in ["Scheduled", "Pulled", "Created", "Started", "BackOff"] {
        assert!(reasons.contains(reason), "{reason} in {reasons}");
    }

    // A graceful deletion finishes: the pod goes, its ReplicaSet replaces it.
    let (ok, _, err) = cluster.kubectl(&[
        "delete",
        "pod",
        "-n",
        "shop",
        &web_pod,
        "--wait=true",
        "--timeout=30s",
    ]);
    assert!(ok, "{err}");
    cluster.until(
        "web's replacement Ready",
        &["get", "pods", "-n", "shop", "-o", &pods("web")],
        |o| o.contains(" true") && !o.contains(&web_pod),
    );

    // podmirror proves a fix Healthy on the real API server.
    let (code, out, err) = cluster.podmirror(&[
        "test",
        "deployment/api",
        "-n",
        "shop",
        "--set-env",
        "api:DATABASE_URL=postgres://db.shop:5432/shop",
        "--settle",
        "2",
        "--wait-verdict",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: Healthy"), "{out}{err}");
    let mirror = out
        .lines()
        .find_map(|l| l.strip_prefix("mirror "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let (code, out, err) = cluster.podmirror(&["delete", &mirror, "-n", "shop"]);
    assert_eq!(code, 0, "{out}{err}");
    cluster.until(
        "the mirror gone",
        &["get", "pods", "-n", "shop", "-o", "name"],
        |o| !o.contains(&mirror),
    );
}

/// A kubeconfig for the cluster that signs in with `token`.
fn token_kubeconfig(
    cluster: &RealCluster,
    name: &str,
    token: &str,
    ns: &str,
) -> std::path::PathBuf {
    let admin = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let field = |key: &str| {
        admin
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(str::trim))
            .unwrap()
            .to_string()
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {name}\n  user:\n    token: {token}\ncontexts:\n- name: {name}\n  context: {{cluster: real, user: {name}, namespace: {ns}}}\ncurrent-context: {name}\n",
        field("server:"),
        field("certificate-authority-data:"),
    );
    let path = cluster.dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, text).unwrap();
    path
}

/// One HTTP/1.1 request with a bearer token and a JSON body; (status, body).
fn call(base: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    common::http(
        base,
        method,
        path,
        &format!("authorization: Bearer {token}\r\n"),
        body,
    )
}

#[test]
fn the_charts_rbac_is_enough_and_what_it_lacks_is_named() {
    if skip("the_charts_rbac_is_enough_and_what_it_lacks_is_named") {
        return;
    }
    let Some(helm) = std::env::var_os("PODMIRROR_HELM")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(common::root().join("target/tools/bin/helm")))
        .filter(|p| p.exists())
    else {
        assert!(
            std::env::var_os("PODMIRROR_REQUIRE_REAL_CLUSTER").is_none(),
            "helm is missing: run scripts/install-tools"
        );
        return;
    };
    let cluster = RealCluster::with_nodes("real-rbac", 1, 20);
    cluster.namespace("shop");
    let (ok, _, err) = cluster.kubectl(&[
        "create",
        "deployment",
        "api",
        "-n",
        "shop",
        "--image=registry.example.com/shop/api:1.4.2",
    ]);
    assert!(ok, "{err}");

    // The chart's ServiceAccount and RBAC, rendered by the real helm.
    let out = Command::new(&helm)
        .args(["template", "podmirror"])
        .arg(common::root().join("deploy/helm/podmirror"))
        .args([
            "--namespace",
            "podmirror",
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = cluster.dir.join("rbac.yaml");
    std::fs::write(&rendered, &out.stdout).unwrap();
    cluster.namespace("podmirror");
    let (ok, _, err) = cluster.kubectl(&[
        "apply",
        "-n",
        "podmirror",
        "-f",
        &rendered.to_string_lossy(),
    ]);
    assert!(ok, "{err}");
    let (ok, token, err) = cluster.kubectl(&["create", "token", "podmirror", "-n", "podmirror"]);
    assert!(ok, "{err}");
    let sa = token_kubeconfig(&cluster, "podmirror-sa", token.trim(), "podmirror");

    // podmirror serve as that ServiceAccount: the watcher diagnoses, a deploy works.
    let log = cluster.dir.join("serve.log");
    let admin = format!("pm_ci0admin_{}", "5e".repeat(24));
    let mut serve = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(cluster.dir.join("serve.db"))
        .env("KUBECONFIG", &sa)
        .env("POD_NAMESPACE", "podmirror")
        .env("PODMIRROR_ADMIN_TOKEN", &admin)
        .env("PODMIRROR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = (0..200)
        .find_map(|_| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let url = text
                .split("listening on ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap().to_string());
            if url.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            url
        })
        .unwrap_or_else(|| {
            panic!(
                "serve did not start: {}",
                std::fs::read_to_string(&log).unwrap()
            )
        });
    let started = Instant::now();
    loop {
        let (status, body) = call(&url, "GET", "/api/pods/failing?namespace=shop", &admin, "");
        if status == 200 && body.contains("crash-loop") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{status} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deploy = "/api/mirror/deploy/shop:deployment%2Fapi";
    let (status, body) = call(&url, "POST", deploy, &admin, r#"{"ttl_seconds": 60}"#);
    assert!(status == 200 || status == 201, "{status} {body}");
    let mirrors = || {
        cluster
            .kubectl(&[
                "get",
                "pods",
                "-n",
                "shop",
                "-l",
                "podmirror.dev/mirror=true",
                "-o",
                "name",
            ])
            .1
            .lines()
            .count()
    };
    assert_eq!(mirrors(), 1);

    // The chart's role without `create` on pods: the deploy is refused with
    // the permission named and where the chart grants it; nothing is made.
    let (ok, _, err) = cluster.kubectl(&[
        "patch",
        "clusterrole",
        "podmirror",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/rules/0/verbs","value":["get","list","watch","delete","patch"]}]"#,
    ]);
    assert!(ok, "{err}");
    let started = Instant::now();
    let (status, body) = loop {
        let (status, body) = call(&url, "POST", deploy, &admin, r#"{"ttl_seconds": 60}"#);
        if status == 403 || started.elapsed() > Duration::from_secs(30) {
            break (status, body);
        }
        // RBAC changes reach the authorizer within a moment; until then the deploy works.
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(status, 403, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "cluster_forbidden", "{body}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("needs `create` on `pods`"), "{message}");
    assert!(
        message.contains("deploy/helm/podmirror/templates/rbac.yaml"),
        "{message}"
    );
    let made = mirrors();
    assert!(made >= 1, "{made}");
    let (status, _) = call(&url, "POST", deploy, &admin, r#"{"ttl_seconds": 60}"#);
    assert_eq!(status, 403);
    assert_eq!(mirrors(), made, "a refused deploy leaves no pod");
    let _ = serve.kill();
    let _ = serve.wait();

    // A user who may read pods, their logs and events only: diagnose works
    // with that and says what it could not read.
    for args in [
        vec!["create", "serviceaccount", "reader", "-n", "shop"],
        vec![
            "create",
            "role",
            "pod-reader",
            "-n",
            "shop",
            "--verb=get,list,watch",
            "--resource=pods,pods/log,events",
        ],
        vec![
            "create",
            "rolebinding",
            "pod-reader",
            "-n",
            "shop",
            "--role=pod-reader",
            "--serviceaccount=shop:reader",
        ],
    ] {
        let (ok, _, err) = cluster.kubectl(&args);
        assert!(ok, "{err}");
    }
    let (_, token, _) = cluster.kubectl(&["create", "token", "reader", "-n", "shop"]);
    let reader = token_kubeconfig(&cluster, "reader", token.trim(), "shop");
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["diagnose", "--all", "-o", "json", "--no-llm"])
        .env("KUBECONFIG", &reader)
        .env("XDG_DATA_HOME", cluster.dir.join("reader-data"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let found: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert!(
        found.iter().any(|f| f["category"] == "crash-loop"
            && f["diagnosis"].as_str().unwrap().contains("DATABASE_URL")),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "does not let you list replicasets, configmaps, secrets, persistentvolumeclaims, deployments, statefulsets, daemonsets, jobs, serviceaccounts, nodes"
        ),
        "{stderr}"
    );
}
