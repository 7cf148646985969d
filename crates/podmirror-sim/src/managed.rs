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
    let api_version = r.api_version();
    let time = meta::now_rfc3339();
    let previous: Vec<Value> = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Value> = previous
        .into_iter()
        .filter(|e| e.get("subresource").is_some())
        .collect();
    for (entry, fields) in list {
        if fields.is_empty() {
            continue;
        }
        out.push(json!({
            "manager": entry.manager,
            "operation": entry.operation.as_str(),
            "apiVersion": api_version,
            "time": time,
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
    let changed: BTreeSet<FieldPath> = paths_of(obj)
        .into_iter()
        .filter(|p| old.is_none_or(|o| strategic::get_path(o, p) != strategic::get_path(obj, p)))
        .collect();
    let mut list = entries(obj);
    if changed.is_empty() && list.iter().any(|(e, _)| e.manager == manager) {
        return;
    }
    for (e, fields) in list.iter_mut() {
        if !(e.manager == manager && e.operation == op) {
            fields.retain(|p| !changed.contains(p));
        }
    }
    match list
        .iter_mut()
        .find(|(e, _)| e.manager == manager && e.operation == op)
    {
        Some((_, fields)) => fields.extend(changed),
        None => list.push((
            Entry {
                manager: manager.to_string(),
                operation: op,
            },
            changed,
        )),
    }
    write_entries(obj, r, list);
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
