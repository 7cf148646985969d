//! The backend's audit log: append-only rows, each carrying the SHA-256 of
//! the row before it and of itself, so an edited, inserted or deleted row
//! breaks the chain and [`Store::verify_audit`] says where; the head
//! (last seq and hash) is also kept as a setting, so cutting entries off the
//! end is noticed too.

use crate::{Store, StoreError, at_ms, query};
use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The setting that keeps the last entry's `seq:hash`.
const HEAD: &str = "audit.head";

/// The hash the first row follows.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry as stored: its place, time and hashes around what was done.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When (RFC 3339).
    #[schemars(with = "String")]
    pub at: Timestamp,
    /// Who did what to what, and how it ended.
    #[serde(flatten)]
    pub entry: NewEntry,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// Who did what to what, and how it ended (the log adds seq, time and hashes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NewEntry {
    /// The token's name.
    pub who: String,
    /// Its role.
    pub role: String,
    /// Its org.
    pub org: String,
    /// `mirror.deploy`, `fix.apply`, `settings.mirror-ttl`, `diagnose`, …
    pub action: String,
    /// What it acted on.
    pub target: String,
    /// The request id (the `x-request-id` header of the answer).
    pub request_id: String,
    /// SHA-256 of the manifest or patch sent, if any.
    pub digest: String,
    /// `ok`, `applied`, `refused: …`, `failed: …`.
    pub outcome: String,
    /// The command or patch, as sent (environment values left out); empty
    /// when there was none. In the chain's hash when not empty.
    #[serde(default)]
    pub detail: String,
}

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash of an entry: its fields, in order, as a JSON array after the
/// previous hash (JSON so no field can run into the next).
fn entry_hash(prev: &str, seq: i64, at_ms: i64, e: &NewEntry) -> String {
    let mut fields = serde_json::json!([
        prev,
        seq,
        at_ms,
        e.who,
        e.role,
        e.org,
        e.action,
        e.target,
        e.request_id,
        e.digest,
        e.outcome
    ]);
    // Entries from before details were kept hash as they always did.
    if !e.detail.is_empty()
        && let Some(list) = fields.as_array_mut()
    {
        list.push(serde_json::json!(e.detail));
    }
    sha256_hex(fields.to_string().as_bytes())
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    /// The first entry that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: String,
}

impl Store {
    /// Appends an entry; returns it with its hashes.
    pub async fn append_audit(
        &self,
        e: &NewEntry,
        now: Timestamp,
    ) -> Result<AuditEntry, StoreError> {
        // One appender at a time in this process; across processes the
        // unique prev_hash makes a second appender of the same position fail
        // and try again on the new head.
        let _one = self.audit_lock.lock().await;
        for _ in 0..20 {
            let head = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(query("read the audit log's head"))?;
            let (prev_seq, prev_hash) = match head {
                Some(r) => (r.get::<i64, _>("seq"), r.get::<String, _>("hash")),
                None => (0, GENESIS.to_string()),
            };
            let seq = prev_seq + 1;
            let at = now.as_millisecond();
            let hash = entry_hash(&prev_hash, seq, at, e);
            let done = sqlx::query(
                "INSERT INTO audit_log (seq, at_ms, who, role, org, action, target, request_id, digest, outcome, prev_hash, hash, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
            )
            .bind(seq)
            .bind(at)
            .bind(&e.who)
            .bind(&e.role)
            .bind(&e.org)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.request_id)
            .bind(&e.digest)
            .bind(&e.outcome)
            .bind(&prev_hash)
            .bind(&hash)
            .bind(&e.detail)
            .execute(&self.pool)
            .await
            .map_err(query("append to the audit log"))?;
            if done.rows_affected() == 1 {
                // The head, kept apart, so a deleted last entry is noticed.
                self.set_setting(HEAD, &format!("{seq}:{hash}")).await?;
                return Ok(AuditEntry {
                    seq,
                    at: at_ms(at),
                    entry: e.clone(),
                    prev_hash,
                    hash,
                });
            }
        }
        Err(StoreError::Invalid(
            "the audit log is being appended to too busily; try again".into(),
        ))
    }

    /// The log, oldest first, from entry `after + 1`, at most `limit` entries.
    pub async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, who, role, org, action, target, request_id, digest, outcome, prev_hash, hash, detail
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query("read the audit log"))?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.get("seq"),
                at: at_ms(r.get("at_ms")),
                entry: NewEntry {
                    who: r.get("who"),
                    role: r.get("role"),
                    org: r.get("org"),
                    action: r.get("action"),
                    target: r.get("target"),
                    request_id: r.get("request_id"),
                    digest: r.get("digest"),
                    outcome: r.get("outcome"),
                    detail: r.get("detail"),
                },
                prev_hash: r.get("prev_hash"),
                hash: r.get("hash"),
            })
            .collect())
    }

    /// Checks the whole chain; Ok(number of entries) or where it breaks.
    pub async fn verify_audit(&self) -> Result<Result<i64, Break>, StoreError> {
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut after = 0;
        loop {
            let page = self.audit_log(after, 1000).await?;
            if page.is_empty() {
                let count = expected_seq - 1;
                if let Some(head) = self.setting(HEAD).await?
                    && head != format!("{count}:{prev}")
                {
                    let seq = head.split(':').next().unwrap_or("?").to_string();
                    return Ok(Err(Break {
                        seq: count + 1,
                        reason: format!(
                            "the log ends at entry {count} but its head records entry {seq}: entries were deleted from the end"
                        ),
                    }));
                }
                return Ok(Ok(count));
            }
            for e in page {
                if e.seq != expected_seq {
                    return Ok(Err(Break {
                        seq: expected_seq,
                        reason: format!("entry {expected_seq} is missing (the next is {})", e.seq),
                    }));
                }
                if e.prev_hash != prev {
                    return Ok(Err(Break {
                        seq: e.seq,
                        reason: "it does not follow the entry before it".into(),
                    }));
                }
                if entry_hash(&e.prev_hash, e.seq, e.at.as_millisecond(), &e.entry) != e.hash {
                    return Ok(Err(Break {
                        seq: e.seq,
                        reason: "its content does not match its hash (edited)".into(),
                    }));
                }
                prev = e.hash;
                after = e.seq;
                expected_seq += 1;
            }
        }
    }
}
