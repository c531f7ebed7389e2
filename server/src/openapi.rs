//! The OpenAPI 3 document, generated from the handlers' annotations.

use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// `{"error": {...}}`, the body of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_policy", "message": "the policy does not validate", "details": {"problems": [{"kind": "invalid_value", "field": "name", "message": "must not be empty"}]}}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code such as `invalid_policy`, `stale_revision`, `not_found`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
    /// More, when there is more: `problems` of an invalid policy, `current_revision` of a
    /// stale one.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `GET /health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /api/v1/me`: who the token belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"org": "default", "user": "admin", "role": "admin", "token_id": "tok_0123"}))]
pub struct Me {
    pub org: String,
    pub user: String,
    pub role: crate::auth::Role,
    pub token_id: String,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a token from `verdict token create`"))
                    .build(),
            ),
        );
    }
}

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Verdict Policies API", description = "Stores policies and asks the Verdict engine for verdicts. Every endpoint but /health needs `Authorization: Bearer <token>`. Errors are always `{\"error\": {\"code\", \"message\", \"details\"?}}`."),
    components(schemas(ErrorBody, ErrorDetail, crate::auth::Role)),
    modifiers(&Bearer),
    tags(
        (name = "policies", description = "stored policies"),
        (name = "versions", description = "immutable snapshots, diffs, rollback"),
        (name = "review", description = "change requests: proposed versions, their reviews and publishing, when the organization requires review"),
        (name = "assignments", description = "where a policy applies"),
        (name = "exceptions", description = "time- or count-bound carve-outs"),
        (name = "evaluate", description = "dry runs, audited evaluations, replays"),
        (name = "catalog", description = "the organization's tables and columns"),
        (name = "audit", description = "who changed what, when"),
        (name = "data sources", description = "PostgreSQL databases for the data preview \"as this user\"; credentials are never answered"),
        (name = "principals", description = "the logins of `verdict proxy`, with the context their statements run with"),
    )
)]
pub struct ApiDoc;

/// The error statuses every operation of a kind can answer, with what they mean.
const COMMON_ERRORS: &[(&str, &str)] = &[
    ("400", "malformed JSON, or a bad path, query string or header"),
    ("401", "missing, invalid or revoked token; `WWW-Authenticate: Bearer` says how to authenticate"),
    ("403", "the token's role may not do this"),
    ("404", "no such object in the caller's organization"),
    ("412", "`If-Match` names a stale revision; `details.current_revision` is the current one"),
    ("413", "the body is larger than the server accepts"),
    ("415", "the body is not `Content-Type: application/json`"),
    ("422", "well-formed JSON whose content is wrong; `details.problems` lists every problem with its field"),
    ("500", "a fault of the server or its database; nothing was changed"),
];

fn error_response(status: &str, description: &str) -> RefOr<Response> {
    let mut builder = ResponseBuilder::new().description(description);
    if status == "401" {
        builder = builder.header(
            "WWW-Authenticate",
            utoipa::openapi::HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                )
                .description(Some(
                    "`Bearer realm=\"verdict\"`, with `error=\"invalid_token\"` when a token was given",
                ))
                .build(),
        );
    }
    RefOr::T(
        builder
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// Which common errors an operation can answer.
fn statuses(method: &str, path: &str, op: &Operation) -> Vec<&'static str> {
    let mut out = vec!["500"];
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured {
        out.push("401");
    }
    let params = op.parameters.as_deref().unwrap_or(&[]);
    let in_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let other = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
    if in_path || other || op.request_body.is_some() {
        out.push("400");
    }
    if in_path {
        out.push("404");
    }
    if op.request_body.is_some() {
        out.extend(["413", "415", "422"]);
    }
    if params.iter().any(|p| p.name == "Verdict-Override-Reason") && op.request_body.is_none() {
        // The policy tests refuse the change (`policy_tests_failed`).
        out.push("422");
    }
    if params
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Header && p.name == "If-Match")
    {
        out.push("412");
    }
    let reads_only = matches!(
        path,
        "/api/v1/evaluate"
            | "/api/v1/policy-evaluations"
            | "/api/v1/policies/replay"
            | "/api/v1/policies/compile"
    );
    if secured && method != "get" && !reads_only {
        out.push("403");
    }
    out
}

/// Documents on every operation the errors that the server's extractors and checks can
/// answer, so that each status an operation returns is in its `responses`.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            crate::policy_tests::document_override(op);
            crate::review::document_proposal(op);
            for status in statuses(method, path, op) {
                if op.responses.responses.contains_key(status) {
                    continue;
                }
                let description = COMMON_ERRORS
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map(|(_, d)| *d)
                    .unwrap_or("an error");
                op.responses
                    .responses
                    .insert(status.to_string(), error_response(status, description));
            }
        }
    }
}

/// The document as served: [`complete`]d, then with OpenAPI links from a created policy to
/// the operations on it (its `id` from the answer's body; for the writes, `If-Match` from
/// the answer's `ETag`). Added to the JSON because utoipa 5.5's `Link` prints
/// `operation_id` rather than `operationId`.
pub fn served(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    if let Some(created) = value.pointer_mut("/paths/~1api~1v1~1policies/post/responses/201") {
        let mut links = serde_json::Map::new();
        for (operation, if_match) in [
            ("getPolicy", false),
            ("replacePolicy", true),
            ("patchPolicy", true),
            ("deletePolicy", true),
        ] {
            let mut parameters = serde_json::Map::new();
            parameters.insert("path.id".into(), "$response.body#/id".into());
            if if_match {
                parameters.insert("header.If-Match".into(), "$response.header.ETag".into());
            }
            links.insert(
                operation.to_string(),
                serde_json::json!({
                    "operationId": operation,
                    "parameters": parameters,
                    "description": format!("`{operation}` on the created policy"),
                }),
            );
        }
        if let Some(obj) = created.as_object_mut() {
            obj.insert("links".into(), serde_json::Value::Object(links));
        }
    }
    value
}
