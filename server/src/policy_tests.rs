//! `/api/v1/policy-tests`: the organization's policy test suite (the engine's `suite`
//! format), and the gate every change to what shapes the active set passes: the suite runs
//! against the set the change would make active, and a failing case refuses the change
//! (422 with the failing cases) unless an admin overrides it with a reason, which is
//! audited.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;
use verdict_engine::suite::{CaseReport, Suite, SuiteFile};
use verdict_engine::{run_suite, PolicySet, SuiteReport};

use crate::audit::{self, Tx};
use crate::auth::{Principal, Role};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::store::{self, Assignment, AssignmentSpec};
use crate::AppState;
use verdict_engine::ProblemKind;

/// The header that carries an admin's reason to apply a change the policy tests refuse.
pub const OVERRIDE_HEADER: &str = "verdict-override-reason";

/// The operations whose changes the policy tests gate.
pub const GATED_OPERATIONS: &[&str] = &[
    "createPolicy",
    "replacePolicy",
    "patchPolicy",
    "deletePolicy",
    "rollbackPolicy",
    "restorePolicy",
    "addAssignments",
    "removeAssignmentsByValue",
    "removeAssignment",
    "putCatalog",
    "publishChangeRequest",
    "publishCatalogChange",
];

/// Documents the override header on a gated operation (`openapi::complete` then lists
/// the 400 and 422 it can cause).
pub fn document_override(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    let gated = op
        .operation_id
        .as_deref()
        .is_some_and(|id| GATED_OPERATIONS.contains(&id));
    if !gated {
        return;
    }
    let parameter = ParameterBuilder::new()
        .name("Verdict-Override-Reason")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "an admin's reason to apply the change although it makes policy tests fail \
             (422 `policy_tests_failed` without it); audited as `policy_tests.override`",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_REASON_CHARS))
                .pattern(Some(OVERRIDE_PATTERN)),
        ))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(parameter);
}

/// Visible ASCII, not starting or ending with a space: what an override reason may be.
const OVERRIDE_PATTERN: &str = "^[!-~]([ -~]*[!-~])?$";

/// The longest override reason kept.
const MAX_REASON_CHARS: usize = 1000;

/// The most cases a stored suite holds.
const MAX_CASES: usize = 1000;

/// A policy test suite: `{tests: [{name, context?, sql, expect}]}`. These types document
/// the body; the engine's `suite` module reads it (with the paths of its problems).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tests": [{"name": "analysts see their tenant's orders",
    "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}},
    "sql": "SELECT id FROM orders",
    "expect": {"verdict": "row_filter", "row_filters": [{"table": "orders", "predicate": "tenant_id = 1"}]}}]}))]
pub struct PolicyTestSuite {
    #[schema(max_items = 1000)]
    pub tests: Vec<PolicyTestCase>,
}

/// One case: who runs which SQL, and what the verdict must say.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestCase {
    /// Unique in the suite.
    #[schema(min_length = 1)]
    pub name: String,
    /// The context, as for evaluations; absent or null means `{}`.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    pub sql: String,
    pub expect: PolicyTestExpect,
}

/// A verdict's decision.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyTestVerdict {
    Allow,
    Mask,
    RowFilter,
    Block,
}

/// One decision, or a non-empty list of acceptable ones.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PolicyTestVerdicts {
    One(PolicyTestVerdict),
    /// Not empty.
    Any(Vec<PolicyTestVerdict>),
}

/// An expected row filter: the table, and the applied predicate when given.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestRowFilter {
    pub table: String,
    pub predicate: Option<String>,
}

/// The rule that blocks: policy id and 1-based rule number.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestRule {
    pub policy: String,
    #[schema(minimum = 1)]
    pub rule: u64,
}

/// What a case expects; only the fields given are checked.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestExpect {
    pub verdict: PolicyTestVerdicts,
    /// The verdict's `rule` (`deny`, `row_filter`, `missing_context`, …).
    pub rule: Option<String>,
    /// Exactly these columns are masked, as `table.column`.
    pub masked_columns: Option<Vec<String>>,
    /// Exactly these tables are filtered.
    pub row_filters: Option<Vec<PolicyTestRowFilter>>,
    pub blocked_by: Option<PolicyTestRule>,
    /// The rewritten SQL contains this text.
    pub rewritten_sql_contains: Option<String>,
}

/// The stored suite and its revision (0 and no case before the first `PUT`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyTestsDocument {
    #[schema(value_type = PolicyTestSuite)]
    pub suite: SuiteFile,
    pub revision: i64,
    /// The suite run against the organization's active set (cases, mismatches, coverage).
    #[schema(value_type = Object)]
    pub report: SuiteReport,
}

/// The stored suite of an organization, with its revision.
async fn load(tx: &mut Tx, org: &str) -> ApiResult<Option<(Suite, i64)>> {
    let row = sqlx::query("SELECT suite, revision FROM policy_tests WHERE org_id = $1")
        .bind(org)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row.try_get(0)?;
    // INVARIANT: only suites that parsed are stored.
    let suite = Suite::parse(&text).map_err(|e| ApiError::internal(e.message))?;
    Ok(Some((suite, row.try_get(1)?)))
}

/// The policy set that is active once `tx` commits: the assigned, live policies against
/// the catalog, as the active-set cache builds it.
async fn set_in(tx: &mut Tx, org: &str) -> ApiResult<PolicySet> {
    let catalog = store::catalog(&mut **tx, org).await?;
    let rows = store::live_policies(&mut **tx, org).await?;
    let assignments = store::all_assignments(&mut **tx, org).await?;
    let mut policies = Vec::new();
    for row in &rows {
        let Some(list) = assignments.get(&row.id).filter(|a| !a.is_empty()) else {
            continue;
        };
        let specs: Vec<AssignmentSpec> = list.iter().map(Assignment::spec).collect();
        policies.push((row.id.clone(), store::engine_policy(&row.body, &specs)));
    }
    crate::active::build(&catalog, &policies)
}

/// Runs the stored suite against the set `tx` would make active; a failing case refuses
/// the change unless an admin gives a reason in the `Verdict-Override-Reason` header (then
/// the override is audited in `tx` as `policy_tests.override`). `change` names the change
/// for the audit trail (`policy.update`, `catalog.update`, …).
pub async fn gate(
    tx: &mut Tx,
    principal: &Principal,
    headers: &HeaderMap,
    change: &str,
) -> ApiResult<()> {
    let org = principal.org_id.as_str();
    let Some((suite, revision)) = load(tx, org).await? else {
        return Ok(());
    };
    if suite.is_empty() {
        return Ok(());
    }
    let report = run_suite(&set_in(tx, org).await?, &suite);
    if report.all_passed() {
        return Ok(());
    }
    let failing: Vec<&CaseReport> = report.cases.iter().filter(|c| !c.passed).collect();
    let names: Vec<&str> = failing.iter().map(|c| c.name.as_str()).collect();
    let Some(reason) = override_reason(headers)? else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy_tests_failed",
            format!(
                "the change makes {} of {} policy tests fail; fix the change or the tests, \
                 or an admin applies it with a reason in the `Verdict-Override-Reason` header",
                report.failed, report.total
            ),
        )
        .with_details(json!({ "failed_cases": failing, "tests_revision": revision })));
    };
    if principal.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only an admin may apply a change that fails the policy tests",
        ));
    }
    audit::record(
        tx,
        org,
        &principal.user,
        "policy_tests.override",
        "policy_tests",
        org,
        &[],
        Some(json!({
            "change": change,
            "reason": reason,
            "failed_cases": names,
            "tests_revision": revision,
        })),
    )
    .await?;
    Ok(())
}

/// The override reason of a request, if it gives one: visible ASCII, not starting or
/// ending with a space, at most [`MAX_REASON_CHARS`] characters (`OVERRIDE_PATTERN`).
fn override_reason(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(OVERRIDE_HEADER) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let visible = |b: &u8| (b'!'..=b'~').contains(b);
    let fits = bytes.len() <= MAX_REASON_CHARS
        && bytes.first().is_some_and(visible)
        && bytes.last().is_some_and(visible)
        && bytes.iter().all(|b| (b' '..=b'~').contains(b));
    match std::str::from_utf8(bytes) {
        Ok(text) if fits => Ok(Some(text.to_string())),
        _ => Err(ApiError::bad_request(format!(
            "`Verdict-Override-Reason` must be 1 to {MAX_REASON_CHARS} characters of visible \
             ASCII and spaces, not starting or ending with a space"
        ))),
    }
}

/// Refuses a malformed `Verdict-Override-Reason` (400) before anything else looks at the
/// request, whether or not the policy tests would need it.
pub async fn check_override_header(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match override_reason(request.headers()) {
        Ok(_) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

/// The organization's policy test suite, run against its active set.
#[utoipa::path(get, operation_id = "getPolicyTests", path = "/api/v1/policy-tests", tag = "policies",
    responses((status = 200, body = PolicyTestsDocument)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<PolicyTestsDocument>> {
    let org = principal.org_id.as_str();
    let mut tx = state.db.read.begin().await?;
    let stored = load(&mut tx, org).await?;
    let set = set_in(&mut tx, org).await?;
    tx.commit().await?;
    Ok(Json(document(&set, stored)))
}

fn document(set: &PolicySet, stored: Option<(Suite, i64)>) -> PolicyTestsDocument {
    let (suite, revision) = match stored {
        Some(s) => s,
        None => match Suite::from_json(&json!({ "tests": [] })) {
            Ok(empty) => (empty, 0),
            // INVARIANT: the empty suite is valid.
            Err(_) => return empty_document(),
        },
    };
    PolicyTestsDocument {
        report: run_suite(set, &suite),
        suite: suite.file().clone(),
        revision,
    }
}

fn empty_document() -> PolicyTestsDocument {
    PolicyTestsDocument {
        suite: SuiteFile { tests: Vec::new() },
        revision: 0,
        report: SuiteReport {
            passed: 0,
            failed: 0,
            total: 0,
            cases: Vec::new(),
            coverage: None,
            mutation: None,
        },
    }
}

/// Replaces the organization's policy test suite (editors and admins); answers it run
/// against the active set. A suite that fails is stored all the same (tests may come
/// before the policies): from then on it refuses changes that leave a case failing.
#[utoipa::path(put, operation_id = "putPolicyTests", path = "/api/v1/policy-tests", tag = "policies",
    request_body = PolicyTestSuite,
    responses((status = 200, body = PolicyTestsDocument)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<PolicyTestsDocument>> {
    principal.require_writer()?;
    let suite = Suite::from_json(&body).map_err(|err| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tests",
            err.message,
        )
        .with_problems(err.problems)
    })?;
    if suite.len() > MAX_CASES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tests",
            format!("a suite holds at most {MAX_CASES} cases"),
        )
        .with_problem(
            ProblemKind::InvalidValue,
            "tests",
            format!("at most {MAX_CASES} cases"),
        ));
    }
    let org = principal.org_id.as_str();
    let text = serde_json::to_string(suite.file()).map_err(ApiError::internal)?;
    let mut tx = state.db.write.begin().await?;
    let current = load(&mut tx, org).await?.map_or(0, |(_, r)| r);
    let revision = current + 1;
    sqlx::query(
        "INSERT INTO policy_tests (org_id, suite, revision, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id) DO UPDATE SET suite = excluded.suite, \
         revision = excluded.revision, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(org)
    .bind(&text)
    .bind(revision)
    .bind(now_ms())
    .bind(&principal.user)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "policy_tests.update",
        "policy_tests",
        org,
        &["tests"],
        Some(json!({ "revision": revision, "cases": suite.len() })),
    )
    .await?;
    let set = set_in(&mut tx, org).await?;
    tx.commit().await?;
    Ok(Json(document(&set, Some((suite, revision)))))
}
