//! "Why is this row hidden?" in the preview: pick a table, enter a row (column by column,
//! or pasted as JSON), and the engine's `explain_row` (linked into this wasm) says, under
//! the preview's context and the draft's set, which policy, rule and conjunct hide it,
//! the context values each conjunct used, the smallest context change that admits it,
//! and a diagnostic query to run against the real row.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{Map, Value};
use verdict_engine::explain_row;
use verdict_engine::explain_row::{Outcome, RowExplanation, Truth};

use crate::live::{self, Loaded};
use crate::preview::{copy_button, Shared};

/// `(name, type)` of each column of a catalog table (qualified or not).
pub fn table_columns(catalog: &Value, table: &str) -> Vec<(String, String)> {
    let want = table.trim().to_lowercase();
    let bare = |n: &str| n.rsplit('.').next().unwrap_or("").to_string();
    catalog
        .get("tables")
        .and_then(Value::as_array)
        .and_then(|ts| {
            ts.iter().find(|t| {
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_lowercase();
                name == want || (!want.contains('.') && bare(&name) == want)
            })
        })
        .and_then(|t| t.get("columns").and_then(Value::as_array))
        .map(|cs| {
            cs.iter()
                .filter_map(|c| match c {
                    Value::String(s) => Some((s.clone(), String::new())),
                    Value::Object(o) => Some((
                        o.get("name")?.as_str()?.to_string(),
                        o.get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_lowercase(),
                    )),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON value of what was typed for a column of type `ty`: `NULL` is null, numbers
/// for numeric types and `true`/`false` for booleans when the text reads so, else the
/// text as a string (the engine compares it as the column's type).
pub fn cell_value(text: &str, ty: &str) -> Value {
    let t = text.trim();
    if t.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    let numeric = [
        "int", "numeric", "decimal", "real", "double", "float", "serial",
    ]
    .iter()
    .any(|k| ty.contains(k));
    if numeric {
        if let Ok(n) = t.parse::<i64>() {
            return Value::from(n);
        }
        if let Some(n) = t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    if ty.starts_with("bool") {
        match t.to_lowercase().as_str() {
            "true" | "t" => return Value::Bool(true),
            "false" | "f" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(text.to_string())
}

/// The row as the engine takes it: the columns given (left empty: not given).
pub fn row_value(columns: &[(String, String)], typed: &BTreeMap<String, String>) -> Value {
    let mut row = Map::new();
    for (name, ty) in columns {
        if let Some(text) = typed.get(name).filter(|t| !t.is_empty()) {
            row.insert(name.clone(), cell_value(text, ty));
        }
    }
    Value::Object(row)
}

/// A pasted row (a JSON object) as typed texts per column.
pub fn pasted(text: &str) -> Result<BTreeMap<String, String>, String> {
    let value: Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("paste a JSON object of column values, such as {\"id\": 7, \"tenant_id\": 2}")?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Null => "NULL".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect())
}

/// Explains the row under the loaded set and the context.
pub fn explain(
    loaded: &Loaded,
    context: &Value,
    table: &str,
    row: &Value,
) -> Result<RowExplanation, String> {
    let set = loaded.set.as_ref().ok_or_else(|| {
        "the policy set does not validate; fix the problems to explain a row".to_string()
    })?;
    let ctx = live::context(context).map_err(|e| format!("the context is not valid: {e}"))?;
    explain_row(set, table, row, &ctx).map_err(|e| e.message)
}

fn truth_class(t: Truth) -> &'static str {
    match t {
        Truth::True => "truth-true",
        Truth::False => "truth-false",
        Truth::Null => "truth-null",
        Truth::Unknown => "truth-unknown",
    }
}

fn outcome_text(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Visible => ("visible", "badge-allow"),
        Outcome::Hidden => ("hidden", "badge-block"),
        Outcome::Undecided => ("undecided", "badge-mask"),
    }
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "(not in the context)".into(),
        Some(v) => crate::model::short(v),
    }
}

fn render(ex: RowExplanation) -> impl IntoView {
    let (word, class) = outcome_text(ex.outcome);
    let sql = ex.diagnostic_sql.clone();
    view! {
        <p><span class=format!("badge small {class}") data-testid="explain-outcome">{word}</span>
            <span class="muted small">{format!(" · {}", ex.table)}</span></p>
        <ul class="small" data-testid="explain-sentences">
            {ex.explanation.iter().map(|s| view! { <li>{s.clone()}</li> }).collect::<Vec<_>>()}
        </ul>
        {ex.denied.as_ref().map(|d| view! {
            <p class="small" data-testid="explain-denied">{format!("The table is denied by {} rule {}.", d.policy, d.rule_index + 1)}</p>
        })}
        {ex.filters.iter().map(|f| view! {
            <div class="explain-filter" data-testid="explain-filter">
                <h4>{format!("{} · Rule {} ({})", f.policy, f.rule_index + 1, f.rule_type)}
                    <span class=format!("chip small {}", truth_class(f.value))>{f.value.as_str()}</span></h4>
                <table class="conjuncts">
                    <thead><tr><th scope="col">"Conjunct"</th><th scope="col">"Value"</th><th scope="col">"Context values"</th></tr></thead>
                    <tbody>
                        {f.conjuncts.iter().map(|c| view! {
                            <tr class:blamed=c.blamed data-testid="explain-conjunct" data-blamed=c.blamed.to_string()>
                                <td><code>{c.written.clone()}</code>
                                    {(!c.missing_columns.is_empty()).then(|| view! {
                                        <span class="small muted">{format!(" (row lacks {})", c.missing_columns.join(", "))}</span>
                                    })}</td>
                                <td><span class=format!("chip small {}", truth_class(c.value))>{c.value.as_str()}</span>
                                    {c.blamed.then(|| view! { <strong class="blame">" hides the row"</strong> })}</td>
                                <td class="small" data-testid="explain-bound">{c.context.iter().map(|b| format!("{} = {}", b.reference, short(&b.value))).collect::<Vec<_>>().join(", ")}</td>
                            </tr>
                        }).collect::<Vec<_>>()}
                    </tbody>
                </table>
            </div>
        }).collect::<Vec<_>>()}
        {ex.admit_with.as_ref().map(|changes| view! {
            <p class="small"><strong>"Smallest context change that shows it: "</strong>
                <span data-testid="explain-admit">{changes.iter().map(|c| format!("{}: {} → {}", c.reference, short(&c.from), crate::model::short(&c.to))).collect::<Vec<_>>().join("; ")}</span></p>
        })}
        {sql.map(|q| {
            let text = q.clone();
            view! {
                <div class="row between"><strong class="small">"Diagnostic SQL (one column per conjunct)"</strong>
                    {copy_button(" the diagnostic SQL", "explain-copy", move || text.clone())}</div>
                <pre class="code" data-testid="explain-sql">{q}</pre>
            }
        })}
    }
}

/// The form, folded under the verdict until opened.
#[component]
pub fn ExplainRow(
    loaded: Memo<Shared<Loaded>>,
    context: RwSignal<Value>,
    catalog: Signal<Value>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let table = RwSignal::new(String::new());
    let typed = RwSignal::new(BTreeMap::<String, String>::new());
    let paste = RwSignal::new(String::new());
    let paste_error = RwSignal::new(None::<String>);
    let columns = Memo::new(move |_| table_columns(&catalog.get(), &table.get()));
    // Computed only while the form is open with a table picked.
    let result = Memo::new(move |_| {
        if !open.get() || table.with(String::is_empty) {
            return None;
        }
        let row = columns.with(|cs| typed.with(|t| row_value(cs, t)));
        let l = loaded.get();
        Some(context.with(|ctx| {
            crate::perf::span("explain-row", || explain(&l.0, ctx, &table.get(), &row))
        }))
    });
    let apply_paste = move |_| match pasted(&paste.get_untracked()) {
        Ok(values) => {
            typed.set(values);
            paste_error.set(None);
        }
        Err(e) => paste_error.set(Some(e)),
    };
    view! {
        <section class="explain-row" data-testid="explain-row">
            <button type="button" class="ghost" data-testid="explain-toggle" aria-expanded=move || open.get().to_string()
                aria-controls="explain-body" on:click=move |_| open.update(|o| *o = !*o)>
                <span aria-hidden="true">{move || if open.get() { "▾ " } else { "▸ " }}</span>"Why is this row hidden?"
            </button>
            <div id="explain-body" hidden=move || !open.get()>
                <label class="field">
                    <span>"Table"</span>
                    <select data-testid="explain-table" on:change=move |ev| table.set(event_target_value(&ev))>
                        <option value="" selected=move || table.with(String::is_empty)>"— pick a table —"</option>
                        {move || crate::model::catalog_tables(&catalog.get()).into_iter().map(|t| {
                            let (v, label) = (t.clone(), t.clone());
                            view! { <option value=t selected=move || table.with(|x| *x == v)>{label}</option> }
                        }).collect::<Vec<_>>()}
                    </select>
                </label>
                {move || (!table.with(String::is_empty)).then(|| view! {
                    <fieldset class="explain-columns">
                        <legend class="small">"The row's values (empty: not given; NULL for null)"</legend>
                        <div class="grid-2">
                            {move || columns.get().into_iter().map(|(name, ty)| {
                                let n = name.clone();
                                let n2 = name.clone();
                                view! {
                                    <label class="field">
                                        <span>{name.clone()}<span class="muted small">{format!(" {ty}")}</span></span>
                                        <input type="text" data-testid=format!("explain-col-{name}")
                                            prop:value=move || typed.with(|t| t.get(&n).cloned().unwrap_or_default())
                                            on:input=move |ev| {
                                                let v = event_target_value(&ev);
                                                typed.update(|t| { t.insert(n2.clone(), v); });
                                            }/>
                                    </label>
                                }
                            }).collect::<Vec<_>>()}
                        </div>
                    </fieldset>
                    <details class="small">
                        <summary>"Paste a row as JSON"</summary>
                        <label class="field">
                            <span>"Row (JSON object)"</span>
                            <textarea rows="3" data-testid="explain-paste" prop:value=move || paste.get()
                                on:input=move |ev| paste.set(event_target_value(&ev))></textarea>
                        </label>
                        <button type="button" class="ghost small" data-testid="explain-paste-apply" on:click=apply_paste>"Fill the fields"</button>
                        {move || paste_error.get().map(|e| view! { <p class="error small" role="alert">{e}</p> })}
                    </details>
                })}
                <div class="explain-result" data-testid="explain-result" aria-live="polite">
                    {move || result.get().map(|r| match r {
                        Ok(ex) => render(ex).into_any(),
                        Err(e) => view! { <p class="error" data-testid="explain-error">{e}</p> }.into_any(),
                    })}
                </div>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Value {
        json!({"tables": [{"name": "public.orders", "columns": [
            {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
            {"name": "status", "type": "text"}, {"name": "paid", "type": "boolean"}]}]})
    }

    #[test]
    fn typed_values_take_the_column_types() {
        let cols = table_columns(&catalog(), "orders");
        assert_eq!(cols.len(), 4);
        let typed: BTreeMap<String, String> = [
            ("id", "7"),
            ("tenant_id", "NULL"),
            ("status", "42"),
            ("paid", "t"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            row_value(&cols, &typed),
            json!({"id": 7, "tenant_id": null, "status": "42", "paid": true})
        );
        assert_eq!(cell_value("2.5", "numeric(12,2)"), json!(2.5));
        assert_eq!(cell_value("x", "integer"), json!("x"));
        assert!(table_columns(&catalog(), "nope").is_empty());
    }

    #[test]
    fn a_pasted_row_fills_the_fields() {
        let t = pasted(r#"{"id": 7, "tenant_id": null, "status": "open"}"#).expect("a row");
        assert_eq!(t.get("id").map(String::as_str), Some("7"));
        assert_eq!(t.get("tenant_id").map(String::as_str), Some("NULL"));
        assert_eq!(t.get("status").map(String::as_str), Some("open"));
        assert!(pasted("[1]").is_err());
        assert!(pasted("{").is_err());
    }

    #[test]
    fn the_blamed_conjunct_and_the_admitting_change_are_found() {
        let draft = json!({"id": "tenancy", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
            {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id AND status <> 'void'"}]});
        let loaded = live::load(&catalog(), &draft, &[]);
        let ctx = json!({"user": "ann", "attributes": {"tenant_id": 1}});
        let ex = explain(
            &loaded,
            &ctx,
            "orders",
            &json!({"id": 7, "tenant_id": 2, "status": "open"}),
        )
        .expect("an explanation");
        assert_eq!(ex.outcome, Outcome::Hidden);
        let f = &ex.filters[0];
        assert_eq!((f.policy.as_str(), f.rule_index), ("tenancy", 0));
        let blamed: Vec<&str> = f
            .conjuncts
            .iter()
            .filter(|c| c.blamed)
            .map(|c| c.written.as_str())
            .collect();
        assert_eq!(blamed.len(), 1);
        assert!(blamed[0].contains("tenant_id"), "{blamed:?}");
        assert!(ex.admit_with.is_some());
        assert!(ex
            .diagnostic_sql
            .as_deref()
            .is_some_and(|s| s.contains("orders")));
        // The same row in its own tenant is visible.
        let ex = explain(
            &loaded,
            &json!({"user": "ann", "attributes": {"tenant_id": 2}}),
            "orders",
            &json!({"id": 7, "tenant_id": 2, "status": "open"}),
        )
        .expect("an explanation");
        assert_eq!(ex.outcome, Outcome::Visible);
        // An unknown table is an error, not a panic.
        assert!(explain(&loaded, &ctx, "nope", &json!({})).is_err());
    }
}
