//! The Helm chart, with the real helm: it lints, renders the objects the
//! issue lists with least-privilege RBAC, refuses settings that cannot
//! work, its config is one the server accepts, and the committed raw
//! manifests are what it renders.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn helm() -> Option<PathBuf> {
    match std::env::var_os("PODMIRROR_HELM").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => {
            assert!(
                std::env::var_os("PODMIRROR_REQUIRE_KUBECTL").is_none(),
                "PODMIRROR_HELM is not set; scripts/install-tools installs helm"
            );
            eprintln!("skipped: no helm (scripts/install-tools)");
            None
        }
    }
}

fn template(helm: &PathBuf, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(helm)
        .args([
            "template",
            "podmirror",
            "deploy/helm/podmirror",
            "--namespace",
            "podmirror",
        ])
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn docs(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .filter(|d| d.contains("kind:"))
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect()
}

#[test]
fn the_chart_lints_and_renders_least_privilege_objects_the_server_accepts() {
    let Some(helm) = helm() else { return };
    let lint = Command::new(&helm)
        .args(["lint", "--strict", "deploy/helm/podmirror"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let (ok, out, err) = template(&helm, &[]);
    assert!(ok, "{err}");
    let objects = docs(&out);
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let of = |kind: &str| objects.iter().find(|o| o["kind"] == kind).unwrap();
    // The seed's permissions, and no wildcard anywhere.
    let rules = of("ClusterRole")["rules"].as_array().unwrap().clone();
    let allows = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
        })
    };
    for (resource, verb) in [
        ("pods", "get"),
        ("pods", "list"),
        ("pods", "create"),
        ("pods", "delete"),
        ("pods/log", "get"),
        ("events", "list"),
    ] {
        assert!(allows(resource, verb), "{resource} {verb}");
    }
    assert!(
        !rules.iter().any(|r| r.to_string().contains("\"*\"")),
        "no wildcard"
    );
    assert!(!allows("secrets", "get"), "Secret values are never read");
    // The admin token Secret holds a token the server takes.
    let token = of("Secret")["data"]["admin-token"].as_str().unwrap();
    use base64::Engine as _;
    let token = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    let (id, secret) = token.strip_prefix("pm_").unwrap().split_once('_').unwrap();
    assert!(!id.is_empty() && secret.len() >= 32, "{token}");
    // The ConfigMap's config is one `podmirror serve --config` accepts.
    let config = of("ConfigMap")["data"]["config.yaml"].as_str().unwrap();
    let parsed = podmirror_server::config::Config::parse(config, "configmap").unwrap();
    assert_eq!(parsed.mirror_ttl_seconds, 180);
    let deployment = of("Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "podmirror"
    );

    // The tap injector (off by default until the tap captures): its own
    // least-privilege role, and a configuration that never blocks a pod.
    assert!(!kinds.contains(&"MutatingWebhookConfiguration"));
    let (ok, out, err) = template(&helm, &["--set", "tap.enabled=true"]);
    assert!(ok, "{err}");
    let objects = docs(&out);
    let of = |kind: &str| objects.iter().find(|o| o["kind"] == kind).unwrap();
    let webhook_role = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "podmirror-webhook")
        .expect("the webhook's ClusterRole");
    assert_eq!(
        webhook_role["rules"],
        serde_json::json!([
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
            {"apiGroups": ["admissionregistration.k8s.io"],
             "resources": ["mutatingwebhookconfigurations"],
             "resourceNames": ["podmirror-tap"], "verbs": ["get", "patch"]},
        ])
    );
    let hook = &of("MutatingWebhookConfiguration")["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(hook["sideEffects"], "None");
    assert!(hook["timeoutSeconds"].as_u64().unwrap() <= 5);
    assert_eq!(hook["clientConfig"]["service"]["name"], "podmirror-webhook");

    // Settings that cannot work are refused with the reason.
    let (ok, _, err) = template(&helm, &["--set", "replicaCount=2"]);
    assert!(!ok && err.contains("needs a shared database"), "{err}");
    let (ok, _, err) = template(&helm, &["--set", "mirrorTtlSeconds=5"]);
    assert!(!ok && err.contains("between 30 and 3600"), "{err}");
    let (ok, out, err) = template(
        &helm,
        &[
            "--set",
            "replicaCount=2",
            "--set",
            "database.url=postgres://pm@db/pm",
            "--set",
            "orgs[0].name=acme",
            "--set",
            "orgs[0].namespaces[0]=shop",
        ],
    );
    assert!(ok, "{err}");
    let config = docs(&out)
        .into_iter()
        .find(|o| o["kind"] == "ConfigMap")
        .unwrap();
    let parsed = podmirror_server::config::Config::parse(
        config["data"]["config.yaml"].as_str().unwrap(),
        "c",
    )
    .unwrap();
    assert!(parsed.org("acme").unwrap().sees("shop"));

    // The raw manifests are the chart's rendering (no generated token).
    let (ok, rendered, err) = template(&helm, &["--set", "adminToken.create=false"]);
    assert!(ok, "{err}");
    let path = root().join("deploy/manifests/podmirror.yaml");
    if std::env::var_os("UPDATE_MANIFESTS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap() == rendered,
        "deploy/manifests/podmirror.yaml is not what the chart renders; UPDATE_MANIFESTS=1 rewrites it"
    );
}
