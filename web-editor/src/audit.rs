//! Audit views: the evaluation log with its filters in the URL (`#/audit?verdict=block&
//! user=alice`, shareable, and the back button returns to the previous filters), one
//! evaluation opened (`#/audit/evaluation/ID`: original and rewritten SQL, context,
//! policies), the audit trail of changes, and the last 24 hours (verdicts and the rules
//! that blocked most).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api;
use crate::app::{Route, Session};
use crate::live;
use crate::model;

/// The evaluation log's filters, as the URL carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// `allow`, `mask`, `row_filter` or `block` (answered by the server).
    pub verdict: String,
    /// The context's user.
    pub user: String,
    /// A policy that took part.
    pub policy: String,
    /// A table the SQL names.
    pub table: String,
    /// `YYYY-MM-DDTHH:MM` (UTC), from the inputs; the server takes RFC 3339.
    pub from: String,
    pub to: String,
}

/// Decodes `%XX` escapes and `+` of a query value.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl LogFilter {
    /// The filter of a query string (`verdict=block&user=alice`); unknown keys are ignored.
    pub fn parse(query: &str) -> LogFilter {
        let mut f = LogFilter::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = unescape(v);
            match k {
                "verdict" => f.verdict = v,
                "user" => f.user = v,
                "policy" => f.policy = v,
                "table" => f.table = v,
                "from" => f.from = v,
                "to" => f.to = v,
                _ => {}
            }
        }
        f
    }

    /// The query string of this filter (empty members left out).
    pub fn query(&self) -> String {
        [
            ("verdict", &self.verdict),
            ("user", &self.user),
            ("policy", &self.policy),
            ("table", &self.table),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", api::enc(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The filter as a request of the evaluation log (the server filters by verdict, the
    /// context's user, a policy that took part, a table the SQL names, and time).
    pub fn request(&self) -> String {
        let mut path = "/api/v1/evaluations?limit=500".to_string();
        let stamp = |t: &str| {
            if t.len() == 16 {
                format!("{t}:00Z")
            } else {
                format!("{t}Z")
            }
        };
        for (k, v) in [
            ("verdict", &self.verdict),
            ("user", &self.user),
            ("policy", &self.policy),
            ("table", &self.table),
        ] {
            let v = v.trim();
            if !v.is_empty() {
                path.push_str(&format!("&{k}={}", api::enc(v)));
            }
        }
        if !self.from.is_empty() {
            path.push_str(&format!("&from={}", api::enc(&stamp(&self.from))));
        }
        if !self.to.is_empty() {
            path.push_str(&format!("&to={}", api::enc(&stamp(&self.to))));
        }
        path
    }
}

fn badge(verdict: String) -> impl IntoView {
    view! { <span class=format!("badge small badge-{verdict}")>{verdict.clone()}</span> }
}

/// The audit page: the evaluation log with filters, the last 24 hours, the audit trail.
#[component]
pub fn AuditPage(query: String) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let filter = LogFilter::parse(&query);
    let form = RwSignal::new(filter.clone());
    let items = RwSignal::new(None::<Vec<Value>>);
    let dashboard = RwSignal::new(None::<Value>);
    let trail = RwSignal::new(Vec::<Value>::new());
    let token = session.token();
    {
        let (filter, token) = (filter.clone(), token.clone());
        spawn_local(async move {
            match api::call("GET", &filter.request(), &token, None, None).await {
                Ok(a) if a.ok() => items.set(Some(
                    a.body
                        .get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                )),
                Ok(a) => session.say(
                    format!("cannot read the evaluation log: {}", a.message()),
                    true,
                ),
                Err(e) => session.say(e, true),
            }
            if let Ok(a) = api::call("GET", "/api/v1/policies/dashboard", &token, None, None).await
            {
                if a.ok() {
                    dashboard.set(Some(a.body));
                }
            }
            if let Ok(a) = api::call("GET", "/api/v1/audit?limit=50", &token, None, None).await {
                if a.ok() {
                    trail.set(
                        a.body
                            .get("items")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    );
                }
            }
        });
    }
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        session.go(Route::Audit(form.get_untracked().query()));
    };
    let clear = move |_| session.go(Route::Audit(String::new()));
    let input = move |label: &'static str,
                      testid: &'static str,
                      kind: &'static str,
                      get: fn(&LogFilter) -> String,
                      set: fn(&mut LogFilter, String)| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input type=kind data-testid=testid prop:value=move || form.with(get)
                    on:input=move |ev| form.update(|f| set(f, event_target_value(&ev)))/>
            </label>
        }
    };
    let verdicts = ["", "allow", "mask", "row_filter", "block"];
    // The select shows the URL's verdict once its options exist (an option's `selected`
    // attribute alone was not kept when the page is rebuilt by the back button).
    let verdict_select = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        let v = form.with(|f| f.verdict.clone());
        if let Some(el) = verdict_select.get() {
            let _ = js_sys::Reflect::set(el.as_ref(), &"value".into(), &v.into());
        }
    });
    let chart = move || {
        dashboard.get().map(|d| {
            let counts: Vec<(String, i64)> = d
                .get("evaluations_24h_by_verdict")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0))).collect())
                .unwrap_or_default();
            let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
            let top = d.get("top_blocking_rules").and_then(Value::as_array).cloned().unwrap_or_default();
            view! {
                <section class="card" data-testid="audit-24h">
                    <h2>"Last 24 hours"</h2>
                    <ul class="bars" data-testid="verdict-chart" aria-label="Evaluations by verdict">
                        {counts.into_iter().map(|(k, n)| {
                            let width = format!("width: {}%", n * 100 / max);
                            view! {
                                <li>
                                    <span class="bar-label">{k.clone()}</span>
                                    <span class="bar-track"><span class=format!("bar badge-{k}") style=width></span></span>
                                    <span class="num">{n}</span>
                                </li>
                            }
                        }).collect::<Vec<_>>()}
                    </ul>
                    <h3>"Top blocking rules"</h3>
                    {if top.is_empty() {
                        view! { <p class="muted small">"Nothing blocked."</p> }.into_any()
                    } else {
                        view! {
                            <ol class="small" data-testid="top-blocking">
                                {top.into_iter().map(|b| {
                                    let policy = model::text_at(&b, "/policy");
                                    let rule = model::text_at(&b, "/rule");
                                    let n = b.get("count").and_then(Value::as_i64).unwrap_or(0);
                                    let index = b.get("rule_index").and_then(Value::as_i64);
                                    let what = match (policy.is_empty(), index) {
                                        (false, Some(i)) => format!("{policy} rule {} ({rule})", i + 1),
                                        (false, None) => format!("{policy} ({rule})"),
                                        (true, _) => rule,
                                    };
                                    let link = (!policy.is_empty()).then(|| Route::Policy(policy.clone()).hash());
                                    view! { <li>{match link {
                                        Some(href) => view! { <a href=href>{what}</a> }.into_any(),
                                        None => view! { <span>{what}</span> }.into_any(),
                                    }}{format!(" — {n}")}</li> }
                                }).collect::<Vec<_>>()}
                            </ol>
                        }.into_any()
                    }}
                </section>
            }
        })
    };
    view! {
        <section class="audit-page" data-testid="audit-page">
            <h1>"Audit"</h1>
            <div class="columns">
                <div class="col-main">
                    <form class="card filters" data-testid="log-filters" on:submit=apply>
                        <h2>"Evaluation log"</h2>
                        <div class="row wrap end">
                            <label class="field">
                                <span>"Verdict"</span>
                                <select data-testid="log-verdict" node_ref=verdict_select on:change=move |ev| form.update(|f| f.verdict = event_target_value(&ev))>
                                    {verdicts.into_iter().map(|v| view! {
                                        <option value=v selected=move || form.with(|f| f.verdict == v)>{if v.is_empty() { "any" } else { v }}</option>
                                    }).collect::<Vec<_>>()}
                                </select>
                            </label>
                            {input("User", "log-user", "text", |f| f.user.clone(), |f, v| f.user = v)}
                            {input("Policy", "log-policy", "text", |f| f.policy.clone(), |f, v| f.policy = v)}
                            {input("Table", "log-table", "text", |f| f.table.clone(), |f, v| f.table = v)}
                            {input("From (UTC)", "log-from", "datetime-local", |f| f.from.clone(), |f, v| f.from = v)}
                            {input("To (UTC)", "log-to", "datetime-local", |f| f.to.clone(), |f, v| f.to = v)}
                            <button type="submit" class="primary" data-testid="log-apply">"Filter"</button>
                            <button type="button" class="ghost" data-testid="log-clear" on:click=clear>"Clear"</button>
                        </div>
                    </form>
                    <section class="card">
                        {move || match items.get() {
                            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                            Some(list) if list.is_empty() => view! { <p class="muted" data-testid="log-empty">"No evaluation matches."</p> }.into_any(),
                            Some(list) => view! {
                                <p class="muted small" data-testid="log-count">{format!("{} evaluation{}", list.len(), if list.len() == 1 { "" } else { "s" })}</p>
                                <div class="table-scroll">
                                <table class="log" data-testid="log-list">
                                    <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"User"</th><th scope="col">"Verdict"</th><th scope="col">"SQL"</th><th scope="col">"Policies"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|e| {
                                            let id = model::text_at(&e, "/id");
                                            let when = model::text_at(&e, "/created_at").replace('T', " ");
                                            let when = when.get(..19).unwrap_or(&when).to_string();
                                            let user = model::text_at(&e, "/user");
                                            let user = if user.is_empty() { model::text_at(&e, "/caller") } else { user };
                                            view! {
                                                <tr data-testid=format!("log-row-{id}")>
                                                    <td class="small"><a href=Route::Evaluation(id.clone()).hash() data-testid="log-open">{when}</a></td>
                                                    <td>{user}</td>
                                                    <td>{badge(model::text_at(&e, "/verdict"))}</td>
                                                    <td><code class="small clip">{model::text_at(&e, "/sql")}</code></td>
                                                    <td class="small">{model::list_at(&e, "/policies").join(", ")}</td>
                                                </tr>
                                            }
                                        }).collect::<Vec<_>>()}
                                    </tbody>
                                </table>
                                </div>
                            }.into_any(),
                        }}
                    </section>
                </div>
                <div class="col-side">
                    {chart}
                    <DeletedPolicies/>
                    <section class="card" data-testid="audit-trail">
                        <h2>"Audit trail"</h2>
                        <ul class="trail small">
                            {move || trail.get().into_iter().map(|t| view! { <TrailEntry entry=t/> }).collect::<Vec<_>>()}
                        </ul>
                    </section>
                </div>
            </div>
        </section>
    }
}

/// A value of a field diff, short: text as is, anything else as compact JSON.
pub fn short_value(v: &Value) -> String {
    let text = match v {
        Value::Null => "—".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

/// The field diff a policy change made, from the versions' diff (`before → after` per
/// field): the version before the entry's revision against that revision.
pub fn diff_path(entry: &Value) -> Option<String> {
    if model::text_at(entry, "/object_type") != "policy" {
        return None;
    }
    let revision = entry.pointer("/detail/revision").and_then(Value::as_i64)?;
    (revision > 1).then(|| {
        format!(
            "/api/v1/policies/{}/versions/{}/diff/{revision}",
            api::enc(&model::text_at(entry, "/object_id")),
            revision - 1
        )
    })
}

/// One entry of the audit trail; a policy change opens its field diff.
#[component]
fn TrailEntry(entry: Value) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let object = model::text_at(&entry, "/object_id");
    let kind = model::text_at(&entry, "/object_type");
    let fields = model::list_at(&entry, "/fields").join(", ");
    let at = model::text_at(&entry, "/at").replace('T', " ");
    let at = at.get(..19).unwrap_or(&at).to_string();
    let diff = diff_path(&entry);
    let changes = RwSignal::new(None::<Result<Vec<Value>, String>>);
    let open = move |path: String| {
        spawn_local(async move {
            changes.set(Some(
                match api::call("GET", &path, &session.token(), None, None).await {
                    Ok(a) if a.ok() => Ok(a
                        .body
                        .get("changes")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()),
                    Ok(a) => Err(a.message()),
                    Err(e) => Err(e),
                },
            ));
        });
    };
    view! {
        <li data-testid="trail-entry">
            <span class="muted">{at}</span>" "
            <strong>{model::text_at(&entry, "/actor")}</strong>" "
            {model::text_at(&entry, "/action")}" "
            {if kind == "policy" {
                view! { <a href=Route::Policy(object.clone()).hash()>{object.clone()}</a> }.into_any()
            } else {
                view! { <code>{format!("{kind} {object}")}</code> }.into_any()
            }}
            {(!fields.is_empty()).then(|| view! { <span class="muted">{format!(" ({fields})")}</span> })}
            {diff.map(|path| view! {
                " "<button class="ghost small" data-testid="trail-diff-button"
                    aria-label=format!("Changes to {object}")
                    on:click=move |_| open(path.clone())>"Changes"</button>
            })}
            {move || changes.get().map(|c| match c {
                Err(m) => view! { <p class="error">{m}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted">"No field changed."</p> }.into_any(),
                Ok(list) => view! {
                    <ul class="field-diff" data-testid="trail-diff">
                        {list.into_iter().map(|c| view! {
                            <li>
                                <code>{model::text_at(&c, "/field")}</code>": "
                                <del class="before">{short_value(c.get("before").unwrap_or(&Value::Null))}</del>
                                " → "
                                <ins class="after">{short_value(c.get("after").unwrap_or(&Value::Null))}</ins>
                            </li>
                        }).collect::<Vec<_>>()}
                    </ul>
                }.into_any(),
            })}
        </li>
    }
}

/// Deleted policies, with Restore (editors and admins).
#[component]
fn DeletedPolicies() -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let items = RwSignal::new(None::<Vec<Value>>);
    let load = move || {
        spawn_local(async move {
            if let Ok(a) = api::call(
                "GET",
                "/api/v1/deleted-policies",
                &session.token(),
                None,
                None,
            )
            .await
            {
                if a.ok() {
                    items.set(Some(
                        a.body
                            .get("items")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    ));
                }
            }
        });
    };
    load();
    let restore = move |id: String, revision: i64| {
        spawn_local(async move {
            let path = format!("/api/v1/policies/{}/restore", api::enc(&id));
            match api::call("POST", &path, &session.token(), None, Some(revision)).await {
                Ok(a) if a.ok() => {
                    session.say(format!("restored `{id}`"), false);
                    session.refresh();
                    load();
                }
                Ok(a) => session.say(format!("not restored: {}", a.message()), true),
                Err(e) => session.say(e, true),
            }
        });
    };
    let writer = move || !crate::app::read_only(&session);
    view! {
        <section class="card" data-testid="deleted-policies">
            <h2>"Deleted policies"</h2>
            {move || match items.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="muted small" data-testid="deleted-empty">"None."</p> }.into_any(),
                Some(list) => view! {
                    <ul class="trail small">
                        {list.into_iter().map(|d| {
                            let id = model::text_at(&d, "/id");
                            let name = model::text_at(&d, "/name");
                            let revision = d.get("revision").and_then(Value::as_i64).unwrap_or(0);
                            let at = model::text_at(&d, "/deleted_at").replace('T', " ");
                            let at = at.get(..19).unwrap_or(&at).to_string();
                            let by = model::text_at(&d, "/deleted_by");
                            let label = format!("Restore {id}");
                            let rid = id.clone();
                            view! {
                                <li data-testid=format!("deleted-{id}")>
                                    <code>{id.clone()}</code>" "{name}
                                    <span class="muted">{format!(" — deleted {at} by {by}")}</span>" "
                                    {writer().then(|| view! {
                                        <button class="ghost small" data-testid="restore" aria-label=label
                                            on:click=move |_| restore(rid.clone(), revision)>"Restore"</button>
                                    })}
                                </li>
                            }
                        }).collect::<Vec<_>>()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}

/// One logged evaluation: what was asked, what ran, who asked and which policies decided.
#[component]
pub fn EvaluationPage(id: String) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let record = RwSignal::new(None::<Result<Value, String>>);
    {
        let id = id.clone();
        spawn_local(async move {
            let path = format!("/api/v1/evaluations/{}", api::enc(&id));
            match api::call("GET", &path, &session.token(), None, None).await {
                Ok(a) if a.ok() => record.set(Some(Ok(a.body))),
                Ok(a) => record.set(Some(Err(a.message()))),
                Err(e) => record.set(Some(Err(e))),
            }
        });
    }
    view! {
        <section class="evaluation-page" data-testid="evaluation-page">
            <p><a href="#/audit" on:click=move |ev| {
                // Back to the filtered log when it is where we came from.
                if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
                    if h.length().unwrap_or(0) > 1 {
                        ev.prevent_default();
                        let _ = h.back();
                    }
                }
            }>"‹ Evaluation log"</a></p>
            {move || match record.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(m)) => view! { <div class="card error" role="alert" data-testid="evaluation-error">{format!("cannot open this evaluation: {m}")}</div> }.into_any(),
                Some(Ok(r)) => {
                    // The log's fields are either nested under `evaluation` or beside `context`.
                    let e = r.get("evaluation").cloned().unwrap_or_else(|| r.clone());
                    let sql = model::text_at(&e, "/sql");
                    let rewritten = model::text_at(&e, "/rewritten_sql");
                    let context = serde_json::to_string_pretty(r.get("context").unwrap_or(&Value::Null)).unwrap_or_default();
                    let reason = model::text_at(&r, "/result/reason");
                    let user = model::text_at(&e, "/user");
                    view! {
                        <h1>"Evaluation "<code>{model::text_at(&e, "/id")}</code></h1>
                        <div class="card">
                            <div class="verdict-head">
                                {badge(model::text_at(&e, "/verdict"))}
                                <span data-testid="evaluation-reason">{reason}</span>
                            </div>
                            <p class="small muted">{format!("{} · asked by {} for user {}", model::text_at(&e, "/created_at"), model::text_at(&e, "/caller"), if user.is_empty() { "—".to_string() } else { user })}</p>
                            <div class="sql-pair">
                                <figure>
                                    <figcaption>"Original"</figcaption>
                                    <pre class="sql" data-testid="evaluation-sql">{live::format_sql(&sql)}</pre>
                                </figure>
                                <figure>
                                    <figcaption>"Rewritten (what ran)"</figcaption>
                                    <pre class="sql" data-testid="evaluation-rewritten">{if rewritten.is_empty() { "— blocked: nothing ran —".to_string() } else { live::format_sql(&rewritten) }}</pre>
                                </figure>
                            </div>
                        </div>
                        <div class="row wrap">
                            <section class="card grow">
                                <h2>"Policies"</h2>
                                <ul data-testid="evaluation-policies">
                                    {model::list_at(&e, "/policies").into_iter().map(|p| view! { <li><a href=Route::Policy(p.clone()).hash()>{p.clone()}</a></li> }).collect::<Vec<_>>()}
                                </ul>
                            </section>
                            <section class="card grow">
                                <h2>"Context"</h2>
                                <pre class="mono small" data-testid="evaluation-context">{context}</pre>
                            </section>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_url() {
        let f = LogFilter {
            verdict: "block".into(),
            user: "al ice".into(),
            policy: "p&q".into(),
            table: "public.orders".into(),
            from: "2026-01-02T03:04".into(),
            to: String::new(),
        };
        let q = f.query();
        assert_eq!(
            q,
            "verdict=block&user=al%20ice&policy=p%26q&table=public.orders&from=2026-01-02T03%3A04"
        );
        assert_eq!(LogFilter::parse(&q), f);
        assert_eq!(LogFilter::parse(""), LogFilter::default());
        assert_eq!(
            f.request(),
            "/api/v1/evaluations?limit=500&verdict=block&user=al%20ice&policy=p%26q&table=public.orders&from=2026-01-02T03%3A04%3A00Z"
        );
    }

    #[test]
    fn policy_entries_open_the_diff_of_their_revision() {
        use serde_json::json;
        let e = json!({"object_type": "policy", "object_id": "a b", "detail": {"revision": 4}});
        assert_eq!(
            diff_path(&e).as_deref(),
            Some("/api/v1/policies/a%20b/versions/3/diff/4")
        );
        assert_eq!(
            diff_path(
                &json!({"object_type": "policy", "object_id": "a", "detail": {"revision": 1}})
            ),
            None
        );
        assert_eq!(
            diff_path(
                &json!({"object_type": "settings", "object_id": "o", "detail": {"revision": 2}})
            ),
            None
        );
        assert_eq!(short_value(&json!(null)), "—");
        assert_eq!(short_value(&json!("x")), "x");
        assert_eq!(short_value(&json!({"a": 1})), "{\"a\":1}");
        assert_eq!(short_value(&json!("y".repeat(200))).chars().count(), 161);
    }
}
