//! `/api/v1/policies`: list, read, create, update and delete stored policies.

use std::cmp::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use verdict_engine::policy::ASSIGNMENT_KINDS;

use crate::audit;
use crate::auth::Principal;
use crate::db::{format_time, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::extract::{ApiPath, ApiQuery};
use crate::store::{self, Assignment, AssignmentSpec, PolicyRow};
use crate::AppState;

/// Checks that a policy id is safe in a URL path: letters, digits, `.`, `_`, `:`, `-`.
pub fn check_id(id: &str) -> ApiResult<()> {
    if verdict_api_model::id_ok(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!(
                "policy id `{id}` is not allowed: use 1–{} letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit, other than {}",
                verdict_api_model::policy::MAX_ID_LEN,
                verdict_api_model::policy::RESERVED_IDS.join(", ")
            ),
        )
        .with_problem(verdict_engine::ProblemKind::InvalidValue, "id", "invalid policy id"))
    }
}

/// Parses `value` as `T`, or answers 422 with `code` and the JSON path of the field that
/// does not fit (`rules[0].predicate`). The value must also be exactly what `T` prints
/// back (nulls aside): serde's leniencies, such as a variant named by its index, are
/// refused, so the body is always what the OpenAPI document says.
pub fn typed<T>(value: Value, code: &'static str) -> ApiResult<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let unfit = |field: String, message: String| {
        let text = if field.is_empty() {
            message.clone()
        } else {
            format!("`{field}`: {message}")
        };
        let kind = verdict_engine::ProblemKind::of_serde_message(&message);
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, text)
            .with_problem(kind, &field, message)
    };
    let parsed: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let mut field = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        // A missing field is reported at its parent; name the field itself.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        unfit(field, message)
    })?;
    let printed = serde_json::to_value(&parsed).map_err(ApiError::internal)?;
    let mut value = value;
    full_as_redact(&mut value);
    if let Some(field) = first_difference(&without_nulls(value), &without_nulls(printed), "") {
        return Err(unfit(field, "has a form the API does not take".to_string()));
    }
    Ok(parsed)
}

/// The mask kind `full` written as `redact`, its meaning (the API reads `full` as an alias
/// and stores `redact`): in each rule's `mask` (a kind's name or an object's `kind`) and
/// each value of `column_masks`, of a policy, a PATCH body or a draft set's policies.
fn full_as_redact(value: &mut Value) {
    fn canonical(mask: &mut Value) {
        match mask {
            Value::String(kind) if kind == "full" => *kind = "redact".to_string(),
            Value::Object(obj) => {
                if let Some(kind) = obj.get_mut("kind") {
                    if kind == "full" {
                        *kind = json!("redact");
                    }
                }
            }
            _ => {}
        }
    }
    let Value::Object(obj) = value else { return };
    if let Some(Value::Array(rules)) = obj.get_mut("rules") {
        for rule in rules.iter_mut() {
            if let Some(mask) = rule.get_mut("mask") {
                canonical(mask);
            }
        }
    }
    if let Some(Value::Object(masks)) = obj.get_mut("column_masks") {
        masks.values_mut().for_each(canonical);
    }
    if let Some(Value::Array(policies)) = obj.get_mut("policies") {
        policies.iter_mut().for_each(full_as_redact);
    }
}

/// A JSON value without its null members (an absent field and a null one mean the same).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(obj) => Value::Object(
            obj.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The path of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &path) {
                            return Some(d);
                        }
                    }
                    None => return Some(path),
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| {
                if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{at}[{i}]"))),
        _ => (a != b).then(|| at.to_string()),
    }
}

/// The 422 for a policy's problems beyond its types.
fn problems_error(problems: Vec<verdict_engine::Problem>) -> ApiError {
    let first = problems
        .first()
        .map(|p| format!("`{}` {}", p.field, p.message))
        .unwrap_or_default();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_policy",
        format!("the policy does not validate: {first}"),
    )
    .with_problems(problems)
}

/// A policy body checked against the API's types and bounds (`name` and `rules`
/// required, lists of strings, string label values, bounded sizes) and returned in its
/// normalized form, as it is stored.
pub fn normalize(value: Value) -> ApiResult<Map<String, Value>> {
    let engine_view = value.clone();
    checked(value).map_err(|e| with_engine_problems(e, engine_view))
}

fn checked(value: Value) -> ApiResult<Map<String, Value>> {
    let policy: verdict_api_model::Policy = typed(value, "invalid_policy").map_err(|mut e| {
        // Assignments have their own code, as on the assignment endpoints.
        let field = e
            .details
            .as_ref()
            .and_then(|d| d.pointer("/problems/0/field"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if field.starts_with("assignments") || field.starts_with("applies_to") {
            e.code = "invalid_request";
        }
        e
    })?;
    let mut problems = policy.problems();
    if let Some(tree) = &policy.row_filter_dsl {
        if let Err(found) = verdict_engine::policy::dsl::compile_row_filter(tree, "row_filter_dsl")
        {
            problems.extend(found);
        }
    }
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    match serde_json::to_value(&policy) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::internal(
            "a policy did not serialize to an object",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Adds to a rejected policy's problems those the engine finds in it (a predicate that
/// does not parse, an unknown mask kind), so that one answer lists every problem.
fn with_engine_problems(mut err: ApiError, mut value: Value) -> ApiError {
    if err.code != "invalid_policy" {
        return err;
    }
    let mut found = Vec::new();
    if let Value::Object(obj) = &mut value {
        obj.remove("assignments");
        for required in ["id", "name", "rules"] {
            if obj.get(required).is_none_or(Value::is_null) {
                found.push(json!(verdict_engine::Problem::new(
                    verdict_engine::ProblemKind::Missing,
                    required,
                    format!("`{required}` is required")
                )));
            }
        }
    }
    if let Err(engine) = store::validate(&Value::Null, vec![value]) {
        if let Some(Value::Array(more)) = engine.details.and_then(|d| d.get("problems").cloned()) {
            found.extend(more);
        }
    }
    if let Some(Value::Array(ours)) = err.details.as_mut().and_then(|d| d.get_mut("problems")) {
        for problem in found {
            let field = problem.get("field").and_then(Value::as_str).unwrap_or("");
            if !ours
                .iter()
                .any(|p| p.get("field").and_then(Value::as_str) == Some(field))
            {
                ours.push(problem);
            }
        }
    }
    err
}

/// The JSON a client sees for a stored policy.
/// A policy's type: as given, or derived from its rules.
pub fn effective_type(body: &Map<String, Value>) -> &'static str {
    if let Some(t) = body.get("policy_type").and_then(Value::as_str) {
        if let Some((name, _)) = verdict_api_model::PolicyType::ALL
            .iter()
            .find(|(n, _)| *n == t)
        {
            return name;
        }
    }
    let rules = body.get("rules").and_then(Value::as_array);
    // Seed 001's fields count as the rules they become.
    let compiled = [
        (
            "row_filter",
            body.get("row_filter_dsl").is_some_and(|v| !v.is_null()),
        ),
        (
            "column_mask",
            body.get("column_masks")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty()),
        ),
    ];
    verdict_api_model::PolicyType::of_rules(
        rules
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r.get("type").and_then(Value::as_str).unwrap_or(""),
                    r.get("columns").is_some_and(|c| !c.is_null()),
                )
            })
            .chain(
                compiled
                    .into_iter()
                    .filter(|(_, has)| *has)
                    .map(|(t, _)| (t, false)),
            ),
    )
    .as_str()
}

pub fn resource(row: &PolicyRow, assignments: &[Assignment]) -> Value {
    // `policy_type` is answered as stored (absent when the policy gives none; filters and
    // the dashboard derive it): a client that hands the policy back to the engine, such as
    // the editor's live preview, then sees no field the engine does not know.
    let mut obj = row.body.clone();
    obj.entry("source").or_insert_with(|| json!("manual"));
    obj.insert("assignments".into(), json!(assignments));
    obj.insert("assigned".into(), json!(!assignments.is_empty()));
    obj.insert("revision".into(), json!(row.revision));
    obj.insert("created_at".into(), json!(format_time(row.created_at)));
    obj.insert("created_by".into(), json!(row.created_by));
    obj.insert("updated_at".into(), json!(format_time(row.updated_at)));
    obj.insert("updated_by".into(), json!(row.updated_by));
    Value::Object(obj)
}

/// A response with the policy and its revision as `ETag`.
fn with_etag(status: StatusCode, revision: i64, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The revision in `If-Match` (`"3"`, `W/"3"` or `3`); `None` when absent.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    parse_revision_tag(text).map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`If-Match` must be a revision this server gave as `ETag`, such as \"3\"; got `{}`",
            value.to_str().unwrap_or("?")
        ))
    })
}

/// `"3"`, `W/"3"` or `3` (1–18 digits, as the OpenAPI document's pattern says).
fn parse_revision_tag(text: &str) -> Option<i64> {
    let text = text.strip_prefix("W/").unwrap_or(text);
    let digits = match text.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => text,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn require_if_match(headers: &HeaderMap) -> ApiResult<i64> {
    if_match(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "send `If-Match: <revision>` with the revision you read (the `ETag` of GET)",
        )
    })
}

/// Query of `GET /api/v1/policies`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Skip this many policies (instead of `cursor`).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only policies with a rule of this type (`row_filter`, `column_mask`, `deny`, …).
    #[serde(rename = "type")]
    pub rule_type: Option<String>,
    /// `true` or `false`.
    pub enabled: Option<bool>,
    /// `enforce` or `monitor`.
    #[param(value_type = Option<verdict_api_model::Mode>)]
    pub mode: Option<String>,
    /// Only policies of this type (as given, or derived from the rules).
    #[param(value_type = Option<verdict_api_model::PolicyType>)]
    pub policy_type: Option<String>,
    /// Only policies with this compliance tag.
    pub compliance_tag: Option<String>,
    /// Only policies with this purpose tag.
    pub purpose_tag: Option<String>,
    /// `key` or `key=value`.
    pub label: Option<String>,
    /// Only policies with (`true`) or without (`false`) assignments.
    pub assigned: Option<bool>,
    /// Only policies about this table: their `table_name` or a rule's table.
    #[param(min_length = 1)]
    pub table: Option<String>,
    /// Only the policy with this `external_id`.
    #[param(min_length = 1)]
    pub external_id: Option<String>,
    /// Only policies from this source (`manual` includes those that give none).
    #[param(value_type = Option<verdict_api_model::PolicyOrigin>)]
    pub source: Option<String>,
    /// Case-insensitive text search in id, name, description, `table_name` and rule tables.
    pub q: Option<String>,
    /// `id` (default), `name`, `priority`, `created_at`, `updated_at`, `revision`;
    /// prefix `-` for descending.
    #[param(pattern = "^-?(id|name|priority|created_at|updated_at|revision)$")]
    pub sort: Option<String>,
}

/// A page of policies.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyPage {
    #[schema(value_type = Vec<verdict_api_model::PolicyResource>)]
    pub items: Vec<Value>,
    /// How many policies match the filters.
    pub total: usize,
    pub limit: i64,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Int(i64),
    Text(String),
}

fn sort_key(row: &PolicyRow, field: &str) -> SortKey {
    match field {
        "priority" => SortKey::Int(
            row.body
                .get("priority")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        ),
        "created_at" => SortKey::Int(row.created_at),
        "updated_at" => SortKey::Int(row.updated_at),
        "revision" => SortKey::Int(row.revision),
        "name" => SortKey::Text(
            row.body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase(),
        ),
        _ => SortKey::Text(row.id.clone()),
    }
}

fn key_json(key: &SortKey) -> Value {
    match key {
        SortKey::Int(i) => json!(i),
        SortKey::Text(t) => json!(t),
    }
}

fn key_from_json(v: &Value) -> Option<SortKey> {
    match v {
        Value::Number(n) => n.as_i64().map(SortKey::Int),
        Value::String(s) => Some(SortKey::Text(s.clone())),
        _ => None,
    }
}

fn str_list_contains(body: &Map<String, Value>, field: &str, wanted: &str) -> bool {
    body.get(field)
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|v| v.as_str() == Some(wanted)))
}

fn matches(row: &PolicyRow, assigned: bool, q: &ListQuery) -> bool {
    let body = &row.body;
    let rules = body.get("rules").and_then(Value::as_array);
    if let Some(t) = &q.rule_type {
        let has = rules.is_some_and(|rs| {
            rs.iter()
                .any(|r| r.get("type").and_then(Value::as_str) == Some(t))
        });
        if !has {
            return false;
        }
    }
    if let Some(t) = &q.policy_type {
        if effective_type(body) != t {
            return false;
        }
    }
    if let Some(enabled) = q.enabled {
        if body.get("enabled").and_then(Value::as_bool).unwrap_or(true) != enabled {
            return false;
        }
    }
    if let Some(mode) = &q.mode {
        if body
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("enforce")
            != mode
        {
            return false;
        }
    }
    if let Some(tag) = &q.compliance_tag {
        if !str_list_contains(body, "compliance_tags", tag) {
            return false;
        }
    }
    if let Some(tag) = &q.purpose_tag {
        if !str_list_contains(body, "purpose_tags", tag) {
            return false;
        }
    }
    if let Some(label) = &q.label {
        let labels = body.get("labels").and_then(Value::as_object);
        let ok = match label.split_once('=') {
            Some((k, v)) => labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v),
            None => labels.is_some_and(|l| l.contains_key(label.as_str())),
        };
        if !ok {
            return false;
        }
    }
    if let Some(want) = q.assigned {
        if want != assigned {
            return false;
        }
    }
    if let Some(table) = &q.table {
        let in_rules = rules.is_some_and(|rs| {
            rs.iter()
                .any(|r| r.get("table").and_then(Value::as_str) == Some(table.as_str()))
        });
        if body.get("table_name").and_then(Value::as_str) != Some(table.as_str()) && !in_rules {
            return false;
        }
    }
    if let Some(ext) = &q.external_id {
        if store::external_id(body) != Some(ext.as_str()) {
            return false;
        }
    }
    if let Some(source) = &q.source {
        if body
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("manual")
            != source
        {
            return false;
        }
    }
    if let Some(text) = &q.q {
        let needle = text.to_lowercase();
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        };
        let in_rules = rules.is_some_and(|rs| {
            rs.iter().any(|r| {
                r.get("table")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.to_lowercase().contains(&needle))
            })
        });
        if !(row.id.to_lowercase().contains(&needle)
            || field("name")
            || field("description")
            || field("table_name")
            || in_rules)
        {
            return false;
        }
    }
    true
}

/// Lists the organization's policies.
#[utoipa::path(get, operation_id = "listPolicies", path = "/api/v1/policies", tag = "policies", params(ListQuery),
    responses((status = 200, body = PolicyPage), (status = 400, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<PolicyPage>> {
    let limit = crate::pagination::limit(q.limit, 50)?;
    let (field, descending) = match q.sort.as_deref() {
        None => ("id", false),
        Some(s) => {
            let (name, desc) = match s.strip_prefix('-') {
                Some(rest) => (rest, true),
                None => (s, false),
            };
            if !matches!(
                name,
                "id" | "name" | "priority" | "created_at" | "updated_at" | "revision"
            ) {
                return Err(ApiError::bad_request(format!(
                    "cannot sort by `{name}`; use id, name, priority, created_at, updated_at or revision"
                )));
            }
            (name, desc)
        }
    };
    if let Some(mode) = &q.mode {
        if mode != "enforce" && mode != "monitor" {
            return Err(ApiError::bad_request(
                "`mode` must be `enforce` or `monitor`",
            ));
        }
    }
    if let Some(t) = &q.policy_type {
        if !verdict_api_model::PolicyType::ALL
            .iter()
            .any(|(n, _)| n == t)
        {
            return Err(ApiError::bad_request(format!(
                "unknown `policy_type` `{t}`; expected one of {}",
                verdict_api_model::PolicyType::ALL
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if let Some(source) = &q.source {
        if !verdict_engine::policy::dsl::SOURCES.contains(&source.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown `source` `{source}`; expected one of {}",
                verdict_engine::policy::dsl::SOURCES.join(", ")
            )));
        }
    }
    for (name, value) in [("table", &q.table), ("external_id", &q.external_id)] {
        if value.as_ref().is_some_and(String::is_empty) {
            return Err(ApiError::bad_request(format!("`{name}` must not be empty")));
        }
    }
    if q.offset.is_some() && q.cursor.is_some() {
        return Err(ApiError::bad_request("give `offset` or `cursor`, not both"));
    }
    let offset = match q.offset {
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(_) => return Err(ApiError::bad_request("`offset` must not be negative")),
        None => 0,
    };
    let mut conn = state.db.read.acquire().await?;
    let rows = store::live_policies(&mut *conn, &principal.org_id).await?;
    let assignments = store::all_assignments(&mut *conn, &principal.org_id).await?;
    drop(conn);
    let none = Vec::new();
    let mut hits: Vec<(SortKey, &PolicyRow)> = rows
        .iter()
        .filter(|r| {
            let assigned = assignments.get(&r.id).is_some_and(|a| !a.is_empty());
            matches(r, assigned, &q)
        })
        .map(|r| (sort_key(r, field), r))
        .collect();
    let order = |a: &(SortKey, &str), b: &(SortKey, &str)| -> Ordering {
        let o =
            a.0.partial_cmp(&b.0)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.1.cmp(b.1));
        if descending {
            o.reverse()
        } else {
            o
        }
    };
    hits.sort_by(|a, b| {
        order(
            &(a.0.clone(), a.1.id.as_str()),
            &(b.0.clone(), b.1.id.as_str()),
        )
    });
    let total = hits.len();
    let start = match &q.cursor {
        Some(c) => {
            let (key, id): (Value, String) = crate::pagination::decode_cursor(c)?;
            let key = key_from_json(&key).ok_or_else(|| {
                ApiError::bad_request("`cursor` is not a cursor this server gave")
            })?;
            let after = (key, id.as_str());
            hits.iter()
                .position(|(k, r)| order(&(k.clone(), r.id.as_str()), &after) == Ordering::Greater)
                .unwrap_or(total)
        }
        None => offset.min(total),
    };
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let page: Vec<&(SortKey, &PolicyRow)> = hits.iter().skip(start).take(page_len).collect();
    let next_cursor = if start + page.len() < total {
        page.last()
            .map(|(k, r)| crate::pagination::encode_cursor(&(key_json(k), &r.id)))
    } else {
        None
    };
    let items = page
        .iter()
        .map(|(_, r)| resource(r, assignments.get(&r.id).unwrap_or(&none)))
        .collect();
    Ok(Json(PolicyPage {
        items,
        total,
        limit,
        next_cursor,
    }))
}

/// Reads one policy with its rules, assignments and revision (also the `ETag`).
#[utoipa::path(get, operation_id = "getPolicy", path = "/api/v1/policies/{id}", tag = "policies",
    params(("id" = String, Path, description = "policy id")),
    responses((status = 200, description = "the policy; `ETag` is its revision", body = verdict_api_model::PolicyResource,
        headers(("ETag" = String, description = "the revision, for `If-Match`"))),
        (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let mut conn = state.db.read.acquire().await?;
    let row = store::live_policy(&mut *conn, &principal.org_id, &id).await?;
    let assignments = store::assignments(&mut *conn, &principal.org_id, &id).await?;
    Ok(with_etag(
        StatusCode::OK,
        row.revision,
        resource(&row, &assignments),
    ))
}

/// Splits a create body into the policy body and its assignments (`assignments`, and
/// `applies_to` converted to assignments).
pub(crate) fn split_create(value: Value) -> ApiResult<(Map<String, Value>, Vec<AssignmentSpec>)> {
    if !value.is_object() {
        return Err(ApiError::invalid("a policy must be a JSON object"));
    }
    let mut body = normalize(value)?;
    let mut specs = match body.remove("assignments") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value::<Vec<AssignmentSpec>>(v).map_err(|e| {
            ApiError::invalid(format!(
                "`assignments` must be an array of {{\"kind\", \"value\"}} objects: {e}"
            ))
        })?,
    };
    if let Some(applies_to) = body.remove("applies_to") {
        specs.extend(applies_to_specs(&applies_to)?);
    }
    let id = match body.get("id") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_policy",
                "a policy needs an `id` string",
            )
            .with_problem(
                verdict_engine::ProblemKind::Missing,
                "id",
                "a policy needs an `id` string",
            ))
        }
    };
    check_id(&id)?;
    Ok((body, store::normalize_specs(specs)?))
}

/// `applies_to` of a policy file as assignments.
fn applies_to_specs(value: &Value) -> ApiResult<Vec<AssignmentSpec>> {
    let bad = || {
        ApiError::invalid(
            "`applies_to` must be an object of string lists (users, roles, workspaces, data_sources, purposes, datasets, queries)",
        )
    };
    let obj = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Object(obj) => obj,
        _ => return Err(bad()),
    };
    let mut specs = Vec::new();
    for (key, list) in obj {
        let kind = ASSIGNMENT_KINDS
            .iter()
            .find(|(_, l)| *l == Some(key.as_str()))
            .map(|(k, _)| *k)
            .ok_or_else(bad)?;
        for item in list.as_array().ok_or_else(bad)? {
            let value = item.as_str().ok_or_else(bad)?;
            specs.push(AssignmentSpec {
                kind: kind.to_string(),
                value: value.to_string(),
            });
        }
    }
    Ok(specs)
}

/// Creates a policy, validated by the engine (every problem is listed with 422).
#[utoipa::path(post, operation_id = "createPolicy", path = "/api/v1/policies", tag = "policies",
    request_body(content = verdict_api_model::Policy, description = "a policy (SPEC §1), plus optional `assignments`; `applies_to` becomes assignments"),
    responses((status = 201, description = "created; `ETag` is the revision", body = verdict_api_model::PolicyResource,
        headers(("ETag" = String, description = "the revision"), ("Location" = String, description = "the policy's URL"))),
        (status = 409, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let (body, specs) = split_create(value)?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let catalog = store::catalog(&mut *tx, org).await?;
    store::validate(&catalog, vec![store::engine_policy(&body, &specs)])?;
    if let Some(existing) = store::load_policy(&mut *tx, org, &id).await? {
        let hint = if existing.deleted_at.is_some() {
            "it is deleted; roll back to one of its versions to restore it"
        } else {
            "use PATCH to change it"
        };
        return Err(ApiError::conflict(format!(
            "policy `{id}` already exists; {hint}"
        )));
    }
    if let Some(approvals) = crate::review::required(&mut *tx, org).await? {
        let snap = store::snapshot(&body, &specs, false);
        let changed = store::changed_fields(None, &snap);
        return crate::review::propose(
            tx, &principal, &id, 0, "create", &snap, &changed, approvals,
        )
        .await;
    }
    store::check_external_id(&mut tx, org, &id, &body).await?;
    // A change request proposed while review was required may hold version 1.
    let revision = crate::review::next_version(&mut tx, org, &id, 0).await?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO policies (org_id, id, body, revision, created_at, created_by, updated_at, updated_by) \
         VALUES ($1, $2, $3, $6, $4, $5, $4, $5)",
    )
    .bind(org)
    .bind(&id)
    .bind(Value::Object(body.clone()).to_string())
    .bind(now)
    .bind(&principal.user)
    .bind(revision)
    .execute(&mut *tx)
    .await?;
    store::sync_external_id(&mut tx, org, &id, &body).await?;
    store::set_assignments(&mut tx, org, &id, &specs, &principal.user).await?;
    let snap = store::snapshot(&body, &specs, false);
    let changed = store::changed_fields(None, &snap);
    store::write_version(
        &mut tx,
        org,
        &id,
        revision,
        "create",
        &snap,
        &changed,
        &principal.user,
    )
    .await?;
    let fields: Vec<&str> = changed.iter().map(String::as_str).collect();
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "policy.create",
        "policy",
        &id,
        &fields,
        Some(json!({ "revision": revision })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, &principal, &headers, "policy.create").await?;
    let row = store::live_policy(&mut *tx, org, &id).await?;
    let assignments = store::assignments(&mut *tx, org, &id).await?;
    tx.commit().await?;
    state.changed(org);
    let mut response = with_etag(StatusCode::CREATED, revision, resource(&row, &assignments));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/policies/{id}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// A merged body and, when the PATCH gave them, the new assignments.
type Merged = (Map<String, Value>, Option<Vec<AssignmentSpec>>);

/// Applies a PATCH body to a stored body: an omitted field is unchanged, `null` clears.
fn merge(id: &str, mut body: Map<String, Value>, patch: Map<String, Value>) -> ApiResult<Merged> {
    let mut specs = None;
    for (key, value) in patch {
        match key.as_str() {
            "id" => {
                if value.as_str() != Some(id) {
                    return Err(ApiError::invalid("`id` cannot be changed"));
                }
            }
            "applies_to" => {
                return Err(ApiError::invalid(
                    "where a policy applies is set by its `assignments`, not `applies_to`",
                ))
            }
            "assignments" => {
                let list = match value {
                    Value::Null => Vec::new(),
                    v => serde_json::from_value::<Vec<AssignmentSpec>>(v).map_err(|e| {
                        ApiError::invalid(format!(
                            "`assignments` must be an array of {{\"kind\", \"value\"}} objects: {e}"
                        ))
                    })?,
                };
                specs = Some(store::normalize_specs(list)?);
            }
            "name" | "rules" if value.is_null() => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_policy",
                    format!("`{key}` cannot be cleared; a policy always has one"),
                )
                .with_problem(
                    verdict_engine::ProblemKind::WrongType,
                    &key,
                    "must not be null",
                ));
            }
            _ => {
                if value.is_null() {
                    body.remove(&key);
                } else {
                    body.insert(key, value);
                }
            }
        }
    }
    Ok((body, specs))
}

/// Changes some fields of a policy; needs `If-Match: <revision>`; makes a new version.
#[utoipa::path(patch, operation_id = "patchPolicy", path = "/api/v1/policies/{id}", tag = "policies",
    params(("id" = String, Path, description = "policy id"),
        ("If-Match" = String, Header, description = "the revision being changed, as given in `ETag`", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    request_body(content = verdict_api_model::PolicyPatch, description = "fields to change; an omitted field is unchanged, `null` clears it; `assignments` replaces every assignment"),
    responses((status = 200, description = "the changed policy; `ETag` is its new revision", body = verdict_api_model::PolicyResource,
        headers(("ETag" = String, description = "the new revision"))),
        (status = 412, description = "stale revision; `details.current_revision` is the current one", body = crate::openapi::ErrorBody),
        (status = 428, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let expected = require_if_match(&headers)?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            "a PATCH body must be a JSON object of fields",
        ));
    }
    // The fields' types first: a malformed change is wrong whatever the revision.
    if value.get("applies_to").is_some() {
        return Err(ApiError::invalid(
            "where a policy applies is set by its `assignments`, not `applies_to`",
        ));
    }
    if value
        .get("id")
        .is_some_and(|v| v.as_str() != Some(id.as_str()))
    {
        return Err(ApiError::invalid("`id` cannot be changed"));
    }
    let _: verdict_api_model::PolicyPatch = typed(value.clone(), "invalid_policy")?;
    let Value::Object(patch) = value else {
        return Err(ApiError::invalid(
            "a PATCH body must be a JSON object of fields",
        ));
    };
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let row = store::live_policy(&mut *tx, org, &id).await?;
    let (body, new_specs) = merge(&id, row.body.clone(), patch)?;
    let body = normalize(Value::Object(body))?;
    update(
        &state, &principal, &headers, &id, expected, tx, row, body, new_specs,
    )
    .await
}

/// Replaces a policy whole; needs `If-Match: <revision>`; makes a new version.
/// `assignments` (or `applies_to`) replace the assignments when given; absent, they stay.
#[utoipa::path(put, operation_id = "replacePolicy", path = "/api/v1/policies/{id}", tag = "policies",
    params(("id" = String, Path, description = "policy id"),
        ("If-Match" = String, Header, description = "the revision being replaced, as given in `ETag`", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    request_body(content = verdict_api_model::Policy, description = "the whole policy; its `id` must be the path's"),
    responses((status = 200, description = "the replaced policy; `ETag` is its new revision", body = verdict_api_model::PolicyResource,
        headers(("ETag" = String, description = "the new revision"))),
        (status = 412, description = "stale revision; `details.current_revision` is the current one", body = crate::openapi::ErrorBody),
        (status = 428, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let expected = require_if_match(&headers)?;
    if !value.is_object() {
        return Err(ApiError::invalid("a policy must be a JSON object"));
    }
    let given_assignments = value.get("assignments").is_some() || value.get("applies_to").is_some();
    let (body, specs) = split_create(value)?;
    if body.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(ApiError::invalid(
            "`id` must be the policy's own; a policy cannot be renamed",
        ));
    }
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let row = store::live_policy(&mut *tx, org, &id).await?;
    let new_specs = given_assignments.then_some(specs);
    update(
        &state, &principal, &headers, &id, expected, tx, row, body, new_specs,
    )
    .await
}

/// Writes a changed policy body (and assignments) at `expected`'s revision: the shared end
/// of PATCH and PUT.
#[allow(clippy::too_many_arguments)]
async fn update(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    id: &str,
    expected: i64,
    mut tx: crate::audit::Tx,
    row: PolicyRow,
    body: Map<String, Value>,
    new_specs: Option<Vec<AssignmentSpec>>,
) -> ApiResult<Response> {
    let org = principal.org_id.as_str();
    let id = id.to_string();
    if expected != row.revision {
        let assignments = store::assignments(&mut *tx, org, &id).await?;
        return Err(stale(expected, &row, &assignments));
    }
    let old_specs: Vec<AssignmentSpec> = store::assignments(&mut *tx, org, &id)
        .await?
        .iter()
        .map(Assignment::spec)
        .collect();
    let specs = new_specs.clone().unwrap_or_else(|| old_specs.clone());
    let catalog = store::catalog(&mut *tx, org).await?;
    store::validate(&catalog, vec![store::engine_policy(&body, &specs)])?;
    let before = store::snapshot(&row.body, &old_specs, false);
    let after = store::snapshot(&body, &specs, false);
    let changed = store::changed_fields(Some(&before), &after);
    if changed.is_empty() {
        let assignments = store::assignments(&mut *tx, org, &id).await?;
        tx.commit().await?;
        return Ok(with_etag(
            StatusCode::OK,
            row.revision,
            resource(&row, &assignments),
        ));
    }
    if let Some(approvals) = crate::review::required(&mut *tx, org).await? {
        return crate::review::propose(
            tx,
            principal,
            &id,
            row.revision,
            "update",
            &after,
            &changed,
            approvals,
        )
        .await;
    }
    store::check_external_id(&mut tx, org, &id, &body).await?;
    let revision = crate::review::next_version(&mut tx, org, &id, row.revision).await?;
    let updated = sqlx::query(
        "UPDATE policies SET body = $1, revision = $2, updated_at = $3, updated_by = $4 \
         WHERE org_id = $5 AND id = $6 AND revision = $7 AND deleted_at IS NULL",
    )
    .bind(Value::Object(body.clone()).to_string())
    .bind(revision)
    .bind(now_ms())
    .bind(&principal.user)
    .bind(org)
    .bind(&id)
    .bind(row.revision)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        // Another writer changed it between our read and our write.
        drop(tx);
        let mut conn = state.db.read.acquire().await?;
        let current = store::live_policy(&mut *conn, org, &id).await?;
        let assignments = store::assignments(&mut *conn, org, &id).await?;
        return Err(stale(expected, &current, &assignments));
    }
    store::sync_external_id(&mut tx, org, &id, &body).await?;
    if new_specs.is_some() && changed.iter().any(|f| f == "assignments") {
        store::set_assignments(&mut tx, org, &id, &specs, &principal.user).await?;
    }
    store::write_version(
        &mut tx,
        org,
        &id,
        revision,
        "update",
        &after,
        &changed,
        &principal.user,
    )
    .await?;
    let fields: Vec<&str> = changed.iter().map(String::as_str).collect();
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "policy.update",
        "policy",
        &id,
        &fields,
        Some(json!({ "revision": revision })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, principal, headers, "policy.update").await?;
    let row = store::live_policy(&mut *tx, org, &id).await?;
    let assignments = store::assignments(&mut *tx, org, &id).await?;
    tx.commit().await?;
    state.changed(org);
    Ok(with_etag(
        StatusCode::OK,
        revision,
        resource(&row, &assignments),
    ))
}

/// The 412 answer: the current revision and the current policy.
fn stale(expected: i64, current: &PolicyRow, assignments: &[Assignment]) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "stale_revision",
        format!(
            "revision {expected} is stale; the policy is at revision {}",
            current.revision
        ),
    )
    .with_details(json!({
        "current_revision": current.revision,
        "current": resource(current, assignments),
    }))
}

/// Deletes a policy softly: no longer listed or applied; restorable by rollback.
#[utoipa::path(delete, operation_id = "deletePolicy", path = "/api/v1/policies/{id}", tag = "policies",
    params(("id" = String, Path, description = "policy id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "optional: the revision being deleted", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    responses((status = 200, description = "deleted; the new revision", body = verdict_api_model::Deleted),
        (status = 404, body = crate::openapi::ErrorBody), (status = 412, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let expected = if_match(&headers)?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let row = store::live_policy(&mut *tx, org, &id).await?;
    let assignments = store::assignments(&mut *tx, org, &id).await?;
    if let Some(expected) = expected {
        if expected != row.revision {
            return Err(stale(expected, &row, &assignments));
        }
    }
    let specs: Vec<AssignmentSpec> = assignments.iter().map(Assignment::spec).collect();
    let before = store::snapshot(&row.body, &specs, false);
    let after = store::snapshot(&row.body, &specs, true);
    let changed = store::changed_fields(Some(&before), &after);
    if let Some(approvals) = crate::review::required(&mut *tx, org).await? {
        return crate::review::propose(
            tx,
            &principal,
            &id,
            row.revision,
            "delete",
            &after,
            &changed,
            approvals,
        )
        .await;
    }
    let revision = crate::review::next_version(&mut tx, org, &id, row.revision).await?;
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE policies SET deleted_at = $1, revision = $2, updated_at = $1, updated_by = $3 \
         WHERE org_id = $4 AND id = $5 AND revision = $6 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(revision)
    .bind(&principal.user)
    .bind(org)
    .bind(&id)
    .bind(row.revision)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::conflict(format!(
            "policy `{id}` changed while it was being deleted; read it again"
        )));
    }
    store::write_version(
        &mut tx,
        org,
        &id,
        revision,
        "delete",
        &after,
        &changed,
        &principal.user,
    )
    .await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "policy.delete",
        "policy",
        &id,
        &["deleted"],
        Some(json!({ "revision": revision })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, &principal, &headers, "policy.delete").await?;
    tx.commit().await?;
    state.changed(org);
    Ok(with_etag(
        StatusCode::OK,
        revision,
        json!({ "id": id, "deleted": true, "deleted_at": format_time(now), "revision": revision }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_ids_are_url_safe() {
        for ok in ["tenant-isolation", "a", "p.1", "team:pii_v2"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "-a",
            "a/b",
            "a b",
            "é",
            "dashboard",
            "replay",
            long.as_str(),
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn if_match_forms() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(if_match(&headers("\"3\"")).unwrap(), Some(3));
        assert_eq!(if_match(&headers("W/\"3\"")).unwrap(), Some(3));
        assert_eq!(if_match(&headers("3")).unwrap(), Some(3));
        assert!(if_match(&headers("*")).is_err());
        for bad in [
            "+3",
            "\"3",
            "3\"",
            "W/",
            "\"\"",
            "1234567890123456789",
            "-1",
        ] {
            assert!(if_match(&headers(bad)).is_err(), "{bad}");
        }
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
    }
}
