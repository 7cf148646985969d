//! Simulated nodes: their Node objects (capacity, allocatable, labels, taints,
//! conditions, addresses) and the heartbeat Leases in `kube-node-lease`.

use crate::Sim;
use crate::cluster::WriteOptions;
use crate::discovery::KUBE_VERSION;
use crate::resources::ids;
use serde_json::{Value, json};
use std::time::Duration;

/// One node to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// CPU capacity (a quantity, e.g. `4`).
    pub cpu: String,
    /// Memory capacity (e.g. `8Gi`).
    pub memory: String,
    /// Pod capacity.
    pub pods: u32,
    /// Extra labels.
    pub labels: Vec<(String, String)>,
    /// Taints as (key, value, effect).
    pub taints: Vec<(String, String, String)>,
}

impl NodeSpec {
    /// A worker with the default size: 4 CPUs, 8 GiB, 110 pods.
    pub fn worker(name: &str) -> Self {
        NodeSpec {
            name: name.to_string(),
            cpu: "4".into(),
            memory: "8Gi".into(),
            pods: 110,
            labels: Vec::new(),
            taints: Vec::new(),
        }
    }

    /// `count` default workers named `sim-worker-1` …
    pub fn workers(count: usize) -> Vec<NodeSpec> {
        (1..=count)
            .map(|i| NodeSpec::worker(&format!("sim-worker-{i}")))
            .collect()
    }

    /// Parses a taint `key=value:Effect` or `key:Effect`.
    pub fn parse_taint(text: &str) -> Result<(String, String, String), String> {
        let (kv, effect) = text.rsplit_once(':').ok_or_else(|| {
            format!("taint {text:?} has no effect: write key=value:NoSchedule (or PreferNoSchedule, NoExecute)")
        })?;
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return Err(format!(
                "taint {text:?}: effect {effect:?} is not one of NoSchedule, PreferNoSchedule, NoExecute"
            ));
        }
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if k.is_empty() {
            return Err(format!("taint {text:?} has an empty key"));
        }
        Ok((k.to_string(), v.to_string(), effect.to_string()))
    }
}

/// The Node object for a spec; `index` picks its addresses and pod CIDR.
pub fn node_object(spec: &NodeSpec, index: usize) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": format!("sim-zone-{}", (index % 3) + 1),
    });
    for (k, v) in &spec.labels {
        labels[k] = json!(v);
    }
    let taints: Vec<Value> = spec
        .taints
        .iter()
        .map(|(k, v, e)| {
            let mut t = json!({"key": k, "effect": e});
            if !v.is_empty() {
                t["value"] = json!(v);
            }
            t
        })
        .collect();
    let cidr = format!("10.244.{}.0/24", index + 1);
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": format!("podmirror-sim://{}", spec.name)},
        "status": {
            "capacity": {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods.to_string(), "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods.to_string(), "ephemeral-storage": "100Gi"},
            "addresses": [
                {"type": "InternalIP", "address": format!("172.18.0.{}", index + 2)},
                {"type": "Hostname", "address": spec.name},
            ],
            "nodeInfo": {
                "machineID": format!("{:032x}", index + 1),
                "systemUUID": format!("{:032x}", index + 1001),
                "bootID": format!("{:032x}", index + 2001),
                "kernelVersion": "6.1.0-podmirror-sim",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://2.1.1",
                "kubeletVersion": KUBE_VERSION,
                "kubeProxyVersion": KUBE_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    });
    if !taints.is_empty() {
        node["spec"]["taints"] = json!(taints);
    }
    node
}

/// The conditions of a healthy node, stamped now.
pub fn node_conditions() -> Value {
    let now = crate::meta::now_rfc3339();
    let c = |t: &str, s: &str, reason: &str, message: &str| json!({"type": t, "status": s, "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": reason, "message": message});
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

/// Creates the nodes and their Leases, and keeps the Leases renewed.
pub fn start(sim: &Sim, specs: &[NodeSpec]) {
    let opts = WriteOptions::manager("kubelet");
    for (i, spec) in specs.iter().enumerate() {
        let mut node = node_object(spec, i);
        node["status"]["conditions"] = node_conditions();
        let _ = sim.cluster.create(ids::nodes(), "", node, &opts);
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": spec.name},
            "spec": {"holderIdentity": spec.name, "leaseDurationSeconds": 40, "renewTime": crate::meta::now_micro()},
        });
        let _ = sim
            .cluster
            .create(ids::leases(), "kube-node-lease", lease, &opts);
    }
    let weak = sim.downgrade();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let every = sim.scaled(Duration::from_secs(10));
    let handle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(sim) = weak.upgrade() else { return };
            for name in &names {
                let patch = json!({"spec": {"renewTime": crate::meta::now_micro()}});
                let _ = sim.cluster.patch(
                    ids::leases(),
                    "kube-node-lease",
                    name,
                    None,
                    crate::patch::PatchType::Merge,
                    &patch,
                    &WriteOptions::manager("kubelet"),
                );
            }
        }
    });
    sim.track(handle);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse() {
        assert_eq!(
            NodeSpec::parse_taint("dedicated=gpu:NoSchedule"),
            Ok(("dedicated".into(), "gpu".into(), "NoSchedule".into()))
        );
        assert!(NodeSpec::parse_taint("dedicated=gpu").is_err());
        assert!(NodeSpec::parse_taint("x:Sometimes").is_err());
    }

    #[test]
    fn node_object_has_capacity_and_taints() {
        let mut spec = NodeSpec::worker("n1");
        spec.taints
            .push(("dedicated".into(), "gpu".into(), "NoSchedule".into()));
        let n = node_object(&spec, 0);
        assert_eq!(n["status"]["allocatable"]["memory"], "8Gi");
        assert_eq!(n["spec"]["taints"][0]["key"], "dedicated");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
    }
}
