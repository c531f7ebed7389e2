//! `POST /api/v1/policies/compile`: a policy as JSON or YAML in; the normalized policy,
//! as it would be stored, or every problem out. Pure compute: nothing is stored.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiBytes;
use crate::store;
use crate::AppState;

/// A policy as written, JSON or YAML: any object (its problems are the answer).
#[derive(Debug, utoipa::ToSchema)]
#[schema(example = json!({"id": "tenant-isolation", "name": "Tenant isolation",
    "applies_to": {"roles": ["analyst"]},
    "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}]}))]
pub struct PolicySource(pub HashMap<String, Value>);

/// A problem of a compiled policy: the field (a JSON path) and, from the engine, the rule
/// and the place inside a predicate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompileProblem {
    pub field: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

/// What compiling a policy gives.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompileResult {
    /// Whether the policy would be accepted by `POST /api/v1/policies`.
    pub valid: bool,
    /// The policy as it would be stored (with its `assignments`), when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<verdict_api_model::Policy>, nullable = false)]
    pub policy: Option<Value>,
    /// Every problem, when not valid.
    pub problems: Vec<CompileProblem>,
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn parse(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let mime = media_type(headers);
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        return crate::extract::parse_json(body);
    }
    if matches!(
        mime.as_str(),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
    ) {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the YAML body is not UTF-8"))?;
        if text.trim().is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_yaml",
                "the body is empty; a YAML document is expected",
            ));
        }
        let yaml = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| {
            let message = e.to_string();
            // Well-formed YAML holding what the parser cannot represent (an integer
            // beyond 64 bits) is content the API does not take, not malformed text.
            if message.contains("invalid type") || message.contains("out of range") {
                ApiError::invalid(format!(
                    "the YAML document holds a value the API cannot read: {message}"
                ))
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_yaml",
                    format!("the body is not valid YAML: {message}"),
                )
            }
        })?;
        // Valid YAML that JSON cannot hold (a tagged value, a number out of range).
        return serde_json::to_value(&yaml)
            .map_err(|e| ApiError::invalid(format!("the YAML document has no JSON form: {e}")));
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "the body must be JSON (`application/json`) or YAML (`application/yaml`)",
    ))
}

fn problems_of(err: &ApiError) -> Vec<Value> {
    match err
        .details
        .as_ref()
        .and_then(|d| d.get("problems"))
        .and_then(Value::as_array)
    {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!(verdict_engine::Problem::new(
            verdict_engine::ProblemKind::InvalidValue,
            "",
            err.message.clone()
        ))],
    }
}

fn problem(v: &Value) -> CompileProblem {
    CompileProblem {
        field: v
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        message: v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        rule_index: v.get("rule_index").and_then(Value::as_u64),
        line: v.get("line").and_then(Value::as_u64),
        column: v.get("column").and_then(Value::as_u64),
    }
}

/// Checks a policy as `POST /api/v1/policies` would (types, bounds, the engine against the
/// organization's catalog) and answers the normalized policy or every problem.
#[utoipa::path(post, operation_id = "compilePolicy", path = "/api/v1/policies/compile", tag = "policies",
    request_body(description = "a policy, JSON or YAML",
        content((PolicySource = "application/json"), (PolicySource = "application/yaml"))),
    responses((status = 200, description = "`valid` with the normalized policy, or every problem", body = CompileResult)),
    security(("bearer" = [])))]
pub async fn compile(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<CompileResult>> {
    let value = parse(&headers, &body)?;
    if !value.is_object() {
        return Err(ApiError::invalid("a policy is an object"));
    }
    let catalog = store::catalog(&state.db.read, &principal.org_id).await?;
    let mut found: Vec<Value> = Vec::new();
    let mut policy = None;
    match crate::policies::split_create(value.clone()) {
        Ok((body, specs)) => {
            match store::validate(&catalog, vec![store::engine_policy(&body, &specs)]) {
                Ok(_) => {
                    let mut stored = body;
                    if !specs.is_empty() {
                        stored.insert("assignments".to_string(), json!(specs));
                    }
                    policy = Some(Value::Object(stored));
                }
                Err(e) => found.extend(problems_of(&e)),
            }
        }
        Err(e) => {
            found.extend(problems_of(&e));
            // The engine's view too, against the catalog: tables, columns, predicates.
            let mut raw = value;
            if let Value::Object(obj) = &mut raw {
                obj.remove("assignments");
            }
            if let Err(engine) = store::validate(&catalog, vec![raw]) {
                for p in problems_of(&engine) {
                    let field = p.get("field").and_then(Value::as_str).unwrap_or("");
                    if !found
                        .iter()
                        .any(|q| q.get("field").and_then(Value::as_str) == Some(field))
                    {
                        found.push(p);
                    }
                }
            }
        }
    }
    Ok(Json(CompileResult {
        valid: policy.is_some(),
        policy,
        problems: found.iter().map(problem).collect(),
    }))
}
