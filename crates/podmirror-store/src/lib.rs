//! podmirror's records, in SQLite through sqlx: the last diagnosis of each
//! pod (with the mirror verdict that verified its fix, if any) and the audit
//! of fixes applied to live workloads. Run locally, the file lives in the
//! XDG data directory ([`default_path`]); the backend serves the same store,
//! adding its API tokens ([`tokens`]), settings and the hash-chained audit
//! log of every mutating call ([`audit_log`]).

pub mod audit_log;
pub mod tokens;

pub use audit_log::{AuditEntry, Break, NewEntry, sha256_hex};
pub use tokens::{Role, TokenInfo};

use jiff::Timestamp;
use podmirror_core::diagnosis::Finding;
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the podmirror database {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("the podmirror database failed to {action}: {source}")]
    Query {
        /// What it was doing.
        action: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A stored diagnosis no longer reads (written by another version).
    #[error("a stored diagnosis does not read: {0}")]
    Corrupt(String),
    /// A value given to the store is not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
}

/// A diagnosis as stored: the finding, when it was saved, and its verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The finding.
    pub finding: Finding,
    /// When it was saved (the clock of the process that saved it).
    pub saved_at: Timestamp,
    /// The mirror that verified it and that mirror's verdict, if any: the
    /// first candidate that proved Healthy, else the last one tried.
    pub verified: Option<(String, String)>,
    /// Which candidate (index into `finding.candidates`) `verified` tested.
    pub verified_candidate: Option<usize>,
    /// Every candidate tried on a mirror, with its verdict.
    pub tries: Vec<Try>,
}

impl Saved {
    /// The finding with the candidate to show first as its own change: the
    /// one a mirror proved Healthy, if any.
    pub fn best(&self) -> Finding {
        match (&self.verified, self.verified_candidate) {
            (Some((_, verdict)), Some(i)) if verdict == "Healthy" => self.finding.with_candidate(i),
            _ => self.finding.clone(),
        }
    }
}

/// One candidate of a diagnosis tried on a mirror.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Try {
    /// Index into the finding's candidates.
    pub candidate: usize,
    /// The mirror that tried it.
    pub mirror: String,
    /// Its verdict: Healthy or Failing.
    pub verdict: String,
}

/// One audit row: a fix applied (or refused, or failed) on a live workload.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// When.
    pub at: Timestamp,
    /// Who (the local user, or the backend's authenticated user).
    pub who: String,
    /// The kubeconfig context or cluster.
    pub context: String,
    /// Namespace.
    pub namespace: String,
    /// What was changed, `deployment/api (pod api-123)`.
    pub target: String,
    /// The JSON Patch applied.
    pub patch: String,
    /// `applied`, `failed: …`.
    pub outcome: String,
}

/// Where the local store lives: `$XDG_DATA_HOME/podmirror/podmirror.db`, else
/// `~/.local/share/podmirror/podmirror.db`.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("podmirror").join("podmirror.db")
}

/// The schema, as numbered migrations applied once each, in order, on
/// SQLite and Postgres alike (`{serial}` is the one word that differs).
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE IF NOT EXISTS diagnoses (
                namespace TEXT NOT NULL,
                pod TEXT NOT NULL,
                saved_at_ms BIGINT NOT NULL,
                finding TEXT NOT NULL,
                verified_mirror TEXT,
                verified_verdict TEXT,
                PRIMARY KEY (namespace, pod)
            )",
            "CREATE TABLE IF NOT EXISTS audit (
                id {serial},
                at_ms BIGINT NOT NULL,
                who TEXT NOT NULL,
                context TEXT NOT NULL,
                namespace TEXT NOT NULL,
                target TEXT NOT NULL,
                patch TEXT NOT NULL,
                outcome TEXT NOT NULL
            )",
        ],
    ),
    (
        2,
        &[
            "ALTER TABLE diagnoses ADD COLUMN finding_id TEXT",
            "CREATE TABLE IF NOT EXISTS tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                secret_sha256 TEXT NOT NULL,
                role TEXT NOT NULL,
                org TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                revoked_at_ms BIGINT
            )",
            "CREATE TABLE IF NOT EXISTS settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )",
            "CREATE TABLE IF NOT EXISTS audit_log (
                seq BIGINT PRIMARY KEY,
                at_ms BIGINT NOT NULL,
                who TEXT NOT NULL,
                role TEXT NOT NULL,
                org TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                request_id TEXT NOT NULL,
                digest TEXT NOT NULL,
                outcome TEXT NOT NULL,
                prev_hash TEXT NOT NULL UNIQUE,
                hash TEXT NOT NULL UNIQUE
            )",
        ],
    ),
    (3, &["ALTER TABLE tokens ADD COLUMN expires_at_ms BIGINT"]),
    (
        4,
        &["ALTER TABLE audit_log ADD COLUMN detail TEXT NOT NULL DEFAULT ''"],
    ),
    (
        5,
        &[
            "ALTER TABLE diagnoses ADD COLUMN verified_candidate BIGINT",
            "ALTER TABLE diagnoses ADD COLUMN tries TEXT NOT NULL DEFAULT '[]'",
        ],
    ),
];

/// Which database a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the default).
    Sqlite,
    /// A Postgres server (several backend replicas).
    Postgres,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Serializes audit appends within the process.
    audit_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

fn query(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { action, source }
}

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A stored diagnosis from its row.
fn saved_of(row: &sqlx::any::AnyRow) -> Result<Saved, StoreError> {
    let finding: Finding = serde_json::from_str(&row.get::<String, _>("finding"))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mirror: Option<String> = row.get("verified_mirror");
    let verdict: Option<String> = row.get("verified_verdict");
    let candidate: Option<i64> = row.get("verified_candidate");
    let tries: Vec<Try> = serde_json::from_str(&row.get::<String, _>("tries"))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let verified = mirror.zip(verdict);
    Ok(Saved {
        // rows verified before candidates existed tested the first
        verified_candidate: verified
            .as_ref()
            .map(|_| candidate.and_then(|c| usize::try_from(c).ok()).unwrap_or(0)),
        verified,
        finding,
        saved_at: at_ms(row.get("saved_at_ms")),
        tries,
    })
}

impl Store {
    /// Opens (creating if needed) the SQLite file at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_error(sqlx::Error::Io(e)))?;
        }
        // Diagnoses quote log lines: the file is for its owner only.
        if !path.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| open_error(sqlx::Error::Io(e)))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Self::connect_as(
            &format!("sqlite://{}?mode=rwc", path.display()),
            &path.display().to_string(),
        )
        .await
    }

    /// Opens the store at `url`: `sqlite://PATH`, `postgres://…`, or a
    /// plain file path (SQLite).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if !url.contains("://") && !url.starts_with("sqlite:") {
            return Self::open(Path::new(url)).await;
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            return Self::open(Path::new(path)).await;
        }
        // The password is not repeated in errors.
        let shown = match url.split_once('@') {
            Some((_, host)) => format!("postgres://…@{host}"),
            None => url.to_string(),
        };
        Self::connect_as(url, &shown).await
    }

    async fn connect_as(url: &str, shown: &str) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "database {shown:?}: give sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB"
            )));
        };
        sqlx::any::install_default_drivers();
        let open_error = |source| StoreError::Open {
            path: shown.to_string(),
            source,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .connect(url)
            .await
            .map_err(open_error)?;
        let store = Store {
            pool,
            backend,
            audit_lock: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The database this store is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations not yet applied. Two processes starting at
    /// once may both try one; the loser finds it recorded and moves on.
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await
            .map_err(query("create its tables"))?;
        // A file made before migrations were numbered has version 1's tables.
        let legacy = sqlx::query("SELECT 1 AS x FROM schema_migrations LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(query("read its schema version"))?
            .is_none()
            && self.backend == Backend::Sqlite
            && sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'diagnoses'",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(query("read its schema version"))?
            .is_some();
        if legacy {
            sqlx::query("INSERT INTO schema_migrations (version) VALUES (1)")
                .execute(&self.pool)
                .await
                .map_err(query("record its schema version"))?;
        }
        let serial = match self.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        for (version, statements) in MIGRATIONS {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(query("migrate its tables"))?;
            let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(query("read its schema version"))?;
            if done.is_some() {
                continue;
            }
            for statement in *statements {
                sqlx::query(&statement.replace("{serial}", serial))
                    .execute(&mut *tx)
                    .await
                    .map_err(query("migrate its tables"))?;
            }
            let recorded = sqlx::query(
                "INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind(*version)
            .execute(&mut *tx)
            .await
            .map_err(query("record its schema version"))?;
            if recorded.rows_affected() == 1 {
                tx.commit().await.map_err(query("migrate its tables"))?;
            }
        }
        Ok(())
    }

    /// A setting's stored value, if it was ever set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(query("read a setting"))?;
        Ok(row.map(|r| r.get("value")))
    }

    /// Sets a setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(query("write a setting"))?;
        Ok(())
    }

    /// Keeps `finding` as the last diagnosis of its pod (replacing an older one).
    pub async fn save(&self, finding: &Finding, at: Timestamp) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(finding).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO diagnoses (namespace, pod, saved_at_ms, finding, finding_id) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (namespace, pod) DO UPDATE SET saved_at_ms = excluded.saved_at_ms,
               finding = excluded.finding, finding_id = excluded.finding_id,
               verified_mirror = NULL, verified_verdict = NULL, verified_candidate = NULL, tries = '[]'",
        )
        .bind(&finding.namespace)
        .bind(&finding.pod)
        .bind(at.as_millisecond())
        .bind(json)
        .bind(&finding.id)
        .execute(&self.pool)
        .await
        .map_err(query("save a diagnosis"))?;
        Ok(())
    }

    /// The last diagnosis of a pod, if saved within `max_age` of `now`.
    pub async fn last(
        &self,
        namespace: &str,
        pod: &str,
        max_age: std::time::Duration,
        now: Timestamp,
    ) -> Result<Option<Saved>, StoreError> {
        let oldest = now.as_millisecond() - max_age.as_millis() as i64;
        let row = sqlx::query(
            "SELECT saved_at_ms, finding, verified_mirror, verified_verdict, verified_candidate, tries FROM diagnoses
             WHERE namespace = $1 AND pod = $2 AND saved_at_ms >= $3",
        )
        .bind(namespace)
        .bind(pod)
        .bind(oldest)
        .fetch_optional(&self.pool)
        .await
        .map_err(query("read a diagnosis"))?;
        let Some(row) = row else { return Ok(None) };
        saved_of(&row).map(Some)
    }

    /// Every diagnosis saved within `max_age` of `now`, by (namespace, pod).
    pub async fn recent(
        &self,
        max_age: std::time::Duration,
        now: Timestamp,
    ) -> Result<std::collections::HashMap<(String, String), Saved>, StoreError> {
        let oldest = now.as_millisecond() - max_age.as_millis() as i64;
        let rows = sqlx::query(
            "SELECT namespace, pod, saved_at_ms, finding, verified_mirror, verified_verdict, verified_candidate, tries FROM diagnoses
             WHERE saved_at_ms >= $1",
        )
        .bind(oldest)
        .fetch_all(&self.pool)
        .await
        .map_err(query("read the recent diagnoses"))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            out.insert((row.get("namespace"), row.get("pod")), saved_of(&row)?);
        }
        Ok(out)
    }

    /// Records that `mirror` tried candidate `candidate` of diagnosis
    /// `finding.id` and reached `verdict`. Returns false when that diagnosis
    /// is no longer the pod's last (a newer one replaced it meanwhile) or
    /// there is none.
    pub async fn verify(
        &self,
        finding: &Finding,
        candidate: usize,
        mirror: &str,
        verdict: &str,
    ) -> Result<bool, StoreError> {
        self.verify_id(
            &finding.namespace,
            &finding.pod,
            &finding.id,
            candidate,
            mirror,
            verdict,
        )
        .await
    }

    /// [`Store::verify`] by the diagnosis's pod and id. The try joins the
    /// diagnosis's tries (replacing an earlier try of that candidate); the
    /// diagnosis's verification becomes it unless a candidate already
    /// proved Healthy. Two writers never lose each other's try: the update
    /// applies only to the tries it read, and is read again otherwise.
    pub async fn verify_id(
        &self,
        namespace: &str,
        pod: &str,
        finding_id: &str,
        candidate: usize,
        mirror: &str,
        verdict: &str,
    ) -> Result<bool, StoreError> {
        for _ in 0..5 {
            let row = sqlx::query(
                "SELECT verified_verdict, tries FROM diagnoses
                 WHERE namespace = $1 AND pod = $2 AND finding_id = $3",
            )
            .bind(namespace)
            .bind(pod)
            .bind(finding_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query("read a diagnosis's tries"))?;
            let Some(row) = row else { return Ok(false) };
            let kept: Option<String> = row.get("verified_verdict");
            let before: String = row.get("tries");
            let mut tries: Vec<Try> = serde_json::from_str(&before).unwrap_or_default();
            tries.retain(|t| t.candidate != candidate);
            tries.push(Try {
                candidate,
                mirror: mirror.to_string(),
                verdict: verdict.to_string(),
            });
            tries.sort_by_key(|t| t.candidate);
            let after =
                serde_json::to_string(&tries).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let replaces = kept.as_deref() != Some("Healthy");
            let done = if replaces {
                sqlx::query(
                    "UPDATE diagnoses SET verified_mirror = $1, verified_verdict = $2, verified_candidate = $3, tries = $4
                     WHERE namespace = $5 AND pod = $6 AND finding_id = $7 AND tries = $8",
                )
                .bind(mirror)
                .bind(verdict)
                .bind(candidate as i64)
                .bind(&after)
                .bind(namespace)
                .bind(pod)
                .bind(finding_id)
                .bind(&before)
                .execute(&self.pool)
                .await
            } else {
                sqlx::query(
                    "UPDATE diagnoses SET tries = $1
                     WHERE namespace = $2 AND pod = $3 AND finding_id = $4 AND tries = $5",
                )
                .bind(&after)
                .bind(namespace)
                .bind(pod)
                .bind(finding_id)
                .bind(&before)
                .execute(&self.pool)
                .await
            }
            .map_err(query("record a verification"))?;
            if done.rows_affected() > 0 {
                return Ok(true);
            }
        }
        Err(StoreError::Invalid(format!(
            "the tries of diagnosis {finding_id} kept changing under this write; try again"
        )))
    }

    /// Appends an audit row.
    pub async fn audit(&self, row: &AuditRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at_ms, who, context, namespace, target, patch, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.at.as_millisecond())
        .bind(&row.who)
        .bind(&row.context)
        .bind(&row.namespace)
        .bind(&row.target)
        .bind(&row.patch)
        .bind(&row.outcome)
        .execute(&self.pool)
        .await
        .map_err(query("write an audit row"))?;
        Ok(())
    }

    /// Every audit row, oldest first.
    pub async fn audit_rows(&self) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, who, context, namespace, target, patch, outcome FROM audit ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query("read the audit"))?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRow {
                at: at_ms(r.get("at_ms")),
                who: r.get("who"),
                context: r.get("context"),
                namespace: r.get("namespace"),
                target: r.get("target"),
                patch: r.get("patch"),
                outcome: r.get("outcome"),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podmirror_core::diagnosis::{Category, Owner};
    use serde_json::json;

    fn finding(pod: &str) -> Finding {
        Finding {
            id: format!("shop/{pod}@t"),
            namespace: "shop".into(),
            pod: pod.into(),
            pod_uid: "u".into(),
            owner: Some(Owner {
                kind: "Deployment".into(),
                name: "api".into(),
            }),
            category: Category::ImagePull,
            diagnosis: "bad tag".into(),
            suggested_fix: "go back".into(),
            evidence: vec!["e".into()],
            patch: json!([{"op": "replace", "path": "/containers/0/image", "value": "api:1"}]),
            fix_command: "kubectl …".into(),
            confidence_score: 0.95,
            runnable: true,
            source: "rules".into(),
            timestamp: "t".into(),
            candidates: Vec::new(),
            requests: None,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("podmirror-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("podmirror.db")
    }

    /// A fresh store on each backend: an SQLite file, and a new database on
    /// the Postgres at `PODMIRROR_TEST_POSTGRES` (`scripts/postgres`; the test
    /// command sets it, and CI requires it).
    async fn stores(name: &str) -> Vec<(String, Store)> {
        let mut out = vec![(
            scratch(name).display().to_string(),
            Store::open(&scratch(name)).await.unwrap(),
        )];
        match std::env::var("PODMIRROR_TEST_POSTGRES") {
            Ok(admin) if !admin.is_empty() => {
                sqlx::any::install_default_drivers();
                let pool = AnyPool::connect(&admin).await.unwrap();
                let db = format!("pm_{}_{name}", std::process::id()).replace('-', "_");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query(&format!("CREATE DATABASE {db}"))
                    .execute(&pool)
                    .await
                    .unwrap();
                let (base, _) = admin.rsplit_once('/').unwrap();
                let url = format!("{base}/{db}");
                let store = Store::connect(&url).await.unwrap();
                assert_eq!(store.backend(), Backend::Postgres);
                out.push((url, store));
            }
            _ => assert!(
                std::env::var_os("PODMIRROR_REQUIRE_POSTGRES").is_none(),
                "PODMIRROR_TEST_POSTGRES is not set; scripts/test starts one with scripts/postgres"
            ),
        }
        out
    }

    #[tokio::test]
    async fn the_last_diagnosis_within_the_window_its_verification_and_the_audit() {
        for (url, store) in stores("roundtrip").await {
            roundtrip(&url, store).await;
        }
    }

    async fn roundtrip(url: &str, store: Store) {
        let t0: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let minutes = |m: i64| t0.checked_add(jiff::SignedDuration::from_mins(m)).unwrap();
        let window = std::time::Duration::from_secs(15 * 60);
        store.save(&finding("api-1"), t0).await.unwrap();
        let got = store
            .last("shop", "api-1", window, minutes(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.finding, finding("api-1"));
        assert_eq!(got.saved_at, t0);
        assert_eq!(got.verified, None);
        assert!(
            store
                .last("shop", "api-1", window, minutes(16))
                .await
                .unwrap()
                .is_none(),
            "too old"
        );
        assert!(
            store
                .last("shop", "other", window, minutes(1))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .verify(&finding("api-1"), 0, "api-1-mirror-x", "Healthy")
                .await
                .unwrap()
        );
        assert!(
            !store
                .verify(&finding("nope"), 0, "m", "Healthy")
                .await
                .unwrap()
        );
        let mut newer = finding("api-1");
        newer.id = "shop/api-1@later".into();
        assert!(
            !store.verify(&newer, 0, "m", "Failing").await.unwrap(),
            "only the stored diagnosis is verified"
        );
        let got = store
            .last("shop", "api-1", window, minutes(3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got.verified,
            Some(("api-1-mirror-x".into(), "Healthy".into()))
        );
        // A new diagnosis replaces the old one and its verification.
        store.save(&finding("api-1"), minutes(5)).await.unwrap();
        let got = store
            .last("shop", "api-1", window, minutes(6))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((got.saved_at, got.verified), (minutes(5), None));

        // Candidates tried in turn: the first Healthy one is kept, every try listed.
        let mut several = finding("api-1");
        let other = |image: &str| podmirror_core::diagnosis::Candidate {
            suggested_fix: format!("use {image}"),
            patch: json!([{"op": "replace", "path": "/containers/0/image", "value": image}]),
            fix_command: String::new(),
            confidence_score: 0.4,
        };
        several.candidates = vec![other("api:1"), other("api:2"), other("api:3")];
        store.save(&several, minutes(7)).await.unwrap();
        for (i, verdict) in [(0, "Failing"), (1, "Healthy"), (2, "Failing")] {
            assert!(
                store
                    .verify(&several, i, &format!("m{i}"), verdict)
                    .await
                    .unwrap()
            );
        }
        let got = store
            .last("shop", "api-1", window, minutes(8))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.verified, Some(("m1".into(), "Healthy".into())));
        assert_eq!(got.verified_candidate, Some(1));
        assert_eq!(
            got.tries
                .iter()
                .map(|t| (t.candidate, t.verdict.as_str()))
                .collect::<Vec<_>>(),
            [(0, "Failing"), (1, "Healthy"), (2, "Failing")]
        );
        assert_eq!(got.best().suggested_fix, "use api:2");
        assert_eq!(got.best().patch, several.candidates[1].patch);

        let row = AuditRow {
            at: t0,
            who: "alice".into(),
            context: "prod".into(),
            namespace: "shop".into(),
            target: "deployment/api (pod api-1)".into(),
            patch: "[]".into(),
            outcome: "applied".into(),
        };
        store.audit(&row).await.unwrap();
        // Reopened: the rows are kept.
        drop(store);
        let store = Store::connect(url).await.unwrap();
        assert_eq!(store.audit_rows().await.unwrap(), vec![row]);
    }

    #[tokio::test]
    async fn an_unusable_path_says_which_file() {
        let e = Store::open(Path::new("/proc/podmirror/x.db"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/podmirror/x.db"), "{e}");
    }

    #[tokio::test]
    async fn tokens_are_kept_as_hashes_found_by_id_and_revocable() {
        for (url, store) in stores("tokens").await {
            tokens(&url, store).await;
        }
    }

    async fn tokens(url: &str, store: Store) {
        let now = Timestamp::UNIX_EPOCH;
        assert!(!store.has_tokens().await.unwrap());
        let alice = store
            .create_token("alice", Role::Admin, "acme", now)
            .await
            .unwrap();
        assert!(alice.starts_with("pm_"));
        let who = store.authenticate(&alice).await.unwrap().unwrap();
        assert_eq!(
            (who.name.as_str(), who.role, who.org.as_str()),
            ("alice", Role::Admin, "acme")
        );
        // A wrong secret with the right id, garbage, and a second "alice".
        let (head, _) = alice.rsplit_once('_').unwrap();
        assert!(
            store
                .authenticate(&format!("{head}_{}", "0".repeat(48)))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .authenticate("Bearer nonsense")
                .await
                .unwrap()
                .is_none()
        );
        let e = store
            .create_token("alice", Role::Read, "acme", now)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("exists; revoke it first"), "{e}");
        let e = store
            .create_token("a b", Role::Read, "acme", now)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("token name"), "{e}");
        // The secret is nowhere in the file.
        let secret = alice.rsplit_once('_').unwrap().1;
        if store.backend() == Backend::Sqlite {
            let bytes = std::fs::read(url).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
        assert!(store.revoke_token("alice", now).await.unwrap());
        assert!(!store.revoke_token("alice", now).await.unwrap());
        assert!(store.authenticate(&alice).await.unwrap().is_none());
        assert_eq!(store.tokens().await.unwrap()[0].revoked_at, Some(now));
        // A token with an end: found with it, expired from then on; an end
        // in the past is refused.
        let end = now + jiff::SignedDuration::from_secs(60);
        let bob = store
            .create_token_until("bob", Role::Read, "acme", now, Some(end))
            .await
            .unwrap();
        let who = store.authenticate(&bob).await.unwrap().unwrap();
        assert_eq!(who.expires_at, Some(end));
        assert!(!who.expired(now));
        assert!(who.expired(end));
        let e = store
            .create_token_until("carol", Role::Read, "acme", end, Some(now))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not in the future"), "{e}");
        assert!(
            store
                .tokens()
                .await
                .unwrap()
                .iter()
                .all(|t| t.name != "carol")
        );
    }

    #[tokio::test]
    async fn the_audit_chain_detects_an_edited_a_deleted_and_a_cut_off_entry() {
        let tails = stores("chain_tail").await;
        for ((_, store), (_, tail)) in stores("chain").await.into_iter().zip(tails) {
            chain(store, tail).await;
        }
    }

    async fn chain(store: Store, tail: Store) {
        for i in 0..5 {
            let e = NewEntry {
                who: "alice".into(),
                role: "admin".into(),
                org: "acme".into(),
                action: "mirror.deploy".into(),
                target: format!("shop:api-{i}"),
                request_id: format!("req-{i}"),
                digest: sha256_hex(b"{}"),
                outcome: "ok".into(),
                // Entries with and without a detail chain alike.
                detail: if i % 2 == 0 {
                    format!("set-image api=registry.example.com/shop/api:1.4.{i}")
                } else {
                    String::new()
                },
            };
            store.append_audit(&e, Timestamp::UNIX_EPOCH).await.unwrap();
        }
        assert_eq!(store.verify_audit().await.unwrap(), Ok(5));
        let raw = |sql: &'static str| {
            let pool = store.pool.clone();
            async move { sqlx::query(sql).execute(&pool).await.unwrap() }
        };
        raw("UPDATE audit_log SET outcome = 'refused' WHERE seq = 3").await;
        let broken = store.verify_audit().await.unwrap().unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("edited"), "{broken:?}");
        raw("UPDATE audit_log SET outcome = 'ok' WHERE seq = 3").await;
        assert_eq!(store.verify_audit().await.unwrap(), Ok(5));
        // The command or patch is chained too.
        raw("UPDATE audit_log SET detail = 'set-image api=evil:1' WHERE seq = 5").await;
        assert_eq!(store.verify_audit().await.unwrap().unwrap_err().seq, 5);
        raw("UPDATE audit_log SET detail = 'set-image api=registry.example.com/shop/api:1.4.4' WHERE seq = 5").await;
        assert_eq!(store.verify_audit().await.unwrap(), Ok(5));
        raw("DELETE FROM audit_log WHERE seq = 2").await;
        assert_eq!(store.verify_audit().await.unwrap().unwrap_err().seq, 2);
        let store = tail;
        for _ in 0..3 {
            store
                .append_audit(&NewEntry::default(), Timestamp::UNIX_EPOCH)
                .await
                .unwrap();
        }
        sqlx::query("DELETE FROM audit_log WHERE seq = 3")
            .execute(&store.pool)
            .await
            .unwrap();
        let cut = store.verify_audit().await.unwrap().unwrap_err();
        assert!(cut.reason.contains("deleted from the end"), "{cut:?}");
    }

    #[tokio::test]
    async fn two_stores_on_one_database_append_one_unbroken_chain() {
        for (url, first) in stores("two_writers").await {
            let second = Store::connect(&url).await.unwrap();
            let write = |store: Store, who: &'static str| async move {
                for i in 0..15 {
                    let e = NewEntry {
                        who: who.into(),
                        action: "diagnose".into(),
                        target: format!("shop:p-{i}"),
                        ..Default::default()
                    };
                    store.append_audit(&e, Timestamp::UNIX_EPOCH).await.unwrap();
                }
            };
            tokio::join!(write(first.clone(), "a"), write(second, "b"));
            assert_eq!(first.verify_audit().await.unwrap(), Ok(30), "{url}");
        }
    }

    #[tokio::test]
    async fn a_file_from_before_numbered_migrations_is_brought_up_to_date() {
        let path = scratch("legacy");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        sqlx::any::install_default_drivers();
        let old = AnyPool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        for statement in MIGRATIONS[0].1 {
            sqlx::query(&statement.replace("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
                .execute(&old)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO diagnoses (namespace, pod, saved_at_ms, finding) VALUES ('shop', 'old', 0, '{}')")
            .execute(&old)
            .await
            .unwrap();
        old.close().await;
        let store = Store::open(&path).await.unwrap();
        store
            .save(&finding("api-1"), Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        assert!(
            store
                .verify(&finding("api-1"), 0, "m", "Healthy")
                .await
                .unwrap()
        );
        assert!(!store.has_tokens().await.unwrap());
        // Opening again applies nothing twice.
        drop(store);
        Store::open(&path).await.unwrap();
    }
}
