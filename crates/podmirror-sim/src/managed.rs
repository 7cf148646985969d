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
    let previous: Vec<Value> = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
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
        if fields.is_empty() {
            continue;
        }
        let touch = touched.map_or(Touch::Set, |t| t.get(i).copied().unwrap_or(Touch::Set));
        let before = kept(&entry);
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
    let mut list = entries(obj);
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
