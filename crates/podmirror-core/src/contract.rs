//! The names the cluster contract (the cluster contract, docs/architecture.md) fixes: labels, annotations,
//! Lease names and sidecar opt-outs. Every part reads them from here.

/// Label on every mirror pod (`"true"`).
pub const LABEL_MIRROR: &str = "podmirror.dev/mirror";
/// Label holding the mirror id.
pub const LABEL_MIRROR_ID: &str = "podmirror.dev/mirror-id";
/// Label holding the source pod's name.
pub const LABEL_SOURCE: &str = "podmirror.dev/source";

/// The source's labels, as JSON, when they were removed from the mirror.
pub const ANN_ORIGINAL_LABELS: &str = "podmirror.dev/original-labels";
/// Lifetime of the mirror in seconds, counted from its creationTimestamp.
pub const ANN_TTL_SECONDS: &str = "podmirror.dev/ttl-seconds";
/// Who created the mirror.
pub const ANN_CREATED_BY: &str = "podmirror.dev/created-by";
/// The organisation the creator acted for.
pub const ANN_ORG: &str = "podmirror.dev/org";
/// uid of the source pod (empty when the source was a pod template).
pub const ANN_SOURCE_UID: &str = "podmirror.dev/source-uid";
/// The diagnosis the mirror tests, when made from one.
pub const ANN_DIAGNOSIS_ID: &str = "podmirror.dev/diagnosis-id";
/// Which of that diagnosis's candidate changes the mirror tests (`0`, the
/// first, when absent).
pub const ANN_CANDIDATE: &str = "podmirror.dev/candidate";
/// The owning workload of the source, `Kind/name` (e.g. `Deployment/api`).
pub const ANN_SOURCE_OWNER: &str = "podmirror.dev/source-owner";
/// Set on a mirror that scaled its source Deployment down: the Deployment's name.
pub const ANN_SCALED_DOWN: &str = "podmirror.dev/scaled-down-deployment";

/// On a scaled-down Deployment: its replicas before.
pub const ANN_ORIGINAL_REPLICAS: &str = "podmirror.dev/original-replicas";
/// On a scaled-down Deployment: the mirror id that scaled it down.
pub const ANN_SCALED_DOWN_BY: &str = "podmirror.dev/scaled-down-by";

/// Annotations that keep monitoring and sidecar injectors away from a mirror.
pub const QUIET_ANNOTATIONS: &[(&str, &str)] = &[
    ("prometheus.io/scrape", "false"),
    ("sidecar.istio.io/inject", "false"),
    ("linkerd.io/inject", "disabled"),
    ("kuma.io/sidecar-injection", "disabled"),
    ("consul.hashicorp.com/connect-inject", "false"),
];

/// Labels the controllers add to pods, removed from every mirror.
pub const CONTROLLER_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "job-name",
    "pod-template-generation",
];

/// Seconds past the longest TTL the kubelet lets a mirror run if no podmirror process reaps it.
pub const DEADLINE_GRACE_SECONDS: u64 = 60;

/// `spec.activeDeadlineSeconds` of every mirror: the longest TTL plus the
/// grace. (Kubernetes refuses to lengthen a pod's deadline, so a deadline of
/// the mirror's own TTL would make extending it impossible.)
pub const DEADLINE_SECONDS: u64 = crate::ttl::MAX_SECONDS + DEADLINE_GRACE_SECONDS;

/// Name of the Lease that guards the scale-down of a Deployment.
pub fn scale_down_lease(deployment: &str) -> String {
    format!("podmirror-scaledown-{deployment}")
}

/// Name of the Lease the reapers of several backend replicas compete for.
pub const REAPER_LEASE: &str = "podmirror-reaper";

/// The annotation the tap injector sets on a pod it tapped (`injected`).
pub const ANN_TAP_STATUS: &str = "tap.podmirror.dev/status";
/// The name of the injected traffic tap (a native sidecar).
pub const TAP_CONTAINER: &str = "podmirror-tap";
/// The port the tap serves its figures on, on the pod's IP.
pub const TAP_REPORT_PORT: u16 = 15090;
