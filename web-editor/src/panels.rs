//! The editor's server-backed panels: the conflict view of a stale save, version history
//! with diff and rollback, exceptions, and the impact of the draft on recent evaluations.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::api;
use crate::app::Session;
use crate::editor::{clean, EditorState};
use crate::model;
use crate::storage;

fn policy_path(state: &EditorState, rest: &str) -> String {
    let id = state
        .id
        .map(|s| s.get_value())
        .unwrap_or_else(|| model::text_at(&state.draft.get_untracked(), "/id"));
    format!("/api/v1/policies/{}{rest}", api::enc(&id))
}

/// GETs `path` and hands the answer's body to `then`; a failed call or an error answer goes
/// to the status line.
fn load(session: Session, path: String, then: impl FnOnce(Value) + 'static) {
    spawn_local(async move {
        match api::call("GET", &path, &session.token(), None, None).await {
            Ok(a) if a.ok() => then(a.body),
            Ok(a) => session.say(a.message(), true),
            Err(e) => session.say(e, true),
        }
    });
}

/// GETs the list at `path` and sets `items` to its `items` (empty when it has none).
fn load_items(session: Session, path: String, items: RwSignal<Vec<Value>>) {
    load(session, path, move |body| {
        items.set(
            body.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )
    });
}

fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// A save found a newer revision on the server: what differs, and reload or overwrite.
#[component]
pub fn ConflictView(state: EditorState, current: Value) -> impl IntoView {
    let mine = state.draft.get_untracked();
    let theirs = clean(&current);
    let changes = model::field_diff(&theirs, &mine);
    let rev = current.get("revision").and_then(Value::as_i64).unwrap_or(0);
    let by = current
        .get("updated_by")
        .and_then(Value::as_str)
        .unwrap_or("someone")
        .to_string();
    let at = current
        .get("updated_at")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let base = state.revision().unwrap_or(0);
    let current2 = current.clone();
    let reload = move |_| {
        if let Some(id) = current2.get("id").and_then(Value::as_str) {
            storage::set_draft(id, None);
        }
        state.take(current2.clone());
        state.session.say(
            format!("reloaded revision {rev}; your changes were discarded"),
            false,
        );
    };
    let rows = changes
        .iter()
        .map(|c| {
            view! {
                <tr>
                    <th scope="row"><code>{c.field.clone()}</code></th>
                    <td><pre>{pretty(&c.before)}</pre></td>
                    <td><pre>{pretty(&c.after)}</pre></td>
                </tr>
            }
        })
        .collect::<Vec<_>>();
    let same = changes.is_empty();
    view! {
        <div class="card conflict" role="alertdialog" aria-labelledby="conflict-title" data-testid="conflict">
            <h2 id="conflict-title">"This policy changed on the server"</h2>
            <p>{format!("You started from revision {base}; {by} saved revision {rev} at {at}.")}</p>
            {if same {
                view! { <p class="muted">"Their version and yours are the same."</p> }.into_any()
            } else {
                view! {
                    <table class="diff" data-testid="conflict-diff">
                        <thead><tr><th scope="col">"Field"</th><th scope="col">{format!("Server (revision {rev})")}</th><th scope="col">"Yours"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
            <div class="row">
                <button class="ghost" data-testid="conflict-reload" on:click=reload>"Reload theirs (discard mine)"</button>
                <button class="primary danger" data-testid="conflict-overwrite" on:click=move |_| state.save(true)>
                    {format!("Overwrite revision {rev} with mine")}
                </button>
                <button class="ghost" data-testid="conflict-close" on:click=move |_| state.conflict.set(None)>"Keep editing"</button>
            </div>
        </div>
    }
}

/// Version history: every version with author and changed fields; diff any version with
/// the current one; roll back to it.
#[component]
pub fn History(state: EditorState) -> impl IntoView {
    let session = state.session;
    let versions = RwSignal::new(Vec::<Value>::new());
    let diff = RwSignal::new(None::<Value>);
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        tick.get();
        state.stored.get();
        let path = policy_path(&state, "/versions?limit=100");
        load_items(session, path, versions);
    });
    let show_diff = move |n: i64| {
        let Some(cur) = state.revision() else { return };
        let path = policy_path(&state, &format!("/versions/{n}/diff/{cur}"));
        load(session, path, move |body| diff.set(Some(body)));
    };
    let rollback = move |n: i64| {
        let rev = state.revision();
        let path = policy_path(&state, &format!("/versions/{n}/rollback"));
        spawn_local(async move {
            match api::call("POST", &path, &session.token(), None, rev).await {
                Ok(a) if a.ok() => {
                    let r = a.body.get("revision").and_then(Value::as_i64).unwrap_or(0);
                    state.take(a.body);
                    diff.set(None);
                    session.say(
                        format!("rolled back to version {n} (now revision {r})"),
                        false,
                    );
                    session.refresh();
                }
                Ok(a) => session.say(format!("rollback failed: {}", a.message()), true),
                Err(e) => session.say(e, true),
            }
        });
    };
    view! {
        <section class="card history" role="tabpanel" data-testid="history">
            <h2>"Versions"</h2>
            <table class="versions">
                <thead><tr><th scope="col">"Version"</th><th scope="col">"Action"</th><th scope="col">"By"</th><th scope="col">"When"</th><th scope="col">"Changed"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {move || {
                        let current = state.revision().unwrap_or(0);
                        versions.get().into_iter().map(|v| {
                            let n = v.get("version").and_then(Value::as_i64).unwrap_or(0);
                            let changed = model::list_at(&v, "/changed_fields").join(", ");
                            // `2026-01-02T03:04:05.678Z`: the date, and the time under it (UTC).
                            let stamp = model::text_at(&v, "/created_at");
                            let (date, time) = stamp.split_once('T').unwrap_or((&stamp, ""));
                            let (date, time) = (date.to_string(), time.get(..8).unwrap_or(time).to_string());
                            let title = stamp.clone();
                            view! {
                                <tr data-testid=format!("version-{n}")>
                                    <td class="num">{n}{(n == current).then(|| view! { <span class="chip current">"current"</span> })}</td>
                                    <td>{model::text_at(&v, "/action")}</td>
                                    <td>{model::text_at(&v, "/author")}</td>
                                    <td class="small when" title=title><span>{date}</span>" "<span class="muted">{time}</span></td>
                                    <td class="small">{if n == 1 { "—".to_string() } else { changed }}</td>
                                    <td class="actions">
                                        {(n != current).then(|| view! {
                                            <button class="ghost small" data-testid=format!("diff-{n}") on:click=move |_| show_diff(n)>"Diff"</button>
                                            <button class="ghost small" data-testid=format!("rollback-{n}") on:click=move |_| rollback(n)>"Roll back"</button>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect::<Vec<_>>()
                    }}
                </tbody>
            </table>
            {move || diff.get().map(|d| {
                let from = d.get("from").and_then(Value::as_i64).unwrap_or(0);
                let to = d.get("to").and_then(Value::as_i64).unwrap_or(0);
                let rows = d.get("changes").and_then(Value::as_array).cloned().unwrap_or_default().into_iter().map(|c| view! {
                    <tr>
                        <th scope="row"><code>{model::text_at(&c, "/field")}</code><span class="muted small">{format!(" {}", model::text_at(&c, "/change"))}</span></th>
                        <td><pre>{pretty(c.get("before").unwrap_or(&Value::Null))}</pre></td>
                        <td><pre>{pretty(c.get("after").unwrap_or(&Value::Null))}</pre></td>
                    </tr>
                }).collect::<Vec<_>>();
                view! {
                    <div class="version-diff" data-testid="version-diff">
                        <h3>{format!("Version {from} → {to}")}</h3>
                        <table class="diff">
                            <thead><tr><th scope="col">"Field"</th><th scope="col">{format!("Version {from}")}</th><th scope="col">{format!("Version {to}")}</th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                        <button class="ghost small" on:click=move |_| diff.set(None)>"Close diff"</button>
                    </div>
                }
            })}
        </section>
    }
}

/// Exceptions: carve-outs for a user or role, bounded in time or uses.
#[component]
pub fn Exceptions(state: EditorState) -> impl IntoView {
    let session = state.session;
    let items = RwSignal::new(Vec::<Value>::new());
    let tick = RwSignal::new(0u32);
    let kind = RwSignal::new("user".to_string());
    let subject = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let max_uses = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    Effect::new(move |_| {
        tick.get();
        let path = policy_path(&state, "/exceptions");
        load_items(session, path, items);
    });
    let grant = move |_| {
        let mut body = serde_json::Map::new();
        body.insert(kind.get_untracked(), json!(subject.get_untracked().trim()));
        let exp = expires.get_untracked();
        if !exp.is_empty() {
            // <input type="datetime-local"> gives local time without a zone; send it as UTC.
            let full = if exp.len() == 16 {
                format!("{exp}:00Z")
            } else {
                format!("{exp}Z")
            };
            body.insert("expires_at".into(), json!(full));
        }
        if let Some(n) = model::number_value(&max_uses.get_untracked()) {
            body.insert("max_uses".into(), n);
        }
        let r = reason.get_untracked();
        if !r.trim().is_empty() {
            body.insert("reason".into(), json!(r));
        }
        let path = policy_path(&state, "/exceptions");
        spawn_local(async move {
            match api::call(
                "POST",
                &path,
                &session.token(),
                Some(&Value::Object(body)),
                None,
            )
            .await
            {
                Ok(a) if a.ok() => {
                    subject.set(String::new());
                    max_uses.set(String::new());
                    reason.set(String::new());
                    expires.set(String::new());
                    session.say("exception granted", false);
                    tick.update(|t| *t += 1);
                }
                Ok(a) => session.say(format!("not granted: {}", a.message()), true),
                Err(e) => session.say(e, true),
            }
        });
    };
    let revoke = move |eid: String| {
        let path = policy_path(&state, &format!("/exceptions/{}", api::enc(&eid)));
        spawn_local(async move {
            match api::call("DELETE", &path, &session.token(), None, None).await {
                Ok(a) if a.ok() => {
                    session.say("exception revoked", false);
                    tick.update(|t| *t += 1);
                }
                Ok(a) => session.say(a.message(), true),
                Err(e) => session.say(e, true),
            }
        });
    };
    view! {
        <section class="card exceptions" role="tabpanel" data-testid="exceptions">
            <h2>"Exceptions"</h2>
            <p class="muted small">"An active exception exempts its user or role from this policy at evaluation, until it expires or its uses run out."</p>
            <table>
                <thead><tr><th scope="col">"Who"</th><th scope="col">"Uses"</th><th scope="col">"Expires"</th><th scope="col">"Reason"</th><th scope="col">"State"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {move || items.get().into_iter().map(|e| {
                        let eid = model::text_at(&e, "/id");
                        let active = e.get("active").and_then(Value::as_bool).unwrap_or(false);
                        let revoked = e.get("revoked_at").is_some_and(|v| !v.is_null());
                        let uses = format!("{}{}", model::text_at(&e, "/uses"),
                            e.get("max_uses").and_then(Value::as_i64).map(|m| format!(" / {m}")).unwrap_or_default());
                        view! {
                            <tr data-testid=format!("exception-{eid}")>
                                <td>{format!("{} {}", model::text_at(&e, "/subject_kind"), model::text_at(&e, "/subject"))}</td>
                                <td class="num">{uses}</td>
                                <td class="small">{model::text_at(&e, "/expires_at")}</td>
                                <td class="small">{model::text_at(&e, "/reason")}</td>
                                <td><span class=if active { "chip ok" } else { "chip" }>{if active { "active" } else if revoked { "revoked" } else { "inactive" }}</span></td>
                                <td>{(!revoked).then(|| { let id2 = eid.clone(); view! {
                                    <button class="ghost small danger" on:click=move |_| revoke(id2.clone())>"Revoke"</button>
                                }})}</td>
                            </tr>
                        }
                    }).collect::<Vec<_>>()}
                </tbody>
            </table>
            <h3>"Grant an exception"</h3>
            <div class="row wrap end">
                <label class="field"><span>"For"</span>
                    <select data-testid="exception-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="user">"user"</option><option value="role">"role"</option>
                    </select>
                </label>
                <label class="field"><span>"Name"</span>
                    <input type="text" data-testid="exception-subject" prop:value=move || subject.get() on:input=move |ev| subject.set(event_target_value(&ev))/></label>
                <label class="field"><span>"Expires (UTC)"</span>
                    <input type="datetime-local" data-testid="exception-expires" prop:value=move || expires.get() on:input=move |ev| expires.set(event_target_value(&ev))/></label>
                <label class="field"><span>"Max uses"</span>
                    <input type="number" min="1" data-testid="exception-max-uses" prop:value=move || max_uses.get() on:input=move |ev| max_uses.set(event_target_value(&ev))/></label>
                <label class="field grow"><span>"Reason"</span>
                    <input type="text" data-testid="exception-reason" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/></label>
                <button class="primary" data-testid="exception-grant" on:click=grant>"Grant"</button>
            </div>
        </section>
    }
}

/// What would change: the server replays the draft over recent logged evaluations.
#[component]
pub fn Impact(state: EditorState) -> impl IntoView {
    let session = state.session;
    let report = RwSignal::new(None::<Value>);
    let running = RwSignal::new(false);
    let limit = RwSignal::new("100".to_string());
    let run = move |_| {
        let draft = model::strip_metadata(&state.draft.get_untracked());
        let n = limit.get_untracked().trim().parse::<i64>().unwrap_or(100);
        running.set(true);
        spawn_local(async move {
            let body = json!({"policy": draft, "limit": n});
            let a = api::call(
                "POST",
                "/api/v1/policies/replay",
                &session.token(),
                Some(&body),
                None,
            )
            .await;
            running.set(false);
            match a {
                Ok(a) if a.ok() => report.set(Some(a.body)),
                Ok(a) => session.say(format!("impact analysis failed: {}", a.message()), true),
                Err(e) => session.say(e, true),
            }
        });
    };
    view! {
        <section class="card impact" role="tabpanel" data-testid="impact">
            <h2>"Impact before saving"</h2>
            <p class="muted small">"Replays the draft (in place of the stored policy) over the organization's latest logged evaluations and lists the queries whose verdict would change."</p>
            <div class="row end">
                <label class="field inline"><span>"Evaluations"</span>
                    <input type="number" min="1" max="1000" data-testid="impact-limit" prop:value=move || limit.get() on:input=move |ev| limit.set(event_target_value(&ev))/></label>
                <button class="primary" data-testid="impact-run" disabled=move || running.get() on:click=run>
                    {move || if running.get() { "Replaying…" } else { "What would change?" }}
                </button>
            </div>
            {move || report.get().map(|r| {
                let replayed = r.get("replayed").and_then(Value::as_u64).unwrap_or(0);
                let changed = r.get("changed").and_then(Value::as_u64).unwrap_or(0);
                let transitions = r.get("transitions").and_then(Value::as_object).cloned().unwrap_or_default();
                let changes = r.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
                view! {
                    <p data-testid="impact-summary"><strong>{format!("{changed} of {replayed} evaluations would change")}</strong></p>
                    <ul class="transitions">
                        {transitions.into_iter().map(|(k, v)| view! { <li><code>{k}</code>{format!(": {v}")}</li> }).collect::<Vec<_>>()}
                    </ul>
                    <table class="impact-table">
                        <thead><tr><th scope="col">"Query"</th><th scope="col">"User"</th><th scope="col">"Before"</th><th scope="col">"After"</th><th scope="col">"What differs"</th></tr></thead>
                        <tbody>
                            {changes.into_iter().map(|c| {
                                let before = model::text_at(&c, "/before/verdict");
                                let after = model::text_at(&c, "/after/verdict");
                                view! {
                                    <tr>
                                        <td><code class="small">{model::text_at(&c, "/sql")}</code></td>
                                        <td>{model::text_at(&c, "/user")}</td>
                                        <td><span class=format!("badge small badge-{before}")>{before.clone()}</span></td>
                                        <td><span class=format!("badge small badge-{after}")>{after.clone()}</span></td>
                                        <td class="small">{model::list_at(&c, "/differences").join(", ")}</td>
                                    </tr>
                                }
                            }).collect::<Vec<_>>()}
                        </tbody>
                    </table>
                }
            })}
        </section>
    }
}
