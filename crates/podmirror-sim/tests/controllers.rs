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

fn sim_with_nodes() -> Sim {
    let sim = Sim::new();
    let mut nodes = podmirror_sim::nodes::NodeSpec::workers(3);
    nodes[2]
        .taints
        .push(("dedicated".into(), "gpu".into(), "NoSchedule".into()));
    nodes[2].labels.push(("accelerator".into(), "gpu".into()));
    podmirror_sim::nodes::start(&sim, &nodes);
    sim.start_controllers();
    sim
}

fn pod_with(name: &str, spec_extra: serde_json::Value) -> Pod {
    let mut spec =
        json!({"containers": [{"name": "c", "image": "registry.example.com/shop/web:1.0"}]});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

async fn scheduled_condition(pods: &Api<Pod>, name: &str) -> (String, String, Option<String>) {
    for _ in 0..400 {
        let p = pods.get(name).await.unwrap();
        let node = p.spec.unwrap().node_name;
        if let Some(c) = p
            .status
            .unwrap_or_default()
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")
        {
            return (c.status, c.message.unwrap_or_default(), node);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} never got a PodScheduled condition");
}

#[tokio::test]
async fn scheduler_binds_or_explains_like_kube_scheduler() {
    let sim = sim_with_nodes();
    let client = sim.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    pods.create(&pp, &pod_with("fits", json!({})))
        .await
        .unwrap();
    pods.create(&pp, &pod_with("huge", json!({"containers": [{"name": "c", "image": "i:1", "resources": {"requests": {"memory": "64Gi"}}}]}))).await.unwrap();
    pods.create(
        &pp,
        &pod_with("picky", json!({"nodeSelector": {"disktype": "ssd"}})),
    )
    .await
    .unwrap();
    pods.create(
        &pp,
        &pod_with("gpu", json!({"nodeSelector": {"accelerator": "gpu"}})),
    )
    .await
    .unwrap();
    pods.create(
        &pp,
        &pod_with(
            "claims",
            json!({"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "missing"}}]}),
        ),
    )
    .await
    .unwrap();

    let (status, _, node) = scheduled_condition(&pods, "fits").await;
    assert_eq!(status, "True");
    let node = node.unwrap();
    assert!(
        node == "sim-worker-1" || node == "sim-worker-2",
        "untainted node expected, got {node}"
    );

    let (status, message, _) = scheduled_condition(&pods, "huge").await;
    assert_eq!(status, "False");
    assert!(
        message.starts_with("0/3 nodes are available: ")
            && message.contains("1 node(s) had untolerated taint(s), 2 Insufficient memory."),
        "{message}"
    );

    let (_, message, _) = scheduled_condition(&pods, "picky").await;
    assert!(
        message.contains("didn't match Pod's node affinity/selector"),
        "{message}"
    );

    let (_, message, _) = scheduled_condition(&pods, "gpu").await;
    assert!(
        message.contains("1 node(s) had untolerated taint(s)"),
        "{message}"
    );

    let (_, message, _) = scheduled_condition(&pods, "claims").await;
    assert!(
        message.contains("persistentvolumeclaim \"missing\" not found"),
        "{message}"
    );

    let events: Api<Event> = Api::default_namespaced(client);
    let evs = events
        .list(&ListParams::default().fields("involvedObject.name=huge"))
        .await
        .unwrap();
    assert!(
        evs.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedScheduling")
                && e.type_.as_deref() == Some("Warning"))
    );
}

#[tokio::test]
async fn claims_of_offered_classes_bind_and_others_stay_pending() {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    let sim = sim_with_nodes();
    let pvcs: Api<PersistentVolumeClaim> = Api::default_namespaced(sim.client());
    let claim = |name: &str, class: Option<&str>| -> PersistentVolumeClaim {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(c) = class {
            spec["storageClassName"] = json!(c);
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    };
    pvcs.create(&PostParams::default(), &claim("data", None))
        .await
        .unwrap();
    pvcs.create(&PostParams::default(), &claim("fast", Some("ultra-nvme")))
        .await
        .unwrap();
    eventually("default-class claim bound", || async {
        pvcs.get("data")
            .await
            .unwrap()
            .status
            .unwrap_or_default()
            .phase
            .as_deref()
            == Some("Bound")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        pvcs.get("fast")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );
}

/// A sim at 20× with three workers (sim-worker-1 labelled disk=ssd), the
/// controllers and the kubelet.
fn running_sim() -> Sim {
    let sim = Sim::with_options(podmirror_sim::SimOptions {
        time_scale: 20.0,
        seed: Some(3),
        ..Default::default()
    });
    let nodes: Vec<_> = (1..=3)
        .map(|i| {
            let mut n = podmirror_sim::nodes::NodeSpec::worker(&format!("sim-worker-{i}"));
            if i == 1 {
                n.labels.push(("disk".into(), "ssd".into()));
            }
            n
        })
        .collect();
    podmirror_sim::nodes::start(&sim, &nodes);
    sim.start_controllers();
    podmirror_sim::kubelet::start(
        &sim,
        std::sync::Arc::new(podmirror_sim::catalog::Catalog::builtin()),
    );
    sim
}

fn dynamic(
    client: &kube::Client,
    group: &str,
    kind: &str,
    plural: &str,
) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(group, "v1", kind);
    Api::default_namespaced_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

async fn get_json(api: &Api<kube::api::DynamicObject>, name: &str) -> serde_json::Value {
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

#[tokio::test]
async fn statefulset_daemonset_and_job_make_their_pods_like_the_real_controllers() {
    let sim = running_sim();
    let client = sim.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod_json = |name: String| {
        let pods = pods.clone();
        async move { serde_json::to_value(pods.get(&name).await.unwrap()).unwrap() }
    };
    let web =
        json!({"containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1"}]});

    // StatefulSet: ordinals in order, each with its identity labels.
    let sts = dynamic(&client, "apps", "StatefulSet", "statefulsets");
    sts.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": web}}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    eventually("db to have 2 ready replicas", || async {
        get_json(&sts, "db").await.pointer("/status/readyReplicas") == Some(&json!(2))
    })
    .await;
    let db1 = pod_json("db-1".into()).await;
    assert_eq!(
        db1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "db-1"
    );
    assert_eq!(
        db1["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
        "1"
    );
    assert!(
        db1["metadata"]["labels"]["controller-revision-hash"]
            .as_str()
            .unwrap()
            .starts_with("db-")
    );
    assert_eq!(db1["spec"]["hostname"], "db-1");
    assert_eq!(db1["spec"]["subdomain"], "db");
    assert_eq!(db1["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    let db0 = pod_json("db-0".into()).await;
    assert!(
        db0["metadata"]["creationTimestamp"].as_str()
            <= db1["metadata"]["creationTimestamp"].as_str(),
        "db-0 comes first"
    );
    // Scaled to 1: the highest ordinal goes.
    sts.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    eventually("db-1 to go", || async {
        pods.get_opt("db-1")
            .await
            .unwrap()
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await;

    // DaemonSet: one pod per node its nodeSelector allows, pinned by affinity.
    let ds = dynamic(&client, "apps", "DaemonSet", "daemonsets");
    ds.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"nodeSelector": {"disk": "ssd"}, "containers": web["containers"]}}}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    eventually("agent to be ready on its one node", || async {
        let d = get_json(&ds, "agent").await;
        d.pointer("/status/desiredNumberScheduled") == Some(&json!(1))
            && d.pointer("/status/numberReady") == Some(&json!(1))
    })
    .await;
    let agents = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap();
    assert_eq!(agents.items.len(), 1);
    let agent = serde_json::to_value(&agents.items[0]).unwrap();
    assert_eq!(agent["spec"]["nodeName"], "sim-worker-1");
    assert_eq!(
        agent.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0"),
        Some(&json!("sim-worker-1"))
    );
    assert!(
        agent["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "node.kubernetes.io/unreachable")
    );
    assert!(
        agent["metadata"]["labels"]
            .get("pod-template-generation")
            .is_some()
    );

    // Job: the API server ties its pods to its uid; it completes.
    let jobs = dynamic(&client, "batch", "Job", "jobs");
    let bad = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
                "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "registry.example.com/shop/db-migrate:42"}]}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains(r#"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#),
        "{bad}"
    );
    let own_selector = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "picky"},
                "spec": {"selector": {"matchLabels": {"app": "x"}},
                         "template": {"metadata": {"labels": {"app": "x"}},
                                      "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1.36"}]}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        own_selector.contains("`selector` not auto-generated"),
        "{own_selector}"
    );
    // Only parallelism given: a work queue, no completions defaulted.
    let queue = jobs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "queue"},
                "spec": {"parallelism": 2, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "registry.example.com/shop/db-migrate:42"}]}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let queue = serde_json::to_value(queue).unwrap();
    assert!(queue["spec"].get("completions").is_none(), "{queue}");
    assert_eq!(queue["spec"]["parallelism"], 2);
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": "registry.example.com/shop/db-migrate:42"}]}}}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let job = get_json(&jobs, "migrate").await;
    let uid = job["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid.as_str()
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "migrate"
    );
    assert_eq!(job["spec"]["backoffLimit"], 6);
    eventually("migrate to complete", || async {
        let j = get_json(&jobs, "migrate").await;
        j.pointer("/status/succeeded") == Some(&json!(1))
            && j["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Complete"))
    })
    .await;
    let run = pods
        .list(&ListParams::default().labels("job-name=migrate"))
        .await
        .unwrap();
    assert_eq!(run.items.len(), 1);
    assert_eq!(
        run.items[0].metadata.generate_name.as_deref(),
        Some("migrate-")
    );
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "Completed"), "{reasons:?}");
}
