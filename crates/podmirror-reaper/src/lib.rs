//! The reaper as a service: every backend replica runs [`run`], and a
//! coordination.k8s.io Lease (`podmirror-reaper`) decides which one reaps.
//! The holder renews it every `renew_every`; another replica takes it over
//! once it has not been renewed for `lease_duration` (judged on the API
//! server's clock), so a leader killed without a goodbye hands over within
//! the lease duration plus one renewal period. Every write carries the
//! resourceVersion it read: of two replicas racing for a free Lease, one wins.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use podmirror_kube::clock::ServerClock;
use std::time::Duration;
use tokio::sync::watch;

/// The Lease's name.
pub const LEASE_NAME: &str = "podmirror-reaper";

/// What went wrong electing.
#[derive(Debug, thiserror::Error)]
pub enum ReaperError {
    /// The API server refused or failed a Lease request.
    #[error("the reaper's Lease {namespace}/{LEASE_NAME}: {source}")]
    Lease {
        /// Its namespace.
        namespace: String,
        /// Why.
        source: kube::Error,
    },
}

/// How the election runs.
#[derive(Debug, Clone)]
pub struct Election {
    /// Namespace of the Lease (the backend's own).
    pub namespace: String,
    /// This replica's name in the Lease (`holderIdentity`).
    pub identity: String,
    /// How long a Lease not renewed stays its holder's.
    pub lease_duration: Duration,
    /// How often the holder renews, and others look.
    pub renew_every: Duration,
    /// How often the leader runs a reaper pass (also at the next expiry).
    pub reap_every: Duration,
}

impl Election {
    /// Defaults: 15 s lease, renewed every 5 s, a pass every 10 s.
    pub fn new(namespace: &str, identity: &str) -> Election {
        Election {
            namespace: namespace.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            reap_every: Duration::from_secs(10),
        }
    }
}

fn micro(t: Timestamp) -> MicroTime {
    MicroTime(t)
}

/// One election step: acquire, renew or look. Returns whether this replica
/// holds the Lease now.
pub async fn step(
    client: &kube::Client,
    e: &Election,
    now: Timestamp,
) -> Result<bool, ReaperError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &e.namespace);
    let err = |source| ReaperError::Lease {
        namespace: e.namespace.clone(),
        source,
    };
    let seconds = e.lease_duration.as_secs().max(1) as i32;
    let mine = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(e.identity.clone()),
        lease_duration_seconds: Some(seconds),
        acquire_time: acquired.or(Some(micro(now))),
        renew_time: Some(micro(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    let current = match leases.get_opt(LEASE_NAME).await.map_err(err)? {
        Some(l) => l,
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.into()),
                    ..Default::default()
                },
                spec: Some(mine(0, None)),
            };
            return match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            };
        }
    };
    let spec = current.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(seconds));
    let expired = spec
        .renew_time
        .as_ref()
        .is_none_or(|r| now.duration_since(r.0).as_secs() >= duration);
    let transitions = spec.lease_transitions.unwrap_or(0);
    let next = if holder == e.identity {
        mine(transitions, spec.acquire_time.clone())
    } else if holder.is_empty() || expired {
        mine(transitions + 1, None)
    } else {
        return Ok(false);
    };
    let mut lease = current;
    lease.spec = Some(next);
    // The resourceVersion read is the precondition: a racing replica's 409.
    match leases
        .replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(err(e)),
    }
}

/// Gives the Lease up (on a clean shutdown), so another replica need not
/// wait out the lease duration.
pub async fn release(client: &kube::Client, e: &Election) -> Result<(), ReaperError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &e.namespace);
    let Some(mut lease) =
        leases
            .get_opt(LEASE_NAME)
            .await
            .map_err(|source| ReaperError::Lease {
                namespace: e.namespace.clone(),
                source,
            })?
    else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(e.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    let _ = leases
        .replace(LEASE_NAME, &PostParams::default(), &lease)
        .await;
    Ok(())
}

/// Runs the election forever (drop the future to stop); while this replica
/// leads, it runs reaper passes. `leading` follows whether it leads.
pub async fn run(client: kube::Client, e: Election, leading: watch::Sender<bool>) {
    let mut clock = ServerClock::default();
    if let Err(err) = clock.calibrate(&client, 4).await {
        tracing::warn!(error = %err, "reaper cannot read the API server's clock yet");
    }
    let mut last_pass: Option<std::time::Instant> = None;
    let mut next_expiry: Option<Timestamp> = None;
    loop {
        if let Err(err) = clock.observe(&client).await {
            tracing::warn!(error = %err, "reaper cannot read the API server's clock");
        }
        let now = clock.now().unwrap_or_else(Timestamp::now);
        let leads = match step(&client, &e, now).await {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!(error = %err, "reaper election step failed");
                false
            }
        };
        if *leading.borrow() != leads {
            tracing::info!(identity = %e.identity, leads, "reaper leadership changed");
            leading.send_replace(leads);
        }
        let due = next_expiry.is_some_and(|t| t <= now)
            || last_pass.is_none_or(|t| t.elapsed() >= e.reap_every);
        if leads && due {
            match podmirror_kube::mirrors::reap_at(&client, now).await {
                Ok(report) => next_expiry = report.next_expiry,
                Err(err) => tracing::warn!(error = %err, "reaper pass failed"),
            }
            last_pass = Some(std::time::Instant::now());
        }
        // Wake for the next renewal, or sooner for the next expiry.
        let mut wait = e.renew_every;
        if let (true, Some(next), Some(now)) = (leads, next_expiry, clock.now()) {
            let until = Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO);
            wait = wait.min(until + Duration::from_millis(2));
        }
        tokio::time::sleep(wait).await;
    }
}
