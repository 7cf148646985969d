//! The sim's kubelet and scheduler say what the real ones say: each text is
//! checked against the Go source of the Kubernetes release that
//! `tools/control-plane/kubernetes/go.mod` pins, read from the Go module
//! cache that `scripts/build-control-plane` fills. Without that cache the
//! test skips, unless `PODMIRROR_REQUIRE_REAL_CLUSTER` is set (CI).

#![allow(clippy::unwrap_used)]

use podmirror_sim::kubelet::rules::{self, ProbeFailure, ProbeKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `GOMODCACHE/k8s.io/kubernetes@VERSION`, if it is there.
fn kubernetes_source() -> Option<PathBuf> {
    let go_mod =
        std::fs::read_to_string(root().join("tools/control-plane/kubernetes/go.mod")).ok()?;
    let version = go_mod.lines().find_map(|l| {
        let l = l.trim().trim_start_matches("require ").trim();
        l.strip_prefix("k8s.io/kubernetes ")
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string)
    })?;
    let cache = std::env::var_os("GOMODCACHE")
        .map(PathBuf::from)
        .or_else(|| {
            let out = std::process::Command::new("go")
                .args(["env", "GOMODCACHE"])
                .output()
                .ok()?;
            let text = String::from_utf8(out.stdout).ok()?;
            (!text.trim().is_empty()).then(|| PathBuf::from(text.trim()))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("go/pkg/mod")))?;
    let dir = cache.join(format!("k8s.io/kubernetes@{version}"));
    dir.is_dir().then_some(dir)
}

/// Go's `fmt.Sprintf` for the verbs these texts use (`%s`, `%v`, `%d`,
/// `%q` of plain strings), the arguments given as text.
fn sprintf(format: &str, args: &[&str]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&format!("{:?}", args.next().unwrap())),
            Some('s' | 'v' | 'd') => out.push_str(args.next().unwrap()),
            other => panic!("verb %{other:?} in {format:?}"),
        }
    }
    assert!(
        args.next().is_none(),
        "more arguments than verbs in {format:?}"
    );
    out
}

#[test]
fn kubelet_and_scheduler_texts_match_the_kubernetes_source() {
    let Some(src) = kubernetes_source() else {
        assert!(
            std::env::var_os("PODMIRROR_REQUIRE_REAL_CLUSTER").is_none(),
            "the Kubernetes source is not in the Go module cache: run scripts/build-control-plane"
        );
        eprintln!(
            "skipped: the Kubernetes source is not in the Go module cache (scripts/build-control-plane puts it there)"
        );
        return;
    };
    let read = |file: &str| {
        std::fs::read_to_string(src.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    // (Go file, the literal in it, its arguments, what the sim says)
    let image = "pkg/kubelet/images/image_manager.go";
    let runtime = "pkg/kubelet/kuberuntime/kuberuntime_manager.go";
    let container = "pkg/kubelet/kuberuntime/kuberuntime_container.go";
    let prober = "pkg/kubelet/prober/prober.go";
    let pod = rules::format_pod("api-7d9c", "shop", "u1");
    let cases: Vec<(&str, &str, Vec<&str>, String)> = vec![
        (
            image,
            "Pulling image %q",
            vec!["nginx:1.27"],
            rules::pulling_event("nginx:1.27"),
        ),
        (
            image,
            "Successfully pulled image %q in %v (%v including waiting). Image size: %v bytes.",
            vec!["nginx:1.27", "1.5s", "1.5s", "1234"],
            rules::pulled_event("nginx:1.27", Duration::from_millis(1500), 1234),
        ),
        (
            image,
            "Container image %q already present on machine",
            vec!["nginx:1.27"],
            rules::already_present_event("nginx:1.27"),
        ),
        (
            image,
            "Failed to pull image %q: %v",
            vec!["nginx:1.27", "not found"],
            rules::pull_failed_event("nginx:1.27", "not found"),
        ),
        (
            image,
            "Back-off pulling image %q",
            vec!["nginx:1.27"],
            rules::pull_backoff_event("nginx:1.27"),
        ),
        (
            runtime,
            "Back-off restarting failed container %s in pod %s",
            vec!["api", &pod],
            rules::backoff_event("api", "api-7d9c", "shop", "u1"),
        ),
        (
            runtime,
            "back-off %s restarting failed container=%s pod=%s",
            vec!["40s", "api", &pod],
            rules::backoff_message("api", "api-7d9c", "shop", "u1", Duration::from_secs(40)),
        ),
        (
            runtime,
            "Container %s failed liveness probe",
            vec!["api"],
            rules::probe_kill_event("api", ProbeKind::Liveness)
                .trim_end_matches(", will be restarted")
                .to_string(),
        ),
        (
            runtime,
            "%s, will be restarted",
            vec!["Container api failed startup probe"],
            rules::probe_kill_event("api", ProbeKind::Startup),
        ),
        (
            container,
            "Container created",
            vec![],
            rules::created_event("api"),
        ),
        (
            container,
            "Container started",
            vec![],
            rules::started_event("api"),
        ),
        (
            container,
            "PostStartHook failed",
            vec![],
            rules::POST_START_HOOK_FAILED.to_string(),
        ),
        (
            container,
            "Error: %v",
            vec!["ErrImagePull"],
            rules::error_event("ErrImagePull"),
        ),
        (
            container,
            "Stopping container %s",
            vec!["api"],
            rules::stopping_event("api"),
        ),
        (
            prober,
            "%s probe failed: %s",
            vec!["Liveness", "HTTP probe failed with statuscode: 404"],
            rules::unhealthy_event(
                ProbeKind::Liveness,
                &ProbeFailure {
                    errored: false,
                    output: "HTTP probe failed with statuscode: 404".into(),
                },
            ),
        ),
        (
            prober,
            "%s probe errored and resulted in %s state: %s",
            vec!["Readiness", "unknown", "port metrics not found"],
            rules::unhealthy_event(
                ProbeKind::Readiness,
                &ProbeFailure {
                    errored: true,
                    output: "port metrics not found".into(),
                },
            ),
        ),
        (
            "pkg/probe/http/http.go",
            "HTTP probe failed with statuscode: %d",
            vec!["404"],
            "HTTP probe failed with statuscode: 404".to_string(),
        ),
        (
            "pkg/kubelet/active_deadline.go",
            "Pod was active on the node longer than the specified deadline",
            vec![],
            rules::DEADLINE_EXCEEDED.to_string(),
        ),
    ];
    let mut wrong = Vec::new();
    for (file, literal, args, sim) in &cases {
        let go = read(file);
        if !go.contains(&format!("\"{literal}\"")) {
            wrong.push(format!("{file} no longer says {literal:?}"));
            continue;
        }
        let real = sprintf(literal, args);
        if &real != sim {
            wrong.push(format!(
                "{file}: the kubelet says {real:?}, the sim {sim:?}"
            ));
        }
    }
    // The scheduler's reasons, which the sim's scheduler composes as the
    // real one does (its own tests check the composition).
    let scheduler = include_str!("../src/controllers/scheduler_rules.rs");
    for (file, literal) in [
        (
            "pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go",
            "node(s) had untolerated taint(s)",
        ),
        (
            "pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go",
            "node(s) didn't match Pod's node affinity/selector",
        ),
        (
            "pkg/scheduler/framework/plugins/nodename/node_name.go",
            "node(s) didn't match the requested node name",
        ),
        (
            "pkg/scheduler/framework/plugins/volumebinding/volume_binding.go",
            "pod has unbound immediate PersistentVolumeClaims",
        ),
        (
            "pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go",
            "No preemption victims found for incoming pod",
        ),
        (
            "pkg/scheduler/framework/preemption/preemption.go",
            "Preemption is not helpful for scheduling",
        ),
        (
            "pkg/scheduler/framework/plugins/dynamicresources/dynamicresources.go",
            "no new claims to deallocate",
        ),
    ] {
        if !read(file).contains(&format!("\"{literal}\"")) {
            wrong.push(format!("{file} no longer says {literal:?}"));
        }
        if !scheduler.contains(literal) {
            wrong.push(format!("the sim's scheduler never says {literal:?}"));
        }
    }
    let fit = read("pkg/scheduler/framework/plugins/noderesources/fit.go");
    assert!(fit.contains("\"Insufficient %v\""));
    assert!(
        scheduler.contains("\"Insufficient cpu\"") && scheduler.contains("\"Insufficient memory\"")
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn quota_refusals_match_the_kubernetes_source() {
    let Some(src) = kubernetes_source() else {
        assert!(
            std::env::var_os("PODMIRROR_REQUIRE_REAL_CLUSTER").is_none(),
            "the Kubernetes source is not in the Go module cache: run scripts/build-control-plane"
        );
        eprintln!("skipped: the Kubernetes source is not in the Go module cache");
        return;
    };
    // k8s.io/apiserver v0.N.M is released with k8s.io/kubernetes v1.N.M
    let version = src
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace("kubernetes@v1.", "apiserver@v0.");
    let apiserver = src.parent().unwrap().join(version);
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let controller = read(apiserver.join("pkg/admission/plugin/resourcequota/controller.go"));
    let pods = read(src.join("pkg/quota/v1/evaluator/core/pods.go"));
    let quota = serde_json::json!({"metadata": {"name": "batch-compute"}, "spec": {"hard": {"requests.memory": "1Gi"}}});
    let pod = |requests: serde_json::Value| serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]}});
    let none: Vec<serde_json::Value> = Vec::new();
    let exceeded = podmirror_sim::apiserver::quota::refusal(
        &pod(serde_json::json!({"memory": "2Gi"})),
        [&quota].into_iter(),
        none.iter(),
    )
    .unwrap();
    let format = "exceeded quota: %s, requested: %s, used: %s, limited: %s";
    assert!(
        controller.contains(format),
        "{format} is not in controller.go"
    );
    assert_eq!(
        exceeded,
        sprintf(
            format,
            &[
                "batch-compute",
                "requests.memory=2Gi",
                "requests.memory=0",
                "requests.memory=1Gi"
            ]
        )
    );
    let unspecified = podmirror_sim::apiserver::quota::refusal(
        &pod(serde_json::json!({"cpu": "1"})),
        [&quota].into_iter(),
        none.iter(),
    )
    .unwrap();
    for literal in ["failed quota: %s: %v", "must specify %s", "%s for: %s"] {
        assert!(
            controller.contains(literal) || pods.contains(literal),
            "{literal} is not in the source"
        );
    }
    assert_eq!(
        unspecified,
        sprintf(
            "failed quota: %s: %v",
            &[
                "batch-compute",
                &sprintf(
                    "must specify %s",
                    &[&sprintf("%s for: %s", &["requests.memory", "app"])]
                )
            ]
        )
    );
}
