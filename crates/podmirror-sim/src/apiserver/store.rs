//! In-memory object storage with a global resourceVersion, a bounded change
//! history for watches, and a broadcast of every change.
//!
//! Objects are kept serialized (their JSON bytes) plus a small copy of the
//! fields selectors read: lists and watches then copy bytes instead of
//! re-encoding, and 10,000 pods fit in a few tens of MiB.

use crate::resources::ResourceId;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::broadcast;

/// How many changes are kept, by default, for watches that resume from a resourceVersion.
pub const HISTORY_LEN: usize = 5_000;

/// Kind of a change, as watch events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Object created.
    Added,
    /// Object updated.
    Modified,
    /// Object removed.
    Deleted,
}

impl ChangeType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// An object as stored: its JSON and the fields selectors look at.
#[derive(Debug)]
pub struct Stored {
    /// The object, serialized.
    pub json: Bytes,
    /// What selectors and the controllers' quick checks read, without parsing `json`.
    pub select: Select,
    /// uids named in ownerReferences.
    pub owners: Vec<String>,
    /// `metadata.resourceVersion` as a number (0 when unset).
    pub rv: u64,
}

/// Field labels that field selectors of the served kinds read, besides
/// `metadata.name` and `metadata.namespace`. Each object keeps the values of
/// those its kind supports.
const FIELD_LABELS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "spec.unschedulable",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
    "status.replicas",
    "status.successful",
    "type",
    "reason",
    "source",
    "reportingComponent",
    "reportingController",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
];

/// The parts of an object that label and field selectors read, kept small:
/// thousands of these live beside the stored JSON and in the change history.
#[derive(Debug, Default, Clone)]
pub struct Select {
    /// `metadata.name`.
    pub name: Box<str>,
    /// `metadata.namespace` ("" for cluster-scoped objects).
    pub namespace: Box<str>,
    /// `metadata.uid`.
    pub uid: Box<str>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    labels: Option<Box<Map<String, Value>>>,
    /// Non-empty values of the field labels the object's kind supports, one
    /// after the other in `values`: (index in [`FIELD_LABELS`], end offset).
    fields: Box<[(u8, u32)]>,
    values: Box<str>,
}

impl Select {
    /// Picks the selectable parts of an object.
    pub fn of(obj: &Value) -> Select {
        let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").into();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let mut values = String::new();
        let mut fields = Vec::new();
        for (i, label) in FIELD_LABELS.iter().enumerate() {
            let Some(value) = crate::selector::field_value(kind, obj, label).flatten() else {
                continue;
            };
            if !value.is_empty() {
                values.push_str(&value);
                fields.push((i as u8, values.len() as u32));
            }
        }
        Select {
            name: text("/metadata/name"),
            namespace: text("/metadata/namespace"),
            uid: text("/metadata/uid"),
            deleting: obj
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|d| !d.is_null()),
            labels: obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .filter(|l| !l.is_empty())
                .map(|l| Box::new(l.clone())),
            fields: fields.into(),
            values: values.into(),
        }
    }

    /// `metadata.labels`, if any.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.labels.as_deref()
    }

    /// The value of a field label as field selectors compare it (`spec.nodeName`,
    /// `status.phase`, `involvedObject.name`, ...); "" when unset or not supported.
    pub fn field(&self, label: &str) -> &str {
        match label {
            "metadata.name" => &self.name,
            "metadata.namespace" => &self.namespace,
            "spec.host" => self.field("spec.nodeName"),
            _ => {
                let mut start = 0;
                for &(i, end) in self.fields.iter() {
                    let end = end as usize;
                    if FIELD_LABELS.get(usize::from(i)) == Some(&label) {
                        return self.values.get(start..end).unwrap_or("");
                    }
                    start = end;
                }
                ""
            }
        }
    }
}

impl Stored {
    /// Serializes an object for storage.
    pub fn new(obj: &Value) -> Arc<Stored> {
        // Serializing a Value cannot fail: its keys are strings. It goes through
        // a reused per-thread buffer, so the stored copy is one allocation of the
        // exact size (no doubling, no trimming: less churn for the allocator).
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let json = BUFFER.with(|b| {
            let mut b = b.borrow_mut();
            b.clear();
            let _ = serde_json::to_writer(&mut *b, obj);
            let json = Bytes::copy_from_slice(&b);
            if b.capacity() > 1 << 20 {
                *b = Vec::new();
            }
            json
        });
        let owners = crate::meta::owner_uids(obj).map(str::to_string).collect();
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Arc::new(Stored {
            json,
            select: Select::of(obj),
            owners,
            rv,
        })
    }

    /// Parses the stored object.
    pub fn value(&self) -> Arc<Value> {
        // The bytes were produced by serializing a Value, so they parse back.
        Arc::new(serde_json::from_slice(&self.json).unwrap_or(Value::Null))
    }

    /// `metadata.labels` of the object.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.select.labels()
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Change {
    /// resourceVersion of the change (the object's new one; for deletes, the deletion's).
    pub rv: u64,
    /// What happened.
    pub kind: ChangeType,
    /// Which resource.
    pub resource: ResourceId,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// The object after the change (for deletes: the last state, with the deletion's rv).
    pub object: Arc<Stored>,
    /// What selectors and owner lookups read of the object before the change,
    /// for modifications and deletes. (Not the whole object: the history
    /// would then keep two versions of every object it mentions.)
    pub previous: Option<Before>,
}

/// The selectable parts of an object's previous version.
#[derive(Debug, Clone)]
pub struct Before {
    /// As [`Stored::select`].
    pub select: Select,
    /// As [`Stored::owners`].
    pub owners: Vec<String>,
}

impl Before {
    fn of(stored: &Stored) -> Before {
        Before {
            select: stored.select.clone(),
            owners: stored.owners.clone(),
        }
    }
}

/// Key of an object within a resource: (namespace, name).
pub type ObjectKey = (String, String);

/// The objects and their history.
pub struct Data {
    rv: u64,
    objects: HashMap<ResourceId, BTreeMap<ObjectKey, Arc<Stored>>>,
    history: VecDeque<Arc<Change>>,
    pending: Vec<Arc<Change>>,
    /// owner uid → objects whose ownerReferences name it.
    dependents: HashMap<String, BTreeSet<(ResourceId, String, String)>>,
    history_len: usize,
}

impl Data {
    /// The latest committed resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Oldest resourceVersion a watch can still resume after.
    pub fn oldest_resumable(&self) -> u64 {
        match self.history.front() {
            Some(c) if self.history.len() >= self.history_len => c.rv,
            _ => 0,
        }
    }

    /// Changes after `rv`, oldest first.
    pub fn changes_since(&self, rv: u64) -> Vec<Arc<Change>> {
        let start = self.history.partition_point(|c| c.rv <= rv);
        self.history.range(start..).cloned().collect()
    }

    /// One object, parsed.
    pub fn get(&self, res: ResourceId, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.get_stored(res, ns, name).map(|s| s.value())
    }

    /// One object as stored.
    pub fn get_stored(&self, res: ResourceId, ns: &str, name: &str) -> Option<&Arc<Stored>> {
        self.objects
            .get(&res)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Whether an object exists.
    pub fn contains(&self, res: ResourceId, ns: &str, name: &str) -> bool {
        self.get_stored(res, ns, name).is_some()
    }

    /// Objects of a resource, optionally in one namespace, in key order starting after `after`.
    pub fn iter<'a>(
        &'a self,
        res: ResourceId,
        ns: Option<&'a str>,
        after: Option<&'a ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Stored>)> + 'a {
        use std::ops::Bound;
        let lower = match (after, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        self.objects
            .get(&res)
            .into_iter()
            .flat_map(move |m| m.range((lower.clone(), Bound::Unbounded)))
            .take_while(move |(k, _)| ns.is_none_or(|ns| k.0 == ns))
    }

    /// Number of objects of a resource.
    pub fn count(&self, res: ResourceId) -> usize {
        self.objects.get(&res).map_or(0, BTreeMap::len)
    }

    /// Whether any object names `owner_uid` in its ownerReferences.
    pub fn has_dependents(&self, owner_uid: &str) -> bool {
        self.dependents
            .get(owner_uid)
            .is_some_and(|s| !s.is_empty())
    }

    /// The objects that name `owner_uid` in their ownerReferences.
    pub fn dependents(&self, owner_uid: &str) -> Vec<(ResourceId, String, String)> {
        self.dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn index_owners(
        &mut self,
        res: ResourceId,
        ns: &str,
        name: &str,
        owners: &[String],
        add: bool,
    ) {
        for owner in owners {
            let owner = owner.as_str();
            let key = (res, ns.to_string(), name.to_string());
            if add {
                self.dependents
                    .entry(owner.to_string())
                    .or_default()
                    .insert(key);
            } else if let Some(set) = self.dependents.get_mut(owner) {
                set.remove(&key);
                if set.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
    }

    /// Allocates the next resourceVersion.
    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Stores an object (already carrying its new resourceVersion `rv`) and records the change.
    pub fn put(
        &mut self,
        res: ResourceId,
        ns: &str,
        name: &str,
        object: Value,
        rv: u64,
    ) -> Arc<Value> {
        let stored = Stored::new(&object);
        let object = Arc::new(object);
        let previous = self
            .objects
            .entry(res)
            .or_default()
            .insert((ns.to_string(), name.to_string()), stored.clone());
        if let Some(prev) = &previous {
            self.index_owners(res, ns, name, &prev.owners.clone(), false);
        }
        self.index_owners(res, ns, name, &stored.owners.clone(), true);
        let kind = if previous.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(Change {
            rv,
            kind,
            resource: res,
            namespace: ns.to_string(),
            object: stored,
            previous: previous.as_deref().map(Before::of),
        });
        object
    }

    /// Stores a new version of an object under the next resourceVersion.
    pub fn commit(
        &mut self,
        res: ResourceId,
        ns: &str,
        name: &str,
        mut object: Value,
    ) -> Arc<Value> {
        let rv = self.next_rv();
        crate::meta::set_rv(&mut object, rv);
        self.put(res, ns, name, object, rv)
    }

    /// Removes an object, recording the deletion at a fresh resourceVersion.
    pub fn remove(&mut self, res: ResourceId, ns: &str, name: &str) -> Option<Arc<Value>> {
        let previous = self
            .objects
            .get_mut(&res)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.index_owners(res, ns, name, &previous.owners.clone(), false);
        let rv = self.next_rv();
        let mut last = (*previous.value()).clone();
        crate::meta::set_rv(&mut last, rv);
        let stored = Stored::new(&last);
        self.record(Change {
            rv,
            kind: ChangeType::Deleted,
            resource: res,
            namespace: ns.to_string(),
            object: stored,
            previous: Some(Before::of(&previous)),
        });
        Some(Arc::new(last))
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        if self.history.len() >= self.history_len {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        self.pending.push(change);
    }
}

/// Shared storage: a lock around [`Data`] and a broadcast of committed changes.
pub struct Store {
    data: RwLock<Data>,
    changes_tx: broadcast::Sender<Arc<Change>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store keeping the default history.
    pub fn new() -> Self {
        Self::with_history(HISTORY_LEN)
    }

    /// An empty store keeping the last `history_len` changes for resuming watches.
    pub fn with_history(history_len: usize) -> Self {
        let (changes_tx, _) = broadcast::channel(4_096);
        Store {
            data: RwLock::new(Data {
                rv: 0,
                objects: HashMap::new(),
                history: VecDeque::new(),
                pending: Vec::new(),
                dependents: HashMap::new(),
                history_len: history_len.max(1),
            }),
            changes_tx,
        }
    }

    /// Read access.
    pub fn read(&self) -> RwLockReadGuard<'_, Data> {
        // A panic while holding the lock would be a bug; keep serving the data anyway.
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access; changes are broadcast when the returned guard is committed.
    pub fn write(&self) -> WriteTxn<'_> {
        WriteTxn {
            guard: self.data.write().unwrap_or_else(|e| e.into_inner()),
            tx: &self.changes_tx,
        }
    }

    /// Subscribes to changes committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes_tx.subscribe()
    }
}

/// A write lock that broadcasts the changes it made when dropped.
pub struct WriteTxn<'a> {
    guard: RwLockWriteGuard<'a, Data>,
    tx: &'a broadcast::Sender<Arc<Change>>,
}

impl std::ops::Deref for WriteTxn<'_> {
    type Target = Data;
    fn deref(&self) -> &Data {
        &self.guard
    }
}

impl std::ops::DerefMut for WriteTxn<'_> {
    fn deref_mut(&mut self) -> &mut Data {
        &mut self.guard
    }
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        // Sent while still holding the lock, so subscribers see changes in rv order.
        for change in self.guard.pending.drain(..) {
            let _ = self.tx.send(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn select_keeps_what_selectors_read() {
        let pod = Select::of(&json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                         "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "sim-worker-1", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.7"}]},
        }));
        assert_eq!(
            (&*pod.name, &*pod.namespace, &*pod.uid),
            ("web-1", "shop", "u1")
        );
        assert!(pod.deleting);
        assert_eq!(pod.labels().and_then(|l| l.get("app")), Some(&json!("web")));
        assert_eq!(pod.field("metadata.name"), "web-1");
        assert_eq!(pod.field("spec.nodeName"), "sim-worker-1");
        assert_eq!(pod.field("spec.host"), "sim-worker-1");
        assert_eq!(pod.field("status.phase"), "Running");
        assert_eq!(pod.field("status.podIP"), "10.244.1.7");
        assert_eq!(pod.field("status.nominatedNodeName"), "");
        assert_eq!(pod.field("spec.hostNetwork"), "false");
        assert_eq!(pod.field("involvedObject.name"), "");

        let event = Select::of(&json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web-1.abc", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
            "reason": "Pulled", "type": "Normal", "source": {"component": "kubelet"},
        }));
        assert!(!event.deleting && event.labels().is_none());
        assert_eq!(event.field("involvedObject.name"), "web-1");
        assert_eq!(event.field("involvedObject.kind"), "Pod");
        assert_eq!(event.field("reason"), "Pulled");
        assert_eq!(event.field("source"), "kubelet");
        assert_eq!(event.field("spec.nodeName"), "");
    }

    #[test]
    fn put_and_remove_record_history_in_order() {
        let store = Store::new();
        let mut rx = store.subscribe();
        {
            let mut w = store.write();
            let rv = w.next_rv();
            w.put(1, "a", "x", json!({"metadata": {"name": "x"}}), rv);
            let rv = w.next_rv();
            w.put(
                1,
                "a",
                "x",
                json!({"metadata": {"name": "x", "labels": {}}}),
                rv,
            );
            w.remove(1, "a", "x");
        }
        let kinds: Vec<_> = (0..3).map(|_| rx.try_recv().map(|c| c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                Ok(ChangeType::Added),
                Ok(ChangeType::Modified),
                Ok(ChangeType::Deleted)
            ]
        );
        let r = store.read();
        assert_eq!(r.rv(), 3);
        assert_eq!(r.changes_since(1).len(), 2);
        assert!(r.get(1, "a", "x").is_none());
    }

    #[test]
    fn iter_respects_namespace_and_continue_key() {
        let store = Store::new();
        {
            let mut w = store.write();
            for (ns, n) in [("a", "1"), ("a", "2"), ("b", "1")] {
                let rv = w.next_rv();
                w.put(0, ns, n, json!({}), rv);
            }
        }
        let r = store.read();
        assert_eq!(r.iter(0, Some("a"), None).count(), 2);
        let after = ("a".to_string(), "1".to_string());
        assert_eq!(r.iter(0, Some("a"), Some(&after)).count(), 1);
        assert_eq!(r.iter(0, None, Some(&after)).count(), 2);
    }
}
