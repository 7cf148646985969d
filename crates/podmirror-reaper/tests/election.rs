//! Sim tier: two reaper replicas over one simulated cluster — one leads,
//! and when it is killed without a goodbye the other takes over within the
//! lease duration; a clean release hands over at once.

#![allow(clippy::unwrap_used)]

use podmirror_reaper::{Election, run, step};
use podmirror_sim::Sim;
use podmirror_sim::cluster::WriteOptions;
use podmirror_sim::resources::ids;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn election(identity: &str) -> Election {
    Election {
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(200),
        reap_every: Duration::from_secs(1),
        ..Election::new("podmirror", identity)
    }
}

fn sim() -> Sim {
    let sim = Sim::new();
    sim.cluster
        .create(
            ids::namespaces(),
            "",
            json!({"metadata": {"name": "podmirror"}}),
            &WriteOptions::manager("test"),
        )
        .unwrap();
    sim
}

#[tokio::test]
async fn one_replica_leads_and_a_killed_leader_hands_over_within_the_lease() {
    let sim = sim();
    let (a_tx, a) = watch::channel(false);
    let (b_tx, b) = watch::channel(false);
    let task_a = tokio::spawn(run(sim.client(), election("replica-a"), a_tx));
    let mut a_leads = a.clone();
    tokio::time::timeout(Duration::from_secs(5), a_leads.wait_for(|l| *l))
        .await
        .expect("a took the free Lease")
        .unwrap();
    let task_b = tokio::spawn(run(sim.client(), election("replica-b"), b_tx));
    // Over two seconds, exactly one leads at every look.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            *a.borrow() ^ *b.borrow(),
            "a={} b={}",
            *a.borrow(),
            *b.borrow()
        );
    }
    assert!(*a.borrow(), "the first replica took the free Lease");
    // kill -9: no release; b takes over once the Lease is 2 s stale.
    task_a.abort();
    let killed = Instant::now();
    let mut b_leads = b.clone();
    tokio::time::timeout(Duration::from_secs(5), b_leads.wait_for(|l| *l))
        .await
        .expect("b took over")
        .unwrap();
    let took = killed.elapsed();
    eprintln!("handed over {took:?} after the leader was killed");
    let lease = sim
        .cluster
        .get(ids::leases(), "podmirror", podmirror_reaper::LEASE_NAME)
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    task_b.abort();
}

#[tokio::test]
async fn of_two_replicas_racing_for_a_stale_lease_one_wins_and_a_release_frees_it() {
    let sim = sim();
    let client = sim.client();
    let t0 = jiff::Timestamp::now();
    assert!(step(&client, &election("a"), t0).await.unwrap());
    // Later than the lease: both see it stale at once; one write wins.
    let later = t0 + jiff::SignedDuration::from_secs(3);
    let (b, c) = (election("b"), election("c"));
    let (x, y) = tokio::join!(step(&client, &b, later), step(&client, &c, later));
    assert!(x.unwrap() ^ y.unwrap());
    // Released, it is free at once for anyone.
    let holder = sim
        .cluster
        .get(ids::leases(), "podmirror", podmirror_reaper::LEASE_NAME)
        .unwrap()["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    podmirror_reaper::release(&client, &election(&holder))
        .await
        .unwrap();
    assert!(step(&client, &election("a"), later).await.unwrap());
}

#[tokio::test]
async fn a_server_killed_between_scale_down_and_create_is_repaired_by_the_restarted_reaper() {
    let sim = sim();
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
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:2.3.1"}]}}}}),
            &opts,
        )
        .unwrap();
    let client = sim.client();
    // The server scaled web down for its mirror, then died (kill -9) before
    // creating the mirror.
    podmirror_kube::scaledown::scale_down(&client, "shop", "web", "web-mirror-never")
        .await
        .unwrap();
    let replicas = |sim: &Sim| {
        sim.cluster.get(ids::deployments(), "shop", "web").unwrap()["spec"]["replicas"].clone()
    };
    assert_eq!(replicas(&sim), 0);
    // It restarts after the orphan grace: its reaper leads and restores.
    let then = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120)).to_string();
    sim.cluster
        .patch(
            ids::leases(),
            "shop",
            "podmirror-scaledown-web",
            None,
            podmirror_sim::patch::PatchType::Merge,
            &json!({"spec": {"acquireTime": then}}),
            &opts,
        )
        .unwrap();
    let (tx, _leading) = watch::channel(false);
    let task = tokio::spawn(run(sim.client(), election("restarted"), tx));
    let started = Instant::now();
    while replicas(&sim) != 3 {
        assert!(started.elapsed() < Duration::from_secs(10), "not restored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}
