//! Strategic merge patch and server-side-apply field paths (managedFields `fieldsV1`) for the built-in kinds the simulator serves.
//!
//! Kubernetes decides how to merge a list from Go struct tags; this module has
//! no schema, so it chooses the strategy from the *field name* and the names of
//! its ancestors (see [`merge_key`]). That is exact for the kinds the simulator
//! serves: pods, deployments, replicasets, services, configmaps, secrets,
//! namespaces, nodes, events, leases, persistent volume claims and service
//! accounts.
//!
//! Two halves live here:
//! * [`strategic_merge`] applies a `application/strategic-merge-patch+json`
//!   body the way kube-apiserver does, directives included.
//! * [`leaf_paths`], [`to_fields_v1`], [`from_fields_v1`], [`get_path`] and
//!   [`remove_path`] describe which fields a manager owns, in the `fieldsV1`
//!   encoding kube-apiserver writes into `metadata.managedFields`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// Key of the directive that changes how one map or list is patched.
const PATCH_DIRECTIVE: &str = "$patch";
/// Key of the directive that lists the only keys a map may keep.
const RETAIN_KEYS: &str = "$retainKeys";
/// Prefix of the directive that fixes the order of a merged list.
const SET_ORDER_PREFIX: &str = "$setElementOrder/";
/// Prefix of the directive that removes values from a list of primitives.
const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch could not be applied.
///
/// Every message is meant to be shown to the client as is (HTTP 400 or 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicError {
    /// The patch body is not a JSON object.
    #[error("strategic merge patch must be a JSON object, got {0}")]
    PatchNotObject(&'static str),
    /// The object being patched is not a JSON object.
    #[error("the object to patch must be a JSON object, got {0}")]
    OriginalNotObject(&'static str),
    /// A `$patch` directive has a value other than `replace`, `delete` or `merge`.
    #[error("unknown patch type: {value} in map: {map}")]
    UnknownPatchType {
        /// The offending directive value, Go-formatted.
        value: String,
        /// The map that carried it, Go-formatted.
        map: String,
    },
    /// An element of a list merged by key does not carry that key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// The element, Go-formatted (`map[k:v ...]`).
        map: String,
        /// The merge key that is missing.
        key: String,
    },
    /// A list merged by key holds something other than objects.
    #[error(
        "list {field} is merged by its key {key:?}, but it holds a non-object element: {element}"
    )]
    KeyedElementNotObject {
        /// The list field.
        field: String,
        /// The merge key of that list.
        key: &'static str,
        /// The offending element as JSON.
        element: String,
    },
    /// A list merged as a set of primitives holds an object or a list.
    #[error("list {field} is merged as a set of primitive values, but it holds {element}")]
    SetElementNotPrimitive {
        /// The list field.
        field: String,
        /// The offending element as JSON.
        element: String,
    },
    /// `$retainKeys` is malformed or does not name every key the patch sets.
    #[error("invalid patch format of retainKeys: {0}")]
    BadRetainKeys(String),
    /// `$setElementOrder/<field>` is malformed or contradicts the patch list.
    #[error("invalid patch format of $setElementOrder/{field}: {reason}")]
    BadSetElementOrder {
        /// The list field the directive is about.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `$deleteFromPrimitiveList/<field>` is malformed.
    #[error("invalid patch format of $deleteFromPrimitiveList/{field}: {reason}")]
    BadDeleteFromPrimitiveList {
        /// The list field the directive is about.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key starts with `$` but is not a strategic merge patch directive.
    #[error("unknown strategic merge patch directive {0:?}")]
    UnknownDirective(String),
}

/// How the elements of one list field are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    /// Elements are objects matched by the named field.
    Keyed(&'static str),
    /// Elements are primitives merged as a set union.
    Set,
    /// The patch's list replaces the original one.
    Atomic,
}

/// Returns the strategic merge key of list `field`, or `None` when the list is
/// not merged by key.
///
/// `parent_path` is the chain of field names from the root of the object to
/// the object holding `field`; list elements add nothing to it. For the image
/// of a deployment's container ports that is
/// `["spec", "template", "spec", "containers"]` with `field == "ports"`.
pub fn merge_key<S: AsRef<str>>(parent_path: &[S], field: &str) -> Option<&'static str> {
    let parent = parent_path.last().map(AsRef::as_ref);
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "resourceClaims"
        | "schedulingGates" => Some("name"),
        // PodSpec merges pull secrets by name; a ServiceAccount's top-level
        // list of the same name is atomic.
        "imagePullSecrets" if !parent_path.is_empty() => Some("name"),
        // ServiceAccount.secrets.
        "secrets" if parent_path.is_empty() => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" if is_container_list(parent) => Some("containerPort"),
        "ports" if parent == Some("spec") => Some("port"),
        "hostAliases" => Some("ip"),
        "podIPs" | "hostIPs" if parent == Some("status") => Some("ip"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        "addresses" if parent == Some("status") => Some("type"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

/// Tells whether list `field` (under `parent_path`, as for [`merge_key`]) is a
/// set of primitives merged by union, such as `metadata.finalizers`.
pub fn is_primitive_set_list<S: AsRef<str>>(parent_path: &[S], field: &str) -> bool {
    let parent = parent_path.last().map(AsRef::as_ref);
    matches!(
        (field, parent),
        ("finalizers", Some("metadata")) | ("podCIDRs", Some("spec"))
    )
}

/// Returns the fields that identify an element of list `field` for
/// server-side apply (the `k:{...}` path element), or `None` when the list is
/// not a keyed list.
///
/// These mostly equal [`merge_key`], but some lists are keyed by several
/// fields: container ports by `containerPort` and `protocol`, service ports by
/// `port` and `protocol`, topology spread constraints by `topologyKey` and
/// `whenUnsatisfiable`. A missing `protocol` counts as `"TCP"`, the value the
/// real API server defaults it to.
pub fn ssa_list_keys<S: AsRef<str>>(
    parent_path: &[S],
    field: &str,
) -> Option<&'static [&'static str]> {
    let parent = parent_path.last().map(AsRef::as_ref);
    match field {
        "ports" if is_container_list(parent) => Some(&["containerPort", "protocol"]),
        "ports" if parent == Some("spec") => Some(&["port", "protocol"]),
        "topologySpreadConstraints" => Some(&["topologyKey", "whenUnsatisfiable"]),
        "claims" if parent == Some("resources") => Some(&["name"]),
        _ => match merge_key(parent_path, field)? {
            "name" => Some(&["name"]),
            "mountPath" => Some(&["mountPath"]),
            "devicePath" => Some(&["devicePath"]),
            "ip" => Some(&["ip"]),
            "uid" => Some(&["uid"]),
            "type" => Some(&["type"]),
            _ => None,
        },
    }
}

/// True when a field of that name holds the containers of a pod spec.
fn is_container_list(name: Option<&str>) -> bool {
    matches!(
        name,
        Some("containers" | "initContainers" | "ephemeralContainers")
    )
}

/// Picks the merge strategy of list `field` under `parent_path`.
fn list_kind<S: AsRef<str>>(parent_path: &[S], field: &str) -> ListKind {
    if let Some(key) = merge_key(parent_path, field) {
        ListKind::Keyed(key)
    } else if is_primitive_set_list(parent_path, field) {
        ListKind::Set
    } else {
        ListKind::Atomic
    }
}

// ---------------------------------------------------------------------------
// Part 1: strategic merge patch
// ---------------------------------------------------------------------------

/// Applies a strategic merge patch to a whole object and returns the result.
///
/// Maps merge recursively and `null` deletes a key. Lists follow the strategy
/// their field name implies (see [`merge_key`]): keyed lists merge element by
/// element, `finalizers` merges as a set, every other list is replaced.
/// The directives `$patch` (`merge`, `replace`, `delete`), `$retainKeys`,
/// `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>` are
/// honoured and never appear in the result.
///
/// Element order follows kube-apiserver: without `$setElementOrder`, patch
/// elements keep the patch's relative order and go *before* original elements
/// they do not follow in the original list, so a brand-new element lands at
/// the front of the list. `kubectl apply` and `kubectl edit` send
/// `$setElementOrder` for the lists they change, which fixes the order
/// explicitly.
///
/// # Errors
///
/// Returns a [`StrategicError`] when either document is not an object, when a
/// directive is unknown or malformed, or when an element of a keyed list lacks
/// its merge key. Nothing is changed in that case.
pub fn strategic_merge(original: &Value, patch: &Value) -> Result<Value, StrategicError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicError::PatchNotObject(json_type(patch)));
    };
    let Value::Object(original) = original else {
        return Err(StrategicError::OriginalNotObject(json_type(original)));
    };
    let mut path = Vec::new();
    let merged = merge_map(original.clone(), patch, &mut path)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Merges `patch` into `orig`; `path` holds the field names leading to them.
///
/// Returns `None` when the patch asks for the whole map to be deleted.
fn merge_map(
    mut orig: Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Option<Map<String, Value>>, StrategicError> {
    if let Some(directive) = patch.get(PATCH_DIRECTIVE) {
        match directive.as_str() {
            Some("delete") => return Ok(None),
            Some("replace") => orig = Map::new(),
            Some("merge") => {}
            _ => {
                return Err(StrategicError::UnknownPatchType {
                    value: go_fmt(directive),
                    map: go_fmt_map(patch),
                });
            }
        }
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        apply_retain_keys(&mut orig, patch, retain)?;
    }

    // Lists named by `$setElementOrder` are merged and ordered first, so the
    // main loop below must leave them alone.
    let mut ordered: Vec<&str> = Vec::new();
    for (key, order) in patch {
        if let Some(field) = key.strip_prefix(SET_ORDER_PREFIX)
            && apply_set_element_order(&mut orig, patch, field, order, path)?
        {
            ordered.push(field);
        }
    }

    for (key, patch_value) in patch {
        if key == PATCH_DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ORDER_PREFIX) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_PRIMITIVE_PREFIX) {
            delete_from_primitive_list(&mut orig, field, patch_value)?;
            continue;
        }
        if key.starts_with('$') {
            return Err(StrategicError::UnknownDirective(key.clone()));
        }
        if ordered.contains(&key.as_str()) {
            continue;
        }
        if patch_value.is_null() {
            orig.shift_remove(key);
            continue;
        }
        let merged = match orig.get_mut(key) {
            Some(slot) => {
                let old = std::mem::take(slot);
                merge_field(old, patch_value, path, key)?
            }
            None => new_field(patch_value, path, key)?,
        };
        match merged {
            Some(value) => {
                orig.insert(key.clone(), value);
            }
            None => {
                orig.shift_remove(key);
            }
        }
    }
    Ok(Some(orig))
}

/// Merges the patch value of field `key` into its original value `old`.
///
/// Returns `None` when the field must be removed.
fn merge_field(
    old: Value,
    patch_value: &Value,
    path: &mut Vec<String>,
    key: &str,
) -> Result<Option<Value>, StrategicError> {
    match (old, patch_value) {
        (Value::Object(old), Value::Object(patch)) => {
            path.push(key.to_owned());
            let merged = merge_map(old, patch, path);
            path.pop();
            Ok(merged?.map(Value::Object))
        }
        (Value::Array(old), Value::Array(patch)) => {
            Ok(Some(Value::Array(merge_list(old, patch, path, key)?)))
        }
        // Different kinds (or scalars): the patch value wins.
        (_, patch_value) => new_field(patch_value, path, key),
    }
}

/// Builds the value of a field the original does not have (or whose kind the
/// patch changes), processing any directives nested in the patch value.
fn new_field(
    patch_value: &Value,
    path: &mut Vec<String>,
    key: &str,
) -> Result<Option<Value>, StrategicError> {
    match patch_value {
        Value::Object(patch) => {
            path.push(key.to_owned());
            let merged = merge_map(Map::new(), patch, path);
            path.pop();
            Ok(merged?.map(Value::Object))
        }
        Value::Array(patch) => Ok(Some(Value::Array(merge_list(
            Vec::new(),
            patch,
            path,
            key,
        )?))),
        Value::Null => Ok(None),
        scalar => Ok(Some(scalar.clone())),
    }
}

/// Merges list `field` (held by the object at `parent`) with its patch.
fn merge_list(
    orig: Vec<Value>,
    patch: &[Value],
    parent: &mut Vec<String>,
    field: &str,
) -> Result<Vec<Value>, StrategicError> {
    match list_kind(parent, field) {
        ListKind::Atomic => {
            // The patch list replaces the original; objects inside it are
            // still cleaned of directives and nulls.
            parent.push(field.to_owned());
            let cleaned = patch
                .iter()
                .map(|element| match element {
                    Value::Object(map) => {
                        Ok(merge_map(Map::new(), map, parent)?.map(Value::Object))
                    }
                    other => Ok(Some(other.clone())),
                })
                .collect::<Result<Vec<_>, StrategicError>>();
            parent.pop();
            Ok(cleaned?.into_iter().flatten().collect())
        }
        ListKind::Set => merge_set_list(orig, patch, field),
        ListKind::Keyed(key) => {
            parent.push(field.to_owned());
            let merged = merge_keyed_list(orig, patch, parent, field, key);
            parent.pop();
            merged
        }
    }
}

/// Fails unless every value is a primitive (not an object or a list).
fn check_primitives<'a>(
    field: &str,
    values: impl IntoIterator<Item = &'a Value>,
) -> Result<(), StrategicError> {
    for value in values {
        if value.is_object() || value.is_array() {
            return Err(StrategicError::SetElementNotPrimitive {
                field: field.to_owned(),
                element: value.to_string(),
            });
        }
    }
    Ok(())
}

/// Union of two lists of primitives, ordered as kube-apiserver orders it.
fn merge_set_list(
    orig: Vec<Value>,
    patch: &[Value],
    field: &str,
) -> Result<Vec<Value>, StrategicError> {
    check_primitives(field, orig.iter().chain(patch))?;
    let mut merged: Vec<Value> = Vec::with_capacity(orig.len() + patch.len());
    for value in orig.iter().chain(patch) {
        if !merged.contains(value) {
            merged.push(value.clone());
        }
    }
    let (mut from_patch, server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|value| patch.contains(value));
    from_patch.sort_by_key(|value| patch.iter().position(|p| p == value));
    Ok(interleave(server_only, from_patch, |value| {
        orig.iter().position(|o| o == value)
    }))
}

/// Merges a list of objects matched by `key`. `path` already ends with the
/// list's own field name.
fn merge_keyed_list(
    orig: Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
    field: &str,
    key: &'static str,
) -> Result<Vec<Value>, StrategicError> {
    let not_object = |element: &Value| StrategicError::KeyedElementNotObject {
        field: field.to_owned(),
        key,
        element: element.to_string(),
    };
    if let Some(bad) = orig.iter().find(|element| !element.is_object()) {
        return Err(not_object(bad));
    }

    // First pass: directives carried by elements.
    let mut orig = orig;
    let mut items: Vec<&Map<String, Value>> = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Value::Object(map) = element else {
            return Err(not_object(element));
        };
        match map.get(PATCH_DIRECTIVE) {
            None => items.push(map),
            Some(directive) => match directive.as_str() {
                Some("delete") => {
                    let wanted = require_key(map, key)?;
                    orig.retain(|element| !has_key_value(element, key, wanted));
                }
                Some("replace") => replace = true,
                // Merging is what happens anyway; the directive is dropped.
                Some("merge") => items.push(map),
                _ => {
                    return Err(StrategicError::UnknownPatchType {
                        value: go_fmt(directive),
                        map: go_fmt_map(map),
                    });
                }
            },
        }
    }

    if replace {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            require_key(item, key)?;
            if let Some(map) = merge_map(Map::new(), item, path)? {
                out.push(Value::Object(map));
            }
        }
        return Ok(out);
    }

    // Second pass: merge matching elements, add the others.
    let server_order: Vec<Option<Value>> = orig.iter().map(|e| e.get(key).cloned()).collect();
    let mut patch_keys: Vec<&Value> = Vec::with_capacity(items.len());
    let mut merged = orig;
    for item in items {
        let wanted = require_key(item, key)?;
        patch_keys.push(wanted);
        match merged.iter().position(|e| has_key_value(e, key, wanted)) {
            Some(index) => match std::mem::take(&mut merged[index]) {
                Value::Object(old) => match merge_map(old, item, path)? {
                    Some(map) => merged[index] = Value::Object(map),
                    None => {
                        merged.remove(index);
                    }
                },
                other => return Err(not_object(&other)),
            },
            None => {
                if let Some(map) = merge_map(Map::new(), item, path)? {
                    merged.push(Value::Object(map));
                }
            }
        }
    }

    let (mut from_patch, server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|element| {
            element
                .get(key)
                .is_some_and(|value| patch_keys.iter().any(|p| same_value(p, value)))
        });
    from_patch.sort_by_key(|element| {
        element
            .get(key)
            .and_then(|value| patch_keys.iter().position(|p| same_value(p, value)))
    });
    Ok(interleave(server_only, from_patch, |element| {
        let value = element.get(key)?;
        server_order
            .iter()
            .position(|known| known.as_ref().is_some_and(|k| same_value(k, value)))
    }))
}

/// Returns the merge key value of a patch element, or the error kube-apiserver
/// gives when it is missing.
fn require_key<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a Value, StrategicError> {
    map.get(key).ok_or_else(|| StrategicError::MissingMergeKey {
        map: go_fmt_map(map),
        key: key.to_owned(),
    })
}

/// Tells whether two JSON values are equal, treating `80` and `80.0` alike.
fn same_value(a: &Value, b: &Value) -> bool {
    cmp_values(a, b) == Ordering::Equal
}

/// Tells whether two optional identities are both present and equal.
fn same_identity(a: &Option<Value>, b: &Option<Value>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if same_value(a, b))
}

/// Tells whether list element `element` has `value` in its field `key`.
fn has_key_value(element: &Value, key: &str, value: &Value) -> bool {
    element.get(key).is_some_and(|v| same_value(v, value))
}

/// Interleaves the original-only elements (`left`, in original order) with the
/// patch elements (`right`, in patch order).
///
/// An original element goes first only while both it and the next patch
/// element are found in the original list and it comes earlier there; this is
/// the rule kube-apiserver uses, and it puts brand-new patch elements first.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    position: impl Fn(&Value) -> Option<usize>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => {
                let left_first = matches!(
                    (position(l), position(r)),
                    (Some(a), Some(b)) if a < b
                );
                if left_first {
                    out.extend(left.next());
                } else {
                    out.extend(right.next());
                }
            }
            (Some(_), None) => {
                out.extend(left);
                break;
            }
            (None, _) => {
                out.extend(right);
                break;
            }
        }
    }
    out
}

/// Applies `$retainKeys`: checks that the patch sets only listed keys and
/// drops every original key that is not listed.
fn apply_retain_keys(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<(), StrategicError> {
    let Value::Array(list) = retain else {
        return Err(StrategicError::BadRetainKeys(format!(
            "expected a list of field names, got {}",
            json_type(retain)
        )));
    };
    let mut names = Vec::with_capacity(list.len());
    for name in list {
        match name.as_str() {
            Some(name) => names.push(name),
            None => {
                return Err(StrategicError::BadRetainKeys(format!(
                    "expected a list of field names, found {name}"
                )));
            }
        }
    }
    for (key, value) in patch {
        if value.is_null() || key.starts_with('$') {
            continue;
        }
        if !names.contains(&key.as_str()) {
            return Err(StrategicError::BadRetainKeys(format!(
                "field {key:?} is set by the patch but not listed in $retainKeys"
            )));
        }
    }
    orig.retain(|key, _| names.contains(&key.as_str()));
    Ok(())
}

/// Applies `$deleteFromPrimitiveList/<field>`.
fn delete_from_primitive_list(
    orig: &mut Map<String, Value>,
    field: &str,
    patch_value: &Value,
) -> Result<(), StrategicError> {
    let bad = |reason: String| StrategicError::BadDeleteFromPrimitiveList {
        field: field.to_owned(),
        reason,
    };
    if field.is_empty() {
        return Err(bad("the directive names no field".to_owned()));
    }
    let Value::Array(doomed) = patch_value else {
        return Err(bad(format!(
            "expected a list of values, got {}",
            json_type(patch_value)
        )));
    };
    if let Some(Value::Array(list)) = orig.get_mut(field) {
        list.retain(|value| !doomed.contains(value));
    }
    Ok(())
}

/// Applies `$setElementOrder/<field>`: merges the list now and orders it.
///
/// Returns whether the list was handled, in which case the main loop must not
/// merge it again.
fn apply_set_element_order(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    field: &str,
    order: &Value,
    path: &mut Vec<String>,
) -> Result<bool, StrategicError> {
    let bad = |reason: String| StrategicError::BadSetElementOrder {
        field: field.to_owned(),
        reason,
    };
    if field.is_empty() {
        return Err(bad("the directive names no field".to_owned()));
    }
    let Value::Array(order) = order else {
        return Err(bad(format!("expected a list, got {}", json_type(order))));
    };
    let patch_list = match patch.get(field) {
        None => None,
        Some(Value::Array(list)) => Some(list.as_slice()),
        // `null` or a non-list: the main loop deletes or replaces the field.
        Some(_) => return Ok(false),
    };
    let kind = list_kind(path, field);

    // Identifies an element for ordering: its merge key, or itself.
    let identity = |element: &Value| -> Option<Value> {
        match kind {
            ListKind::Keyed(key) => element.get(key).cloned(),
            ListKind::Set | ListKind::Atomic => Some(element.clone()),
        }
    };
    match kind {
        // Order only matters for lists that are merged.
        ListKind::Atomic => return Ok(false),
        ListKind::Keyed(key) => {
            for entry in order {
                match entry {
                    Value::Object(map) => {
                        require_key(map, key)?;
                    }
                    other => {
                        return Err(bad(format!(
                            "entries must be objects holding {key:?}, found {other}"
                        )));
                    }
                }
            }
        }
        ListKind::Set => {
            if let Some(entry) = order.iter().find(|e| e.is_object() || e.is_array()) {
                return Err(bad(format!(
                    "entries must be primitive values, found {entry}"
                )));
            }
        }
    }
    let wanted: Vec<Option<Value>> = order.iter().map(identity).collect();

    if let Some(list) = patch_list {
        // The patch elements (ignoring those carrying directives) must appear
        // in the order list, in the same relative order.
        let mut pending = Vec::with_capacity(list.len());
        for element in list {
            if let Value::Object(map) = element {
                if map.contains_key(PATCH_DIRECTIVE) {
                    continue;
                }
                if let ListKind::Keyed(key) = kind {
                    require_key(map, key)?;
                }
            }
            pending.push(identity(element));
        }
        let mut next = 0;
        for entry in &wanted {
            if next < pending.len() && same_identity(&pending[next], entry) {
                next += 1;
            }
        }
        if next < pending.len() {
            return Err(bad(format!(
                "the patch list {} does not follow the order {}",
                Value::Array(list.to_vec()),
                Value::Array(order.clone())
            )));
        }
    }

    let orig_list = match orig.get(field) {
        Some(Value::Array(list)) => Some(list.clone()),
        _ => None,
    };
    let server_order: Vec<Option<Value>> = orig_list
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(identity)
        .collect();
    let merged = match (orig_list, patch_list) {
        (None, None) => return Ok(false),
        (Some(list), None) => list,
        (list, Some(patch_list)) => merge_list(list.unwrap_or_default(), patch_list, path, field)?,
    };

    let position_in = |known: &[Option<Value>], element: &Value| {
        let id = identity(element)?;
        known
            .iter()
            .position(|k| k.as_ref().is_some_and(|k| same_value(k, &id)))
    };
    let (mut listed, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|element| position_in(&wanted, element).is_some());
    listed.sort_by_key(|element| position_in(&wanted, element));
    server_only.sort_by_key(|element| position_in(&server_order, element).unwrap_or(usize::MAX));
    let ordered = interleave(server_only, listed, |element| {
        position_in(&server_order, element)
    });
    orig.insert(field.to_owned(), Value::Array(ordered));
    Ok(true)
}

/// Names the JSON type of a value, for error messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Formats a value the way Go's `%v` prints decoded JSON, which is what
/// kube-apiserver's patch errors show.
fn go_fmt(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_fmt).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => go_fmt_map(map),
    }
}

/// Formats a JSON object like Go's `%v` of a `map[string]interface{}`:
/// `map[k1:v1 k2:v2]` with sorted keys.
fn go_fmt_map(map: &Map<String, Value>) -> String {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = entries
        .into_iter()
        .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
        .collect();
    format!("map[{}]", inner.join(" "))
}

// ---------------------------------------------------------------------------
// Part 2: field paths for server-side apply
// ---------------------------------------------------------------------------

/// One step into an object, as server-side apply names it.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A field of an object; `f:<name>` in `fieldsV1`.
    Field(String),
    /// The element of a keyed list whose key fields have these values;
    /// `k:{"name":"x"}` in `fieldsV1`.
    Key(Map<String, Value>),
    /// The element of a set-like list of primitives with this value;
    /// `v:"x"` in `fieldsV1`.
    Value(Value),
}

/// A path from the root of an object to one of its nodes.
pub type FieldPath = Vec<PathElement>;

impl PathElement {
    /// Encodes the element as a `fieldsV1` key: `f:name`, `k:{...}` (compact
    /// JSON, fields sorted) or `v:<json>`.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(key) => format!("k:{}", Value::Object(sorted_map(key))),
            PathElement::Value(value) => format!("v:{}", canonical(value)),
        }
    }

    /// Parses a `fieldsV1` key; `None` for `.` and anything unrecognised.
    pub fn decode(text: &str) -> Option<PathElement> {
        if let Some(name) = text.strip_prefix("f:") {
            Some(PathElement::Field(name.to_owned()))
        } else if let Some(json) = text.strip_prefix("k:") {
            match serde_json::from_str::<Value>(json).ok()? {
                Value::Object(key) => Some(PathElement::Key(sorted_map(&key))),
                _ => None,
            }
        } else if let Some(json) = text.strip_prefix("v:") {
            serde_json::from_str::<Value>(json)
                .ok()
                .map(|value| PathElement::Value(canonical(&value)))
        } else {
            None
        }
    }
}

/// Shows the element the way kube-apiserver prints paths in apply conflicts:
/// `.name`, `[name="x",protocol="TCP"]` or `[="x"]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(key) => {
                let mut entries: Vec<(&String, &Value)> = key.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let parts: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(value) => write!(f, "[={value}]"),
        }
    }
}

/// Formats a whole path as kube-apiserver does in apply conflict messages,
/// e.g. `.spec.template.spec.containers[name="nginx"].image`.
pub fn format_path(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders like server-side apply: fields, then keys, then values; keys compare
/// their sorted fields one by one.
impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        use PathElement::{Field, Key, Value as Val};
        match (self, other) {
            (Field(a), Field(b)) => a.cmp(b),
            (Field(_), _) => Ordering::Less,
            (_, Field(_)) => Ordering::Greater,
            (Key(a), Key(b)) => cmp_maps(a, b),
            (Key(_), _) => Ordering::Less,
            (_, Key(_)) => Ordering::Greater,
            (Val(a), Val(b)) => cmp_values(a, b),
        }
    }
}

/// Rank of a JSON type in the ordering server-side apply uses.
fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// Total order on JSON values: by type, then by content. Numbers compare by
/// value, so `80` and `80.0` are equal.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => {
                    let x = x.as_f64().unwrap_or(f64::NAN);
                    let y = y.as_f64().unwrap_or(f64::NAN);
                    x.total_cmp(&y)
                }
            },
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let ord = cmp_values(l, r);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => cmp_maps(x, y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// Compares two objects by their sorted `(name, value)` pairs, shorter first
/// on a tie.
fn cmp_maps(a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
    let mut left: Vec<(&String, &Value)> = a.iter().collect();
    let mut right: Vec<(&String, &Value)> = b.iter().collect();
    left.sort_by(|x, y| x.0.cmp(y.0));
    right.sort_by(|x, y| x.0.cmp(y.0));
    for ((lk, lv), (rk, rv)) in left.iter().zip(&right) {
        let ord = lk.cmp(rk).then_with(|| cmp_values(lv, rv));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    left.len().cmp(&right.len())
}

/// Copy of an object with its keys (recursively) in sorted order.
fn sorted_map(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), canonical(v)))
        .collect()
}

/// Copy of a value with every object's keys in sorted order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(sorted_map(map)),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Value a key field takes when an element leaves it out.
fn key_default(field: &str) -> Option<Value> {
    (field == "protocol").then(|| Value::String("TCP".to_owned()))
}

/// Tells whether list element `element` is the one `key` names.
fn key_matches(element: &Value, key: &Map<String, Value>) -> bool {
    let Value::Object(element) = element else {
        return false;
    };
    key.iter().all(|(name, wanted)| match element.get(name) {
        Some(actual) => cmp_values(actual, wanted) == Ordering::Equal,
        None => key_default(name).is_some_and(|d| cmp_values(&d, wanted) == Ordering::Equal),
    })
}

/// Builds the `k:` element of a keyed list element, or `None` when the
/// element is not an object or lacks its first key field.
fn element_key(element: &Value, keys: &[&str]) -> Option<Map<String, Value>> {
    let Value::Object(element) = element else {
        return None;
    };
    let mut key = Map::new();
    for (i, name) in keys.iter().enumerate() {
        match element.get(*name).cloned().or_else(|| key_default(name)) {
            Some(value) => {
                key.insert((*name).to_owned(), canonical(&value));
            }
            None if i == 0 => return None,
            None => {}
        }
    }
    Some(sorted_map(&key))
}

/// Fields server-side apply does not track at the top of an object.
const SKIPPED_ROOT_FIELDS: &[&str] = &["apiVersion", "kind", "status"];

/// Fields of `metadata` server-side apply does not track.
const SKIPPED_METADATA_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// Object fields that are owned as a whole (atomic maps and structs).
const ATOMIC_MAPS: &[&str] = &[
    "selector",
    "nodeSelector",
    "labelSelector",
    "namespaceSelector",
    "fieldRef",
    "resourceFieldRef",
    "configMapKeyRef",
    "secretKeyRef",
    "requiredDuringSchedulingIgnoredDuringExecution",
    "involvedObject",
    "related",
];

/// Keyed lists whose elements are owned as a whole (atomic structs).
const ATOMIC_ELEMENT_LISTS: &[&str] = &["ownerReferences", "imagePullSecrets", "secrets"];

/// Fields that are plain (non-pointer, always serialized) structs or required
/// lists in the Go types. The real API server never records their own
/// presence (`.`), only their children's.
const NO_PRESENCE_FIELDS: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "strategy",
    "resources",
    "containers",
    "source",
];

/// The field names along `path`, skipping list elements.
fn field_names(path: &[PathElement]) -> Vec<&str> {
    path.iter()
        .filter_map(|element| match element {
            PathElement::Field(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// Whether the node at `path` records its own presence when it has children.
fn records_presence(path: &[PathElement]) -> bool {
    match path.last() {
        None => false,
        Some(PathElement::Field(name)) => !NO_PRESENCE_FIELDS.contains(&name.as_str()),
        Some(_) => true,
    }
}

/// Whether field `key` of the object at `path` is left out of ownership.
fn is_skipped(path: &[PathElement], key: &str) -> bool {
    match path {
        [] => SKIPPED_ROOT_FIELDS.contains(&key),
        [PathElement::Field(meta)] if meta == "metadata" => SKIPPED_METADATA_FIELDS.contains(&key),
        _ => false,
    }
}

/// Lists the paths a manager owns when it sets `obj`, the way server-side
/// apply records them in `fieldsV1`.
///
/// `obj` is the value found at `parent` inside a whole object; pass `&[]` for
/// a whole object. Returned paths include `parent`. Object keys become
/// [`PathElement::Field`], elements of keyed lists [`PathElement::Key`] (see
/// [`ssa_list_keys`]), elements of `finalizers` [`PathElement::Value`];
/// scalars, atomic lists, atomic maps (label selectors, `nodeSelector`,
/// object references...) and empty maps or lists are leaves, and `null`
/// values own nothing. Besides leaves, the set holds the paths of list
/// elements and of optional maps and lists that have owned children (shown as
/// `"."` in `fieldsV1`).
///
/// At the root, `apiVersion`, `kind` and `status` are skipped, as are
/// `metadata.name`, `namespace`, `uid`, `resourceVersion`, `generation`,
/// `creationTimestamp`, `managedFields` and `selfLink`. To record status
/// ownership, pass the status value with `parent = [Field("status")]`.
pub fn leaf_paths(obj: &Value, parent: &[PathElement]) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let mut path = parent.to_vec();
    walk(obj, &mut path, &mut out);
    out
}

/// Records the paths owned through `value`, found at `path`. Returns whether
/// anything was recorded.
fn walk(value: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) -> bool {
    let is_root = path.is_empty();
    let leaf = |path: &FieldPath, out: &mut BTreeSet<FieldPath>| {
        if is_root {
            false
        } else {
            out.insert(path.clone());
            true
        }
    };
    match value {
        Value::Null => false,
        Value::Object(map) => {
            let atomic = matches!(
                path.last(),
                Some(PathElement::Field(name)) if ATOMIC_MAPS.contains(&name.as_str())
            );
            if map.is_empty() || atomic {
                return leaf(path, out);
            }
            let mut any = false;
            for (key, child) in map {
                if is_skipped(path, key) {
                    continue;
                }
                path.push(PathElement::Field(key.clone()));
                any |= walk(child, path, out);
                path.pop();
            }
            if any && !is_root && records_presence(path) {
                out.insert(path.clone());
            }
            any
        }
        Value::Array(items) => {
            let Some(PathElement::Field(field)) = path.last() else {
                return leaf(path, out);
            };
            if items.is_empty() {
                return leaf(path, out);
            }
            let field = field.clone();
            let (keys, is_set) = {
                let names = field_names(path);
                let parent = &names[..names.len().saturating_sub(1)];
                (
                    ssa_list_keys(parent, &field),
                    is_primitive_set_list(parent, &field),
                )
            };
            if let Some(keys) = keys {
                let Some(element_keys) = items
                    .iter()
                    .map(|item| element_key(item, keys))
                    .collect::<Option<Vec<_>>>()
                else {
                    // Elements without their key cannot be told apart: own
                    // the list as a whole.
                    return leaf(path, out);
                };
                let atomic_elements = ATOMIC_ELEMENT_LISTS.contains(&field.as_str());
                for (item, key) in items.iter().zip(element_keys) {
                    path.push(PathElement::Key(key));
                    if !atomic_elements {
                        walk(item, path, out);
                    }
                    // A list element always records its own presence.
                    out.insert(path.clone());
                    path.pop();
                }
            } else if is_set {
                for item in items {
                    path.push(PathElement::Value(canonical(item)));
                    out.insert(path.clone());
                    path.pop();
                }
            } else {
                return leaf(path, out);
            }
            if records_presence(path) {
                out.insert(path.clone());
            }
            true
        }
        _ => leaf(path, out),
    }
}

/// One node of a `fieldsV1` tree.
#[derive(Default)]
struct Node {
    /// The path ending here is itself in the set.
    present: bool,
    /// Deeper path elements.
    children: BTreeMap<PathElement, Node>,
}

impl Node {
    /// Renders the node as `fieldsV1` JSON: `"."` first when the node is
    /// present and has children, then the children in path order.
    fn render(&self) -> Value {
        let mut map = Map::new();
        if self.present && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element.encode(), child.render());
        }
        Value::Object(map)
    }
}

/// Encodes a set of paths as a `fieldsV1` object, as found in
/// `metadata.managedFields[].fieldsV1`.
pub fn to_fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Node::default();
    for path in paths {
        let mut node = &mut root;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.present = true;
    }
    root.render()
}

/// Decodes a `fieldsV1` object into the set of paths it holds. Entries that
/// cannot be parsed are ignored.
pub fn from_fields_v1(v: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Value::Object(map) = v {
        let mut path = Vec::new();
        collect_fields_v1(map, &mut path, &mut out);
    }
    out
}

/// Adds the paths below one `fieldsV1` node.
fn collect_fields_v1(
    map: &Map<String, Value>,
    path: &mut FieldPath,
    out: &mut BTreeSet<FieldPath>,
) {
    for (text, child) in map {
        let Some(element) = PathElement::decode(text) else {
            continue;
        };
        path.push(element);
        match child {
            Value::Object(inner) => {
                let has_children = inner.keys().any(|k| k != ".");
                if inner.contains_key(".") || !has_children {
                    out.insert(path.clone());
                }
                collect_fields_v1(inner, path, out);
            }
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

/// The paths [`leaf_paths`] lists for `new` whose value differs in `old`.
/// Top-level fields equal in both are not walked: an update that only
/// touches `status` does not pay for its whole `spec`.
pub fn changed_leaf_paths(old: &Value, new: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    match new.as_object() {
        Some(map) => {
            let mut path = Vec::new();
            for (key, child) in map {
                if is_skipped(&path, key) || old.get(key) == Some(child) {
                    continue;
                }
                path.push(PathElement::Field(key.clone()));
                walk(child, &mut path, &mut out);
                path.pop();
            }
        }
        None => out = leaf_paths(new, &[]),
    }
    out.retain(|p| get_path(old, p) != get_path(new, p));
    out
}

/// Finds the value at `path` inside `obj`.
///
/// A [`PathElement::Key`] matches the list element whose fields equal the
/// key's (a missing `protocol` counts as `"TCP"`); a [`PathElement::Value`]
/// matches the list element equal to it.
pub fn get_path<'a>(obj: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut current = obj;
    for element in path {
        current = match element {
            PathElement::Field(name) => current.as_object()?.get(name)?,
            PathElement::Key(key) => current.as_array()?.iter().find(|e| key_matches(e, key))?,
            PathElement::Value(value) => current
                .as_array()?
                .iter()
                .find(|e| cmp_values(e, value) == Ordering::Equal)?,
        };
    }
    Some(current)
}

/// Removes the node at `path` from `obj`, then removes the maps and lists
/// that this leaves empty on the way up (never `obj` itself). Does nothing
/// when the path is not there.
pub fn remove_path(obj: &mut Value, path: &[PathElement]) {
    remove_below(obj, path);
}

/// Removes `path` below `node`; returns whether something was removed.
fn remove_below(node: &mut Value, path: &[PathElement]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return remove_child(node, first);
    }
    let Some(child) = child_mut(node, first) else {
        return false;
    };
    let removed = remove_below(child, rest);
    let now_empty = match child {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    };
    if removed && now_empty {
        remove_child(node, first);
    }
    removed
}

/// Index of the list element `element` names.
fn find_index(items: &[Value], element: &PathElement) -> Option<usize> {
    match element {
        PathElement::Field(_) => None,
        PathElement::Key(key) => items.iter().position(|e| key_matches(e, key)),
        PathElement::Value(value) => items
            .iter()
            .position(|e| cmp_values(e, value) == Ordering::Equal),
    }
}

/// The child of `node` that `element` names.
fn child_mut<'a>(node: &'a mut Value, element: &PathElement) -> Option<&'a mut Value> {
    match (node, element) {
        (Value::Object(map), PathElement::Field(name)) => map.get_mut(name),
        (Value::Array(items), element) => {
            let index = find_index(items, element)?;
            items.get_mut(index)
        }
        _ => None,
    }
}

/// Removes the child of `node` that `element` names; returns whether it was
/// there.
fn remove_child(node: &mut Value, element: &PathElement) -> bool {
    match (node, element) {
        (Value::Object(map), PathElement::Field(name)) => map.shift_remove(name).is_some(),
        (Value::Array(items), element) => match find_index(items, element) {
            Some(index) => {
                items.remove(index);
                true
            }
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Applies a patch that must succeed.
    fn merge(original: Value, patch: Value) -> Value {
        match strategic_merge(&original, &patch) {
            Ok(merged) => merged,
            Err(err) => panic!("patch failed: {err}"),
        }
    }

    /// Applies a patch that must fail and returns the error text.
    fn merge_err(original: Value, patch: Value) -> String {
        match strategic_merge(&original, &patch) {
            Ok(merged) => panic!("expected an error, got {merged}"),
            Err(err) => err.to_string(),
        }
    }

    /// Fails if any object key in `value` starts with `$`.
    fn assert_no_directives(value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    assert!(!key.starts_with('$'), "directive {key} left in {value}");
                    assert_no_directives(child);
                }
            }
            Value::Array(items) => items.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    /// The `field` values of the objects in a list.
    fn names<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.get(field).and_then(Value::as_str))
            .collect()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "app:1",
                                "args": ["--a", "--b"],
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                            },
                            {"name": "sidecar", "image": "side:1"}
                        ],
                        "tolerations": [{"key": "k1", "operator": "Exists"}, {"key": "k2", "operator": "Exists"}],
                        "volumes": [{"name": "data", "emptyDir": {}}]
                    }
                }
            }
        })
    }

    fn containers(obj: &Value) -> &Value {
        &obj["spec"]["template"]["spec"]["containers"]
    }

    // ----- Part 1: strategic merge patch -----

    #[test]
    fn maps_merge_recursively_and_null_deletes() {
        let merged = merge(
            json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "paused": true}}),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}, "spec": {"replicas": 3, "paused": null}}),
        );
        assert_eq!(
            merged,
            json!({"metadata": {"name": "p", "labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn nulls_in_new_maps_are_dropped() {
        let merged = merge(
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"annotations": {"x": null, "y": "1"}, "labels": null}}),
        );
        assert_eq!(
            merged,
            json!({"metadata": {"name": "p", "annotations": {"y": "1"}}})
        );
    }

    #[test]
    fn containers_under_pod_template_merge_by_name() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "side:2"}]}}}}),
        );
        let list = containers(&merged);
        assert_eq!(names(list, "name"), ["app", "sidecar"]);
        assert_eq!(list[1]["image"], "side:2");
        assert_eq!(list[0], containers(&deployment())[0]);
    }

    #[test]
    fn new_keyed_element_goes_first_like_the_apiserver() {
        // kube-apiserver puts elements the original does not have in front of
        // the original ones when no $setElementOrder is sent.
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis"}]}}}}),
        );
        assert_eq!(
            names(containers(&merged), "name"),
            ["redis", "app", "sidecar"]
        );

        // Patch order wins over original order for the elements it names.
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "side:2"},
                {"name": "app", "image": "app:2"}
            ]}}}}),
        );
        assert_eq!(names(containers(&merged), "name"), ["sidecar", "app"]);
    }

    #[test]
    fn set_element_order_puts_new_elements_where_listed() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}, {"name": "redis"}],
                "containers": [{"name": "redis", "image": "redis"}]
            }}}}),
        );
        assert_eq!(
            names(containers(&merged), "name"),
            ["app", "sidecar", "redis"]
        );
        assert_no_directives(&merged);
    }

    #[test]
    fn set_element_order_alone_reorders_the_live_list() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]
            }}}}),
        );
        let list = containers(&merged);
        assert_eq!(names(list, "name"), ["sidecar", "app"]);
        assert_eq!(list[1], containers(&deployment())[0]);
        assert_no_directives(&merged);
    }

    #[test]
    fn set_element_order_interleaves_unlisted_live_elements() {
        let original =
            json!({"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}});
        let merged = merge(
            original,
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
        );
        assert_eq!(
            names(&merged["spec"]["containers"], "name"),
            ["x", "b", "a"]
        );
    }

    #[test]
    fn set_element_order_must_agree_with_the_patch_list() {
        let err = merge_err(
            deployment(),
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                "containers": [{"name": "sidecar", "image": "s"}, {"name": "app", "image": "a"}]
            }}}}),
        );
        assert!(err.contains("$setElementOrder/containers"), "{err}");

        let err = merge_err(
            deployment(),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}}}),
        );
        assert_eq!(
            err,
            "map: map[image:x] does not contain declared merge key: name"
        );

        let err = merge_err(
            json!({}),
            json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
        );
        assert!(err.contains("expected a list"), "{err}");
    }

    #[test]
    fn set_element_order_on_primitive_list() {
        let merged = merge(
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"]}}),
        );
        assert_eq!(merged, json!({"metadata": {"finalizers": ["b", "a", "c"]}}));
    }

    #[test]
    fn delete_from_primitive_list_removes_values() {
        let merged = merge(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {
                "$deleteFromPrimitiveList/finalizers": ["b", "zzz"],
                "$setElementOrder/finalizers": ["a", "c"]
            }}),
        );
        assert_eq!(merged, json!({"metadata": {"finalizers": ["a", "c"]}}));

        // Nothing to delete from: nothing happens, and nothing is added.
        let merged = merge(
            json!({"metadata": {"name": "x"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
        );
        assert_eq!(merged, json!({"metadata": {"name": "x"}}));

        let err = merge_err(
            json!({}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "b"}}),
        );
        assert!(err.contains("$deleteFromPrimitiveList/finalizers"), "{err}");
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let merged = merge(
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
        );
        assert_eq!(merged, json!({"metadata": {"finalizers": ["a", "b", "c"]}}));

        let merged = merge(
            json!({"metadata": {"name": "x"}}),
            json!({"metadata": {"finalizers": ["a", "a"]}}),
        );
        assert_eq!(merged["metadata"]["finalizers"], json!(["a"]));

        let err = merge_err(json!({}), json!({"metadata": {"finalizers": [{"a": 1}]}}));
        assert!(err.contains("finalizers"), "{err}");
    }

    #[test]
    fn env_entry_removed_with_patch_delete() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "env": [{"name": "A", "$patch": "delete"}, {"name": "C", "value": "3"}]}
            ]}}}}),
        );
        let app = &containers(&merged)[0];
        assert_eq!(app["name"], "app");
        assert_eq!(app["image"], "app:1");
        assert_eq!(names(&app["env"], "name"), ["C", "B"]);
        assert_no_directives(&merged);
    }

    #[test]
    fn delete_directive_needs_the_merge_key() {
        let err = merge_err(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "env": [{"$patch": "delete", "value": "1"}]}
            ]}}}}),
        );
        assert_eq!(
            err,
            "map: map[$patch:delete value:1] does not contain declared merge key: name"
        );
    }

    #[test]
    fn missing_merge_key_error_matches_apiserver_text() {
        let err = merge_err(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}}),
        );
        assert_eq!(
            err,
            "map: map[image:nginx] does not contain declared merge key: name"
        );

        let err = merge_err(
            json!({"spec": {}}),
            json!({"spec": {"ports": [{"targetPort": 8080, "name": "web"}]}}),
        );
        assert_eq!(
            err,
            "map: map[name:web targetPort:8080] does not contain declared merge key: port"
        );
    }

    #[test]
    fn list_replace_directive_replaces_the_list() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [
                {"$patch": "replace"},
                {"name": "only", "image": "only:1", "env": [{"name": "X", "$patch": "delete"}]}
            ]}}}}),
        );
        assert_eq!(
            containers(&merged),
            &json!([{"name": "only", "image": "only:1", "env": []}])
        );
    }

    #[test]
    fn map_replace_directive_replaces_the_map() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "tier": "front"}}}}}),
        );
        assert_eq!(
            merged["spec"]["template"]["metadata"]["labels"],
            json!({"tier": "front"})
        );
    }

    #[test]
    fn map_delete_directive_removes_the_map() {
        let merged = merge(
            deployment(),
            json!({"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}, "type": "Recreate"}}}),
        );
        assert_eq!(merged["spec"]["strategy"], json!({"type": "Recreate"}));

        // A map that did not exist stays absent.
        let merged = merge(
            json!({"spec": {}}),
            json!({"spec": {"affinity": {"$patch": "delete"}}}),
        );
        assert_eq!(merged, json!({"spec": {}}));
    }

    #[test]
    fn merge_directive_is_the_default() {
        let merged = merge(
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!({"metadata": {"labels": {"$patch": "merge", "b": "2"}}}),
        );
        assert_eq!(
            merged,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}})
        );
    }

    #[test]
    fn unknown_patch_type_is_an_error() {
        let err = merge_err(
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!({"metadata": {"labels": {"$patch": "frobnicate"}}}),
        );
        assert_eq!(
            err,
            "unknown patch type: frobnicate in map: map[$patch:frobnicate]"
        );

        let err = merge_err(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "$patch": "bogus"}]}}}}),
        );
        assert!(
            err.starts_with("unknown patch type: bogus in map:"),
            "{err}"
        );

        let err = merge_err(json!({}), json!({"metadata": {"$frob": 1}}));
        assert!(err.contains("$frob"), "{err}");
    }

    #[test]
    fn patch_and_original_must_be_objects() {
        assert_eq!(
            merge_err(json!({}), json!([{"op": "add"}])),
            "strategic merge patch must be a JSON object, got a list"
        );
        assert_eq!(
            merge_err(json!({}), json!("x")),
            "strategic merge patch must be a JSON object, got a string"
        );
        assert!(merge_err(json!(null), json!({})).contains("got null"));
    }

    #[test]
    fn retain_keys_clears_fields_not_listed() {
        let merged = merge(
            deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
        );
        assert_eq!(merged["spec"]["strategy"], json!({"type": "Recreate"}));

        // The volume source changes kind: the old one is dropped.
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"volumes": [
                {"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cm"}}
            ]}}}}),
        );
        assert_eq!(
            merged["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "data", "configMap": {"name": "cm"}}])
        );
    }

    #[test]
    fn retain_keys_must_cover_the_patch() {
        let err = merge_err(
            deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}),
        );
        assert!(
            err.starts_with("invalid patch format of retainKeys"),
            "{err}"
        );
        assert!(err.contains("rollingUpdate"), "{err}");

        let err = merge_err(
            deployment(),
            json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
        );
        assert!(
            err.starts_with("invalid patch format of retainKeys"),
            "{err}"
        );
    }

    #[test]
    fn container_ports_merge_by_container_port() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [
                {"containerPort": 8080, "protocol": "TCP"},
                {"containerPort": 9090, "name": "metrics"}
            ]}]}}}}),
        );
        assert_eq!(
            containers(&merged)[0]["ports"],
            json!([
                {"containerPort": 8080, "name": "http", "protocol": "TCP"},
                {"containerPort": 9090, "name": "metrics"}
            ])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let service = json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443}
            ]}
        });
        let merged = merge(
            service,
            json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}], "selector": {"app": "api"}}}),
        );
        assert_eq!(
            merged["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 9443}
            ])
        );
        assert_eq!(merged["spec"]["selector"], json!({"app": "api"}));

        // Key values compare as numbers: 443.0 names the same port as 443.
        let merged = merge(
            merged,
            json!({"spec": {"ports": [{"port": 443.0, "name": "tls"}]}}),
        );
        assert_eq!(names(&merged["spec"]["ports"], "name"), ["http", "tls"]);
    }

    #[test]
    fn merge_key_table() {
        let template = ["spec", "template", "spec"];
        let container = ["spec", "template", "spec", "containers"];
        assert_eq!(merge_key(&template, "containers"), Some("name"));
        assert_eq!(merge_key(&["spec"], "initContainers"), Some("name"));
        assert_eq!(merge_key(&["spec"], "ephemeralContainers"), Some("name"));
        assert_eq!(merge_key(&container, "env"), Some("name"));
        assert_eq!(merge_key(&container, "ports"), Some("containerPort"));
        assert_eq!(
            merge_key(&["spec", "initContainers"], "ports"),
            Some("containerPort")
        );
        assert_eq!(merge_key(&["spec"], "ports"), Some("port"));
        assert_eq!(
            merge_key(&["status", "loadBalancer", "ingress"], "ports"),
            None
        );
        assert_eq!(merge_key(&container, "volumeMounts"), Some("mountPath"));
        assert_eq!(merge_key(&container, "volumeDevices"), Some("devicePath"));
        assert_eq!(merge_key(&template, "volumes"), Some("name"));
        assert_eq!(merge_key(&template, "imagePullSecrets"), Some("name"));
        assert_eq!(merge_key::<&str>(&[], "imagePullSecrets"), None);
        assert_eq!(merge_key::<&str>(&[], "secrets"), Some("name"));
        assert_eq!(merge_key(&template, "hostAliases"), Some("ip"));
        assert_eq!(merge_key(&["metadata"], "ownerReferences"), Some("uid"));
        assert_eq!(merge_key(&["status"], "conditions"), Some("type"));
        assert_eq!(merge_key(&["status"], "addresses"), Some("type"));
        assert_eq!(
            merge_key(&template, "topologySpreadConstraints"),
            Some("topologyKey")
        );
        assert_eq!(merge_key(&template, "resourceClaims"), Some("name"));
        for atomic in ["tolerations", "args", "command", "envFrom", "finalizers"] {
            assert_eq!(merge_key(&container, atomic), None, "{atomic}");
        }
        assert!(is_primitive_set_list(&["metadata"], "finalizers"));
        assert!(!is_primitive_set_list(&container, "args"));
        let owned: Vec<String> = container.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            ssa_list_keys(&owned, "ports"),
            Some(&["containerPort", "protocol"][..])
        );
        assert_eq!(
            ssa_list_keys(&["spec"], "ports"),
            Some(&["port", "protocol"][..])
        );
        assert_eq!(ssa_list_keys(&owned, "env"), Some(&["name"][..]));
        assert_eq!(ssa_list_keys(&owned, "args"), None);
    }

    #[test]
    fn other_lists_are_atomic() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {
                "tolerations": [{"key": "k3", "operator": "Exists"}],
                "containers": [{"name": "app", "args": ["--c"], "command": ["run"], "envFrom": [{"configMapRef": {"name": "x"}}]}]
            }}}}),
        );
        let spec = &merged["spec"]["template"]["spec"];
        assert_eq!(
            spec["tolerations"],
            json!([{"key": "k3", "operator": "Exists"}])
        );
        assert_eq!(spec["containers"][0]["args"], json!(["--c"]));
        assert_eq!(spec["containers"][0]["command"], json!(["run"]));
        assert_eq!(
            spec["containers"][0]["envFrom"],
            json!([{"configMapRef": {"name": "x"}}])
        );
    }

    #[test]
    fn kubectl_apply_patch_leaves_no_directives() {
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}, {"name": "logger"}],
                "containers": [
                    {
                        "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                        "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                        "image": "app:2",
                        "name": "app"
                    },
                    {"image": "log:1", "name": "logger"}
                ]
            }}}
        });
        let merged = merge(deployment(), patch);
        assert_no_directives(&merged);
        let list = containers(&merged);
        assert_eq!(names(list, "name"), ["app", "sidecar", "logger"]);
        assert_eq!(list[0]["image"], "app:2");
        assert_eq!(names(&list[0]["env"], "name"), ["A", "C"]);
        assert_eq!(
            merged["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}\n"
        );
    }

    #[test]
    fn volume_mounts_merge_by_mount_path() {
        let merged = merge(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "volumeMounts": [
                {"mountPath": "/data", "readOnly": true},
                {"mountPath": "/cache", "name": "cache"}
            ]}]}}}}),
        );
        assert_eq!(
            containers(&merged)[0]["volumeMounts"],
            json!([
                {"name": "data", "mountPath": "/data", "readOnly": true},
                {"mountPath": "/cache", "name": "cache"}
            ])
        );
    }

    #[test]
    fn changing_the_kind_of_a_value_replaces_it() {
        let merged = merge(
            json!({"spec": {"x": "text", "y": {"a": 1}}}),
            json!({"spec": {"x": {"a": 1, "b": null}, "y": [1, 2]}}),
        );
        assert_eq!(merged, json!({"spec": {"x": {"a": 1}, "y": [1, 2]}}));
    }

    #[test]
    fn directives_inside_new_values_are_applied() {
        let merged = merge(
            json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            json!({"spec": {
                "initContainers": [{"name": "init", "image": "busybox"}, {"name": "gone", "$patch": "delete"}],
                "affinity": {"$patch": "delete"},
                "securityContext": {"$patch": "replace", "runAsUser": 1000},
                "dnsConfig": {"$retainKeys": ["nameservers"], "nameservers": ["1.1.1.1"]}
            }}),
        );
        assert_no_directives(&merged);
        let spec = &merged["spec"];
        assert_eq!(
            spec["initContainers"],
            json!([{"name": "init", "image": "busybox"}])
        );
        assert!(spec.get("affinity").is_none());
        assert_eq!(spec["securityContext"], json!({"runAsUser": 1000}));
        assert_eq!(spec["dnsConfig"], json!({"nameservers": ["1.1.1.1"]}));
    }

    #[test]
    fn owner_references_and_conditions_are_keyed() {
        let merged = merge(
            json!({
                "metadata": {"ownerReferences": [{"uid": "u1", "name": "rs", "kind": "ReplicaSet"}]},
                "status": {"conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False"}
                ]}
            }),
            json!({
                "metadata": {"ownerReferences": [{"uid": "u1", "controller": true}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}
            }),
        );
        assert_eq!(
            merged["metadata"]["ownerReferences"],
            json!([{"uid": "u1", "name": "rs", "kind": "ReplicaSet", "controller": true}])
        );
        assert_eq!(
            merged["status"]["conditions"],
            json!([{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}])
        );
    }

    #[test]
    fn keyed_list_elements_must_be_objects() {
        let err = merge_err(
            deployment(),
            json!({"spec": {"template": {"spec": {"containers": ["app"]}}}}),
        );
        assert!(
            err.contains("containers") && err.contains("\"app\""),
            "{err}"
        );
    }

    #[test]
    fn original_is_not_modified_and_key_order_is_kept() {
        let original = deployment();
        let merged = merge(
            original.clone(),
            json!({"metadata": {"labels": {"z": "1", "app": "api"}}}),
        );
        assert_eq!(original, deployment());
        let keys: Vec<&String> = merged["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .collect();
        assert_eq!(keys, ["app", "z"]);
        let top: Vec<&String> = merged
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .collect();
        assert_eq!(top, ["apiVersion", "kind", "metadata", "spec"]);
    }

    // ----- Part 2: field paths -----

    fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_owned())
    }

    fn key(value: Value) -> PathElement {
        match value {
            Value::Object(map) => PathElement::Key(map),
            other => panic!("not a key: {other}"),
        }
    }

    /// Parses JSON text that the test itself wrote.
    fn parse(text: &str) -> Value {
        match serde_json::from_str(text) {
            Ok(value) => value,
            Err(err) => panic!("bad test JSON: {err}"),
        }
    }

    #[test]
    fn deployment_fields_v1_looks_like_the_apiserver_one() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "nginx", "namespace": "default", "uid": "u", "resourceVersion": "1",
                "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z",
                "labels": {"app": "nginx"},
                "managedFields": [{"manager": "kubectl"}]
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "nginx"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                    "spec": {
                        "containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}}],
                        "restartPolicy": "Always",
                        "securityContext": {}
                    }
                }
            },
            "status": {"replicas": 1}
        });
        let fields = to_fields_v1(&leaf_paths(&obj, &[]));
        let expected = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}},"f:resources":{}}},"f:restartPolicy":{},"f:securityContext":{}}}}}"#;
        assert_eq!(fields.to_string(), expected);
    }

    #[test]
    fn realistic_fields_v1_round_trips() {
        let samples = [
            r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/desired-replicas":{},"f:deployment.kubernetes.io/max-replicas":{},"f:deployment.kubernetes.io/revision":{}},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"9f3c5a1e-0000-4000-8000-000000000001\"}":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#,
            r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"example.com/a\"":{},"v:\"example.com/b\"":{}}},"f:spec":{"f:ports":{".":{},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:type":{}}}"#,
            r#"{"f:status":{"f:conditions":{"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.0.0.5\"}":{".":{},"f:ip":{}}},"f:startTime":{}}}"#,
            r#"{"f:data":{".":{},"f:config.yaml":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}"#,
            r#"{"f:spec":{"f:template":{"f:spec":{"f:topologySpreadConstraints":{".":{},"k:{\"topologyKey\":\"zone\",\"whenUnsatisfiable\":\"DoNotSchedule\"}":{".":{},"f:maxSkew":{},"f:topologyKey":{},"f:whenUnsatisfiable":{}}}}}}}"#,
        ];
        for sample in samples {
            let value = parse(sample);
            let paths = from_fields_v1(&value);
            assert!(!paths.is_empty());
            assert_eq!(to_fields_v1(&paths).to_string(), sample);
        }
    }

    #[test]
    fn leaf_paths_survive_a_fields_v1_round_trip() {
        let mut obj = deployment();
        obj["metadata"]["finalizers"] = json!(["example.com/x", "example.com/y"]);
        obj["metadata"]["ownerReferences"] =
            json!([{"uid": "u1", "name": "o", "kind": "K", "apiVersion": "v1"}]);
        let paths = leaf_paths(&obj, &[]);
        let encoded = to_fields_v1(&paths);
        assert_eq!(from_fields_v1(&encoded), paths);
        let text = encoded.to_string();
        assert!(
            text.contains(
                r#""f:finalizers":{".":{},"v:\"example.com/x\"":{},"v:\"example.com/y\"":{}}"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#""f:ownerReferences":{".":{},"k:{\"uid\":\"u1\"}":{}}"#),
            "{text}"
        );
        assert!(text.contains(r#""f:args":{}"#), "{text}");
        assert!(text.contains(r#""f:tolerations":{}"#), "{text}");
        assert!(text.contains(r#""f:volumes":{".":{},"k:{\"name\":\"data\"}":{".":{},"f:emptyDir":{},"f:name":{}}}"#), "{text}");
    }

    #[test]
    fn leaf_paths_skip_server_owned_fields() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "d", "uid": "u", "resourceVersion": "5",
                         "generation": 2, "creationTimestamp": "t", "managedFields": []},
            "status": {"phase": "x"},
            "data": {"k": "v", "gone": null}
        });
        let paths = leaf_paths(&obj, &[]);
        let expected: BTreeSet<FieldPath> = [vec![field("data")], vec![field("data"), field("k")]]
            .into_iter()
            .collect();
        assert_eq!(paths, expected);
        assert_eq!(to_fields_v1(&BTreeSet::new()), json!({}));
    }

    #[test]
    fn leaf_paths_below_a_parent() {
        let status =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        let paths = leaf_paths(&status, &[field("status")]);
        assert!(paths.contains(&vec![field("status"), field("phase")]));
        let ready = vec![
            field("status"),
            field("conditions"),
            key(json!({"type": "Ready"})),
        ];
        assert!(paths.contains(&ready));
        let mut ready_status = ready.clone();
        ready_status.push(field("status"));
        assert!(paths.contains(&ready_status));
        assert!(!paths.contains(&vec![field("status")]));
        assert_eq!(
            to_fields_v1(&paths).to_string(),
            r#"{"f:status":{"f:conditions":{".":{},"k:{\"type\":\"Ready\"}":{".":{},"f:status":{},"f:type":{}}},"f:phase":{}}}"#
        );
    }

    #[test]
    fn get_path_follows_fields_keys_and_values() {
        let mut obj = deployment();
        obj["metadata"]["finalizers"] = json!(["f1"]);
        let image = vec![
            field("spec"),
            field("template"),
            field("spec"),
            field("containers"),
            key(json!({"name": "app"})),
            field("image"),
        ];
        assert_eq!(get_path(&obj, &image), Some(&json!("app:1")));
        let port = vec![
            field("spec"),
            field("template"),
            field("spec"),
            field("containers"),
            key(json!({"name": "app"})),
            field("ports"),
            key(json!({"protocol": "TCP", "containerPort": 8080})),
            field("name"),
        ];
        assert_eq!(get_path(&obj, &port), Some(&json!("http")));
        let udp = {
            let mut p = port.clone();
            p[6] = key(json!({"protocol": "UDP", "containerPort": 8080}));
            p
        };
        assert_eq!(get_path(&obj, &udp), None);
        let fin = vec![
            field("metadata"),
            field("finalizers"),
            PathElement::Value(json!("f1")),
        ];
        assert_eq!(get_path(&obj, &fin), Some(&json!("f1")));
        assert_eq!(get_path(&obj, &[field("nope")]), None);
        assert_eq!(get_path(&obj, &[]), Some(&obj));
    }

    #[test]
    fn remove_path_drops_parents_left_empty() {
        let mut obj = json!({
            "metadata": {"name": "p", "labels": {"app": "x"}, "finalizers": ["f1", "f2"]},
            "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}]}
        });
        remove_path(
            &mut obj,
            &[field("metadata"), field("labels"), field("app")],
        );
        assert!(obj["metadata"].get("labels").is_none());
        assert_eq!(obj["metadata"]["name"], "p");

        let env_value = vec![
            field("spec"),
            field("containers"),
            key(json!({"name": "c"})),
            field("env"),
            key(json!({"name": "A"})),
            field("value"),
        ];
        remove_path(&mut obj, &env_value);
        // env[A] still has its name, so it stays.
        assert_eq!(obj["spec"]["containers"][0]["env"], json!([{"name": "A"}]));
        remove_path(&mut obj, &env_value[..5]);
        assert!(obj["spec"]["containers"][0].get("env").is_none());
        assert_eq!(obj["spec"]["containers"][0]["image"], "i");

        remove_path(
            &mut obj,
            &[
                field("metadata"),
                field("finalizers"),
                PathElement::Value(json!("f1")),
            ],
        );
        assert_eq!(obj["metadata"]["finalizers"], json!(["f2"]));

        let before = obj.clone();
        remove_path(&mut obj, &[field("spec"), field("missing"), field("x")]);
        remove_path(&mut obj, &[]);
        assert_eq!(obj, before);

        remove_path(
            &mut obj,
            &[
                field("spec"),
                field("containers"),
                key(json!({"name": "c"})),
            ],
        );
        assert!(obj.get("spec").is_none());
    }

    #[test]
    fn path_elements_encode_order_and_display() {
        let k = key(json!({"protocol": "TCP", "containerPort": 80}));
        assert_eq!(k.encode(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(PathElement::decode(&k.encode()), Some(k.clone()));
        assert_eq!(PathElement::decode("f:a.b/c"), Some(field("a.b/c")));
        assert_eq!(
            PathElement::decode(r#"v:"x""#),
            Some(PathElement::Value(json!("x")))
        );
        assert_eq!(PathElement::decode("."), None);
        assert_eq!(PathElement::decode("k:not json"), None);
        assert!(field("z") < k);
        assert!(k < PathElement::Value(json!("a")));
        assert!(key(json!({"name": "a"})) < key(json!({"name": "b"})));
        assert_eq!(key(json!({"port": 80})), key(json!({"port": 80.0})));
        let path = vec![
            field("spec"),
            field("containers"),
            key(json!({"name": "nginx"})),
            field("image"),
        ];
        assert_eq!(
            format_path(&path),
            r#".spec.containers[name="nginx"].image"#
        );
        assert_eq!(
            format_path(&[
                field("metadata"),
                field("finalizers"),
                PathElement::Value(json!("f"))
            ]),
            r#".metadata.finalizers[="f"]"#
        );
    }

    #[test]
    fn leaf_paths_treat_unkeyable_lists_as_atomic() {
        let obj = json!({"spec": {"containers": [{"image": "no-name"}], "volumes": []}});
        let paths = leaf_paths(&obj, &[]);
        let expected: BTreeSet<FieldPath> = [
            vec![field("spec"), field("containers")],
            vec![field("spec"), field("volumes")],
        ]
        .into_iter()
        .collect();
        assert_eq!(paths, expected);
    }
}
