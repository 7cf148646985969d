//! HTTP tier through `Router::oneshot`: bad input, discovery, tables, watches.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use podmirror_sim::Sim;
use podmirror_sim::resources::ids;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(sim: &Sim, req: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let resp = sim.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn pod_count(sim: &Sim) -> usize {
    sim.cluster.store.read().count(ids::pods())
}

#[tokio::test]
async fn malformed_json_and_yaml_are_400_status_and_write_nothing() {
    let sim = Sim::new();
    let (code, _, body) = call(
        &sim,
        post(
            "/api/v1/namespaces/default/pods",
            "application/json",
            "{\"kind\": \"Pod\",",
        ),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "BadRequest");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("json parse error"),
        "{body}"
    );

    let (code, _, body) = call(
        &sim,
        post(
            "/api/v1/namespaces/default/pods",
            "application/yaml",
            "metadata: {name: [x\n",
        ),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], 400);
    assert_eq!(pod_count(&sim), 0);

    // YAML that parses is accepted.
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: ypod}\nspec:\n  containers: [{name: c, image: 'i:1'}]\n";
    let (code, _, body) = call(
        &sim,
        post("/api/v1/namespaces/default/pods", "application/yaml", yaml),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let sim = Sim::new();
    let big = format!(
        "{{\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"k\":\"{}\"}}}}",
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let (code, _, body) = call(
        &sim,
        post(
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            big,
        ),
    )
    .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["reason"], "RequestEntityTooLarge");
    assert!(
        sim.cluster
            .get(ids::configmaps(), "default", "big")
            .is_err()
    );
}

#[tokio::test]
async fn unknown_resources_and_methods() {
    let sim = Sim::new();
    let (code, _, body) = call(&sim, get("/api/v1/namespaces/default/widgets")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "NotFound");
    let (code, _, _) = call(&sim, get("/apis/example.com/v1/things")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let req = Request::post("/api/v1/namespaces/default/pods/x")
        .body(Body::from("{}"))
        .unwrap();
    let (code, _, body) = call(&sim, req).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["reason"], "MethodNotAllowed");
    let (code, _, body) = call(&sim, get("/api/v1/namespaces/default/pods/missing")).await;
    assert_eq!(
        (code, body["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("pods \"missing\" not found"))
    );
}

#[tokio::test]
async fn invalid_objects_get_422_with_causes() {
    let sim = Sim::new();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [{"name": "a"}, {"name": "a", "image": "i"}]}});
    let (code, _, body) = call(
        &sim,
        post(
            "/api/v1/namespaces/default/pods",
            "application/json",
            pod.to_string(),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["reason"], "Invalid");
    let causes = body["details"]["causes"].as_array().unwrap();
    assert!(
        causes.iter().any(
            |c| c["field"] == "spec.containers[0].image" && c["reason"] == "FieldValueRequired"
        )
    );
    assert!(
        causes.iter().any(
            |c| c["field"] == "spec.containers[1].name" && c["reason"] == "FieldValueDuplicate"
        )
    );
    assert_eq!(pod_count(&sim), 0);

    let in_missing_ns =
        json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "a", "image": "i"}]}});
    let (code, _, body) = call(
        &sim,
        post(
            "/api/v1/namespaces/nowhere/pods",
            "application/json",
            in_missing_ns.to_string(),
        ),
    )
    .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("namespaces \"nowhere\" not found")
        )
    );
}

#[tokio::test]
async fn discovery_documents() {
    let sim = Sim::new();
    let (_, _, v) = call(&sim, get("/version")).await;
    assert_eq!(v["gitVersion"], "v1.35.0");
    let (_, _, apis) = call(&sim, get("/apis")).await;
    let names: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "apps",
            "batch",
            "coordination.k8s.io",
            "events.k8s.io",
            "admissionregistration.k8s.io"
        ]
    );
    let (_, _, core) = call(&sim, get("/api/v1")).await;
    let pods = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods")
        .unwrap();
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert!(
        core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "pods/log")
    );

    let req = Request::get("/apis")
        .header(
            header::ACCEPT,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .body(Body::empty())
        .unwrap();
    let (_, headers, agg) = call(&sim, req).await;
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let apps = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "apps")
        .unwrap();
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert!(
        deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["subresource"] == "scale" && s["responseKind"]["kind"] == "Scale")
    );

    let (_, _, index) = call(&sim, get("/openapi/v3")).await;
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, doc) = call(&sim, get(&url)).await;
    assert_eq!(code, StatusCode::OK);
    assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"].is_array());
}

#[tokio::test]
async fn table_responses_for_pods() {
    let sim = Sim::new();
    let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "a", "image": "i:1"}]}});
    call(
        &sim,
        post(
            "/api/v1/namespaces/default/pods",
            "application/json",
            pod.to_string(),
        ),
    )
    .await;
    let req = Request::get("/api/v1/namespaces/default/pods")
        .header(
            header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Body::empty())
        .unwrap();
    let (_, _, table) = call(&sim, req).await;
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "web");
    assert_eq!(table["rows"][0]["cells"][1], "0/1");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn watch_streams_changes_and_honours_timeout() {
    let sim = Sim::new();
    let sim2 = sim.clone();
    let watcher = tokio::spawn(async move {
        let resp = sim2
            .router()
            .oneshot(get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0&timeoutSeconds=1&labelSelector=app%3Dx"))
            .await
            .unwrap();
        resp.into_body().collect().await.unwrap().to_bytes()
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for (name, app) in [("a", "x"), ("b", "y")] {
        let cm = json!({"metadata": {"name": name, "labels": {"app": app}}});
        call(
            &sim,
            post(
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                cm.to_string(),
            ),
        )
        .await;
    }
    let req = Request::delete("/api/v1/namespaces/default/configmaps/a")
        .body(Body::empty())
        .unwrap();
    call(&sim, req).await;
    let bytes = watcher.await.unwrap();
    let events: Vec<Value> = String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ADDED".to_string(), "a".to_string()),
            ("DELETED".to_string(), "a".to_string())
        ]
    );
}

#[tokio::test]
async fn faults_are_set_at_run_time_and_refused_when_nonsense() {
    let sim = Sim::new();
    let put = |body: &str| {
        Request::put("/podmirror.dev/faults")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (code, _, _) = call(&sim, put(r#"{"errorRate": 1.0, "errorCode": 503}"#)).await;
    assert_eq!(code, StatusCode::OK);
    let (code, headers, body) = call(&sim, get("/api/v1/namespaces/default/pods")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "ServiceUnavailable");
    assert!(headers.get(header::RETRY_AFTER).is_none());
    call(&sim, put(r#"{"errorRate": 1.0, "errorCode": 429}"#)).await;
    let (code, headers, _) = call(&sim, get("/api/v1/namespaces/default/pods")).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    call(&sim, put(r#"{"conflictRate": 1.0}"#)).await;
    let cm = json!({"metadata": {"name": "c"}});
    let (code, _, body) = call(
        &sim,
        post(
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm.to_string(),
        ),
    )
    .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (StatusCode::CONFLICT, Some("Conflict"))
    );
    assert!(
        sim.cluster.get(ids::configmaps(), "default", "c").is_err(),
        "an injected conflict writes nothing"
    );
    let (code, _, body) = call(&sim, put(r#"{"errorRate": 2}"#)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("errorRate must be between 0 and 1"),
        "{body}"
    );
    call(&sim, put("{}")).await;
    let (code, _, _) = call(&sim, get("/api/v1/namespaces/default/pods")).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn dropped_watches_end_and_clients_resume() {
    use futures::TryStreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let sim = Sim::new();
    let api: kube::Api<ConfigMap> = kube::Api::default_namespaced(sim.client());
    let (reader, writer) = reflector::store::<ConfigMap>();
    let task = tokio::spawn(
        reflector(writer, watcher(api.clone(), watcher::Config::default()))
            .applied_objects()
            .try_for_each(|_| async { Ok(()) }),
    );
    reader.wait_until_ready().await.unwrap();
    for i in 0..20 {
        if i % 5 == 0 {
            let req = Request::post("/podmirror.dev/faults/drop-watches")
                .body(Body::empty())
                .unwrap();
            let (code, _, _) = call(&sim, req).await;
            assert_eq!(code, StatusCode::NO_CONTENT);
        }
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        api.create(&Default::default(), &cm).await.unwrap();
    }
    let mut seen = 0;
    for _ in 0..200 {
        seen = reader.state().len();
        if seen == 21 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen, 21,
        "20 configmaps plus kube-root-ca.crt despite dropped watches"
    );
    task.abort();
}

#[tokio::test]
async fn the_request_log_numbers_what_clients_asked_and_how_it_went() {
    let sim = Sim::new();
    let (_, _, before) = call(&sim, get("/podmirror.dev/requests")).await;
    let start = before["last"].as_u64().unwrap();
    call(
        &sim,
        Request::get("/api/v1/namespaces/default/pods?limit=5")
            .header(header::USER_AGENT, "kubectl/v1.35.0")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    call(&sim, get("/api/v1/namespaces/default/pods/nope")).await;
    let (code, _, log) = call(&sim, get(&format!("/podmirror.dev/requests?after={start}"))).await;
    assert_eq!(code, StatusCode::OK);
    let seen: Vec<(String, String, u64, String)> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["uri"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
                r["userAgent"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "GET".into(),
                "/api/v1/namespaces/default/pods?limit=5".into(),
                200,
                "kubectl/v1.35.0".into()
            ),
            (
                "GET".into(),
                "/api/v1/namespaces/default/pods/nope".into(),
                404,
                String::new()
            ),
        ]
    );
    assert_eq!(log["last"].as_u64().unwrap(), start + 2);
}
