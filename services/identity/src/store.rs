//! Persistence of API keys. Secrets are stored only as an HMAC-SM3 (a database copy alone cannot
//! test guesses), compared in constant time.

use chrono::{DateTime, Utc};
use shequ_kit::{
    Error,
    auth::Role,
    call::Call,
    convert::{from_db_time, to_db_time},
    crypto::BlindIndex,
    db::{Database, Migrations},
    regions::RegionCode,
};
use shequ_proto::identity::v1 as pb;
use sqlx::migrate::Migrator;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The identity schema.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
    table: "_sqlx_migrations",
};

const SECRET_CONTEXT: &str = "api_keys.secret";

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Identifier.
    pub id: String,
    /// What it is for.
    pub display_name: String,
    /// Granted roles.
    pub roles: Vec<Role>,
    /// Region scope.
    pub scope: RegionCode,
    /// Expiry.
    pub expire_time: DateTime<Utc>,
    /// Revoked for good.
    pub revoked: bool,
    /// Issuer.
    pub creator: String,
    /// Issued.
    pub create_time: DateTime<Utc>,
    /// Secret last replaced.
    pub rotate_time: Option<DateTime<Utc>>,
    /// Revoked at.
    pub revoke_time: Option<DateTime<Utc>>,
    /// Version.
    pub version: i64,
}

impl ApiKey {
    /// Its resource name, `apiKeys/{id}`.
    pub fn name(&self) -> String {
        format!("apiKeys/{}", self.id)
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    display_name: String,
    roles: String,
    scope: String,
    expire_time: String,
    revoked: i64,
    secret_hash: String,
    creator: String,
    create_time: String,
    rotate_time: Option<String>,
    revoke_time: Option<String>,
    version: i64,
}

const COLUMNS: &str = "id, display_name, roles, scope, expire_time, revoked, secret_hash, creator, create_time, \
     rotate_time, revoke_time, version";

impl Row {
    fn decode(self) -> Result<(ApiKey, String), Error> {
        let roles = self
            .roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| {
                Role::parse(r).ok_or_else(|| Error::internal(anyhow::anyhow!("stored role {r:?}")))
            })
            .collect::<Result<_, _>>()?;
        let time = |t: Option<String>| t.as_deref().map(from_db_time).transpose();
        Ok((
            ApiKey {
                scope: RegionCode::parse(&self.scope).map_err(Error::internal)?,
                expire_time: from_db_time(&self.expire_time)?,
                create_time: from_db_time(&self.create_time)?,
                rotate_time: time(self.rotate_time)?,
                revoke_time: time(self.revoke_time)?,
                revoked: self.revoked != 0,
                id: self.id,
                display_name: self.display_name,
                roles,
                creator: self.creator,
                version: self.version,
            },
            self.secret_hash,
        ))
    }
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Constant-time equality of two hex digests.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The key store.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    hasher: BlindIndex,
}

impl Store {
    /// Keys in `db`, secrets hashed with `hasher`.
    pub fn new(db: Database, hasher: BlindIndex) -> Self {
        Store { db, hasher }
    }

    /// Stores a new key with the hash of `secret`.
    pub async fn insert(&self, call: &Call, key: &ApiKey, secret: &str) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let mut tx = call.begin(&self.db).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&key.id)
            .bind(&key.display_name)
            .bind(roles_text(&key.roles))
            .bind(key.scope.to_string())
            .bind(to_db_time(key.expire_time))
            .bind(i64::from(key.revoked))
            .bind(self.hasher.of(secret, SECRET_CONTEXT))
            .bind(&key.creator)
            .bind(to_db_time(key.create_time))
            .bind(key.rotate_time.map(to_db_time))
            .bind(key.revoke_time.map(to_db_time))
            .bind(key.version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// The key with `id`.
    pub async fn get(&self, id: &str) -> Result<Option<ApiKey>, Error> {
        Ok(self.get_with_hash(id).await?.map(|(key, _)| key))
    }

    async fn get_with_hash(&self, id: &str) -> Result<Option<(ApiKey, String)>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(Row::decode).transpose()
    }

    /// The key `secret` belongs to, if the secret matches.
    pub async fn by_secret(&self, id: &str, secret: &str) -> Result<Option<ApiKey>, Error> {
        let Some((key, hash)) = self.get_with_hash(id).await? else {
            return Ok(None);
        };
        Ok(same_digest(&hash, &self.hasher.of(secret, SECRET_CONTEXT)).then_some(key))
    }

    /// Up to `limit` keys whose scope lies inside `scope`, after `after_id`.
    pub async fn list(
        &self,
        scope: RegionCode,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<ApiKey>, Error> {
        let prefix = scope.prefix();
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE scope BETWEEN $1 AND $2 AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(format!("{prefix:0<12}"))
            .bind(format!("{prefix:9<12}"))
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter()
            .map(|r| r.decode().map(|(key, _)| key))
            .collect()
    }

    /// Replaces the secret if the key is still at `expected_version`.
    pub async fn rotate(
        &self,
        call: &Call,
        key: &ApiKey,
        secret: &str,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let mut tx = call.begin(&self.db).await?;
        let done = sqlx::query(
            "UPDATE api_keys SET secret_hash = $1, rotate_time = $2, version = $3 WHERE id = $4 AND version = $5",
        )
        .bind(self.hasher.of(secret, SECRET_CONTEXT))
        .bind(key.rotate_time.map(to_db_time))
        .bind(key.version)
        .bind(&key.id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        tx.publish(
            &key.name(),
            key.scope,
            &pb::ApiKeyRotated {
                api_key: key.name(),
            },
        );
        tx.commit_if(done.rows_affected() == 1).await
    }

    /// Marks the key revoked if it is still at `expected_version`.
    pub async fn revoke(
        &self,
        call: &Call,
        key: &ApiKey,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let mut tx = call.begin(&self.db).await?;
        let done = sqlx::query("UPDATE api_keys SET revoked = 1, revoke_time = $1, version = $2 WHERE id = $3 AND version = $4")
            .bind(key.revoke_time.map(to_db_time))
            .bind(key.version)
            .bind(&key.id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await?;
        tx.publish(
            &key.name(),
            key.scope,
            &pb::ApiKeyRevoked {
                api_key: key.name(),
            },
        );
        tx.commit_if(done.rows_affected() == 1).await
    }
}
