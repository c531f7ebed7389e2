//! The OpenAPI 3 document, generated from the handlers' annotations.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// `{"error": {...}}`, the body of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    pub details: Option<serde_json::Value>,
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
    paths(
        crate::health, crate::me,
        crate::catalog::get, crate::catalog::put,
        crate::dashboard::dashboard,
        crate::policies::list, crate::policies::get, crate::policies::create, crate::policies::patch, crate::policies::delete,
        crate::versions::list, crate::versions::get, crate::versions::diff, crate::versions::rollback,
        crate::assignments::list, crate::assignments::add, crate::assignments::remove_by_value, crate::assignments::remove,
        crate::exceptions::list, crate::exceptions::create, crate::exceptions::revoke,
        crate::evaluate::dry_run, crate::evaluate::evaluate_and_log, crate::evaluate::replay,
        crate::evaluate::policy_evaluations, crate::evaluate::evaluations,
        crate::audit::list,
    ),
    components(schemas(ErrorBody, ErrorDetail, crate::auth::Role)),
    modifiers(&Bearer),
    tags(
        (name = "policies", description = "stored policies"),
        (name = "versions", description = "immutable snapshots, diffs, rollback"),
        (name = "assignments", description = "where a policy applies"),
        (name = "exceptions", description = "time- or count-bound carve-outs"),
        (name = "evaluate", description = "dry runs, audited evaluations, replays"),
        (name = "catalog", description = "the organization's tables and columns"),
        (name = "audit", description = "who changed what, when"),
    )
)]
pub struct ApiDoc;
