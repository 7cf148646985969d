//! Pure decisions the simulated kubelet makes for one container, driven by
//! the image catalog, with the reason strings, exit codes, event texts and
//! log lines a real kubelet 1.35 with containerd 2 / runc 1.2 produces.
//!
//! The kubelet works through a pod in this order, and so should the caller:
//!
//! 1. [`mount_failures`] — volumes first. A missing ConfigMap/Secret (or key)
//!    behind a volume keeps the pod `ContainerCreating` with `FailedMount`
//!    events ([`MountFailure::event`]); no container is created.
//! 2. [`pull`] — per container: `Pulling`, then `Pulled` or `Failed` events,
//!    waiting reason `ErrImagePull`, and on the next attempts while backing
//!    off ([`image_pull_backoff`]) `ImagePullBackOff` with
//!    [`image_pull_backoff_message`].
//! 3. [`check_config`] — env, envFrom and `runAsNonRoot`; an `Err` is the
//!    `CreateContainerConfigError` message (event: [`error_event`]).
//! 4. [`plan_run`] — what the process does: fail to start (`StartError`,
//!    exit 128), or run, print logs and maybe exit (`Completed`, `Error`,
//!    `OOMKilled`) at a given second.
//! 5. [`probe`] — each probe period; failures become `Unhealthy` events
//!    ([`unhealthy_event`]); liveness/startup failures restart the container
//!    ([`probe_kill_event`]).
//! 6. After an exit the restart waits [`crashloop_backoff`], reported as
//!    waiting reason `CrashLoopBackOff` with [`backoff_message`].
//!
//! Everything here is a pure function of its inputs: no clock, no
//! randomness, no I/O (sizes and ids that look random are hashes of the
//! inputs), so tests and seeded runs repeat exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::catalog::{
    Catalog, Image, Lookup, MISSING_ENV_MARKER, MISSING_FILE_MARKER, Route, parse_ref,
};
use crate::catalog::{DEFAULT_MISSING_ENV_LINE, DEFAULT_MISSING_FILE_LINE};

/// Reason strings the kubelet writes into container states.
pub mod reasons {
    /// Waiting: the image pull just failed.
    pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
    /// Waiting: backing off before the next pull attempt.
    pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
    /// Waiting: the container's env/envFrom/securityContext cannot be satisfied.
    pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
    /// Waiting: the runtime failed to start the container.
    pub const RUN_CONTAINER_ERROR: &str = "RunContainerError";
    /// Waiting: backing off before restarting an exited container.
    pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
    /// Waiting: volumes are not mounted yet (or cannot be).
    pub const CONTAINER_CREATING: &str = "ContainerCreating";
    /// Terminated: the process could not be started (exit code 128).
    pub const START_ERROR: &str = "StartError";
    /// Terminated: exit code 0.
    pub const COMPLETED: &str = "Completed";
    /// Terminated: a non-zero exit code.
    pub const ERROR: &str = "Error";
    /// Terminated: killed by the kernel for exceeding the memory limit (exit 137).
    pub const OOM_KILLED: &str = "OOMKilled";
}

/// Exit code of a process that could not be started.
pub const START_ERROR_EXIT_CODE: i32 = 128;
/// Exit code of a shell command that was not found.
pub const NOT_FOUND_EXIT_CODE: i32 = 127;
/// Exit code of a process killed by SIGKILL (OOM killer, grace period over).
pub const SIGKILL_EXIT_CODE: i32 = 137;

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------
// Image pulls

/// The result of pulling a container's image.
#[derive(Debug, Clone, PartialEq)]
pub enum PullOutcome<'a> {
    /// The image is in the catalog and may be pulled.
    Pulled {
        /// The catalog entry.
        image: &'a Image,
        /// Compressed size reported in the `Pulled` event.
        size_bytes: u64,
        /// How long the pull takes, for the `Pulled` event and timing.
        duration: Duration,
    },
    /// The repository or tag does not exist. `message` is the runtime's
    /// error: the waiting message of `ErrImagePull`.
    NotFound {
        /// The containerd error text.
        message: String,
    },
    /// The image is private and no image pull secret was given.
    Unauthorized {
        /// The containerd error text.
        message: String,
    },
}

impl PullOutcome<'_> {
    /// The error text when the pull failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            PullOutcome::Pulled { .. } => None,
            PullOutcome::NotFound { message } | PullOutcome::Unauthorized { message } => {
                Some(message)
            }
        }
    }
}

/// Pulls `image` (a container's `image` field) from the catalog.
///
/// `have_pull_secret`: whether the pod names an imagePullSecret that exists
/// (the simulated registries accept any). Private repositories refuse
/// anonymous pulls before they reveal whether a tag exists.
pub fn pull<'a>(catalog: &'a Catalog, image: &str, have_pull_secret: bool) -> PullOutcome<'a> {
    let r = parse_ref(image);
    let full = r.full();
    let prefix = format!(
        "failed to pull and unpack image {}: failed to resolve reference {}",
        q(&full),
        q(&full)
    );
    let reference = r.digest.clone().unwrap_or_else(|| r.tag.clone());
    let not_found = || PullOutcome::NotFound {
        message: format!("rpc error: code = NotFound desc = {prefix}: {full}: not found"),
    };
    let denied = || {
        format!(
            "rpc error: code = Unknown desc = {prefix}: pull access denied, repository does not \
             exist or may require authorization: server message: insufficient_scope: \
             authorization failed"
        )
    };
    match catalog.lookup(image) {
        Lookup::UnknownRepository if r.is_docker_hub() => {
            PullOutcome::NotFound { message: denied() }
        }
        Lookup::UnknownRepository => not_found(),
        Lookup::Found(found) | Lookup::UnknownTag(found) if found.private && !have_pull_secret => {
            let message = if r.is_docker_hub() {
                denied()
            } else {
                format!(
                    "rpc error: code = Unknown desc = {prefix}: unexpected status from HEAD \
                     request to https://{}/v2/{}/manifests/{reference}: 401 Unauthorized",
                    r.registry_host(),
                    r.path
                )
            };
            PullOutcome::Unauthorized { message }
        }
        Lookup::UnknownTag(_) => not_found(),
        Lookup::Found(found) => {
            let h = fnv64(full.as_bytes());
            let size_bytes = 2_000_000 + h % 150_000_000;
            // A pull at about 60 MB/s plus a round trip, to the millisecond.
            let millis = 250 + size_bytes / 60_000 + (h >> 40) % 200;
            PullOutcome::Pulled {
                image: found,
                size_bytes,
                duration: Duration::from_millis(millis),
            }
        }
    }
}

/// The image reference as the kubelet writes it in events: as given, with
/// `:latest` appended when it names neither tag nor digest.
pub fn kubelet_image_ref(image: &str) -> String {
    parse_ref(image).kubelet()
}

/// `Pulling` event: `Pulling image "nginx:1.27"`.
pub fn pulling_event(image: &str) -> String {
    format!("Pulling image {}", q(&kubelet_image_ref(image)))
}

/// `Pulled` event after a pull.
pub fn pulled_event(image: &str, duration: Duration, size_bytes: u64) -> String {
    let d = go_duration(duration);
    format!(
        "Successfully pulled image {} in {d} ({d} including waiting). Image size: {size_bytes} bytes.",
        q(&kubelet_image_ref(image))
    )
}

/// `Pulled` event when the image is already on the node (pull policy
/// `IfNotPresent` or `Never` and a previous pull).
pub fn already_present_event(image: &str) -> String {
    format!(
        "Container image {} already present on machine",
        q(&kubelet_image_ref(image))
    )
}

/// `Failed` (Warning) event of a failed pull; `error` is [`PullOutcome::error`].
pub fn pull_failed_event(image: &str, error: &str) -> String {
    format!(
        "Failed to pull image {}: {error}",
        q(&kubelet_image_ref(image))
    )
}

/// `BackOff` (Normal) event while the kubelet waits before pulling again.
pub fn pull_backoff_event(image: &str) -> String {
    format!("Back-off pulling image {}", q(&kubelet_image_ref(image)))
}

/// The waiting message of `ImagePullBackOff`: the back-off text followed by
/// the last pull error, as kubelets since 1.32 write it.
pub fn image_pull_backoff_message(image: &str, last_error: &str) -> String {
    format!("{}: ErrImagePull: {last_error}", pull_backoff_event(image))
}

/// A `Failed` (Warning) event the kubelet emits for a container that could
/// not be created or started: `Error: ErrImagePull`, `Error: ImagePullBackOff`,
/// `Error: configmap "x" not found`, `Error: failed to create containerd task: …`.
pub fn error_event(reason_or_message: &str) -> String {
    format!("Error: {reason_or_message}")
}

/// Delay before the next pull after `failures` (≥ 1) failed pulls in a
/// row: 10 s, 20 s, 40 s, … capped at 5 minutes (the kubelet's image back-off).
pub fn image_pull_backoff(failures: u32) -> Duration {
    crashloop_backoff(failures.saturating_sub(1))
}

// ---------------------------------------------------------------------------
// Objects, volumes and container configuration

/// Read access to the ConfigMaps and Secrets of the cluster.
pub trait Objects {
    /// The whole ConfigMap object (`data` and `binaryData` are read), or
    /// `None` when it does not exist.
    fn configmap(&self, namespace: &str, name: &str) -> Option<Value>;
    /// The whole Secret object (`data`, base64 as stored, and `stringData`
    /// are read), or `None` when it does not exist.
    fn secret(&self, namespace: &str, name: &str) -> Option<Value>;
}

/// A volume that cannot be set up; the pod stays `ContainerCreating`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFailure {
    /// The volume's name in the pod spec.
    pub volume: String,
    /// The error, e.g. `configmap "shop-config" not found`.
    pub message: String,
}

impl MountFailure {
    /// The `FailedMount` (Warning) event text:
    /// `MountVolume.SetUp failed for volume "cfg" : configmap "x" not found`.
    pub fn event(&self) -> String {
        format!(
            "MountVolume.SetUp failed for volume {} : {}",
            q(&self.volume),
            self.message
        )
    }
}

/// Checks every ConfigMap, Secret and projected volume that a container or
/// init container of the pod mounts, in `spec.volumes` order. Volumes that
/// no container mounts are not set up (as in the kubelet), so they cannot
/// fail. `optional: true` sources that are missing mount as empty.
pub fn mount_failures(pod: &Value, objects: &dyn Objects) -> Vec<MountFailure> {
    let ns = pod_namespace(pod);
    let mounted: Vec<&str> = all_containers(pod)
        .flat_map(|c| arr(c, "volumeMounts"))
        .filter_map(|m| s(m, "name"))
        .collect();
    let mut failures = Vec::new();
    for volume in arr(&pod["spec"], "volumes") {
        let Some(name) = s(volume, "name") else {
            continue;
        };
        if !mounted.contains(&name) {
            continue;
        }
        let mut errors: Vec<String> = Vec::new();
        if let Some(cm) = volume.get("configMap") {
            errors.extend(configmap_source_error(&ns, cm, objects));
        } else if let Some(sec) = volume.get("secret") {
            errors.extend(secret_source_error(&ns, sec, "secretName", objects));
        } else if let Some(projected) = volume.get("projected") {
            for source in arr(projected, "sources") {
                if let Some(cm) = source.get("configMap") {
                    errors.extend(configmap_source_error(&ns, cm, objects));
                } else if let Some(sec) = source.get("secret") {
                    errors.extend(secret_source_error(&ns, sec, "name", objects));
                }
            }
        }
        let message = match errors.len() {
            0 => continue,
            1 => errors.remove(0),
            _ => format!("[{}]", errors.join(", ")),
        };
        failures.push(MountFailure {
            volume: name.to_string(),
            message,
        });
    }
    failures
}

fn configmap_source_error(ns: &str, src: &Value, objects: &dyn Objects) -> Option<String> {
    let name = s(src, "name").unwrap_or_default();
    let optional = b(src, "optional");
    let Some(cm) = objects.configmap(ns, name) else {
        return (!optional).then(|| format!("configmap {} not found", q(name)));
    };
    let keys = configmap_keys(&cm, true);
    arr(src, "items")
        .filter_map(|item| s(item, "key"))
        .find(|key| !keys.iter().any(|k| k == key))
        .filter(|_| !optional)
        .map(|key| format!("configmap references non-existent config key: {key}"))
}

fn secret_source_error(
    ns: &str,
    src: &Value,
    name_field: &str,
    objects: &dyn Objects,
) -> Option<String> {
    let name = s(src, name_field).unwrap_or_default();
    let optional = b(src, "optional");
    let Some(secret) = objects.secret(ns, name) else {
        return (!optional).then(|| format!("secret {} not found", q(name)));
    };
    let keys: Vec<String> = secret_data(&secret).into_keys().collect();
    arr(src, "items")
        .filter_map(|item| s(item, "key"))
        .find(|key| !keys.iter().any(|k| k == key))
        .filter(|_| !optional)
        .map(|key| format!("references non-existent secret key: {key}"))
}

/// What the kubelet resolved for a container it is about to start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedContainer {
    /// Environment variables after envFrom and env, with their values
    /// (Secret values decoded; `fieldRef`s filled from the pod object).
    pub env: BTreeMap<String, String>,
    /// Files known to exist through ConfigMap, Secret, downwardAPI and
    /// projected volume mounts (mountPath plus item path or key; a
    /// `subPath` mount is the file at mountPath).
    pub files: Vec<String>,
    /// Mount paths whose content is not known (persistentVolumeClaim,
    /// hostPath, an emptyDir an init container also mounts, …): any file
    /// below one counts as present.
    pub opaque_mounts: Vec<String>,
}

impl ResolvedContainer {
    /// Whether the variable is set to a non-empty value.
    pub fn has_env(&self, name: &str) -> bool {
        self.env.get(name).is_some_and(|v| !v.is_empty())
    }

    /// Whether a file at `path` is provided by a mount.
    pub fn has_file(&self, path: &str) -> bool {
        self.files.iter().any(|f| f == path)
            || self.opaque_mounts.iter().any(|m| {
                path == m
                    || path
                        .strip_prefix(m.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                    || m == "/"
            })
    }
}

/// Resolves a container's environment and mounted files, or returns the
/// `CreateContainerConfigError` message the kubelet reports:
///
/// - `configmap "x" not found` / `secret "x" not found` (env or envFrom),
/// - `couldn't find key k in ConfigMap ns/x` / `… in Secret ns/x`,
/// - `container has runAsNonRoot and image will run as root (pod: "name_ns(uid)", container: c)`,
/// - `container's runAsUser breaks non-root policy (pod: "name_ns(uid)", container: c)`.
///
/// `optional: true` references that are missing are skipped. Volume
/// problems are [`mount_failures`]' job; here a missing volume source just
/// contributes no files.
pub fn check_config(
    ns: &str,
    pod: &Value,
    container: &Value,
    image: &Image,
    objects: &dyn Objects,
) -> Result<ResolvedContainer, String> {
    let env = resolve_env(ns, pod, container, objects)?;
    verify_run_as_non_root(pod, container, image)?;
    let (files, opaque_mounts) = mounted_files(ns, pod, container, objects);
    Ok(ResolvedContainer {
        env,
        files,
        opaque_mounts,
    })
}

fn resolve_env(
    ns: &str,
    pod: &Value,
    container: &Value,
    objects: &dyn Objects,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for from in arr(container, "envFrom") {
        let prefix = s(from, "prefix").unwrap_or_default();
        if let Some(r) = from.get("configMapRef") {
            let name = s(r, "name").unwrap_or_default();
            match objects.configmap(ns, name) {
                None if b(r, "optional") => continue,
                None => return Err(format!("configmap {} not found", q(name))),
                Some(cm) => {
                    for (k, v) in obj(&cm, "data") {
                        env.insert(
                            format!("{prefix}{k}"),
                            v.as_str().unwrap_or_default().to_string(),
                        );
                    }
                }
            }
        } else if let Some(r) = from.get("secretRef") {
            let name = s(r, "name").unwrap_or_default();
            match objects.secret(ns, name) {
                None if b(r, "optional") => continue,
                None => return Err(format!("secret {} not found", q(name))),
                Some(secret) => {
                    for (k, v) in secret_data(&secret) {
                        env.insert(format!("{prefix}{k}"), v);
                    }
                }
            }
        }
    }
    for var in arr(container, "env") {
        let Some(name) = s(var, "name") else { continue };
        let Some(from) = var.get("valueFrom") else {
            env.insert(
                name.to_string(),
                s(var, "value").unwrap_or_default().to_string(),
            );
            continue;
        };
        let value = if let Some(r) = from.get("configMapKeyRef") {
            let (cm_name, key, optional) = key_ref(r);
            let Some(cm) = objects.configmap(ns, cm_name) else {
                if optional {
                    continue;
                }
                return Err(format!("configmap {} not found", q(cm_name)));
            };
            match obj(&cm, "data").get(key).and_then(Value::as_str) {
                Some(v) => v.to_string(),
                None if optional => continue,
                None => {
                    return Err(format!(
                        "couldn't find key {key} in ConfigMap {ns}/{cm_name}"
                    ));
                }
            }
        } else if let Some(r) = from.get("secretKeyRef") {
            let (secret_name, key, optional) = key_ref(r);
            let Some(secret) = objects.secret(ns, secret_name) else {
                if optional {
                    continue;
                }
                return Err(format!("secret {} not found", q(secret_name)));
            };
            match secret_data(&secret).remove(key) {
                Some(v) => v,
                None if optional => continue,
                None => {
                    return Err(format!(
                        "couldn't find key {key} in Secret {ns}/{secret_name}"
                    ));
                }
            }
        } else if let Some(r) = from.get("fieldRef") {
            field_value(pod, s(r, "fieldPath").unwrap_or_default())
        } else if let Some(r) = from.get("resourceFieldRef") {
            let resource = s(r, "resource").unwrap_or_default();
            let (kind, what) = resource.split_once('.').unwrap_or(("limits", resource));
            container["resources"][kind][what]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "0".to_string())
        } else {
            String::new()
        };
        env.insert(name.to_string(), value);
    }
    Ok(env)
}

fn key_ref(r: &Value) -> (&str, &str, bool) {
    (
        s(r, "name").unwrap_or_default(),
        s(r, "key").unwrap_or_default(),
        b(r, "optional"),
    )
}

fn field_value(pod: &Value, path: &str) -> String {
    let meta = &pod["metadata"];
    let lookup = |map: &str, key: &str| meta[map][key].as_str().unwrap_or_default().to_string();
    if let Some(key) = path
        .strip_prefix("metadata.labels['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return lookup("labels", key);
    }
    if let Some(key) = path
        .strip_prefix("metadata.annotations['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return lookup("annotations", key);
    }
    let v = match path {
        "metadata.name" => &meta["name"],
        "metadata.namespace" => &meta["namespace"],
        "metadata.uid" => &meta["uid"],
        "spec.nodeName" => &pod["spec"]["nodeName"],
        "spec.serviceAccountName" => &pod["spec"]["serviceAccountName"],
        "status.podIP" => &pod["status"]["podIP"],
        "status.hostIP" => &pod["status"]["hostIP"],
        _ => &Value::Null,
    };
    v.as_str().unwrap_or_default().to_string()
}

fn verify_run_as_non_root(pod: &Value, container: &Value, image: &Image) -> Result<(), String> {
    let container_sc = &container["securityContext"];
    let pod_sc = &pod["spec"]["securityContext"];
    let effective = |field: &str| {
        container_sc
            .get(field)
            .filter(|v| !v.is_null())
            .or_else(|| pod_sc.get(field).filter(|v| !v.is_null()))
    };
    if effective("runAsNonRoot").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let who = format!(
        "(pod: {}, container: {})",
        q(&format_pod_of(pod)),
        s(container, "name").unwrap_or_default()
    );
    match effective("runAsUser").and_then(Value::as_i64) {
        Some(0) => Err(format!(
            "container's runAsUser breaks non-root policy {who}"
        )),
        Some(_) => Ok(()),
        None if image.runs_as_root => Err(format!(
            "container has runAsNonRoot and image will run as root {who}"
        )),
        None => Ok(()),
    }
}

fn mounted_files(
    ns: &str,
    pod: &Value,
    container: &Value,
    objects: &dyn Objects,
) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut opaque = Vec::new();
    let init_mounts: Vec<&str> = arr(&pod["spec"], "initContainers")
        .flat_map(|c| arr(c, "volumeMounts"))
        .filter_map(|m| s(m, "name"))
        .collect();
    for mount in arr(container, "volumeMounts") {
        let (Some(name), Some(path)) = (s(mount, "name"), s(mount, "mountPath")) else {
            continue;
        };
        let path = path.trim_end_matches('/');
        let sub_path = s(mount, "subPath").filter(|p| !p.is_empty());
        let Some(volume) = arr(&pod["spec"], "volumes").find(|v| s(v, "name") == Some(name)) else {
            continue;
        };
        let listed: Option<Vec<String>> = if let Some(cm) = volume.get("configMap") {
            Some(configmap_volume_paths(ns, cm, objects))
        } else if let Some(sec) = volume.get("secret") {
            Some(secret_volume_paths(ns, sec, "secretName", objects))
        } else if let Some(d) = volume.get("downwardAPI") {
            Some(item_paths(d))
        } else if let Some(p) = volume.get("projected") {
            let mut paths = Vec::new();
            for source in arr(p, "sources") {
                if let Some(cm) = source.get("configMap") {
                    paths.extend(configmap_volume_paths(ns, cm, objects));
                } else if let Some(sec) = source.get("secret") {
                    paths.extend(secret_volume_paths(ns, sec, "name", objects));
                } else if let Some(d) = source.get("downwardAPI") {
                    paths.extend(item_paths(d));
                } else if let Some(t) = source
                    .get("serviceAccountToken")
                    .or_else(|| source.get("clusterTrustBundle"))
                {
                    paths.extend(s(t, "path").map(str::to_string));
                }
            }
            Some(paths)
        } else if volume.get("emptyDir").is_some() && !init_mounts.contains(&name) {
            Some(Vec::new())
        } else {
            None
        };
        match (listed, sub_path) {
            (None, _) => opaque.push(if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            }),
            (Some(paths), None) => files.extend(paths.iter().map(|p| format!("{path}/{p}"))),
            (Some(paths), Some(sub)) => {
                if paths.iter().any(|p| p == sub) {
                    files.push(path.to_string());
                }
                let dir = format!("{sub}/");
                files.extend(
                    paths
                        .iter()
                        .filter_map(|p| p.strip_prefix(&dir))
                        .map(|rest| format!("{path}/{rest}")),
                );
            }
        }
    }
    (files, opaque)
}

fn configmap_volume_paths(ns: &str, src: &Value, objects: &dyn Objects) -> Vec<String> {
    let Some(cm) = objects.configmap(ns, s(src, "name").unwrap_or_default()) else {
        return Vec::new();
    };
    let keys = configmap_keys(&cm, true);
    select_items(src, &keys)
}

fn secret_volume_paths(
    ns: &str,
    src: &Value,
    name_field: &str,
    objects: &dyn Objects,
) -> Vec<String> {
    let Some(secret) = objects.secret(ns, s(src, name_field).unwrap_or_default()) else {
        return Vec::new();
    };
    let keys: Vec<String> = secret_data(&secret).into_keys().collect();
    select_items(src, &keys)
}

/// The file paths a ConfigMap/Secret volume source produces: each key, or
/// with `items` each item's path whose key exists.
fn select_items(src: &Value, keys: &[String]) -> Vec<String> {
    match src.get("items").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .filter(|i| s(i, "key").is_some_and(|k| keys.iter().any(|x| x == k)))
            .filter_map(|i| s(i, "path").or_else(|| s(i, "key")).map(str::to_string))
            .collect(),
        _ => keys.to_vec(),
    }
}

fn item_paths(src: &Value) -> Vec<String> {
    arr(src, "items")
        .filter_map(|i| s(i, "path"))
        .map(str::to_string)
        .collect()
}

fn configmap_keys(cm: &Value, with_binary: bool) -> Vec<String> {
    let mut keys: Vec<String> = obj(cm, "data").keys().cloned().collect();
    if with_binary {
        keys.extend(obj(cm, "binaryData").keys().cloned());
    }
    keys
}

/// A Secret's data, base64-decoded (raw text when not valid base64), with
/// `stringData` on top.
fn secret_data(secret: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in obj(secret, "data") {
        let raw = v.as_str().unwrap_or_default();
        let value = base64_decode(raw)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| raw.to_string());
        out.insert(k.clone(), value);
    }
    for (k, v) in obj(secret, "stringData") {
        out.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Running the process

/// What happens when the runtime starts the container.
#[derive(Debug, Clone, PartialEq)]
pub enum RunPlan {
    /// The runtime cannot start the process: an exec-form command whose
    /// executable is not in the image. The container terminates at once
    /// with reason `StartError`, exit code 128 and `message` (also the
    /// `Failed` event as [`error_event`]`(message)`); the waiting reason
    /// until the restart is `RunContainerError`, then `CrashLoopBackOff`.
    StartFailure {
        /// Always [`START_ERROR_EXIT_CODE`].
        exit_code: i32,
        /// Always `StartError`.
        reason: String,
        /// The containerd/runc error.
        message: String,
    },
    /// The process starts (events `Created`, `Started`).
    Runs(Run),
}

/// A started process.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Lines it prints right after start, in order (`kubectl logs`).
    pub log_lines: Vec<String>,
    /// When and how it exits; `None` runs until stopped.
    pub exit: Option<Exit>,
    /// Ports accepting connections from `startup_seconds` on.
    pub listens: Vec<u16>,
    /// The only HTTP path answering 200 (`None`: all paths).
    pub health_path: Option<String>,
    /// Seconds after start before the ports accept connections.
    pub startup_seconds: f64,
    /// The catalog's routes for the container's image tag (how the ports
    /// answer beyond the health path).
    pub routes: Vec<Route>,
}

/// How a process ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// Seconds after start.
    pub after_seconds: f64,
    /// The exit code.
    pub exit_code: i32,
    /// The terminated reason: `Completed`, `Error` or `OOMKilled`.
    pub reason: String,
}

impl Exit {
    fn code(after_seconds: f64, exit_code: i32) -> Exit {
        Exit {
            after_seconds,
            exit_code,
            reason: exit_reason(exit_code).to_string(),
        }
    }
}

/// The terminated reason for an exit code: `Completed` for 0, else `Error`.
pub fn exit_reason(exit_code: i32) -> &'static str {
    if exit_code == 0 {
        reasons::COMPLETED
    } else {
        reasons::ERROR
    }
}

/// The container's memory limit in bytes (`resources.limits.memory`).
pub fn memory_limit_bytes(container: &Value) -> Option<u64> {
    crate::quantity::bytes(&container["resources"]["limits"]["memory"])
        .and_then(|b| u64::try_from(b).ok())
}

/// Decides what the container's process does.
///
/// The command line is `command` + `args`; without `command` it is the
/// image's entrypoint (its first binary) + `args`, except that an image
/// whose entrypoint is a shell (busybox) has no ENTRYPOINT, so `args`
/// alone is the command line, like a Dockerfile CMD.
///
/// - Exec form: the executable must be one of the image's `binaries`;
///   otherwise [`RunPlan::StartFailure`] with runc's message.
/// - `sh -c "…"` (any shell binary of the image): each command word of the
///   script must be a binary or a shell builtin; the first that is not
///   prints the shell's `not found` line and exits 127. `echo` prints,
///   `exit N` exits, `while` loops run forever; the last command decides
///   the rest.
/// - Small utilities (`sleep N`, `echo`, `true`, `false`, `env`, `tail -f`,
///   `cat`, …) behave like themselves; `sleep 3600` exits 0 after an hour,
///   `sleep infinity` never.
/// - Any other binary is the image's program: it prints the catalog's log
///   lines, fails (exit 1, `Error`) at the `on-missing-env:` /
///   `on-missing-file:` point if a required variable or file is missing,
///   is OOMKilled (exit 137) at `max(startup_seconds, 1)` when the memory
///   limit is below `memory_mib`, and a batch image exits with `exit_code`
///   after `exit_after_seconds`. Its arguments are not interpreted.
pub fn plan_run(
    container: &Value,
    image: &Image,
    resolved: &ResolvedContainer,
    memory_limit_bytes: Option<u64>,
) -> RunPlan {
    let mut plan = plan_process(container, image, resolved, memory_limit_bytes);
    if let RunPlan::Runs(run) = &mut plan
        && !run.listens.is_empty()
    {
        let tag = parse_ref(container["image"].as_str().unwrap_or_default()).tag;
        run.routes = image.routes_for(&tag);
    }
    plan
}

/// [`plan_run`] without the routes.
fn plan_process(
    container: &Value,
    image: &Image,
    resolved: &ResolvedContainer,
    memory_limit_bytes: Option<u64>,
) -> RunPlan {
    let command = strings(container, "command");
    let args = strings(container, "args");
    let argv: Vec<String> = if !command.is_empty() {
        command.into_iter().chain(args).collect()
    } else {
        match image.entrypoint() {
            Some(entry) if !args.is_empty() && is_shell(entry) => args,
            Some(entry) => std::iter::once(entry.to_string()).chain(args).collect(),
            // No binaries listed: the image's own (unnamed) program runs.
            None => return RunPlan::Runs(program_run(image, resolved, memory_limit_bytes, 0.0)),
        }
    };
    let Some(first) = argv.first() else {
        return RunPlan::Runs(program_run(image, resolved, memory_limit_bytes, 0.0));
    };
    if image.find_binary(first).is_none() {
        return RunPlan::StartFailure {
            exit_code: START_ERROR_EXIT_CODE,
            reason: reasons::START_ERROR.to_string(),
            message: format!(
                "failed to create containerd task: failed to create shim task: OCI runtime \
                 create failed: runc create failed: unable to start container process: error \
                 during container init: {}: unknown",
                exec_not_found(first)
            ),
        };
    }
    RunPlan::Runs(interpret(
        &argv,
        image,
        resolved,
        memory_limit_bytes,
        0.0,
        0,
    ))
}

/// Runs the container's `lifecycle.postStart` exec hook as [`plan_run`]
/// runs a command; Some(the kubelet's `FailedPostStartHook` event text) when
/// it fails — its executable is not in the image (exit 126) or it exits
/// non-zero. A hook that keeps running, and an httpGet hook, succeed.
/// `pod_text` is `name_namespace(uid)`, as the kubelet names pods.
pub fn post_start_failure(
    container: &Value,
    image: &Image,
    resolved: &ResolvedContainer,
    pod_text: &str,
) -> Option<String> {
    let command = strings(&container["lifecycle"]["postStart"]["exec"], "command");
    let first = command.first()?;
    let (code, output) = match plan_run(
        &serde_json::json!({"command": command}),
        image,
        resolved,
        None,
    ) {
        RunPlan::StartFailure { .. } => (
            126,
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {}: unknown\r\n",
                exec_not_found(first)
            ),
        ),
        RunPlan::Runs(Run {
            exit: Some(e),
            log_lines,
            ..
        }) if e.exit_code != 0 => (e.exit_code, log_lines.join("\n")),
        RunPlan::Runs(_) => return None,
    };
    let line = command.join(" ");
    let name = container["name"].as_str().unwrap_or("");
    Some(format!(
        "Exec lifecycle hook ([{line}]) for Container {name:?} in Pod {pod_text:?} failed - error: command '{line}' exited with {code}: , message: {output:?}"
    ))
}

/// runc's words for an executable that is not there.
fn exec_not_found(command: &str) -> String {
    if command.contains('/') {
        format!(
            "exec: {}: stat {command}: no such file or directory",
            q(command)
        )
    } else {
        format!("exec: {}: executable file not found in $PATH", q(command))
    }
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];
const BUILTINS: &[&str] = &[
    ":", ".", "[", "alias", "break", "cd", "command", "continue", "echo", "eval", "exit", "export",
    "false", "getopts", "hash", "printf", "pwd", "read", "readonly", "return", "set", "shift",
    "source", "test", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset",
    "wait", "local",
];
/// Programs that run briefly and exit 0 without output.
const QUICK_UTILITIES: &[&str] = &[
    "cat",
    "ls",
    "date",
    "id",
    "hostname",
    "wget",
    "curl",
    "nslookup",
    "dig",
    "psql",
    "pg_isready",
    "redis-cli",
    "mkdir",
    "touch",
    "cp",
    "mv",
    "rm",
    "chmod",
    "chown",
    "ln",
    "grep",
    "sed",
    "awk",
    "find",
    "uname",
    "whoami",
    "ps",
    "df",
    "du",
    "head",
    "which",
    "tee",
    "sort",
    "uniq",
    "wc",
    "cut",
    "tr",
    "base64",
    "sha256sum",
    "md5sum",
    "gzip",
    "tar",
    "stat",
    "dirname",
    "basename",
    "realpath",
    "readlink",
    "mount",
    "free",
    "uptime",
    "nproc",
];

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_shell(path: &str) -> bool {
    SHELLS.contains(&basename(path))
}

#[derive(Clone, Copy, PartialEq)]
enum ShellFlavor {
    Dash,
    Busybox,
    Bash,
}

fn shell_flavor(argv0: &str, image: &Image) -> ShellFlavor {
    if basename(argv0) == "bash" {
        ShellFlavor::Bash
    } else if image.binaries.iter().any(|b| basename(b) == "busybox") {
        ShellFlavor::Busybox
    } else {
        ShellFlavor::Dash
    }
}

fn utility_run(log_lines: Vec<String>, exit: Option<Exit>) -> Run {
    Run {
        log_lines,
        exit,
        listens: Vec::new(),
        health_path: None,
        startup_seconds: 0.0,
        routes: Vec::new(),
    }
}

/// Runs an argv whose executable exists. `delay` is time already spent by
/// a shell script before it.
fn interpret(
    argv: &[String],
    image: &Image,
    resolved: &ResolvedContainer,
    limit: Option<u64>,
    delay: f64,
    depth: usize,
) -> Run {
    let Some(argv0) = argv.first() else {
        return utility_run(Vec::new(), Some(Exit::code(delay, 0)));
    };
    let name = basename(argv0);
    let busybox = image.binaries.iter().any(|b| basename(b) == "busybox");
    if is_shell(argv0) && depth < 4 {
        return match argv.get(1).map(String::as_str) {
            // `sh` alone reads commands from stdin, which is empty: exit 0.
            None => utility_run(Vec::new(), Some(Exit::code(delay, 0))),
            Some(flag) if flag.starts_with('-') && flag.contains('c') => {
                let script = argv.get(2).map(String::as_str).unwrap_or_default();
                run_script(argv0, script, image, resolved, limit, delay, depth)
            }
            Some(script_file) => {
                if image.find_binary(script_file).is_some() {
                    interpret(&argv[1..], image, resolved, limit, delay, depth + 1)
                } else {
                    let line = match shell_flavor(argv0, image) {
                        ShellFlavor::Busybox => {
                            format!(
                                "{argv0}: can't open '{script_file}': No such file or directory"
                            )
                        }
                        ShellFlavor::Bash => {
                            format!("{argv0}: {script_file}: No such file or directory")
                        }
                        ShellFlavor::Dash => {
                            format!("{argv0}: 0: cannot open {script_file}: No such file")
                        }
                    };
                    let code = if shell_flavor(argv0, image) == ShellFlavor::Bash {
                        127
                    } else {
                        2
                    };
                    utility_run(vec![line], Some(Exit::code(delay, code)))
                }
            }
        };
    }
    let rest = &argv[1..];
    match name {
        "sleep" => match sleep_seconds(rest, busybox) {
            Ok(None) => utility_run(Vec::new(), None),
            Ok(Some(secs)) => utility_run(Vec::new(), Some(Exit::code(delay + secs, 0))),
            Err(lines) => utility_run(lines, Some(Exit::code(delay, 1))),
        },
        "tail"
            if rest
                .iter()
                .any(|a| a == "-f" || a == "-F" || a.starts_with("--follow")) =>
        {
            utility_run(Vec::new(), None)
        }
        "ping" | "top" | "watch" => utility_run(Vec::new(), None),
        "nc" if rest.iter().any(|a| a.starts_with('-') && a.contains('l')) => {
            utility_run(Vec::new(), None)
        }
        "echo" => utility_run(vec![echo_line(rest)], Some(Exit::code(delay, 0))),
        "true" => utility_run(Vec::new(), Some(Exit::code(delay, 0))),
        "false" => utility_run(Vec::new(), Some(Exit::code(delay, 1))),
        "env" | "printenv" => {
            let cmd_at = rest
                .iter()
                .position(|a| !a.starts_with('-') && !a.contains('='));
            match cmd_at {
                Some(i) if name == "env" && depth < 4 => {
                    let sub = &rest[i..];
                    if image.find_binary(&sub[0]).is_none() {
                        let line =
                            format!("env: \u{2018}{}\u{2019}: No such file or directory", sub[0]);
                        return utility_run(vec![line], Some(Exit::code(delay, 127)));
                    }
                    interpret(sub, image, resolved, limit, delay, depth + 1)
                }
                Some(i) => {
                    let v = resolved.env.get(&rest[i]).cloned();
                    let code = if v.is_some() { 0 } else { 1 };
                    utility_run(v.into_iter().collect(), Some(Exit::code(delay, code)))
                }
                None => {
                    let lines = resolved
                        .env
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    utility_run(lines, Some(Exit::code(delay, 0)))
                }
            }
        }
        _ if QUICK_UTILITIES.contains(&name) => utility_run(Vec::new(), Some(Exit::code(delay, 0))),
        _ => program_run(image, resolved, limit, delay),
    }
}

fn echo_line(args: &[String]) -> String {
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .skip_while(|a| *a == "-n" || *a == "-e")
        .collect();
    args.join(" ")
}

/// Seconds to sleep; `Ok(None)` forever; `Err` the error lines (exit 1).
fn sleep_seconds(args: &[String], busybox: bool) -> Result<Option<f64>, Vec<String>> {
    if args.is_empty() {
        return Err(if busybox {
            vec!["sleep: missing operand".to_string()]
        } else {
            vec![
                "sleep: missing operand".to_string(),
                "Try 'sleep --help' for more information.".to_string(),
            ]
        });
    }
    let mut total = 0.0;
    for arg in args {
        if arg == "infinity" || arg == "inf" {
            return Ok(None);
        }
        let (number, unit) = match arg.char_indices().last() {
            Some((i, c)) if "smhd".contains(c) => (&arg[..i], c),
            _ => (arg.as_str(), 's'),
        };
        let Ok(n) = number.parse::<f64>() else {
            return Err(if busybox {
                vec![format!("sleep: invalid number '{arg}'")]
            } else {
                vec![
                    format!("sleep: invalid time interval \u{2018}{arg}\u{2019}"),
                    "Try 'sleep --help' for more information.".to_string(),
                ]
            });
        };
        total += n * match unit {
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => 1.0,
        };
    }
    Ok(Some(total))
}

/// One simple command of a script: its words and the script line it is on.
struct Segment {
    words: Vec<String>,
    line: usize,
}

/// Splits a shell script into simple commands at `;`, `&`, `|`, newlines
/// and parentheses, removing quotes and comments. Good enough for the
/// one-liners people put in `sh -c`.
fn split_script(script: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut line = 1;
    let mut seg_line = 1;
    let mut chars = script.chars().peekable();
    let flush_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        if let Some(open) = quote {
            if c == open {
                quote = None;
            } else {
                if c == '\n' {
                    line += 1;
                }
                word.push(c);
            }
            continue;
        }
        if !in_word && words.is_empty() && !c.is_whitespace() && !";&|()".contains(c) {
            seg_line = line;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                in_word = true;
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    if next != '\n' {
                        word.push(next);
                        in_word = true;
                    } else {
                        line += 1;
                    }
                }
            }
            '#' if !in_word => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        line += 1;
                        break;
                    }
                }
                flush_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    segments.push(Segment {
                        words: std::mem::take(&mut words),
                        line: seg_line,
                    });
                }
            }
            ' ' | '\t' => flush_word(&mut words, &mut word, &mut in_word),
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                flush_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    segments.push(Segment {
                        words: std::mem::take(&mut words),
                        line: seg_line,
                    });
                }
                if c == '\n' {
                    line += 1;
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush_word(&mut words, &mut word, &mut in_word);
    if !words.is_empty() {
        segments.push(Segment {
            words,
            line: seg_line,
        });
    }
    segments
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn run_script(
    argv0: &str,
    script: &str,
    image: &Image,
    resolved: &ResolvedContainer,
    limit: Option<u64>,
    start_delay: f64,
    depth: usize,
) -> Run {
    let flavor = shell_flavor(argv0, image);
    let busybox = flavor == ShellFlavor::Busybox;
    let mut logs: Vec<String> = Vec::new();
    let mut delay = start_delay;
    let mut forever = false;
    let mut last: Option<Vec<String>> = None;
    for segment in split_script(script) {
        let mut words: &[String] = &segment.words;
        while let Some(first) = words.first() {
            match first.as_str() {
                "if" | "then" | "else" | "elif" | "do" | "!" | "{" | "}" | "time" => {
                    words = &words[1..]
                }
                "while" | "until" => {
                    forever = true;
                    words = &words[1..];
                }
                _ => break,
            }
        }
        if words.first().is_some_and(|w| {
            matches!(
                w.as_str(),
                "for" | "case" | "esac" | "fi" | "done" | "in" | ";;"
            )
        }) {
            continue;
        }
        while words.first().is_some_and(|w| is_assignment(w)) {
            words = &words[1..];
        }
        if words.first().is_some_and(|w| w == "exec") {
            words = &words[1..];
        }
        let Some(command) = words.first() else {
            continue;
        };
        if command.starts_with('$') || command.contains("$(") || command.contains('`') {
            continue; // expanded at run time; cannot be checked
        }
        if BUILTINS.contains(&command.as_str()) {
            match command.as_str() {
                "echo" if !forever => logs.push(echo_line(&words[1..])),
                "printf" if !forever => {
                    if let Some(format) = words.get(1) {
                        logs.push(format.replace("\\n", "").replace("%s", ""));
                    }
                }
                "exit" if !forever => {
                    let code = words
                        .get(1)
                        .and_then(|c| c.parse::<i32>().ok())
                        .unwrap_or(0);
                    return utility_run(logs, Some(Exit::code(delay, code & 0xff)));
                }
                "false" if !forever => last = Some(vec!["false".to_string()]),
                "true" | ":" if !forever => last = Some(vec!["true".to_string()]),
                _ => {}
            }
            continue;
        }
        if image.find_binary(command).is_none() {
            logs.push(match flavor {
                ShellFlavor::Dash => format!("{argv0}: {}: {command}: not found", segment.line),
                ShellFlavor::Busybox => format!("{argv0}: {command}: not found"),
                ShellFlavor::Bash if command.contains('/') => {
                    format!(
                        "{argv0}: line {}: {command}: No such file or directory",
                        segment.line
                    )
                }
                ShellFlavor::Bash => format!(
                    "{argv0}: line {}: {command}: command not found",
                    segment.line
                ),
            });
            return utility_run(logs, Some(Exit::code(delay, NOT_FOUND_EXIT_CODE)));
        }
        if forever {
            continue;
        }
        // An earlier sleep delays what follows; the last command decides.
        if let Some(previous) = last.take()
            && basename(&previous[0]) == "sleep"
            && let Ok(Some(secs)) = sleep_seconds(&previous[1..], busybox)
        {
            delay += secs;
        }
        last = Some(words.to_vec());
    }
    if forever {
        return utility_run(logs, None);
    }
    match last {
        None => utility_run(logs, Some(Exit::code(delay, 0))),
        Some(argv) => {
            let mut run = interpret(&argv, image, resolved, limit, delay, depth + 1);
            logs.append(&mut run.log_lines);
            run.log_lines = logs;
            run
        }
    }
}

/// The image's own program: logs, checks, OOM and batch exit.
fn program_run(image: &Image, resolved: &ResolvedContainer, limit: Option<u64>, delay: f64) -> Run {
    let missing_env = image.requires_env.iter().find(|n| !resolved.has_env(n));
    let missing_file = image.requires_files.iter().find(|p| !resolved.has_file(p));
    let has_marker = |m: &str| image.logs.iter().any(|l| l.starts_with(m));
    let fail = |mut logs: Vec<String>, template: &str, key: &str, value: &str| {
        logs.extend(template.replace(key, value).split('\n').map(str::to_string));
        Run {
            log_lines: logs,
            exit: Some(Exit::code(delay, 1)),
            listens: Vec::new(),
            health_path: None,
            startup_seconds: 0.0,
            routes: Vec::new(),
        }
    };
    if let Some(name) = missing_env
        && !has_marker(MISSING_ENV_MARKER)
    {
        return fail(Vec::new(), DEFAULT_MISSING_ENV_LINE, "{name}", name);
    }
    if let Some(path) = missing_file
        && !has_marker(MISSING_FILE_MARKER)
    {
        return fail(Vec::new(), DEFAULT_MISSING_FILE_LINE, "{path}", path);
    }
    let mut logs = Vec::new();
    for line in &image.logs {
        if let Some(template) = line.strip_prefix(MISSING_ENV_MARKER) {
            if let Some(name) = missing_env {
                return fail(
                    logs,
                    template.strip_prefix(' ').unwrap_or(template),
                    "{name}",
                    name,
                );
            }
        } else if let Some(template) = line.strip_prefix(MISSING_FILE_MARKER) {
            if let Some(path) = missing_file {
                return fail(
                    logs,
                    template.strip_prefix(' ').unwrap_or(template),
                    "{path}",
                    path,
                );
            }
        } else {
            logs.push(line.clone());
        }
    }
    let oom = limit
        .filter(|l| *l < image.memory_mib.saturating_mul(MIB))
        .map(|_| Exit {
            after_seconds: delay + image.startup_seconds.max(1.0),
            exit_code: SIGKILL_EXIT_CODE,
            reason: reasons::OOM_KILLED.to_string(),
        });
    let batch = image
        .exit_after_seconds
        .map(|after| Exit::code(delay + after, image.exit_code));
    let exit = match (oom, batch) {
        (Some(o), Some(b)) if b.after_seconds < o.after_seconds => Some(b),
        (Some(o), _) => Some(o),
        (None, b) => b,
    };
    Run {
        log_lines: logs,
        exit,
        listens: image.listens.clone(),
        health_path: image.health_path.clone(),
        startup_seconds: delay + image.startup_seconds,
        routes: Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Probes

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `livenessProbe`: failures restart the container.
    Liveness,
    /// `readinessProbe`: failures make the container not Ready.
    Readiness,
    /// `startupProbe`: gates the others; failures restart the container.
    Startup,
}

impl ProbeKind {
    /// `Liveness`, `Readiness` or `Startup`, as in event texts.
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// A failed probe attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// True when the probe could not run at all (the kubelet says
    /// "errored"), false when it ran and failed.
    pub errored: bool,
    /// The probe's output or error, e.g. `HTTP probe failed with statuscode: 404`.
    pub output: String,
}

/// Runs one probe attempt against a running container.
///
/// `spec` is the probe object (`httpGet`, `tcpSocket`, `grpc` or `exec`);
/// ports given by name resolve through the container's `ports`. Network
/// probes succeed when the port is in `run.listens` and, for HTTP, the path
/// is `run.health_path` (or the image has none); before
/// `run.startup_seconds` nothing listens yet. Exec probes succeed when their
/// executable (and, for `sh -c`, each command of the script) is in the
/// image; before `startup_seconds` they fail without output, like a health
/// command that cannot reach the starting service.
pub fn probe(
    spec: &Value,
    container: &Value,
    image: &Image,
    run: &Run,
    pod_ip: &str,
    seconds_since_start: f64,
) -> Result<(), ProbeFailure> {
    let started = seconds_since_start >= run.startup_seconds;
    let failed = |output: String| ProbeFailure {
        errored: false,
        output,
    };
    if let Some(http) = spec.get("httpGet") {
        let port = resolve_port(&http["port"], container)?;
        let host = s(http, "host").filter(|h| !h.is_empty()).unwrap_or(pod_ip);
        let scheme = s(http, "scheme").unwrap_or("HTTP").to_ascii_lowercase();
        let path = s(http, "path").unwrap_or_default();
        let addr = join_host_port(host, port);
        if !started || !run.listens.contains(&port) {
            return Err(failed(format!(
                "Get {}: dial tcp {addr}: connect: connection refused",
                q(&format!("{scheme}://{addr}{path}"))
            )));
        }
        let bare = path.split('?').next().unwrap_or_default();
        let bare = if bare.is_empty() { "/" } else { bare };
        return match &run.health_path {
            Some(healthy) if healthy != bare => {
                Err(failed("HTTP probe failed with statuscode: 404".to_string()))
            }
            _ => Ok(()),
        };
    }
    if let Some(tcp) = spec.get("tcpSocket") {
        let port = resolve_port(&tcp["port"], container)?;
        let host = s(tcp, "host").filter(|h| !h.is_empty()).unwrap_or(pod_ip);
        if !started || !run.listens.contains(&port) {
            return Err(failed(format!(
                "dial tcp {}: connect: connection refused",
                join_host_port(host, port)
            )));
        }
        return Ok(());
    }
    if let Some(grpc) = spec.get("grpc") {
        let port = grpc["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        if !started || !run.listens.contains(&port) {
            let timeout = spec["timeoutSeconds"].as_u64().unwrap_or(1);
            return Err(failed(format!(
                "timeout: failed to connect service {} within {timeout}s: context deadline exceeded",
                q(&join_host_port(pod_ip, port))
            )));
        }
        return Ok(());
    }
    if let Some(exec) = spec.get("exec") {
        let argv = strings(exec, "command");
        let Some(first) = argv.first() else {
            return Ok(());
        };
        if image.find_binary(first).is_none() {
            let id = exec_id(container, &argv);
            return Err(ProbeFailure {
                errored: true,
                output: format!(
                    "rpc error: code = Unknown desc = failed to exec in container: failed to \
                     start exec {}: OCI runtime exec failed: exec failed: unable to start \
                     container process: {}: unknown",
                    q(&id),
                    exec_not_found(first)
                ),
            });
        }
        if is_shell(first)
            && argv
                .get(1)
                .is_some_and(|f| f.starts_with('-') && f.contains('c'))
        {
            let script = argv.get(2).map(String::as_str).unwrap_or_default();
            let check = run_script(
                first,
                script,
                image,
                &ResolvedContainer::default(),
                None,
                0.0,
                0,
            );
            if check
                .exit
                .is_some_and(|e| e.exit_code == NOT_FOUND_EXIT_CODE)
            {
                return Err(failed(check.log_lines.join("\n")));
            }
        }
        if !started {
            return Err(failed(String::new()));
        }
        return Ok(());
    }
    Ok(())
}

pub(crate) fn resolve_port(port: &Value, container: &Value) -> Result<u16, ProbeFailure> {
    if let Some(n) = port.as_u64() {
        return Ok(u16::try_from(n).unwrap_or(0));
    }
    let name = port.as_str().unwrap_or_default();
    if let Ok(n) = name.parse::<u16>() {
        return Ok(n);
    }
    arr(container, "ports")
        .find(|p| s(p, "name") == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| ProbeFailure {
            errored: true,
            output: format!("port {name} not found"),
        })
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn exec_id(container: &Value, argv: &[String]) -> String {
    let seed = format!(
        "{}\0{}",
        s(container, "name").unwrap_or_default(),
        argv.join("\0")
    );
    (0..4u8)
        .map(|i| {
            let mut bytes = vec![i];
            bytes.extend_from_slice(seed.as_bytes());
            format!("{:016x}", fnv64(&bytes))
        })
        .collect()
}

/// The `Unhealthy` (Warning) event text, e.g.
/// `Liveness probe failed: HTTP probe failed with statuscode: 404`.
pub fn unhealthy_event(kind: ProbeKind, failure: &ProbeFailure) -> String {
    if failure.errored {
        // The probe could not run: its result is probe.Unknown.
        format!(
            "{} probe errored and resulted in unknown state: {}",
            kind.label(),
            failure.output
        )
    } else {
        format!("{} probe failed: {}", kind.label(), failure.output)
    }
}

/// The `Killing` (Normal) event of a container stopped with its pod.
pub fn stopping_event(container_name: &str) -> String {
    format!("Stopping container {container_name}")
}

/// The pod's status message (reason `DeadlineExceeded`) and event when
/// `activeDeadlineSeconds` has passed.
pub const DEADLINE_EXCEEDED: &str = "Pod was active on the node longer than the specified deadline";

/// The `Killing` (Normal) event when a liveness or startup probe failed
/// `failureThreshold` times: `Container api failed liveness probe, will be restarted`.
pub fn probe_kill_event(container_name: &str, kind: ProbeKind) -> String {
    format!(
        "Container {container_name} failed {} probe, will be restarted",
        kind.label().to_ascii_lowercase()
    )
}

/// The `Created` (Normal) event, about the container (its field path):
/// `Container created` since kubelet 1.34 (the name is no longer in it).
pub fn created_event(_container_name: &str) -> String {
    "Container created".into()
}

/// The `Started` (Normal) event: `Container started`.
pub fn started_event(_container_name: &str) -> String {
    "Container started".into()
}

/// The `FailedPostStartHook` (Warning) event: no output, which could hold
/// secrets (the hook's output goes to the container's waiting message).
pub const POST_START_HOOK_FAILED: &str = "PostStartHook failed";

// ---------------------------------------------------------------------------
// Restarts

/// The delay before restarting a container that exited with `restart_count`
/// restarts so far: 10 s, 20 s, 40 s, … capped at 300 s. (The kubelet
/// forgets the back-off once a container has run for 10 minutes.)
pub fn crashloop_backoff(restart_count: u32) -> Duration {
    let secs = 10u64.saturating_mul(1u64 << restart_count.min(16));
    Duration::from_secs(secs.min(300))
}

/// The kubelet's name for a pod in messages: `name_namespace(uid)`.
pub fn format_pod(name: &str, namespace: &str, uid: &str) -> String {
    format!("{name}_{namespace}({uid})")
}

fn format_pod_of(pod: &Value) -> String {
    let meta = &pod["metadata"];
    format_pod(
        meta["name"].as_str().unwrap_or_default(),
        meta["namespace"].as_str().unwrap_or_default(),
        meta["uid"].as_str().unwrap_or_default(),
    )
}

/// The waiting message of `CrashLoopBackOff`:
/// `back-off 40s restarting failed container=api pod=api-7d9c_shop(uid)`.
pub fn backoff_message(
    container: &str,
    pod: &str,
    namespace: &str,
    uid: &str,
    delay: Duration,
) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={}",
        go_duration(delay),
        format_pod(pod, namespace, uid)
    )
}

/// The `BackOff` (Warning) event while a container crash-loops:
/// `Back-off restarting failed container api in pod api-7d9c_shop(uid)`.
pub fn backoff_event(container: &str, pod: &str, namespace: &str, uid: &str) -> String {
    format!(
        "Back-off restarting failed container {container} in pod {}",
        format_pod(pod, namespace, uid)
    )
}

/// Formats a duration as Go's `time.Duration.String` does, to the
/// millisecond: `850ms`, `1.42s`, `40s`, `1m20s`, `5m0s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (secs, frac) = (ms / 1000, ms % 1000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let s = if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_string()
    };
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

// ---------------------------------------------------------------------------
// JSON helpers

fn pod_namespace(pod: &Value) -> String {
    pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string()
}

fn all_containers(pod: &Value) -> impl Iterator<Item = &Value> {
    arr(&pod["spec"], "initContainers").chain(arr(&pod["spec"], "containers"))
}

fn arr<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn obj(v: &Value, key: &str) -> serde_json::Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A string list field of a container (`command`, `args`), empty when absent.
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    arr(v, key)
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Go's `%q` for the plain strings found in names and paths.
fn q(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use serde_json::json;

    /// ConfigMaps and Secrets of the `shop` namespace, by name.
    #[derive(Default)]
    struct Store {
        configmaps: BTreeMap<String, Value>,
        secrets: BTreeMap<String, Value>,
    }

    impl Store {
        fn cm(mut self, name: &str, data: Value) -> Self {
            self.configmaps.insert(
                name.into(),
                json!({"metadata": {"name": name}, "data": data}),
            );
            self
        }
        fn secret(mut self, name: &str, data: Value) -> Self {
            self.secrets.insert(
                name.into(),
                json!({"metadata": {"name": name}, "data": data}),
            );
            self
        }
    }

    impl Objects for Store {
        fn configmap(&self, namespace: &str, name: &str) -> Option<Value> {
            (namespace == "shop")
                .then(|| self.configmaps.get(name).cloned())
                .flatten()
        }
        fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
            (namespace == "shop")
                .then(|| self.secrets.get(name).cloned())
                .flatten()
        }
    }

    const UID: &str = "5f1c7a52-9d1e-4c1b-8a53-0e2f1d9b7c11";

    fn pod(containers: Value, volumes: Value) -> Value {
        json!({
            "metadata": {"name": "api-7d9c", "namespace": "shop", "uid": UID, "labels": {"app": "api"}},
            "spec": {"containers": containers, "volumes": volumes, "nodeName": "node-1"},
            "status": {"podIP": "10.244.1.7"},
        })
    }

    fn image(catalog: &Catalog, reference: &str) -> Image {
        match catalog.lookup(reference) {
            Lookup::Found(i) => i.clone(),
            other => panic!("{reference}: {other:?}"),
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> ResolvedContainer {
        ResolvedContainer {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn runs(plan: RunPlan) -> Run {
        match plan {
            RunPlan::Runs(run) => run,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    fn exit(run: &Run) -> (f64, i32, &str) {
        let e = run.exit.as_ref().expect("the process exits");
        (e.after_seconds, e.exit_code, e.reason.as_str())
    }

    // --- pulls -------------------------------------------------------------

    #[test]
    fn pull_of_a_catalogued_image_reports_size_and_duration() {
        let catalog = Catalog::builtin();
        let PullOutcome::Pulled {
            image,
            size_bytes,
            duration,
        } = pull(&catalog, "nginx:1.27", false)
        else {
            panic!("nginx:1.27 should pull");
        };
        assert_eq!(image.name, "nginx");
        assert!(size_bytes >= 2_000_000);
        // Deterministic.
        assert_eq!(
            pull(&catalog, "nginx:1.27", false),
            pull(&catalog, "nginx:1.27", false)
        );
        let event = pulled_event("nginx:1.27", duration, size_bytes);
        assert!(
            event.starts_with("Successfully pulled image \"nginx:1.27\" in "),
            "{event}"
        );
        assert!(event.ends_with(&format!(
            " including waiting). Image size: {size_bytes} bytes."
        )));
    }

    #[test]
    fn pull_of_an_unknown_tag_is_not_found_in_containerd_words() {
        let catalog = Catalog::builtin();
        let outcome = pull(&catalog, "registry.example.com/shop/api:1.4.9", false);
        let expected = "rpc error: code = NotFound desc = failed to pull and unpack image \
            \"registry.example.com/shop/api:1.4.9\": failed to resolve reference \
            \"registry.example.com/shop/api:1.4.9\": registry.example.com/shop/api:1.4.9: not found";
        assert_eq!(
            outcome,
            PullOutcome::NotFound {
                message: expected.to_string()
            }
        );
        let short = pull(&catalog, "nginx:1.99", false);
        assert_eq!(
            short.error(),
            Some(
                "rpc error: code = NotFound desc = failed to pull and unpack image \
                 \"docker.io/library/nginx:1.99\": failed to resolve reference \
                 \"docker.io/library/nginx:1.99\": docker.io/library/nginx:1.99: not found"
            )
        );
    }

    #[test]
    fn pull_of_an_unknown_docker_hub_repository_is_access_denied() {
        let catalog = Catalog::builtin();
        let outcome = pull(&catalog, "nginix:1.14.2", false);
        assert!(matches!(outcome, PullOutcome::NotFound { .. }));
        assert_eq!(
            outcome.error(),
            Some(
                "rpc error: code = Unknown desc = failed to pull and unpack image \
                 \"docker.io/library/nginix:1.14.2\": failed to resolve reference \
                 \"docker.io/library/nginix:1.14.2\": pull access denied, repository does not \
                 exist or may require authorization: server message: insufficient_scope: \
                 authorization failed"
            )
        );
    }

    #[test]
    fn private_images_need_a_pull_secret() {
        let catalog = Catalog::builtin();
        let image = "registry.example.com/private/billing:3.2.0";
        assert_eq!(
            pull(&catalog, image, false),
            PullOutcome::Unauthorized {
                message: "rpc error: code = Unknown desc = failed to pull and unpack image \
                    \"registry.example.com/private/billing:3.2.0\": failed to resolve reference \
                    \"registry.example.com/private/billing:3.2.0\": unexpected status from HEAD \
                    request to https://registry.example.com/v2/private/billing/manifests/3.2.0: \
                    401 Unauthorized"
                    .to_string()
            }
        );
        assert!(matches!(
            pull(&catalog, image, true),
            PullOutcome::Pulled { .. }
        ));
        // With credentials the registry tells a missing tag apart.
        assert!(matches!(
            pull(&catalog, "registry.example.com/private/billing:9.9.9", true),
            PullOutcome::NotFound { .. }
        ));
    }

    #[test]
    fn pull_event_texts() {
        assert_eq!(pulling_event("nginx"), "Pulling image \"nginx:latest\"");
        assert_eq!(pulling_event("nginx:1.25"), "Pulling image \"nginx:1.25\"");
        assert_eq!(
            already_present_event("busybox:1.36"),
            "Container image \"busybox:1.36\" already present on machine"
        );
        assert_eq!(
            pull_failed_event("nginx:1.99", "E"),
            "Failed to pull image \"nginx:1.99\": E"
        );
        assert_eq!(
            pull_backoff_event("nginx:1.99"),
            "Back-off pulling image \"nginx:1.99\""
        );
        assert_eq!(
            image_pull_backoff_message("nginx:1.99", "rpc error: x"),
            "Back-off pulling image \"nginx:1.99\": ErrImagePull: rpc error: x"
        );
        assert_eq!(error_event(reasons::ERR_IMAGE_PULL), "Error: ErrImagePull");
        assert_eq!(
            pulled_event("nginx:1.25", Duration::from_millis(1420), 764_658),
            "Successfully pulled image \"nginx:1.25\" in 1.42s (1.42s including waiting). Image size: 764658 bytes."
        );
    }

    #[test]
    fn image_pull_backoff_doubles_to_five_minutes() {
        let secs: Vec<u64> = (1..=7).map(|n| image_pull_backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300]);
    }

    // --- volumes -------------------------------------------------------------

    fn mounting(volume: Value) -> Value {
        let name = volume["name"].clone();
        pod(
            json!([{"name": "worker", "image": "x", "volumeMounts": [{"name": name, "mountPath": "/etc/shop"}]}]),
            json!([volume]),
        )
    }

    #[test]
    fn missing_configmap_volume_is_a_mount_failure() {
        let p = mounting(json!({"name": "cfg", "configMap": {"name": "shop-config"}}));
        let failures = mount_failures(&p, &Store::default());
        assert_eq!(failures.len(), 1);
        assert_eq!(
            failures[0].event(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"shop-config\" not found"
        );
        let ok = Store::default().cm("shop-config", json!({"config.yaml": "a: 1"}));
        assert!(mount_failures(&p, &ok).is_empty());
    }

    #[test]
    fn optional_and_unmounted_volumes_do_not_fail() {
        let p = mounting(json!({"name": "cfg", "configMap": {"name": "nope", "optional": true}}));
        assert!(mount_failures(&p, &Store::default()).is_empty());
        let p = pod(
            json!([{"name": "api", "image": "x"}]),
            json!([{"name": "unused", "secret": {"secretName": "nope"}}]),
        );
        assert!(mount_failures(&p, &Store::default()).is_empty());
    }

    #[test]
    fn missing_keys_and_secrets_behind_volumes() {
        let store = Store::default()
            .cm("shop-config", json!({"config.yaml": "a: 1"}))
            .secret("tls", json!({"tls.crt": "Y2VydA=="}));
        let p = mounting(json!({"name": "cfg", "configMap": {"name": "shop-config",
            "items": [{"key": "config.yml", "path": "config.yaml"}]}}));
        assert_eq!(
            mount_failures(&p, &store)[0].event(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap references non-existent config key: config.yml"
        );
        let p = mounting(json!({"name": "certs", "secret": {"secretName": "tls",
            "items": [{"key": "tls.key", "path": "tls.key"}]}}));
        assert_eq!(
            mount_failures(&p, &store)[0].message,
            "references non-existent secret key: tls.key"
        );
        let p = mounting(json!({"name": "certs", "secret": {"secretName": "gone"}}));
        assert_eq!(
            mount_failures(&p, &store)[0].message,
            "secret \"gone\" not found"
        );
        let p = mounting(json!({"name": "all", "projected": {"sources": [
            {"secret": {"name": "gone"}}, {"configMap": {"name": "missing"}}]}}));
        assert_eq!(
            mount_failures(&p, &store)[0].message,
            "[secret \"gone\" not found, configmap \"missing\" not found]"
        );
    }

    // --- container configuration ----------------------------------------

    fn api_container(env: Value) -> Value {
        json!({"name": "api", "image": "registry.example.com/shop/api:1.4.2", "env": env})
    }

    fn config_error(container: Value, store: &Store) -> String {
        let catalog = Catalog::builtin();
        let img = image(&catalog, "registry.example.com/shop/api:1.4.2");
        let p = pod(json!([container.clone()]), json!([]));
        check_config("shop", &p, &container, &img, store).unwrap_err()
    }

    #[test]
    fn env_from_a_missing_configmap_or_key() {
        let c = api_container(json!([{"name": "DATABASE_URL", "valueFrom":
            {"configMapKeyRef": {"name": "db", "key": "url"}}}]));
        assert_eq!(
            config_error(c.clone(), &Store::default()),
            "configmap \"db\" not found"
        );
        let store = Store::default().cm("db", json!({"host": "postgres"}));
        assert_eq!(
            config_error(c, &store),
            "couldn't find key url in ConfigMap shop/db"
        );
    }

    #[test]
    fn env_from_a_missing_secret_or_key() {
        let c = api_container(json!([{"name": "DATABASE_URL", "valueFrom":
            {"secretKeyRef": {"name": "db-credentials", "key": "url"}}}]));
        assert_eq!(
            config_error(c.clone(), &Store::default()),
            "secret \"db-credentials\" not found"
        );
        let store = Store::default().secret("db-credentials", json!({"password": "aHVudGVyMg=="}));
        assert_eq!(
            config_error(c, &store),
            "couldn't find key url in Secret shop/db-credentials"
        );
    }

    #[test]
    fn env_from_refs_and_optional_refs() {
        let catalog = Catalog::builtin();
        let img = image(&catalog, "registry.example.com/shop/api:1.4.2");
        let mut c = api_container(json!([
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "OPTIONAL", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": true}}},
            {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        ]));
        c["envFrom"] = json!([
            {"configMapRef": {"name": "api-settings"}, "prefix": "API_"},
            {"secretRef": {"name": "missing", "optional": true}},
        ]);
        let store = Store::default()
            .cm("api-settings", json!({"TIMEOUT": "5s"}))
            .secret("db", json!({"url": "cG9zdGdyZXM6Ly9wb3N0Z3Jlcy9zaG9w"}));
        let p = pod(json!([c.clone()]), json!([]));
        let r = check_config("shop", &p, &c, &img, &store).unwrap();
        assert_eq!(r.env["LOG_LEVEL"], "debug");
        assert_eq!(r.env["API_TIMEOUT"], "5s");
        assert_eq!(r.env["DATABASE_URL"], "postgres://postgres/shop");
        assert_eq!(r.env["POD_NAME"], "api-7d9c");
        assert_eq!(r.env["APP"], "api");
        assert!(!r.env.contains_key("OPTIONAL"));
        assert!(r.has_env("DATABASE_URL") && !r.has_env("OPTIONAL"));

        let mut c = api_container(json!([]));
        c["envFrom"] = json!([{"secretRef": {"name": "payments-credentials"}}]);
        assert_eq!(
            config_error(c, &Store::default()),
            "secret \"payments-credentials\" not found"
        );
    }

    #[test]
    fn run_as_non_root_against_a_root_image() {
        let catalog = Catalog::builtin();
        let nginx = image(&catalog, "nginx:1.27");
        let c = json!({"name": "web", "image": "nginx:1.27", "securityContext": {"runAsNonRoot": true}});
        let p = pod(json!([c.clone()]), json!([]));
        assert_eq!(
            check_config("shop", &p, &c, &nginx, &Store::default()).unwrap_err(),
            format!(
                "container has runAsNonRoot and image will run as root (pod: \"api-7d9c_shop({UID})\", container: web)"
            )
        );
        // Inherited from the pod, overridden by an explicit non-root user.
        let mut p2 = pod(json!([{"name": "web"}]), json!([]));
        p2["spec"]["securityContext"] = json!({"runAsNonRoot": true});
        let c2 = json!({"name": "web"});
        assert!(check_config("shop", &p2, &c2, &nginx, &Store::default()).is_err());
        let c3 = json!({"name": "web", "securityContext": {"runAsUser": 101}});
        assert!(check_config("shop", &p2, &c3, &nginx, &Store::default()).is_ok());
        let c4 = json!({"name": "web", "securityContext": {"runAsUser": 0}});
        assert_eq!(
            check_config("shop", &p2, &c4, &nginx, &Store::default()).unwrap_err(),
            format!(
                "container's runAsUser breaks non-root policy (pod: \"api-7d9c_shop({UID})\", container: web)"
            )
        );
        // A non-root image is fine.
        let api = image(&catalog, "registry.example.com/shop/api:1.4.2");
        assert!(check_config("shop", &p2, &c2, &api, &Store::default()).is_ok());
    }

    #[test]
    fn mounted_files_follow_keys_items_and_sub_paths() {
        let catalog = Catalog::builtin();
        let worker = image(&catalog, "registry.example.com/shop/worker:0.9.4");
        let store = Store::default()
            .cm(
                "shop-config",
                json!({"config.yaml": "queues: [orders]", "extra.yaml": ""}),
            )
            .cm("one", json!({"a": "1"}));
        let c = json!({"name": "worker", "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/shop"},
            {"name": "picked", "mountPath": "/opt/picked"},
            {"name": "single", "mountPath": "/etc/app.conf", "subPath": "a"},
            {"name": "data", "mountPath": "/var/lib/data"},
            {"name": "scratch", "mountPath": "/tmp/scratch"},
        ]});
        let p = pod(
            json!([c.clone()]),
            json!([
                {"name": "cfg", "configMap": {"name": "shop-config"}},
                {"name": "picked", "configMap": {"name": "shop-config", "items": [{"key": "config.yaml", "path": "conf/main.yaml"}]}},
                {"name": "single", "configMap": {"name": "one"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "emptyDir": {}},
            ]),
        );
        let r = check_config("shop", &p, &c, &worker, &store).unwrap();
        assert!(r.has_file("/etc/shop/config.yaml"));
        assert!(r.has_file("/etc/shop/extra.yaml"));
        assert!(r.has_file("/opt/picked/conf/main.yaml"));
        assert!(!r.has_file("/opt/picked/config.yaml"));
        assert!(r.has_file("/etc/app.conf"));
        assert!(r.has_file("/var/lib/data/anything/at/all"));
        assert!(!r.has_file("/var/lib/database"));
        assert!(!r.has_file("/tmp/scratch/x"));
    }

    // --- running ---------------------------------------------------------

    #[test]
    fn a_healthy_service_logs_and_listens() {
        let catalog = Catalog::builtin();
        let api = image(&catalog, "registry.example.com/shop/api:1.4.2");
        let c = api_container(json!([]));
        let run = runs(plan_run(
            &c,
            &api,
            &env_of(&[("DATABASE_URL", "postgres://db")]),
            Some(256 * MIB),
        ));
        assert_eq!(run.exit, None);
        assert_eq!(run.listens, [8080]);
        assert_eq!(run.health_path.as_deref(), Some("/healthz"));
        assert_eq!(run.startup_seconds, 5.0);
        assert_eq!(run.log_lines.len(), 4);
        assert!(run.log_lines[3].contains("http server listening"));
    }

    #[test]
    fn exec_form_with_a_missing_binary_cannot_start() {
        let catalog = Catalog::builtin();
        let api = image(&catalog, "registry.example.com/shop/api:1.4.2");
        let c = json!({"name": "api", "command": ["/app/servr"], "args": ["--port", "8080"]});
        assert_eq!(
            plan_run(&c, &api, &ResolvedContainer::default(), None),
            RunPlan::StartFailure {
                exit_code: 128,
                reason: "StartError".to_string(),
                message:
                    "failed to create containerd task: failed to create shim task: OCI runtime \
                    create failed: runc create failed: unable to start container process: error \
                    during container init: exec: \"/app/servr\": stat /app/servr: no such file or \
                    directory: unknown"
                        .to_string(),
            }
        );
        let c = json!({"name": "api", "command": ["servr"]});
        let RunPlan::StartFailure { message, .. } =
            plan_run(&c, &api, &ResolvedContainer::default(), None)
        else {
            panic!("servr should not start");
        };
        assert!(
            message.ends_with("exec: \"servr\": executable file not found in $PATH: unknown"),
            "{message}"
        );
    }

    #[test]
    fn shell_form_with_a_missing_command_exits_127() {
        let catalog = Catalog::builtin();
        let nginx = image(&catalog, "nginx:1.27");
        let c = json!({"name": "web", "command": ["/bin/sh", "-c", "ngnix -g 'daemon off;'"]});
        let run = runs(plan_run(&c, &nginx, &ResolvedContainer::default(), None));
        assert_eq!(run.log_lines, ["/bin/sh: 1: ngnix: not found"]);
        assert_eq!(exit(&run), (0.0, 127, "Error"));
        // Line numbers count, and earlier output is kept.
        let c = json!({"name": "web", "command": ["sh", "-c", "echo starting\nservr --port 80"]});
        let run = runs(plan_run(&c, &nginx, &ResolvedContainer::default(), None));
        assert_eq!(run.log_lines, ["starting", "sh: 2: servr: not found"]);
    }

    #[test]
    fn busybox_and_bash_word_not_found_their_own_way() {
        let catalog = Catalog::builtin();
        let busybox = image(&catalog, "busybox:1.36");
        let c = json!({"name": "b", "command": ["sh", "-c", "slep 10"]});
        let run = runs(plan_run(&c, &busybox, &ResolvedContainer::default(), None));
        assert_eq!(run.log_lines, ["sh: slep: not found"]);
        assert_eq!(exit(&run).1, 127);
        let nginx = image(&catalog, "nginx:1.27");
        let c = json!({"name": "b", "command": ["bash", "-c", "servr"]});
        let run = runs(plan_run(&c, &nginx, &ResolvedContainer::default(), None));
        assert_eq!(run.log_lines, ["bash: line 1: servr: command not found"]);
    }

    #[test]
    fn missing_env_prints_the_catalog_lines_up_to_the_failure() {
        let catalog = Catalog::builtin();
        let api = image(&catalog, "registry.example.com/shop/api:1.4.2");
        let run = runs(plan_run(
            &api_container(json!([])),
            &api,
            &ResolvedContainer::default(),
            None,
        ));
        assert_eq!(run.log_lines.len(), 2);
        assert!(run.log_lines[0].contains("starting shop-api"));
        assert!(run.log_lines[1].ends_with("level=ERROR msg=\"FATAL: DATABASE_URL is not set\""));
        assert_eq!(exit(&run), (0.0, 1, "Error"));
        // An empty value counts as missing.
        let run = runs(plan_run(
            &api_container(json!([])),
            &api,
            &env_of(&[("DATABASE_URL", "")]),
            None,
        ));
        assert_eq!(exit(&run).1, 1);
    }

    #[test]
    fn missing_env_without_a_marker_uses_the_default_line() {
        let catalog = Catalog::parse(
            "images:\n  - name: x.example/app\n    tags: [a]\n    binaries: [/app]\n    requires_env: [TOKEN]\n    logs: [hello]\n",
            "c",
        )
        .unwrap();
        let img = image(&catalog, "x.example/app:a");
        let run = runs(plan_run(
            &json!({"name": "app"}),
            &img,
            &ResolvedContainer::default(),
            None,
        ));
        assert_eq!(run.log_lines, ["FATAL: TOKEN is not set"]);
        // Multi-line failure text (postgres).
        let pg = image(&Catalog::builtin(), "postgres:16");
        let run = runs(plan_run(
            &json!({"name": "db"}),
            &pg,
            &ResolvedContainer::default(),
            None,
        ));
        assert_eq!(
            run.log_lines[0],
            "Error: Database is uninitialized and superuser password is not specified."
        );
        assert!(run.log_lines.len() > 5);
        assert_eq!(exit(&run).1, 1);
    }

    #[test]
    fn missing_file_fails_and_a_mount_fixes_it() {
        let catalog = Catalog::builtin();
        let worker = image(&catalog, "registry.example.com/shop/worker:0.9.4");
        let c = json!({"name": "worker"});
        let run = runs(plan_run(&c, &worker, &ResolvedContainer::default(), None));
        assert!(run.log_lines[1].contains("open /etc/shop/config.yaml: no such file or directory"));
        assert_eq!(exit(&run), (0.0, 1, "Error"));
        let mounted = ResolvedContainer {
            files: vec!["/etc/shop/config.yaml".into()],
            ..Default::default()
        };
        let run = runs(plan_run(&c, &worker, &mounted, None));
        assert_eq!(run.exit, None);
        assert_eq!(run.log_lines.len(), 3);
    }

    #[test]
    fn memory_limit_below_need_is_oom_killed_after_startup() {
        let catalog = Catalog::builtin();
        let reports = image(&catalog, "registry.example.com/shop/reports:1.2.0");
        let c = json!({"name": "reports", "resources": {"limits": {"memory": "512Mi"}}});
        let limit = memory_limit_bytes(&c);
        assert_eq!(limit, Some(512 * MIB));
        let run = runs(plan_run(&c, &reports, &ResolvedContainer::default(), limit));
        assert_eq!(run.log_lines.len(), 5);
        assert_eq!(exit(&run), (12.0, 137, "OOMKilled"));
        let run = runs(plan_run(
            &c,
            &reports,
            &ResolvedContainer::default(),
            Some(1024 * MIB),
        ));
        assert_eq!(run.exit, None);
        let run = runs(plan_run(&c, &reports, &ResolvedContainer::default(), None));
        assert_eq!(run.exit, None);
    }

    #[test]
    fn batch_images_exit_with_their_code() {
        let catalog = Catalog::builtin();
        let migrate = image(&catalog, "registry.example.com/shop/db-migrate:42");
        let run = runs(plan_run(
            &json!({"name": "m"}),
            &migrate,
            &ResolvedContainer::default(),
            None,
        ));
        assert_eq!(exit(&run), (5.0, 0, "Completed"));
        assert_eq!(run.log_lines.len(), 4);
        let mut failing = migrate.clone();
        failing.exit_code = 3;
        let run = runs(plan_run(
            &json!({"name": "m"}),
            &failing,
            &ResolvedContainer::default(),
            None,
        ));
        assert_eq!(exit(&run), (5.0, 3, "Error"));
    }

    #[test]
    fn busybox_exits_at_once_unless_told_to_sleep() {
        let catalog = Catalog::builtin();
        let busybox = image(&catalog, "busybox:1.36");
        let none = ResolvedContainer::default();
        let run = runs(plan_run(&json!({"name": "b"}), &busybox, &none, None));
        assert_eq!(exit(&run), (0.0, 0, "Completed"));
        // args alone are the command line (CMD semantics).
        let run = runs(plan_run(
            &json!({"name": "b", "args": ["sleep", "3600"]}),
            &busybox,
            &none,
            None,
        ));
        assert_eq!(exit(&run), (3600.0, 0, "Completed"));
        let run = runs(plan_run(
            &json!({"name": "b", "command": ["sleep", "infinity"]}),
            &busybox,
            &none,
            None,
        ));
        assert_eq!(run.exit, None);
        let c = json!({"name": "b", "command": ["sh", "-c", "echo hello from busybox; sleep 1h"]});
        let run = runs(plan_run(&c, &busybox, &none, None));
        assert_eq!(run.log_lines, ["hello from busybox"]);
        assert_eq!(exit(&run).0, 3600.0);
        let c = json!({"name": "b", "command": ["sh", "-c", "while true; do echo tick; sleep 5; done"]});
        assert_eq!(runs(plan_run(&c, &busybox, &none, None)).exit, None);
        let c = json!({"name": "b", "command": ["sh", "-c", "echo bye; exit 3"]});
        let run = runs(plan_run(&c, &busybox, &none, None));
        assert_eq!(
            (run.log_lines.as_slice(), exit(&run).1),
            (["bye".to_string()].as_slice(), 3)
        );
        let run = runs(plan_run(
            &json!({"name": "b", "command": ["sleep", "soon"]}),
            &busybox,
            &none,
            None,
        ));
        assert_eq!(run.log_lines, ["sleep: invalid number 'soon'"]);
        assert_eq!(exit(&run).1, 1);
    }

    #[test]
    fn a_shell_wrapper_runs_the_service_after_its_prelude() {
        let catalog = Catalog::builtin();
        let api = image(&catalog, "registry.example.com/shop/web:2.3.1");
        let c = json!({"name": "web", "command": ["/bin/sh", "-c", "echo booting && sleep 2 && exec node server.js"]});
        let run = runs(plan_run(&c, &api, &ResolvedContainer::default(), None));
        assert_eq!(run.log_lines[0], "booting");
        assert_eq!(run.log_lines.len(), 7);
        assert_eq!(run.listens, [8080]);
        assert_eq!(run.startup_seconds, 5.0);
        let c = json!({"name": "web", "command": ["node", "server.js"]});
        assert_eq!(
            runs(plan_run(&c, &api, &ResolvedContainer::default(), None)).listens,
            [8080]
        );
    }

    #[test]
    fn memory_limits_read_as_bytes() {
        let limit = |m: Value| {
            memory_limit_bytes(&json!({"name": "x", "resources": {"limits": {"memory": m}}}))
        };
        assert_eq!(limit(json!("128Mi")), Some(128 * MIB));
        assert_eq!(limit(json!("1G")), Some(1_000_000_000));
        assert_eq!(limit(json!(1_000_000)), Some(1_000_000));
        assert_eq!(limit(json!("lots")), None);
        assert_eq!(memory_limit_bytes(&json!({"name": "x"})), None);
    }

    // --- probes ------------------------------------------------------------

    fn api_run() -> (Image, Run) {
        let catalog = Catalog::builtin();
        let api = image(&catalog, "registry.example.com/shop/api:1.4.2");
        let run = runs(plan_run(
            &api_container(json!([])),
            &api,
            &env_of(&[("DATABASE_URL", "x")]),
            None,
        ));
        (api, run)
    }

    #[test]
    fn http_probes_refuse_before_startup_and_on_other_ports() {
        let (api, run) = api_run();
        let c = json!({"name": "api", "ports": [{"name": "http", "containerPort": 8080}]});
        let p = json!({"httpGet": {"path": "/healthz", "port": 8080}});
        let early = probe(&p, &c, &api, &run, "10.244.1.7", 2.0).unwrap_err();
        assert_eq!(
            early.output,
            "Get \"http://10.244.1.7:8080/healthz\": dial tcp 10.244.1.7:8080: connect: connection refused"
        );
        assert!(probe(&p, &c, &api, &run, "10.244.1.7", 5.0).is_ok());
        let wrong = json!({"httpGet": {"path": "/healthz", "port": 8081}});
        assert_eq!(
            unhealthy_event(
                ProbeKind::Liveness,
                &probe(&wrong, &c, &api, &run, "10.244.1.7", 60.0).unwrap_err()
            ),
            "Liveness probe failed: Get \"http://10.244.1.7:8081/healthz\": dial tcp 10.244.1.7:8081: connect: connection refused"
        );
    }

    #[test]
    fn http_probe_on_another_path_is_404_and_named_ports_resolve() {
        let (api, run) = api_run();
        let c = json!({"name": "api", "ports": [{"name": "http", "containerPort": 8080}]});
        let p = json!({"httpGet": {"path": "/health", "port": "http"}});
        let failure = probe(&p, &c, &api, &run, "10.244.1.7", 30.0).unwrap_err();
        assert_eq!(
            unhealthy_event(ProbeKind::Readiness, &failure),
            "Readiness probe failed: HTTP probe failed with statuscode: 404"
        );
        let p = json!({"httpGet": {"path": "/healthz?verbose=1", "port": "http"}});
        assert!(probe(&p, &c, &api, &run, "10.244.1.7", 30.0).is_ok());
        let p = json!({"httpGet": {"path": "/healthz", "port": "metrics"}});
        let failure = probe(&p, &c, &api, &run, "10.244.1.7", 30.0).unwrap_err();
        assert_eq!(
            unhealthy_event(ProbeKind::Liveness, &failure),
            "Liveness probe errored and resulted in unknown state: port metrics not found"
        );
    }

    #[test]
    fn tcp_and_grpc_probes() {
        let (api, run) = api_run();
        let c = json!({"name": "api"});
        let p = json!({"tcpSocket": {"port": 9000}});
        assert_eq!(
            probe(&p, &c, &api, &run, "10.244.1.7", 30.0)
                .unwrap_err()
                .output,
            "dial tcp 10.244.1.7:9000: connect: connection refused"
        );
        assert!(
            probe(
                &json!({"tcpSocket": {"port": 8080}}),
                &c,
                &api,
                &run,
                "10.244.1.7",
                30.0
            )
            .is_ok()
        );
        let p = json!({"grpc": {"port": 9000}, "timeoutSeconds": 2});
        assert_eq!(
            probe(&p, &c, &api, &run, "10.244.1.7", 30.0)
                .unwrap_err()
                .output,
            "timeout: failed to connect service \"10.244.1.7:9000\" within 2s: context deadline exceeded"
        );
    }

    #[test]
    fn exec_probes_need_their_binaries() {
        let catalog = Catalog::builtin();
        let pg = image(&catalog, "postgres:16");
        let run = runs(plan_run(
            &json!({"name": "db"}),
            &pg,
            &env_of(&[("POSTGRES_PASSWORD", "pw")]),
            None,
        ));
        let c = json!({"name": "db"});
        let ok = json!({"exec": {"command": ["pg_isready", "-U", "postgres"]}});
        assert!(probe(&ok, &c, &pg, &run, "10.244.1.9", 10.0).is_ok());
        assert_eq!(
            probe(&ok, &c, &pg, &run, "10.244.1.9", 1.0)
                .unwrap_err()
                .output,
            ""
        );
        let missing = json!({"exec": {"command": ["curl", "-f", "http://localhost:5432"]}});
        let failure = probe(&missing, &c, &pg, &run, "10.244.1.9", 10.0).unwrap_err();
        assert!(failure.errored);
        let event = unhealthy_event(ProbeKind::Liveness, &failure);
        assert!(event.starts_with("Liveness probe errored and resulted in unknown state: rpc error: code = Unknown desc = failed to exec in container: failed to start exec \""), "{event}");
        assert!(event.ends_with("\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"curl\": executable file not found in $PATH: unknown"), "{event}");
        let script = json!({"exec": {"command": ["sh", "-c", "wget -qO- localhost:5432"]}});
        let failure = probe(&script, &c, &pg, &run, "10.244.1.9", 10.0).unwrap_err();
        assert_eq!(
            unhealthy_event(ProbeKind::Readiness, &failure),
            "Readiness probe failed: sh: 1: wget: not found"
        );
    }

    #[test]
    fn probe_and_container_event_texts() {
        assert_eq!(
            probe_kill_event("api", ProbeKind::Liveness),
            "Container api failed liveness probe, will be restarted"
        );
        assert_eq!(
            probe_kill_event("api", ProbeKind::Startup),
            "Container api failed startup probe, will be restarted"
        );
        assert_eq!(created_event("api"), "Container created");
        assert_eq!(started_event("api"), "Container started");
    }

    // --- restarts ----------------------------------------------------------

    #[test]
    fn crashloop_backoff_doubles_from_ten_seconds_to_five_minutes() {
        let secs: Vec<u64> = (0..8).map(|n| crashloop_backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(crashloop_backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn backoff_texts_match_the_kubelet() {
        assert_eq!(
            backoff_message("api", "api-7d9c", "shop", UID, crashloop_backoff(2)),
            format!("back-off 40s restarting failed container=api pod=api-7d9c_shop({UID})")
        );
        assert_eq!(
            backoff_message("api", "api-7d9c", "shop", UID, crashloop_backoff(9)),
            format!("back-off 5m0s restarting failed container=api pod=api-7d9c_shop({UID})")
        );
        assert_eq!(
            backoff_event("api", "api-7d9c", "shop", UID),
            format!("Back-off restarting failed container api in pod api-7d9c_shop({UID})")
        );
    }

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(0)), "0s");
        assert_eq!(go_duration(ms(850)), "850ms");
        assert_eq!(go_duration(ms(1420)), "1.42s");
        assert_eq!(go_duration(ms(1419)), "1.419s");
        assert_eq!(go_duration(ms(40_000)), "40s");
        assert_eq!(go_duration(ms(80_000)), "1m20s");
        assert_eq!(go_duration(ms(300_000)), "5m0s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
    }
}
