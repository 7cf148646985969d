//! API tier: the backend's router in-process over the simulated cluster and
//! an SQLite store. Two orgs and a token of each role: what the API contract
//! allows each, 404 for another org's objects, refusals audited, the
//! mirror lifecycle through the API, the fix policy, and bad input.

#![allow(clippy::unwrap_used)]

use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use podmirror_server::config::Config;
use podmirror_server::{AppState, router};
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use podmirror_sim::{Sim, SimOptions};
use podmirror_store::{Role, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const CONFIG: &str = "
orgs:
  - name: acme
    namespaces: [shop]
  - name: globex
    namespaces: [billing]
    fix_roles: [admin, write]
rate_limit_per_minute: 1000
";

struct Api {
    app: Router,
    state: Arc<AppState>,
    sim: Sim,
    store: Store,
    tokens: std::collections::HashMap<&'static str, String>,
}

async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn deployment(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                "name": name, "image": image, "ports": [{"containerPort": 8080}]}]}}}})
}

fn pods(sim: &Sim, ns: &str) -> Vec<Value> {
    let data = sim.cluster.store.read();
    data.iter(ids::pods(), Some(ns), None)
        .map(|(_, s)| (*s.value()).clone())
        .collect()
}

impl Api {
    /// Namespaces shop (acme: web healthy, api pulling a missing tag) and
    /// billing (globex: ledger pulling a missing tag).
    async fn start(name: &str) -> Api {
        let sim = Sim::with_options(SimOptions {
            time_scale: 20.0,
            seed: Some(5),
            ..Default::default()
        });
        podmirror_sim::nodes::start(&sim, &podmirror_sim::nodes::NodeSpec::workers(2));
        sim.start_controllers();
        podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
        let opts = WriteOptions::manager("test");
        let c = &sim.cluster;
        for ns in ["shop", "billing"] {
            c.create(
                ids::namespaces(),
                "",
                json!({"metadata": {"name": ns}}),
                &opts,
            )
            .unwrap();
        }
        for (ns, app) in [("shop", "web"), ("shop", "api"), ("billing", "ledger")] {
            let d = deployment(app, "registry.example.com/shop/web:2.3.1");
            c.create(ids::deployments(), ns, d, &opts).unwrap();
        }
        // api and ledger ran 2.3.1, then rolled out a tag that does not exist.
        for (ns, app, tag) in [("shop", "api", "9.9.9"), ("billing", "ledger", "9.9.8")] {
            until("a first revision that runs", || {
                pods(&sim, ns).into_iter().find(|p| {
                    p["metadata"]["labels"]["app"] == app
                        && p["status"]["containerStatuses"][0]["ready"] == true
                })
            })
            .await;
            let mut d = (*c.get(ids::deployments(), ns, app).unwrap()).clone();
            d["spec"]["template"]["spec"]["containers"][0]["image"] =
                json!(format!("registry.example.com/shop/web:{tag}"));
            c.update(ids::deployments(), ns, app, None, d, &opts)
                .unwrap();
        }
        let dir = std::env::temp_dir().join(format!("podmirror-api-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join("pm.db")).await.unwrap();
        let config = Config::parse(CONFIG, "test.yaml").unwrap();
        let state = AppState::new(store.clone(), sim.client(), config, None);
        let now = jiff::Timestamp::now();
        let mut tokens = std::collections::HashMap::new();
        for (who, role, org) in [
            ("acme-read", Role::Read, "acme"),
            ("acme-write", Role::Write, "acme"),
            ("acme-admin", Role::Admin, "acme"),
            ("globex-write", Role::Write, "globex"),
            ("globex-admin", Role::Admin, "globex"),
            ("initech-admin", Role::Admin, "initech"),
        ] {
            tokens.insert(who, store.create_token(who, role, org, now).await.unwrap());
        }
        let api = Api {
            app: router(state.clone()),
            state: state.clone(),
            sim,
            store,
            tokens,
        };
        // Ready once the pod watch has synced.
        for _ in 0..200 {
            if api.call("GET", "/readyz", None, None).await.0 == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        api
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        who: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(w) = who {
            let token = self.tokens.get(w).cloned().unwrap_or_else(|| w.to_string());
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                axum::body::Body::from(b.to_string())
            }
            None => axum::body::Body::empty(),
        };
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, headers, v)
    }

    /// A GET's status and headers, its body left unread (for streams).
    async fn open(&self, uri: &str, who: &str) -> (StatusCode, HeaderMap) {
        let token = self
            .tokens
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let req = Request::get(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        (resp.status(), resp.headers().clone())
    }

    fn pod_of(&self, ns: &str, app: &str, ready: bool) -> Option<String> {
        pods(&self.sim, ns)
            .into_iter()
            .find(|p| {
                p["metadata"]["labels"]["app"] == app
                    && (!ready || p["status"]["containerStatuses"][0]["ready"] == true)
                    && (ready
                        || p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("ImagePull")))
            })
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
    }
}

#[tokio::test]
async fn tokens_are_required_and_roles_get_exactly_what_design_allows() {
    let api = Api::start("roles").await;
    let api_pod = until("api failing", || api.pod_of("shop", "api", false)).await;
    let web_pod = until("web ready", || api.pod_of("shop", "web", true)).await;

    // No token, a wrong token, a token of an org the config lacks.
    let (s, h, v) = api.call("GET", "/api/pods/failing", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["www-authenticate"], "Bearer");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{v}"
    );
    assert_eq!(
        api.call("GET", "/api/pods/failing", Some("pm_x_y"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _, v) = api
        .call("GET", "/api/pods/failing", Some("initech-admin"), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A token past its expiry: 401 with the time, never cached into access.
    let now = jiff::Timestamp::now();
    let brief = api
        .store
        .create_token_until(
            "brief",
            Role::Admin,
            "acme",
            now,
            Some(now + Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert_eq!(
        api.call("GET", "/api/pods/failing", Some(&brief), None)
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, _, v) = api
        .call("GET", "/api/pods/failing", Some(&brief), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.starts_with("token \"brief\" expired at ") && msg.contains("ask an admin"),
        "{msg}"
    );
    assert_eq!(
        api.call("GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );

    // read: sees its org's failing pods, nothing else; every write refused.
    let (s, _, v) = api
        .call("GET", "/api/pods/failing", Some("acme-read"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let listed: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pod"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&api_pod.as_str()), "{v}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|p| p["namespace"] == "shop"),
        "{v}"
    );
    let diag = format!("/api/diagnosis/{api_pod}?namespace=shop");
    let (s, h, v) = api.call("POST", &diag, Some("acme-read"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "diagnose needs the write role; token \"acme-read\" has read"
    );
    let refused_id = h["x-request-id"].to_str().unwrap().to_string();
    for (method, uri) in [
        ("PUT", "/api/admin/settings/mirror-ttl"),
        ("POST", "/api/mirror/deploy/shop:web"),
        ("GET", "/api/audit"),
    ] {
        let body = (method == "PUT").then(|| json!({"ttl_seconds": 300}));
        let (s, _, v) = api.call(method, uri, Some("acme-read"), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {uri}: {v}");
    }
    // Every operation the table gives a higher role than the token's: 403,
    // whatever the body — for read against write and admin operations, for
    // write against admin ones.
    for (who, role) in [("acme-read", Role::Read), ("acme-write", Role::Write)] {
        for op in podmirror_server::openapi::operations() {
            let Some(needed) = op.least_role() else {
                continue;
            };
            if needed <= role {
                continue;
            }
            let uri = op
                .path
                .replace("{pod_id}", &format!("shop:{api_pod}"))
                .replace("{pod}", &api_pod)
                .replace("{mirror_id}", "web-mirror-abcde");
            let (s, _, v) = api
                .call(
                    &op.method.to_uppercase(),
                    &uri,
                    Some(who),
                    Some(json!({"ttl_seconds": 60})),
                )
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{who} {} {uri}: {v}", op.method);
        }
    }
    // write: diagnoses; may not apply fixes (acme's policy: admin only), nor deploy.
    let (s, _, v) = api.call("POST", &diag, Some("acme-write"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["finding"]["category"], "image-pull", "{v}");
    let (s, _, v) = api.call("GET", &diag, Some("acme-read"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["canApplyFix"], false);
    let (_, _, v) = api.call("GET", &diag, Some("acme-admin"), None).await;
    assert_eq!(v["canApplyFix"], true);
    let apply = format!("/api/fix/{api_pod}/apply?namespace=shop");
    let (s, _, v) = api.call("POST", &apply, Some("acme-write"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "Fix application is disabled for your role. Contact your platform admin."
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/mirror/deploy/shop:web",
            Some("acme-write"),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // A healthy pod: said so.
    let (s, _, v) = api
        .call(
            "POST",
            &format!("/api/diagnosis/{web_pod}?namespace=shop"),
            Some("acme-write"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["healthy"], true, "{v}");

    // admin: settings, within bounds.
    let ttl = "/api/admin/settings/mirror-ttl";
    assert_eq!(
        api.call("GET", ttl, Some("acme-read"), None).await.2,
        json!({"ttl_seconds": 180})
    );
    let (s, _, v) = api
        .call(
            "PUT",
            ttl,
            Some("acme-admin"),
            Some(json!({"ttl_seconds": 20})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["message"].as_str().unwrap().contains("outside 30..3600"),
        "{v}"
    );
    let (s, _, _) = api
        .call(
            "PUT",
            ttl,
            Some("acme-admin"),
            Some(json!({"ttl_seconds": 600})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.call("GET", ttl, Some("acme-read"), None).await.2["ttl_seconds"],
        600
    );

    // The audit: admins only, their org only, refusals with the request id.
    let (s, _, v) = api
        .call("GET", "/api/audit", Some("acme-admin"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let entries = v.as_array().unwrap();
    assert!(entries.iter().all(|e| e["org"] == "acme"));
    let refusal = entries
        .iter()
        .find(|e| e["request_id"] == refused_id.as_str())
        .unwrap();
    assert_eq!(refusal["who"], "acme-read");
    assert!(
        refusal["outcome"]
            .as_str()
            .unwrap()
            .starts_with("refused: diagnose needs the write role")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "settings.mirror-ttl" && e["outcome"] == "ok")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "fix.apply" && e["who"] == "acme-write")
    );
    assert_eq!(
        api.store.verify_audit().await.unwrap().map(|n| n > 5),
        Ok(true)
    );
}

#[tokio::test]
async fn a_mirror_lives_through_the_api_and_other_orgs_get_404() {
    let api = Api::start("mirrors").await;
    until("web ready", || api.pod_of("shop", "web", true)).await;
    until("ledger failing", || api.pod_of("billing", "ledger", false)).await;

    // Preview (read), deploy (admin; role/org in the body are ignored).
    let (s, _, v) = api
        .call(
            "POST",
            "/api/mirror/preview/shop:deployment%2Fweb",
            Some("acme-read"),
            Some(json!({"ttl_seconds": 120})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["diff"].as_str().unwrap().contains("podmirror.dev/mirror"),
        "{v}"
    );
    let (s, _, v) = api
        .call(
            "POST",
            "/api/mirror/deploy/shop:deployment%2Fweb",
            Some("acme-admin"),
            Some(json!({"ttl_seconds": 120, "strip_probes": true, "org": "globex", "role": "admin", "created_by": "mallory"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["created_by"], "acme-admin");
    assert!(v["remaining_seconds"].as_i64().unwrap() > 100, "{v}");
    let mirror = pods(&api.sim, "shop")
        .into_iter()
        .find(|p| p["metadata"]["name"] == id.as_str())
        .unwrap();
    assert_eq!(
        mirror["metadata"]["annotations"]["podmirror.dev/org"],
        "acme"
    );

    // Status and the active list come from the watch; the status has events.
    let (_, _, status) = until_ok(
        &api,
        &format!("/api/mirror/status/{id}"),
        "acme-read",
        |v| v["ready"] == true,
    )
    .await;
    assert!(
        ["Healthy", "Pending"].contains(&status["verdict"].as_str().unwrap()),
        "{status}"
    );
    assert!(
        status["recent_events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "Started"),
        "{status}"
    );
    let (_, _, active) = api
        .call("GET", "/api/mirror/active", Some("acme-read"), None)
        .await;
    assert!(
        active
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == id.as_str())
    );

    // Another org: 404 for every acme object, and its lists are empty of them.
    for (method, uri) in [
        ("GET", format!("/api/mirror/status/{id}")),
        ("GET", format!("/api/mirror/status/{id}/events")),
        ("DELETE", format!("/api/mirror/{id}")),
        (
            "POST",
            "/api/mirror/preview/shop:deployment%2Fweb".to_string(),
        ),
        (
            "POST",
            "/api/mirror/deploy/shop:deployment%2Fweb".to_string(),
        ),
        ("GET", "/api/diagnosis/x?namespace=shop".to_string()),
        ("POST", "/api/diagnosis/x?namespace=shop".to_string()),
        ("POST", "/api/fix/x/apply?namespace=shop".to_string()),
    ] {
        let (s, _, v) = api.call(method, &uri, Some("globex-admin"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {uri}: {v}");
    }
    let (_, _, active) = api
        .call("GET", "/api/mirror/active", Some("globex-admin"), None)
        .await;
    assert_eq!(active, json!([]));
    let (_, _, failing) = api
        .call("GET", "/api/pods/failing", Some("globex-admin"), None)
        .await;
    assert!(
        failing
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["namespace"] == "billing"),
        "{failing}"
    );

    // Server-sent events: a status event first.
    let req = Request::get(format!("/api/mirror/status/{id}/events"))
        .header(
            "authorization",
            format!("Bearer {}", api.tokens["acme-read"]),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("event: status\ndata: {"), "{text}");
    drop(body);

    // Delete (admin), then it is gone for everyone.
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/mirror/{id}"),
            Some("acme-read"),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, _, v) = api
        .call(
            "DELETE",
            &format!("/api/mirror/{id}"),
            Some("acme-admin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["deleted"], true);
    until("the mirror gone", || {
        (!pods(&api.sim, "shop")
            .iter()
            .any(|p| p["metadata"]["name"] == id.as_str()))
        .then_some(())
    })
    .await;

    // globex lets write tokens apply fixes: ledger goes back to a tag that exists.
    let ledger = api.pod_of("billing", "ledger", false).unwrap();
    let (s, _, v) = api
        .call(
            "POST",
            &format!("/api/diagnosis/{ledger}?namespace=billing"),
            Some("globex-write"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, v) = api
        .call(
            "POST",
            &format!("/api/fix/{ledger}/apply?namespace=billing"),
            Some("globex-write"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["target"], "deployment/ledger");
    let d = api
        .sim
        .cluster
        .get(ids::deployments(), "billing", "ledger")
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/shop/web:2.3.1"
    );
    let (_, _, audit) = api
        .call("GET", "/api/audit", Some("globex-admin"), None)
        .await;
    let applied = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "fix.apply")
        .unwrap();
    assert_eq!(applied["outcome"], "applied");
    assert_eq!(applied["digest"].as_str().unwrap().len(), 64);
}

/// GETs `uri` until `ok` holds of the answer.
async fn until_ok(
    api: &Api,
    uri: &str,
    who: &str,
    ok: impl Fn(&Value) -> bool,
) -> (StatusCode, HeaderMap, Value) {
    let mut last = None;
    for _ in 0..400 {
        let r = api.call("GET", uri, Some(who), None).await;
        if r.0 == StatusCode::OK && ok(&r.2) {
            return r;
        }
        last = Some(r);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{uri} never satisfied the check: {last:?}");
}

#[tokio::test]
async fn a_pod_that_starts_failing_is_diagnosed_without_anyone_asking() {
    let api = Api::start("watcher").await;
    podmirror_server::watcher::start(
        &api.state,
        podmirror_server::watcher::Pacing {
            debounce: Duration::from_millis(200),
            per_minute: 30,
            sweep: Duration::from_secs(60),
        },
    );
    let pod = until("api failing", || api.pod_of("shop", "api", false)).await;
    let (_, _, v) = until_ok(
        &api,
        &format!("/api/diagnosis/{pod}?namespace=shop"),
        "acme-read",
        |_| true,
    )
    .await;
    assert_eq!(v["category"], "image-pull", "{v}");
    let (_, _, failing) = api
        .call("GET", "/api/pods/failing", Some("acme-read"), None)
        .await;
    let line = failing
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pod"] == pod.as_str())
        .unwrap()
        .clone();
    assert_eq!(line["diagnosis"]["category"], "image-pull", "{line}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer_and_changes_nothing() {
    let api = Api::start("input").await;
    until("web ready", || api.pod_of("shop", "web", true)).await;
    let deploy = "/api/mirror/deploy/shop:deployment%2Fweb";
    let cases = [
        (
            json!({"ttl_seconds": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside 30..3600",
        ),
        (
            json!({"tll_seconds": 60}),
            StatusCode::BAD_REQUEST,
            "unknown field `tll_seconds`",
        ),
        (
            json!({"patch": [{"op": "jump"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "JSON Patch",
        ),
        (
            json!({"manifest": {"kind": "Deployment"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "kind is \"Deployment\"",
        ),
        (
            json!({"manifest": "kind: Pod\nspec: {containers: [{name: web, image: \"\"}]}\n"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image",
        ),
        (
            json!({"scale_down": true, "manifest": 7}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "manifest must be",
        ),
    ];
    for (body, status, says) in cases {
        let (s, _, v) = api
            .call("POST", deploy, Some("acme-admin"), Some(body.clone()))
            .await;
        assert_eq!(s, status, "{body}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{body}: {v}");
        assert!(v["error"].is_string());
    }
    // Nothing half-made: no mirror, web still has its replica.
    assert!(
        !pods(&api.sim, "shop")
            .iter()
            .any(|p| p["metadata"]["labels"]["podmirror.dev/mirror"] == "true")
    );
    let (s, _, v) = api
        .call("POST", "/api/mirror/deploy/web", Some("acme-admin"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("namespace:name"));
    let (s, _, v) = api
        .call(
            "POST",
            "/api/mirror/deploy/shop:nosuch",
            Some("acme-admin"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // A body over 1 MiB, JSON that does not parse, an unknown route.
    let big = json!({"manifest": "x".repeat(1 << 20)});
    let (s, _, v) = api
        .call("POST", deploy, Some("acme-admin"), Some(big))
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let req = Request::post(deploy)
        .header(
            "authorization",
            format!("Bearer {}", api.tokens["acme-admin"]),
        )
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let resp = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (s, _, v) = api
        .call("GET", "/api/nothing", Some("acme-admin"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no route GET /api/nothing")
    );

    // A YAML alias bomb: refused at once.
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let prev = (b'a' + i - 1) as char;
        let cur = (b'a' + i) as char;
        bomb.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let started = std::time::Instant::now();
    let (s, _, v) = api
        .call(
            "POST",
            deploy,
            Some("acme-admin"),
            Some(json!({"manifest": bomb})),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not YAML podmirror accepts"),
        "{v}"
    );
    eprintln!("alias bomb refused in {took:?}");
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_and_others_are_not_slowed() {
    let api = Api::start("rate").await;
    let mut limited = false;
    for _ in 0..1100 {
        let (s, _, v) = api
            .call(
                "GET",
                "/api/admin/settings/mirror-ttl",
                Some("acme-read"),
                None,
            )
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                v["message"]
                    .as_str()
                    .unwrap()
                    .contains("more than 1000 requests in a minute"),
                "{v}"
            );
            limited = true;
            break;
        }
    }
    assert!(limited);
    assert_eq!(
        api.call(
            "GET",
            "/api/admin/settings/mirror-ttl",
            Some("acme-write"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_openapi_document_is_the_committed_one_and_lists_every_route() {
    let doc = serde_json::to_string_pretty(&podmirror_server::openapi::document()).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &doc).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == doc,
        "docs/openapi.json differs from the code's document; UPDATE_OPENAPI=1 cargo nextest run -p podmirror-server openapi rewrites it"
    );
    // Every operation is routed (the fallback's "no route" never answers),
    // and the router serves what the document says at /api/openapi.json.
    let api = Api::start("openapi").await;
    for op in podmirror_server::openapi::operations() {
        let uri = op
            .path
            .replace("{pod_id}", "shop:x")
            .replace("{pod}", "x")
            .replace("{mirror_id}", "x");
        if op.content_type == "text/event-stream" {
            // A stream does not end: its head is enough.
            let (s, h) = api.open(&uri, "acme-admin").await;
            assert!(
                s == StatusCode::NOT_FOUND || h["content-type"] == "text/event-stream",
                "{uri}: {s} {h:?}"
            );
            continue;
        }
        let (s, _, v) = api
            .call(&op.method.to_uppercase(), &uri, Some("acme-admin"), None)
            .await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{} {uri}", op.method);
        assert!(
            !v["message"].as_str().unwrap_or("").starts_with("no route"),
            "{} {uri}: {v}",
            op.method
        );
    }
    let (s, _, served) = api.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(serde_json::to_string_pretty(&served).unwrap() + "\n", doc);
}

#[tokio::test]
async fn with_the_cluster_failing_5_percent_of_requests_answers_say_so_and_nothing_is_half_made() {
    let api = Api::start("faults").await;
    until("web ready", || api.pod_of("shop", "web", true)).await;
    api.sim.faults.set(podmirror_sim::faults::FaultConfig {
        latency: Duration::from_millis(5),
        error_rate: 0.05,
        error_code: 503,
        ..Default::default()
    });
    let mut created = std::collections::BTreeSet::new();
    let mut failed = 0;
    for i in 0..40 {
        // Every fourth asks for a scale-down too (one at a time: deleted after).
        let scale_down = i % 4 == 0;
        let (s, _, v) = api
            .call(
                "POST",
                "/api/mirror/deploy/shop:deployment%2Fweb",
                Some("acme-admin"),
                Some(json!({"ttl_seconds": 600, "scale_down": scale_down})),
            )
            .await;
        match s {
            StatusCode::CREATED => {
                let id = v["id"].as_str().unwrap().to_string();
                if scale_down {
                    // Deleted at once (retrying through the faults).
                    for _ in 0..20 {
                        let (s, _, _) = api
                            .call(
                                "DELETE",
                                &format!("/api/mirror/{id}"),
                                Some("acme-admin"),
                                None,
                            )
                            .await;
                        if s == StatusCode::OK {
                            break;
                        }
                    }
                } else {
                    created.insert(id);
                }
            }
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT => {
                failed += 1;
                assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
                assert!(v["error"].is_string(), "{v}");
            }
            other => panic!("deploy {i}: {other} {v}"),
        }
    }
    api.sim.faults.set(Default::default());
    eprintln!("{} created, {failed} refused by the faults", created.len());
    // Every mirror in the cluster is one the API said it created; the
    // Deployment has its replica back (no scale-down was left behind).
    let mirrors: std::collections::BTreeSet<String> = pods(&api.sim, "shop")
        .iter()
        .filter(|p| {
            p["metadata"]["labels"]["podmirror.dev/mirror"] == "true"
                && p["metadata"]["deletionTimestamp"].is_null()
        })
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(mirrors, created);
    let web = api
        .sim
        .cluster
        .get(ids::deployments(), "shop", "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 1, "{web}");
    assert!(
        web["metadata"]["annotations"]["podmirror.dev/scaled-down-by"].is_null(),
        "{web}"
    );
}

#[tokio::test]
async fn two_servers_on_one_database_share_tokens_and_audit_and_one_reaps() {
    let sim = Sim::new();
    sim.cluster
        .create(
            ids::namespaces(),
            "",
            json!({"metadata": {"name": "podmirror"}}),
            &WriteOptions::manager("t"),
        )
        .unwrap();
    // Postgres when the test command started one, else one SQLite file.
    let url = match std::env::var("PODMIRROR_TEST_POSTGRES") {
        Ok(admin) if !admin.is_empty() => {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
            let db = format!("pm_{}_two_servers", std::process::id());
            for sql in [
                format!("DROP DATABASE IF EXISTS {db}"),
                format!("CREATE DATABASE {db}"),
            ] {
                sqlx::query(&sql).execute(&pool).await.unwrap();
            }
            format!("{}/{db}", admin.rsplit_once('/').unwrap().0)
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("podmirror-two-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            dir.join("pm.db").display().to_string()
        }
    };
    let mut apps = Vec::new();
    let mut leading = Vec::new();
    for i in 0..2 {
        let store = Store::connect(&url).await.unwrap();
        let state = AppState::new(store, sim.client(), Config::default(), None);
        let election = podmirror_reaper::Election {
            lease_duration: Duration::from_secs(2),
            renew_every: Duration::from_millis(200),
            ..podmirror_reaper::Election::new("podmirror", &format!("server-{i}"))
        };
        tokio::spawn(podmirror_reaper::run(
            sim.client(),
            election,
            state.reaper_leading.clone(),
        ));
        leading.push(state.reaper_leading.subscribe());
        apps.push(router(state));
    }
    // A token made through one is known to the other; their audits chain as one.
    let store = Store::connect(&url).await.unwrap();
    let token = store
        .create_token("ops", Role::Admin, "default", jiff::Timestamp::now())
        .await
        .unwrap();
    for (i, app) in apps.iter().enumerate() {
        for t in [60 + i as u64, 90 + i as u64] {
            let req = Request::put("/api/admin/settings/mirror-ttl")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::from(
                    json!({"ttl_seconds": t}).to_string(),
                ))
                .unwrap();
            assert_eq!(
                app.clone().oneshot(req).await.unwrap().status(),
                StatusCode::OK
            );
        }
    }
    assert_eq!(store.verify_audit().await.unwrap(), Ok(4));
    // One reaper leads.
    let mut first = leading[0].clone();
    let _ = tokio::time::timeout(Duration::from_secs(5), first.wait_for(|l| *l)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let leaders = leading.iter().filter(|l| *l.borrow()).count();
    assert_eq!(leaders, 1);
}

/// Reads server-sent events from a response body: (event, data as JSON).
struct Events {
    body: axum::body::Body,
    buffer: String,
}

impl Events {
    async fn open(api: &Api, uri: &str, who: &str) -> Events {
        let token = api.tokens[who].clone();
        let req = Request::get(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = api.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Events {
            body: resp.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event other than keep-alive comments, within `wait`.
    async fn next(&mut self, wait: Duration) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event: ") {
                        event = e.into();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                if event.is_empty() && data.is_empty() {
                    continue;
                }
                return (event, serde_json::from_str(&data).unwrap());
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("an event in time")
                .expect("the stream is open")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
}

#[tokio::test]
async fn the_failing_stream_sends_a_snapshot_then_only_changes_and_ends_when_the_token_is_revoked()
{
    let api = Api::start("failing-stream").await;
    until("api failing", || api.pod_of("shop", "api", false)).await;
    let mut events = Events::open(&api, "/api/pods/failing/events", "acme-read").await;
    let (kind, snapshot) = events.next(Duration::from_secs(5)).await;
    assert_eq!(kind, "snapshot");
    assert!(
        snapshot["now"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    let pods = snapshot["pods"].as_array().unwrap();
    // acme sees shop only; the api pod is there with its reasons and counts.
    assert!(pods.iter().all(|p| p["namespace"] == "shop"), "{snapshot}");
    let api_pod = pods
        .iter()
        .find(|p| {
            p["owner"]
                .as_str()
                .unwrap_or("")
                .starts_with("ReplicaSet/api-")
        })
        .unwrap_or_else(|| panic!("api in {snapshot}"));
    assert_eq!(api_pod["containers"], 1);
    assert_eq!(api_pod["ready"], 0);
    assert!(api_pod["created_at"].is_string());

    // A new failing workload: an update with it.
    let opts = WriteOptions::manager("test");
    api.sim
        .cluster
        .create(
            ids::deployments(),
            "shop",
            deployment("late", "registry.example.com/shop/web:0.0.0"),
            &opts,
        )
        .unwrap();
    let late = loop {
        let (kind, update) = events.next(Duration::from_secs(10)).await;
        assert_eq!(kind, "update", "{update}");
        let upsert = update["upsert"].as_array().unwrap();
        if let Some(p) = upsert.iter().find(|p| {
            p["owner"]
                .as_str()
                .unwrap_or("")
                .starts_with("ReplicaSet/late-")
        }) {
            break p["pod_id"].as_str().unwrap().to_string();
        }
    };
    // Deleted: it is removed by id.
    let now = podmirror_sim::cluster::DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    api.sim
        .cluster
        .delete(ids::deployments(), "shop", "late", &now)
        .unwrap();
    let (ns, name) = late.split_once(':').unwrap();
    let _ = api.sim.cluster.delete(ids::pods(), ns, name, &now);
    loop {
        let (kind, update) = events.next(Duration::from_secs(10)).await;
        assert_eq!(kind, "update");
        if update["remove"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == &json!(late))
        {
            break;
        }
    }

    // Revoked while the stream is open: `unauthorized`, then the end.
    api.store
        .revoke_token("acme-read", jiff::Timestamp::now())
        .await
        .unwrap();
    loop {
        let (kind, data) = events.next(Duration::from_secs(15)).await;
        if kind == "unauthorized" {
            assert!(
                data["message"].as_str().unwrap().contains("revoked"),
                "{data}"
            );
            break;
        }
    }
    let end = tokio::time::timeout(Duration::from_secs(5), events.body.frame())
        .await
        .unwrap();
    assert!(end.is_none(), "the stream ends");
}

#[tokio::test]
async fn a_workload_whose_pods_are_refused_is_listed_diagnosed_and_mirrored() {
    let api = Api::start("stuck").await;
    podmirror_server::watcher::start(
        &api.state,
        podmirror_server::watcher::Pacing {
            debounce: Duration::from_millis(200),
            per_minute: 30,
            sweep: Duration::from_millis(300),
        },
    );
    // A ServiceAccount that does not exist: every pod is refused.
    let mut d = deployment("ghost", "registry.example.com/shop/web:2.3.1");
    d["spec"]["template"]["spec"]["serviceAccountName"] = json!("ghost-runner");
    api.sim
        .cluster
        .create(
            ids::deployments(),
            "shop",
            d,
            &WriteOptions::manager("test"),
        )
        .unwrap();
    let (_, _, failing) = until_ok(&api, "/api/pods/failing", "acme-read", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|p| p["pod"] == "deployment/ghost" && p["diagnosis"]["category"] == "admission")
    })
    .await;
    let row = failing
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pod"] == "deployment/ghost")
        .unwrap()
        .clone();
    assert_eq!(row["phase"], "NoPods", "{row}");
    assert_eq!(row["pod_id"], "shop:deployment/ghost");
    assert_eq!(
        (row["ready"].as_i64(), row["containers"].as_i64()),
        (Some(0), Some(1))
    );
    // Another org does not see it.
    let (_, _, theirs) = api
        .call("GET", "/api/pods/failing", Some("globex-write"), None)
        .await;
    assert!(
        !theirs
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pod"] == "deployment/ghost")
    );
    // Its diagnosis: the default ServiceAccount as a guess.
    let (status, _, v) = api
        .call(
            "GET",
            "/api/diagnosis/deployment%2Fghost?namespace=shop",
            Some("acme-read"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["diagnosis"]
            .as_str()
            .unwrap()
            .contains("error looking up service account shop/ghost-runner"),
        "{v}"
    );
    assert_eq!(v["runnable"], true, "{v}");
    // Its details: the FailedCreate events of its ReplicaSet, its YAML.
    let (status, _, detail) = api
        .call(
            "GET",
            "/api/pods/shop:deployment%2Fghost",
            Some("acme-read"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "FailedCreate"),
        "{detail}"
    );
    assert!(
        detail["yaml"]
            .as_str()
            .unwrap()
            .contains("serviceAccountName: ghost-runner")
    );
    // A mirror of its template with the fix: created, and its verdict recorded on the diagnosis.
    let body = json!({"patch": v["patch"], "diagnosis_id": v["id"], "ttl_seconds": 60});
    let (status, _, m) = api
        .call(
            "POST",
            "/api/mirror/deploy/shop:deployment%2Fghost",
            Some("acme-admin"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    // A kind podmirror does not diagnose: a clear 400.
    let (status, _, e) = api
        .call(
            "GET",
            "/api/diagnosis/service%2Fweb?namespace=shop",
            Some("acme-read"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("is not a workload podmirror diagnoses"),
        "{e}"
    );
}
