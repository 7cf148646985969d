//! Small helpers over object metadata held as JSON.

use serde_json::{Map, Value, json};
use std::sync::Mutex;

/// The process's random source for names, uids, IPs and injected faults; seedable for repeatable runs.
static RNG: Mutex<Option<fastrand::Rng>> = Mutex::new(None);

/// Seeds the random source: the same seed gives the same sequence of names and uids.
pub fn seed_random(seed: u64) {
    *RNG.lock().unwrap_or_else(|e| e.into_inner()) = Some(fastrand::Rng::with_seed(seed));
}

/// Runs `f` with the process's random source.
pub fn with_rng<R>(f: impl FnOnce(&mut fastrand::Rng) -> R) -> R {
    let mut guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(fastrand::Rng::new))
}

/// How far the sim's clock runs from the host's, in milliseconds.
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Makes the sim's clock (timestamps, the `Date` header) run `seconds` away
/// from the host's: negative is behind. Process-wide; for clock-skew tests.
pub fn set_clock_offset(seconds: i64) {
    CLOCK_OFFSET_MS.store(seconds * 1000, std::sync::atomic::Ordering::Relaxed);
}

/// The API server's clock: the host's plus any offset set for a test.
pub fn clock_now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    match CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => now,
        ms => now
            .checked_add(jiff::SignedDuration::from_millis(ms))
            .unwrap_or(now),
    }
}

/// The API server's clock as an RFC 3339 timestamp with second precision.
pub fn now_rfc3339() -> String {
    clock_now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The API server's clock with microseconds, as `MicroTime` fields carry it.
pub fn now_micro() -> String {
    clock_now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A random RFC 4122 version 4 UID.
pub fn new_uid() -> String {
    let a = with_rng(|r| r.u128(..));
    let b = (a & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Five characters from the alphabet the API server uses for `generateName` suffixes.
pub fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len)
        .map(|_| ALPHABET[with_rng(|r| r.usize(..ALPHABET.len()))] as char)
        .collect()
}

/// `metadata.name`, or "".
pub fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace`, or "".
pub fn namespace(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.uid`, or "".
pub fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.resourceVersion`, parsed.
pub fn rv(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// `metadata.labels` as a map, if any.
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The `metadata` map, created when missing.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let Value::Object(root) = obj else {
        unreachable!("replaced by an object just above")
    };
    let meta = root.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("replaced by an object just above"),
    }
}

/// Sets `metadata.resourceVersion`.
pub fn set_rv(obj: &mut Value, rv: u64) {
    metadata_mut(obj).insert("resourceVersion".into(), json!(rv.to_string()));
}

/// `ownerReferences[].uid` of an object.
pub fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

/// Removes keys whose values are null from every map, recursively.
pub fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_version_4() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn suffix_uses_safe_alphabet() {
        let s = random_suffix(5);
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert!(now_rfc3339().ends_with('Z'));
        assert_eq!(now_rfc3339().len(), 20);
        assert_eq!(now_micro().len(), 27);
    }
}
