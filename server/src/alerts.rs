//! Violations' alerts: webhook channels per organization (`/api/v1/alert-channels`), the
//! queue of violations written in the same transaction as their evaluation, and the
//! background worker that delivers them.
//!
//! A webhook is `http://` or `https://`; an https receiver's certificate is verified
//! against the system's roots (`SSL_CERT_FILE`, else the usual bundle files) and the
//! channel's own CA certificates (`ca_pem`), with rustls.
//!
//! A delivery is a `POST` of a JSON body with `X-Verdict-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the body under the channel's secret. A failed attempt (no answer, or
//! an answer outside 2xx) is retried after an exponential backoff; after the last
//! attempt the delivery is a dead letter (`GET …/{id}/dead-letters`). Everything queued
//! is in the database, so it survives a restart; several instances share the queue
//! (a delivery is claimed with a conditional update before it is sent).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::any::AnyRow;
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use verdict_api_model::{PolicyAction, Risk};
use verdict_engine::Verdict;

use crate::audit::{self, Tx};
use crate::auth::Principal;
use crate::db::{format_time, new_id, now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// The signature header: `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "X-Verdict-Signature";

/// Most channels per organization.
const MAX_CHANNELS: i64 = 100;

/// Wakes the delivery worker after a commit that queued alerts.
#[derive(Debug, Default)]
pub struct Queue {
    notify: Notify,
}

impl Queue {
    /// Tells the worker that something was queued.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// How the worker retries.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// The wait before the second attempt; it doubles after each failure.
    pub base_backoff: Duration,
    /// Attempts before a delivery is a dead letter.
    pub max_attempts: i64,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How often the worker looks for due deliveries when nothing wakes it.
    pub poll: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            base_backoff: Duration::from_secs(2),
            max_attempts: 6,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

impl WorkerConfig {
    /// The defaults, with `VERDICT_ALERT_BACKOFF_MS` and `VERDICT_ALERT_MAX_ATTEMPTS`
    /// when set to positive integers.
    pub fn from_env() -> Self {
        let mut cfg = WorkerConfig::default();
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v > 0)
        };
        if let Some(ms) = var("VERDICT_ALERT_BACKOFF_MS") {
            cfg.base_backoff = Duration::from_millis(ms);
            cfg.poll = cfg.poll.min(Duration::from_millis(ms));
        }
        if let Some(n) = var("VERDICT_ALERT_MAX_ATTEMPTS") {
            cfg.max_attempts = i64::try_from(n).unwrap_or(i64::MAX);
        }
        cfg
    }

    /// The wait after `attempts` failed attempts.
    fn backoff_ms(&self, attempts: i64) -> i64 {
        let base = i64::try_from(self.base_backoff.as_millis()).unwrap_or(i64::MAX);
        let shift = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        base.saturating_mul(1i64 << shift)
    }
}

/// A violation to queue with its evaluation.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub payload: String,
}

/// `(action, risk)` of each policy, as stored (`None` when absent).
pub type PolicyMeta = HashMap<String, (Option<String>, Option<String>)>;

/// The violations of a verdict that raise alerts: the blocking policy when its action is
/// `alert` or `block`, and each `monitor` policy with such an action that would have
/// blocked the statement.
pub fn violations(verdict: &Verdict, meta: &PolicyMeta, evaluation: &Value) -> Vec<Event> {
    let mut found: Vec<(String, &'static str)> = Vec::new();
    if verdict.verdict == verdict_engine::Decision::Block {
        if let Some(b) = &verdict.blocked_by {
            found.push((b.policy.clone(), "enforce"));
        }
    }
    for m in &verdict.monitored {
        if m.would == verdict_engine::Decision::Block && !found.iter().any(|(p, _)| *p == m.policy)
        {
            found.push((m.policy.clone(), "monitor"));
        }
    }
    found
        .into_iter()
        .filter_map(|(policy, mode)| {
            let (action, risk) = meta.get(&policy).cloned().unwrap_or((None, None));
            if !matches!(action.as_deref(), Some("alert") | Some("block")) {
                return None;
            }
            let id = new_id("alert");
            let mut payload = json!({
                "type": "violation",
                "alert_id": id,
                "policy": policy,
                "mode": mode,
                "action": action,
                "risk": risk,
                "verdict": verdict.verdict.as_str(),
                "rule": verdict.rule.to_string(),
                "reason": verdict.reason,
            });
            if let (Some(obj), Some(extra)) = (payload.as_object_mut(), evaluation.as_object()) {
                for (k, v) in extra {
                    obj.insert(k.clone(), v.clone());
                }
            }
            Some(Event {
                id,
                payload: payload.to_string(),
            })
        })
        .collect()
}

/// Writes a record's events inside the evaluation's transaction.
pub async fn insert_events(
    tx: &mut Tx,
    org: &str,
    evaluation_id: &str,
    created_at: i64,
    events: &[Event],
) -> Result<(), sqlx::Error> {
    for e in events {
        sqlx::query(
            "INSERT INTO alert_events (org_id, id, evaluation_id, created_at, payload) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org)
        .bind(&e.id)
        .bind(evaluation_id)
        .bind(created_at)
        .bind(&e.payload)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Channels

/// Body of `POST /api/v1/alert-channels` and `PUT /api/v1/alert-channels/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Security on-call", "url": "http://alerts.internal:8080/verdict", "secret": "a-long-shared-secret-of-32-bytes", "enabled": true, "risks": ["high"], "actions": ["alert", "block"]}))]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The webhook: an `http://` or `https://` URL (at most 2000 bytes). Not the
    /// unspecified, a link-local (instance metadata), multicast or broadcast address;
    /// a name resolving only to such addresses fails at delivery.
    #[schema(max_length = 2000)]
    pub url: String,
    /// For an `https://` webhook: PEM certificates of authorities trusted for this
    /// channel besides the system's roots (a private CA). At most 64 KiB.
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub ca_pem: Option<String>,
    /// The HMAC-SHA256 key (16 to 256 bytes). Generated on create when absent (and then
    /// answered once); kept on `PUT` when absent.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Only violations of these policies (every policy when empty or absent).
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// Only violations of policies with these risks (every risk when empty or absent).
    #[serde(default)]
    pub risks: Option<Vec<Risk>>,
    /// Only violations of policies with these actions (every action when empty or absent).
    #[serde(default)]
    pub actions: Option<Vec<PolicyAction>>,
}

/// A stored channel; the secret is answered only when it was just generated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertChannel {
    pub id: String,
    pub name: String,
    pub url: String,
    /// The channel's own trusted CA certificates (PEM), if any.
    pub ca_pem: Option<String>,
    pub enabled: bool,
    pub policies: Vec<String>,
    pub risks: Vec<Risk>,
    pub actions: Vec<PolicyAction>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    /// Only in the answer to a create that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// An organization's channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertChannelList {
    pub items: Vec<AlertChannel>,
}

struct Checked {
    name: String,
    url: String,
    ca_pem: Option<String>,
    secret: Option<String>,
    enabled: bool,
    policies: String,
    risks: String,
    actions: String,
}

fn check(input: ChannelInput) -> ApiResult<Checked> {
    let field = |name: &str, message: String| {
        ApiError::invalid(message).with_details(json!({ "field": name }))
    };
    if input.name.trim().is_empty() || input.name.len() > 200 || input.name.contains('\0') {
        return Err(field(
            "name",
            "`name` must be a non-empty string of at most 200 bytes".into(),
        ));
    }
    if input.url.len() > 2000 || parse_url(&input.url).is_err() {
        return Err(field(
            "url",
            format!(
                "`url` must be an http:// or https:// URL with a host (at most 2000 bytes): {}",
                parse_url(&input.url)
                    .err()
                    .unwrap_or_else(|| "too long".into())
            ),
        ));
    }
    if let Some(pem) = &input.ca_pem {
        if !input.url.starts_with("https://") {
            return Err(field(
                "ca_pem",
                "`ca_pem` applies to https:// webhooks only".into(),
            ));
        }
        if pem.len() > 65_536 {
            return Err(field(
                "ca_pem",
                "`ca_pem` must have at most 65536 bytes".into(),
            ));
        }
        channel_roots(pem).map_err(|e| field("ca_pem", format!("`ca_pem`: {e}")))?;
    }
    if let Some(s) = &input.secret {
        if s.len() < 16 || s.len() > 256 || s.contains('\0') {
            return Err(field("secret", "`secret` must have 16 to 256 bytes".into()));
        }
    }
    let policies = input.policies.unwrap_or_default();
    if policies.len() > 1000
        || policies
            .iter()
            .any(|p| p.is_empty() || p.len() > 128 || p.contains('\0'))
    {
        return Err(field(
            "policies",
            "`policies` is a list of at most 1000 policy ids".into(),
        ));
    }
    let text = |v: Value| v.to_string();
    Ok(Checked {
        name: input.name,
        url: input.url,
        ca_pem: input.ca_pem,
        secret: input.secret,
        enabled: input.enabled.unwrap_or(true),
        policies: text(json!(policies)),
        risks: text(json!(input.risks.unwrap_or_default())),
        actions: text(json!(input.actions.unwrap_or_default())),
    })
}

const CHANNEL_COLUMNS: &str =
    "id, name, url, enabled, policies, risks, actions, created_at, created_by, updated_at, ca_pem";

fn channel_row(row: &AnyRow) -> ApiResult<AlertChannel> {
    let list = |i: usize| -> ApiResult<Value> {
        let text: String = row.try_get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Array(Vec::new())))
    };
    let enabled: i64 = row.try_get(3)?;
    Ok(AlertChannel {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        url: row.try_get(2)?,
        enabled: enabled != 0,
        policies: serde_json::from_value(list(4)?).unwrap_or_default(),
        risks: serde_json::from_value(list(5)?).unwrap_or_default(),
        actions: serde_json::from_value(list(6)?).unwrap_or_default(),
        created_at: format_time(row.try_get(7)?),
        created_by: row.try_get(8)?,
        updated_at: format_time(row.try_get(9)?),
        ca_pem: row.try_get(10)?,
        secret: None,
    })
}

async fn load_channel<'c, E>(exec: E, org: &str, id: &str) -> ApiResult<AlertChannel>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE org_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(exec)
    .await?
    .ok_or_else(|| ApiError::not_found("alert channel", id))?;
    channel_row(&row)
}

/// Channels hold secrets and make the server call out to any address: admins only.
fn require_admin(principal: &Principal) -> ApiResult<()> {
    if principal.role == crate::auth::Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "alert channels are managed and tested by admins",
        ))
    }
}

fn generated_secret() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // INVARIANT: the OS random source does not fail on supported platforms; a
        // predictable secret must not be issued if it ever did.
        return String::new();
    }
    hex::encode(bytes)
}

/// Lists the organization's alert channels.
#[utoipa::path(get, operation_id = "listAlertChannels", path = "/api/v1/alert-channels", tag = "alerts",
    responses((status = 200, body = AlertChannelList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<AlertChannelList>> {
    let rows = sqlx::query(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE org_id = $1 ORDER BY created_at, id"
    ))
    .bind(&principal.org_id)
    .fetch_all(&state.db.read)
    .await?;
    let items = rows.iter().map(channel_row).collect::<ApiResult<_>>()?;
    Ok(Json(AlertChannelList { items }))
}

/// Creates an alert channel.
#[utoipa::path(post, operation_id = "createAlertChannel", path = "/api/v1/alert-channels", tag = "alerts",
    request_body = ChannelInput,
    responses((status = 201, body = AlertChannel), (status = 409, description = "too many channels", body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ChannelInput>,
) -> ApiResult<(StatusCode, Json<AlertChannel>)> {
    require_admin(&principal)?;
    let c = check(input)?;
    let (secret, generated) = match c.secret.clone() {
        Some(s) => (s, false),
        None => {
            let s = generated_secret();
            if s.is_empty() {
                return Err(ApiError::internal(
                    "no random source for the channel secret",
                ));
            }
            (s, true)
        }
    };
    let org = principal.org_id.as_str();
    let now = now_ms();
    let id = new_id("ach");
    let mut tx = state.db.write.begin().await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM alert_channels WHERE org_id = $1")
        .bind(org)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if count >= MAX_CHANNELS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_channels",
            format!("an organization has at most {MAX_CHANNELS} alert channels"),
        ));
    }
    sqlx::query(
        "INSERT INTO alert_channels (org_id, id, name, url, secret, enabled, policies, risks, actions, created_at, created_by, updated_at, ca_pem) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $12)",
    )
    .bind(org)
    .bind(&id)
    .bind(&c.name)
    .bind(&c.url)
    .bind(&secret)
    .bind(i64::from(c.enabled))
    .bind(&c.policies)
    .bind(&c.risks)
    .bind(&c.actions)
    .bind(now)
    .bind(&principal.user)
    .bind(&c.ca_pem)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "alert_channel.create",
        "alert_channel",
        &id,
        &[
            "name", "url", "ca_pem", "secret", "enabled", "policies", "risks", "actions",
        ],
        Some(json!({ "name": c.name, "url": c.url, "enabled": c.enabled })),
    )
    .await?;
    let mut channel = load_channel(&mut *tx, org, &id).await?;
    tx.commit().await?;
    if generated {
        channel.secret = Some(secret);
    }
    Ok((StatusCode::CREATED, Json(channel)))
}

/// Reads an alert channel (never its secret).
#[utoipa::path(get, operation_id = "getAlertChannel", path = "/api/v1/alert-channels/{id}", tag = "alerts",
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = AlertChannel), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AlertChannel>> {
    Ok(Json(
        load_channel(&state.db.read, &principal.org_id, &id).await?,
    ))
}

/// Replaces an alert channel; without `secret` the secret is kept.
#[utoipa::path(put, operation_id = "replaceAlertChannel", path = "/api/v1/alert-channels/{id}", tag = "alerts",
    params(("id" = String, Path, description = "channel id")), request_body = ChannelInput,
    responses((status = 200, body = AlertChannel), (status = 404, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ChannelInput>,
) -> ApiResult<Json<AlertChannel>> {
    require_admin(&principal)?;
    let c = check(input)?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let updated = sqlx::query(
        "UPDATE alert_channels SET name = $1, url = $2, secret = COALESCE($3, secret), enabled = $4, \
         policies = $5, risks = $6, actions = $7, updated_at = $8, ca_pem = $11 WHERE org_id = $9 AND id = $10",
    )
    .bind(&c.name)
    .bind(&c.url)
    .bind(&c.secret)
    .bind(i64::from(c.enabled))
    .bind(&c.policies)
    .bind(&c.risks)
    .bind(&c.actions)
    .bind(now_ms())
    .bind(org)
    .bind(&id)
    .bind(&c.ca_pem)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::not_found("alert channel", &id));
    }
    let mut fields = vec![
        "name", "url", "ca_pem", "enabled", "policies", "risks", "actions",
    ];
    if c.secret.is_some() {
        fields.push("secret");
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "alert_channel.update",
        "alert_channel",
        &id,
        &fields,
        Some(json!({ "name": c.name, "url": c.url, "enabled": c.enabled })),
    )
    .await?;
    let channel = load_channel(&mut *tx, org, &id).await?;
    tx.commit().await?;
    Ok(Json(channel))
}

/// Deletes an alert channel with its pending deliveries and dead letters.
#[utoipa::path(delete, operation_id = "deleteAlertChannel", path = "/api/v1/alert-channels/{id}", tag = "alerts",
    params(("id" = String, Path, description = "channel id")),
    responses((status = 204, description = "deleted"), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&principal)?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let deleted = sqlx::query("DELETE FROM alert_channels WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(ApiError::not_found("alert channel", &id));
    }
    sqlx::query("DELETE FROM alert_deliveries WHERE org_id = $1 AND channel_id = $2")
        .bind(org)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "alert_channel.delete",
        "alert_channel",
        &id,
        &[],
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a test alert did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// The receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The body that was sent (signed like every alert).
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// Sends one test alert to the channel now (even when disabled), once, and answers what
/// happened; nothing is queued or retried.
#[utoipa::path(post, operation_id = "testAlertChannel", path = "/api/v1/alert-channels/{id}/test", tag = "alerts",
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = TestResult), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TestResult>> {
    require_admin(&principal)?;
    let org = principal.org_id.as_str();
    let row =
        sqlx::query("SELECT url, secret, ca_pem FROM alert_channels WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(&id)
            .fetch_optional(&state.db.read)
            .await?
            .ok_or_else(|| ApiError::not_found("alert channel", &id))?;
    let url: String = row.try_get(0)?;
    let secret: String = row.try_get(1)?;
    let ca_pem: Option<String> = row.try_get(2)?;
    let payload = json!({
        "type": "test",
        "alert_id": new_id("alert"),
        "channel_id": id,
        "org_id": org,
        "sent_by": principal.user,
        "created_at": format_time(now_ms()),
        "message": "a test alert from Verdict",
    });
    let started = Instant::now();
    let outcome = send(
        &url,
        ca_pem.as_deref(),
        &secret,
        "test",
        &payload.to_string(),
        state.alert_config.timeout,
    )
    .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (delivered, status, error) = match outcome {
        Ok(s) if (200..300).contains(&s) => (true, Some(s), None),
        Ok(s) => (false, Some(s), Some(format!("the receiver answered {s}"))),
        Err(e) => (false, None, Some(e)),
    };
    Ok(Json(TestResult {
        delivered,
        status,
        error,
        duration_ms,
        payload,
    }))
}

/// A delivery that failed its last attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub alert_id: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub failed_at: String,
    /// The alert's body.
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// A channel's dead letters, newest first (at most 500).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    pub items: Vec<DeadLetter>,
}

/// The channel's alerts that were not delivered after the last attempt.
#[utoipa::path(get, operation_id = "listDeadLetters", path = "/api/v1/alert-channels/{id}/dead-letters", tag = "alerts",
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = DeadLetterList), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DeadLetterList>> {
    let org = principal.org_id.as_str();
    load_channel(&state.db.read, org, &id).await?;
    let rows = sqlx::query(
        "SELECT id, event_id, attempts, last_status, last_error, created_at, updated_at, payload FROM alert_deliveries \
         WHERE org_id = $1 AND channel_id = $2 AND status = 'dead' ORDER BY updated_at DESC, id LIMIT 500",
    )
    .bind(org)
    .bind(&id)
    .fetch_all(&state.db.read)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            let payload: String = r.try_get(7)?;
            Ok(DeadLetter {
                id: r.try_get(0)?,
                alert_id: r.try_get(1)?,
                attempts: r.try_get(2)?,
                last_status: r.try_get(3)?,
                last_error: r.try_get(4)?,
                created_at: format_time(r.try_get(5)?),
                failed_at: format_time(r.try_get(6)?),
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(DeadLetterList { items }))
}

// ---------------------------------------------------------------------------------------
// Delivery

/// Where a webhook is.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    /// `https://`.
    tls: bool,
    host: String,
    port: u16,
    /// The path and query, from the first `/`.
    path: String,
}

/// Why a webhook may not reach this address, if it may not: the unspecified address,
/// link-local addresses (169.254.0.0/16, where clouds answer instance metadata and
/// credentials, and fe80::/10), multicast and broadcast, also as IPv4-mapped IPv6.
/// Loopback and private networks stay allowed: alert receivers live there.
fn forbidden_address(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    let v4 = |a: std::net::Ipv4Addr| {
        if a.is_unspecified() {
            Some("the unspecified address")
        } else if a.is_link_local() {
            Some("a link-local address (instance metadata lives there)")
        } else if a.is_multicast() || a.is_broadcast() {
            Some("a multicast or broadcast address")
        } else {
            None
        }
    };
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(m) => v4(m),
            None if a.is_unspecified() => Some("the unspecified address"),
            None if a.is_multicast() => Some("a multicast address"),
            None if a.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80) => {
                Some("a link-local address")
            }
            None => None,
        },
    }
}

/// The first address `host:port` resolves to that a webhook may reach.
async fn webhook_address(host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut why = None;
    for addr in &addrs {
        match forbidden_address(addr.ip()) {
            None => return Ok(*addr),
            Some(w) => why = Some((addr.ip(), w)),
        }
    }
    Err(match why {
        Some((ip, w)) => format!("{host} resolves to {ip}, {w}, where a webhook may not point"),
        None => format!("{host} resolves to no address"),
    })
}

/// The endpoint of an `http://` or `https://` URL.
fn parse_url(url: &str) -> Result<Endpoint, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err("only http:// and https:// webhooks are supported".to_string());
    };
    let default_port = if tls { 443 } else { 80 };
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL contains spaces or control characters".into());
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("an unclosed `[` in the host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| "a bad port")?,
            None if after.is_empty() => default_port,
            None => return Err("a bad host".into()),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| "a bad port")?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err("the URL has no host".into());
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        if let Some(why) = forbidden_address(ip) {
            return Err(format!("{ip} is {why}, where a webhook may not point"));
        }
    }
    if tls {
        rustls_pki_types::ServerName::try_from(host.as_str())
            .map_err(|_| format!("`{host}` is not a host name a certificate can name"))?;
    }
    Ok(Endpoint {
        tls,
        host,
        port,
        path,
    })
}

/// The certificates of a channel's `ca_pem`, each usable as a trust anchor.
fn channel_roots(pem: &str) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate (expected -----BEGIN CERTIFICATE-----)".into());
    }
    let mut store = tokio_rustls::rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| format!("a certificate cannot be a trust anchor: {e}"))?;
    }
    Ok(certs)
}

/// The system's trusted roots, read once: the PEM bundle named by `SSL_CERT_FILE`, else
/// the first of the usual bundle files that exists (Debian, Fedora, Alpine/macOS).
fn system_roots() -> &'static [rustls_pki_types::CertificateDer<'static>] {
    use rustls_pki_types::pem::PemObject;
    static ROOTS: std::sync::OnceLock<Vec<rustls_pki_types::CertificateDer<'static>>> =
        std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut paths: Vec<std::path::PathBuf> = Vec::new();
        if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
            paths.push(file.into());
        }
        paths.extend(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(std::path::PathBuf::from),
        );
        for path in paths {
            if let Ok(bytes) = std::fs::read(&path) {
                let roots: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
                    .filter_map(Result::ok)
                    .collect();
                if !roots.is_empty() {
                    return roots;
                }
            }
        }
        eprintln!("verdict: alerts: no system certificate bundle found; https webhooks trust their channel's ca_pem only");
        Vec::new()
    })
}

/// A TLS connector trusting the system's roots and the channel's CA certificates.
fn tls_connector(ca_pem: Option<&str>) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(pem) = ca_pem {
        for cert in channel_roots(pem)? {
            roots
                .add(cert)
                .map_err(|e| format!("the channel's CA certificate: {e}"))?;
        }
    }
    // ring, as for the proxy's TLS: no C toolchain in the build.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The signature of `body` under `secret`: `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

/// POSTs a signed alert; the receiver's status, or why there is none.
async fn send(
    url: &str,
    ca_pem: Option<&str>,
    secret: &str,
    kind: &str,
    body: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let endpoint = parse_url(url)?;
    let Endpoint {
        tls,
        host,
        port,
        path,
    } = &endpoint;
    let attempt = async {
        // Resolved once and checked: the connection goes to the address checked.
        let addr = webhook_address(host, *port).await?;
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let host_header = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: verdict-alerts\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n{SIGNATURE_HEADER}: {}\r\n\
             X-Verdict-Event: {kind}\r\nConnection: close\r\n\r\n",
            body.len(),
            signature(secret, body.as_bytes())
        );
        if *tls {
            let connector = tls_connector(ca_pem)?;
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| format!("`{host}` is not a host name a certificate can name"))?;
            let mut stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {host}:{port} failed: {e}"))?;
            exchange(&mut stream, &request, body).await
        } else {
            let mut stream = stream;
            exchange(&mut stream, &request, body).await
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// Sends the request head and body on `stream` and reads the answer's status.
async fn exchange<S>(stream: &mut S, head: &str, body: &str) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    stream
        .write_all(body.as_bytes())
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    // The status line is all that is needed.
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < 8192 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&answer);
    let mut words = text.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|s| s.parse::<u16>().ok()),
    ) {
        (Some(v), Some(status)) if v.starts_with("HTTP/1.") => Ok(status),
        _ => Err("the receiver did not answer HTTP".to_string()),
    }
}

/// Starts the delivery worker of this instance; it stops when the database is closed.
pub fn spawn_worker(
    db: Db,
    queue: Arc<Queue>,
    config: WorkerConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_cleanup: Option<Instant> = None;
        // A database that cannot be reached is logged when that starts and when it ends,
        // not at every poll.
        let mut failing = false;
        loop {
            if db.write.is_closed() {
                break;
            }
            let mut error = None;
            if last_cleanup.is_none_or(|t| t.elapsed() >= CLEANUP_EVERY) {
                last_cleanup = Some(Instant::now());
                if let Err(e) = forget_delivered(&db).await {
                    error = Some(e);
                }
            }
            if error.is_none() {
                error = fan_out(&db).await.err();
            }
            if error.is_none() {
                error = deliver_due(&db, &config).await.err();
            }
            match error {
                Some(_) if db.write.is_closed() => break,
                Some(e) if !failing => {
                    eprintln!("verdict: alerts: {e}; retrying until the database answers");
                    failing = true;
                }
                Some(_) => {}
                None if failing => {
                    eprintln!("verdict: alerts: the database answers again");
                    failing = false;
                }
                None => {}
            }
            tokio::select! {
                _ = queue.notify.notified() => {}
                _ = tokio::time::sleep(config.poll) => {}
            }
        }
    })
}

/// How often delivered alerts past [`KEEP_DELIVERED_MS`] are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// How long a delivered alert is kept (dead letters are kept until their channel goes).
const KEEP_DELIVERED_MS: i64 = 7 * 24 * 3600 * 1000;

async fn forget_delivered(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM alert_deliveries WHERE status = 'delivered' AND updated_at < $1")
        .bind(now_ms().saturating_sub(KEEP_DELIVERED_MS))
        .execute(&db.write)
        .await?;
    Ok(())
}

fn matches(list: &str, value: Option<&str>) -> bool {
    let items: Vec<String> = serde_json::from_str(list).unwrap_or_default();
    items.is_empty() || value.is_some_and(|v| items.iter().any(|i| i == v))
}

/// Turns queued violations into one delivery per matching enabled channel.
async fn fan_out(db: &Db) -> Result<(), sqlx::Error> {
    let events = sqlx::query(
        "SELECT org_id, id, payload, created_at FROM alert_events ORDER BY created_at, id LIMIT 100",
    )
    .fetch_all(&db.write)
    .await?;
    for event in &events {
        let org: String = event.try_get(0)?;
        let id: String = event.try_get(1)?;
        let payload: String = event.try_get(2)?;
        let created_at: i64 = event.try_get(3)?;
        let mut tx = db.write.begin().await?;
        let taken = sqlx::query("DELETE FROM alert_events WHERE org_id = $1 AND id = $2")
            .bind(&org)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if taken.rows_affected() != 1 {
            continue; // another instance took it
        }
        let body: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let (policy, risk, action) = (field("policy"), field("risk"), field("action"));
        let channels = sqlx::query(
            "SELECT id, policies, risks, actions FROM alert_channels WHERE org_id = $1 AND enabled = 1",
        )
        .bind(&org)
        .fetch_all(&mut *tx)
        .await?;
        let now = now_ms();
        for ch in &channels {
            let (cid, policies, risks, actions): (String, String, String, String) = (
                ch.try_get(0)?,
                ch.try_get(1)?,
                ch.try_get(2)?,
                ch.try_get(3)?,
            );
            if !(matches(&policies, policy.as_deref())
                && matches(&risks, risk.as_deref())
                && matches(&actions, action.as_deref()))
            {
                continue;
            }
            sqlx::query(
                "INSERT INTO alert_deliveries (org_id, id, channel_id, event_id, payload, status, attempts, next_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $6)",
            )
            .bind(&org)
            .bind(new_id("dlv"))
            .bind(&cid)
            .bind(&id)
            .bind(&payload)
            .bind(now)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Attempts every due delivery once.
async fn deliver_due(db: &Db, config: &WorkerConfig) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let due = sqlx::query(
        "SELECT d.org_id, d.id, d.payload, d.attempts, d.next_at, c.url, c.secret, c.enabled, c.ca_pem FROM alert_deliveries d \
         JOIN alert_channels c ON c.org_id = d.org_id AND c.id = d.channel_id \
         WHERE d.status = 'pending' AND d.next_at <= $1 ORDER BY d.next_at, d.id LIMIT 50",
    )
    .bind(now)
    .fetch_all(&db.write)
    .await?;
    // A claim lasts as long as an attempt may, and a margin.
    let lease = i64::try_from(config.timeout.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_add(5_000);
    let mut attempts_running = tokio::task::JoinSet::new();
    for row in &due {
        let org: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let payload: String = row.try_get(2)?;
        let attempts: i64 = row.try_get(3)?;
        let next_at: i64 = row.try_get(4)?;
        let url: String = row.try_get(5)?;
        let secret: String = row.try_get(6)?;
        let enabled: i64 = row.try_get(7)?;
        let ca_pem: Option<String> = row.try_get(8)?;
        let claimed = sqlx::query(
            "UPDATE alert_deliveries SET next_at = $1 WHERE org_id = $2 AND id = $3 AND status = 'pending' AND next_at = $4",
        )
        .bind(now_ms().saturating_add(lease))
        .bind(&org)
        .bind(&id)
        .bind(next_at)
        .execute(&db.write)
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        // Receivers are attempted concurrently: a slow one does not hold up the others.
        let timeout = config.timeout;
        attempts_running.spawn(async move {
            let outcome = if enabled == 0 {
                Err("the channel is disabled".to_string())
            } else {
                send(
                    &url,
                    ca_pem.as_deref(),
                    &secret,
                    "violation",
                    &payload,
                    timeout,
                )
                .await
            };
            (org, id, attempts.saturating_add(1), enabled != 0, outcome)
        });
    }
    while let Some(joined) = attempts_running.join_next().await {
        let Ok((org, id, attempts, enabled, outcome)) = joined else {
            continue; // the claim lapses and the delivery is attempted again
        };
        let done = now_ms();
        let (status, last_status, last_error, next) = match outcome {
            Ok(s) if (200..300).contains(&s) => ("delivered", Some(i64::from(s)), None, done),
            other => {
                let (code, error) = match other {
                    Ok(s) => (Some(i64::from(s)), format!("the receiver answered {s}")),
                    Err(e) => (None, e),
                };
                if attempts >= config.max_attempts || !enabled {
                    ("dead", code, Some(error), done)
                } else {
                    let next = done.saturating_add(config.backoff_ms(attempts));
                    ("pending", code, Some(error), next)
                }
            }
        };
        sqlx::query(
            "UPDATE alert_deliveries SET status = $1, attempts = $2, next_at = $3, last_status = $4, last_error = $5, updated_at = $6 \
             WHERE org_id = $7 AND id = $8",
        )
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(last_status)
        .bind(last_error)
        .bind(done)
        .bind(&org)
        .bind(&id)
        .execute(&db.write)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_addresses() {
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert!(forbidden_address(ip).is_some(), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.5",
            "8.8.8.8",
            "::1",
            "fd00::1",
            "2001:db8::1",
            "fec0::1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_address(ip), None, "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_forbidden_address_is_refused() {
        // `localhost` is allowed; a literal forbidden address passed as a name is not.
        assert!(webhook_address("localhost", 80).await.is_ok());
        let err = webhook_address("169.254.169.254", 80).await.unwrap_err();
        assert!(err.contains("link-local"), "{err}");
    }

    #[test]
    fn urls() {
        let at = |url: &str| parse_url(url).map(|e| (e.tls, e.host, e.port, e.path));
        assert_eq!(
            at("http://127.0.0.1:8080/hook?x=1").unwrap(),
            (false, "127.0.0.1".into(), 8080, "/hook?x=1".into())
        );
        assert_eq!(
            at("http://example.com").unwrap(),
            (false, "example.com".into(), 80, "/".into())
        );
        assert_eq!(
            at("http://[::1]:9/a").unwrap(),
            (false, "::1".into(), 9, "/a".into())
        );
        assert_eq!(
            at("https://example.com").unwrap(),
            (true, "example.com".into(), 443, "/".into())
        );
        assert_eq!(
            at("https://127.0.0.1:8443/h").unwrap(),
            (true, "127.0.0.1".into(), 8443, "/h".into())
        );
        assert!(parse_url("ftp://example.com").is_err());
        assert!(parse_url("https://bad_host!/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://a b/").is_err());
        assert!(parse_url("http://u:p@host/").is_err());
        assert!(parse_url("http://host:99999/").is_err());
    }

    #[test]
    fn backoff_doubles() {
        let cfg = WorkerConfig {
            base_backoff: Duration::from_millis(100),
            ..WorkerConfig::default()
        };
        assert_eq!(
            [1, 2, 3, 4].map(|a| cfg.backoff_ms(a)),
            [100, 200, 400, 800]
        );
    }

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
