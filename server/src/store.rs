//! Reading and writing stored policies, their assignments and versions.
//!
//! A stored policy is the JSON object the engine accepts, minus `applies_to`: where a
//! policy applies is decided by its assignments, which become `applies_to` whenever the
//! policy is handed to the engine.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use verdict_engine::policy::ASSIGNMENT_KINDS;
use verdict_engine::PolicySet;

use crate::audit::Tx;
use crate::db::{format_time, now_ms};
use crate::error::{ApiError, ApiResult};

/// A stored policy row.
#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: String,
    pub body: Map<String, Value>,
    pub revision: i64,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
    pub deleted_at: Option<i64>,
}

const POLICY_COLUMNS: &str =
    "id, body, revision, created_at, created_by, updated_at, updated_by, deleted_at";

fn policy_row(row: &AnyRow) -> ApiResult<PolicyRow> {
    let body: String = row.try_get(1)?;
    let body = match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(ApiError::internal(
                "a stored policy body is not a JSON object",
            ))
        }
    };
    Ok(PolicyRow {
        id: row.try_get(0)?,
        body,
        revision: row.try_get(2)?,
        created_at: row.try_get(3)?,
        created_by: row.try_get(4)?,
        updated_at: row.try_get(5)?,
        updated_by: row.try_get(6)?,
        deleted_at: row.try_get(7)?,
    })
}

/// One policy of the organization, deleted or not.
pub async fn load_policy<'e, E>(exec: E, org: &str, id: &str) -> ApiResult<Option<PolicyRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(&format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE org_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(exec)
    .await?;
    row.as_ref().map(policy_row).transpose()
}

/// One policy that is not deleted, or 404.
pub async fn live_policy<'e, E>(exec: E, org: &str, id: &str) -> ApiResult<PolicyRow>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    match load_policy(exec, org, id).await? {
        Some(row) if row.deleted_at.is_none() => Ok(row),
        Some(row) => Err(ApiError::not_found("policy", id).with_details(json!({
            "deleted": true,
            "deleted_at": row.deleted_at.map(format_time),
            "revision": row.revision,
            "hint": "roll back to an earlier version to restore it",
        }))),
        None => Err(ApiError::not_found("policy", id)),
    }
}

/// Every policy of the organization that is not deleted.
pub async fn live_policies<'e, E>(exec: E, org: &str) -> ApiResult<Vec<PolicyRow>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(&format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(org)
    .fetch_all(exec)
    .await?;
    rows.iter().map(policy_row).collect()
}

pub use verdict_api_model::{Assignment, AssignmentSpec};

/// Checks the kind and the value.
pub fn check_spec(spec: &AssignmentSpec) -> ApiResult<()> {
    if !ASSIGNMENT_KINDS.iter().any(|(k, _)| *k == spec.kind) {
        return Err(ApiError::invalid(format!(
            "unknown assignment kind `{}`; expected one of {}",
            spec.kind,
            ASSIGNMENT_KINDS
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if spec.kind == "everyone" && spec.value != "*" {
        return Err(ApiError::invalid(
            "an `everyone` assignment has the value `*`",
        ));
    }
    if spec.value.trim().is_empty() || spec.value.chars().count() > 256 || spec.value.contains('\0')
    {
        return Err(ApiError::invalid(
            "an assignment `value` must be a non-empty string of at most 256 characters",
        ));
    }
    Ok(())
}

/// The assignments of every policy of the organization, by policy id.
pub async fn all_assignments<'e, E>(
    exec: E,
    org: &str,
) -> ApiResult<BTreeMap<String, Vec<Assignment>>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT policy_id, id, kind, value, created_at, created_by FROM assignments \
         WHERE org_id = $1 ORDER BY policy_id, kind, value",
    )
    .bind(org)
    .fetch_all(exec)
    .await?;
    let mut map: BTreeMap<String, Vec<Assignment>> = BTreeMap::new();
    for row in &rows {
        let policy: String = row.try_get(0)?;
        map.entry(policy).or_default().push(assignment_row(row, 1)?);
    }
    Ok(map)
}

fn assignment_row(row: &AnyRow, from: usize) -> ApiResult<Assignment> {
    Ok(Assignment {
        id: row.try_get(from)?,
        kind: row.try_get(from + 1)?,
        value: row.try_get(from + 2)?,
        created_at: format_time(row.try_get(from + 3)?),
        created_by: row.try_get(from + 4)?,
    })
}

/// The assignments of one policy.
pub async fn assignments<'e, E>(exec: E, org: &str, policy: &str) -> ApiResult<Vec<Assignment>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT id, kind, value, created_at, created_by FROM assignments \
         WHERE org_id = $1 AND policy_id = $2 ORDER BY kind, value",
    )
    .bind(org)
    .bind(policy)
    .fetch_all(exec)
    .await?;
    rows.iter().map(|r| assignment_row(r, 0)).collect()
}

/// Replaces the assignments of a policy with `specs` inside `tx`.
pub async fn set_assignments(
    tx: &mut Tx,
    org: &str,
    policy: &str,
    specs: &[AssignmentSpec],
    actor: &str,
) -> ApiResult<()> {
    sqlx::query("DELETE FROM assignments WHERE org_id = $1 AND policy_id = $2")
        .bind(org)
        .bind(policy)
        .execute(&mut **tx)
        .await?;
    let now = now_ms();
    for spec in specs {
        insert_assignment(tx, org, policy, spec, actor, now).await?;
    }
    Ok(())
}

/// Inserts one assignment; returns its id.
pub async fn insert_assignment(
    tx: &mut Tx,
    org: &str,
    policy: &str,
    spec: &AssignmentSpec,
    actor: &str,
    now: i64,
) -> ApiResult<String> {
    let id = crate::db::new_id("asg");
    sqlx::query(
        "INSERT INTO assignments (org_id, id, policy_id, kind, value, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org)
    .bind(&id)
    .bind(policy)
    .bind(&spec.kind)
    .bind(&spec.value)
    .bind(now)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Sorted, de-duplicated assignment specs; checks each.
pub fn normalize_specs(mut specs: Vec<AssignmentSpec>) -> ApiResult<Vec<AssignmentSpec>> {
    for spec in &specs {
        check_spec(spec)?;
    }
    specs.sort();
    specs.dedup();
    let everyone = specs.iter().any(|s| s.kind == "everyone");
    if everyone && specs.iter().any(|s| s.kind == "user" || s.kind == "role") {
        return Err(ApiError::invalid(
            "an `everyone` assignment cannot be combined with `user` or `role` assignments",
        ));
    }
    Ok(specs)
}

pub use verdict_api_model::SERVER_FIELDS;

/// Turns a policy into what the engine reads: seed 001's fields compiled into rules
/// (`row_filter_dsl`, `column_masks`) and removed with the API's own fields. A body that
/// was stored always compiles; a tree that does not is a 422 with its JSON paths, never a
/// policy silently without its filter.
pub fn for_engine(policy: &mut Value) -> ApiResult<()> {
    if let Value::Object(obj) = policy {
        verdict_engine::policy::dsl::expand_seed_fields(obj).map_err(dsl_error)?;
        for f in SERVER_FIELDS {
            obj.remove(*f);
        }
    }
    Ok(())
}

/// The 422 for seed-field problems.
pub fn dsl_error(problems: Vec<verdict_engine::Problem>) -> ApiError {
    let first = problems
        .first()
        .map(|p| format!("`{}` {}", p.field, p.message))
        .unwrap_or_default();
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_policy",
        format!("the policy does not validate: {first}"),
    )
    .with_problems(problems)
}

/// The policy's `external_id`, when it has one.
pub fn external_id(body: &Map<String, Value>) -> Option<&str> {
    body.get("external_id").and_then(Value::as_str)
}

/// Keeps the `external_id` column (unique among live policies) equal to the body's.
pub async fn sync_external_id(
    tx: &mut Tx,
    org: &str,
    id: &str,
    body: &Map<String, Value>,
) -> ApiResult<()> {
    sqlx::query("UPDATE policies SET external_id = $1 WHERE org_id = $2 AND id = $3")
        .bind(external_id(body))
        .bind(org)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "external_id_taken",
                format!(
                    "another policy already has external_id `{}`",
                    external_id(body).unwrap_or_default()
                ),
            ),
            _ => ApiError::from(e),
        })?;
    Ok(())
}

/// 409 when another live policy of the organization has `body`'s `external_id`.
pub async fn check_external_id(
    tx: &mut Tx,
    org: &str,
    id: &str,
    body: &Map<String, Value>,
) -> ApiResult<()> {
    let Some(ext) = external_id(body) else {
        return Ok(());
    };
    let other = sqlx::query(
        "SELECT id FROM policies WHERE org_id = $1 AND external_id = $2 AND id <> $3 AND deleted_at IS NULL",
    )
    .bind(org)
    .bind(ext)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = other {
        let other: String = row.try_get(0)?;
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "external_id_taken",
            format!("policy `{other}` already has external_id `{ext}`"),
        )
        .with_details(json!({
            "policy_id": other,
            "problems": [verdict_engine::Problem::new(
                verdict_engine::ProblemKind::Duplicate,
                "external_id",
                "is already another policy's",
            )],
        })));
    }
    Ok(())
}

/// The policy as the engine takes it: the stored body plus `applies_to` from the
/// assignments the engine matches.
pub fn engine_policy(body: &Map<String, Value>, specs: &[AssignmentSpec]) -> Value {
    let mut obj = body.clone();
    let applies_to = verdict_engine::policy::applies_to_of(
        specs.iter().map(|s| (s.kind.as_str(), s.value.as_str())),
    );
    if !applies_to.is_empty() {
        obj.insert("applies_to".to_string(), Value::Object(applies_to));
    }
    Value::Object(obj)
}

/// The organization's catalog (`null` when it has none).
pub async fn catalog<'e, E>(exec: E, org: &str) -> ApiResult<Value>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT catalog FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(exec)
        .await?;
    let text: Option<String> = row.try_get(0)?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null))
}

/// Asks the engine whether `policies` (engine-shaped) validate against `catalog`.
pub fn validate(catalog: &Value, mut policies: Vec<Value>) -> ApiResult<PolicySet> {
    let origins: Vec<(usize, Vec<String>)> = policies.iter().map(compiled_origins).collect();
    for p in &mut policies {
        for_engine(p)?;
    }
    let mut set = Map::new();
    if !catalog.is_null() {
        set.insert("catalog".to_string(), catalog.clone());
    }
    set.insert("policies".to_string(), Value::Array(policies));
    PolicySet::from_json(&Value::Object(set))
        .map_err(ApiError::from_engine)
        .map_err(|e| with_seed_fields(e, &origins))
}

/// A policy's own rule count and the seed fields its compiled rules come from, in the
/// order `for_engine` appends them.
fn compiled_origins(policy: &Value) -> (usize, Vec<String>) {
    let own = policy
        .get("rules")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut origins = Vec::new();
    if policy.get("row_filter_dsl").is_some_and(|v| !v.is_null()) {
        origins.push("row_filter_dsl".to_string());
    }
    if let Some(masks) = policy.get("column_masks").and_then(Value::as_object) {
        origins.extend(masks.keys().map(|k| format!("column_masks.{k}")));
    }
    (own, origins)
}

/// The engine's problems in compiled rules, named by the seed field the rule came from
/// (`row_filter_dsl`, `column_masks.ssn.kind`, `table_name`) rather than by a rule the
/// author never wrote.
fn with_seed_fields(mut err: ApiError, origins: &[(usize, Vec<String>)]) -> ApiError {
    let Some(Value::Array(problems)) = err.details.as_mut().and_then(|d| d.get_mut("problems"))
    else {
        return err;
    };
    for p in problems.iter_mut() {
        let index = p
            .get("policy_index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0);
        let Some(rule) = p
            .get("rule_index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
        else {
            continue;
        };
        let Some((own, list)) = origins.get(index) else {
            continue;
        };
        let Some(origin) = rule.checked_sub(*own).and_then(|k| list.get(k)) else {
            continue;
        };
        let field = p.get("field").and_then(Value::as_str).unwrap_or("");
        let rest = field.strip_prefix(&format!("rules[{rule}]")).unwrap_or("");
        let mapped = if rest == ".table" {
            "table_name".to_string()
        } else if let Some(mask) = rest.strip_prefix(".mask") {
            format!("{origin}{mask}")
        } else {
            origin.clone()
        };
        if let Some(obj) = p.as_object_mut() {
            obj.insert("field".into(), json!(mapped));
            obj.remove("rule_index");
        }
    }
    err
}

/// Marks that the organization's active set changed (caches compare this number).
pub async fn bump_generation(tx: &mut Tx, org: &str) -> ApiResult<()> {
    sqlx::query("UPDATE orgs SET generation = generation + 1 WHERE id = $1")
        .bind(org)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An immutable snapshot of a policy: what a version records.
pub fn snapshot(body: &Map<String, Value>, specs: &[AssignmentSpec], deleted: bool) -> Value {
    json!({ "policy": body, "assignments": specs, "deleted": deleted })
}

/// A snapshot's assignments ([`snapshot`]); none when it has none or they do not read.
pub fn snapshot_specs(snapshot: &Value) -> Vec<AssignmentSpec> {
    snapshot
        .get("assignments")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// A snapshot's policy body and assignments ([`snapshot`]).
pub fn snapshot_parts(snapshot: &Value) -> ApiResult<(Map<String, Value>, Vec<AssignmentSpec>)> {
    let body = snapshot
        .get("policy")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::internal("a stored snapshot has no policy"))?;
    Ok((body, snapshot_specs(snapshot)))
}

/// The top-level fields in which two snapshots differ.
pub fn changed_fields(before: Option<&Value>, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let body = |s: Option<&Value>| -> Map<String, Value> {
        s.and_then(|s| s.get("policy"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (a, b) = (body(before), body(Some(after)));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut fields: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    for extra in ["assignments", "deleted"] {
        if before.and_then(|s| s.get(extra)) != after.get(extra) {
            fields.push(extra.to_string());
        }
    }
    fields
}

/// Appends version `version` of a policy inside `tx`.
#[allow(clippy::too_many_arguments)]
pub async fn write_version(
    tx: &mut Tx,
    org: &str,
    policy: &str,
    version: i64,
    action: &str,
    snapshot: &Value,
    changed: &[String],
    author: &str,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO policy_versions (org_id, policy_id, version, action, snapshot, changed_fields, author, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(org)
    .bind(policy)
    .bind(version)
    .bind(action)
    .bind(snapshot.to_string())
    .bind(serde_json::to_string(changed).unwrap_or_else(|_| "[]".to_string()))
    .bind(author)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The snapshot of a policy's latest version that was in force (proposed versions of
/// change requests that were never published aside).
pub async fn latest_snapshot(tx: &mut Tx, org: &str, policy: &str) -> ApiResult<Option<Value>> {
    let row = sqlx::query(
        "SELECT snapshot FROM policy_versions v WHERE v.org_id = $1 AND v.policy_id = $2 \
         AND NOT EXISTS (SELECT 1 FROM change_requests c WHERE c.org_id = v.org_id \
         AND c.policy_id = v.policy_id AND c.version = v.version AND c.status <> 'published') \
         ORDER BY v.version DESC LIMIT 1",
    )
    .bind(org)
    .bind(policy)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => {
            let text: String = row.try_get(0)?;
            Ok(serde_json::from_str(&text).ok())
        }
        None => Ok(None),
    }
}

/// Checks an `If-Match` value against the current revision: 412 with the current
/// revision when stale. `None` means the header was absent.
pub fn check_revision(if_match: Option<i64>, current: i64) -> ApiResult<()> {
    match if_match {
        Some(r) if r == current => Ok(()),
        Some(r) => Err(ApiError::new(
            axum::http::StatusCode::PRECONDITION_FAILED,
            "stale_revision",
            format!("revision {r} is stale; the policy is at revision {current}"),
        )
        .with_details(json!({ "current_revision": current }))),
        None => Ok(()),
    }
}

/// The id of the organization named `name`, if it exists (organizations are created with
/// their first token).
pub async fn org_id(db: &crate::Db, name: &str) -> ApiResult<Option<String>> {
    let row = sqlx::query("SELECT id FROM orgs WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.read)
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, value: &str) -> AssignmentSpec {
        AssignmentSpec {
            kind: kind.into(),
            value: value.into(),
        }
    }

    #[test]
    fn assignments_become_applies_to() {
        let body = json!({"id": "p", "rules": []});
        let body = body.as_object().unwrap();
        let specs = [
            spec("role", "analyst"),
            spec("user", "bob"),
            spec("workspace", "sales"),
            spec("dataset", "mart"),
            spec("everyone", "*"),
        ];
        let policy = engine_policy(body, &specs);
        assert_eq!(
            policy["applies_to"],
            json!({"users": ["bob"], "roles": ["analyst"], "workspaces": ["sales"], "datasets": ["mart"]})
        );
        // Only scopes: every principal, inside the scope.
        assert_eq!(
            engine_policy(body, &[spec("dataset", "mart"), spec("query", "q-1")])["applies_to"],
            json!({"datasets": ["mart"], "queries": ["q-1"]})
        );
        assert!(engine_policy(body, &[spec("everyone", "*")])
            .get("applies_to")
            .is_none());
    }

    #[test]
    fn assignment_specs_are_checked_and_normalized() {
        let specs = normalize_specs(vec![
            spec("role", "b"),
            spec("role", "a"),
            spec("role", "b"),
        ]);
        assert_eq!(specs.unwrap(), [spec("role", "a"), spec("role", "b")]);
        assert!(normalize_specs(vec![spec("planet", "x")]).is_err());
        assert!(normalize_specs(vec![spec("role", " ")]).is_err());
        assert!(normalize_specs(vec![spec("everyone", "all")]).is_err());
        assert!(normalize_specs(vec![spec("everyone", "*"), spec("user", "u")]).is_err());
        assert!(normalize_specs(vec![spec("everyone", "*"), spec("workspace", "w")]).is_ok());
    }

    #[test]
    fn changed_fields_of_snapshots() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let a = snapshot(&body(json!({"id": "p", "priority": 1})), &[], false);
        let b = snapshot(
            &body(json!({"id": "p", "priority": 2, "name": "n"})),
            &[spec("role", "r")],
            true,
        );
        assert_eq!(
            changed_fields(Some(&a), &b),
            ["name", "priority", "assignments", "deleted"]
        );
        assert_eq!(
            changed_fields(None, &a),
            ["id", "priority", "assignments", "deleted"]
        );
    }
}
