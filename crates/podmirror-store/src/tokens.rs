//! API tokens of the backend: `pm_<id>_<secret>`, stored as the id and the
//! SHA-256 of the secret only; a presented token is found by its id and its
//! secret compared with the stored hash in constant time.

use crate::{Store, StoreError, at_ms, query};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

/// What a token may do: `read` < `write` < `admin` (docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Look at pods, diagnoses and mirrors.
    Read,
    /// Also diagnose now.
    Write,
    /// Also deploy and delete mirrors, change settings, read the audit.
    Admin,
}

impl Role {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Reads `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Result<Role, StoreError> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Invalid(format!(
                "role {other:?} is not one of read, write, admin"
            ))),
        }
    }
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// Who it is for (unique).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its organisation.
    pub org: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// When it stops being accepted, if it ever does.
    pub expires_at: Option<Timestamp>,
}

impl TokenInfo {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(n: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Invalid(format!("no randomness for a token: {e}")))?;
    Ok(hex(&buf))
}

/// A name a token may have: 1–63 of `[A-Za-z0-9._@-]`.
fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "token name {name:?}: use 1 to 63 letters, digits, '.', '_', '@' or '-'"
        )))
    }
}

/// `pm_<id>_<secret>` → (id, secret).
fn split_token(token: &str) -> Option<(&str, &str)> {
    token
        .strip_prefix("pm_")
        .and_then(|rest| rest.split_once('_'))
}

impl Store {
    /// Stores a token's id and the hash of its secret; false when one of
    /// that name (or id) exists.
    #[allow(clippy::too_many_arguments)]
    async fn insert_token(
        &self,
        id: &str,
        secret: &str,
        name: &str,
        role: Role,
        org: &str,
        now: Timestamp,
        expires: Option<Timestamp>,
        action: &'static str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tokens (id, name, secret_sha256, role, org, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(hex(&hash(secret)))
        .bind(role.as_str())
        .bind(org)
        .bind(now.as_millisecond())
        .bind(expires.map(|e| e.as_millisecond()))
        .execute(&self.pool)
        .await
        .map_err(query(action))?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes a token that never expires; returns the whole token, which is
    /// shown only this once.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        org: &str,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        self.create_token_until(name, role, org, now, None).await
    }

    /// Makes a token accepted until `expires` (for ever when None).
    pub async fn create_token_until(
        &self,
        name: &str,
        role: Role,
        org: &str,
        now: Timestamp,
        expires: Option<Timestamp>,
    ) -> Result<String, StoreError> {
        if let Some(e) = expires
            && e <= now
        {
            return Err(StoreError::Invalid(format!(
                "the token would expire at {e}, which is not in the future"
            )));
        }
        check_name(name)?;
        check_name(org).map_err(|_| {
            StoreError::Invalid(format!("org {org:?}: use letters, digits, '.', '_' or '-'"))
        })?;
        let id = random_hex(6)?;
        let secret = random_hex(24)?;
        let created = self
            .insert_token(
                &id,
                &secret,
                name,
                role,
                org,
                now,
                expires,
                "create a token",
            )
            .await?;
        if !created {
            return Err(StoreError::Invalid(format!(
                "a token named {name:?} exists; revoke it first or pick another name"
            )));
        }
        Ok(format!("pm_{id}_{secret}"))
    }

    /// The token a caller presented, or None (unknown, malformed or
    /// revoked). An expired token is returned with its `expires_at`: the
    /// caller refuses it with a message that says so.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<TokenInfo>, StoreError> {
        let Some((id, secret)) = split_token(presented) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT name, secret_sha256, role, org, created_at_ms, revoked_at_ms, expires_at_ms FROM tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query("look up a token"))?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.get("secret_sha256");
        let presented_hash = hex(&hash(secret));
        let same: bool = stored.as_bytes().ct_eq(presented_hash.as_bytes()).into();
        let revoked: Option<i64> = row.get("revoked_at_ms");
        if !same || revoked.is_some() {
            return Ok(None);
        }
        Ok(Some(token_info(&row)?))
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, org, created_at_ms, revoked_at_ms, expires_at_ms FROM tokens ORDER BY created_at_ms, name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query("list tokens"))?;
        rows.iter().map(token_info).collect()
    }

    /// Revokes the token of that name; false if there is none (or it was revoked).
    pub async fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now.as_millisecond())
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(query("revoke a token"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether any token exists (the first start makes a bootstrap admin).
    pub async fn has_tokens(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await
            .map_err(query("count tokens"))?;
        Ok(row.get::<i64, _>("n") > 0)
    }

    /// Stores a token chosen elsewhere (`PODMIRROR_ADMIN_TOKEN`), in the
    /// `pm_<id>_<secret>` form; nothing happens if its id is known.
    pub async fn import_token(
        &self,
        token: &str,
        name: &str,
        role: Role,
        org: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some((id, secret)) =
            split_token(token).filter(|(id, secret)| !id.is_empty() && secret.len() >= 32)
        else {
            return Err(StoreError::Invalid(
                "the admin token must look like pm_<id>_<secret> with a secret of 32 or more characters; make one with `podmirror token create`, or leave PODMIRROR_ADMIN_TOKEN unset to get one printed".into(),
            ));
        };
        self.insert_token(
            id,
            secret,
            name,
            role,
            org,
            now,
            None,
            "store the admin token",
        )
        .await?;
        Ok(())
    }
}

fn token_info(row: &sqlx::any::AnyRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        name: row.get("name"),
        role: Role::parse(&row.get::<String, _>("role"))?,
        org: row.get("org"),
        created_at: at_ms(row.get("created_at_ms")),
        revoked_at: row.get::<Option<i64>, _>("revoked_at_ms").map(at_ms),
        expires_at: row.get::<Option<i64>, _>("expires_at_ms").map(at_ms),
    })
}
