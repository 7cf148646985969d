//! Decoding of Kubernetes protobuf request bodies
//! (`Content-Type: application/vnd.kubernetes.protobuf`) into the JSON form
//! the rest of the sim stores. Responses stay JSON; only bodies are decoded.
//!
//! A body is the 4 magic bytes `k8s\0` followed by a `runtime.Unknown`
//! envelope whose `typeMeta` names the object's apiVersion and kind and whose
//! `raw` holds the object message itself. The wire format is walked with the
//! field table in `proto_schema.json`, written by `scripts/gen-proto-schema`
//! from the k8s-pb (field numbers) and k8s-openapi (JSON names) crates; tags
//! the table does not know are skipped.
//!
//! Some messages have a JSON form of their own: `Time` and `MicroTime` become
//! RFC 3339 strings, `Quantity` its string, `IntOrString` a number or string,
//! `Duration` a Go duration string (`5m0s`), and `FieldsV1` and
//! `RawExtension` the JSON they carry. `bytes` values become base64 strings.
//! Go embedded structs (`Volume` embeds `VolumeSource`) are separate messages
//! on the wire and are merged back into their parent object.
//!
//! Go's marshaller writes every non-pointer field, zero or not, so a decoded
//! message is full of `""`, `false`, `0` and `{}` that the JSON form omits.
//! The rule: a field of a message whose value is `""`, `false`, `0` or `{}`
//! is dropped, unless the table marks it `keep` (Go pointer fields where zero
//! differs from unset, such as `replicas` or `runAsUser`, and message fields
//! whose mere presence means something, such as `emptyDir: {}` or an empty
//! label selector). A zero `Time` is always dropped; an `IntOrString` is
//! always kept (`maxUnavailable: 0` matters). Array elements and map values
//! are never dropped.

use base64::Engine as _;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

/// The bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// How deep messages may nest before the body is refused.
const MAX_DEPTH: usize = 64;

/// What `time.Time{}` (Go's zero time, year 1) marshals to, in Unix seconds.
const GO_ZERO_TIME: i64 = -62_135_596_800;

const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";

/// Why a protobuf body could not be decoded. The messages are meant for a
/// 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The body does not start with `k8s\0`.
    #[error("the protobuf body does not start with the Kubernetes magic bytes k8s\\0")]
    BadMagic,
    /// A value runs past the end of the body or of its enclosing message.
    #[error("the protobuf body is truncated at byte {offset}")]
    Truncated {
        /// Where the value that does not fit starts.
        offset: usize,
    },
    /// A varint is longer than 10 bytes.
    #[error("the protobuf body has a malformed varint at byte {offset}")]
    BadVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A field key has tag 0, a tag too large, or a wire type protobuf does
    /// not define (or the deprecated groups).
    #[error(
        "the protobuf body has an invalid field key (tag {tag}, wire type {wire_type}) at byte {offset}"
    )]
    BadKey {
        /// The field number in the key.
        tag: u64,
        /// The wire type in the key.
        wire_type: u64,
        /// Where the key starts.
        offset: usize,
    },
    /// A known field arrived with a wire type that does not fit its type.
    #[error(
        "field {field} of {message} has wire type {wire_type}, which does not fit its type, at byte {offset}"
    )]
    WireType {
        /// The message being decoded.
        message: String,
        /// The field's JSON name.
        field: String,
        /// The wire type found.
        wire_type: u8,
        /// Where the field's key starts.
        offset: usize,
    },
    /// A string field holds bytes that are not UTF-8.
    #[error("the protobuf body has a string that is not valid UTF-8 at byte {offset}")]
    Utf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A `FieldsV1` or `RawExtension` does not hold valid JSON.
    #[error("the protobuf body embeds invalid JSON at byte {offset}: {reason}")]
    Json {
        /// Where the embedded bytes start.
        offset: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// A `Time` or `MicroTime` is outside the range of representable times.
    #[error(
        "the protobuf body has a timestamp out of range ({seconds}s {nanos}ns) at byte {offset}"
    )]
    Time {
        /// The seconds since the Unix epoch.
        seconds: i64,
        /// The nanoseconds.
        nanos: i32,
        /// Where the timestamp message starts.
        offset: usize,
    },
    /// Messages nest deeper than the decoder allows.
    #[error("the protobuf body nests messages more than {MAX_DEPTH} deep")]
    TooDeep,
    /// The envelope has no apiVersion or kind.
    #[error("the protobuf body does not say its apiVersion and kind")]
    NoTypeMeta,
    /// The envelope names a kind the sim cannot decode.
    #[error("unknown kind {api_version} {kind} in protobuf body")]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The envelope says the object is compressed or otherwise encoded.
    #[error("unsupported content encoding {0:?} in protobuf body")]
    ContentEncoding(String),
    /// The built-in field table is broken; a bug in the sim, not the request.
    #[error("the built-in protobuf schema is unusable: {0}")]
    Schema(String),
}

type Result<T> = std::result::Result<T, ProtoError>;

/// Decodes a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`) into the
/// object's JSON form, with `apiVersion` and `kind` set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value> {
    decode_at(body, 0, 0)
}

/// Decodes a body that sits at `base` in the outermost body (an embedded
/// object in a `RawExtension` is one), `depth` messages down.
fn decode_at(body: &[u8], base: usize, depth: usize) -> Result<Value> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::BadMagic)?;
    let schema = schema()?;
    let mut envelope = Reader::new(rest, base + MAGIC.len());
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    while let Some((tag, wire)) = envelope.field()? {
        match (tag, wire) {
            (1, Wire::Len(mut type_meta)) => {
                while let Some((tag, wire)) = type_meta.field()? {
                    match (tag, wire) {
                        (1, Wire::Len(s)) => api_version = s.string()?,
                        (2, Wire::Len(s)) => kind = s.string()?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(r)) => raw = Some(r),
            (3, Wire::Len(s)) => {
                let encoding = s.string()?;
                if !encoding.is_empty() {
                    return Err(ProtoError::ContentEncoding(encoding));
                }
            }
            _ => {}
        }
    }
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtoError::NoTypeMeta);
    }
    let root = schema
        .root(&api_version, &kind)
        .ok_or_else(|| ProtoError::UnknownKind {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let raw = raw.unwrap_or_else(|| Reader::new(&[], envelope.offset()));
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    if let Some(Value::Object(fields)) = schema.decode(root, raw, depth)? {
        object.extend(fields);
    }
    Ok(Value::Object(object))
}

// ---------------------------------------------------------------------------
// The field table.

/// The field table, parsed once from the generated JSON.
static SCHEMA: LazyLock<std::result::Result<Schema, String>> =
    LazyLock::new(|| Schema::parse(include_str!("proto_schema.json")));

fn schema() -> Result<&'static Schema> {
    SCHEMA.as_ref().map_err(|e| ProtoError::Schema(e.clone()))
}

#[derive(Debug)]
struct Schema {
    /// `apiVersion/kind` to message name.
    roots: HashMap<String, String>,
    /// Message name to its fields, sorted by tag.
    messages: HashMap<String, Vec<Field>>,
}

#[derive(Debug)]
struct Field {
    tag: u64,
    json: String,
    kind: Kind,
    /// The message name for `Msg`, `Inline` and message-valued maps.
    ty: String,
    repeated: bool,
    keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
    Msg,
    Inline,
    /// A `map<string, V>`; the entry's value kind is `String`, `Bytes` or `Msg`.
    Map(MapValue),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapValue {
    String,
    Bytes,
    Msg,
}

impl Schema {
    fn parse(text: &str) -> std::result::Result<Schema, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let roots = doc
            .get("roots")
            .and_then(Value::as_object)
            .ok_or("no roots")?
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_str().ok_or("root is not a string")?.to_owned(),
                ))
            })
            .collect::<std::result::Result<_, String>>()?;
        let mut messages = HashMap::new();
        for (name, rows) in doc
            .get("messages")
            .and_then(Value::as_object)
            .ok_or("no messages")?
        {
            let rows = rows.as_array().ok_or("message is not an array")?;
            let mut fields = rows
                .iter()
                .map(|row| Field::parse(row).ok_or_else(|| format!("bad field {row} in {name}")))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            fields.sort_by_key(|f| f.tag);
            messages.insert(name.clone(), fields);
        }
        Ok(Schema { roots, messages })
    }

    fn root(&self, api_version: &str, kind: &str) -> Option<&str> {
        let root = self.roots.get(&format!("{api_version}/{kind}"));
        // DeleteOptions is registered in every group version.
        let root = root.or_else(|| match kind {
            "DeleteOptions" => self.roots.get("meta.k8s.io/v1/DeleteOptions"),
            _ => None,
        });
        root.map(String::as_str)
    }

    fn fields(&self, message: &str) -> Result<&[Field]> {
        self.messages
            .get(message)
            .map(Vec::as_slice)
            .ok_or_else(|| ProtoError::Schema(format!("no message {message}")))
    }

    /// Decodes one message; `None` means the field holding it is omitted.
    fn decode(&self, message: &str, mut r: Reader<'_>, depth: usize) -> Result<Option<Value>> {
        if depth > MAX_DEPTH {
            return Err(ProtoError::TooDeep);
        }
        match message {
            TIME | MICRO_TIME => return time(r, message == MICRO_TIME),
            DURATION => {
                let nanos = r.varints()?.get(&1).copied().unwrap_or(0);
                return Ok(Some(Value::String(go_duration(nanos as i64))));
            }
            QUANTITY => {
                let s = r.strings()?.remove(&1).unwrap_or_default();
                return Ok((!s.is_empty()).then_some(Value::String(s)));
            }
            INT_OR_STRING => return int_or_string(r),
            FIELDS_V1 | RAW_EXTENSION => return embedded_json(r, depth),
            _ => {}
        }
        let fields = self.fields(message)?;
        let mut slots: Vec<Option<Value>> = vec![None; fields.len()];
        loop {
            let start = r.offset();
            let Some((tag, wire)) = r.field()? else { break };
            let Ok(i) = fields.binary_search_by_key(&tag, |f| f.tag) else {
                continue;
            };
            let field = &fields[i];
            let mismatch = |wire: &Wire<'_>| ProtoError::WireType {
                message: message.to_owned(),
                field: field.json.clone(),
                wire_type: wire.wire_type(),
                offset: start,
            };
            let slot = &mut slots[i];
            match field.kind {
                Kind::Msg | Kind::Inline => {
                    let Wire::Len(sub) = wire else {
                        return Err(mismatch(&wire));
                    };
                    let value = self.decode(&field.ty, sub, depth + 1)?;
                    if field.repeated {
                        // An omitted element (a zero Time) still holds its place.
                        push(slot, value.unwrap_or(Value::Null));
                    } else {
                        *slot = value;
                    }
                }
                Kind::Map(value_kind) => {
                    let Wire::Len(entry) = wire else {
                        return Err(mismatch(&wire));
                    };
                    let (key, value) = self.map_entry(field, value_kind, entry, depth)?;
                    match slot.get_or_insert_with(|| Value::Object(Map::new())) {
                        Value::Object(map) => {
                            map.insert(key, value);
                        }
                        _ => return Err(ProtoError::Schema(format!("{message}.{}", field.json))),
                    }
                }
                _ => match wire {
                    // A packed run of scalars.
                    Wire::Len(mut run) if field.repeated && field.kind.packable() => {
                        while !run.is_empty() {
                            // packed() yields the wire type scalar() wants.
                            if let Some(value) = scalar(field.kind, run.packed(field.kind)?) {
                                push(slot, value?);
                            }
                        }
                    }
                    wire => {
                        let value = scalar(field.kind, wire).ok_or_else(|| mismatch(&wire))??;
                        if field.repeated {
                            push(slot, value);
                        } else {
                            *slot = Some(value);
                        }
                    }
                },
            }
        }
        let mut object = Map::new();
        for (field, slot) in fields.iter().zip(slots) {
            let Some(value) = slot else { continue };
            match (field.kind, value) {
                (Kind::Inline, Value::Object(inner)) => object.extend(inner),
                (Kind::Inline, _) => {}
                (_, value) if field.repeated || field.keep || !is_zero(field.kind, &value) => {
                    object.insert(field.json.clone(), value);
                }
                _ => {}
            }
        }
        Ok(Some(Value::Object(object)))
    }

    /// Decodes one `map<string, V>` entry: key is field 1, value field 2.
    fn map_entry(
        &self,
        field: &Field,
        value_kind: MapValue,
        mut entry: Reader<'_>,
        depth: usize,
    ) -> Result<(String, Value)> {
        let (mut key, mut value) = (String::new(), None);
        let at = entry.offset();
        while let Some((tag, wire)) = entry.field()? {
            match (tag, wire) {
                (1, Wire::Len(s)) => key = s.string()?,
                (2, Wire::Len(v)) => {
                    value = match value_kind {
                        MapValue::String => Some(Value::String(v.string()?)),
                        MapValue::Bytes => Some(Value::String(base64(v.rest()))),
                        MapValue::Msg => self.decode(&field.ty, v, depth + 1)?,
                    }
                }
                (1 | 2, wire) => {
                    return Err(ProtoError::WireType {
                        message: format!("the {} map entry", field.json),
                        field: if tag == 1 { "key" } else { "value" }.into(),
                        wire_type: wire.wire_type(),
                        offset: at,
                    });
                }
                _ => {}
            }
        }
        let value = match (value, value_kind) {
            (Some(v), _) => v,
            (None, MapValue::Msg) => self
                .decode(&field.ty, Reader::new(&[], at), depth + 1)?
                .unwrap_or(Value::Null),
            (None, _) => Value::String(String::new()),
        };
        Ok((key, value))
    }
}

impl Field {
    /// Parses `[tag, json, kind, type, repeated, keep]`.
    fn parse(row: &Value) -> Option<Field> {
        let row = row.as_array()?;
        let [tag, json, kind, ty, repeated, keep] = row.as_slice() else {
            return None;
        };
        let ty = ty.as_str().unwrap_or_default().to_owned();
        let kind = match kind.as_str()? {
            "string" => Kind::String,
            "bytes" => Kind::Bytes,
            "bool" => Kind::Bool,
            "int32" => Kind::Int32,
            "int64" => Kind::Int64,
            "double" => Kind::Double,
            "msg" => Kind::Msg,
            "inline" => Kind::Inline,
            "map" => Kind::Map(match ty.as_str() {
                "string" => MapValue::String,
                "bytes" => MapValue::Bytes,
                _ => MapValue::Msg,
            }),
            _ => return None,
        };
        Some(Field {
            tag: tag.as_u64()?,
            json: json.as_str()?.to_owned(),
            kind,
            ty,
            repeated: repeated.as_bool()?,
            keep: keep.as_bool()?,
        })
    }
}

impl Kind {
    fn packable(self) -> bool {
        matches!(self, Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Double)
    }
}

fn push(slot: &mut Option<Value>, value: Value) {
    if let Value::Array(items) = slot.get_or_insert_with(|| Value::Array(Vec::new())) {
        items.push(value);
    }
}

/// Whether a decoded field value is the zero value the JSON form omits.
fn is_zero(kind: Kind, value: &Value) -> bool {
    match (kind, value) {
        (_, Value::Null) => true,
        (Kind::Msg, Value::Object(map)) => map.is_empty(),
        // IntOrString, Quantity and friends: their zero still means something.
        (Kind::Msg, _) => false,
        (_, Value::String(s)) => s.is_empty(),
        (_, Value::Bool(b)) => !b,
        (_, Value::Number(n)) => n.as_f64() == Some(0.0),
        (_, Value::Array(a)) => a.is_empty(),
        (_, Value::Object(o)) => o.is_empty(),
    }
}

/// Converts a scalar wire value; `None` when the wire type does not fit.
fn scalar(kind: Kind, wire: Wire<'_>) -> Option<Result<Value>> {
    Some(Ok(match (kind, wire) {
        (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        // int32 travels sign-extended to 64 bits; truncating undoes that.
        (Kind::Int32, Wire::Varint(v)) => Value::from(v as i32),
        (Kind::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (Kind::Double, Wire::Fixed64(v)) => {
            Number::from_f64(f64::from_bits(v)).map_or(Value::Null, Value::Number)
        }
        (Kind::String, Wire::Len(r)) => return Some(r.string().map(Value::String)),
        (Kind::Bytes, Wire::Len(r)) => Value::String(base64(r.rest())),
        _ => return None,
    }))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------
// Messages with a JSON form of their own.

/// `Time` (`2026-01-02T03:04:05Z`) or `MicroTime` (6 fractional digits).
fn time(mut r: Reader<'_>, micro: bool) -> Result<Option<Value>> {
    let at = r.offset();
    let fields = r.varints()?;
    let (Some(seconds), nanos) = (fields.get(&1), fields.get(&2)) else {
        return Ok(None);
    };
    let seconds = *seconds as i64;
    let nanos = nanos.map_or(0, |n| *n as i32);
    if seconds == GO_ZERO_TIME && nanos == 0 {
        return Ok(None);
    }
    let bad = || ProtoError::Time {
        seconds,
        nanos,
        offset: at,
    };
    let ts = jiff::Timestamp::new(seconds, nanos).map_err(|_| bad())?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S.%6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    let text = jiff::fmt::strtime::format(format, ts).map_err(|_| bad())?;
    Ok(Some(Value::String(text)))
}

/// `IntOrString`: type 1 means the string in field 3, else the int in field 2.
fn int_or_string(mut r: Reader<'_>) -> Result<Option<Value>> {
    let (mut is_string, mut int, mut string) = (false, 0i32, String::new());
    while let Some((tag, wire)) = r.field()? {
        match (tag, wire) {
            (1, Wire::Varint(v)) => is_string = v == 1,
            (2, Wire::Varint(v)) => int = v as i32,
            (3, Wire::Len(s)) => string = s.string()?,
            _ => {}
        }
    }
    Ok(Some(if is_string {
        Value::String(string)
    } else {
        Value::from(int)
    }))
}

/// `FieldsV1` and `RawExtension`: field 1 holds JSON (or, for a
/// `RawExtension`, possibly a nested protobuf object).
fn embedded_json(mut r: Reader<'_>, depth: usize) -> Result<Option<Value>> {
    let mut raw = None;
    while let Some((tag, wire)) = r.field()? {
        if let (1, Wire::Len(bytes)) = (tag, wire) {
            raw = Some(bytes);
        }
    }
    let Some(raw) = raw.filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    if raw.rest().starts_with(MAGIC) {
        return decode_at(raw.rest(), raw.offset(), depth + 1).map(Some);
    }
    serde_json::from_slice(raw.rest())
        .map(Some)
        .map_err(|e| ProtoError::Json {
            offset: raw.offset(),
            reason: e.to_string(),
        })
}

/// Formats nanoseconds the way Go's `time.Duration.String` does: `1h2m3.5s`,
/// `5m0s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let frac = |value: u64, digits: u32| {
        let unit = 10u64.pow(digits);
        let f = format!("{:0width$}", value % unit, width = digits as usize);
        let f = f.trim_end_matches('0');
        let whole = value / unit;
        if f.is_empty() {
            format!("{whole}")
        } else {
            format!("{whole}.{f}")
        }
    };
    let body = match n {
        0 => "0s".to_owned(),
        1..1_000 => format!("{n}ns"),
        1_000..1_000_000 => format!("{}µs", frac(n, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", frac(n, 6)),
        _ => {
            let secs = n / 1_000_000_000;
            let s = frac(secs % 60 * 1_000_000_000 + n % 1_000_000_000, 9);
            match (secs / 3600, secs / 60 % 60) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    };
    format!("{sign}{body}")
}

// ---------------------------------------------------------------------------
// The wire format.

/// One field's value, by wire type.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(Reader<'a>),
    /// No table field is 32-bit; the value is only skipped.
    Fixed32,
}

impl Wire<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32 => 5,
        }
    }
}

/// A cursor over a message's bytes that knows where they sit in the body.
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The offset of `buf[0]` in the whole body, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn take(&mut self, n: usize, start: usize) -> Result<&'a [u8]> {
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(ProtoError::Truncated { offset: start })?;
        self.pos += n;
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.offset();
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let [byte] = *self.take(1, start)? else {
                return Err(ProtoError::Truncated { offset: start });
            };
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::BadVarint { offset: start })
    }

    /// Reads the next field's key and value; `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>> {
        if self.is_empty() {
            return Ok(None);
        }
        let start = self.offset();
        let key = self.varint()?;
        let (tag, wire_type) = (key >> 3, key & 7);
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err(ProtoError::BadKey {
                tag,
                wire_type,
                offset: start,
            });
        }
        let wire = match wire_type {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.array(start)?)),
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtoError::Truncated { offset: start })?;
                let base = self.offset();
                Wire::Len(Reader::new(self.take(len, start)?, base))
            }
            5 => {
                self.take(4, start)?;
                Wire::Fixed32
            }
            _ => {
                return Err(ProtoError::BadKey {
                    tag,
                    wire_type,
                    offset: start,
                });
            }
        };
        Ok(Some((tag, wire)))
    }

    fn array<const N: usize>(&mut self, start: usize) -> Result<[u8; N]> {
        let bytes = self.take(N, start)?;
        bytes
            .try_into()
            .map_err(|_| ProtoError::Truncated { offset: start })
    }

    /// One element of a packed run of `kind` values.
    fn packed(&mut self, kind: Kind) -> Result<Wire<'a>> {
        let start = self.offset();
        Ok(match kind {
            Kind::Double => Wire::Fixed64(u64::from_le_bytes(self.array(start)?)),
            _ => Wire::Varint(self.varint()?),
        })
    }

    fn string(self) -> Result<String> {
        std::str::from_utf8(self.rest())
            .map(str::to_owned)
            .map_err(|_| ProtoError::Utf8 {
                offset: self.offset(),
            })
    }

    /// All varint fields of a message, by tag (the last one wins).
    fn varints(&mut self) -> Result<HashMap<u64, u64>> {
        let mut out = HashMap::new();
        while let Some((tag, wire)) = self.field()? {
            if let Wire::Varint(v) = wire {
                out.insert(tag, v);
            }
        }
        Ok(out)
    }

    /// All string fields of a message, by tag (the last one wins).
    fn strings(&mut self) -> Result<HashMap<u64, String>> {
        let mut out = HashMap::new();
        while let Some((tag, wire)) = self.field()? {
            if let Wire::Len(s) = wire {
                out.insert(tag, s.string()?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;
    use serde_json::json;

    /// A tiny protobuf encoder for building bodies by hand.
    #[derive(Default)]
    struct Enc(Vec<u8>);

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    impl Enc {
        fn new() -> Self {
            Enc::default()
        }
        fn key(mut self, tag: u64, wire_type: u64) -> Self {
            put_varint(&mut self.0, tag << 3 | wire_type);
            self
        }
        fn varint(self, tag: u64, v: u64) -> Self {
            let mut e = self.key(tag, 0);
            put_varint(&mut e.0, v);
            e
        }
        fn int(self, tag: u64, v: i64) -> Self {
            self.varint(tag, v as u64)
        }
        fn bytes(self, tag: u64, b: &[u8]) -> Self {
            let mut e = self.key(tag, 2);
            put_varint(&mut e.0, b.len() as u64);
            e.0.extend_from_slice(b);
            e
        }
        fn str(self, tag: u64, s: &str) -> Self {
            self.bytes(tag, s.as_bytes())
        }
        fn msg(self, tag: u64, m: Enc) -> Self {
            self.bytes(tag, &m.0)
        }
        fn entry(self, tag: u64, k: &str, v: &str) -> Self {
            self.msg(tag, Enc::new().str(1, k).str(2, v))
        }
        fn raw(mut self, bytes: &[u8]) -> Self {
            self.0.extend_from_slice(bytes);
            self
        }
        fn msg_entry(self, tag: u64, k: &str, v: Enc) -> Self {
            self.msg(tag, Enc::new().str(1, k).msg(2, v))
        }
    }

    /// `k8s\0` + runtime.Unknown, the way Go writes it (empty 3 and 4 included).
    fn envelope(api_version: &str, kind: &str, object: Enc) -> Vec<u8> {
        let type_meta = Enc::new().str(1, api_version).str(2, kind);
        let unknown = Enc::new()
            .msg(1, type_meta)
            .msg(2, object)
            .str(3, "")
            .str(4, "");
        [MAGIC.as_slice(), &unknown.0].concat()
    }

    fn int_or_string_int(v: i64) -> Enc {
        Enc::new().int(1, 0).int(2, v).str(3, "")
    }

    fn int_or_string_str(s: &str) -> Enc {
        Enc::new().int(1, 1).int(2, 0).str(3, s)
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ObjectMeta as Go writes it: every string, the zero creationTimestamp.
    fn meta(name: &str) -> Enc {
        Enc::new()
            .str(1, name)
            .str(2, "")
            .str(3, "")
            .str(5, "")
            .int(7, 0)
            .msg(8, Enc::new())
    }

    #[test]
    fn small_pod() {
        let probe = Enc::new()
            .msg(
                1,
                Enc::new().msg(3, Enc::new().msg(1, int_or_string_int(8080)).str(2, "")),
            )
            .int(2, 0)
            .int(4, 10);
        let container = Enc::new()
            .str(1, "c")
            .str(2, "nginx:1.27")
            .str(3, "sh")
            .str(3, "-c")
            .str(3, "")
            .msg(6, Enc::new().str(1, "").int(2, 0).int(3, 80).str(4, "TCP"))
            .msg(8, Enc::new())
            .msg(10, probe)
            .varint(16, 0)
            .varint(18, 0);
        let scratch = Enc::new()
            .str(1, "scratch")
            .msg(2, Enc::new().msg(2, Enc::new().str(1, "")));
        let cfg_source = Enc::new()
            .msg(1, Enc::new().str(1, "cfg"))
            .int(3, 0o644)
            .varint(4, 0);
        let cfg = Enc::new()
            .str(1, "cfg")
            .msg(2, Enc::new().msg(19, cfg_source));
        let spec = Enc::new()
            .msg(1, scratch)
            .msg(1, cfg)
            .msg(2, container)
            .str(3, "Always")
            .int(4, 0)
            .str(6, "")
            .entry(7, "disk", "ssd")
            .varint(11, 0)
            .msg(14, Enc::new().int(2, 0).int(4, 1000).int(4, 2000));
        let pod = Enc::new()
            .msg(1, meta("web").entry(11, "app", "web").entry(12, "note", ""))
            .msg(2, spec)
            .msg(3, Enc::new().str(1, ""));
        let got = decode(&envelope("v1", "Pod", pod)).unwrap();
        let want = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"note": ""}},
            "spec": {
                "volumes": [
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420, "optional": false}},
                ],
                "containers": [{
                    "name": "c",
                    "image": "nginx:1.27",
                    "command": ["sh", "-c", ""],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 10},
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 0,
                "nodeSelector": {"disk": "ssd"},
                "securityContext": {"runAsUser": 0, "supplementalGroups": [1000, 2000]},
            },
        });
        assert_eq!(got, want);
    }

    #[test]
    fn deployment() {
        let template = Enc::new().msg(1, meta("").entry(11, "app", "web")).msg(
            2,
            Enc::new().msg(2, Enc::new().str(1, "nginx").str(2, "nginx:1.27")),
        );
        let strategy = Enc::new().str(1, "RollingUpdate").msg(
            2,
            Enc::new()
                .msg(1, int_or_string_int(0))
                .msg(2, int_or_string_str("25%")),
        );
        let spec = Enc::new()
            .int(1, 0)
            .msg(2, Enc::new().entry(1, "app", "web"))
            .msg(3, template)
            .msg(4, strategy)
            .int(5, 0)
            .int(6, 10)
            .varint(7, 0)
            .int(9, 600);
        let deployment = Enc::new()
            .msg(1, meta("web"))
            .msg(2, spec)
            .msg(3, Enc::new().int(1, 0).int(2, 0));
        let got = decode(&envelope("apps/v1", "Deployment", deployment)).unwrap();
        let want = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
        });
        assert_eq!(got, want);
    }

    #[test]
    fn an_empty_label_selector_is_kept() {
        let deployment = Enc::new().msg(2, Enc::new().msg(2, Enc::new()));
        let got = decode(&envelope("apps/v1", "Deployment", deployment)).unwrap();
        assert_eq!(got["spec"], json!({"selector": {}}));
    }

    #[test]
    fn int_or_string_both_forms() {
        let port = |name: &str, target: Enc| {
            Enc::new()
                .str(1, name)
                .str(2, "TCP")
                .int(3, 80)
                .msg(4, target)
                .int(5, 0)
        };
        let spec = Enc::new()
            .msg(1, port("a", int_or_string_int(8080)))
            .msg(1, port("b", int_or_string_str("http")))
            .msg(1, port("c", int_or_string_int(0)));
        let got = decode(&envelope("v1", "Service", Enc::new().msg(2, spec))).unwrap();
        let ports = json!([
            {"name": "a", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"name": "b", "protocol": "TCP", "port": 80, "targetPort": "http"},
            {"name": "c", "protocol": "TCP", "port": 80, "targetPort": 0},
        ]);
        assert_eq!(got["spec"]["ports"], ports);
    }

    #[test]
    fn times() {
        // 2026-01-02T03:04:05Z
        let t = 1_767_323_045;
        let metadata = meta("l")
            .msg(8, Enc::new().int(1, t).int(2, 0))
            .msg(9, Enc::new().int(1, GO_ZERO_TIME).int(2, 0));
        let spec = Enc::new()
            .str(1, "")
            .int(2, 15)
            .msg(3, Enc::new().int(1, t))
            .msg(4, Enc::new().int(1, t).int(2, 123_456_789))
            .int(5, 0);
        let lease = Enc::new().msg(1, metadata).msg(2, spec);
        let got = decode(&envelope("coordination.k8s.io/v1", "Lease", lease)).unwrap();
        assert_eq!(
            got["metadata"],
            json!({"name": "l", "creationTimestamp": "2026-01-02T03:04:05Z"})
        );
        let spec = json!({
            "holderIdentity": "",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-02T03:04:05.000000Z",
            "renewTime": "2026-01-02T03:04:05.123456Z",
            "leaseTransitions": 0,
        });
        assert_eq!(got["spec"], spec);
    }

    #[test]
    fn quantities() {
        let resources = Enc::new()
            .msg_entry(1, "cpu", Enc::new().str(1, "500m"))
            .msg_entry(1, "memory", Enc::new().str(1, "1Gi"))
            .msg_entry(2, "cpu", Enc::new().str(1, "0"));
        let container = Enc::new().str(1, "c").msg(8, resources);
        let pod = Enc::new().msg(2, Enc::new().msg(2, container));
        let got = decode(&envelope("v1", "Pod", pod)).unwrap();
        let want = json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "0"}});
        assert_eq!(got["spec"]["containers"][0]["resources"], want);
    }

    #[test]
    fn bytes_become_base64() {
        let secret = Enc::new()
            .msg(1, meta("s"))
            .msg(2, Enc::new().str(1, "k").bytes(2, &[0, 0xff, b'v']))
            .msg(2, Enc::new().str(1, "empty").bytes(2, b""))
            .str(3, "Opaque")
            .varint(5, 0);
        let got = decode(&envelope("v1", "Secret", secret)).unwrap();
        let want = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"k": "AP92", "empty": ""},
            "type": "Opaque",
            "immutable": false,
        });
        assert_eq!(got, want);
        let cm = Enc::new().msg(3, Enc::new().str(1, "bin").bytes(2, b"hi"));
        let got = decode(&envelope("v1", "ConfigMap", cm)).unwrap();
        assert_eq!(got["binaryData"], json!({"bin": "aGk="}));
    }

    #[test]
    fn unknown_fields_are_skipped_and_packed_scalars_read() {
        let security = Enc::new().bytes(4, &[0x01, 0xe8, 0x07]); // packed [1, 1000]
        let pod = Enc::new()
            .varint(99, 7)
            .key(98, 5)
            .raw(&[1; 4])
            .bytes(97, b"whatever")
            .key(96, 1)
            .raw(&[2; 8])
            .msg(2, Enc::new().msg(14, security));
        let got = decode(&envelope("v1", "Pod", pod)).unwrap();
        assert_eq!(
            got["spec"],
            json!({"securityContext": {"supplementalGroups": [1, 1000]}})
        );
    }

    #[test]
    fn errors() {
        let body = envelope("apps/v1", "Deployment", Enc::new().msg(1, meta("web")));
        // Only cuts at the envelope's field boundaries (after typeMeta, after
        // raw, after contentEncoding) leave a well-formed message.
        let whole: Vec<usize> = (MAGIC.len()..body.len())
            .filter(|&cut| decode(&body[..cut]).is_ok())
            .collect();
        assert_eq!(whole, [27, 46, 48]);
        // raw's key is at 27; its 17 bytes do not fit.
        let err = decode(&body[..40]).unwrap_err();
        assert_eq!(err, ProtoError::Truncated { offset: 27 });
        assert_eq!(err.to_string(), "the protobuf body is truncated at byte 27");

        assert_eq!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtoError::BadMagic));
        assert_eq!(decode(b""), Err(ProtoError::BadMagic));
        assert_eq!(decode(MAGIC), Err(ProtoError::NoTypeMeta));

        let err = decode(&envelope("apps/v1", "Foo", Enc::new())).unwrap_err();
        assert_eq!(err.to_string(), "unknown kind apps/v1 Foo in protobuf body");

        let bad = Enc::new().msg(1, Enc::new().int(1, 5));
        let err = decode(&envelope("v1", "Pod", bad)).unwrap_err();
        assert!(
            matches!(err, ProtoError::WireType { ref field, .. } if field == "name"),
            "{err}"
        );

        let bad = Enc::new().msg(1, Enc::new().bytes(1, &[0xff]));
        assert!(matches!(
            decode(&envelope("v1", "Pod", bad)),
            Err(ProtoError::Utf8 { .. })
        ));

        let overlong = [MAGIC.as_slice(), &[0x08], &[0xff; 11]].concat();
        assert!(matches!(
            decode(&overlong),
            Err(ProtoError::BadVarint { offset: 5 })
        ));

        let mut gzip = envelope("v1", "Pod", Enc::new());
        gzip.extend(Enc::new().str(3, "gzip").0);
        assert_eq!(
            decode(&gzip),
            Err(ProtoError::ContentEncoding("gzip".into()))
        );
    }

    #[test]
    fn delete_options_in_any_group() {
        let opts = Enc::new().int(1, 0).str(4, "Foreground").varint(3, 0);
        let got = decode(&envelope("apps/v1", "DeleteOptions", opts)).unwrap();
        let want = json!({
            "apiVersion": "apps/v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
        });
        assert_eq!(got, want);
    }

    #[test]
    fn go_durations() {
        let cases = [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (300_000_000_000, "5m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-90_000_000_000, "-1m30s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(go_duration(nanos), want);
        }
    }

    #[test]
    fn the_schema_is_whole() {
        let schema = schema().unwrap();
        for root in schema.roots.values() {
            assert!(schema.messages.contains_key(root), "{root}");
        }
        for (name, fields) in &schema.messages {
            for f in fields {
                if matches!(f.kind, Kind::Msg | Kind::Inline | Kind::Map(MapValue::Msg)) {
                    assert!(
                        schema.messages.contains_key(&f.ty),
                        "{name}.{} -> {}",
                        f.json,
                        f.ty
                    );
                }
            }
        }
    }

    /// `kubectl create deployment web --image=nginx:1.27 --replicas=0
    /// --dry-run=server`, as kubectl v1.35.2 sent it.
    #[test]
    fn real_kubectl_create_deployment() {
        let body = include_bytes!("../../tests/data/kubectl-create-deployment.pb");
        let want = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
                },
            },
        });
        assert_eq!(decode(body).unwrap(), want);
    }

    /// `kubectl create configmap`, `secret generic` and `service clusterip`
    /// bodies from kubectl v1.35.2.
    #[test]
    fn real_kubectl_create_others() {
        let cm = "6b3873000a0f0a0276311209436f6e6669674d617012270a120a02636d12001a0022002a0032003800420012060a016112016212090a05656d70747912001a002200";
        let want = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm"},
            "data": {"a": "b", "empty": ""},
        });
        assert_eq!(decode(&hex(cm)).unwrap(), want);

        let secret = "6b3873000a0c0a0276311206536563726574121d0a110a017312001a0022002a0032003800420012060a016b1201761a001a002200";
        let want = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}});
        assert_eq!(decode(&hex(secret)).unwrap(), want);

        let svc = "6b3873000a0d0a02763112075365727669636512690a1f0a0373766312001a0022002a003200380042005a0a0a03617070120373766312420a1b0a0738302d38303830120354435018502207080010903f1a002800120a0a0361707012037376631a002209436c757374657249503a00420052005a00600068001a020a001a002200";
        let want = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "labels": {"app": "svc"}},
            "spec": {
                "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "svc"},
                "type": "ClusterIP",
            },
        });
        assert_eq!(decode(&hex(svc)).unwrap(), want);
    }
}
