//! The demo's workloads: one Deployment per failure class of the diagnosis next to
//! healthy ones, each with what a user should see, so the demo and the tests
//! share one definition.

use crate::Sim;
use serde_json::{Value, json};

/// Namespace the demo seeds.
pub const NAMESPACE: &str = "shop";

/// What the pods of a scenario end up showing.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Running and Ready.
    Healthy,
    /// A container waits with this reason (and a message containing the text).
    Waiting(&'static str, &'static str),
    /// A container keeps crashing: last terminated with this reason and exit code.
    Crashing(&'static str, i64),
    /// The pod stays Pending; its PodScheduled message contains the text.
    Unschedulable(&'static str),
    /// The pod stays ContainerCreating with a FailedMount event containing the text.
    MountFailing(&'static str),
    /// Liveness keeps failing: Unhealthy events containing the text, and restarts.
    ProbeFailing(&'static str),
}

/// One seeded workload.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Deployment name.
    pub name: &'static str,
    /// The failure class it demonstrates ("healthy" for the others).
    pub class: &'static str,
    /// One line for the demo's list.
    pub summary: &'static str,
    /// The Deployment's container (name = deployment name).
    pub container: Value,
    /// Extra pod spec fields.
    pub pod_spec: Value,
    /// An image to roll out after the first revision (for rollout history).
    pub then_image: Option<&'static str>,
    /// What the user should see.
    pub expect: Expect,
}

const REG: &str = "registry.example.com/shop";

fn container(name: &str, image: &str) -> Value {
    json!({"name": name, "image": image})
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// Every demo scenario.
pub fn all() -> Vec<Scenario> {
    let db_env =
        json!({"env": [{"name": "DATABASE_URL", "value": "postgres://shop@db:5432/shop"}]});
    let api = |tag: &str| {
        with(
            container("api", &format!("{REG}/api:{tag}")),
            db_env.clone(),
        )
    };
    let http_probe = |port: Value, path: &str, delay: u32| json!({"httpGet": {"path": path, "port": port}, "initialDelaySeconds": delay, "periodSeconds": 5, "failureThreshold": 3});
    vec![
        Scenario {
            name: "web",
            class: "healthy",
            summary: "storefront, healthy",
            container: with(
                container("web", &format!("{REG}/web:2.3.1")),
                json!({"ports": [{"containerPort": 8080, "name": "http"}], "readinessProbe": http_probe(json!("http"), "/healthz", 1)}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Healthy,
        },
        Scenario {
            name: "catalog",
            class: "healthy",
            summary: "product catalog, healthy",
            container: with(
                container("catalog", &format!("{REG}/catalog-svc:2.1.0")),
                json!({"ports": [{"containerPort": 8080}]}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Healthy,
        },
        Scenario {
            name: "api",
            class: "image pull: bad tag",
            summary: "rolled out a tag that does not exist; revision 1 (1.4.1) ran fine",
            container: api("1.4.1"),
            pod_spec: json!({}),
            then_image: Some("registry.example.com/shop/api:1.4.9"),
            expect: Expect::Waiting("ImagePullBackOff", "Back-off pulling image"),
        },
        Scenario {
            name: "api-canary",
            class: "server errors: seen by the tap",
            summary: "Ready, yet api 1.4.2 answers 500 to 32% of GET /api/orders; 1.4.1 did not",
            container: with(
                api("1.4.1"),
                json!({"ports": [{"containerPort": 8080, "name": "http"}], "readinessProbe": http_probe(json!("http"), "/healthz", 1)}),
            ),
            pod_spec: json!({}),
            then_image: Some("registry.example.com/shop/api:1.4.2"),
            expect: Expect::Healthy,
        },
        Scenario {
            name: "billing",
            class: "image pull: private registry",
            summary: "private image, no imagePullSecrets",
            container: container("billing", "registry.example.com/private/billing:3.2.0"),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Waiting("ImagePullBackOff", "Back-off pulling image"),
        },
        Scenario {
            name: "orders",
            class: "crash: missing env var",
            summary: "api image without DATABASE_URL",
            container: container("orders", &format!("{REG}/api:1.4.2")),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Crashing("Error", 1),
        },
        Scenario {
            name: "cart",
            class: "config: missing ConfigMap",
            summary: "envFrom a ConfigMap that does not exist",
            container: with(
                container("cart", &format!("{REG}/cart:3.0.2")),
                json!({"envFrom": [{"configMapRef": {"name": "cart-config"}}]}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Waiting(
                "CreateContainerConfigError",
                "configmap \"cart-config\" not found",
            ),
        },
        Scenario {
            name: "payments",
            class: "config: missing Secret key",
            summary: "secretKeyRef to a key the Secret does not have",
            container: with(
                container("payments", &format!("{REG}/payments:5.2.1")),
                json!({"env": [{"name": "PAYMENTS_API_KEY", "valueFrom": {"secretKeyRef": {"name": "payments", "key": "api-key"}}}]}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Waiting(
                "CreateContainerConfigError",
                "couldn't find key api-key in Secret shop/payments",
            ),
        },
        Scenario {
            name: "reports",
            class: "OOMKilled",
            summary: "memory limit 256Mi, needs ~900Mi",
            container: with(
                container("reports", &format!("{REG}/reports:1.2.0")),
                json!({"resources": {"requests": {"memory": "128Mi"}, "limits": {"memory": "256Mi"}}}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Crashing("OOMKilled", 137),
        },
        Scenario {
            name: "checkout",
            class: "probe: wrong port",
            summary: "liveness probe on 8081, the app listens on 8080",
            container: with(
                container("checkout", &format!("{REG}/checkout:1.8.1")),
                json!({"ports": [{"containerPort": 8080}], "livenessProbe": http_probe(json!(8081), "/healthz", 5)}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::ProbeFailing("connect: connection refused"),
        },
        Scenario {
            name: "search",
            class: "probe: initial delay too short",
            summary: "takes ~40s to start, liveness gives up after 5s + 3x5s",
            container: with(
                container("search", &format!("{REG}/search:8.11.1")),
                json!({"ports": [{"containerPort": 9200}], "livenessProbe": http_probe(json!(9200), "/_health", 5)}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::ProbeFailing("Liveness probe failed"),
        },
        Scenario {
            name: "notifier",
            class: "crash: bad command",
            summary: "a typo in the start command",
            container: with(
                container("notifier", &format!("{REG}/web:2.3.1")),
                json!({"command": ["/bin/sh", "-c", "/usr/local/bin/nod server.js"]}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Crashing("Error", 127),
        },
        Scenario {
            name: "inventory",
            class: "lifecycle hook: failing postStart",
            summary: "a postStart hook runs a script the image does not have",
            container: with(
                container("inventory", &format!("{REG}/web:2.3.1")),
                json!({"lifecycle": {"postStart": {"exec": {"command": ["/bin/sh", "-c", "/app/warm-cache --all"]}}}}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Crashing("Error", 137),
        },
        Scenario {
            name: "analytics",
            class: "unschedulable: insufficient memory",
            summary: "requests 64Gi of memory",
            container: with(
                container("analytics", &format!("{REG}/reports:1.2.0")),
                json!({"resources": {"requests": {"memory": "64Gi"}}}),
            ),
            pod_spec: json!({}),
            then_image: None,
            expect: Expect::Unschedulable("Insufficient memory"),
        },
        Scenario {
            name: "recommender",
            class: "unschedulable: nodeSelector",
            summary: "nodeSelector disktype=ssd, no node has it",
            container: container("recommender", &format!("{REG}/catalog-svc:2.1.0")),
            pod_spec: json!({"nodeSelector": {"disktype": "ssd"}}),
            then_image: None,
            expect: Expect::Unschedulable("didn't match Pod's node affinity/selector"),
        },
        Scenario {
            name: "ml-ranker",
            class: "unschedulable: untolerated taint",
            summary: "wants the gpu node, does not tolerate its taint",
            container: container("ml-ranker", &format!("{REG}/catalog-svc:2.1.0")),
            pod_spec: json!({"nodeSelector": {"accelerator": "gpu"}}),
            then_image: None,
            expect: Expect::Unschedulable("untolerated taint(s)"),
        },
        Scenario {
            name: "uploads",
            class: "unschedulable: unbound PVC",
            summary: "claims storage of a class the cluster lacks",
            container: with(
                container("uploads", &format!("{REG}/web:2.3.1")),
                json!({"volumeMounts": [{"name": "data", "mountPath": "/data"}]}),
            ),
            pod_spec: json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "uploads-data"}}]}),
            then_image: None,
            expect: Expect::Unschedulable("unbound immediate PersistentVolumeClaims"),
        },
    ]
}

/// The Deployments whose pods opt in to the traffic tap (the pod
/// annotation `tap.podmirror.dev/inject`; the namespace is labelled for it).
pub const TAPPED: &[&str] = &["web", "api", "api-canary"];

/// The nodes the demo runs on: two workers and one tainted GPU node.
pub fn nodes() -> Vec<crate::nodes::NodeSpec> {
    let mut nodes = crate::nodes::NodeSpec::workers(3);
    if let Some(gpu) = nodes.last_mut() {
        gpu.name = "sim-gpu-1".into();
        gpu.labels.push(("accelerator".into(), "gpu".into()));
        gpu.taints
            .push(("dedicated".into(), "gpu".into(), "NoSchedule".into()));
    }
    nodes
}

/// The Deployment object of a scenario.
pub fn deployment(s: &Scenario) -> Value {
    let spec = with(
        json!({"containers": [s.container.clone()]}),
        s.pod_spec.clone(),
    );
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": s.name, "namespace": NAMESPACE, "labels": {"app": s.name, "app.kubernetes.io/part-of": "shop"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": s.name}},
            "template": {"metadata": template_metadata(s.name), "spec": spec},
        },
    })
}

fn template_metadata(name: &str) -> Value {
    let mut metadata = json!({"labels": {"app": name}});
    if TAPPED.contains(&name) {
        // The port names what to tap where a container declares none (api).
        metadata["annotations"] =
            json!({"tap.podmirror.dev/inject": "true", "tap.podmirror.dev/ports": "8080"});
    }
    metadata
}

/// Creates the namespace, supporting objects and every scenario's Deployment
/// in the sim.
pub async fn seed(sim: &Sim) -> Result<(), kube::Error> {
    seed_through(&sim.client()).await
}

/// The namespace and its supporting objects, in creation order.
pub fn supporting_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {"podmirror.dev/tap": "enabled"}}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "payments", "namespace": NAMESPACE}, "stringData": {"webhook-secret": "whsec_demo"}}),
        // Credentials for the private registry exist; the billing Deployment
        // just does not reference them (its failure class).
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred", "namespace": NAMESPACE},
               "type": "kubernetes.io/dockerconfigjson",
               "stringData": {".dockerconfigjson": "{\"auths\":{\"registry.example.com\":{\"auth\":\"ZGVtbzpkZW1v\"}}}"}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "uploads-data", "namespace": NAMESPACE}, "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NAMESPACE}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
    ]
}

fn api_of(client: &kube::Client, object: &Value) -> kube::Api<kube::api::DynamicObject> {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let kind = object["kind"].as_str().unwrap_or("");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "PersistentVolumeClaim" => "persistentvolumeclaims".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    let resource = kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural,
    };
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &resource),
        None => kube::Api::all_with(client.clone(), &resource),
    }
}

/// Creates the demo in any cluster (the sim, or a real one whose nodes are
/// [`nodes`]): the namespace, supporting objects and every scenario's
/// Deployment, then the second revisions. Objects that exist are kept.
pub async fn seed_through(client: &kube::Client) -> Result<(), kube::Error> {
    let params = kube::api::PostParams {
        field_manager: Some("podmirror-demo".into()),
        ..Default::default()
    };
    let scenarios = all();
    let mut objects = supporting_objects();
    for s in &scenarios {
        let mut d = deployment(s);
        d["metadata"]["namespace"] = json!(NAMESPACE);
        objects.push(d);
    }
    for object in objects {
        let api = api_of(client, &object);
        let object: kube::api::DynamicObject =
            serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
        match api.create(&params, &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    // Second revisions roll out once the first ReplicaSet exists, so history is real.
    let replicasets = api_of(
        client,
        &json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"namespace": NAMESPACE}}),
    );
    let deployments = api_of(
        client,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": NAMESPACE}}),
    );
    for s in scenarios.iter().filter(|s| s.then_image.is_some()) {
        let list = kube::api::ListParams::default().labels(&format!("app={}", s.name));
        for _ in 0..500 {
            if !replicasets.list_metadata(&list).await?.items.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let name = s
            .container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(s.name);
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": name, "image": s.then_image}]}}}});
        deployments
            .patch(
                s.name,
                &kube::api::PatchParams {
                    field_manager: Some("kubectl-set".into()),
                    ..Default::default()
                },
                &kube::api::Patch::Strategic(&patch),
            )
            .await?;
    }
    Ok(())
}
