//! Sim tier: the Deployment and ReplicaSet controllers, driven through kube-rs.

#![allow(clippy::unwrap_used)]

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use podmirror_sim::Sim;
use serde_json::json;
use std::time::Duration;

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": image}]}}
        }
    }))
    .unwrap()
}

/// Plays the kubelet's part for this test: every pod becomes Running and Ready.
async fn make_pods_ready(pods: &Api<Pod>) {
    for p in pods.list(&ListParams::default()).await.unwrap() {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let _ = pods
            .patch_status(
                p.metadata.name.as_deref().unwrap(),
                &PatchParams::default(),
                &Patch::Merge(status),
            )
            .await;
    }
}

#[tokio::test]
async fn deployment_creates_replicaset_and_pods_then_rolls_out_and_scales() {
    let sim = Sim::new();
    sim.start_controllers();
    let client = sim.client();
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("api", "registry.example.com/shop/api:1.4.1", 3),
        )
        .await
        .unwrap();

    eventually("3 pods", || async {
        pods.list(&ListParams::default()).await.unwrap().items.len() == 3
    })
    .await;
    let rs_list = rss.list(&ListParams::default()).await.unwrap();
    assert_eq!(rs_list.items.len(), 1);
    let rs = &rs_list.items[0];
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("api-{hash}").as_str())
    );
    assert_eq!(
        rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );
    for p in pods.list(&ListParams::default()).await.unwrap() {
        assert!(
            p.metadata
                .name
                .unwrap()
                .starts_with(&format!("api-{hash}-"))
        );
        assert_eq!(p.metadata.owner_references.unwrap()[0].kind, "ReplicaSet");
        assert_eq!(p.metadata.labels.unwrap()["pod-template-hash"], hash);
    }

    make_pods_ready(&pods).await;
    eventually("deployment available", || async {
        let d = deploys.get("api").await.unwrap();
        let s = d.status.unwrap_or_default();
        s.available_replicas == Some(3)
            && s.updated_replicas == Some(3)
            && s.conditions.unwrap_or_default().iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("NewReplicaSetAvailable")
            })
    })
    .await;

    // A new image rolls out a second ReplicaSet; the first one stays in history at 0.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "registry.example.com/shop/api:1.4.2"}]}}}});
    deploys
        .patch("api", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    eventually("rollout to 1.4.2", || async {
        make_pods_ready(&pods).await;
        let d = deploys.get("api").await.unwrap();
        let s = d.status.unwrap_or_default();
        let old_drained = rss
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|rs| {
                rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"]
                    == "1"
                    && rs.spec.as_ref().unwrap().replicas == Some(0)
            });
        s.updated_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.replicas == Some(3)
            && old_drained
    })
    .await;
    let d = deploys.get("api").await.unwrap();
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(d.status.unwrap().observed_generation, d.metadata.generation);

    let events: Api<Event> = Api::default_namespaced(client.clone());
    let messages: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Scaled up replica set api-") && m.ends_with("to 3 from 0")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("Created pod: api-")),
        "{messages:?}"
    );

    // Scale down through the scale subresource.
    deploys
        .patch_scale(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    eventually("one pod left", || async {
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count()
            == 1
    })
    .await;

    // Deleting the deployment collects its ReplicaSets and pods.
    deploys
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    eventually("everything collected", || async {
        rss.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
            && pods
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
    })
    .await;
}

#[tokio::test]
async fn replicaset_adopts_matching_orphans_and_releases_relabelled_pods() {
    let sim = Sim::new();
    sim.start_controllers();
    let client = sim.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let orphan: Pod = serde_json::from_value(json!({"metadata": {"name": "stray", "labels": {"app": "cache"}}, "spec": {"containers": [{"name": "c", "image": "redis:7"}]}})).unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "cache"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cache"}},
                 "template": {"metadata": {"labels": {"app": "cache"}}, "spec": {"containers": [{"name": "c", "image": "redis:7"}]}}}
    }))
    .unwrap();
    rss.create(&PostParams::default(), &rs).await.unwrap();
    eventually("stray adopted and one pod created", || async {
        let list = pods.list(&ListParams::default()).await.unwrap().items;
        list.len() == 2
            && list.iter().all(|p| {
                p.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o[0].name == "cache")
            })
    })
    .await;

    // Relabel the adopted pod: the controller lets go of it and makes a replacement.
    pods.patch(
        "stray",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "debug"}}})),
    )
    .await
    .unwrap();
    eventually("stray released and replaced", || async {
        let stray = pods.get("stray").await.unwrap();
        let released = stray
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty();
        let owned = pods
            .list(&ListParams::default().labels("app=cache"))
            .await
            .unwrap()
            .items
            .len();
        released && owned == 2
    })
    .await;
    let rs = rss.get("cache").await.unwrap();
    assert_eq!(rs.status.unwrap().replicas, 2);
}
