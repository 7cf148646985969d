//! The API server's storage semantics: create, update, patch, delete, list and
//! get over the store, with defaulting, validation, resourceVersions,
//! preconditions, dry runs, finalizers and ownerReference garbage collection.

use super::webhooks;
use crate::error::{ApiError, Cause, GroupResource};
use crate::managed::{self, Operation};
use crate::meta;
use crate::resources::{self, ResourceId, Subresource, ids};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Data, ObjectKey, Store, WriteTxn};
use crate::{defaults, patch, validate};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// How a write is carried out.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run every step but do not persist.
    pub dry_run: bool,
    /// Who makes the change (managedFields manager).
    pub field_manager: String,
    /// `force=true` on server-side apply.
    pub force: bool,
    /// Warnings admission gave on the way (admission webhooks'), for the
    /// response's `Warning` headers.
    pub warnings: Arc<Mutex<Vec<String>>>,
}

impl WriteOptions {
    /// Options for an in-process controller writing as `manager`.
    pub fn manager(manager: &str) -> Self {
        WriteOptions {
            field_manager: manager.to_string(),
            ..Default::default()
        }
    }
}

/// Deletion propagation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now, dependents afterwards.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
    /// Keep dependents, removing their ownerReference.
    Orphan,
}

/// Options of a delete call.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Grace period override (pods).
    pub grace_period_seconds: Option<i64>,
    /// Propagation policy; `None` is the resource's default (Background).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The object: its last state, or its state with `deletionTimestamp` set.
    pub object: Arc<Value>,
    /// False when the object is still there (finalizers, grace period, foreground).
    pub removed: bool,
}

/// List options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Parsed `labelSelector`.
    pub labels: Option<LabelSelector>,
    /// Parsed `fieldSelector`.
    pub fields: Option<FieldSelector>,
    /// Page size; 0 = all.
    pub limit: usize,
    /// Continue token from a previous page.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The objects, as stored.
    pub items: Vec<Arc<crate::store::Stored>>,
    /// resourceVersion of the list.
    pub rv: u64,
    /// Token for the next page, when truncated.
    pub continue_token: Option<String>,
    /// How many more objects follow, when known.
    pub remaining: Option<usize>,
}

/// The simulated API server's state and operations.
pub struct Cluster {
    /// Object storage.
    pub store: Store,
    /// Container logs.
    pub logs: std::sync::Arc<crate::logs::Logs>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

fn gr(res: ResourceId) -> GroupResource<'static> {
    let r = resources::get(res);
    GroupResource {
        group: r.group,
        resource: r.plural,
    }
}

/// Encodes a continue token.
fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    use base64::Engine;
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}", key.0, key.1)});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
}

fn decode_continue(token: &str) -> Result<(u64, ObjectKey), ApiError> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

impl Cluster {
    /// An empty cluster with the namespaces every cluster starts with.
    pub fn new() -> Self {
        Self::with_history(crate::store::HISTORY_LEN)
    }

    /// Like [`Cluster::new`], keeping `history_len` changes for resuming watches.
    pub fn with_history(history_len: usize) -> Self {
        let cluster = Cluster {
            store: Store::with_history(history_len),
            logs: std::sync::Arc::default(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let created = cluster.create(
                ids::namespaces(),
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &WriteOptions::manager("kube-apiserver"),
            );
            debug_assert!(created.is_ok(), "{created:?}");
        }
        cluster
    }

    /// Reads one object.
    pub fn get(&self, res: ResourceId, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.store
            .read()
            .get(res, ns, name)
            .ok_or_else(|| ApiError::not_found(gr(res), name))
    }

    /// Lists objects, in one namespace or all (`ns = None`).
    pub fn list(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        let data = self.store.read();
        let (list_rv, after) = match &opts.continue_token {
            Some(t) => {
                let (rv, key) = decode_continue(t)?;
                if rv < data.oldest_resumable() {
                    return Err(ApiError::gone(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ));
                }
                (rv, Some(key))
            }
            None => (data.rv(), None),
        };
        let mut items = Vec::new();
        let mut last_key = None;
        let mut truncated = false;
        let mut remaining = 0usize;
        for (key, obj) in data.iter(res, ns, after.as_ref()) {
            if !matches(&obj.select, opts.labels.as_ref(), opts.fields.as_ref()) {
                continue;
            }
            if opts.limit > 0 && items.len() >= opts.limit {
                truncated = true;
                remaining += 1;
                continue;
            }
            last_key = Some(key.clone());
            items.push(obj.clone());
        }
        let continue_token = match (truncated, last_key) {
            (true, Some(k)) => Some(encode_continue(list_rv, &k)),
            _ => None,
        };
        let filtered = opts.labels.is_some() || opts.fields.is_some();
        Ok(ListPage {
            items,
            rv: list_rv,
            remaining: (truncated && !filtered).then_some(remaining),
            continue_token,
        })
    }

    /// Creates an object; `ns` is the namespace from the URL.
    pub fn create(
        &self,
        res: ResourceId,
        ns: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        self.create_as(res, ns, obj, opts, Operation::Update)
    }

    /// Creates an object, recording the manager's ownership as an update or an apply.
    fn create_as(
        &self,
        res: ResourceId,
        ns: &str,
        mut obj: Value,
        opts: &WriteOptions,
        op: Operation,
    ) -> Result<Arc<Value>, ApiError> {
        let r = resources::get(res);
        // An applier owns exactly the fields it sent, not what defaulting adds.
        let applied = (op == Operation::Apply).then(|| managed::paths_of(&obj));
        check_type(res, &mut obj)?;
        let md = meta::metadata_mut(&mut obj);
        if r.namespaced {
            match md.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    md.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            md.remove("namespace");
        }
        let given_name = md
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if given_name.is_empty()
            && let Some(prefix) = md.get("generateName").and_then(Value::as_str)
        {
            let prefix = if prefix.len() > 58 {
                &prefix[..58]
            } else {
                prefix
            };
            let generated = format!("{prefix}{}", meta::random_suffix(5));
            md.insert("name".into(), json!(generated));
        }
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ] {
            md.remove(k);
        }
        md.insert("uid".into(), json!(meta::new_uid()));
        md.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
        if r.tracks_generation {
            md.insert("generation".into(), json!(1));
        } else {
            md.remove("generation");
        }
        defaults::apply(res, &mut obj);
        self.admit_by_webhooks(res, ns, &mut obj, opts)?;
        let name = meta::name(&obj).to_string();
        validate::object(res, &obj, None)?;

        let mut w = self.store.write();
        if r.namespaced {
            self.check_namespace_open(&w, res, ns, &name)?;
        }
        if w.get(res, ns, &name).is_some() {
            return Err(ApiError::already_exists(gr(res), &name));
        }
        admit_create(&w, res, ns, &mut obj)?;
        match &applied {
            Some(fields) => {
                managed::set_entry(&mut obj, &opts.field_manager, Operation::Apply, r, fields)
            }
            None => managed::record(&mut obj, None, &opts.field_manager, Operation::Update, r),
        }
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        let created = w.commit(res, ns, &name, obj);
        drop(w);
        if res == ids::namespaces() {
            self.populate_namespace(&name);
        }
        Ok(created)
    }

    /// Mutating admission webhooks (`webhooks`), with no lock held; the
    /// object is defaulted again after a patch, as the API server does.
    fn admit_by_webhooks(
        &self,
        res: ResourceId,
        ns: &str,
        obj: &mut Value,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        let r = resources::get(res);
        let ctx = {
            let data = self.store.read();
            let configurations: Vec<Arc<Value>> = data
                .iter(ids::mutatingwebhookconfigurations(), None, None)
                .map(|(_, s)| s.value())
                .collect();
            if configurations.is_empty() {
                return Ok(());
            }
            let namespace = if r.namespaced {
                data.get(ids::namespaces(), "", ns)
            } else {
                None
            };
            let endpoints = configurations
                .iter()
                .flat_map(|c| c["webhooks"].as_array().cloned().unwrap_or_default())
                .filter_map(|hook| {
                    let svc = hook.pointer("/clientConfig/service")?;
                    let key = webhooks::ServiceRef::of(svc);
                    let addr = service_endpoint(&data, &key.namespace, &key.name, key.port)?;
                    Some((key, addr))
                })
                .collect();
            webhooks::Context {
                configurations,
                namespace,
                endpoints,
            }
        };
        let mut call = || webhooks::mutate(&ctx, r, ns, obj, opts.dry_run, &opts.field_manager);
        // On a multi-threaded runtime the wait hands this worker's other
        // tasks to another thread, so a webhook (or the API requests it
        // makes) served by the same runtime still gets answered.
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let admitted = if multi {
            tokio::task::block_in_place(call)?
        } else {
            call()?
        };
        if admitted.patched {
            check_type(res, obj)?;
            defaults::apply(res, obj);
        }
        if !admitted.warnings.is_empty() {
            opts.warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(admitted.warnings);
        }
        Ok(())
    }

    /// What the controllers put in every new namespace: the `default`
    /// ServiceAccount and the `kube-root-ca.crt` ConfigMap.
    fn populate_namespace(&self, ns: &str) {
        let opts = WriteOptions::manager("kube-controller-manager");
        let sa =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        let _ = self.create(ids::serviceaccounts(), ns, sa, &opts);
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIBsimulatedpodmirrorsimCA\n-----END CERTIFICATE-----\n"},
        });
        let _ = self.create(ids::configmaps(), ns, cm, &opts);
    }

    fn check_namespace_open(
        &self,
        data: &Data,
        res: ResourceId,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        match data.get(ids::namespaces(), "", ns) {
            None => Err(ApiError::not_found(gr(ids::namespaces()), ns)),
            Some(n) if meta::is_deleting(&n) => Err(ApiError::forbidden(
                gr(res),
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Replaces an object (or its status), honouring `metadata.resourceVersion` as a precondition.
    pub fn update(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        sub: Option<Subresource>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        check_type(res, &mut obj)?;
        let body_name = meta::name(&obj).to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_ns = meta::namespace(&obj).to_string();
        if resources::get(res).namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut w = self.store.write();
        let current = w
            .get(res, ns, name)
            .ok_or_else(|| ApiError::not_found(gr(res), name))?;
        if let Some(rv) = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
            && Some(rv)
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::stale(gr(res), name));
        }
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !uid.is_empty() && uid != meta::uid(&current) {
            return Err(ApiError::conflict(
                gr(res),
                name,
                &uid_mismatch(uid, meta::uid(&current)),
            ));
        }
        self.commit_update(
            &mut w,
            res,
            ns,
            name,
            sub,
            &current,
            obj,
            opts,
            Operation::Update,
        )
    }

    /// Applies a patch of the given content type to an object or its status/scale.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        sub: Option<Subresource>,
        content_type: patch::PatchType,
        body: &Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let mut w = self.store.write();
        let current = match w.get(res, ns, name) {
            Some(c) => c,
            None if content_type == patch::PatchType::Apply && sub.is_none() => {
                drop(w);
                return self.apply_create(res, ns, name, body, opts);
            }
            None => return Err(ApiError::not_found(gr(res), name)),
        };
        let view = match sub {
            Some(Subresource::Scale) => scale_view(&current),
            _ => (*current).clone(),
        };
        let (patched, op) = match content_type {
            patch::PatchType::Apply => {
                let applied = patch::apply(res, &view, body, opts)?;
                (applied, Operation::Apply)
            }
            other => (patch::patch(other, res, &view, body)?, Operation::Update),
        };
        if meta::name(&patched) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&patched)
            )));
        }
        let mut patched = patched;
        // A patch may carry a resourceVersion: then it is a precondition, like an update.
        if let Some(rv) = patched
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && rv
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
        {
            return Err(ApiError::stale(gr(res), name));
        }
        if sub == Some(Subresource::Scale) {
            patched = apply_scale(&current, &patched)?;
        }
        self.commit_update(&mut w, res, ns, name, sub, &current, patched, opts, op)
    }

    fn apply_create(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        body: &Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let mut obj = body.clone();
        if meta::name(&obj) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&obj)
            )));
        }
        meta::drop_nulls(&mut obj);
        self.create_as(res, ns, obj, opts, Operation::Apply)
    }

    /// Writes `status` through the status subresource of an object the caller
    /// read as `current`, without parsing it again; a conflict, like a PUT
    /// carrying the resourceVersion, when it changed since.
    pub fn update_status_of(
        &self,
        res: ResourceId,
        current: &Arc<Value>,
        status: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let (ns, name) = (meta::namespace(current), meta::name(current));
        let mut w = self.store.write();
        let stored = w
            .get_stored(res, ns, name)
            .ok_or_else(|| ApiError::not_found(gr(res), name))?;
        let read_rv = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok());
        if read_rv != Some(stored.rv) {
            return Err(ApiError::stale(gr(res), name));
        }
        self.commit_update(
            &mut w,
            res,
            ns,
            name,
            Some(Subresource::Status),
            current,
            json!({ "status": status }),
            opts,
            Operation::Update,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_update(
        &self,
        w: &mut WriteTxn<'_>,
        res: ResourceId,
        ns: &str,
        name: &str,
        sub: Option<Subresource>,
        current: &Arc<Value>,
        mut obj: Value,
        opts: &WriteOptions,
        op: Operation,
    ) -> Result<Arc<Value>, ApiError> {
        let r = resources::get(res);
        let has_status = r.has(Subresource::Status);
        match sub {
            Some(Subresource::Status) => {
                // Only the status is written through /status.
                // (The stored object without its old status, which is not copied.)
                let status = obj.as_object_mut().and_then(|m| m.remove("status"));
                obj = match current.as_object() {
                    Some(m) => Value::Object(
                        m.iter()
                            .filter(|(k, _)| *k != "status")
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    None => (**current).clone(),
                };
                if let (Some(s), Some(m)) = (status, obj.as_object_mut()) {
                    m.insert("status".into(), s);
                }
            }
            _ => {
                if has_status {
                    match current.get("status") {
                        Some(s) => obj["status"] = s.clone(),
                        None => {
                            if let Some(m) = obj.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
            }
        }
        // System-owned metadata always comes from storage.
        {
            let empty = Map::new();
            let old_md = current
                .get("metadata")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let md = meta::metadata_mut(&mut obj);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generation",
            ] {
                match old_md.get(k) {
                    Some(v) => {
                        md.insert(k.into(), v.clone());
                    }
                    None => {
                        md.remove(k);
                    }
                }
            }
            if op != Operation::Apply
                && let Some(mf) = old_md.get("managedFields")
                && (!md.contains_key("managedFields")
                    || md.get("managedFields").is_some_and(Value::is_null))
            {
                md.insert("managedFields".into(), mf.clone());
            }
        }
        meta::drop_nulls(&mut obj);
        defaults::apply(res, &mut obj);
        if r.tracks_generation && spec_changed(current, &obj) {
            let g = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            meta::metadata_mut(&mut obj).insert("generation".into(), json!(g + 1));
        }
        validate::object(res, &obj, Some(current))?;
        if meta::is_deleting(current) {
            // Finalizers can only be removed while deleting; new ones are refused.
            let old = meta::finalizers(current);
            if meta::finalizers(&obj).iter().any(|f| !old.contains(f)) {
                return Err(ApiError::invalid(
                    r.kind,
                    r.group,
                    name,
                    vec![Cause::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        if op == Operation::Update {
            managed::record(&mut obj, Some(current), &opts.field_manager, op, r);
        }
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        if same_but_rv(current, &obj) {
            // A no-op write keeps the resourceVersion and emits no event, like etcd.
            return Ok(current.clone());
        }
        if meta::is_deleting(&obj)
            && meta::finalizers(&obj).is_empty()
            && !is_graceful_pod(res, &obj)
        {
            w.commit(res, ns, name, obj);
            let removed = w.remove(res, ns, name);
            self.collect_dependents(w, current, Propagation::Background);
            return removed.ok_or_else(|| ApiError::not_found(gr(res), name));
        }
        Ok(w.commit(res, ns, name, obj))
    }

    /// Deletes one object.
    pub fn delete(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let mut w = self.store.write();
        self.delete_in(&mut w, res, ns, name, opts)
    }

    fn delete_in(
        &self,
        w: &mut WriteTxn<'_>,
        res: ResourceId,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let current = w
            .get(res, ns, name)
            .ok_or_else(|| ApiError::not_found(gr(res), name))?;
        if let Some(uid) = &opts.precondition_uid
            && uid != meta::uid(&current)
        {
            return Err(ApiError::conflict(
                gr(res),
                name,
                &uid_mismatch(uid, meta::uid(&current)),
            ));
        }
        if let Some(rv) = &opts.precondition_rv {
            let have = current
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            if rv != have {
                return Err(ApiError::conflict(
                    gr(res),
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"
                    ),
                ));
            }
        }
        if opts.dry_run {
            return Ok(Deleted {
                object: current,
                removed: true,
            });
        }
        let propagation = opts.propagation.unwrap_or(Propagation::Background);

        // Namespaces empty themselves before they go.
        if res == ids::namespaces() {
            let mut marked = (*current).clone();
            if !meta::is_deleting(&marked) {
                meta::metadata_mut(&mut marked)
                    .insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
                marked["status"] = json!({"phase": "Terminating"});
                w.commit(res, ns, name, marked);
            }
            for (id, r) in resources::RESOURCES.iter().enumerate() {
                if !r.namespaced {
                    continue;
                }
                let names: Vec<String> = w
                    .iter(id, Some(name), None)
                    .map(|(k, _)| k.1.clone())
                    .collect();
                for n in names {
                    let _ = self.delete_in(
                        w,
                        id,
                        name,
                        &n,
                        &DeleteOptions {
                            grace_period_seconds: Some(0),
                            ..Default::default()
                        },
                    );
                }
            }
            let removed = w.remove(res, ns, name).unwrap_or(current);
            return Ok(Deleted {
                object: removed,
                removed: true,
            });
        }

        // Pods on a node terminate gracefully; the kubelet removes them.
        if res == ids::pods() {
            let on_node = current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let finished = matches!(
                current.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            );
            let grace = opts.grace_period_seconds.unwrap_or_else(|| {
                current
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            });
            if on_node && !finished && grace > 0 {
                let already = current
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64);
                if already.is_some_and(|g| g <= grace) {
                    return Ok(Deleted {
                        object: current,
                        removed: false,
                    });
                }
                let mut marked = (*current).clone();
                let at = crate::meta::clock_now()
                    .checked_add(jiff::SignedDuration::from_secs(grace))
                    .unwrap_or_else(|_| crate::meta::clock_now());
                let md = meta::metadata_mut(&mut marked);
                md.insert(
                    "deletionTimestamp".into(),
                    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                md.insert("deletionGracePeriodSeconds".into(), json!(grace));
                let object = w.commit(res, ns, name, marked);
                return Ok(Deleted {
                    object,
                    removed: false,
                });
            }
        }

        let finalizers = meta::finalizers(&current);
        let has_dependents = w.has_dependents(meta::uid(&current));
        if propagation == Propagation::Foreground && has_dependents {
            let mut marked = (*current).clone();
            let md = meta::metadata_mut(&mut marked);
            md.entry("deletionTimestamp")
                .or_insert_with(|| json!(meta::now_rfc3339()));
            md.insert("deletionGracePeriodSeconds".into(), json!(0));
            let mut fins = finalizers.clone();
            if !fins.iter().any(|f| f == "foregroundDeletion") {
                fins.push("foregroundDeletion".into());
            }
            md.insert("finalizers".into(), json!(fins));
            w.commit(res, ns, name, marked.clone());
            self.collect_dependents(w, &current, Propagation::Foreground);
            // Dependents are gone: drop the finalizer, and the object if nothing else holds it.
            let remaining: Vec<String> = fins
                .into_iter()
                .filter(|f| f != "foregroundDeletion")
                .collect();
            if remaining.is_empty() {
                let object = w.remove(res, ns, name).unwrap_or(current);
                return Ok(Deleted {
                    object,
                    removed: true,
                });
            }
            meta::metadata_mut(&mut marked).insert("finalizers".into(), json!(remaining));
            let object = w.commit(res, ns, name, marked);
            return Ok(Deleted {
                object,
                removed: false,
            });
        }
        if !finalizers.is_empty() {
            if meta::is_deleting(&current) {
                return Ok(Deleted {
                    object: current,
                    removed: false,
                });
            }
            let mut marked = (*current).clone();
            let md = meta::metadata_mut(&mut marked);
            md.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
            md.insert("deletionGracePeriodSeconds".into(), json!(0));
            let object = w.commit(res, ns, name, marked);
            if propagation == Propagation::Orphan {
                self.collect_dependents(w, &current, Propagation::Orphan);
            }
            return Ok(Deleted {
                object,
                removed: false,
            });
        }
        let object = w.remove(res, ns, name).unwrap_or(current.clone());
        self.collect_dependents(w, &current, propagation);
        Ok(Deleted {
            object,
            removed: true,
        })
    }

    /// Deletes or orphans the objects owned by `owner`.
    fn collect_dependents(&self, w: &mut WriteTxn<'_>, owner: &Value, how: Propagation) {
        let owner_uid = meta::uid(owner).to_string();
        for (res, ns, name) in w.dependents(&owner_uid) {
            match how {
                Propagation::Orphan => {
                    if let Some(dep) = w.get(res, &ns, &name) {
                        let mut dep = (*dep).clone();
                        if let Some(refs) = dep
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                        {
                            refs.retain(|r| {
                                r.get("uid").and_then(Value::as_str) != Some(owner_uid.as_str())
                            });
                            if refs.is_empty() {
                                meta::metadata_mut(&mut dep).remove("ownerReferences");
                            }
                        }
                        w.commit(res, &ns, &name, dep);
                    }
                }
                other => {
                    let _ = self.delete_in(
                        w,
                        res,
                        &ns,
                        &name,
                        &DeleteOptions {
                            propagation: Some(other),
                            ..Default::default()
                        },
                    );
                }
            }
        }
    }

    /// Deletes every object matching the options in a namespace (or cluster-wide).
    pub fn delete_collection(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        let page = self.list(
            res,
            ns,
            &ListOptions {
                limit: 0,
                continue_token: None,
                ..list.clone()
            },
        )?;
        let mut w = self.store.write();
        let mut out = Vec::new();
        for obj in page.items {
            let (ns, name) = (&*obj.select.namespace, &*obj.select.name);
            match self.delete_in(&mut w, res, ns, name, opts) {
                Ok(d) => out.push(d.object),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Binds a pod to a node in one write, as the `pods/binding` subresource
    /// does: `spec.nodeName` and the `PodScheduled=True` condition together.
    pub fn bind_pod(
        &self,
        ns: &str,
        name: &str,
        uid: &str,
        node: &str,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let mut w = self.store.write();
        let current = w
            .get(ids::pods(), ns, name)
            .ok_or_else(|| ApiError::not_found(gr(ids::pods()), name))?;
        if meta::uid(&current) != uid {
            return Err(ApiError::conflict(
                gr(ids::pods()),
                name,
                &uid_mismatch(uid, meta::uid(&current)),
            ));
        }
        let assigned = current
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !assigned.is_empty() {
            return Err(ApiError::conflict(
                GroupResource {
                    group: "",
                    resource: "pods/binding",
                },
                name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        let mut obj = (*current).clone();
        obj["spec"]["nodeName"] = json!(node);
        crate::controller::set_pod_condition(&mut obj["status"], "PodScheduled", "True", "", "");
        managed::record(
            &mut obj,
            Some(&current),
            &opts.field_manager,
            Operation::Update,
            resources::get(ids::pods()),
        );
        Ok(w.commit(ids::pods(), ns, name, obj))
    }

    /// Removes a pod whose graceful deletion has run out (what the kubelet does).
    pub fn finish_pod_deletion(&self, ns: &str, name: &str, uid: &str) -> bool {
        let mut w = self.store.write();
        let Some(current) = w.get(ids::pods(), ns, name) else {
            return false;
        };
        if meta::uid(&current) != uid
            || !meta::is_deleting(&current)
            || !meta::finalizers(&current).is_empty()
        {
            return false;
        }
        w.remove(ids::pods(), ns, name);
        self.collect_dependents(&mut w, &current, Propagation::Background);
        true
    }
}

fn uid_mismatch(wanted: &str, have: &str) -> String {
    format!("Precondition failed: UID in precondition: {wanted}, UID in object meta: {have}")
}

fn is_graceful_pod(res: ResourceId, obj: &Value) -> bool {
    res == ids::pods()
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            > 0
}

/// Whether two maps are equal apart from the keys in `skip` (no copies made).
fn equal_except(a: &Map<String, Value>, b: &Map<String, Value>, skip: &[&str]) -> bool {
    let counted = |m: &Map<String, Value>| m.keys().filter(|k| !skip.contains(&k.as_str())).count();
    counted(a) == counted(b)
        && a.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Whether two versions of an object are equal apart from `metadata.resourceVersion`.
fn same_but_rv(current: &Value, obj: &Value) -> bool {
    let (Some(a), Some(b)) = (current.as_object(), obj.as_object()) else {
        return current == obj;
    };
    equal_except(a, b, &["metadata"])
        && match (a.get("metadata"), b.get("metadata")) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                equal_except(x, y, &["resourceVersion"])
            }
            (x, y) => x == y,
        }
}

fn spec_changed(old: &Value, new: &Value) -> bool {
    match (old.as_object(), new.as_object()) {
        (Some(a), Some(b)) => !equal_except(a, b, &["metadata", "status"]),
        _ => old != new,
    }
}

/// Checks and fills `apiVersion` and `kind` of a body.
fn check_type(res: ResourceId, obj: &mut Value) -> Result<(), ApiError> {
    let r = resources::get(res);
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body of the request is not a {} object",
            r.kind
        )));
    };
    let api_version = r.api_version();
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != r.kind => {
            return Err(ApiError::bad_request(format!(
                "{} in version {:?} cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                r.kind, r.version, r.kind, r.kind
            )));
        }
        _ => {}
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if !v.is_empty() && v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), json!(api_version));
    map.insert("kind".into(), json!(r.kind));
    Ok(())
}

/// Admission on create: service accounts, namespace-scoped references.
fn admit_create(data: &Data, res: ResourceId, ns: &str, obj: &mut Value) -> Result<(), ApiError> {
    if res == ids::pods() {
        let sa = obj
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        if data.get(ids::serviceaccounts(), ns, &sa).is_none() {
            return Err(ApiError::forbidden(
                gr(res),
                meta::name(obj),
                &format!(
                    "error looking up service account {ns}/{sa}: serviceaccount {sa:?} not found"
                ),
            ));
        }
        // The quota plugin, over the namespace's quotas and pods as they are now.
        let quotas: Vec<_> = data
            .iter(ids::resourcequotas(), Some(ns), None)
            .map(|(_, s)| s.value())
            .collect();
        if !quotas.is_empty() {
            let pods: Vec<_> = data
                .iter(ids::pods(), Some(ns), None)
                .map(|(_, s)| s.value())
                .collect();
            if let Some(why) =
                super::quota::refusal(obj, quotas.iter().map(|q| &**q), pods.iter().map(|p| &**p))
            {
                return Err(ApiError::forbidden(gr(res), meta::name(obj), &why));
            }
        }
        defaults::pod_service_account_token(obj);
    }
    Ok(())
}

/// Whether an object passes label and field selectors.
pub fn matches(
    obj: &crate::store::Select,
    labels: Option<&LabelSelector>,
    fields: Option<&FieldSelector>,
) -> bool {
    labels.is_none_or(|sel| sel.matches(obj.labels()))
        && fields.is_none_or(|sel| sel.matches(|f| Some(obj.field(f).to_string())))
}

/// The `autoscaling/v1` Scale of a Deployment or ReplicaSet.
pub fn scale_view(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_api(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta::name(obj),
            "namespace": meta::namespace(obj),
            "uid": meta::uid(obj),
            "resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// Writes a Scale's `spec.replicas` back into the owning object.
pub fn apply_scale(current: &Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if replicas.as_i64().is_none_or(|r| r < 0) {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            meta::name(current),
            vec![Cause::invalid(
                "spec.replicas",
                &replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut obj = current.clone();
    obj["spec"]["replicas"] = replicas;
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
    {
        meta::metadata_mut(&mut obj).insert("resourceVersion".into(), json!(rv));
    }
    Ok(obj)
}

/// Where a Service's port is served: the first Ready pod it selects that
/// has an IP, at the port's `targetPort` (a number, or the port itself) —
/// what an endpoints controller and a proxy would give a webhook call.
fn service_endpoint(data: &Data, ns: &str, name: &str, port: u16) -> Option<std::net::SocketAddr> {
    let svc = data.get(ids::services(), ns, name)?;
    let selector = svc.pointer("/spec/selector").and_then(Value::as_object)?;
    if selector.is_empty() {
        return None;
    }
    let target = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p["port"].as_u64() == Some(u64::from(port)))
        .map(|p| {
            p["targetPort"]
                .as_u64()
                .and_then(|t| u16::try_from(t).ok())
                .unwrap_or(port)
        })
        .unwrap_or(port);
    data.iter(ids::pods(), Some(ns), None)
        .find_map(|(_, stored)| {
            let pod = stored.value();
            let labels = pod.pointer("/metadata/labels").and_then(Value::as_object);
            let selected = selector
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            let ready = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let ip = pod.pointer("/status/podIP").and_then(Value::as_str)?;
            (selected && ready)
                .then(|| ip.parse().ok())
                .flatten()
                .map(|ip| std::net::SocketAddr::new(ip, target))
        })
}
