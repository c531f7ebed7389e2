//! The policy list: the dashboard summary, search, filters, sorting and pagination, all
//! answered by the server (`GET /api/v1/policies`, `GET /api/v1/policies/dashboard`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api;
use crate::app::{Route, Session};
use crate::model;

/// Page size of the list.
pub const PAGE: usize = 20;

/// The query string of a list request.
pub fn list_query(
    q: &str,
    rule_type: &str,
    mode: &str,
    enabled: &str,
    tag: &str,
    sort: &str,
    offset: usize,
) -> String {
    let mut out = format!("limit={PAGE}&offset={offset}");
    for (k, v) in [
        ("q", q.trim()),
        ("type", rule_type),
        ("mode", mode),
        ("enabled", enabled),
        ("sort", sort),
    ] {
        if !v.is_empty() {
            out.push_str(&format!("&{k}={}", api::enc(v)));
        }
    }
    let tag = tag.trim();
    if let Some(label) = tag.strip_prefix("label:") {
        out.push_str(&format!("&label={}", api::enc(label.trim())));
    } else if let Some(p) = tag.strip_prefix("purpose:") {
        out.push_str(&format!("&purpose_tag={}", api::enc(p.trim())));
    } else if !tag.is_empty() {
        out.push_str(&format!("&compliance_tag={}", api::enc(tag)));
    }
    out
}

#[component]
pub fn PolicyList() -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let q = RwSignal::new(String::new());
    let rule_type = RwSignal::new(String::new());
    let mode = RwSignal::new(String::new());
    let enabled = RwSignal::new(String::new());
    let tag = RwSignal::new(String::new());
    let sort = RwSignal::new(String::new());
    let offset = RwSignal::new(0usize);
    let page = RwSignal::new(None::<Value>);
    let dashboard = RwSignal::new(None::<Value>);
    let loading = RwSignal::new(false);
    // Answers can arrive out of order while typing: only the latest request's is shown.
    let seq = StoredValue::new(0u64);

    Effect::new(move |_| {
        let query = list_query(
            &q.get(),
            &rule_type.get(),
            &mode.get(),
            &enabled.get(),
            &tag.get(),
            &sort.get(),
            offset.get(),
        );
        let token = session.token();
        let mine = seq.get_value() + 1;
        seq.set_value(mine);
        loading.set(true);
        spawn_local(async move {
            let a = api::call(
                "GET",
                &format!("/api/v1/policies?{query}"),
                &token,
                None,
                None,
            )
            .await;
            // The page may be gone by now (try_: a disposed value is not an error here).
            if seq.try_get_value() != Some(mine) {
                return;
            }
            loading.set(false);
            match a {
                Ok(a) if a.ok() => page.set(Some(a.body)),
                Ok(a) => session.say(a.message(), true),
                Err(e) => session.say(e, true),
            }
        });
    });
    Effect::new(move |_| {
        let token = session.token();
        spawn_local(async move {
            if let Ok(a) = api::call("GET", "/api/v1/policies/dashboard", &token, None, None).await
            {
                if a.ok() {
                    dashboard.set(Some(a.body));
                }
            }
        });
    });

    let reset = move || offset.set(0);
    let select = move |label: &'static str,
                       testid: &'static str,
                       sig: RwSignal<String>,
                       options: Vec<(String, String)>| {
        view! {
            <label class="field inline">
                <span>{label}</span>
                <select data-testid=testid on:change=move |ev| { sig.set(event_target_value(&ev)); reset(); }>
                    {options.into_iter().map(|(v, text)| {
                        let v2 = v.clone();
                        view! { <option value=v selected=move || sig.get() == v2>{text}</option> }
                    }).collect::<Vec<_>>()}
                </select>
            </label>
        }
    };
    let mut types = vec![(String::new(), "Any type".to_string())];
    types.extend(
        model::RULE_TYPES
            .iter()
            .map(|(t, l)| (t.to_string(), l.to_string())),
    );
    let opts = |xs: &[(&str, &str)]| -> Vec<(String, String)> {
        xs.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };

    view! {
        <section class="list-page">
            <div class="page-head">
                <h1>"Policies"</h1>
                <button class="primary" data-testid="new-policy" disabled=move || crate::app::read_only(&session) on:click=move |_| session.go(Route::New)>"New policy"</button>
            </div>
            <Dashboard data=dashboard/>
            <div class="filters card" role="search">
                <label class="field grow">
                    <span>"Search"</span>
                    <input type="search" data-testid="search" placeholder="id, name, description or table"
                        prop:value=move || q.get()
                        on:input=move |ev| { q.set(event_target_value(&ev)); reset(); }/>
                </label>
                {select("Rule type", "filter-type", rule_type, types)}
                {select("Mode", "filter-mode", mode, opts(&[("", "Any mode"), ("enforce", "Enforce"), ("monitor", "Monitor")]))}
                {select("Enabled", "filter-enabled", enabled, opts(&[("", "Any"), ("true", "Enabled"), ("false", "Disabled")]))}
                <label class="field inline">
                    <span>"Tag"</span>
                    <input type="text" data-testid="filter-tag" placeholder="gdpr, purpose:x, label:k=v"
                        prop:value=move || tag.get()
                        on:change=move |ev| { tag.set(event_target_value(&ev)); reset(); }/>
                </label>
                {select("Sort", "sort", sort, opts(&[("", "Id"), ("name", "Name"), ("-priority", "Priority"), ("-updated_at", "Recently updated"), ("-revision", "Revision")]))}
            </div>
            <div class="card table-card">
                <table class="policies" data-testid="policy-table">
                    <caption class="sr-only">"Stored policies"</caption>
                    <thead><tr>
                        <th scope="col">"Id"</th><th scope="col">"Name"</th><th scope="col">"Rules"</th>
                        <th scope="col">"Mode"</th><th scope="col">"Priority"</th><th scope="col">"Assigned"</th>
                        <th scope="col">"Revision"</th><th scope="col">"Updated"</th>
                    </tr></thead>
                    <tbody>
                        {move || {
                            let items = page.get().and_then(|p| p.get("items").and_then(Value::as_array).cloned()).unwrap_or_default();
                            if items.is_empty() {
                                let text = if loading.get() { "Loading…" } else { "No policy matches." };
                                return view! { <tr><td colspan="8" class="muted" data-testid="empty">{text}</td></tr> }.into_any();
                            }
                            items.into_iter().map(|p| view! { <PolicyRow p=p/> }).collect::<Vec<_>>().into_any()
                        }}
                    </tbody>
                </table>
                <div class="pager">
                    {move || {
                        let total = page.get().and_then(|p| p.get("total").and_then(Value::as_u64)).unwrap_or(0) as usize;
                        let start = offset.get();
                        let end = (start + PAGE).min(total);
                        let text = if total == 0 { "0 policies".to_string() } else { format!("{}–{} of {}", start + 1, end, total) };
                        view! {
                            <button class="ghost" data-testid="prev-page" disabled=move || offset.get() == 0
                                on:click=move |_| offset.update(|o| *o = o.saturating_sub(PAGE))>"‹ Previous"</button>
                            <span data-testid="page-info">{text}</span>
                            <button class="ghost" data-testid="next-page" disabled={end >= total}
                                on:click=move |_| offset.update(|o| *o += PAGE)>"Next ›"</button>
                        }
                    }}
                </div>
            </div>
        </section>
    }
}

#[component]
fn PolicyRow(p: Value) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let id = p
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mode = p
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("enforce")
        .to_string();
    let enabled = p.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let priority = p.get("priority").and_then(Value::as_i64).unwrap_or(0);
    let assigned = p.get("assigned").and_then(Value::as_bool).unwrap_or(false);
    let revision = p.get("revision").and_then(Value::as_i64).unwrap_or(0);
    let updated = p
        .get("updated_at")
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace('T', " ");
    let updated = updated.get(..16).unwrap_or(&updated).to_string();
    let types = model::rule_types(&p);
    let route = Route::Policy(id.clone());
    let href = route.hash();
    let go = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        session.go(route.clone());
    };
    view! {
        <tr data-testid=format!("policy-row-{id}") class:disabled=!enabled>
            <td><a href=href on:click=go class="mono">{id.clone()}</a></td>
            <td>{name}</td>
            <td>{types.into_iter().map(|t| { let class = format!("chip chip-{t}"); view! { <span class=class>{t}</span> } }).collect::<Vec<_>>()}</td>
            <td>
                <span class=format!("chip mode-{mode}")>{mode.clone()}</span>
                {(!enabled).then(|| view! { <span class="chip">"disabled"</span> })}
            </td>
            <td class="num">{priority}</td>
            <td>{if assigned { "yes" } else { "no" }}</td>
            <td class="num">{revision}</td>
            <td class="muted small">{updated}</td>
        </tr>
    }
}

#[component]
fn Dashboard(data: RwSignal<Option<Value>>) -> impl IntoView {
    let n = move |ptr: &str| {
        data.get()
            .and_then(|d| d.pointer(ptr).and_then(Value::as_i64))
            .unwrap_or(0)
    };
    view! {
        <div class="dashboard" data-testid="dashboard">
            <div class="stat card"><span class="stat-n">{move || n("/policies/total")}</span><span>"policies"</span></div>
            <div class="stat card"><span class="stat-n">{move || n("/policies/enabled")}</span><span>"enabled"</span></div>
            <div class="stat card"><span class="stat-n">{move || n("/policies/by_mode/monitor")}</span><span>"in monitor mode"</span></div>
            <div class="stat card"><span class="stat-n">{move || n("/policies/unassigned")}</span><span>"unassigned"</span></div>
            <div class="stat card"><span class="stat-n">{move || n("/active_exceptions")}</span><span>"active exceptions"</span></div>
            <div class="stat card wide">
                <span class="stat-n">{move || n("/evaluations_24h")}</span>
                <span>"evaluations in 24 h"</span>
                <span class="verdict-mix">
                    {move || ["allow", "mask", "row_filter", "block"].into_iter().map(|v| {
                        let c = n(&format!("/evaluations_24h_by_verdict/{v}"));
                        view! { <span class=format!("badge badge-{v} small")>{format!("{v} {c}")}</span> }
                    }).collect::<Vec<_>>()}
                </span>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_encodes_filters() {
        assert_eq!(
            list_query("tenant x", "row_filter", "", "true", "gdpr", "-priority", 40),
            "limit=20&offset=40&q=tenant%20x&type=row_filter&enabled=true&sort=-priority&compliance_tag=gdpr"
        );
        assert!(
            list_query("", "", "", "", "label:team=data", "", 0).ends_with("&label=team%3Ddata")
        );
        assert!(list_query("", "", "", "", "purpose:ads", "", 0).ends_with("&purpose_tag=ads"));
    }
}
