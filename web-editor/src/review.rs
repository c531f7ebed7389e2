//! The Review tab: the organization's change requests (`/api/v1/change-requests`, filtered
//! by status in the URL: `#/review?status=in_review`), and one opened
//! (`#/review/policy/ID/N`, `#/review/catalog/N`): the proposed version against the active
//! one field by field, submit, approve or reject with a comment, and publish (the failing
//! policy tests listed when the server refuses with 422, and an admin's override with a
//! reason, sent in `Verdict-Override-Reason`). Every refusal of the server is shown as it
//! says it, code included.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::api::{self, Answer};
use crate::app::{Route, Session};
use crate::live;
use crate::model::{self, FieldChange};

/// The statuses a change request can be listed by, as the server names them.
pub const STATUSES: &[(&str, &str)] = &[
    ("", "All"),
    ("draft", "Draft"),
    ("in_review", "In review"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("active", "Active"),
    ("archived", "Archived"),
];

/// The list's filter as the URL carries it (`status=in_review&author=ann`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    pub status: String,
    pub author: String,
}

impl ReviewFilter {
    /// The filter of a query string; unknown keys and statuses are ignored.
    pub fn parse(query: &str) -> ReviewFilter {
        let mut f = ReviewFilter::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = crate::app::decode(v);
            match k {
                "status" if STATUSES.iter().any(|(s, _)| *s == v) => f.status = v,
                "author" => f.author = v.trim().to_string(),
                _ => {}
            }
        }
        f
    }

    /// The query string of this filter (empty members left out).
    pub fn query(&self) -> String {
        [("status", &self.status), ("author", &self.author)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", api::enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The list request of this filter.
    pub fn request(&self) -> String {
        let q = self.query();
        if q.is_empty() {
            "/api/v1/change-requests?limit=100".into()
        } else {
            format!("/api/v1/change-requests?limit=100&{q}")
        }
    }
}

/// A change request's address: a policy's version or a catalog version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKey {
    Policy(String, i64),
    Catalog(i64),
}

impl ChangeKey {
    /// The key of a change request as the server lists it.
    pub fn of(request: &Value) -> Option<ChangeKey> {
        let version = request.get("version").and_then(Value::as_i64)?;
        match request.get("target").and_then(Value::as_str) {
            Some("catalog") => Some(ChangeKey::Catalog(version)),
            _ => Some(ChangeKey::Policy(
                request.get("policy_id")?.as_str()?.to_string(),
                version,
            )),
        }
    }

    /// `/api/v1/policies/ID/versions/N` or `/api/v1/catalog/versions/N`.
    pub fn api_path(&self) -> String {
        match self {
            ChangeKey::Policy(id, n) => format!("/api/v1/policies/{}/versions/{n}", api::enc(id)),
            ChangeKey::Catalog(n) => format!("/api/v1/catalog/versions/{n}"),
        }
    }

    /// A title for people.
    pub fn title(&self) -> String {
        match self {
            ChangeKey::Policy(id, n) => format!("{id} · version {n}"),
            ChangeKey::Catalog(n) => format!("catalog · version {n}"),
        }
    }
}

/// A version snapshot (`{policy, assignments, deleted}`) as one policy document, the form
/// the editor diffs (assignments inside the policy).
pub fn snapshot_policy(snapshot: &Value) -> Value {
    let mut policy = snapshot.get("policy").cloned().unwrap_or_else(|| json!({}));
    if let Some(obj) = policy.as_object_mut() {
        obj.insert(
            "assignments".into(),
            snapshot
                .get("assignments")
                .cloned()
                .unwrap_or_else(|| json!([])),
        );
    }
    policy
}

/// The proposed version against the active one (none for a new policy), field by field;
/// a deletion is one change of its own.
pub fn proposal_diff(active: Option<&Value>, proposed: &Value) -> Vec<FieldChange> {
    let after = snapshot_policy(proposed);
    let mut out = match active {
        Some(a) => model::field_diff(&snapshot_policy(a), &after),
        None => model::field_diff(&json!({}), &after),
    };
    let deleted = |s: &Value| s.get("deleted").and_then(Value::as_bool).unwrap_or(false);
    if deleted(proposed) && !active.is_some_and(deleted) {
        out.retain(|c| c.change != "removed");
        out.push(FieldChange {
            field: "deleted".into(),
            change: "changed",
            before: json!(false),
            after: json!(true),
        });
    }
    out
}

/// A value as several readable lines (YAML), for a diff's before and after.
fn readable(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        v @ (Value::Bool(_) | Value::Number(_)) => v.to_string(),
        v => model::print_text(v, true).trim_end().to_string(),
    }
}

/// The failing cases of a `policy_tests_failed` answer: `(name, what differed)`.
pub fn failed_cases(body: &Value) -> Vec<(String, String)> {
    body.pointer("/error/details/failed_cases")
        .and_then(Value::as_array)
        .map(|cases| {
            cases
                .iter()
                .map(|c| {
                    let why = c
                        .get("mismatches")
                        .and_then(Value::as_array)
                        .map(|ms| {
                            ms.iter()
                                .map(|m| {
                                    format!(
                                        "{}: expected {}, got {}",
                                        model::text_at(m, "/field"),
                                        model::short(m.get("expected").unwrap_or(&Value::Null)),
                                        model::short(m.get("actual").unwrap_or(&Value::Null))
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default();
                    (model::text_at(c, "/name"), why)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A refusal as one line: the server's message and its code.
fn refusal(a: &Answer) -> String {
    match a.code() {
        Some(code) => format!("{} ({code}, {})", a.message(), a.status),
        None => format!("{} ({})", a.message(), a.status),
    }
}

fn status_label(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("?", |(_, l)| *l)
}

fn status_badge(status: String) -> impl IntoView {
    view! { <span class=format!("badge small status-{status}") data-testid="cr-status">{status_label(&status)}</span> }
}

/// The Review page: the filtered list of change requests.
#[component]
pub fn ReviewPage(query: String) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let filter = ReviewFilter::parse(&query);
    let items = RwSignal::new(None::<Result<Vec<Value>, String>>);
    {
        let path = filter.request();
        spawn_local(async move {
            let a = api::call("GET", &path, &session.token(), None, None).await;
            items.set(Some(match a {
                Ok(a) if a.ok() => Ok(a
                    .body
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()),
                Ok(a) => Err(refusal(&a)),
                Err(e) => Err(e),
            }));
        });
    }
    let current = filter.status.clone();
    let author = filter.author.clone();
    let pick = move |status: &'static str| {
        let f = ReviewFilter {
            status: status.to_string(),
            author: author.clone(),
        };
        move |_| session.go(Route::Review(f.query()))
    };
    view! {
        <section class="review-page" data-testid="review-page">
            <div class="page-head">
                <h1>"Review"</h1>
                <span class="muted small">"Changes waiting for four eyes, and what became of them."</span>
            </div>
            <nav class="filter-chips" aria-label="Change request status">
                {STATUSES.iter().map(|(s, label)| {
                    let on = *s == current;
                    view! {
                        <button class="chip-button" data-testid=format!("review-filter-{}", if s.is_empty() { "all" } else { s })
                            aria-pressed=on.to_string() on:click=pick(s)>{*label}</button>
                    }
                }).collect::<Vec<_>>()}
            </nav>
            {move || match items.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(m)) => view! { <p class="error" role="alert" data-testid="review-error">{m}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="muted" data-testid="review-empty">"No change request here. With review required (settings: "<code>"review.required"</code>"), saving a policy proposes a change instead of applying it."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <div class="table-scroll" tabindex="0" role="region" aria-label="Change requests">
                    <table class="list-table" data-testid="review-list">
                        <thead><tr>
                            <th scope="col">"Change"</th><th scope="col">"Action"</th><th scope="col">"Status"</th>
                            <th scope="col">"Author"</th><th scope="col">"Approvals"</th><th scope="col">"Fields"</th><th scope="col">"Updated"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().filter_map(|cr| {
                                let key = ChangeKey::of(&cr)?;
                                let href = Route::Change(key.clone()).hash();
                                let testid = match &key {
                                    ChangeKey::Policy(id, n) => format!("cr-{id}-{n}"),
                                    ChangeKey::Catalog(n) => format!("cr-catalog-{n}"),
                                };
                                Some(view! {
                                    <tr data-testid=testid>
                                        <td><a href=href>{key.title()}</a></td>
                                        <td>{model::text_at(&cr, "/action")}</td>
                                        <td>{status_badge(model::text_at(&cr, "/status"))}</td>
                                        <td>{model::text_at(&cr, "/author")}</td>
                                        <td class="num">{format!("{} of {}", model::text_at(&cr, "/approvals"), model::text_at(&cr, "/approvals_required"))}</td>
                                        <td>{model::list_at(&cr, "/changed_fields").join(", ")}</td>
                                        <td class="small">{model::text_at(&cr, "/updated_at")}</td>
                                    </tr>
                                })
                            }).collect::<Vec<_>>()}
                        </tbody>
                    </table>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}

/// What the detail page loaded.
#[derive(Debug, Clone, PartialEq)]
struct Loaded {
    request: Value,
    changes: Vec<FieldChange>,
    /// For a catalog change: the proposed catalog.
    catalog: Option<Value>,
}

async fn load_change(session: Session, key: &ChangeKey) -> Result<Loaded, String> {
    let token = session.token();
    let get = |path: String| {
        let token = token.clone();
        async move { api::call("GET", &path, &token, None, None).await }
    };
    let filter = match key {
        ChangeKey::Policy(id, _) => format!("policy_id={}&target=policy", api::enc(id)),
        ChangeKey::Catalog(_) => "target=catalog".into(),
    };
    let list = get(format!("/api/v1/change-requests?limit=500&{filter}")).await?;
    if !list.ok() {
        return Err(refusal(&list));
    }
    let request = list
        .body
        .get("items")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .find(|cr| ChangeKey::of(cr).as_ref() == Some(key))
                .cloned()
        })
        .ok_or_else(|| format!("there is no change request {}", key.title()))?;
    let proposed = get(key.api_path()).await?;
    if !proposed.ok() {
        return Err(refusal(&proposed));
    }
    match key {
        ChangeKey::Catalog(_) => Ok(Loaded {
            request,
            changes: Vec::new(),
            catalog: proposed.body.get("catalog").cloned(),
        }),
        ChangeKey::Policy(id, _) => {
            // The version in force now (none for a policy the change creates).
            let versions = get(format!(
                "/api/v1/policies/{}/versions?limit=500",
                api::enc(id)
            ))
            .await?;
            let active = versions
                .body
                .get("items")
                .and_then(Value::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .find(|v| v.get("status").and_then(Value::as_str) == Some("active"))
                })
                .and_then(|v| v.get("version").and_then(Value::as_i64));
            let active_snapshot = match active {
                Some(n) => {
                    let a = get(format!("/api/v1/policies/{}/versions/{n}", api::enc(id))).await?;
                    if !a.ok() {
                        return Err(refusal(&a));
                    }
                    a.body.get("snapshot").cloned()
                }
                None => None,
            };
            let proposed = proposed
                .body
                .get("snapshot")
                .cloned()
                .unwrap_or(Value::Null);
            Ok(Loaded {
                request,
                changes: proposal_diff(active_snapshot.as_ref(), &proposed),
                catalog: None,
            })
        }
    }
}

/// One change request opened: the diff, its reviews, and what the signed-in user may do.
#[component]
pub fn ChangePage(key: ChangeKey) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let loaded = RwSignal::new(None::<Result<Loaded, String>>);
    let reload = {
        let key = key.clone();
        move || {
            let key = key.clone();
            spawn_local(async move {
                let l = load_change(session, &key).await;
                loaded.set(Some(l));
            });
        }
    };
    reload();
    let comment = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    // The last refusal: its line, and the failing tests when the tests refused.
    let refused = RwSignal::new(None::<(String, Vec<(String, String)>)>);
    let done = RwSignal::new(None::<String>);
    let key = StoredValue::new(key);
    let act = move |what: &'static str| {
        let reload = reload.clone();
        move |_| {
            let endpoint = match what {
                "approve" | "reject" => "review",
                "override" => "publish",
                other => other,
            };
            let path = format!("{}/{endpoint}", key.get_value().api_path());
            let body = match what {
                "approve" | "reject" => {
                    let c = comment.get_untracked();
                    Some(if c.trim().is_empty() {
                        json!({ "decision": what })
                    } else {
                        json!({ "decision": what, "comment": c.trim() })
                    })
                }
                _ => None,
            };
            let reason_text = reason.get_untracked().trim().to_string();
            if what == "override" && reason_text.is_empty() {
                refused.set(Some((
                    "give the reason for publishing over failing tests (it is audited)".into(),
                    Vec::new(),
                )));
                return;
            }
            busy.set(true);
            refused.set(None);
            done.set(None);
            let reload = reload.clone();
            spawn_local(async move {
                let headers: Vec<(&str, &str)> = if what == "override" {
                    vec![("Verdict-Override-Reason", reason_text.as_str())]
                } else {
                    Vec::new()
                };
                let a = api::call_with(
                    "POST",
                    &path,
                    &session.token(),
                    body.as_ref(),
                    None,
                    &headers,
                )
                .await;
                busy.set(false);
                match a {
                    Ok(a) if a.ok() => {
                        done.set(Some(match what {
                            "submit" => "submitted for review".into(),
                            "approve" => "approved".into(),
                            "reject" => "rejected".into(),
                            _ => "published: this version is now the one enforced".into(),
                        }));
                        comment.set(String::new());
                        if matches!(what, "publish" | "override") {
                            session.refresh();
                        }
                        reload();
                    }
                    Ok(a) => refused.set(Some((refusal(&a), failed_cases(&a.body)))),
                    Err(e) => refused.set(Some((e, Vec::new()))),
                }
            });
        }
    };
    let me = move || {
        session
            .me
            .get()
            .map(|m| (model::text_at(&m, "/user"), model::text_at(&m, "/role")))
            .unwrap_or_default()
    };
    let (submit, approve, reject, publish, force) = (
        act("submit"),
        act("approve"),
        act("reject"),
        act("publish"),
        act("override"),
    );
    let title = key.get_value().title();
    view! {
        <section class="review-page" data-testid="change-page">
            <div class="page-head">
                <a href="#/review" class="ghost"><span aria-hidden="true">"‹ "</span>"Review"</a>
                <h1 data-testid="change-title">{title}</h1>
            </div>
            {move || match loaded.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(m)) => view! { <p class="error" role="alert" data-testid="review-error">{m}</p> }.into_any(),
                Some(Ok(l)) => {
                    let cr = l.request.clone();
                    let status = model::text_at(&cr, "/status");
                    let author = model::text_at(&cr, "/author");
                    let (user, role) = me();
                    let can_review = role != "viewer";
                    let reviews = cr.get("reviews").and_then(Value::as_array).cloned().unwrap_or_default();
                    view! {
                        <div class="card" data-testid="change-summary">
                            <p>
                                {status_badge(status.clone())}" "
                                <strong>{model::text_at(&cr, "/action")}</strong>
                                {format!(" by {author} · {} of {} approvals · made against revision {}",
                                    model::text_at(&cr, "/approvals"), model::text_at(&cr, "/approvals_required"),
                                    model::text_at(&cr, "/base_revision"))}
                            </p>
                            {(!model::text_at(&cr, "/published_by").is_empty()).then(|| view! {
                                <p class="small muted">{format!("published by {} at {}", model::text_at(&cr, "/published_by"), model::text_at(&cr, "/published_at"))}</p>
                            })}
                        </div>
                        <section class="card" aria-labelledby="diff-head">
                            <h2 id="diff-head">"Proposed against active"</h2>
                            {match l.catalog {
                                Some(cat) => view! {
                                    <pre class="code" data-testid="catalog-proposal">{readable(&cat)}</pre>
                                }.into_any(),
                                None if l.changes.is_empty() => view! { <p class="muted" data-testid="diff-empty">"No field differs from the active version."</p> }.into_any(),
                                None => view! {
                                    <table class="diff-table" data-testid="change-diff">
                                        <thead><tr><th scope="col">"Field"</th><th scope="col">"Active"</th><th scope="col">"Proposed"</th></tr></thead>
                                        <tbody>
                                            {l.changes.into_iter().map(|c| view! {
                                                <tr class=format!("diff-{}", c.change) data-testid="diff-row">
                                                    <th scope="row">{live::field_label(&c.field)}<span class="chip small">{c.change}</span></th>
                                                    <td><pre class="code before">{readable(&c.before)}</pre></td>
                                                    <td><pre class="code after">{readable(&c.after)}</pre></td>
                                                </tr>
                                            }).collect::<Vec<_>>()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                            }}
                        </section>
                        <section class="card" aria-labelledby="reviews-head">
                            <h2 id="reviews-head">"Reviews"</h2>
                            {if reviews.is_empty() {
                                view! { <p class="muted small">"No review yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="reviews" data-testid="reviews">
                                        {reviews.into_iter().map(|r| view! {
                                            <li><strong>{model::text_at(&r, "/reviewer")}</strong>" "
                                                <span class=format!("badge small review-{}", model::text_at(&r, "/decision"))>{model::text_at(&r, "/decision")}</span>
                                                " "{model::text_at(&r, "/comment")}
                                                <span class="muted small">{format!(" · {}", model::text_at(&r, "/created_at"))}</span></li>
                                        }).collect::<Vec<_>>()}
                                    </ul>
                                }.into_any()
                            }}
                        </section>
                        <section class="card review-actions" aria-labelledby="actions-head">
                            <h2 id="actions-head">"Actions"</h2>
                            {(status == "draft").then(|| view! {
                                <p class="small">{if author == user { "Your change is a draft: submit it to ask for reviews." } else { "A draft: its author submits it for review." }}</p>
                                <button class="primary" data-testid="cr-submit" disabled=move || busy.get() on:click=submit.clone()>"Submit for review"</button>
                            })}
                            {(status == "in_review" && can_review).then(|| view! {
                                <label class="field">
                                    <span>"Comment"</span>
                                    <textarea rows="3" data-testid="review-comment" prop:value=move || comment.get()
                                        on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
                                </label>
                                {(author == user).then(|| view! { <p class="small muted">"You wrote this change: the server lets someone else approve it."</p> })}
                                <div class="row">
                                    <button class="primary" data-testid="review-approve" disabled=move || busy.get() on:click=approve.clone()>"Approve"</button>
                                    <button class="ghost danger" data-testid="review-reject" disabled=move || busy.get() on:click=reject.clone()>"Reject"</button>
                                </div>
                            })}
                            {(status == "approved" && can_review).then(|| view! {
                                <button class="primary" data-testid="cr-publish" disabled=move || busy.get() on:click=publish.clone()>"Publish"</button>
                            })}
                            {matches!(status.as_str(), "rejected" | "active" | "archived").then(|| view! {
                                <p class="small muted">"Nothing left to do on this change."</p>
                            })}
                        </section>
                    }.into_any()
                }
            }}
            {move || done.get().map(|m| view! { <p class="ok" role="status" data-testid="review-done">{m}</p> })}
            {move || refused.get().map(|(line, cases)| {
                let tests_failed = !cases.is_empty();
                let admin = me().1 == "admin";
                view! {
                    <div class="card error" role="alert" data-testid="review-refusal">
                        <p><strong>"The server refused: "</strong><span data-testid="review-refusal-text">{line}</span></p>
                        {tests_failed.then(|| view! {
                            <h3>"Failing policy tests"</h3>
                            <ul data-testid="failing-tests">
                                {cases.into_iter().map(|(name, why)| view! {
                                    <li data-testid="failing-test"><strong>{name}</strong>" — "{why}</li>
                                }).collect::<Vec<_>>()}
                            </ul>
                        })}
                        {(tests_failed && admin).then(|| view! {
                            <div class="row end wrap">
                                <label class="field grow">
                                    <span>"Reason to publish anyway (audited)"</span>
                                    <input type="text" data-testid="override-reason" prop:value=move || reason.get()
                                        on:input=move |ev| reason.set(event_target_value(&ev))/>
                                </label>
                                <button class="danger" data-testid="override-publish" disabled=move || busy.get() on:click=force.clone()>"Publish over failing tests"</button>
                            </div>
                        })}
                    </div>
                }
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_url() {
        let f = ReviewFilter {
            status: "in_review".into(),
            author: "ann lee".into(),
        };
        assert_eq!(ReviewFilter::parse(&f.query()), f);
        assert_eq!(
            f.request(),
            "/api/v1/change-requests?limit=100&status=in_review&author=ann%20lee"
        );
        // An unknown status is not sent to the server.
        assert_eq!(ReviewFilter::parse("status=bogus").status, "");
        assert_eq!(
            ReviewFilter::default().request(),
            "/api/v1/change-requests?limit=100"
        );
    }

    #[test]
    fn change_keys_name_policy_and_catalog_versions() {
        let p = json!({"target": "policy", "policy_id": "pii masks", "version": 4});
        let c = json!({"target": "catalog", "version": 2});
        assert_eq!(
            ChangeKey::of(&p).map(|k| k.api_path()),
            Some("/api/v1/policies/pii%20masks/versions/4".into())
        );
        assert_eq!(
            ChangeKey::of(&c).map(|k| k.api_path()),
            Some("/api/v1/catalog/versions/2".into())
        );
        assert_eq!(ChangeKey::of(&json!({"target": "policy"})), None);
    }

    #[test]
    fn the_diff_compares_the_proposal_with_the_active_version() {
        let active = json!({"policy": {"id": "p", "priority": 1, "rules": [
            {"type": "deny", "table": "a"}, {"type": "deny", "table": "b"}]},
            "assignments": [{"kind": "everyone", "value": "*"}], "deleted": false});
        let proposed = json!({"policy": {"id": "p", "priority": 2, "rules": [
            {"type": "deny", "table": "a"}, {"type": "deny", "table": "c"}]},
            "assignments": [{"kind": "role", "value": "analyst"}], "deleted": false});
        let d = proposal_diff(Some(&active), &proposed);
        let fields: Vec<(&str, &str)> = d.iter().map(|c| (c.field.as_str(), c.change)).collect();
        assert_eq!(
            fields,
            vec![
                ("assignments", "changed"),
                ("priority", "changed"),
                ("rules[1]", "changed")
            ]
        );
        // A new policy: every field is added.
        let new = proposal_diff(None, &proposed);
        assert!(new.iter().all(|c| c.change == "added"));
        assert!(new
            .iter()
            .any(|c| c.field == "rules[0]" || c.field == "rules"));
        // A deletion is said once, not as every field removed.
        let gone = json!({"policy": {"id": "p"}, "assignments": [], "deleted": true});
        let d = proposal_diff(Some(&active), &gone);
        assert!(d
            .iter()
            .any(|c| c.field == "deleted" && c.after == json!(true)));
        assert!(d.iter().all(|c| c.change != "removed"));
    }

    #[test]
    fn failing_tests_are_read_from_a_422() {
        let body = json!({"error": {"code": "policy_tests_failed", "message": "m",
            "details": {"failed_cases": [{"name": "analyst sees masked email", "passed": false,
                "verdict": "allow", "mismatches": [{"field": "verdict", "expected": "mask", "actual": "allow"}]}]}}});
        assert_eq!(
            failed_cases(&body),
            vec![(
                "analyst sees masked email".to_string(),
                "verdict: expected mask, got allow".to_string()
            )]
        );
        assert!(failed_cases(&json!({})).is_empty());
    }
}
