//! The data preview "as this user": the preview's SQL and context run on a data source the
//! organization registered (`/api/v1/data-sources`), through the server — read-only, with
//! a statement timeout, at most 100 rows. The rows as this context sees them (the draft's
//! set: the other stored policies with this draft in place of the stored one) beside the
//! rows the data source's own role sees, masked cells and the filtered-out count marked.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::api;
use crate::app::Session;
use crate::model;

/// The set the server evaluates: every other assigned stored policy and the draft (when it
/// is assigned), in the engine's form, as the live preview loads them.
pub fn draft_set(draft: &Value, stored: &[Value]) -> Value {
    let id = draft.get("id").and_then(Value::as_str).unwrap_or("");
    let mut policies: Vec<Value> = stored
        .iter()
        .filter(|p| p.get("id").and_then(Value::as_str) != Some(id) && model::is_assigned(p))
        .map(model::engine_policy)
        .collect();
    if model::is_assigned(draft) {
        policies.push(model::engine_policy(draft));
    }
    json!({ "policies": policies })
}

/// One result set of a preview answer, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub columns: Vec<(String, bool)>,
    pub rows: Vec<Vec<Option<String>>>,
    pub truncated: bool,
    pub count: Option<i64>,
}

impl Rows {
    /// The result set at `pointer` of a preview answer.
    pub fn of(answer: &Value, pointer: &str) -> Option<Rows> {
        let set = answer.pointer(pointer).filter(|v| v.is_object())?;
        let columns = set
            .get("columns")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            model::text_at(c, "/name"),
                            c.get("masked").and_then(Value::as_bool).unwrap_or(false),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rows = set
            .get("rows")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        r.as_array()
                            .map(|cells| {
                                cells
                                    .iter()
                                    .map(|c| c.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Rows {
            columns,
            rows,
            truncated: set
                .get("truncated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            count: set.get("count").and_then(Value::as_i64),
        })
    }
}

/// The server's error as one line: message, SQLSTATE and, when given, detail and hint.
pub fn error_line(body: &Value) -> String {
    let message = model::text_at(body, "/error/message");
    let state = model::text_at(body, "/error/details/sqlstate");
    let mut parts = vec![if message.is_empty() {
        "the preview failed".to_string()
    } else {
        message
    }];
    if !state.is_empty() {
        parts.push(format!("SQLSTATE {state}"));
    }
    for k in ["detail", "hint"] {
        let t = model::text_at(body, &format!("/error/details/{k}"));
        if !t.is_empty() {
            parts.push(t);
        }
    }
    parts.join(" · ")
}

fn table(rows: Rows, testid: &'static str, caption: &'static str) -> impl IntoView {
    let count = match (rows.count, rows.truncated) {
        (Some(n), true) => format!("{} of {n} rows", rows.rows.len()),
        (Some(n), false) => format!("{n} row{}", if n == 1 { "" } else { "s" }),
        (None, _) => "not a query: no rows".to_string(),
    };
    let masked: Vec<bool> = rows.columns.iter().map(|(_, m)| *m).collect();
    view! {
        <figure class="data-set" data-testid=testid>
            <figcaption>{caption}<span class="muted small">{format!(" — {count}")}</span></figcaption>
            // Focusable: a region that scrolls sideways must be reachable by keyboard.
            <div class="table-scroll" tabindex="0" role="region" aria-label=caption>
                <table class="data-rows">
                    <thead><tr>
                        {rows.columns.iter().map(|(name, m)| view! {
                            <th scope="col" class:col-masked=*m>{name.clone()}{m.then(|| view! { <span class="chip mask-chip">"masked"</span> })}</th>
                        }).collect::<Vec<_>>()}
                    </tr></thead>
                    <tbody>
                        {rows.rows.into_iter().map(|r| view! {
                            <tr>{r.into_iter().enumerate().map(|(i, cell)| {
                                let is_masked = masked.get(i).copied().unwrap_or(false);
                                let (text, null) = match cell {
                                    Some(t) => (t, false),
                                    None => ("NULL".to_string(), true),
                                };
                                view! {
                                    <td class:cell-masked=is_masked class:null=null
                                        data-testid=if is_masked { "masked-cell" } else { "cell" }
                                        title=if is_masked { "masked by a policy" } else { "" }>{text}</td>
                                }
                            }).collect::<Vec<_>>()}</tr>
                        }).collect::<Vec<_>>()}
                    </tbody>
                </table>
            </div>
        </figure>
    }
}

/// A preview answer that ran: the verdict, the filtered-out count and the masked columns,
/// then the rows as the context sees them beside the author's own, masked cells marked.
#[component]
pub fn DataResult(body: Value) -> impl IntoView {
    let verdict = model::text_at(&body, "/verdict/verdict");
    let filtered = body.get("filtered_out").and_then(Value::as_i64);
    let bounded = body
        .get("filtered_out_bounded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let masked = model::list_at(&body, "/masked_columns");
    let seen = Rows::of(&body, "/as_context");
    let own = Rows::of(&body, "/as_author");
    view! {
        <div class="data-summary">
            <span class=format!("badge small badge-{verdict}")>{verdict.clone()}</span>
            {filtered.map(|n| view! {
                <span class="chip filtered-chip" data-testid="data-filtered">{format!("{}{n} row{} filtered out", if bounded { "at least " } else { "" }, if n == 1 { "" } else { "s" })}</span>
            })}
            {(!masked.is_empty()).then(|| view! {
                <span class="chip mask-chip" data-testid="data-masked">{format!("masked: {}", masked.join(", "))}</span>
            })}
        </div>
        <div class="data-pair">
            {seen.map(|r| table(r, "data-as-context", "As this context sees it"))}
            {own.map(|r| table(r, "data-as-author", "As your own role sees it"))}
        </div>
    }
}

/// The "Data" panel: pick a data source, run, see both result sets.
#[component]
pub fn DataPreview(draft: RwSignal<Value>) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let sources = RwSignal::new(None::<Vec<Value>>);
    let chosen = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<Result<Value, String>>);
    let running = RwSignal::new(false);
    spawn_local(async move {
        match api::call("GET", "/api/v1/data-sources", &session.token(), None, None).await {
            Ok(a) if a.ok() => {
                let items = a
                    .body
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(first) = items.first() {
                    chosen.set(model::text_at(first, "/id"));
                }
                sources.set(Some(items));
            }
            Ok(a) => answer.set(Some(Err(a.message()))),
            Err(e) => answer.set(Some(Err(e))),
        }
    });
    let run = move |_| {
        let id = chosen.get_untracked();
        if id.is_empty() {
            return;
        }
        let body = json!({
            "sql": session.sql.get_untracked(),
            "context": session.context.get_untracked(),
            "policy_set": draft_set(&model::strip_metadata(&draft.get_untracked()), &session.policies.get_untracked()),
        });
        running.set(true);
        spawn_local(async move {
            let path = format!("/api/v1/data-sources/{}/preview", api::enc(&id));
            let a = api::call("POST", &path, &session.token(), Some(&body), None).await;
            running.set(false);
            answer.set(Some(match a {
                Ok(a) if a.ok() => Ok(a.body),
                Ok(a) => Err(error_line(&a.body)),
                Err(e) => Err(e),
            }));
        });
    };
    let result = move || {
        answer.get().map(|a| match a {
            Err(m) => view! { <p class="error" role="alert" data-testid="data-error">{m}</p> }.into_any(),
            Ok(body) if body.get("ran") != Some(&Value::Bool(true)) => view! {
                <p data-testid="data-blocked"><span class="badge small badge-block">"block"</span>" "
                    {format!("{} — nothing ran.", model::text_at(&body, "/verdict/reason"))}</p>
            }.into_any(),
            Ok(body) => view! { <DataResult body=body/> }.into_any(),
        })
    };
    view! {
        <section class="card data-preview" role="tabpanel" data-testid="data-preview">
            <h2>"Data preview"</h2>
            <p class="muted small">"Runs the preview's SQL on a data source through the server (read only, 5 s statement timeout, at most 100 rows): the rows as the preview's context sees them under these policies, beside the rows the data source's own role sees."</p>
            {move || match sources.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! {
                    <p class="muted" data-testid="data-none">"No data source is registered. An admin adds one with "<code>"POST /api/v1/data-sources"</code>"."</p>
                }.into_any(),
                Some(list) => view! {
                    <div class="row end wrap">
                        <label class="field grow"><span>"Data source"</span>
                            <select data-testid="data-source" on:change=move |ev| chosen.set(event_target_value(&ev))>
                                {list.into_iter().map(|s| {
                                    let id = model::text_at(&s, "/id");
                                    let label = format!("{} ({})", model::text_at(&s, "/name"), model::text_at(&s, "/url"));
                                    view! { <option value=id.clone() selected=move || chosen.with(|c| *c == id)>{label}</option> }
                                }).collect::<Vec<_>>()}
                            </select>
                        </label>
                        <button class="primary" data-testid="data-run" disabled=move || running.get() on:click=run>
                            {move || if running.get() { "Running…" } else { "Run" }}
                        </button>
                    </div>
                }.into_any(),
            }}
            <p class="small">"Query (from the live preview): "<code data-testid="data-sql">{move || session.sql.get()}</code>
                <span class="muted">{move || format!(" · context user: {}", model::text_at(&session.context.get(), "/user"))}</span></p>
            <p class="legend small"><mark class="hl-mask">"masked cell"</mark>" "<span class="null">"NULL"</span></p>
            {result}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_holds_the_draft_in_place_of_the_stored_policy() {
        let stored = vec![
            json!({"id": "a", "name": "A", "revision": 3, "rules": [], "assignments": [{"kind": "role", "value": "x"}]}),
            json!({"id": "b", "name": "B", "rules": [], "assignments": [{"kind": "everyone", "value": "*"}]}),
            json!({"id": "c", "name": "C", "rules": [], "assignments": []}),
        ];
        let draft = json!({"id": "a", "name": "A2", "rules": [], "assignments": [{"kind": "role", "value": "y"}]});
        let set = draft_set(&draft, &stored);
        let policies = set["policies"].as_array().unwrap();
        let ids: Vec<&str> = policies.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(policies[1]["name"], "A2");
        assert_eq!(policies[1]["applies_to"]["roles"], json!(["y"]));
        assert!(policies[1].get("assignments").is_none());
        assert!(policies.iter().all(|p| p.get("revision").is_none()));
        // An unassigned draft applies to no one: left out, as the live preview does.
        let unassigned = json!({"id": "d", "name": "D", "rules": []});
        assert_eq!(
            draft_set(&unassigned, &stored)["policies"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn rows_and_errors_are_read_from_the_answer() {
        let answer = json!({"as_context": {"columns": [{"name": "id", "masked": false}, {"name": "email", "masked": true}],
            "rows": [["1", "a***@x"], ["2", null]], "truncated": false, "count": 2}});
        let rows = Rows::of(&answer, "/as_context").unwrap();
        assert_eq!(
            rows.columns,
            vec![("id".into(), false), ("email".into(), true)]
        );
        assert_eq!(rows.rows[1], vec![Some("2".to_string()), None]);
        assert_eq!(rows.count, Some(2));
        assert!(Rows::of(&answer, "/as_author").is_none());
        let err = json!({"error": {"code": "data_source_error", "message": "PostgreSQL refused the rewritten SQL: division by zero",
            "details": {"sqlstate": "22012", "detail": null}}});
        assert_eq!(
            error_line(&err),
            "PostgreSQL refused the rewritten SQL: division by zero · SQLSTATE 22012"
        );
    }
}
