//! `metadata.managedFields`: which manager owns which fields, kept up to date by
//! updates and server-side apply so apply can detect conflicts and prune.

use crate::meta;
use crate::resources::Resource;
use crate::strategic::{self, FieldPath, PathElement};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Operation recorded in a managedFields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update or a non-apply patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Identity of one managedFields entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Manager name.
    pub manager: String,
    /// Operation.
    pub operation: Operation,
}

/// The ownership-relevant leaf fields of an object.
pub fn paths_of(obj: &Value) -> BTreeSet<FieldPath> {
    strategic::leaf_paths(obj, &[])
}

/// Entries of an object with the fields each owns.
pub fn entries(obj: &Value) -> Vec<(Entry, BTreeSet<FieldPath>)> {
    entries_where(obj, |_| true)
}

/// The entries, with the fields decoded only of those `decode` picks.
fn entries_where(
    obj: &Value,
    decode: impl Fn(&Value) -> bool,
) -> Vec<(Entry, BTreeSet<FieldPath>)> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("subresource").is_none())
        .filter_map(|e| {
            let manager = e.get("manager")?.as_str()?.to_string();
            let operation = match e.get("operation")?.as_str()? {
                "Apply" => Operation::Apply,
                _ => Operation::Update,
            };
            let fields = e
                .get("fieldsV1")
                .filter(|_| decode(e))
                .map(strategic::from_fields_v1)
                .unwrap_or_default();
            Some((Entry { manager, operation }, fields))
        })
        .collect()
}

/// Fields owned by one manager through one operation.
pub fn owned_by(obj: &Value, manager: &str, op: Operation) -> BTreeSet<FieldPath> {
    entries(obj)
        .into_iter()
        .find(|(e, _)| e.manager == manager && e.operation == op)
        .map(|(_, f)| f)
        .unwrap_or_default()
}

/// Fields owned by any entry other than `manager`'s apply entry.
pub fn owned_by_others(obj: &Value, manager: &str) -> BTreeSet<FieldPath> {
    entries(obj)
        .into_iter()
        .filter(|(e, _)| !(e.manager == manager && e.operation == Operation::Apply))
        .flat_map(|(_, f)| f)
        .collect()
}

/// A field path as conflict messages print it: `.spec.containers[name="api"].image`.
pub fn path_string(path: &FieldPath) -> String {
    let mut out = String::new();
    for el in path {
        match el {
            PathElement::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            PathElement::Key(k) => {
                let parts: Vec<String> = k.iter().map(|(key, v)| format!("{key}={}", v)).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            PathElement::Value(v) => out.push_str(&format!("[={v}]")),
        }
    }
    out
}

fn write_entries(obj: &mut Value, r: &Resource, list: Vec<(Entry, BTreeSet<FieldPath>)>) {
    write_changed_entries(obj, r, list, None);
}

/// What an update did to one managedFields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Touch {
    /// Nothing: the entry is kept as it was.
    None,
    /// It lost fields to another manager: rendered anew, its time kept.
    Lost,
    /// Its manager set fields: rendered anew with the current time.
    Set,
}

/// Writes `list` back to `metadata.managedFields`. With `touched`, entries are
/// rewritten as [`Touch`] says, as the real field manager does; without, all
/// are rendered anew with the current time.
fn write_changed_entries(
    obj: &mut Value,
    r: &Resource,
    list: Vec<(Entry, BTreeSet<FieldPath>)>,
    touched: Option<&[Touch]>,
) {
    let api_version = r.api_version();
    let time = meta::now_rfc3339();
    // Taken out (not copied): the field is written anew below.
    let previous: Vec<Value> = match obj.pointer_mut("/metadata/managedFields") {
        Some(Value::Array(a)) => std::mem::take(a),
        _ => Vec::new(),
    };
    let kept = |entry: &Entry| {
        previous
            .iter()
            .find(|e| {
                e.get("subresource").is_none()
                    && e.get("manager").and_then(Value::as_str) == Some(entry.manager.as_str())
                    && e.get("operation").and_then(Value::as_str) == Some(entry.operation.as_str())
            })
            .cloned()
    };
    let mut out: Vec<Value> = previous
        .iter()
        .filter(|e| e.get("subresource").is_some())
        .cloned()
        .collect();
    for (i, (entry, fields)) in list.into_iter().enumerate() {
        let touch = touched.map_or(Touch::Set, |t| t.get(i).copied().unwrap_or(Touch::Set));
        let before = kept(&entry);
        if let (Some(e), Touch::None) = (&before, touch) {
            // Unchanged (perhaps never decoded): kept as it was.
            out.push(e.clone());
            continue;
        }
        if fields.is_empty() {
            continue;
        }
        let entry_time = match (&before, touch) {
            (Some(e), Touch::None) => {
                out.push(e.clone());
                continue;
            }
            (Some(e), Touch::Lost) => e.get("time").cloned().unwrap_or_else(|| json!(time)),
            _ => json!(time),
        };
        out.push(json!({
            "manager": entry.manager,
            "operation": entry.operation.as_str(),
            "apiVersion": api_version,
            "time": entry_time,
            "fieldsType": "FieldsV1",
            "fieldsV1": strategic::to_fields_v1(&fields),
        }));
    }
    let md = meta::metadata_mut(obj);
    if out.is_empty() {
        md.remove("managedFields");
    } else {
        md.insert("managedFields".into(), Value::Array(out));
    }
}

/// Records an update (or create, when `old` is None) by `manager`: it takes the fields it changed.
pub fn record(obj: &mut Value, old: Option<&Value>, manager: &str, op: Operation, r: &Resource) {
    if manager.is_empty() {
        return;
    }
    let changed: BTreeSet<FieldPath> = match old {
        Some(old) => strategic::changed_leaf_paths(old, obj),
        None => paths_of(obj),
    };
    // Entries of other managers that own nothing under the changed top-level
    // fields cannot lose any: they are left undecoded (empty here) and kept as
    // they were. (A kubelet status write need not decode the spec's owner.)
    let tops: Option<BTreeSet<String>> = changed
        .iter()
        .map(|p| match p.first() {
            Some(PathElement::Field(f)) => Some(format!("f:{f}")),
            _ => None,
        })
        .collect();
    let untouchable = |e: &Value| {
        let own = e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some(op.as_str());
        !own && tops.as_ref().is_some_and(|tops| {
            e.get("fieldsV1")
                .and_then(Value::as_object)
                .is_some_and(|f| f.keys().all(|k| !tops.contains(k)))
        })
    };
    let mut list = entries_where(obj, |e| !untouchable(e));
    if changed.is_empty() && list.iter().any(|(e, _)| e.manager == manager) {
        return;
    }
    // Only entries that gain or lose fields are rewritten; the updater's time
    // moves when any field it now owns changed value.
    let mut touched = vec![Touch::None; list.len()];
    for (i, (e, fields)) in list.iter_mut().enumerate() {
        if !(e.manager == manager && e.operation == op) {
            let before = fields.len();
            fields.retain(|p| !changed.contains(p));
            if fields.len() != before {
                touched[i] = Touch::Lost;
            }
        }
    }
    let own_touch = if changed.is_empty() {
        Touch::None
    } else {
        Touch::Set
    };
    match list
        .iter()
        .position(|(e, _)| e.manager == manager && e.operation == op)
    {
        Some(i) => {
            list[i].1.extend(changed);
            touched[i] = own_touch;
        }
        None => {
            list.push((
                Entry {
                    manager: manager.to_string(),
                    operation: op,
                },
                changed,
            ));
            touched.push(Touch::Set);
        }
    }
    if touched.iter().any(|t| *t != Touch::None) {
        write_changed_entries(obj, r, list, Some(&touched));
    }
}

/// Sets one manager's entry to exactly `fields`.
pub fn set_entry(
    obj: &mut Value,
    manager: &str,
    op: Operation,
    r: &Resource,
    fields: &BTreeSet<FieldPath>,
) {
    let mut list: Vec<_> = entries(obj)
        .into_iter()
        .filter(|(e, _)| !(e.manager == manager && e.operation == op))
        .collect();
    list.push((
        Entry {
            manager: manager.to_string(),
            operation: op,
        },
        fields.clone(),
    ));
    write_entries(obj, r, list);
}

/// After an apply: `manager` owns `applied`; with `force`, others lose those fields.
pub fn take_ownership(
    merged: &mut Value,
    live: &Value,
    manager: &str,
    r: &Resource,
    applied: &BTreeSet<FieldPath>,
    force: bool,
) {
    let mut list: Vec<_> = entries(live)
        .into_iter()
        .filter(|(e, _)| !(e.manager == manager && e.operation == Operation::Apply))
        .collect();
    if force {
        for (_, fields) in list.iter_mut() {
            fields.retain(|p| !applied.contains(p));
        }
    }
    list.push((
        Entry {
            manager: manager.to_string(),
            operation: Operation::Apply,
        },
        applied.clone(),
    ));
    write_entries(merged, r, list);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{self, ids};

    fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|e| e["manager"] == manager))
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn an_update_takes_changed_fields_and_leaves_unrelated_entries_as_they_were() {
        let r = resources::get(ids::pods());
        let mut pod = json!({
            "metadata": {"name": "p", "labels": {"team": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        });
        record(&mut pod, None, "creator", Operation::Update, r);
        assert!(
            entry(&pod, "creator")["fieldsV1"]
                .pointer("/f:metadata/f:labels/f:team")
                .is_some(),
            "{pod}"
        );
        // Another manager changes the label: it takes it from the creator.
        let old = pod.clone();
        let mut next = pod.clone();
        next["metadata"]["labels"]["team"] = json!("b");
        record(&mut next, Some(&old), "labeler", Operation::Update, r);
        let creator = entry(&next, "creator");
        assert!(
            creator["fieldsV1"].pointer("/f:metadata").is_none(),
            "{next}"
        );
        assert!(creator["fieldsV1"].pointer("/f:spec").is_some(), "{next}");
        assert!(
            entry(&next, "labeler")["fieldsV1"]
                .pointer("/f:metadata/f:labels/f:team")
                .is_some(),
            "{next}"
        );
        // A later label change concerns only the labeler: the creator's entry,
        // which owns nothing under metadata any more, is kept byte for byte.
        let before = entry(&next, "creator").clone();
        let old = next.clone();
        next["metadata"]["labels"]["team"] = json!("c");
        record(&mut next, Some(&old), "labeler", Operation::Update, r);
        assert_eq!(entry(&next, "creator"), &before);
        assert_eq!(
            next["metadata"]["managedFields"].as_array().map(Vec::len),
            Some(2)
        );
    }
}
