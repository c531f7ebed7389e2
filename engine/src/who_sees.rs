//! "Who sees this column?" (issue 21): for each principal, what `SELECT <column> FROM
//! <table>` gives them: the raw values, masked values, filtered rows, or nothing. It is
//! answered by evaluating that statement with the engine for each principal and reading
//! the verdict, so it says what enforcement does and holds no second copy of the policy
//! semantics; break-glass comes with the context, exceptions as rules lifted from the set.

use serde::Serialize;
use serde_json::Value as Json;

use crate::catalog::TableName;
use crate::context::Context;
use crate::error::{ErrorCode, InputError};
use crate::explain_row::request_object;
use crate::ident;
use crate::policy::{Lift, PolicySet};
use crate::verdict::{Decision, Verdict};

/// An exception a principal holds: it lifts rules of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    pub policy: String,
    /// The rules it lifts (`rules[i]`); `None`: the policy's row filters and masks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<usize>>,
}

/// One principal to ask about.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// A label for the answer (by default the context's user).
    pub name: Option<String>,
    pub context: Context,
    pub exceptions: Vec<Exception>,
}

/// How a principal sees the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sight {
    /// Every row, unmasked.
    Raw,
    /// Every row, masked.
    Masked,
    /// Some rows, unmasked.
    Filtered,
    /// Some rows, masked.
    MaskedFiltered,
    /// The statement is blocked.
    Denied,
}

/// The mask a principal sees the column through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskAt {
    pub kind: String,
    pub policy: String,
    pub rule_index: usize,
}

/// A row filter a principal's reads go through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterAt {
    /// After context substitution.
    pub predicate: String,
    pub policy: String,
    pub rule_index: usize,
}

/// What blocks a principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeniedBy {
    /// The verdict's rule category (`deny`, `default_deny`, `missing_context`, …).
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<usize>,
    pub reason: String,
}

/// One principal's access to the column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub access: Sight,
    /// Whether the values come unmasked (possibly filtered).
    pub raw: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<MaskAt>,
    pub filtered: Vec<FilterAt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<DeniedBy>,
    /// The context asked for break-glass.
    pub break_glass: bool,
    /// The exceptions taken into account (the rules they lifted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
    /// The statement judged, `SELECT <column> FROM <table>`.
    pub sql: String,
}

/// For each principal, how `SELECT <column> FROM <table>` reads in their context.
pub fn who_sees(
    set: &PolicySet,
    table: &str,
    column: &str,
    principals: &[Principal],
) -> Result<Vec<Access>, InputError> {
    let name = TableName::parse(table).map_err(|m| InputError::new(ErrorCode::InvalidTable, m))?;
    let col = crate::catalog::parse_column_name(column)
        .map_err(|m| InputError::new(ErrorCode::InvalidColumn, m))?;
    if let Some(cat) = &set.catalog {
        let t = cat.table(&name).ok_or_else(|| {
            InputError::new(
                ErrorCode::UnknownRelation,
                format!("relation `{name}` is not in the catalog"),
            )
        })?;
        if t.column(&col).is_none() {
            return Err(InputError::new(
                ErrorCode::UnknownColumn,
                format!("column `{col}` is not a column of `{name}` in the catalog"),
            ));
        }
    }
    let sql = format!("SELECT {} FROM {name}", ident::display(&col));
    Ok(principals
        .iter()
        .map(|p| {
            let verdict = if p.exceptions.is_empty() {
                crate::evaluate(set, &sql, &p.context)
            } else {
                let mut lifted = set.clone();
                for e in &p.exceptions {
                    let lift = match &e.rules {
                        None => Lift::FiltersAndMasks,
                        Some(list) => Lift::Rules(list.clone()),
                    };
                    lifted.lift(&e.policy, &lift);
                }
                crate::evaluate(&lifted, &sql, &p.context)
            };
            read(&verdict, &name, &col, p, &sql)
        })
        .collect())
}

/// The access a verdict gives.
fn read(verdict: &Verdict, table: &TableName, col: &str, p: &Principal, sql: &str) -> Access {
    let shown = table.to_string();
    let mut access = Access {
        principal: p.name.clone().or_else(|| p.context.user.clone()),
        access: Sight::Raw,
        raw: true,
        masked: None,
        filtered: Vec::new(),
        denied: None,
        break_glass: p.context.break_glass,
        exceptions: p.exceptions.clone(),
        sql: sql.to_string(),
    };
    if verdict.verdict == Decision::Block {
        access.access = Sight::Denied;
        access.raw = false;
        access.denied = Some(DeniedBy {
            rule: verdict.rule.as_str().to_string(),
            policy: verdict.blocked_by.as_ref().map(|b| b.policy.clone()),
            rule_index: verdict.blocked_by.as_ref().map(|b| b.rule_index),
            reason: verdict.reason.clone(),
        });
        return access;
    }
    access.masked = verdict
        .masked_columns
        .iter()
        .find(|m| m.table == shown && m.column == col)
        .map(|m| MaskAt {
            kind: m.kind.clone(),
            policy: m.policy.clone(),
            rule_index: m.rule_index,
        });
    access.filtered = verdict
        .row_filters
        .iter()
        .filter(|f| f.table == shown)
        .map(|f| FilterAt {
            predicate: f.predicate.clone(),
            policy: f.policy.clone(),
            rule_index: f.rule_index,
        })
        .collect();
    access.raw = access.masked.is_none();
    access.access = match (access.masked.is_some(), !access.filtered.is_empty()) {
        (false, false) => Sight::Raw,
        (true, false) => Sight::Masked,
        (false, true) => Sight::Filtered,
        (true, true) => Sight::MaskedFiltered,
    };
    access
}

impl Principal {
    /// Reads `{name?, context, exceptions?: [{policy, rules?}]}`; a principal without a
    /// `context` field is read as a context itself.
    pub fn from_json(value: &Json) -> Result<Principal, InputError> {
        let Json::Object(obj) = value else {
            return Err(InputError::new(
                ErrorCode::InvalidRequest,
                "a principal must be a JSON object",
            ));
        };
        if !obj.contains_key("context") {
            return Ok(Principal {
                name: None,
                context: Context::from_json(value)?,
                exceptions: Vec::new(),
            });
        }
        let obj = request_object(value, &["name", "context", "exceptions"])?;
        let name = match obj.get("name") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(InputError::new(
                    ErrorCode::InvalidRequest,
                    "a principal's `name` must be a string",
                ))
            }
        };
        let context = Context::from_json(obj.get("context").unwrap_or(&Json::Null))?;
        let mut exceptions = Vec::new();
        match obj.get("exceptions") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for item in items {
                    exceptions.push(exception(item)?);
                }
            }
            Some(_) => {
                return Err(InputError::new(
                    ErrorCode::InvalidRequest,
                    "`exceptions` must be an array of {policy, rules?}",
                ))
            }
        }
        Ok(Principal {
            name,
            context,
            exceptions,
        })
    }
}

fn exception(item: &Json) -> Result<Exception, InputError> {
    let bad = || {
        InputError::new(
            ErrorCode::InvalidRequest,
            "an exception is {\"policy\": id, \"rules\": [index, …]} (rules optional)",
        )
    };
    let obj = request_object(item, &["policy", "rules"]).map_err(|_| bad())?;
    let policy = obj
        .get("policy")
        .and_then(Json::as_str)
        .ok_or_else(bad)?
        .to_string();
    let rules = match obj.get("rules") {
        None | Some(Json::Null) => None,
        Some(Json::Array(list)) => Some(
            list.iter()
                .map(|r| r.as_u64().and_then(|n| usize::try_from(n).ok()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?,
        ),
        Some(_) => return Err(bad()),
    };
    Ok(Exception { policy, rules })
}

/// The answer to a who-sees request: the column, as named, and each principal's access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoSeesReport {
    pub table: String,
    pub column: String,
    pub access: Vec<Access>,
}

impl WhoSeesReport {
    /// The report as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// [`who_sees`] over a JSON request `{table, column, principals: [...]}`.
pub fn who_sees_json(set: &PolicySet, request: &Json) -> Result<WhoSeesReport, InputError> {
    let obj = request_object(request, &["table", "column", "principals"])?;
    let text = |field: &str| -> Result<&str, InputError> {
        obj.get(field).and_then(Json::as_str).ok_or_else(|| {
            InputError::new(
                ErrorCode::InvalidRequest,
                format!("`{field}` must be a string"),
            )
        })
    };
    let (table, column) = (text("table")?, text("column")?);
    let principals = match obj.get("principals") {
        Some(Json::Array(items)) => items
            .iter()
            .map(Principal::from_json)
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(InputError::new(
                ErrorCode::InvalidRequest,
                "`principals` must be an array of principals ({name?, context, exceptions?}) or contexts",
            ))
        }
    };
    Ok(WhoSeesReport {
        table: table.to_string(),
        column: column.to_string(),
        access: who_sees(set, table, column, &principals)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> PolicySet {
        PolicySet::parse(
            r#"{
              "catalog": {"tables": [{"name": "patients", "columns": [
                 {"name": "id", "type": "integer"}, {"name": "ward", "type": "text"},
                 {"name": "ssn", "type": "text"}]}]},
              "policies": [
                {"id": "nurses", "applies_to": {"roles": ["nurse"]}, "break_glass_allowed": true, "rules": [
                  {"type": "row_filter", "table": "patients", "predicate": "ward = ctx.attr.ward"},
                  {"type": "column_mask", "table": "patients", "column": "ssn", "mask": {"kind": "partial", "show_last": 4}}]},
                {"id": "clerks", "applies_to": {"roles": ["clerk"]}, "rules": [
                  {"type": "deny", "table": "patients", "columns": ["ssn"]}]}
              ]}"#,
        )
        .unwrap()
    }

    fn principal(ctx: serde_json::Value) -> Principal {
        Principal::from_json(&ctx).unwrap()
    }

    #[test]
    fn each_principal_reads_its_verdict() {
        let s = set();
        let ps = [
            principal(json!({"user": "doc", "roles": ["doctor"]})),
            principal(json!({"user": "n", "roles": ["nurse"], "attributes": {"ward": "A"}})),
            principal(json!({"user": "c", "roles": ["clerk"]})),
            principal(
                json!({"user": "bg", "roles": ["nurse"], "attributes": {"ward": "A"}, "break_glass": true}),
            ),
            principal(json!({"name": "exempt nurse",
                "context": {"user": "x", "roles": ["nurse"], "attributes": {"ward": "A"}},
                "exceptions": [{"policy": "nurses", "rules": [1]}]})),
            principal(json!({"user": "lost", "roles": ["nurse"]})),
        ];
        let a = who_sees(&s, "patients", "ssn", &ps).unwrap();
        assert_eq!(a[0].access, Sight::Raw);
        assert!(a[0].raw);
        assert_eq!(a[1].access, Sight::MaskedFiltered);
        assert_eq!(a[1].masked.as_ref().unwrap().kind, "partial");
        assert_eq!(a[1].filtered[0].predicate, "ward = 'A'");
        assert_eq!(a[2].access, Sight::Denied);
        let d = a[2].denied.as_ref().unwrap();
        assert_eq!(
            (d.rule.as_str(), d.policy.as_deref()),
            ("deny", Some("clerks"))
        );
        assert_eq!(a[3].access, Sight::Raw);
        assert!(a[3].break_glass);
        assert_eq!(a[4].principal.as_deref(), Some("exempt nurse"));
        assert_eq!(a[4].access, Sight::Filtered);
        assert_eq!(a[5].access, Sight::Denied);
        assert_eq!(a[5].denied.as_ref().unwrap().rule, "missing_context");
        // Another column of the same table: the clerk reads it.
        let a = who_sees(&s, "patients", "ward", &ps[2..3]).unwrap();
        assert_eq!(a[0].access, Sight::Raw);
        assert_eq!(a[0].sql, "SELECT ward FROM public.patients");
    }

    #[test]
    fn bad_requests_are_structured_errors() {
        let s = set();
        let code = |r: serde_json::Value| who_sees_json(&s, &r).unwrap_err().code;
        assert_eq!(
            code(json!({"table": "patients", "column": "nope", "principals": []})),
            "unknown_column"
        );
        assert_eq!(
            code(json!({"table": "people", "column": "ssn", "principals": []})),
            "unknown_relation"
        );
        assert_eq!(
            code(json!({"table": "patients", "column": "ssn"})),
            "invalid_request"
        );
        assert_eq!(
            code(
                json!({"table": "patients", "column": "ssn", "principals": [{"context": {}, "exceptions": [{"policy": 1}]}]})
            ),
            "invalid_request"
        );
        assert_eq!(
            code(json!({"table": "patients", "column": "ssn", "principals": [{"usr": "x"}]})),
            "invalid_context"
        );
        assert_eq!(
            code(json!({"table": "patients", "column": "a b", "principals": []})),
            "invalid_column"
        );
        let ok = who_sees_json(
            &s,
            &json!({"table": "patients", "column": "SSN", "principals": [{"user": "d"}]}),
        )
        .unwrap();
        assert_eq!(ok.access[0].access, Sight::Raw);
    }
}
