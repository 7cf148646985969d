//! The webhook against the simulated API server, which calls it as a real
//! one does: a labelled namespace's pods get the tap as a native sidecar
//! (2/2 ready), others do not, a bad annotation comes back as a warning,
//! and with the webhook down pods are still created.

#![allow(clippy::unwrap_used)]

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, PostParams};
use podmirror_sim::{Sim, SimOptions};
use podmirror_webhook::Options;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IMAGE: &str = "ghcr.io/podmirror/podmirror:0.1.0";

async fn create(client: &kube::Client, obj: Value) {
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let body = serde_json::to_vec(&obj).unwrap();
    let path = match kind.as_str() {
        "Namespace" => "/api/v1/namespaces".to_string(),
        "Pod" => format!("/api/v1/namespaces/{ns}/pods"),
        "Deployment" => format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        other => panic!("{other}"),
    };
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let _: Value = client.request(req).await.unwrap();
}

/// POSTs a pod over plain HTTP and returns the response's Warning headers.
async fn warnings_of(sim: std::net::SocketAddr, ns: &str, pod: &Value) -> Vec<String> {
    let body = serde_json::to_vec(pod).unwrap();
    let mut s = tokio::net::TcpStream::connect(sim).await.unwrap();
    let head = format!(
        "POST /api/v1/namespaces/{ns}/pods HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).await.unwrap();
    assert!(got.starts_with("HTTP/1.1 201"), "{got}");
    got.lines()
        .filter_map(|l| {
            l.strip_prefix("warning: ")
                .or_else(|| l.strip_prefix("Warning: "))
        })
        .map(str::to_string)
        .collect()
}

fn pod(ns: &str, name: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"containers": [{
            "name": "web", "image": "registry.example.com/shop/web:2.3.1",
            "ports": [{"containerPort": 8080}],
        }]},
    })
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(t) = f().await {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opted_in_pods_get_the_tap_once_and_the_rest_are_untouched() {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        ..Default::default()
    });
    podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(1));
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    let served = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = sim.client();
    let mut options = Options::new("127.0.0.1:0".parse().unwrap(), IMAGE);
    options.register_url = Some("https://127.0.0.1:{port}/inject".into());
    let webhook = podmirror_webhook::start(options, client.clone())
        .await
        .unwrap();

    create(
        &client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "shop", "labels": {"podmirror.dev/tap": "enabled"},
        "annotations": {"tap.podmirror.dev/default-inject": "true"}}}),
    )
    .await;
    create(
        &client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}}),
    )
    .await;
    create(
        &client,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                    "name": "web", "image": "registry.example.com/shop/web:2.3.1",
                    "ports": [{"containerPort": 8080}]}]}}},
        }),
    )
    .await;

    // The Deployment's pod: the tap first among the init containers, as a
    // native sidecar, marked injected; Ready with both containers ready.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let ready = until("the web pod to be ready with its tap", async || {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        let p = serde_json::to_value(list.items.first()?).ok()?;
        let ready = p["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then_some(p)
    })
    .await;
    let init = &ready["spec"]["initContainers"];
    assert_eq!(init[0]["name"], "podmirror-tap");
    assert_eq!(init[0]["restartPolicy"], "Always");
    assert_eq!(init[0]["image"], IMAGE);
    assert_eq!(
        init[0]["args"],
        json!(["tap", "--mode", "ingress", "--ports", "8080"])
    );
    assert_eq!(
        init[0]["terminationMessagePath"], "/dev/termination-log",
        "the patched pod is defaulted again"
    );
    assert_eq!(
        ready["metadata"]["annotations"]["tap.podmirror.dev/status"],
        "injected"
    );
    assert_eq!(ready["status"]["initContainerStatuses"][0]["ready"], true);
    assert_eq!(ready["status"]["initContainerStatuses"][0]["started"], true);
    assert_eq!(ready["status"]["containerStatuses"][0]["ready"], true);

    // A namespace without the label: nothing added.
    let plain: Api<Pod> = Api::namespaced(client.clone(), "plain");
    let made = plain
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod("plain", "one", json!({}))).unwrap(),
        )
        .await
        .unwrap();
    assert!(made.spec.unwrap().init_containers.is_none());

    // A bad value: created without the tap, and the user is told why.
    let warned = warnings_of(
        served.addr,
        "shop",
        &pod("shop", "typo", json!({"tap.podmirror.dev/inject": "yes"})),
    )
    .await;
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("tap.podmirror.dev/inject=\\\"yes\\\""),
        "{warned:?}"
    );
    let typo = pods.get("typo").await.unwrap();
    assert!(typo.spec.unwrap().init_containers.is_none());

    // A pod that already has it (re-created from an injected copy) gets it once.
    let mut again = serde_json::to_value(
        pods.get(ready["metadata"]["name"].as_str().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    again["metadata"] = json!({"name": "again", "namespace": "shop", "annotations": again["metadata"]["annotations"]});
    again["status"] = json!({});
    let again: Pod = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(again).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.spec.unwrap().init_containers.unwrap().len(), 1);

    // The webhook down: failurePolicy Ignore lets pods in, without the tap.
    drop(webhook);
    let down = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod("shop", "while-down", json!({}))).unwrap(),
        )
        .await
        .unwrap();
    assert!(down.spec.unwrap().init_containers.is_none());
    served.task.abort();
}
