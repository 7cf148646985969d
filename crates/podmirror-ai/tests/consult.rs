//! Sim tier: consulting an LLM about a failing pod of the simulated cluster,
//! the LLM being a local HTTP server that speaks the chat-completions
//! protocol (and Ollama's). A good answer is used; garbage, a forbidden
//! path, a pod the API server refuses, an error status and a timeout leave
//! the rules' answer with the reason; no Secret or env value is ever sent.

#![allow(clippy::unwrap_used)]

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use podmirror_ai::{LlmConfig, Protocol, consult};
use podmirror_core::diagnosis::{self, Context};
use podmirror_kube::gather::Snapshot;
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use podmirror_sim::{Sim, SimOptions};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LITERAL: &str = "tok-literal-9f8e7d";
const SECRET: &str = "hunter2-from-secret";

/// Request bodies and their Authorization headers.
type Received = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// The fake LLM: what it answers next, and every request body it received.
#[derive(Clone, Default)]
struct Fake {
    answer: Arc<Mutex<(u16, String, u64)>>,
    bodies: Received,
}

impl Fake {
    fn answer(&self, status: u16, content: &str) {
        *self.answer.lock().unwrap() = (status, content.to_string(), 0);
    }
    fn slow(&self, ms: u64) {
        self.answer.lock().unwrap().2 = ms;
    }
}

async fn chat(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    fake.bodies.lock().unwrap().push((body.clone(), auth));
    let (status, content, delay) = fake.answer.lock().unwrap().clone();
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if status != 200 {
        return (StatusCode::from_u16(status).unwrap(), content).into_response();
    }
    let req: Value = serde_json::from_str(&body).unwrap();
    let model = req["model"].clone();
    if req.get("stream").is_some() {
        // Ollama's /api/chat.
        Json(json!({"model": model, "message": {"role": "assistant", "content": content}, "done": true})).into_response()
    } else {
        Json(json!({"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}))
        .into_response()
    }
}

async fn fake_llm() -> (Fake, String) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/api/chat", post(chat))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{addr}"))
}

fn config(base: &str, path: &str, timeout_ms: u64) -> LlmConfig {
    LlmConfig::from_sources(
        |k| match k {
            "PODMIRROR_LLM_URL" => Some(format!("{base}{path}")),
            "PODMIRROR_LLM_MODEL" => Some("test-model".into()),
            "PODMIRROR_LLM_API_KEY" => Some("sk-test".into()),
            "PODMIRROR_LLM_TIMEOUT" => Some(format!("{}", timeout_ms as f64 / 1000.0)),
            _ => None,
        },
        None,
    )
    .unwrap()
    .unwrap()
}

async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A sim whose Deployment `web` ran 2.3.1 and now pulls a tag that does not
/// exist; its containers have a literal env value and one from a Secret.
async fn failing_web() -> (Sim, Context) {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        seed: Some(11),
        ..Default::default()
    });
    podmirror_sim::nodes::start(
        &sim,
        &[podmirror_sim::nodes::NodeSpec::worker("sim-worker-1")],
    );
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    let opts = WriteOptions::manager("test");
    let c = &sim.cluster;
    c.create(
        ids::namespaces(),
        "",
        json!({"metadata": {"name": "shop"}}),
        &opts,
    )
    .unwrap();
    c.create(
        ids::secrets(),
        "shop",
        json!({"metadata": {"name": "db"}, "stringData": {"password": SECRET}}),
        &opts,
    )
    .unwrap();
    let deployment = |image: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                    "name": "web", "image": image, "ports": [{"containerPort": 8080}],
                    "env": [{"name": "API_TOKEN", "value": LITERAL},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}]}}}
        })
    };
    c.create(
        ids::deployments(),
        "shop",
        deployment("registry.example.com/shop/web:2.3.1"),
        &opts,
    )
    .unwrap();
    let pods = |sim: &Sim| -> Vec<Value> {
        let data = sim.cluster.store.read();
        data.iter(ids::pods(), Some("shop"), None)
            .map(|(_, s)| (*s.value()).clone())
            .collect()
    };
    until("web 2.3.1 ready", || {
        pods(&sim)
            .into_iter()
            .find(|p| p["status"]["containerStatuses"][0]["ready"] == true)
    })
    .await;
    let mut d = (*c.get(ids::deployments(), "shop", "web").unwrap()).clone();
    d["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example.com/shop/web:2.4.0");
    c.update(ids::deployments(), "shop", "web", None, d, &opts)
        .unwrap();
    let failing = until("the 2.4.0 pod failing to pull", || {
        pods(&sim).into_iter().find(|p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("ImagePull"))
        })
    })
    .await;
    let client = sim.client();
    let snapshot = Snapshot::take(&client, Some("shop")).await.unwrap();
    let mut ctx = snapshot.context(&client, &failing).await;
    // A program that prints its environment.
    ctx.logs
        .entry("web".into())
        .or_default()
        .0
        .push(format!("starting with API_TOKEN={LITERAL}"));
    (sim, ctx)
}

const GOOD: &str = r#"{"category": "image-pull", "diagnosis": "Tag 2.4.0 of shop/web does not exist in the registry.",
 "suggested_fix": "Go back to 2.3.1, the tag that ran.", "evidence": ["ErrImagePull"],
 "patch": [{"op": "replace", "path": "/containers/0/image", "value": "registry.example.com/shop/web:2.3.1"}],
 "confidence": 0.9, "runnable": true}"#;

#[tokio::test]
async fn a_good_answer_is_used_and_bad_ones_leave_the_rules_answer_with_the_reason() {
    let (sim, ctx) = failing_web().await;
    let client = sim.client();
    let rules = diagnosis::diagnose(&ctx).unwrap();
    assert_eq!(rules.source, "rules");
    let (fake, base) = fake_llm().await;
    let llm = config(&base, "/v1", 2000);
    assert_eq!(llm.protocol, Protocol::OpenAi);

    // A good answer: used, with the guard on the container's name.
    fake.answer(200, &format!("```json\n{GOOD}\n```"));
    let got = consult(&llm, &client, &ctx, Some(rules.clone())).await;
    assert_eq!(got.note, None);
    let f = got.finding.unwrap();
    assert_eq!(f.source, "llm");
    assert!(f.runnable);
    assert_eq!(
        f.patch[0],
        json!({"op": "test", "path": "/containers/0/name", "value": "web"})
    );
    assert_eq!(
        f.fix_command,
        "kubectl -n shop set image deployment/web web=registry.example.com/shop/web:2.3.1"
    );
    {
        let bodies = fake.bodies.lock().unwrap();
        let (body, auth) = bodies.last().unwrap();
        assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
        let req: Value = serde_json::from_str(body).unwrap();
        assert_eq!(req["model"], "test-model");
        assert_eq!(req["messages"][0]["role"], "system");
        // The user message carries the context: failing pod, keys, history.
        let facts: Value =
            serde_json::from_str(req["messages"][1]["content"].as_str().unwrap()).unwrap();
        assert_eq!(facts["secrets"]["db"]["keys"], json!(["password"]));
        assert_eq!(
            facts["pod"]["spec"]["containers"][0]["env"][0]["value"],
            "<redacted>"
        );
        assert!(
            facts["logs"]["web"]["current"]
                .to_string()
                .contains("API_TOKEN=<redacted>")
        );
        assert_eq!(facts["rulesFound"]["category"], "image-pull");
    }

    // Each bad answer leaves the rules' finding, and says why.
    let cases: [(u16, &str, &str); 5] = [
        (
            200,
            "The image tag looks wrong to me.",
            "not the JSON asked for",
        ),
        (
            200,
            r#"{"category":"image-pull","diagnosis":"d","suggested_fix":"f","patch":[{"op":"add","path":"/containers/0/securityContext","value":{"privileged":true}}]}"#,
            "touches \"add /containers/0/securityContext\"",
        ),
        (
            200,
            r#"{"category":"probe","diagnosis":"d","suggested_fix":"f","patch":[{"op":"replace","path":"/containers/0/ports","value":[{"containerPort":70000}]}]}"#,
            "refused the patched pod in a dry run",
        ),
        (
            200,
            r#"{"category":"probe","diagnosis":"d","suggested_fix":"f","patch":[{"op":"replace","path":"/containers/3/image","value":"x"}]}"#,
            "does not apply to the pod",
        ),
        (401, "invalid api key", "answered HTTP 401: invalid api key"),
    ];
    for (status, content, reason) in cases {
        fake.answer(status, content);
        let got = consult(&llm, &client, &ctx, Some(rules.clone())).await;
        assert_eq!(got.finding.as_ref(), Some(&rules), "{content}");
        let note = got.note.unwrap();
        assert!(note.contains(reason), "{note}");
        assert!(note.ends_with("the rules' diagnosis stands"), "{note}");
    }
    // The dry run created nothing.
    assert_eq!(
        sim.cluster
            .store
            .read()
            .iter(ids::pods(), Some("shop"), None)
            .count(),
        2
    );

    // No answer in time; and no rule to fall back on.
    fake.answer(200, GOOD);
    fake.slow(3000);
    let quick = config(&base, "/v1", 300);
    let got = consult(&quick, &client, &ctx, None).await;
    assert!(got.finding.is_none());
    assert_eq!(
        got.note.as_deref(),
        Some(
            "the LLM's answer was not used: the LLM did not answer within 0.3 s (PODMIRROR_LLM_TIMEOUT); no rule explains the pod either"
        )
    );

    // Nothing secret ever left: not the Secret's value (nor its base64), not
    // the literal env value, in any request.
    let bodies = fake.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 7);
    let b64 = "aHVudGVyMi1mcm9tLXNlY3JldA";
    for (body, _) in bodies.iter() {
        assert!(!body.contains(SECRET) && !body.contains(b64) && !body.contains(LITERAL));
    }
}

#[tokio::test]
async fn ollamas_own_api_is_spoken_too() {
    let (sim, ctx) = failing_web().await;
    let (fake, base) = fake_llm().await;
    let llm = config(&base, "/api/chat", 2000);
    assert_eq!(llm.protocol, Protocol::Ollama);
    fake.answer(200, GOOD);
    let got = consult(&llm, &sim.client(), &ctx, None).await;
    assert_eq!(got.note, None);
    assert_eq!(got.finding.unwrap().source, "llm");
    let bodies = fake.bodies.lock().unwrap();
    let req: Value = serde_json::from_str(&bodies[0].0).unwrap();
    assert_eq!(req["stream"], false);
    assert_eq!(req["format"], "json");
}
