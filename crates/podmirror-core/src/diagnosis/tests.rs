//! The rules against the statuses, events and logs of each failure class,
//! worded as the API server, scheduler and kubelet word them.

use super::guess;
use super::*;

const NS: &str = "shop";

/// The patch without the `test` ops that guard container names.
fn changes(f: &Finding) -> Value {
    Value::Array(
        f.patch
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["op"] != "test")
            .cloned()
            .collect(),
    )
}

fn pod(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "x-7c9f-abcde", "namespace": NS, "uid": "u-1"}, "spec": spec, "status": status})
}

fn ctx(pod: Value) -> Context {
    Context {
        pod,
        owner: Some(Owner {
            kind: "Deployment".into(),
            name: "x".into(),
        }),
        nodes: (1..=3)
            .map(|i| NodeInfo {
                name: format!("sim-worker-{i}"),
                labels: BTreeMap::from([(
                    "kubernetes.io/hostname".to_string(),
                    format!("sim-worker-{i}"),
                )]),
                memory_bytes: 8 << 30,
                cpu_millis: 4000,
                ..Default::default()
            })
            .collect(),
        now: "2026-11-22T10:00:00Z".parse().ok(),
        ..Default::default()
    }
}

fn event(kind: &str, reason: &str, message: &str) -> EventLine {
    EventLine {
        kind: kind.into(),
        reason: reason.into(),
        message: message.into(),
        count: 3,
    }
}

fn one(image: &str) -> Value {
    json!({"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]})
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}}}]})
}

fn crashed(reason: &str, code: i64, message: &str) -> Value {
    json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"reason": reason, "exitCode": code, "message": message}}}]})
}

fn unschedulable(message: &str) -> Value {
    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]})
}

#[test]
fn a_healthy_pod_has_nothing_to_diagnose() {
    let ok = pod(
        one("web:1"),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
    );
    assert!(diagnose(&ctx(ok)).is_none());
}

#[test]
fn a_bad_tag_goes_back_to_the_last_tag_that_ran() {
    let image = "registry.example.com/shop/api:1.4.9";
    let mut c = ctx(pod(
        one(image),
        waiting(
            "ImagePullBackOff",
            &format!("Back-off pulling image \"{image}\""),
        ),
    ));
    // the kubelet's "Failed to pull image %q: %v" (pkg/kubelet/images/image_manager.go) around
    // containerd's NotFound for a tag the registry lacks (core/remotes/docker/resolver.go: "not found")
    c.events.push(event("Warning", "Failed", &format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found")));
    c.history = vec![
        Revision {
            number: 1,
            spec: one("registry.example.com/shop/api:1.4.1"),
            ran: true,
        },
        Revision {
            number: 2,
            spec: one(image),
            ran: false,
        },
    ];
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::ImagePull);
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/image", "value": "registry.example.com/shop/api:1.4.1"}])
    );
    assert_eq!(
        f.fix_command,
        "kubectl -n shop set image deployment/x app=registry.example.com/shop/api:1.4.1"
    );
    assert!(f.confidence_score >= 0.9);
    assert!(
        f.evidence.iter().any(|e| e.contains("revision 1 ran")),
        "{:?}",
        f.evidence
    );
    // Without a history that ran, it says what to do and does not guess.
    c.history.clear();
    let f = diagnose(&c).unwrap();
    assert!(!f.runnable && changes(&f) == json!([]) && f.fix_command.is_empty());
}

#[test]
fn a_private_image_uses_the_pull_secret_the_namespace_has() {
    let image = "registry.example.com/private/billing:3.2.0";
    let mut c = ctx(pod(one(image), waiting("ErrImagePull", "")));
    // containerd's words when the registry asks for credentials (the CRI plugin's
    // "pull access denied, repository does not exist or may require authorization")
    c.events.push(event("Warning", "Failed", &format!("Failed to pull image \"{image}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed")));
    let without = diagnose(&c).unwrap();
    assert!(!without.runnable);
    assert!(
        without
            .suggested_fix
            .contains("kubectl create secret docker-registry"),
        "{}",
        without.suggested_fix
    );
    c.secrets.insert(
        "regcred".into(),
        SecretInfo {
            kind: "kubernetes.io/dockerconfigjson".into(),
            keys: vec![".dockerconfigjson".into()],
        },
    );
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/imagePullSecrets", "value": [{"name": "regcred"}]}])
    );
    assert!(f.fix_command.starts_with("kubectl -n shop patch deployment x --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/template/spec/imagePullSecrets\""), "{}", f.fix_command);
}

#[test]
fn a_missing_env_var_is_named_and_filled_from_a_configmap_when_one_has_it() {
    let mut c = ctx(pod(
        one("registry.example.com/shop/api:1.4.2"),
        crashed("Error", 1, ""),
    ));
    c.logs.insert(
        "app".into(),
        (
            vec![],
            vec![
                "time=2024-11-05T09:14:02.118Z level=INFO msg=\"starting shop-api\"".into(),
                "time=2024-11-05T09:14:02.119Z level=ERROR msg=\"FATAL: DATABASE_URL is not set\""
                    .into(),
            ],
        ),
    );
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::CrashLoop);
    assert!(f.diagnosis.contains("DATABASE_URL"), "{}", f.diagnosis);
    assert!(!f.runnable, "only a person knows the value");
    assert!(
        f.suggested_fix
            .contains("set env deployment/x DATABASE_URL="),
        "{}",
        f.suggested_fix
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("FATAL: DATABASE_URL is not set"))
    );
    c.configmaps
        .insert("orders-config".into(), vec!["DATABASE_URL".into()]);
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/env", "value":
        [{"name": "DATABASE_URL", "valueFrom": {"configMapKeyRef": {"name": "orders-config", "key": "DATABASE_URL"}}}]}])
    );
}

#[test]
fn config_errors_say_what_to_create_and_change_nothing() {
    // the kubelet's CreateContainerConfigError texts (pkg/kubelet/kubelet_pods.go:
    // "configmap %q not found", "couldn't find key %v in Secret %v/%v")
    for (message, says) in [
        (
            "configmap \"cart-config\" not found",
            "Create the ConfigMap \"cart-config\"",
        ),
        (
            "couldn't find key STRIPE_KEY in Secret shop/payments",
            "Add the key STRIPE_KEY to Secret shop/payments",
        ),
        ("secret \"tls\" not found", "Create the Secret \"tls\""),
    ] {
        let f = diagnose(&ctx(pod(
            one("a:1"),
            waiting("CreateContainerConfigError", message),
        )))
        .unwrap();
        assert_eq!(f.category, Category::ConfigError);
        assert!(!f.runnable && f.fix_command.is_empty());
        assert!(
            f.suggested_fix.contains(says),
            "{message}: {}",
            f.suggested_fix
        );
    }
}

#[test]
fn an_oom_kill_raises_the_limit_with_headroom_within_the_largest_node() {
    let mut spec = one("registry.example.com/shop/reports:1.2.0");
    spec["containers"][0]["resources"] =
        json!({"limits": {"memory": "256Mi"}, "requests": {"memory": "256Mi"}});
    // the kubelet reports the cgroup OOM kill as terminated reason OOMKilled,
    // exit code 137 (pkg/kubelet/kuberuntime/kuberuntime_container.go)
    let f = diagnose(&ctx(pod(spec.clone(), crashed("OOMKilled", 137, "")))).unwrap();
    assert_eq!(f.category, Category::OomKilled);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/resources",
            "value": {"limits": {"memory": "1024Mi"}, "requests": {"memory": "256Mi"}}}])
    );
    assert_eq!(
        f.patch[0],
        json!({"op": "test", "path": "/containers/0/name", "value": "app"}),
        "the container is named before it is changed"
    );
    assert!(f.runnable);
    spec["containers"][0]["resources"]["limits"]["memory"] = json!("6Gi");
    let f = diagnose(&ctx(pod(spec, crashed("OOMKilled", 137, "")))).unwrap();
    assert_eq!(
        changes(&f)[0]["value"]["limits"]["memory"],
        "8192Mi",
        "capped by the largest node"
    );
}

/// A container that never ran: the runtime refused to create it (CRI-O).
fn refused_to_create(reason: &str, message: &str) -> Value {
    json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}}}]})
}

#[test]
fn a_bad_command_is_read_in_every_form_the_runtimes_report_it() {
    use CommandFailure::{NotExecutable, NotFound};
    // (status, the shell's last log line, what it is)
    let cases: Vec<(Value, &str, CommandFailure)> = vec![
        // containerd + runc, exec form, a name looked up in $PATH: runc's
        // "executable file not found in $PATH" (opencontainers/runc#4713,
        // containerd/containerd#3597), reason StartError, exit 128.
        (
            crashed(
                "StartError",
                128,
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"servr\": executable file not found in $PATH: unknown",
            ),
            "",
            NotFound,
        ),
        // containerd + runc, exec form, an absolute path: "stat X: no such
        // file or directory" (CyCoreSystems/asterisk-k8s-demo#25).
        (
            crashed(
                "StartError",
                128,
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/app/servr\": stat /app/servr: no such file or directory: unknown",
            ),
            "",
            NotFound,
        ),
        // Docker as the runtime: ContainerCannotRun, exit 127
        // (moby/moby#31702, vmware/vic#5658).
        (
            crashed(
                "ContainerCannotRun",
                127,
                "OCI runtime create failed: container_linux.go:380: starting container process caused: exec: \"/tmp/run.sh\": stat /tmp/run.sh: no such file or directory: unknown",
            ),
            "",
            NotFound,
        ),
        // CRI-O: the container is never created; it waits with
        // CreateContainerError and runc's words (cri-o/cri-o#9136).
        (
            refused_to_create(
                "CreateContainerError",
                "container create failed: runc create failed: unable to start container process: exec: \"/usr/bin/pod\": stat /usr/bin/pod: no such file or directory",
            ),
            "",
            NotFound,
        ),
        // CRI-O, a file without the execute bit (opencontainers/runc#4713).
        (
            refused_to_create(
                "CreateContainerError",
                "container create failed: runc create failed: unable to start container process: exec: \"/bin/config-reloader\": permission denied",
            ),
            "",
            NotExecutable,
        ),
        // Shell form: the shell (dash) prints and exits 127 / 126.
        (
            crashed("Error", 127, ""),
            "/bin/sh: 1: servr: not found",
            NotFound,
        ),
        (
            crashed("Error", 126, ""),
            "/bin/sh: 1: /app/run.sh: Permission denied",
            NotExecutable,
        ),
    ];
    for (status, log, kind) in cases {
        let mut spec = one("registry.example.org/acme/relay:2.0");
        spec["containers"][0]["command"] = json!(["/app/servr", "--port", "9000"]);
        spec["containers"][0]["args"] = json!(["--verbose"]);
        let mut c = ctx(pod(spec, status.clone()));
        if !log.is_empty() {
            c.logs.insert("app".into(), (vec![log.to_string()], vec![]));
        }
        let f = diagnose(&c).unwrap_or_else(|| panic!("no finding for {status}"));
        assert_eq!(f.category, Category::CrashLoop, "{status}");
        assert!(
            f.diagnosis.contains("cannot start its command"),
            "{status}: {}",
            f.diagnosis
        );
        match kind {
            NotFound => {
                assert!(f.diagnosis.contains("is not found"), "{}", f.diagnosis);
                assert!(f.runnable, "{status}");
                assert_eq!(
                    changes(&f),
                    json!([{"op": "remove", "path": "/containers/0/command"},
                           {"op": "remove", "path": "/containers/0/args"}])
                );
            }
            NotExecutable => {
                assert!(
                    f.diagnosis.contains("cannot be executed"),
                    "{}",
                    f.diagnosis
                );
                assert!(!f.runnable);
            }
        }
        // runc's words, without the layers around them
        if status.to_string().contains("exec: ") {
            assert!(f.diagnosis.contains(": exec: \""), "{}", f.diagnosis);
            assert!(
                !f.diagnosis.contains("failed to create shim task"),
                "{}",
                f.diagnosis
            );
            assert!(!f.diagnosis.ends_with(": unknown"), "{}", f.diagnosis);
        }
    }
}

#[test]
fn a_runtime_error_that_is_not_about_the_command_is_not_read_as_one() {
    // A bind mount that cannot be made also says "no such file or
    // directory", but not in runc's `exec:` words.
    let status = crashed(
        "StartError",
        128,
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting \"/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~configmap/cfg\" to rootfs at \"/etc/relay/relay.yaml\": no such file or directory: unknown",
    );
    let f = diagnose(&ctx(pod(
        one("registry.example.org/acme/relay:2.0"),
        status,
    )))
    .unwrap();
    assert!(
        !f.diagnosis.contains("cannot start its command"),
        "{}",
        f.diagnosis
    );
}

#[test]
fn a_bad_command_goes_back_to_the_command_and_args_of_a_revision_that_ran() {
    let mut spec = one("registry.example.com/shop/notifier:0.9.3");
    spec["containers"][0]["command"] = json!(["servr"]);
    let message = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"servr\": executable file not found in $PATH: unknown";
    let mut c = ctx(pod(spec, crashed("StartError", 128, message)));
    let f = diagnose(&c).unwrap();
    assert_eq!(
        changes(&f),
        json!([{"op": "remove", "path": "/containers/0/command"}])
    );
    assert!(f.diagnosis.contains("executable file not found"));
    let mut good = one("registry.example.com/shop/notifier:0.9.3");
    good["containers"][0]["command"] = json!(["/app/server"]);
    good["containers"][0]["args"] = json!(["--queue", "mail"]);
    c.history = vec![Revision {
        number: 3,
        spec: good,
        ran: true,
    }];
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/command", "value": ["/app/server"]},
               {"op": "add", "path": "/containers/0/args", "value": ["--queue", "mail"]}])
    );
    assert!(
        f.suggested_fix.contains("revision 3"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn an_image_whose_own_entrypoint_is_missing_is_told_so_and_nothing_is_guessed() {
    let message = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/docker-entrypoint.sh\": stat /docker-entrypoint.sh: no such file or directory: unknown";
    let f = diagnose(&ctx(pod(
        one("registry.example.org/acme/relay:2.0"),
        crashed("StartError", 128, message),
    )))
    .unwrap();
    assert!(f.diagnosis.contains("is not found"));
    assert!(
        f.suggested_fix.contains("entrypoint is missing"),
        "{}",
        f.suggested_fix
    );
    assert!(!f.runnable);
    assert_eq!(changes(&f), json!([]));
}

#[test]
fn a_probe_on_the_wrong_port_moves_to_the_container_port() {
    let mut spec = one("registry.example.com/shop/checkout:2.0.1");
    spec["containers"][0]["livenessProbe"] =
        json!({"httpGet": {"path": "/healthz", "port": 8081}, "periodSeconds": 5});
    let mut c = ctx(pod(spec, crashed("Error", 137, "")));
    c.pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] =
        json!("Completed");
    c.pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] = json!(0);
    // the prober's "%s probe failed: %s" (pkg/kubelet/prober/prober.go) around Go's
    // net/http error for a port nothing listens on
    c.events.push(event("Warning", "Unhealthy", "Liveness probe failed: Get \"http://10.244.1.5:8081/healthz\": dial tcp 10.244.1.5:8081: connect: connection refused"));
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Probe);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/livenessProbe/httpGet/port", "value": 8080}])
    );
    assert!(f.runnable);
}

#[test]
fn a_liveness_probe_that_gives_up_too_early_gets_a_startup_probe() {
    let mut spec = one("registry.example.com/shop/search:4.2.0");
    spec["containers"][0]["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 5, "periodSeconds": 5});
    let mut c = ctx(pod(
        spec,
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 2,
        "state": {"running": {}}, "lastState": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}),
    ));
    c.events.push(event("Warning", "Unhealthy", "Liveness probe failed: Get \"http://10.244.2.7:8080/healthz\": dial tcp 10.244.2.7:8080: connect: connection refused"));
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Probe);
    assert_eq!(changes(&f)[0]["path"], "/containers/0/startupProbe");
    assert_eq!(changes(&f)[0]["value"]["httpGet"]["port"], 8080);
    assert_eq!(changes(&f)[0]["value"]["failureThreshold"], 60);
    assert!(changes(&f)[0]["value"].get("initialDelaySeconds").is_none());
}

#[test]
fn unschedulable_pods_get_a_request_that_fits_or_lose_the_selector_or_tolerate_the_taint() {
    let mut spec = one("registry.example.com/shop/analytics:1.0.0");
    spec["containers"][0]["resources"] = json!({"requests": {"memory": "64Gi"}});
    // the scheduler's FitError (pkg/scheduler/framework/types.go: "0/%v nodes are available: %v.")
    // with NodeResourcesFit's "Insufficient memory" and the preemption summary
    let f = diagnose(&ctx(pod(spec, unschedulable("0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")))).unwrap();
    assert_eq!(f.category, Category::Unschedulable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/resources", "value": {"requests": {"memory": "4096Mi"}}}])
    );

    let mut spec = one("registry.example.com/shop/web:2.3.1");
    spec["nodeSelector"] = json!({"disktype": "ssd"});
    let f = diagnose(&ctx(pod(spec, unschedulable("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")))).unwrap();
    assert_eq!(
        changes(&f),
        json!([{"op": "remove", "path": "/nodeSelector"}])
    );
    assert!(
        f.fix_command
            .contains("\"op\":\"remove\",\"path\":\"/spec/template/spec/nodeSelector\""),
        "{}",
        f.fix_command
    );

    let mut spec = one("registry.example.com/shop/ranker:0.3.0");
    spec["nodeSelector"] = json!({"accelerator": "gpu"});
    let mut c = ctx(pod(
        spec,
        unschedulable(
            "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
    ));
    c.nodes[2].labels.insert("accelerator".into(), "gpu".into());
    c.nodes[2]
        .taints
        .push(("dedicated".into(), "gpu".into(), "NoSchedule".into()));
    let f = diagnose(&c).unwrap();
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/tolerations", "value": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}])
    );
    assert!(
        f.suggested_fix.contains("dedicated=gpu:NoSchedule"),
        "{}",
        f.suggested_fix
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.ends_with("taint dedicated=gpu:NoSchedule"))
    );

    // The older scheduler's words, naming the taint, read the same.
    c.pod["status"]["conditions"][0]["message"] = json!(
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector."
    );
    assert_eq!(diagnose(&c).unwrap().patch, f.patch);
}

/// A pod that cannot schedule because the only node is tainted by the
/// node lifecycle controller (its kubelet stopped reporting), as the 1.35
/// scheduler says it.
fn on_a_tainted_node(taint: (&str, &str)) -> Context {
    let mut c = ctx(pod(
        one("registry.example.com/shop/web:2.3.1"),
        unschedulable(
            "0/1 nodes are available: 1 node(s) had untolerated taint(s). no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
        ),
    ));
    c.nodes.truncate(1);
    c.nodes[0].name = "worker-1".into();
    c.nodes[0]
        .taints
        .push((taint.0.into(), String::new(), taint.1.into()));
    c
}

#[test]
fn a_node_that_is_down_is_a_node_problem_not_the_pods() {
    // the node lifecycle controller's taints for a node that stopped reporting
    // (k8s.io/api/core/v1 well_known_taints.go: TaintNodeUnreachable, TaintNodeNotReady)
    for taint in [
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    ] {
        let f = diagnose(&on_a_tainted_node(taint)).unwrap();
        assert_eq!(f.category, Category::Unschedulable);
        assert!(
            f.diagnosis.contains("node worker-1 is down"),
            "{}",
            f.diagnosis
        );
        assert!(f.diagnosis.contains("not the pod's"), "{}", f.diagnosis);
        assert!(
            f.suggested_fix.contains("kubectl describe node worker-1"),
            "{}",
            f.suggested_fix
        );
        assert!(
            !f.runnable && changes(&f) == json!([]),
            "no toleration is proposed"
        );
        assert!(f.evidence.iter().any(|e| e.contains(taint.0)));
    }
    let f = diagnose(&on_a_tainted_node((
        "node.kubernetes.io/unschedulable",
        "NoSchedule",
    )))
    .unwrap();
    assert!(f.diagnosis.contains("cordoned"), "{}", f.diagnosis);
    assert!(f.suggested_fix.contains("kubectl uncordon worker-1"));
}

#[test]
fn a_taint_the_pod_already_tolerates_is_not_the_one_to_fix() {
    let mut c = on_a_tainted_node(("gpu", "NoSchedule"));
    c.nodes[0]
        .taints
        .push(("team".into(), "ml".into(), "NoExecute".into()));
    c.pod["spec"]["tolerations"] = json!([{"key": "gpu", "operator": "Exists"}]);
    let f = diagnose(&c).unwrap();
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/tolerations", "value": [
            {"key": "gpu", "operator": "Exists"},
            {"key": "team", "operator": "Equal", "value": "ml", "effect": "NoExecute"}]}])
    );
    // PreferNoSchedule never blocks: with only that, nothing is proposed.
    let mut c = on_a_tainted_node(("soft", "PreferNoSchedule"));
    c.nodes[0].taints.truncate(1);
    let f = diagnose(&c).unwrap();
    assert!(changes(&f) == json!([]) && !f.runnable);
}

#[test]
fn an_unbound_claim_of_a_class_nobody_offers_says_what_to_recreate() {
    let mut c = ctx(pod(
        one("registry.example.com/shop/uploads:1.1.0"),
        // VolumeBinding's "pod has unbound immediate PersistentVolumeClaims"
        // (pkg/scheduler/framework/plugins/volumebinding/volume_binding.go)
        unschedulable(
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
    ));
    c.pvcs
        .insert("uploads-data".into(), ("Pending".into(), "fast-ssd".into()));
    c.storage_classes = vec!["standard".into(), "premium-rwo".into()];
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Unschedulable);
    assert!(!f.runnable);
    assert!(
        f.suggested_fix.contains("\"fast-ssd\"")
            && f.suggested_fix.contains("standard, premium-rwo"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn a_bare_pod_or_a_job_is_told_how_to_apply_what_cannot_be_patched() {
    let mut spec = one("a:1");
    spec["nodeSelector"] = json!({"disktype": "ssd"});
    let mut c = ctx(pod(
        spec,
        unschedulable(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
        ),
    ));
    c.owner = None;
    assert!(
        diagnose(&c)
            .unwrap()
            .fix_command
            .contains("cannot change: recreate it")
    );
    c.owner = Some(Owner {
        kind: "Job".into(),
        name: "migrate".into(),
    });
    let f = diagnose(&c).unwrap();
    assert!(
        f.fix_command.contains("delete and recreate the Job")
            && f.fix_command.contains("patch job migrate"),
        "{}",
        f.fix_command
    );
}

#[test]
fn memory_quantities_read_as_the_api_writes_them() {
    assert_eq!(memory_bytes("256Mi"), Some(256 << 20));
    assert_eq!(memory_bytes("1G"), Some(1_000_000_000));
    assert_eq!(memory_bytes("1.5Gi"), Some(3 << 29));
    assert_eq!(memory_bytes("1024"), Some(1024));
    assert_eq!(memory_bytes("lots"), None);
}

#[test]
fn requests_that_fit_a_node_are_not_raised_when_the_nodes_are_just_full() {
    let mut spec = one("a:1");
    spec["containers"][0]["resources"] = json!({"requests": {"memory": "100Mi"}});
    let f = diagnose(&ctx(pod(
        spec,
        unschedulable("0/3 nodes are available: 3 Insufficient memory."),
    )))
    .unwrap();
    assert!(!f.runnable && changes(&f) == json!([]));
    assert!(
        f.suggested_fix.contains("the nodes are full"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn a_failing_post_start_hook_goes_back_to_the_hook_that_ran_or_is_removed() {
    let hooked = |cmd: &str| {
        let mut spec = one("registry.example.com/shop/web:2.3.1");
        spec["containers"][0]["lifecycle"] =
            json!({"postStart": {"exec": {"command": ["/bin/sh", "-c", cmd]}}});
        spec
    };
    let mut c = ctx(pod(hooked("/app/warm-cache"), crashed("Error", 137, "")));
    c.events
        .push(event("Normal", "Started", "Container started"));
    c.events.push(event(
        "Warning",
        "FailedPostStartHook",
// the kubelet's FailedPostStartHook text before 1.34 (pkg/kubelet/lifecycle/handlers.go:
// "Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q")
        "Exec lifecycle hook ([/bin/sh -c /app/warm-cache]) for Container \"app\" in Pod \"x-7c9f-abcde_shop(u-1)\" failed - error: command '/bin/sh -c /app/warm-cache' exited with 127: , message: \"/bin/sh: 1: /app/warm-cache: not found\\n\"",
    ));
    c.events
        .push(event("Normal", "Killing", "FailedPostStartHook"));
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::LifecycleHook);
    assert!(
        f.diagnosis
            .contains("exit code 127: its command is not in the image"),
        "{}",
        f.diagnosis
    );
    assert_eq!(
        changes(&f),
        json!([{"op": "remove", "path": "/containers/0/lifecycle/postStart"}])
    );
    assert!(f.runnable && f.confidence_score < 0.6);
    // A revision that ran with another hook: that hook comes back.
    c.history = vec![Revision {
        number: 2,
        spec: hooked("/bin/true"),
        ran: true,
    }];
    let f = diagnose(&c).unwrap();
    assert_eq!(f.confidence_score, 0.85);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/lifecycle/postStart",
            "value": {"exec": {"command": ["/bin/sh", "-c", "/bin/true"]}}}])
    );
    // Kubelets since 1.34 say only "PostStartHook failed"; the hook's output
    // is the container's waiting message until its next start.
    c.events[1].message = "PostStartHook failed".into();
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::LifecycleHook);
    assert!(!f.diagnosis.contains("exit code"), "{}", f.diagnosis);
    c.pod["status"]["containerStatuses"][0]["state"] = json!({"waiting": {
        "reason": "PostStartHookError",
        "message": "Exec lifecycle hook ([/bin/sh -c /app/warm-cache]) for Container \"app\" in Pod \"x_shop(u-1)\" failed - error: command '/bin/sh -c /app/warm-cache' exited with 127: , message: \"not found\""
    }});
    let f = diagnose(&c).unwrap();
    assert!(f.diagnosis.contains("exit code 127"), "{}", f.diagnosis);
    assert!(
        f.evidence.iter().any(|e| e.contains("PostStartHookError")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn close_names_are_typos_other_separators_or_added_words_and_ties_are_all_kept() {
    use guess::closest;
    assert_eq!(
        closest("ledger-confg", ["ledger-config", "fx-config"]),
        ["ledger-config"]
    );
    assert_eq!(
        closest("LEDGER_CONFIG", ["ledger-config", "other"]),
        ["ledger-config"]
    );
    assert_eq!(
        closest("config", ["ledger-config", "unrelated"]),
        ["ledger-config"]
    );
    // a typo is closer than added words
    assert_eq!(
        closest("postng-db", ["posting-db", "postng-db-v2"]),
        ["posting-db"]
    );
    let mut tie = closest("rates-v1", ["rates-v2", "rates-v3"]);
    tie.sort_unstable();
    assert_eq!(tie, ["rates-v2", "rates-v3"]);
    assert!(closest("billing", ["ledger", "posting"]).is_empty());
    assert!(
        closest("db", ["db"]).is_empty(),
        "the name itself is not a guess"
    );
}

/// A container that waits with the kubelet's CreateContainerConfigError
/// text (pkg/kubelet/kuberuntime/kuberuntime_container.go and
/// pkg/kubelet/kubelet_pods.go word these messages).
fn config_error(spec: Value, message: &str) -> Context {
    ctx(pod(spec, waiting("CreateContainerConfigError", message)))
}

#[test]
fn a_missing_configmap_or_secret_with_a_close_name_in_the_namespace_is_pointed_at() {
    let mut spec = one("quay.example.net/ledger/posting:3.2.1");
    spec["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": "posting-confg"}}]);
    spec["containers"][0]["env"] = json!([{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "posting-tokn", "key": "token"}}}]);
    let mut c = config_error(spec.clone(), "configmap \"posting-confg\" not found");
    c.configmaps
        .insert("posting-config".into(), vec!["MODE".into()]);
    c.configmaps
        .insert("kube-root-ca.crt".into(), vec!["ca.crt".into()]);
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::ConfigError);
    assert!(f.runnable);
    assert!(
        f.confidence_score < 0.7,
        "a guess says so: {}",
        f.confidence_score
    );
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/envFrom/0/configMapRef/name", "value": "posting-config"}])
    );
    assert!(f.suggested_fix.contains("a guess"), "{}", f.suggested_fix);
    assert!(
        f.evidence.iter().any(|e| e.contains("close name")),
        "{:?}",
        f.evidence
    );

    let mut c = config_error(spec.clone(), "secret \"posting-tokn\" not found");
    c.secrets.insert(
        "posting-token".into(),
        SecretInfo {
            kind: "Opaque".into(),
            keys: vec!["token".into()],
        },
    );
    let f = diagnose(&c).unwrap();
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/env/0/valueFrom/secretKeyRef/name", "value": "posting-token"}])
    );

    // Two equally close: each is a candidate, tried in turn.
    let mut c = config_error(spec, "configmap \"posting-confg\" not found");
    c.configmaps.insert("posting-config".into(), vec![]);
    c.configmaps.insert("posting-confg2".into(), vec![]);
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    let tried: Vec<Value> = f.candidates.iter().map(|c| replaced(&c.patch)).collect();
    // equally close: by name
    assert_eq!(tried, [json!("posting-confg2"), json!("posting-config")]);
    assert_eq!(
        f.candidates[0].patch, f.patch,
        "the first candidate is the finding's own change"
    );
    assert!(
        f.candidates
            .iter()
            .all(|c| c.confidence_score < 0.5 && c.suggested_fix.contains("each is a guess"))
    );
    assert!(
        f.candidates
            .iter()
            .all(|c| c.fix_command.contains("kubectl -n shop patch deployment x"))
    );
}

#[test]
fn a_missing_key_with_a_close_key_in_the_same_object_is_read_instead() {
    let mut spec = one("quay.example.net/ledger/fx-rates:1.0");
    spec["containers"][0]["env"] = json!([{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "fx-feed", "key": "apikey"}}}]);
    let mut c = config_error(spec, "couldn't find key apikey in Secret ledger/fx-feed");
    c.secrets.insert(
        "fx-feed".into(),
        SecretInfo {
            kind: "Opaque".into(),
            keys: vec!["api-key".into(), "endpoint".into()],
        },
    );
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/env/0/valueFrom/secretKeyRef/key", "value": "api-key"}])
    );
}

#[test]
fn run_as_non_root_with_a_root_image_runs_as_a_conventional_non_root_user() {
    let mut spec = one("ghcr.example.io/edge/relay:0.4.2");
    spec["containers"][0]["securityContext"] =
        json!({"runAsNonRoot": true, "readOnlyRootFilesystem": true});
    let c = config_error(
        spec,
        "container has runAsNonRoot and image will run as root (pod: \"relay-5d8f9c7b6d-abcde_ledger(u-1)\", container: app)",
    );
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::ConfigError);
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/securityContext", "value":
            {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "runAsUser": 65532}}])
    );
    assert!(
        f.suggested_fix.contains("the image must work as that user"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn a_volume_of_a_missing_configmap_holds_the_pod_and_a_close_name_is_pointed_at() {
    let mut spec = one("quay.example.net/ledger/posting:3.2.1");
    spec["volumes"] = json!([{"name": "rules", "configMap": {"name": "posting-rule"}}]);
    spec["containers"][0]["volumeMounts"] = json!([{"name": "rules", "mountPath": "/etc/posting"}]);
    let status = json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}}]});
    let mut c = ctx(pod(spec, status));
    // the kubelet's volume manager (pkg/volume/util/operationexecutor)
    c.events.push(event(
        "Warning",
        "FailedMount",
        "MountVolume.SetUp failed for volume \"rules\" : configmap \"posting-rule\" not found",
    ));
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::ConfigError);
    assert!(!f.runnable);
    assert!(
        f.suggested_fix
            .contains("Create the ConfigMap \"posting-rule\""),
        "{}",
        f.suggested_fix
    );
    c.configmaps
        .insert("posting-rules".into(), vec!["rules.yaml".into()]);
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/volumes/0/configMap/name", "value": "posting-rules"}])
    );
}

#[test]
fn a_claim_that_does_not_exist_is_pointed_at_one_with_a_close_name() {
    let mut spec = one("quay.example.net/ledger/statements:5.1.0");
    spec["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "statement-data"}}]);
    // the scheduler's VolumeBinding plugin (pkg/scheduler/framework/plugins/volumebinding)
    let mut c = ctx(pod(
        spec,
        unschedulable(
            "0/2 nodes are available: persistentvolumeclaim \"statement-data\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        ),
    ));
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Unschedulable);
    assert!(!f.runnable);
    assert!(
        f.suggested_fix
            .contains("Create the PersistentVolumeClaim \"statement-data\""),
        "{}",
        f.suggested_fix
    );
    c.claim_names = vec!["statements-data".into(), "scratch".into()];
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/volumes/0/persistentVolumeClaim/claimName", "value": "statements-data"}])
    );
}

#[test]
fn a_file_the_log_misses_is_mounted_from_the_one_key_named_like_it() {
    let mut spec = one("ghcr.example.io/edge/relay:0.4.2");
    // as the API server returns it: admission added the token volume
    spec["volumes"] = json!([{"name": "kube-api-access-x1y2z", "projected": {"sources": []}}]);
    spec["containers"][0]["volumeMounts"] = json!([{"name": "kube-api-access-x1y2z", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]);
    let mut c = ctx(pod(spec, crashed("Error", 1, "")));
    c.logs.insert(
        "app".into(),
        (
            vec![],
            vec![
                "relayd: upstreams: open /etc/relay/upstreams.toml: no such file or directory"
                    .into(),
            ],
        ),
    );
    let f = diagnose(&c).unwrap();
    assert!(!f.runnable);
    c.configmaps
        .insert("relay-routes".into(), vec!["upstreams.toml".into()]);
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([
            {"op": "add", "path": "/volumes", "value": [{"name": "podmirror-relay-routes", "configMap": {"name": "relay-routes"}}]},
            {"op": "add", "path": "/containers/0/volumeMounts", "value": [
                {"name": "podmirror-relay-routes", "mountPath": "/etc/relay/upstreams.toml", "subPath": "upstreams.toml", "readOnly": true}]}
        ])
    );
    // Python's words, and a Secret too: two candidates, none picked.
    c.logs.insert(
        "app".into(),
        (vec![], vec!["FileNotFoundError: [Errno 2] No such file or directory: '/etc/relay/upstreams.toml'".into()]),
    );
    c.secrets.insert(
        "relay-secret".into(),
        SecretInfo {
            kind: "Opaque".into(),
            keys: vec!["upstreams.toml".into()],
        },
    );
    let f = diagnose(&c).unwrap();
    assert!(!f.runnable);
    assert!(
        f.suggested_fix
            .contains("ConfigMap relay-routes, Secret relay-secret"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn a_missing_env_var_that_several_objects_have_is_said_and_none_is_picked() {
    let mut c = ctx(pod(
        one("quay.example.net/ledger/statements:5.1.0"),
        crashed("Error", 2, ""),
    ));
    c.logs.insert(
        "app".into(),
        (vec![], vec!["panic: config: LEDGER_DSN is not set".into()]),
    );
    c.configmaps
        .insert("ledger-env".into(), vec!["LEDGER_DSN".into()]);
    c.secrets.insert(
        "ledger-db".into(),
        SecretInfo {
            kind: "Opaque".into(),
            keys: vec!["LEDGER_DSN".into()],
        },
    );
    let f = diagnose(&c).unwrap();
    assert!(!f.runnable);
    assert!(
        f.suggested_fix
            .contains("ConfigMap ledger-env, Secret ledger-db"),
        "{}",
        f.suggested_fix
    );
    c.configmaps.clear();
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/env", "value":
            [{"name": "LEDGER_DSN", "valueFrom": {"secretKeyRef": {"name": "ledger-db", "key": "LEDGER_DSN"}}}]}])
    );
}

#[test]
fn a_probe_path_the_app_answers_404_to_takes_the_path_its_sibling_probe_asks() {
    let mut spec = one("quay.example.net/ledger/fx-rates:1.0");
    spec["containers"][0]["readinessProbe"] =
        json!({"httpGet": {"path": "/healthz", "port": 9100}});
    spec["containers"][0]["livenessProbe"] = json!({"httpGet": {"path": "/status", "port": 9100}});
    let status = json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
        "state": {"running": {"startedAt": "2026-11-22T09:58:00Z"}}}]});
    let mut c = ctx(pod(spec, status));
    // the kubelet's prober (pkg/probe/http): "HTTP probe failed with statuscode: 404"
    c.events.push(event(
        "Warning",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 404",
    ));
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Probe);
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/readinessProbe/httpGet/path", "value": "/status"}])
    );
    assert_eq!(f.candidates.len(), 1);
    // No sibling and no history: the usual health paths, one candidate each,
    // in the order they are most common.
    let mut spec = one("quay.example.net/ledger/fx-rates:1.0");
    spec["containers"][0]["readinessProbe"] =
        json!({"httpGet": {"path": "/healthz", "port": 9100}});
    c.pod["spec"] = spec;
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    let paths: Vec<Value> = f.candidates.iter().map(|c| replaced(&c.patch)).collect();
    assert_eq!(
        paths,
        [
            "/health", "/livez", "/readyz", "/ready", "/status", "/ping", "/"
        ]
        .map(|p| json!(p))
    );
    assert!(
        f.candidates
            .windows(2)
            .all(|w| w[0].confidence_score > w[1].confidence_score)
    );
}

/// The value of a candidate patch's first `replace` (or `add`).
fn replaced(patch: &Value) -> Value {
    patch
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["op"] == "replace" || op["op"] == "add")
        .unwrap()["value"]
        .clone()
}

#[test]
fn a_bad_command_tries_the_revision_that_ran_then_the_entrypoint_and_a_root_image_two_users() {
    let mut spec = one("registry.example.com/shop/notifier:0.9.3");
    spec["containers"][0]["command"] = json!(["servr"]);
    let mut c = ctx(pod(spec, crashed("Error", 127, "")));
    let mut good = one("registry.example.com/shop/notifier:0.9.3");
    good["containers"][0]["command"] = json!(["/app/server"]);
    c.history = vec![Revision {
        number: 2,
        spec: good,
        ran: true,
    }];
    let f = diagnose(&c).unwrap();
    assert_eq!(f.candidates.len(), 2);
    assert!(f.candidates[0].suggested_fix.contains("revision 2"));
    assert!(f.candidates[1].suggested_fix.contains("entrypoint"));
    assert_eq!(
        f.with_candidate(1)
            .patch
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["op"] != "test")
            .cloned()
            .collect::<Vec<_>>(),
        [json!({"op": "remove", "path": "/containers/0/command"})]
    );

    let mut spec = one("ghcr.example.io/edge/gatekeeper:1.3");
    spec["securityContext"] = json!({"runAsNonRoot": true});
    let f = diagnose(&config_error(spec, "container has runAsNonRoot and image will run as root (pod: \"g_ledger(u-1)\", container: app)")).unwrap();
    let users: Vec<Value> = f
        .candidates
        .iter()
        .map(|c| replaced(&c.patch)["runAsUser"].clone())
        .collect();
    assert_eq!(users, [json!(65532), json!(1000)]);
}

/// A Deployment with no pod: its template as the context's pod, and what
/// its owner chain says.
fn workload(
    spec: Value,
    events: Vec<EventLine>,
    conditions: Vec<(&str, &str, &str, &str)>,
) -> Context {
    let mut c = ctx(
        json!({"metadata": {"name": "deployment/ledger-api", "namespace": "ledger"}, "spec": spec}),
    );
    c.owner = Some(Owner {
        kind: "Deployment".into(),
        name: "ledger-api".into(),
    });
    c.workload = Some(WorkloadState {
        kind: "Deployment".into(),
        name: "ledger-api".into(),
        desired: 2,
        pods: 0,
        events,
        conditions: conditions
            .into_iter()
            .map(|(t, s, r, m)| (t.into(), s.into(), r.into(), m.into()))
            .collect(),
    });
    c
}

fn with_resources(requests: Value, limits: Value) -> Value {
    let mut spec = one("quay.example.net/ledger/posting:3.2.1");
    spec["containers"][0]["resources"] = json!({"requests": requests, "limits": limits});
    spec
}

#[test]
fn a_pod_over_its_quota_asks_for_what_is_left() {
    // the ReplicaSet controller's "Error creating: %v" (pkg/controller/controller_utils.go)
    // around the quota admission's words (k8s.io/apiserver plugin/resourcequota/controller.go)
    let message = "Error creating: pods \"ledger-api-6d9f8b7c5-x2x4q\" is forbidden: exceeded quota: ledger-compute, requested: requests.memory=1Gi, used: requests.memory=3584Mi, limited: requests.memory=4Gi";
    let c = workload(
        with_resources(
            json!({"memory": "1Gi", "cpu": "250m"}),
            json!({"memory": "2Gi"}),
        ),
        vec![event("Warning", "FailedCreate", message)],
        vec![],
    );
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Admission);
    assert!(
        f.diagnosis
            .contains("refuses to create the pods of deployment/ledger-api (0 of 2 exist)"),
        "{}",
        f.diagnosis
    );
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/resources", "value":
            {"requests": {"memory": "512Mi", "cpu": "250m"}, "limits": {"memory": "2Gi"}}}])
    );
    assert!(
        f.fix_command
            .contains("kubectl -n ledger patch deployment ledger-api"),
        "{}",
        f.fix_command
    );
    assert!(f.suggested_fix.contains("a guess"), "{}", f.suggested_fix);

    // Used up: nothing to ask less of.
    let full = "Error creating: pods \"ledger-api-6d9f8b7c5-x2x4q\" is forbidden: exceeded quota: ledger-compute, requested: pods=1, used: pods=10, limited: pods=10";
    let f = diagnose(&workload(
        one("a:1"),
        vec![event("Warning", "FailedCreate", full)],
        vec![],
    ))
    .unwrap();
    assert!(!f.runnable);
    assert!(
        f.suggested_fix
            .contains("ledger-compute is used up: pods (10 used of 10)"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn a_quota_that_wants_every_value_set_gets_them() {
    // k8s.io/kubernetes pkg/quota/v1/evaluator/core/pods.go: "must specify %s for: %s"
    let message = "Error creating: pods \"ledger-api-6d9f8b7c5-x2x4q\" is forbidden: failed quota: ledger-compute: must specify limits.memory for: app; requests.cpu for: app";
    let c = workload(
        with_resources(json!({"memory": "256Mi"}), json!({"cpu": "500m"})),
        vec![event("Warning", "FailedCreate", message)],
        vec![],
    );
    let f = diagnose(&c).unwrap();
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "add", "path": "/containers/0/resources", "value":
            {"requests": {"memory": "256Mi", "cpu": "500m"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}])
    );
}

#[test]
fn a_missing_service_account_takes_a_close_one_then_the_default() {
    // plugin/pkg/admission/serviceaccount/admission.go
    let message = "Error creating: pods \"ledger-api-6d9f8b7c5-x2x4q\" is forbidden: error looking up service account ledger/ledger-wrtier: serviceaccount \"ledger-wrtier\" not found";
    let mut spec = one("quay.example.net/ledger/posting:3.2.1");
    spec["serviceAccountName"] = json!("ledger-wrtier");
    let mut c = workload(
        spec,
        vec![event("Warning", "FailedCreate", message)],
        vec![],
    );
    c.service_accounts = vec![
        "default".into(),
        "ledger-writer".into(),
        "ledger-reader".into(),
    ];
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Admission);
    assert!(f.runnable);
    let to: Vec<Value> = f.candidates.iter().map(|c| replaced(&c.patch)).collect();
    assert_eq!(to, [json!("ledger-writer"), json!("default")]);
    assert!(
        f.suggested_fix
            .contains("kubectl -n ledger create serviceaccount ledger-wrtier"),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn pod_security_settings_are_set_as_the_level_asks() {
    // the StatefulSet controller's words (pkg/controller/statefulset/stateful_pod_control.go)
    // around pod-security-admission's (admission/admission.go, policy/check_*.go)
    let message = "create Pod ledger-api-0 in StatefulSet ledger-api failed error: pods \"ledger-api-0\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";
    let f = diagnose(&workload(
        one("a:1"),
        vec![event("Warning", "FailedCreate", message)],
        vec![],
    ))
    .unwrap();
    assert!(f.runnable);
    assert_eq!(f.candidates.len(), 2);
    let sc = replaced(&f.candidates[0].patch);
    assert_eq!(
        sc,
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(replaced(&f.candidates[1].patch)["runAsUser"], 65532);
}

#[test]
fn a_webhook_refusal_is_said_in_its_words_and_nothing_is_guessed() {
    let message = "Error creating: admission webhook \"images.policy.example.net\" denied the request: image quay.example.net/ledger/posting:3.2.1 is not signed";
    let f = diagnose(&workload(
        one("a:1"),
        vec![event("Warning", "FailedCreate", message)],
        vec![],
    ))
    .unwrap();
    assert_eq!(f.category, Category::Admission);
    assert!(!f.runnable);
    assert!(f.diagnosis.contains("is not signed"), "{}", f.diagnosis);
    assert!(
        f.suggested_fix.contains("\"images.policy.example.net\""),
        "{}",
        f.suggested_fix
    );
}

#[test]
fn a_stalled_rollout_and_a_failed_job_are_named() {
    // pkg/controller/deployment/util/deployment_util.go: ReplicaSet "%s" has timed out progressing.
    let c = workload(
        one("a:1"),
        vec![],
        vec![(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "ReplicaSet \"ledger-api-6d9f8b7c5\" has timed out progressing.",
        )],
    );
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::Rollout);
    assert!(
        f.suggested_fix
            .contains("kubectl rollout undo deployment/ledger-api"),
        "{}",
        f.suggested_fix
    );
    // pkg/controller/job/job_controller.go: "Job has reached the specified backoff limit"
    let mut c = workload(
        one("a:1"),
        vec![],
        vec![(
            "Failed",
            "True",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )],
    );
    c.workload.as_mut().unwrap().kind = "Job".into();
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::JobFailed);
    assert!(f.diagnosis.contains("BackoffLimitExceeded"));
}

/// A pod as the tap injector leaves it: the tap first among the init
/// containers, its status annotation, and its status.
fn tapped(mut p: Value, tap_state: Value) -> Value {
    p["metadata"]["annotations"] = json!({"tap.podmirror.dev/status": "injected"});
    let mut init = vec![
        json!({"name": "podmirror-tap", "image": "ghcr.io/podmirror/podmirror:0.1.0", "restartPolicy": "Always"}),
    ];
    init.extend(list(&p, "/spec/initContainers").iter().cloned());
    p["spec"]["initContainers"] = Value::Array(init);
    let mut statuses = vec![
        json!({"name": "podmirror-tap", "ready": true, "restartCount": 0, "state": tap_state}),
    ];
    statuses.extend(list(&p, "/status/initContainerStatuses").iter().cloned());
    p["status"]["initContainerStatuses"] = Value::Array(statuses);
    p
}

#[test]
fn a_tapped_pod_is_judged_as_its_template_made_it() {
    // The template's only init container fails; in the pod the tap is
    // before it, so its index there is 1 and in the template 0.
    let spec = json!({"initContainers": [{"name": "migrate", "image": "registry.example.com/shop/api:1.4.1", "command": ["/app/migrat"]}],
                      "containers": [{"name": "api", "image": "registry.example.com/shop/api:1.4.1"}]});
    let status = json!({"phase": "Pending",
        "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "RunContainerError", "message": "exec: \"/app/migrat\": stat /app/migrat: no such file or directory"}}}],
        "containerStatuses": [{"name": "api", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]});
    let plain = diagnose(&ctx(pod(spec.clone(), status.clone()))).unwrap();
    let tapped_pod = tapped(pod(spec, status), json!({"running": {}}));
    let f = diagnose(&ctx(tapped_pod)).unwrap();
    assert_eq!(
        f.patch, plain.patch,
        "the same change as for the untapped pod"
    );
    assert!(
        f.patch.as_array().unwrap().iter().all(|op| !op["path"]
            .as_str()
            .unwrap()
            .starts_with("/initContainers/1")),
        "{}",
        f.patch
    );
    assert_eq!(f.diagnosis, plain.diagnosis);
}

#[test]
fn a_tap_that_cannot_start_is_named_and_not_patched_into_the_template() {
    let image = "registry.example.com/shop/api:1.4.1";
    let status = json!({"phase": "Pending",
        "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]});
    let p = tapped(
        pod(one(image), status),
        json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/podmirror/podmirror:0.1.0\""}}),
    );
    let f = diagnose(&ctx(p)).unwrap();
    assert_eq!(f.category, Category::InitContainer);
    assert!(
        f.diagnosis.contains("traffic tap") && f.diagnosis.contains("ImagePullBackOff"),
        "{}",
        f.diagnosis
    );
    assert!(
        f.suggested_fix.contains("tap.podmirror.dev/inject"),
        "{}",
        f.suggested_fix
    );
    assert!(!f.runnable && f.fix_command.is_empty());
}

fn endpoint(method: &str, template: &str, answered: u64, errors: u64) -> EndpointTraffic {
    EndpointTraffic {
        method: method.into(),
        template: template.into(),
        answered,
        errors,
        top_error: 500,
        errors_since: (errors > 0).then(|| "2026-11-22T09:54:00Z".parse().unwrap()),
    }
}

#[test]
fn a_ready_pod_that_answers_500s_goes_back_to_the_revision_before() {
    let now = "registry.example.com/shop/api:1.4.2";
    let before = "registry.example.com/shop/api:1.4.1";
    let ready = json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]});
    let mut c = ctx(tapped(pod(one(now), ready), json!({"running": {}})));
    // Healthy and no figures: nothing to say.
    assert!(diagnose(&c).is_none());
    c.traffic = Some(Traffic {
        window_minutes: 10,
        ports: vec![8080],
        endpoints: vec![
            endpoint("GET", "/api/orders", 200, 64),
            endpoint("GET", "/healthz", 50, 0),
        ],
    });
    c.history = vec![
        Revision {
            number: 1,
            spec: one(before),
            ran: false,
        },
        Revision {
            number: 2,
            spec: one(now),
            ran: true,
        },
    ];
    let f = diagnose(&c).unwrap();
    assert_eq!(f.category, Category::ServerErrors);
    assert!(
        f.diagnosis
            .starts_with("The pod is Running and Ready, yet 32% of GET /api/orders answer 500 (64 of 200 in the last 10 minutes) since 09:54 UTC"),
        "{}",
        f.diagnosis
    );
    assert!(
        f.suggested_fix.contains("revision 1"),
        "{}",
        f.suggested_fix
    );
    assert!(f.runnable);
    assert_eq!(
        changes(&f),
        json!([{"op": "replace", "path": "/containers/0/image", "value": before}])
    );
    assert_eq!(
        f.fix_command,
        format!("kubectl -n shop set image deployment/x app={before}")
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("tap: GET /api/orders"))
    );
    // A mirror proves it by answering the same requests.
    let check = f.requests.clone().unwrap();
    assert_eq!(
        (check.method.as_str(), check.path.as_str(), check.port),
        ("GET", "/api/orders", 8080)
    );
    assert!((check.source_error_share - 0.32).abs() < 1e-9);
    // A POST is not sent again.
    let mut posted = c.clone();
    if let Some(t) = posted.traffic.as_mut() {
        t.endpoints[0].method = "POST".into();
    }
    assert!(diagnose(&posted).unwrap().requests.is_none());

    // Without a revision to go back to, it says what to look at instead.
    let mut alone = c.clone();
    alone.history.truncate(0);
    let f = diagnose(&alone).unwrap();
    assert!(!f.runnable && f.suggested_fix.contains("No earlier revision"));

    // Too few requests, too small a share, or errors that stopped: nothing.
    for e in [
        endpoint("GET", "/api/orders", 10, 5),
        endpoint("GET", "/api/orders", 200, 10),
        EndpointTraffic {
            errors_since: None,
            ..endpoint("GET", "/api/orders", 200, 64)
        },
    ] {
        let mut quiet = c.clone();
        quiet.traffic = Some(Traffic {
            window_minutes: 10,
            ports: vec![8080],
            endpoints: vec![e.clone()],
        });
        assert!(diagnose(&quiet).is_none(), "{e:?}");
    }
}
