//! Server-side `meta.k8s.io/v1` Table responses, shaped like kube-apiserver's built-in printers.
//!
//! `kubectl get` asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
//! columns and cells it receives, so this module decides what a user sees: column definitions
//! (name, type, format, description, priority), the cell values for each kind, the pod STATUS
//! logic and the human readable ages. Like the real server, every column is always generated
//! (wide mode); kubectl itself hides the priority-1 columns unless `-o wide` is given.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::selector::LabelSelector;

/// What each row's `object` field carries (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `includeObject=None`: rows carry `"object": null`.
    None,
    /// `includeObject=Metadata` (the default): rows carry a `PartialObjectMetadata`.
    #[default]
    Metadata,
    /// `includeObject=Object`: rows carry the complete object.
    Object,
}

impl IncludeObject {
    /// Reads the query parameter value; the empty string means the default (`Metadata`).
    /// Returns `None` for anything the apiserver would reject.
    pub fn parse(value: &str) -> Option<IncludeObject> {
        match value {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Durations.
// ---------------------------------------------------------------------------------------------

/// Formats a duration the way kubectl shows ages (`5s`, `3m20s`, `10m`, `5h3m`, `2d5h`, `3y12d`),
/// i.e. with apimachinery's `HumanDuration` rules: about two significant units.
pub fn human_duration(d: Duration) -> String {
    human_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// The same rules on a signed nanosecond count; slightly negative values (clock skew) read as
/// `0s`, clearly negative ones as `<invalid>`.
fn human_nanos(nanos: i128) -> String {
    const SEC: i128 = 1_000_000_000;
    let seconds = nanos / SEC;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = nanos / (60 * SEC);
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = nanos / (3600 * SEC);
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of a timestamp relative to `now`, `<unknown>` when there is none.
fn since(ts: Option<Timestamp>, now: Timestamp) -> String {
    match ts {
        Some(ts) => human_nanos(now.as_nanosecond() - ts.as_nanosecond()),
        None => "<unknown>".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON access helpers.
// ---------------------------------------------------------------------------------------------

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value, path: &[&str]) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn map_len(v: &Value, path: &[&str]) -> usize {
    at(v, path).and_then(Value::as_object).map_or(0, Map::len)
}

fn time(v: &Value, path: &[&str]) -> Option<Timestamp> {
    at(v, path)?.as_str()?.parse().ok()
}

fn age(obj: &Value, now: Timestamp) -> String {
    since(time(obj, &["metadata", "creationTimestamp"]), now)
}

fn name(obj: &Value) -> String {
    text(obj, &["metadata", "name"]).to_string()
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

fn condition_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|c| text(c, &["type"]) == kind)
        .is_some_and(|c| text(c, &["status"]) == "True")
}

/// `k=v` pairs sorted by key and joined with commas, `<none>` when empty.
fn format_labels(v: Option<&Value>) -> String {
    let mut pairs: Vec<String> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// Container names and images of a pod template, each joined with commas.
fn container_cells(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| text(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

fn template_spec(obj: &Value) -> Option<&Value> {
    at(obj, &["spec", "template", "spec"])
}

// ---------------------------------------------------------------------------------------------
// Column definitions.
// ---------------------------------------------------------------------------------------------

/// (name, type, format, description, priority)
type Col = (&'static str, &'static str, &'static str, &'static str, i64);

const D_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const D_CREATED: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const D_CONTAINERS: &str = "Names of each container in the template.";
const D_IMAGES: &str = "Images referenced by each container in the template.";
const D_READY_PODS: &str = "Number of the pod with ready state";

const NAME: Col = ("Name", "string", "name", D_NAME, 0);
const AGE: Col = ("Age", "string", "", D_CREATED, 0);
const CONTAINERS: Col = ("Containers", "string", "", D_CONTAINERS, 1);
const IMAGES: Col = ("Images", "string", "", D_IMAGES, 1);

const POD_COLUMNS: &[Col] = &[
    NAME,
    (
        "Ready",
        "string",
        "",
        "The aggregate readiness state of this pod for accepting traffic.",
        0,
    ),
    (
        "Status",
        "string",
        "",
        "The aggregate status of the containers in this pod.",
        0,
    ),
    (
        "Restarts",
        "string",
        "",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        0,
    ),
    AGE,
    (
        "IP",
        "string",
        "",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        1,
    ),
    (
        "Node",
        "string",
        "",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
        1,
    ),
    (
        "Nominated Node",
        "string",
        "",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
        1,
    ),
    (
        "Readiness Gates",
        "string",
        "",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
        1,
    ),
];

const DEPLOYMENT_COLUMNS: &[Col] = &[
    NAME,
    ("Ready", "string", "", D_READY_PODS, 0),
    (
        "Up-to-date",
        "string",
        "",
        "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
        0,
    ),
    (
        "Available",
        "string",
        "",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    (
        "Selector",
        "string",
        "",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        1,
    ),
];

const REPLICA_SET_COLUMNS: &[Col] = &[
    NAME,
    (
        "Desired",
        "integer",
        "",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
        0,
    ),
    (
        "Current",
        "integer",
        "",
        "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
        0,
    ),
    (
        "Ready",
        "integer",
        "",
        "readyReplicas is the number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    (
        "Selector",
        "string",
        "",
        "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        1,
    ),
];

const NODE_COLUMNS: &[Col] = &[
    NAME,
    ("Status", "string", "", "The status of the node", 0),
    ("Roles", "string", "", "The roles of the node", 0),
    AGE,
    (
        "Version",
        "string",
        "",
        "Kubelet Version reported by the node.",
        0,
    ),
    ("Internal-IP", "string", "", D_NODE_ADDRESSES, 1),
    ("External-IP", "string", "", D_NODE_ADDRESSES, 1),
    (
        "OS-Image",
        "string",
        "",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        1,
    ),
    (
        "Kernel-Version",
        "string",
        "",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        1,
    ),
    (
        "Container-Runtime",
        "string",
        "",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        1,
    ),
];

const D_NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

const EVENT_COLUMNS: &[Col] = &[
    (
        "Last Seen",
        "string",
        "",
        "The time at which the most recent occurrence of this event was recorded.",
        0,
    ),
    (
        "Type",
        "string",
        "",
        "Type of this event (Normal, Warning), new types could be added in the future",
        0,
    ),
    (
        "Reason",
        "string",
        "",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        0,
    ),
    (
        "Object",
        "string",
        "",
        "The object that this event is about.",
        0,
    ),
    (
        "Subobject",
        "string",
        "",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
        1,
    ),
    (
        "Source",
        "string",
        "",
        "The component reporting this event. Should be a short machine understandable string.",
        1,
    ),
    (
        "Message",
        "string",
        "",
        "A human-readable description of the status of this operation.",
        0,
    ),
    (
        "First Seen",
        "string",
        "",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        1,
    ),
    (
        "Count",
        "string",
        "",
        "The number of times this event has occurred.",
        1,
    ),
    ("Name", "string", "name", D_NAME, 1),
];

const NAMESPACE_COLUMNS: &[Col] = &[
    NAME,
    ("Status", "string", "", "The status of the namespace", 0),
    AGE,
];

const CONFIG_MAP_COLUMNS: &[Col] = &[
    NAME,
    (
        "Data",
        "string",
        "",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
        0,
    ),
    AGE,
];

const SECRET_COLUMNS: &[Col] = &[
    NAME,
    (
        "Type",
        "string",
        "",
        "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
        0,
    ),
    (
        "Data",
        "string",
        "",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
        0,
    ),
    AGE,
];

const SERVICE_ACCOUNT_COLUMNS: &[Col] = &[
    NAME,
    (
        "Secrets",
        "string",
        "",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
        0,
    ),
    AGE,
];

const SERVICE_COLUMNS: &[Col] = &[
    NAME,
    (
        "Type",
        "string",
        "",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
        0,
    ),
    (
        "Cluster-IP",
        "string",
        "",
        "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
        0,
    ),
    (
        "External-IP",
        "string",
        "",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.",
        0,
    ),
    (
        "Port(s)",
        "string",
        "",
        "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
        0,
    ),
    AGE,
    (
        "Selector",
        "string",
        "",
        "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/",
        1,
    ),
];

const DAEMON_SET_COLUMNS: &[Col] = &[
    NAME,
    (
        "Desired",
        "integer",
        "",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
        0,
    ),
    (
        "Current",
        "integer",
        "",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
        0,
    ),
    (
        "Ready",
        "integer",
        "",
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
        0,
    ),
    (
        "Up-to-date",
        "integer",
        "",
        "The total number of nodes that are running updated daemon pod",
        0,
    ),
    (
        "Available",
        "integer",
        "",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        0,
    ),
    (
        "Node Selector",
        "string",
        "",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    (
        "Selector",
        "string",
        "",
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If empty, defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        1,
    ),
];

const STATEFUL_SET_COLUMNS: &[Col] = &[
    NAME,
    ("Ready", "string", "", D_READY_PODS, 0),
    AGE,
    CONTAINERS,
    IMAGES,
];

const JOB_COLUMNS: &[Col] = &[
    NAME,
    ("Status", "string", "", "Status of the job.", 0),
    (
        "Completions",
        "string",
        "",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
        0,
    ),
    (
        "Duration",
        "string",
        "",
        "Time required to complete the job.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    (
        "Selector",
        "string",
        "",
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        1,
    ),
];

const DEFAULT_COLUMNS: &[Col] = &[NAME, ("Created At", "date", "", D_CREATED, 0)];

/// The printers this module knows; anything else gets the generic NAME / Created At table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printer {
    Pod,
    Deployment,
    ReplicaSet,
    Node,
    Event,
    Namespace,
    ConfigMap,
    Secret,
    ServiceAccount,
    Service,
    DaemonSet,
    StatefulSet,
    Job,
    Default,
}

impl Printer {
    fn for_kind(kind: &str) -> Printer {
        // Accept group-qualified spellings such as `events.k8s.io/Event` or `Deployment.apps`.
        let kind = match kind.rsplit_once('/') {
            Some((_, k)) => k,
            None => kind.split_once('.').map_or(kind, |(k, _)| k),
        };
        match kind {
            "Pod" => Printer::Pod,
            "Deployment" => Printer::Deployment,
            "ReplicaSet" => Printer::ReplicaSet,
            "Node" => Printer::Node,
            "Event" => Printer::Event,
            "Namespace" => Printer::Namespace,
            "ConfigMap" => Printer::ConfigMap,
            "Secret" => Printer::Secret,
            "ServiceAccount" => Printer::ServiceAccount,
            "Service" => Printer::Service,
            "DaemonSet" => Printer::DaemonSet,
            "StatefulSet" => Printer::StatefulSet,
            "Job" => Printer::Job,
            _ => Printer::Default,
        }
    }

    fn columns(self) -> &'static [Col] {
        match self {
            Printer::Pod => POD_COLUMNS,
            Printer::Deployment => DEPLOYMENT_COLUMNS,
            Printer::ReplicaSet => REPLICA_SET_COLUMNS,
            Printer::Node => NODE_COLUMNS,
            Printer::Event => EVENT_COLUMNS,
            Printer::Namespace => NAMESPACE_COLUMNS,
            Printer::ConfigMap => CONFIG_MAP_COLUMNS,
            Printer::Secret => SECRET_COLUMNS,
            Printer::ServiceAccount => SERVICE_ACCOUNT_COLUMNS,
            Printer::Service => SERVICE_COLUMNS,
            Printer::DaemonSet => DAEMON_SET_COLUMNS,
            Printer::StatefulSet => STATEFUL_SET_COLUMNS,
            Printer::Job => JOB_COLUMNS,
            Printer::Default => DEFAULT_COLUMNS,
        }
    }

    fn cells(self, obj: &Value, now: Timestamp) -> Vec<Value> {
        match self {
            Printer::Pod => pod_cells(obj, now),
            Printer::Deployment => deployment_cells(obj, now),
            Printer::ReplicaSet => replica_set_cells(obj, now),
            Printer::Node => node_cells(obj, now),
            Printer::Event => event_cells(obj, now),
            Printer::Namespace => vec![
                json!(name(obj)),
                json!(text(obj, &["status", "phase"])),
                json!(age(obj, now)),
            ],
            Printer::ConfigMap => vec![
                json!(name(obj)),
                json!(map_len(obj, &["data"]) + map_len(obj, &["binaryData"])),
                json!(age(obj, now)),
            ],
            Printer::Secret => vec![
                json!(name(obj)),
                json!(text(obj, &["type"])),
                json!(map_len(obj, &["data"])),
                json!(age(obj, now)),
            ],
            Printer::ServiceAccount => vec![
                json!(name(obj)),
                json!(list(obj, &["secrets"]).len()),
                json!(age(obj, now)),
            ],
            Printer::Service => service_cells(obj, now),
            Printer::DaemonSet => daemon_set_cells(obj, now),
            Printer::StatefulSet => {
                let (names, images) = container_cells(template_spec(obj));
                let desired = at(obj, &["spec", "replicas"])
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let ready = int(obj, &["status", "readyReplicas"]);
                vec![
                    json!(name(obj)),
                    json!(format!("{ready}/{desired}")),
                    json!(age(obj, now)),
                    json!(names),
                    json!(images),
                ]
            }
            Printer::Job => job_cells(obj, now),
            Printer::Default => {
                let created = time(obj, &["metadata", "creationTimestamp"]).map_or_else(
                    || "0001-01-01T00:00:00Z".to_string(),
                    |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                );
                vec![json!(name(obj)), json!(created)]
            }
        }
    }
}

fn column_json(cols: &[Col]) -> Value {
    Value::Array(
        cols.iter()
            .map(|(name, ty, format, description, priority)| {
                json!({
                    "name": name,
                    "type": ty,
                    "format": format,
                    "description": description,
                    "priority": priority,
                })
            })
            .collect(),
    )
}

/// The column definitions the apiserver sends for `kind` (all of them, including the
/// priority-1 columns kubectl only shows with `-o wide`).
pub fn column_definitions(kind: &str) -> Value {
    column_json(Printer::for_kind(kind).columns())
}

// ---------------------------------------------------------------------------------------------
// Table assembly.
// ---------------------------------------------------------------------------------------------

/// Builds the `meta.k8s.io/v1` Table for `items` of `kind` (e.g. `"Pod"`, `"Deployment"`;
/// group-qualified spellings such as `"events.k8s.io/Event"` work too).
///
/// `list_meta` supplies the table's `metadata`: `resourceVersion`, `continue` and
/// `remainingItemCount` are copied when present and non-empty. For a single-object GET pass the
/// object's own `resourceVersion`, as the apiserver does. `now` is the reference time for ages.
pub fn table(
    kind: &str,
    items: &[&Value],
    list_meta: Value,
    include_object: IncludeObject,
    now: Timestamp,
) -> Value {
    table_with_headers(kind, items, list_meta, include_object, now, true)
}

/// Like [`table`], but `headers = false` leaves `columnDefinitions` null, as the apiserver does
/// for `TableOptions.noHeaders` and for every watch event after the first one.
pub fn table_with_headers(
    kind: &str,
    items: &[&Value],
    list_meta: Value,
    include_object: IncludeObject,
    now: Timestamp,
    headers: bool,
) -> Value {
    let printer = Printer::for_kind(kind);
    let mut metadata = Map::new();
    for key in ["resourceVersion", "continue", "remainingItemCount"] {
        match list_meta.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::Number(n)) if n.as_i64() == Some(0) => {}
            Some(v) => {
                metadata.insert(key.to_string(), v.clone());
            }
        }
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| build_row(printer, obj, include_object, now))
        .collect();
    // The generic convertor leaves an empty row list as null; the printers send [].
    let rows = if rows.is_empty() && printer == Printer::Default {
        Value::Null
    } else {
        Value::Array(rows)
    };
    let columns = if headers {
        column_json(printer.columns())
    } else {
        Value::Null
    };
    let mut out = Map::new();
    out.insert("kind".into(), json!("Table"));
    out.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    out.insert("metadata".into(), Value::Object(metadata));
    out.insert("columnDefinitions".into(), columns);
    out.insert("rows".into(), rows);
    Value::Object(out)
}

/// One table row (`{"cells": [...], "conditions"?: [...], "object": ...}`) for `obj`; useful
/// for callers assembling watch events themselves.
pub fn row(kind: &str, obj: &Value, include_object: IncludeObject, now: Timestamp) -> Value {
    build_row(Printer::for_kind(kind), obj, include_object, now)
}

fn build_row(printer: Printer, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let mut out = Map::new();
    out.insert("cells".into(), Value::Array(printer.cells(obj, now)));
    if printer == Printer::Pod {
        let (reason, message) = match text(obj, &["status", "phase"]) {
            "Succeeded" => ("Succeeded", "The pod has completed successfully."),
            "Failed" => ("Failed", "The pod failed."),
            _ => ("", ""),
        };
        if !reason.is_empty() {
            out.insert(
                "conditions".into(),
                json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]),
            );
        }
    }
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    };
    out.insert("object".into(), object);
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Pods.
// ---------------------------------------------------------------------------------------------

struct PodSummary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn last_finish(status: &Value) -> Option<Timestamp> {
    time(status, &["lastState", "terminated", "finishedAt"])
}

fn summarize_pod(pod: &Value) -> PodSummary {
    let phase = text(pod, &["status", "phase"]);
    let status_reason = text(pod, &["status", "reason"]);
    let conditions = list(pod, &["status", "conditions"]);
    let init_specs = list(pod, &["spec", "initContainers"]);
    let restartable = |container: &str| {
        init_specs
            .iter()
            .find(|c| text(c, &["name"]) == container)
            .is_some_and(|c| text(c, &["restartPolicy"]) == "Always")
    };

    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    if conditions
        .iter()
        .any(|c| text(c, &["type"]) == "PodScheduled" && text(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let mut total = list(pod, &["spec", "containers"]).len();
    total += init_specs
        .iter()
        .filter(|c| text(c, &["restartPolicy"]) == "Always")
        .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart = None;

    // Init containers run in order; the first one that has not finished decides the status.
    let mut initializing = false;
    for (i, st) in list(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int(st, &["restartCount"]);
        let cname = text(st, &["name"]);
        restarts += count;
        last_restart = later(last_restart, last_finish(st));
        let is_sidecar = restartable(cname);
        if is_sidecar {
            sidecar_restarts += count;
            sidecar_last_restart = later(sidecar_last_restart, last_finish(st));
        }
        let terminated = at(st, &["state", "terminated"]);
        let waiting_reason = text(st, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| int(t, &["exitCode"]) == 0) {
            continue;
        }
        if is_sidecar && at(st, &["started"]).and_then(Value::as_bool) == Some(true) {
            if at(st, &["ready"]).and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            let why = text(t, &["reason"]);
            if !why.is_empty() {
                format!("Init:{why}")
            } else if int(t, &["signal"]) != 0 {
                format!("Init:Signal:{}", int(t, &["signal"]))
            } else {
                format!("Init:ExitCode:{}", int(t, &["exitCode"]))
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut running = false;
        // Walk backwards so that the first container's state has the final word.
        for st in list(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int(st, &["restartCount"]);
            last_restart = later(last_restart, last_finish(st));
            let waiting = text(st, &["state", "waiting", "reason"]);
            let terminated = at(st, &["state", "terminated"]);
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                let why = text(t, &["reason"]);
                reason = if !why.is_empty() {
                    why.to_string()
                } else if int(t, &["signal"]) != 0 {
                    format!("Signal:{}", int(t, &["signal"]))
                } else {
                    format!("ExitCode:{}", int(t, &["exitCode"]))
                };
            } else if at(st, &["ready"]).and_then(Value::as_bool) == Some(true)
                && at(st, &["state", "running"]).is_some()
            {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = if condition_true(conditions, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if at(pod, &["metadata", "deletionTimestamp"]).is_some() {
        if status_reason == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    PodSummary {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

/// The STATUS column of `kubectl get pods`: the phase, or the more specific story told by the
/// containers (`CrashLoopBackOff`, `ErrImagePull`, `Init:0/2`, `Init:CrashLoopBackOff`,
/// `Completed`, `OOMKilled`, `ContainerCreating`, `Terminating`, `SchedulingGated`, ...).
pub fn pod_status_reason(pod: &Value) -> String {
    summarize_pod(pod).reason
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let s = summarize_pod(pod);
    let restarts = match s.last_restart {
        Some(t) if s.restarts != 0 => format!("{} ({} ago)", s.restarts, since(Some(t), now)),
        _ => s.restarts.to_string(),
    };
    let mut ip = pod
        .pointer("/status/podIPs/0/ip")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ip.is_empty() {
        ip = text(pod, &["status", "podIP"]);
    }
    let gates = list(pod, &["spec", "readinessGates"]);
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(pod, &["status", "conditions"]);
        let passing = gates
            .iter()
            .filter(|g| condition_true(conditions, text(g, &["conditionType"])))
            .count();
        format!("{passing}/{}", gates.len())
    };
    vec![
        json!(name(pod)),
        json!(format!("{}/{}", s.ready, s.total)),
        json!(s.reason),
        json!(restarts),
        json!(age(pod, now)),
        json!(or_none(ip)),
        json!(or_none(text(pod, &["spec", "nodeName"]))),
        json!(or_none(text(pod, &["status", "nominatedNodeName"]))),
        json!(gates),
    ]
}

// ---------------------------------------------------------------------------------------------
// Workloads.
// ---------------------------------------------------------------------------------------------

/// Selector text as `metav1.FormatLabelSelector` renders it: `<none>` when empty, `<error>` when
/// invalid.
fn format_selector(v: Option<&Value>) -> String {
    match LabelSelector::from_api(v.unwrap_or(&Value::Null)) {
        Ok(s) => or_none(&s.to_string()),
        Err(_) => "<error>".into(),
    }
}

fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let desired = at(obj, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = int(obj, &["status", "readyReplicas"]);
    let (names, images) = container_cells(template_spec(obj));
    let selector =
        match LabelSelector::from_api(at(obj, &["spec", "selector"]).unwrap_or(&Value::Null)) {
            Ok(s) => s.to_string(),
            Err(_) => "<invalid>".into(),
        };
    vec![
        json!(name(obj)),
        json!(format!("{ready}/{desired}")),
        json!(int(obj, &["status", "updatedReplicas"])),
        json!(int(obj, &["status", "availableReplicas"])),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

fn replica_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let desired = at(obj, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let (names, images) = container_cells(template_spec(obj));
    vec![
        json!(name(obj)),
        json!(desired),
        json!(int(obj, &["status", "replicas"])),
        json!(int(obj, &["status", "readyReplicas"])),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_selector(at(obj, &["spec", "selector"]))),
    ]
}

fn daemon_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(template_spec(obj));
    vec![
        json!(name(obj)),
        json!(int(obj, &["status", "desiredNumberScheduled"])),
        json!(int(obj, &["status", "currentNumberScheduled"])),
        json!(int(obj, &["status", "numberReady"])),
        json!(int(obj, &["status", "updatedNumberScheduled"])),
        json!(int(obj, &["status", "numberAvailable"])),
        json!(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"]
        ))),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_selector(at(obj, &["spec", "selector"]))),
    ]
}

fn job_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(obj, &["status", "succeeded"]);
    let completions = match at(obj, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int(obj, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = time(obj, &["status", "startTime"]);
    let end = time(obj, &["status", "completionTime"]);
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => since(Some(s), now),
        (Some(s), Some(e)) => human_nanos(e.as_nanosecond() - s.as_nanosecond()),
    };
    let conditions = list(obj, &["status", "conditions"]);
    let status = if condition_true(conditions, "Complete") {
        "Complete"
    } else if condition_true(conditions, "Failed") {
        "Failed"
    } else if at(obj, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if condition_true(conditions, "Suspended") {
        "Suspended"
    } else if condition_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(template_spec(obj));
    vec![
        json!(name(obj)),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_selector(at(obj, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------------------------------------
// Nodes, services, events.
// ---------------------------------------------------------------------------------------------

fn node_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = list(obj, &["status", "conditions"]);
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = conditions
        .iter()
        .rev()
        .find(|c| text(c, &["type"]) == "Ready")
    {
        status.push(if text(c, &["status"]) == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if at(obj, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = at(obj, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in labels {
            let role = match k.strip_prefix("node-role.kubernetes.io/") {
                Some(role) => role,
                None if k == "kubernetes.io/role" => v.as_str().unwrap_or_default(),
                None => "",
            };
            if !role.is_empty() && !roles.iter().any(|r| r == role) {
                roles.push(role.to_string());
            }
        }
    }
    roles.sort();
    let address = |kind: &str| {
        list(obj, &["status", "addresses"])
            .iter()
            .find(|a| text(a, &["type"]) == kind)
            .map_or_else(
                || "<none>".to_string(),
                |a| text(a, &["address"]).to_string(),
            )
    };
    let info = |field: &str| {
        let v = text(obj, &["status", "nodeInfo", field]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(name(obj)),
        json!(status.join(",")),
        json!(or_none(&roles.join(","))),
        json!(age(obj, now)),
        json!(text(obj, &["status", "nodeInfo", "kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn service_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let ty = match text(obj, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    };
    let mut cluster_ip = list(obj, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .unwrap_or_default();
    if cluster_ip.is_empty() {
        cluster_ip = text(obj, &["spec", "clusterIP"]);
    }
    let external_ips: Vec<&str> = list(obj, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")),
        "LoadBalancer" => {
            let mut lb: Vec<&str> = list(obj, &["status", "loadBalancer", "ingress"])
                .iter()
                .map(|i| match text(i, &["ip"]) {
                    "" => text(i, &["hostname"]),
                    ip => ip,
                })
                .filter(|s| !s.is_empty())
                .collect();
            lb.sort();
            lb.dedup();
            lb.extend(external_ips.iter().copied());
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => text(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = list(obj, &["spec", "ports"])
        .iter()
        .map(|p| {
            let protocol = match text(p, &["protocol"]) {
                "" => "TCP",
                proto => proto,
            };
            let port = int(p, &["port"]);
            match int(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    vec![
        json!(name(obj)),
        json!(ty),
        json!(or_none(cluster_ip)),
        json!(external),
        json!(or_none(&ports.join(","))),
        json!(age(obj, now)),
        json!(format_labels(at(obj, &["spec", "selector"]))),
    ]
}

fn event_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    // events.k8s.io objects carry the same data under other names; read them through a map
    // of core/v1 names.
    let new_shape = text(obj, &["apiVersion"]).starts_with("events.k8s.io/")
        || (obj.get("involvedObject").is_none() && obj.get("regarding").is_some());
    let key = |core: &'static str, new: &'static str| if new_shape { new } else { core };
    let first_ts = time(obj, &[key("firstTimestamp", "deprecatedFirstTimestamp")]);
    let last_ts = time(obj, &[key("lastTimestamp", "deprecatedLastTimestamp")]);
    let event_time = time(obj, &["eventTime"]);
    let series = at(obj, &["series"]);

    let first = match first_ts {
        Some(t) => since(Some(t), now),
        None => since(event_time, now),
    };
    let mut last = match last_ts {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int(obj, &[key("count", "deprecatedCount")]);
    if let Some(series) = series {
        last = since(time(series, &["lastObservedTime"]), now);
        count = int(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }

    let subject = key("involvedObject", "regarding");
    let kind = text(obj, &[subject, "kind"]).to_lowercase();
    let target_name = text(obj, &[subject, "name"]);
    let target = if target_name.is_empty() {
        kind
    } else {
        format!("{kind}/{target_name}")
    };

    let source = at(obj, &[key("source", "deprecatedSource")]);
    let component = source.map(|s| text(s, &["component"])).unwrap_or_default();
    let host = source.map(|s| text(s, &["host"])).unwrap_or_default();
    let controller = text(obj, &[key("reportingComponent", "reportingController")]);
    let instance = text(obj, &["reportingInstance"]);
    let component = if component.is_empty() {
        controller
    } else {
        component
    };
    let host = if host.is_empty() { instance } else { host };
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };

    vec![
        json!(last),
        json!(text(obj, &["type"])),
        json!(text(obj, &["reason"])),
        json!(target),
        json!(text(obj, &[subject, "fieldPath"])),
        json!(source),
        json!(text(obj, &[key("message", "note")]).trim()),
        json!(first),
        json!(count),
        json!(name(obj)),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn cells(kind: &str, obj: &Value) -> Vec<Value> {
        let t = table(kind, &[obj], json!({}), IncludeObject::None, now());
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    fn col_names(kind: &str) -> Vec<(String, i64)> {
        column_definitions(kind)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["priority"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn secs(s: u64) -> String {
        human_duration(Duration::from_secs(s))
    }

    #[test]
    fn human_duration_rules() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(5), "5s");
        assert_eq!(secs(119), "119s");
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(200), "3m20s");
        assert_eq!(secs(599), "9m59s");
        assert_eq!(secs(600), "10m");
        assert_eq!(secs(179 * 60 + 59), "179m");
        assert_eq!(secs(3 * 3600), "3h");
        assert_eq!(secs(5 * 3600 + 3 * 60), "5h3m");
        assert_eq!(secs(8 * 3600), "8h");
        assert_eq!(secs(47 * 3600 + 59 * 60), "47h");
        assert_eq!(secs(48 * 3600), "2d");
        assert_eq!(secs(2 * 86400 + 5 * 3600), "2d5h");
        assert_eq!(secs(8 * 86400), "8d");
        assert_eq!(secs(729 * 86400), "729d");
        assert_eq!(secs(730 * 86400), "2y");
        assert_eq!(secs(742 * 86400), "2y12d");
        assert_eq!(secs(8 * 365 * 86400 + 100 * 86400), "8y");
    }

    #[test]
    fn negative_ages() {
        assert_eq!(human_nanos(-1_500_000_000), "0s");
        assert_eq!(human_nanos(-2_000_000_000), "<invalid>");
        let future =
            json!({"metadata": {"name": "x", "creationTimestamp": "2024-05-01T12:10:00Z"}});
        assert_eq!(age(&future, now()), "<invalid>");
        assert_eq!(age(&json!({}), now()), "<unknown>");
    }

    fn running_pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-7d4b9c8f7-abcde", "namespace": "default",
                         "creationTimestamp": "2024-05-01T11:55:00Z", "resourceVersion": "42",
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx:1.25"}]},
            "status": {
                "phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
                "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                                       "state": {"running": {"startedAt": "2024-05-01T11:55:10Z"}}}]
            }
        })
    }

    #[test]
    fn pod_running_cells() {
        let c = cells("Pod", &running_pod());
        assert_eq!(
            c,
            vec![
                json!("web-7d4b9c8f7-abcde"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.244.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>"),
            ]
        );
    }

    #[test]
    fn pod_crash_loop_with_restart_age() {
        let pod = json!({
            "metadata": {"name": "bad", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                              "finishedAt": "2024-05-01T11:55:00Z"}}
            }]}
        });
        let c = cells("Pod", &pod);
        assert_eq!(c[1], json!("0/1"));
        assert_eq!(c[2], json!("CrashLoopBackOff"));
        assert_eq!(c[3], json!("7 (5m ago)"));
        assert_eq!(c[4], json!("120m"));
        assert_eq!(c[5], json!("<none>"));
        assert_eq!(c[6], json!("<none>"));
    }

    #[test]
    fn pod_waiting_reasons() {
        let waiting = |reason: &str| {
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
                   "status": {"phase": "Pending", "containerStatuses": [{"name": "a", "ready": false,
                              "restartCount": 0, "state": {"waiting": {"reason": reason}}}]}})
        };
        assert_eq!(pod_status_reason(&waiting("ErrImagePull")), "ErrImagePull");
        assert_eq!(
            pod_status_reason(&waiting("ContainerCreating")),
            "ContainerCreating"
        );
        let pending = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        assert_eq!(pod_status_reason(&pending), "Pending");
    }

    #[test]
    fn pod_terminated_reasons() {
        let done = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "ready": false,
              "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(pod_status_reason(&done), "Completed");
        let t = table("Pod", &[&done], json!({}), IncludeObject::None, now());
        assert_eq!(
            t["rows"][0]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."}])
        );
        let oom = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": false,
              "restartCount": 1, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}});
        assert_eq!(pod_status_reason(&oom), "OOMKilled");
        let signal = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "a",
              "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}});
        assert_eq!(pod_status_reason(&signal), "Signal:9");
        let code = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "a",
              "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod_status_reason(&code), "ExitCode:3");
    }

    #[test]
    fn pod_init_container_states() {
        let base = |init_status: Value| {
            json!({"metadata": {"name": "p"},
                   "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "a"}]},
                   "status": {"phase": "Pending", "initContainerStatuses": [init_status],
                              "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0,
                                                     "state": {"waiting": {"reason": "PodInitializing"}}}]}})
        };
        let running = base(json!({"name": "init", "ready": false, "restartCount": 0,
                                  "state": {"running": {}}}));
        assert_eq!(pod_status_reason(&running), "Init:0/1");
        let crash = base(json!({"name": "init", "ready": false, "restartCount": 3,
                                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}));
        assert_eq!(pod_status_reason(&crash), "Init:CrashLoopBackOff");
        assert_eq!(cells("Pod", &crash)[3], json!("3"));
        let failed = base(json!({"name": "init", "state": {"terminated": {"exitCode": 2}}}));
        assert_eq!(pod_status_reason(&failed), "Init:ExitCode:2");
        let done = base(
            json!({"name": "init", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}),
        );
        assert_eq!(pod_status_reason(&done), "PodInitializing");
    }

    #[test]
    fn pod_sidecar_counts_toward_ready() {
        let pod = json!({"metadata": {"name": "p"},
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                     "containers": [{"name": "a"}]},
            "status": {"phase": "Running",
              "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
              "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 2,
                                         "state": {"running": {}}}],
              "containerStatuses": [{"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}}}]}});
        let c = cells("Pod", &pod);
        assert_eq!(c[1], json!("2/2"));
        assert_eq!(c[2], json!("Running"));
        assert_eq!(c[3], json!("3"));
    }

    #[test]
    fn pod_terminating_and_gates() {
        let mut pod = running_pod();
        pod["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
        assert_eq!(pod_status_reason(&pod), "Terminating");
        let mut lost = running_pod();
        lost["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
        lost["status"]["reason"] = json!("NodeLost");
        assert_eq!(pod_status_reason(&lost), "Unknown");
        let mut gated = running_pod();
        gated["spec"]["readinessGates"] = json!([{"conditionType": "a"}, {"conditionType": "b"}]);
        gated["status"]["conditions"] =
            json!([{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]);
        assert_eq!(cells("Pod", &gated)[8], json!("1/2"));
        let sched = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(pod_status_reason(&sched), "SchedulingGated");
    }

    #[test]
    fn pod_columns_match_apiserver() {
        assert_eq!(
            col_names("Pod"),
            vec![
                ("Name".into(), 0),
                ("Ready".into(), 0),
                ("Status".into(), 0),
                ("Restarts".into(), 0),
                ("Age".into(), 0),
                ("IP".into(), 1),
                ("Node".into(), 1),
                ("Nominated Node".into(), 1),
                ("Readiness Gates".into(), 1),
            ]
        );
        let defs = column_definitions("Pod");
        assert_eq!(defs[0]["format"], json!("name"));
        assert_eq!(defs[1]["format"], json!(""));
        assert_eq!(defs[3]["type"], json!("string"));
    }

    #[test]
    fn table_envelope_and_include_object() {
        let pod = running_pod();
        let t = table(
            "Pod",
            &[&pod],
            json!({"resourceVersion": "99", "continue": ""}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["kind"], json!("Table"));
        assert_eq!(t["apiVersion"], json!("meta.k8s.io/v1"));
        assert_eq!(t["metadata"], json!({"resourceVersion": "99"}));
        let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "metadata",
                "columnDefinitions",
                "rows"
            ]
        );
        let obj = &t["rows"][0]["object"];
        assert_eq!(obj["kind"], json!("PartialObjectMetadata"));
        assert_eq!(obj["apiVersion"], json!("meta.k8s.io/v1"));
        assert_eq!(obj["metadata"]["labels"]["app"], json!("web"));
        assert!(obj.get("spec").is_none());

        let t = table("Pod", &[&pod], json!({}), IncludeObject::Object, now());
        assert_eq!(t["rows"][0]["object"], pod);
        let t = table("Pod", &[&pod], json!({}), IncludeObject::None, now());
        assert_eq!(t["rows"][0]["object"], Value::Null);
        assert!(t["rows"][0].get("conditions").is_none());

        let t = table(
            "Pod",
            &[],
            json!({"resourceVersion": "5", "continue": "abc", "remainingItemCount": 3}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["rows"], json!([]));
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "5", "continue": "abc", "remainingItemCount": 3})
        );
        let t = table_with_headers("Pod", &[&pod], json!({}), IncludeObject::None, now(), false);
        assert_eq!(t["columnDefinitions"], Value::Null);
    }

    #[test]
    fn include_object_parse() {
        assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
        assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
        assert_eq!(IncludeObject::parse("everything"), None);
    }

    #[test]
    fn deployment_cells_and_columns() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2024-04-29T07:00:00Z"},
            "spec": {"replicas": 3,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"},
                                                          {"name": "log", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            cells("Deployment", &d),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d5h"),
                json!("web,log"),
                json!("nginx:1.25,busybox"),
                json!("app=web"),
            ]
        );
        let names: Vec<String> = col_names("Deployment").into_iter().map(|c| c.0).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let fresh = json!({"metadata": {"name": "new"}, "spec": {"template": {"spec": {}}}});
        let c = cells("Deployment", &fresh);
        assert_eq!(c[1], json!("0/1"));
        assert_eq!(c[4], json!("<unknown>"));
        assert_eq!(c[7], json!(""));
    }

    #[test]
    fn replica_set_cells_and_columns() {
        let rs = json!({
            "metadata": {"name": "web-5d4b9c8f7", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"replicas": 3,
                     "selector": {"matchLabels": {"pod-template-hash": "5d4b9c8f7", "app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
            "status": {"replicas": 3, "readyReplicas": 1}
        });
        assert_eq!(
            cells("ReplicaSet", &rs),
            vec![
                json!("web-5d4b9c8f7"),
                json!(3),
                json!(3),
                json!(1),
                json!("60m"),
                json!("web"),
                json!("nginx"),
                json!("app=web,pod-template-hash=5d4b9c8f7"),
            ]
        );
        let defs = column_definitions("ReplicaSet");
        assert_eq!(defs[1]["type"], json!("integer"));
        let empty = json!({"metadata": {"name": "x"}, "spec": {"replicas": 0}});
        assert_eq!(cells("ReplicaSet", &empty)[7], json!("<none>"));
    }

    #[test]
    fn node_cells_and_columns() {
        let node = json!({
            "metadata": {"name": "cp-1", "creationTimestamp": "2024-04-01T12:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "",
                                    "node-role.kubernetes.io/master": "", "kubernetes.io/os": "linux"}},
            "spec": {"unschedulable": true},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "cp-1"}],
                "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://2.0.0"}
            }
        });
        assert_eq!(
            cells("Node", &node),
            vec![
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,master"),
                json!("30d"),
                json!("v1.35.0"),
                json!("172.18.0.2"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0"),
                json!("containerd://2.0.0"),
            ]
        );
        let bare = json!({"metadata": {"name": "w"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        let c = cells("Node", &bare);
        assert_eq!(c[1], json!("NotReady"));
        assert_eq!(c[2], json!("<none>"));
        assert_eq!(c[7], json!("<unknown>"));
        let nothing = json!({"metadata": {"name": "w"}});
        assert_eq!(cells("Node", &nothing)[1], json!("Unknown"));
        assert_eq!(col_names("Node").iter().filter(|c| c.1 == 1).count(), 5);
    }

    #[test]
    fn core_event_cells() {
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.17c", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 4
        });
        assert_eq!(
            cells("Event", &ev),
            vec![
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{web}"),
                json!("kubelet, node-1"),
                json!("Successfully pulled image"),
                json!("60m"),
                json!(4),
                json!("web.17c"),
            ]
        );
        let names: Vec<String> = col_names("Event").into_iter().map(|c| c.0).collect();
        assert_eq!(
            names,
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
    }

    #[test]
    fn new_style_event_cells() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "eventTime": "2024-05-01T11:59:30.000000Z",
            "regarding": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "type": "Normal", "note": "Scaled up",
            "reportingController": "deployment-controller", "reportingInstance": "",
            "series": {"count": 3, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}
        });
        let c = cells("Event", &ev);
        assert_eq!(c[0], json!("10s"));
        assert_eq!(c[3], json!("deployment/web"));
        assert_eq!(c[5], json!("deployment-controller"));
        assert_eq!(c[6], json!("Scaled up"));
        assert_eq!(c[7], json!("30s"));
        assert_eq!(c[8], json!(3));
        let single = json!({"apiVersion": "v1", "metadata": {"name": "x"},
                            "involvedObject": {"kind": "Node"}});
        let c = cells("Event", &single);
        assert_eq!(c[0], json!("<unknown>"));
        assert_eq!(c[3], json!("node"));
        assert_eq!(c[8], json!(1));
    }

    #[test]
    fn namespace_and_default_tables() {
        let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": "2024-05-01T11:59:55Z"},
                        "status": {"phase": "Active"}});
        assert_eq!(
            cells("Namespace", &ns),
            vec![json!("kube-system"), json!("Active"), json!("5s")]
        );
        let crd = json!({"metadata": {"name": "foos.example.com", "creationTimestamp": "2024-03-02T01:02:03Z"}});
        assert_eq!(
            cells("CustomResourceDefinition", &crd),
            vec![json!("foos.example.com"), json!("2024-03-02T01:02:03Z")]
        );
        let defs = column_definitions("ClusterRole");
        assert_eq!(defs[1]["name"], json!("Created At"));
        assert_eq!(defs[1]["type"], json!("date"));
        let t = table(
            "ClusterRole",
            &[],
            json!({}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["rows"], Value::Null);
    }

    #[test]
    fn config_secret_service_account_cells() {
        let cm = json!({"metadata": {"name": "kube-root-ca.crt", "creationTimestamp": "2024-05-01T11:00:00Z"},
                        "data": {"ca.crt": "x"}, "binaryData": {"b": "eA=="}});
        assert_eq!(
            cells("ConfigMap", &cm),
            vec![json!("kube-root-ca.crt"), json!(2), json!("60m")]
        );
        let secret =
            json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": ""}});
        assert_eq!(
            cells("Secret", &secret),
            vec![json!("s"), json!("Opaque"), json!(2), json!("<unknown>")]
        );
        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(cells("ServiceAccount", &sa)[1], json!(0));
    }

    #[test]
    fn service_cells() {
        let svc = json!({"metadata": {"name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                     "selector": {"app": "web", "tier": "fe"}}});
        let c = cells("Service", &svc);
        assert_eq!(c[1], json!("NodePort"));
        assert_eq!(c[2], json!("10.96.0.10"));
        assert_eq!(c[3], json!("<none>"));
        assert_eq!(c[4], json!("80:30080/TCP,53/UDP"));
        assert_eq!(c[6], json!("app=web,tier=fe"));
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "None"}});
        let c = cells("Service", &lb);
        assert_eq!(c[2], json!("None"));
        assert_eq!(c[3], json!("<pending>"));
        assert_eq!(c[4], json!("<none>"));
        assert_eq!(c[6], json!("<none>"));
    }

    #[test]
    fn workload_extras() {
        let ds = json!({"metadata": {"name": "kube-proxy"},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                     "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                           "containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.35.0"}]}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 2,
                       "updatedNumberScheduled": 2, "numberAvailable": 1}});
        let c = cells("DaemonSet", &ds);
        assert_eq!(c[1..6], [json!(2), json!(2), json!(2), json!(2), json!(1)]);
        assert_eq!(c[6], json!("kubernetes.io/os=linux"));
        assert_eq!(c[10], json!("k8s-app=kube-proxy"));
        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 1}});
        assert_eq!(cells("StatefulSet", &sts)[1], json!("1/2"));
        let job = json!({"metadata": {"name": "pi"},
            "spec": {"completions": 1},
            "status": {"succeeded": 1, "startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:00:42Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        let c = cells("Job", &job);
        assert_eq!(c[1], json!("Complete"));
        assert_eq!(c[2], json!("1/1"));
        assert_eq!(c[3], json!("42s"));
        let running = json!({"metadata": {"name": "r"}, "spec": {"parallelism": 3},
            "status": {"startTime": "2024-05-01T11:57:00Z"}});
        let c = cells("Job", &running);
        assert_eq!(c[1], json!("Running"));
        assert_eq!(c[2], json!("0/1 of 3"));
        assert_eq!(c[3], json!("3m"));
    }
}
