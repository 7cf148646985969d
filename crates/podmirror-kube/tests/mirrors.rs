//! Sim tier: a mirror's life against the simulated cluster — source
//! resolution, the cleaned manifest accepted as a new pod, not adopted by the
//! source's ReplicaSet, listed, deleted, and reaped on the server's clock.

#![allow(clippy::unwrap_used)]

use podmirror_core::changes::Change;
use podmirror_core::contract::ANN_TTL_SECONDS;
use podmirror_core::mirror::{self, MirrorInfo, MirrorOptions};
use podmirror_kube::{mirrors, source};
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use podmirror_sim::{Sim, SimOptions};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A running sim (controllers, scheduler, kubelet, 3 nodes) at 20× speed with
/// one healthy Deployment `web` of one replica in namespace `shop`.
async fn cluster() -> Sim {
    let sim = Sim::with_options(SimOptions {
        time_scale: 20.0,
        seed: Some(7),
        ..Default::default()
    });
    let nodes: Vec<_> = (1..=3)
        .map(|i| podmirror_sim::nodes::NodeSpec::worker(&format!("sim-worker-{i}")))
        .collect();
    podmirror_sim::nodes::start(&sim, &nodes);
    sim.start_controllers();
    podmirror_sim::kubelet::start(&sim, Arc::new(podmirror_sim::catalog::Catalog::builtin()));
    let opts = WriteOptions::manager("test");
    sim.cluster
        .create(
            ids::namespaces(),
            "",
            json!({"metadata": {"name": "shop"}}),
            &opts,
        )
        .unwrap();
    sim.cluster
        .create(
            ids::deployments(),
            "shop",
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                        "name": "web", "image": "registry.example.com/shop/web:2.3.1",
                        "ports": [{"containerPort": 8080}]}]}}}
            }),
            &opts,
        )
        .unwrap();
    sim
}

fn pods_of(sim: &Sim, ns: &str) -> Vec<Value> {
    let data = sim.cluster.store.read();
    data.iter(ids::pods(), Some(ns), None)
        .map(|(_, s)| (*s.value()).clone())
        .collect()
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

#[tokio::test]
async fn a_mirror_is_created_listed_left_alone_by_its_replicaset_and_deleted() {
    let sim = cluster().await;
    let client = sim.client();
    let source_name = until("the web pod", || {
        pods_of(&sim, "shop").first().and_then(|p| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    })
    .await;

    let source = source::resolve(&client, "shop", &source_name)
        .await
        .unwrap();
    assert_eq!(source.owner.as_deref(), Some("Deployment/web"));
    assert!(!source.from_template);
    let opts = MirrorOptions {
        created_by: "alice".into(),
        source_owner: source.owner.clone(),
        ..Default::default()
    };
    let manifest = mirror::build(
        &source.pod,
        &[Change::set_image("web=registry.example.com/shop/web:2.3.0").unwrap()],
        &opts,
        "t3st1",
    )
    .unwrap();
    mirrors::dry_run(&client, &manifest).await.unwrap();
    assert_eq!(pods_of(&sim, "shop").len(), 1, "a dry run creates nothing");
    let created = mirrors::create(&client, &manifest).await.unwrap();
    let id = created["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(id, format!("{source_name}-mirror-t3st1"));

    // The ReplicaSet neither adopts the mirror nor replaces anything for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pods = pods_of(&sim, "shop");
    assert_eq!(pods.len(), 2);
    let mirror_pod = pods
        .iter()
        .find(|p| p["metadata"]["name"] == id.as_str())
        .unwrap();
    assert!(mirror_pod["metadata"].get("ownerReferences").is_none());
    // The source's Service selects its pods by label; the mirror is not among them.
    let svc = sim
        .cluster
        .create(
            ids::services(),
            "shop",
            json!({"metadata": {"name": "web"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
            &WriteOptions::manager("test"),
        )
        .unwrap();
    let selector: Vec<String> = svc["spec"]["selector"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), "shop");
    let selected: Vec<String> = api
        .list(&kube::api::ListParams::default().labels(&selector.join(",")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(
        selected,
        vec![source_name.clone()],
        "the Service selects the source only"
    );
    assert_eq!(
        mirror_pod["spec"]["containers"][0]["image"],
        "registry.example.com/shop/web:2.3.0"
    );

    let listed = mirrors::list(&client, Some("shop")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.id, id);
    assert_eq!(listed[0].0.target(), "deployment/web");
    assert!(
        mirrors::list(&client, Some("default"))
            .await
            .unwrap()
            .is_empty()
    );

    let (info, _) = mirrors::find(&client, None, &id).await.unwrap();
    assert!(mirrors::delete(&client, &info).await.unwrap());
    until("the mirror to go", || {
        (!pods_of(&sim, "shop")
            .iter()
            .any(|p| p["metadata"]["name"] == id.as_str()))
        .then_some(())
    })
    .await;
    assert!(
        !mirrors::delete(&client, &info).await.unwrap(),
        "deleting twice is not an error"
    );
    let e = mirrors::find(&client, None, &id)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("podmirror status -A"), "{e}");
}

#[tokio::test]
async fn a_workload_template_is_a_source_and_bad_targets_say_what_to_give() {
    let sim = cluster().await;
    let client = sim.client();
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    assert!(s.from_template);
    assert_eq!(s.name(), "web");
    assert_eq!(s.deployment(), Some("web"));
    let manifest = mirror::build(&s.pod, &[], &MirrorOptions::default(), "abcde").unwrap();
    mirrors::dry_run(&client, &manifest).await.unwrap();

    let e = source::resolve(&client, "shop", "nope")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("pod \"nope\" not found in namespace \"shop\""),
        "{e}"
    );
    let e = source::resolve(&client, "shop", "cronjob/x")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("deployment/NAME"), "{e}");
}

#[tokio::test]
async fn the_reaper_deletes_what_expired_on_the_server_clock_and_nothing_else() {
    let sim = cluster().await;
    let client = sim.client();
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    let mut short = mirror::build(&s.pod, &[], &MirrorOptions::default(), "short").unwrap();
    // A TTL below the CLI's minimum, set directly, so the test need not wait 30 s.
    // Two seconds, not one: creationTimestamp and the Date header have
    // one-second resolution, so a one-second TTL may read as expired at once.
    short["metadata"]["annotations"][ANN_TTL_SECONDS] = json!("2");
    let long = mirror::build(&s.pod, &[], &MirrorOptions::default(), "longg").unwrap();
    mirrors::create(&client, &short).await.unwrap();
    mirrors::create(&client, &long).await.unwrap();

    let first = mirrors::reap(&client).await.unwrap();
    assert!(
        first.deleted.is_empty(),
        "nothing has expired yet: {first:?}"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let second = mirrors::reap(&client).await.unwrap();
    assert_eq!(second.deleted, vec!["web-mirror-short".to_string()]);
    assert_eq!(second.kept, vec!["web-mirror-longg".to_string()]);
    // Idempotent: the next pass finds nothing more to do.
    until("the expired mirror to be removed", || {
        (!pods_of(&sim, "shop")
            .iter()
            .any(|p| p["metadata"]["name"] == "web-mirror-short"))
        .then_some(())
    })
    .await;
    let third = mirrors::reap(&client).await.unwrap();
    assert!(third.deleted.is_empty());
}

#[tokio::test]
async fn a_bare_pod_with_the_api_servers_defaults_mirrors_into_a_valid_new_pod() {
    let sim = cluster().await;
    let client = sim.client();
    sim.cluster
        .create(
            ids::pods(),
            "shop",
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "debug", "labels": {"app": "debug"},
                             "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                "spec": {
                    "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1",
                                    "env": [{"name": "MODE", "value": "x"}],
                                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}],
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
                }
            }),
            &WriteOptions::manager("kubectl-client-side-apply"),
        )
        .unwrap();
    let src = source::resolve(&client, "shop", "debug").await.unwrap();
    assert_eq!(src.owner, None);
    // The sim defaulted it as a real API server would: token volume, tolerations, scheduler...
    assert!(
        src.pod
            .pointer("/spec/volumes/0/name")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("kube-api-access-")
    );
    let opts = MirrorOptions {
        strip_probes: true,
        ..Default::default()
    };
    let m = mirror::build(
        &src.pod,
        &[Change::set_env("web:MODE=y").unwrap()],
        &opts,
        "bare1",
    )
    .unwrap();
    assert!(
        m["spec"].get("volumes").is_none(),
        "token volume removed: {m}"
    );
    assert_eq!(
        m["spec"]["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    );
    assert!(m["spec"]["containers"][0].get("livenessProbe").is_none());
    assert!(
        m["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    let created = mirrors::create(&client, &m).await.unwrap();
    // Admission adds its defaults back to the new pod.
    assert!(
        created
            .pointer("/spec/volumes/0/name")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(
        created["spec"]["containers"][0]["env"],
        json!([{"name": "MODE", "value": "y"}])
    );
}

#[tokio::test]
async fn the_reaper_loop_deletes_a_mirror_within_two_seconds_of_its_expiry() {
    let sim = cluster().await;
    let client = sim.client();
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    let mut m = mirror::build(&s.pod, &[], &MirrorOptions::default(), "loop1").unwrap();
    m["metadata"]["annotations"][ANN_TTL_SECONDS] = json!("2");
    let created = mirrors::create(&client, &m).await.unwrap();
    let info = podmirror_core::mirror::MirrorInfo::from_pod(&created).unwrap();
    let expires = info.expires.unwrap();
    let reaper = tokio::spawn(mirrors::reap_every(
        client.clone(),
        Duration::from_millis(200),
    ));
    let deleted_at = until("the reaper to delete the mirror", || {
        let data = sim.cluster.store.read();
        let gone = data
            .get_stored(ids::pods(), "shop", "web-mirror-loop1")
            .is_none_or(|p| p.select.deleting);
        gone.then(jiff::Timestamp::now)
    })
    .await;
    reaper.abort();
    // creationTimestamp has one-second resolution, so expiry is known to within a second.
    let late = deleted_at.as_millisecond() - expires.as_millisecond();
    assert!(late >= -1000, "deleted {late} ms before expiry");
    assert!(late <= 2000, "deleted {late} ms after expiry");
}

/// Makes the scale-down Lease of `deployment` look taken two minutes ago,
/// past the reaper's grace for a mirror on its way.
fn age_scale_down_lease(sim: &Sim, deployment: &str) {
    let then = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(120))
        .unwrap()
        .to_string();
    sim.cluster
        .patch(
            ids::leases(),
            "shop",
            &format!("podmirror-scaledown-{deployment}"),
            None,
            podmirror_sim::patch::PatchType::Merge,
            &json!({"spec": {"acquireTime": then}}),
            &WriteOptions::manager("test"),
        )
        .unwrap();
}

fn deployment(sim: &Sim, name: &str) -> Value {
    (*sim.cluster.get(ids::deployments(), "shop", name).unwrap()).clone()
}

#[tokio::test]
async fn scale_down_takes_the_lease_refuses_a_second_mirror_and_restores_on_delete_or_by_the_reaper()
 {
    use podmirror_core::contract::{ANN_ORIGINAL_REPLICAS, ANN_SCALED_DOWN_BY};
    use podmirror_kube::scaledown;
    let sim = cluster().await;
    let client = sim.client();
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    let opts = MirrorOptions {
        created_by: "alice".into(),
        scales_down: Some("web".into()),
        ..Default::default()
    };
    let first = mirror::build(&s.pod, &[], &opts, "first").unwrap();
    let sd = scaledown::scale_down(&client, "shop", "web", "web-mirror-first")
        .await
        .unwrap();
    assert_eq!(sd.original_replicas, 1);
    mirrors::create(&client, &first).await.unwrap();
    let d = deployment(&sim, "web");
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(d["metadata"]["annotations"][ANN_ORIGINAL_REPLICAS], "1");
    assert_eq!(
        d["metadata"]["annotations"][ANN_SCALED_DOWN_BY],
        "web-mirror-first"
    );
    let lease = sim
        .cluster
        .get(ids::leases(), "shop", "podmirror-scaledown-web")
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "web-mirror-first");

    // A second scale-down is refused and leaves the first untouched.
    let e = scaledown::scale_down(&client, "shop", "web", "web-mirror-other")
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "deployment web is already scaled down by mirror web-mirror-first (created by alice)"
    );
    assert_eq!(
        deployment(&sim, "web")["metadata"]["annotations"][ANN_SCALED_DOWN_BY],
        "web-mirror-first"
    );

    // Deleting the mirror restores the replicas, drops both annotations and the Lease.
    let (info, _) = mirrors::find(&client, Some("shop"), "web-mirror-first")
        .await
        .unwrap();
    assert_eq!(info.scaled_down.as_deref(), Some("web"));
    mirrors::delete(&client, &info).await.unwrap();
    let d = deployment(&sim, "web");
    assert_eq!(d["spec"]["replicas"], 1);
    assert!(
        d["metadata"]["annotations"]
            .get(ANN_SCALED_DOWN_BY)
            .is_none(),
        "{d}"
    );
    assert!(
        sim.cluster
            .get(ids::leases(), "shop", "podmirror-scaledown-web")
            .is_err()
    );

    // Crash recovery: a scale-down whose mirror vanished is restored by the reaper, with an Event.
    scaledown::scale_down(&client, "shop", "web", "web-mirror-ghost")
        .await
        .unwrap();
    assert_eq!(deployment(&sim, "web")["spec"]["replicas"], 0);
    // Just taken: its podmirror may be about to create the mirror.
    assert!(mirrors::reap(&client).await.unwrap().restored.is_empty());
    age_scale_down_lease(&sim, "web");
    let report = mirrors::reap(&client).await.unwrap();
    assert_eq!(report.restored, vec!["shop/web".to_string()]);
    assert_eq!(deployment(&sim, "web")["spec"]["replicas"], 1);
    let events: Vec<Value> = {
        let data = sim.cluster.store.read();
        data.iter(ids::events(), Some("shop"), None)
            .map(|(_, s)| (*s.value()).clone())
            .filter(|e| e["reason"] == "ScaleDownRestored")
            .collect()
    };
    assert_eq!(events.len(), 2, "one Event per restore");
    assert!(events.iter().any(|e| {
        e["message"]
            .as_str()
            .unwrap()
            .contains("mirror web-mirror-ghost no longer exists")
    }));
    assert!(
        mirrors::reap(&client).await.unwrap().restored.is_empty(),
        "idempotent"
    );
}

#[tokio::test]
async fn extending_a_mirror_moves_its_expiry_and_the_reaper_keeps_it() {
    let sim = cluster().await;
    let client = sim.client();
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    let mut m = mirror::build(&s.pod, &[], &MirrorOptions::default(), "ext01").unwrap();
    m["metadata"]["annotations"][ANN_TTL_SECONDS] = json!("2");
    let created = mirrors::create(&client, &m).await.unwrap();
    let info = MirrorInfo::from_pod(&created).unwrap();
    let by = |s: &str| s.parse::<podmirror_core::ttl::Ttl>().unwrap();

    let extended = mirrors::extend(&client, &info, by("30s")).await.unwrap();
    assert_eq!(extended.ttl_seconds, 32);
    assert!(extended.expires > info.expires);
    // Past the old expiry, the reaper goes by the new one.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let pass = mirrors::reap(&client).await.unwrap();
    assert!(pass.deleted.is_empty(), "{pass:?}");
    assert_eq!(pass.kept, vec!["web-mirror-ext01".to_string()]);

    // The kubelet's backstop was set for the longest TTL at creation and is
    // untouched; Kubernetes would refuse to lengthen it anyway.
    let pod = sim
        .cluster
        .get(ids::pods(), "shop", "web-mirror-ext01")
        .unwrap();
    assert_eq!(pod["spec"]["activeDeadlineSeconds"], 3660);
    let longer = sim.cluster.patch(
        ids::pods(),
        "shop",
        "web-mirror-ext01",
        None,
        podmirror_sim::patch::PatchType::Merge,
        &json!({"spec": {"activeDeadlineSeconds": 4000}}),
        &WriteOptions::manager("test"),
    );
    let err = longer.unwrap_err();
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("spec.activeDeadlineSeconds: Invalid value: 4000: must be less than or equal to previous value"),
        "{}",
        err.message
    );

    // A whole life over 60 minutes is refused and changes nothing.
    let current = mirrors::find(&client, Some("shop"), "web-mirror-ext01")
        .await
        .unwrap()
        .0;
    let refused = mirrors::extend(&client, &current, by("60m"))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("at most 1h"), "{refused}");
    let after = mirrors::find(&client, Some("shop"), "web-mirror-ext01")
        .await
        .unwrap()
        .0;
    assert_eq!(after.ttl_seconds, 32);
}

#[tokio::test]
async fn a_local_clock_ten_minutes_ahead_deletes_nothing_early() {
    let sim = cluster().await;
    // The API server's clock runs ten minutes behind this machine's. (The
    // offset is process-wide: nextest runs each test in its own process, and
    // the guard puts it back even if an assertion fails.)
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            podmirror_sim::meta::set_clock_offset(0);
        }
    }
    let _reset = Reset;
    podmirror_sim::meta::set_clock_offset(-600);
    let client = sim.client();
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    let m = mirror::build(&s.pod, &[], &MirrorOptions::default(), "skew1").unwrap();
    let created = mirrors::create(&client, &m).await.unwrap();
    let info = MirrorInfo::from_pod(&created).unwrap();
    // Judged by the local clock, the 3-minute mirror would have expired 7 minutes ago.
    assert!(info.expired(jiff::Timestamp::now()));
    let pass = mirrors::reap(&client).await.unwrap();
    assert!(pass.deleted.is_empty(), "{pass:?}");
    assert_eq!(pass.kept, vec!["web-mirror-skew1".to_string()]);
    assert!(
        pods_of(&sim, "shop")
            .iter()
            .any(|p| p["metadata"]["name"] == "web-mirror-skew1"
                && p["metadata"].get("deletionTimestamp").is_none())
    );
    podmirror_sim::meta::set_clock_offset(0);
}

#[tokio::test]
async fn a_crash_after_scale_down_is_repaired_once_by_racing_reapers_and_a_users_replicas_are_kept()
{
    use podmirror_core::contract::{ANN_ORIGINAL_REPLICAS, ANN_SCALED_DOWN_BY};
    use podmirror_kube::scaledown;
    let sim = cluster().await;
    let client = sim.client();
    let restore_events = || {
        let data = sim.cluster.store.read();
        data.iter(ids::events(), Some("shop"), None)
            .filter(|(_, s)| s.value()["reason"] == "ScaleDownRestored")
            .count()
    };

    // The process dies between the scale-down patch and the mirror create:
    // what it leaves is a scaled-down Deployment, its annotations and the Lease.
    scaledown::scale_down(&client, "shop", "web", "web-mirror-crash")
        .await
        .unwrap();
    assert_eq!(deployment(&sim, "web")["spec"]["replicas"], 0);
    // A reaper pass right after the scale-down leaves it alone (the mirror
    // may be on its way); once the grace has passed it is an orphan.
    assert!(mirrors::reap(&client).await.unwrap().restored.is_empty());
    assert_eq!(deployment(&sim, "web")["spec"]["replicas"], 0);
    age_scale_down_lease(&sim, "web");
    // Two reapers find it at once: one restores, the other has nothing to do.
    let (a, b) = tokio::join!(mirrors::reap(&client), mirrors::reap(&client));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.restored.len() + b.restored.len(),
        1,
        "exactly one restore: {a:?} {b:?}"
    );
    let d = deployment(&sim, "web");
    assert_eq!(d["spec"]["replicas"], 1);
    for ann in [ANN_ORIGINAL_REPLICAS, ANN_SCALED_DOWN_BY] {
        assert!(d["metadata"]["annotations"].get(ann).is_none(), "{d}");
    }
    assert!(
        sim.cluster
            .get(ids::leases(), "shop", "podmirror-scaledown-web")
            .is_err()
    );
    assert_eq!(restore_events(), 1);

    // Someone scales the Deployment to 3 while a mirror has it at 0: when the
    // mirror goes, their 3 stays and only podmirror's annotations are removed.
    let s = source::resolve(&client, "shop", "deployment/web")
        .await
        .unwrap();
    let opts = MirrorOptions {
        scales_down: Some("web".into()),
        ..Default::default()
    };
    scaledown::scale_down(&client, "shop", "web", "web-mirror-users")
        .await
        .unwrap();
    let created = mirrors::create(
        &client,
        &mirror::build(&s.pod, &[], &opts, "users").unwrap(),
    )
    .await
    .unwrap();
    sim.cluster
        .patch(
            ids::deployments(),
            "shop",
            "web",
            None,
            podmirror_sim::patch::PatchType::Merge,
            &json!({"spec": {"replicas": 3}}),
            &WriteOptions::manager("kubectl-scale"),
        )
        .unwrap();
    mirrors::delete(&client, &MirrorInfo::from_pod(&created).unwrap())
        .await
        .unwrap();
    let d = deployment(&sim, "web");
    assert_eq!(d["spec"]["replicas"], 3);
    assert!(
        d["metadata"]["annotations"]
            .get(ANN_SCALED_DOWN_BY)
            .is_none(),
        "{d}"
    );
    // (Events are listed by name, not by time: look for the one about this restore.)
    let messages: Vec<String> = {
        let data = sim.cluster.store.read();
        data.iter(ids::events(), Some("shop"), None)
            .map(|(_, s)| (*s.value()).clone())
            .filter(|e| e["reason"] == "ScaleDownRestored")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("podmirror left replicas at 3")),
        "{messages:?}"
    );
}

/// Compares `text` with the golden file `tests/golden/NAME.yaml`;
/// `UPDATE_GOLDEN=1` rewrites the file instead.
fn golden(name: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        text,
        want,
        "{name}: cleaned manifest differs from {}",
        path.display()
    );
}

#[tokio::test]
async fn pods_of_every_owner_kind_clean_to_their_golden_manifest_and_mirror_as_new_pods() {
    let sim = cluster().await;
    let client = sim.client();
    let opts = WriteOptions::manager("kubectl-client-side-apply");
    let web = json!({"containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1",
                                     "ports": [{"containerPort": 8080}]}]});
    let workloads = [
        (
            ids::statefulsets(),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": web}}}),
        ),
        (
            ids::daemonsets(),
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": "sim-worker-2"},
                                           "containers": web["containers"]}}}}),
        ),
        (
            ids::jobs(),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": "registry.example.com/shop/db-migrate:42"}]}}}}),
        ),
        (
            ids::replicasets(),
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "cache"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cache"}},
                     "template": {"metadata": {"labels": {"app": "cache"}}, "spec": web}}}),
        ),
        (
            ids::pods(),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "toolbox", "labels": {"app": "tools"}},
            "spec": web}),
        ),
    ];
    for (res, obj) in workloads {
        sim.cluster.create(res, "shop", obj, &opts).unwrap();
    }
    // (app label of its pods, golden name, the owner podmirror reports)
    let cases = [
        ("web", "deployment-pod", Some("Deployment/web")),
        ("db", "statefulset-pod", Some("StatefulSet/db")),
        ("agent", "daemonset-pod", Some("DaemonSet/agent")),
        ("migrate", "job-pod", Some("Job/migrate")),
        ("cache", "replicaset-pod", Some("ReplicaSet/cache")),
        ("tools", "bare-pod", None),
    ];
    for (app, name, owner) in cases {
        let pod = until(&format!("the {app} pod, scheduled"), || {
            pods_of(&sim, "shop").into_iter().find(|p| {
                let labels = &p["metadata"]["labels"];
                (labels["app"] == app || labels["job-name"] == app)
                    && p["spec"].get("nodeName").is_some()
            })
        })
        .await;
        let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let src = source::resolve(&client, "shop", &pod_name).await.unwrap();
        assert_eq!(src.owner.as_deref(), owner, "{app}");
        let cleaned = podmirror_core::render::yaml(&podmirror_core::cleanup::clean_pod(&src.pod));
        golden(name, &cleaned.replace(&pod_name, "POD"));
        // The mirror of each is accepted by the API server as a new pod.
        let m = mirror::build(&src.pod, &[], &MirrorOptions::default(), "gold1").unwrap();
        let created = mirrors::create(&client, &m).await.unwrap();
        assert!(MirrorInfo::from_pod(&created).is_some(), "{app}");
    }
}

#[tokio::test]
async fn a_pod_that_is_gone_is_sourced_from_its_owners_template() {
    let sim = cluster().await;
    let client = sim.client();
    let pod = until("the web pod", || pods_of(&sim, "shop").into_iter().next()).await;
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    sim.cluster
        .delete(ids::pods(), "shop", &name, &Default::default())
        .unwrap();
    until("the pod to be gone", || {
        (!pods_of(&sim, "shop")
            .iter()
            .any(|p| p["metadata"]["name"] == name.as_str()))
        .then_some(())
    })
    .await;
    let src = source::resolve(&client, "shop", &name).await.unwrap();
    assert_eq!(src.gone_pod.as_deref(), Some(name.as_str()));
    assert_eq!(src.owner.as_deref(), Some("Deployment/web"));
    assert!(src.from_template);
    assert_eq!(
        src.pod["spec"]["containers"][0]["image"],
        "registry.example.com/shop/web:2.3.1"
    );
    // A name no controller would give, gone or never there, is still not found.
    let e = source::resolve(&client, "shop", "web-nothing-here")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("pod \"web-nothing-here\" not found"), "{e}");
}

#[tokio::test]
async fn a_namespace_is_gathered_in_fourteen_requests_and_a_healthy_pod_has_no_diagnosis() {
    let sim = cluster().await;
    let client = sim.client();
    let web = until("web ready", || {
        pods_of(&sim, "shop")
            .into_iter()
            .find(|p| p["status"]["containerStatuses"][0]["ready"] == true)
    })
    .await;
    let before = sim.requests.last_seq();
    let snapshot = podmirror_kube::gather::Snapshot::take(&client, Some("shop"))
        .await
        .unwrap();
    assert_eq!(
        sim.requests.last_seq() - before,
        14,
        "the clock and thirteen lists: {:?}",
        sim.requests
            .after(before)
            .iter()
            .map(|r| r.uri.clone())
            .collect::<Vec<_>>()
    );
    let ctx = snapshot.context(&client, &web).await;
    assert_eq!(
        ctx.owner,
        Some(podmirror_core::diagnosis::Owner {
            kind: "Deployment".into(),
            name: "web".into()
        })
    );
    assert_eq!(ctx.history.len(), 1);
    assert!(ctx.events.iter().any(|e| e.reason == "Scheduled"));
    assert!(podmirror_core::diagnosis::diagnose(&ctx).is_none());
    // A Secret's values never reach the context, only its keys.
    sim.cluster
        .create(
            ids::secrets(),
            "shop",
            json!({"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}}),
            &WriteOptions::manager("test"),
        )
        .unwrap();
    let snapshot = podmirror_kube::gather::Snapshot::take(&client, Some("shop"))
        .await
        .unwrap();
    let ctx = snapshot.context(&client, &web).await;
    assert_eq!(ctx.secrets["db"].keys, vec!["password".to_string()]);
    assert!(!format!("{ctx:?}").contains("hunter2") && !format!("{ctx:?}").contains("aHVudGVyMg"));
}
