//! The catalog editor: the organization's tables, columns and types, with import from JSON
//! (a catalog, or a policy set holding one), saved with `PUT /api/v1/catalog`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::api;
use crate::app::Session;
use crate::model;

/// The catalog inside pasted JSON: `{"tables": …}` itself, or a policy set's `catalog`.
pub fn import(text: &str) -> Result<Value, String> {
    let v = model::parse_text(text, !text.trim_start().starts_with(['{', '[']))?;
    let cat = match v.get("catalog") {
        Some(c) => c.clone(),
        None => v,
    };
    if cat.get("tables").is_some_and(Value::is_array) {
        Ok(cat)
    } else {
        Err("expected a catalog (`{\"tables\": [...]}`) or a policy set with a `catalog`".into())
    }
}

/// Columns as objects `{name, type}` (string columns become objects without a type).
pub fn normalize(catalog: &Value) -> Value {
    let mut out = catalog.clone();
    if let Some(tables) = out.get_mut("tables").and_then(Value::as_array_mut) {
        for t in tables {
            if let Some(cols) = t.get_mut("columns").and_then(Value::as_array_mut) {
                for c in cols.iter_mut() {
                    if let Value::String(name) = c {
                        *c = json!({"name": name.clone()});
                    }
                }
            }
        }
    }
    out
}

#[component]
pub fn CatalogPage() -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let doc = RwSignal::new(normalize(&session.catalog.get_untracked()));
    let import_text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let problems = RwSignal::new(Vec::<String>::new());
    // The session's catalog arrives after sign-in: take it while nothing is edited here.
    let edited = RwSignal::new(false);
    Effect::new(move |_| {
        let c = session.catalog.get();
        if !edited.get_untracked() {
            doc.set(normalize(&c));
        }
    });
    let tables = Memo::new(move |_| {
        doc.get()
            .get("tables")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    });
    let edit = move |ptr: String, v: Option<Value>| {
        edited.set(true);
        doc.update(|d| {
            if d.is_null() {
                *d = json!({"tables": []});
            }
            model::set_pointer(d, &ptr, v);
        });
    };
    let add_table = move |_| {
        let n = tables.get_untracked();
        edit(
            format!("/tables/{n}"),
            Some(json!({"name": "", "columns": [{"name": "id", "type": "integer"}]})),
        );
    };
    let do_import = move |_| match import(&import_text.get_untracked()) {
        Ok(c) => {
            edited.set(true);
            doc.set(normalize(&c));
            error.set(None);
            import_text.set(String::new());
        }
        Err(e) => error.set(Some(e)),
    };
    let save = move |_| {
        let body = doc.get_untracked();
        let rev = session.catalog_revision.get_untracked();
        spawn_local(async move {
            match api::call(
                "PUT",
                "/api/v1/catalog",
                &session.token(),
                Some(&body),
                Some(rev),
            )
            .await
            {
                Ok(a) if a.ok() => {
                    problems.set(Vec::new());
                    edited.set(false);
                    session.say("catalog saved", false);
                    session.refresh();
                }
                Ok(a) => {
                    let ps = a
                        .body
                        .pointer("/error/details/problems")
                        .and_then(Value::as_array)
                        .map(|ps| {
                            ps.iter()
                                .map(|p| {
                                    format!(
                                        "{}{} — {}",
                                        p.get("policy")
                                            .and_then(Value::as_str)
                                            .map(|id| format!("policy `{id}` · "))
                                            .unwrap_or_default(),
                                        model::text_at(p, "/field"),
                                        model::text_at(p, "/message")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    problems.set(ps);
                    session.say(format!("catalog not saved: {}", a.message()), true);
                }
                Err(e) => session.say(e, true),
            }
        });
    };
    view! {
        <section class="catalog-page" data-testid="catalog-page">
            <div class="page-head">
                <h1>"Catalog"</h1>
                <span class="muted">{move || format!("revision {}", session.catalog_revision.get())}</span>
                <span class="spacer"></span>
                <button class="primary" data-testid="catalog-save" disabled=move || crate::app::read_only(&session) on:click=save>"Save catalog"</button>
            </div>
            <p class="muted">"The catalog is strict: a query naming a relation it does not list is blocked, and every policy is validated against it."</p>
            <div role="alert"><ul class="problem-list">{move || problems.get().into_iter().map(|p| view! { <li>{p}</li> }).collect::<Vec<_>>()}</ul></div>
            <div class="tables">
                {move || (0..tables.get()).map(|i| view! { <TableCard doc=doc index=i edit=edit/> }).collect::<Vec<_>>()}
            </div>
            <button class="ghost" data-testid="catalog-add-table" on:click=add_table>"+ Table"</button>
            <details class="card">
                <summary>"Import from JSON or YAML"</summary>
                <label class="field">
                    <span>"A catalog, or a policy set with a catalog"</span>
                    <textarea class="mono" rows="8" data-testid="catalog-import-text" prop:value=move || import_text.get()
                        on:input=move |ev| import_text.set(event_target_value(&ev))></textarea>
                </label>
                <button class="ghost" data-testid="catalog-import" on:click=do_import>"Import (replaces the tables above)"</button>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </details>
        </section>
    }
}

#[component]
fn TableCard(
    doc: RwSignal<Value>,
    index: usize,
    edit: impl Fn(String, Option<Value>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let i = index;
    let cols = Memo::new(move |_| {
        doc.get()
            .pointer(&format!("/tables/{i}/columns"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    });
    let text = move |ptr: String| move || model::text_at(&doc.get(), &ptr);
    view! {
        <section class="card table" data-testid=format!("catalog-table-{i}")>
            <div class="row">
                <label class="field grow">
                    <span>"Table"</span>
                    <input type="text" class="mono" data-testid=format!("catalog-table-{i}-name") placeholder="public.orders"
                        prop:value=text(format!("/tables/{i}/name"))
                        on:input=move |ev| edit(format!("/tables/{i}/name"), Some(Value::String(event_target_value(&ev))))/>
                </label>
                <button class="ghost small danger" aria-label=format!("Remove table {}", i + 1)
                    on:click=move |_| edit(format!("/tables/{i}"), None)>"Remove table"</button>
            </div>
            <table class="columns-table">
                <thead><tr><th scope="col">"Column"</th><th scope="col">"Type"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {move || (0..cols.get()).map(|j| view! {
                        <tr>
                            <td><input type="text" class="mono" aria-label=format!("Table {} column {} name", i + 1, j + 1) data-testid=format!("catalog-table-{i}-column-{j}-name")
                                prop:value=text(format!("/tables/{i}/columns/{j}/name"))
                                on:input=move |ev| edit(format!("/tables/{i}/columns/{j}/name"), Some(Value::String(event_target_value(&ev))))/></td>
                            <td><input type="text" class="mono" aria-label=format!("Table {} column {} type", i + 1, j + 1) placeholder="text"
                                prop:value=text(format!("/tables/{i}/columns/{j}/type"))
                                on:input=move |ev| { let t = event_target_value(&ev); edit(format!("/tables/{i}/columns/{j}/type"), (!t.is_empty()).then_some(Value::String(t))) }/></td>
                            <td><button class="ghost small" aria-label=format!("Remove column {}", j + 1)
                                on:click=move |_| edit(format!("/tables/{i}/columns/{j}"), None)>"×"</button></td>
                        </tr>
                    }).collect::<Vec<_>>()}
                </tbody>
            </table>
            <button class="ghost small" data-testid=format!("catalog-table-{i}-add-column") on:click=move |_| {
                let n = cols.get_untracked();
                edit(format!("/tables/{i}/columns/{n}"), Some(json!({"name": "", "type": "text"})));
            }>"+ Column"</button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_takes_a_catalog_or_a_policy_set() {
        let c = import(r#"{"tables": [{"name": "t", "columns": ["a"]}]}"#).unwrap();
        assert_eq!(
            normalize(&c),
            json!({"tables": [{"name": "t", "columns": [{"name": "a"}]}]})
        );
        let s = import(r#"{"catalog": {"tables": []}, "policies": []}"#).unwrap();
        assert_eq!(s, json!({"tables": []}));
        assert!(import("tables: 3").is_err());
        assert!(import("tables:\n  - name: t\n    columns: [a]\n").is_ok());
    }
}
