//! kube-rs tier: a real `kube::Client` talks to the sim in-process.

#![allow(clippy::unwrap_used)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use podmirror_sim::{Sim, SimOptions};
use serde_json::json;
use std::time::Duration;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "shop", "tier": value}},
        "data": {"k": value}
    }))
    .unwrap()
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:1.0"}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn configmap_crud_round_trip() {
    let sim = Sim::new();
    let client = sim.client();
    namespace(&client, "shop").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "shop");
    let created = api
        .create(&PostParams::default(), &cm("settings", "a"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let got = api.get("settings").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "a");

    let mut changed = api.get("settings").await.unwrap();
    changed.data = Some([("k".to_string(), "b".to_string())].into());
    let updated = api
        .replace("settings", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );

    let dup = api
        .create(&PostParams::default(), &cm("settings", "a"))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{dup:?}"
    );

    api.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    let gone = api.get("settings").await.unwrap_err();
    assert!(
        matches!(gone, kube::Error::Api(ref s) if s.code == 404 && s.message == "configmaps \"settings\" not found"),
        "{gone:?}"
    );
}

#[tokio::test]
async fn new_namespaces_get_a_default_service_account_and_pods_get_real_defaults() {
    let sim = Sim::new();
    let client = sim.client();
    namespace(&client, "shop").await;
    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let p = pods
        .create(&PostParams::default(), &pod("web-1"))
        .await
        .unwrap();
    let spec = p.spec.unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    assert_eq!(spec.enable_service_links, Some(true));
    let vols = spec.volumes.unwrap();
    assert!(vols[0].name.starts_with("kube-api-access-"));
    let tolerations = spec.tolerations.unwrap();
    assert!(
        tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready")
                && t.toleration_seconds == Some(300))
    );
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
}

#[tokio::test]
async fn stale_update_conflicts_then_retry_succeeds() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    api.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let first = api.get("c").await.unwrap();
    let mut second = api.get("c").await.unwrap();
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "2".to_string())].into());
    api.replace("c", &PostParams::default(), &a).await.unwrap();
    second.data = Some([("k".to_string(), "3".to_string())].into());
    let err = api
        .replace("c", &PostParams::default(), &second)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let mut fresh = api.get("c").await.unwrap();
    fresh.data = Some([("k".to_string(), "3".to_string())].into());
    let done = api
        .replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(done.data.unwrap()["k"], "3");
}

#[tokio::test]
async fn every_patch_type_works() {
    let sim = Sim::new();
    let pods: Api<Pod> = Api::default_namespaced(sim.client());
    let mut p = pod("web");
    p.spec.as_mut().unwrap().containers[0].env = Some(vec![
        serde_json::from_value(json!({"name": "A", "value": "1"})).unwrap(),
    ]);
    pods.create(&PostParams::default(), &p).await.unwrap();
    let pp = PatchParams::default();

    // Strategic merge keeps the env entry while changing the image.
    let smp = json!({"spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:1.1"}]}});
    let out = pods
        .patch("web", &pp, &Patch::Strategic(&smp))
        .await
        .unwrap();
    let c = &out.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("registry.example.com/shop/web:1.1")
    );
    assert_eq!(c.env.as_ref().unwrap()[0].name, "A");

    // Merge patch on metadata.
    let out = pods
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    assert_eq!(out.metadata.labels.unwrap()["tier"], "front");

    // JSON patch.
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/containers/0/image", "value": "registry.example.com/shop/web:1.2"}
    ])).unwrap();
    let out = pods
        .patch("web", &pp, &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(
        out.spec.unwrap().containers[0].image.as_deref(),
        Some("registry.example.com/shop/web:1.2")
    );

    // Server-side apply creates, updates, and records its manager.
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client());
    let ssa = PatchParams::apply("podmirror-test");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1", "b": "2"}});
    cms.patch("applied", &ssa, &Patch::Apply(&applied))
        .await
        .unwrap();
    let again = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "9"}});
    let out = cms
        .patch("applied", &ssa, &Patch::Apply(&again))
        .await
        .unwrap();
    assert_eq!(
        out.data.unwrap(),
        [("a".to_string(), "9".to_string())].into()
    );
    let managers: Vec<_> = out
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"podmirror-test".to_string()),
        "{managers:?}"
    );

    // Immutable pod fields are refused with the real message.
    let bad = json!({"spec": {"restartPolicy": "Never"}});
    let err = pods
        .patch("web", &pp, &Patch::Merge(bad))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("pod updates may not change fields")),
        "{err:?}"
    );
}

#[tokio::test]
async fn dry_run_create_persists_nothing() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    let out = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm("dry", "x"),
        )
        .await
        .unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("dry"));
    assert!(api.get_opt("dry").await.unwrap().is_none());
}

#[tokio::test]
async fn generate_name_gets_a_random_suffix() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    let c: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "web-"}})).unwrap();
    let a = api.create(&PostParams::default(), &c).await.unwrap();
    let b = api.create(&PostParams::default(), &c).await.unwrap();
    let (a, b) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(a.starts_with("web-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn selectors_and_pagination() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    for i in 0..25 {
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i:02}"), if i % 2 == 0 { "even" } else { "odd" }),
        )
        .await
        .unwrap();
    }
    let even = api
        .list(&ListParams::default().labels("tier=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 13);
    let set = api
        .list(&ListParams::default().labels("tier in (odd),app"))
        .await
        .unwrap();
    assert_eq!(set.items.len(), 12);
    let none = api
        .list(&ListParams::default().labels("!app"))
        .await
        .unwrap();
    assert_eq!(
        none.items.len(),
        1,
        "only kube-root-ca.crt has no app label"
    );
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=c03"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    let mut names = Vec::new();
    let mut lp = ListParams::default().labels("app=shop").limit(10);
    loop {
        let page = api.list(&lp).await.unwrap();
        names.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(names.len(), 25);
    assert!(names.windows(2).all(|w| w[0] < w[1]));

    let err = api
        .list(&ListParams::default().fields("spec.bogus=1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400 && s.message == "field label not supported: spec.bogus"),
        "{err:?}"
    );
}

#[tokio::test]
async fn reflector_stays_in_sync_across_a_thousand_changes() {
    let sim = Sim::new();
    let client = sim.client();
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().labels("app=shop")),
    )
    .applied_objects()
    .boxed();
    let task = tokio::spawn(stream.try_for_each(|_| async { Ok(()) }));
    reader.wait_until_ready().await.unwrap();

    for i in 0..1000u32 {
        let name = format!("c{}", i % 97);
        match i % 4 {
            0 | 1 => {
                let _ = api
                    .create(&PostParams::default(), &cm(&name, &i.to_string()))
                    .await;
            }
            2 => {
                let _ = api
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"data": {"k": i.to_string()}})),
                    )
                    .await;
            }
            _ => {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
        }
    }
    let truth = api
        .list(&ListParams::default().labels("app=shop"))
        .await
        .unwrap();
    let mut want: Vec<(String, String)> = truth
        .items
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone().unwrap(),
                c.metadata.resource_version.clone().unwrap(),
            )
        })
        .collect();
    want.sort();
    let mut got = Vec::new();
    for _ in 0..200 {
        got = reader
            .state()
            .iter()
            .map(|c| {
                (
                    c.metadata.name.clone().unwrap(),
                    c.metadata.resource_version.clone().unwrap(),
                )
            })
            .collect::<Vec<_>>();
        got.sort();
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(got, want);
    task.abort();
}

#[tokio::test]
async fn watch_too_old_resource_version_is_gone() {
    let sim = Sim::with_options(SimOptions {
        history_len: 10,
        ..Default::default()
    });
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    for i in 0..30 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let mut stream = api
        .watch(&kube::api::WatchParams::default(), "3")
        .await
        .unwrap()
        .boxed();
    let first = stream.next().await.unwrap();
    match first {
        Ok(kube::api::WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

async fn owned_chain(sim: &Sim) -> (Api<Deployment>, Api<ReplicaSet>, Api<Pod>) {
    let client = sim.client();
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client);
    let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}});
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}})).unwrap();
    let d = deploys.create(&PostParams::default(), &d).await.unwrap();
    let owner = |kind: &str, name: &str, uid: &str, api_version: &str| json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web-1", "ownerReferences": owner("Deployment", "web", d.metadata.uid.as_deref().unwrap(), "apps/v1")}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}})).unwrap();
    let rs = rss.create(&PostParams::default(), &rs).await.unwrap();
    let mut p = pod("web-1-abcde");
    p.metadata.owner_references = serde_json::from_value(owner(
        "ReplicaSet",
        "web-1",
        rs.metadata.uid.as_deref().unwrap(),
        "apps/v1",
    ))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    (deploys, rss, pods)
}

#[tokio::test]
async fn garbage_collection_follows_the_propagation_policy() {
    for policy in [
        PropagationPolicy::Background,
        PropagationPolicy::Foreground,
        PropagationPolicy::Orphan,
    ] {
        let sim = Sim::new();
        let (deploys, rss, pods) = owned_chain(&sim).await;
        let dp = DeleteParams {
            propagation_policy: Some(policy.clone()),
            ..Default::default()
        };
        deploys.delete("web", &dp).await.unwrap();
        assert!(
            deploys.get_opt("web").await.unwrap().is_none(),
            "{policy:?}"
        );
        let rs = rss.get_opt("web-1").await.unwrap();
        let pod = pods.get_opt("web-1-abcde").await.unwrap();
        match policy {
            PropagationPolicy::Orphan => {
                let rs = rs.expect("orphaned replicaset stays");
                assert!(rs.metadata.owner_references.is_none_or(|r| r.is_empty()));
                assert!(pod.is_some(), "the pod's owner still exists");
            }
            _ => {
                assert!(rs.is_none(), "{policy:?}: replicaset collected");
                assert!(pod.is_none(), "{policy:?}: pod collected");
            }
        }
    }
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    api.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = api.delete("c", &dp).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.message.contains("Precondition failed: UID in precondition: not-the-uid")),
        "{err:?}"
    );
    assert!(api.get_opt("c").await.unwrap().is_some());
}

#[tokio::test]
async fn deployment_scale_subresource() {
    let sim = Sim::new();
    let (deploys, _, _) = owned_chain(&sim).await;
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(
        deploys.get("web").await.unwrap().spec.unwrap().replicas,
        Some(4)
    );
}

#[tokio::test]
async fn lease_taken_by_server_side_apply() {
    use k8s_openapi::api::coordination::v1::Lease;
    let sim = Sim::new();
    let leases: Api<Lease> = Api::default_namespaced(sim.client());
    let lease = |holder: &str| json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "podmirror-reaper"}, "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}});
    leases
        .patch(
            "podmirror-reaper",
            &PatchParams::apply("replica-a"),
            &Patch::Apply(lease("a")),
        )
        .await
        .unwrap();
    // Another manager changing the holder without force conflicts; with force it takes over.
    let err = leases
        .patch(
            "podmirror-reaper",
            &PatchParams::apply("replica-b"),
            &Patch::Apply(lease("b")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.message.contains("conflict with \"replica-a\"") && s.message.contains(".spec.holderIdentity")),
        "{err:?}"
    );
    let taken = leases
        .patch(
            "podmirror-reaper",
            &PatchParams::apply("replica-b").force(),
            &Patch::Apply(lease("b")),
        )
        .await
        .unwrap();
    assert_eq!(taken.spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn streaming_list_watcher_and_bookmarks() {
    let sim = Sim::with_options(SimOptions {
        bookmark_interval: Duration::from_millis(50),
        ..Default::default()
    });
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(
            api.clone(),
            watcher::Config::default()
                .labels("app=shop")
                .streaming_lists(),
        ),
    );
    let task = tokio::spawn(stream.applied_objects().try_for_each(|_| async { Ok(()) }));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), 5);

    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = api
        .watch(
            &kube::api::WatchParams {
                bookmarks: true,
                ..Default::default()
            }
            .timeout(2),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let mut saw_bookmark = false;
    while let Some(ev) = events.next().await {
        if let Ok(kube::api::WatchEvent::Bookmark(b)) = ev {
            assert!(!b.metadata.resource_version.is_empty());
            saw_bookmark = true;
            break;
        }
    }
    assert!(saw_bookmark);
    task.abort();
}

#[tokio::test]
async fn dry_run_delete_and_update_change_nothing() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    let created = api
        .create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    api.delete(
        "c",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let out = api
        .patch(
            "c",
            &PatchParams {
                dry_run: true,
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["k"], "2");
    let still = api.get("c").await.unwrap();
    assert_eq!(still.data.unwrap()["k"], "1");
    assert_eq!(
        still.metadata.resource_version,
        created.metadata.resource_version
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let sim = Sim::new();
    let client = sim.client();
    namespace(&client, "shop").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    cms.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("shop", &DeleteParams::default()).await.unwrap();
    assert!(nss.get_opt("shop").await.unwrap().is_none());
    let err = cms
        .create(&PostParams::default(), &cm("d", "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.message == "namespaces \"shop\" not found"),
        "{err:?}"
    );
    assert_eq!(
        sim.cluster
            .store
            .read()
            .count(podmirror_sim::resources::ids::configmaps()),
        4,
        "only the 4 system namespaces' root CA maps remain"
    );
}

#[tokio::test]
async fn follow_logs_stream_until_the_container_stops() {
    use futures::AsyncBufReadExt;
    let sim = Sim::new();
    let pods: Api<Pod> = Api::default_namespaced(sim.client());
    let p = pods
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    let key = (
        "default".to_string(),
        p.metadata.uid.unwrap(),
        "web".to_string(),
    );
    sim.cluster.logs.append(&key, "listening on :8080");
    let params = kube::api::LogParams {
        follow: true,
        ..Default::default()
    };
    let mut lines = pods.log_stream("web", &params).await.unwrap().lines();
    assert_eq!(lines.next().await.unwrap().unwrap(), "listening on :8080");
    sim.cluster.logs.append(&key, "GET /healthz 200");
    assert_eq!(lines.next().await.unwrap().unwrap(), "GET /healthz 200");
    sim.cluster.logs.finish(&key);
    assert!(
        lines.next().await.is_none(),
        "the stream ends when the container stops"
    );
}

#[tokio::test]
async fn delete_collection_by_label() {
    let sim = Sim::new();
    let api: Api<ConfigMap> = Api::default_namespaced(sim.client());
    for i in 0..6 {
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i}"), if i < 4 { "old" } else { "new" }),
        )
        .await
        .unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=old"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default().labels("app=shop"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c4", "c5"]);
}
