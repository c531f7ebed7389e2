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

/// A save found a newer revision on the server: a three-way merge of the copy the draft
/// started from (base), the server's newer copy (theirs) and the draft (mine). A field
/// only one side changed keeps that side's change; a field both changed needs a choice.
/// Overwriting with mine and reloading theirs each ask for a confirmation that names what
/// the other side loses.
#[component]
pub fn ConflictView(state: EditorState, current: Value) -> impl IntoView {
    let mine = state.draft.get_untracked();
    let theirs = clean(&current);
    let base = state
        .stored
        .get_untracked()
        .map(|s| clean(&s))
        .unwrap_or_else(|| theirs.clone());
    let fields = model::merge_fields(&base, &theirs, &mine);
    let picks = RwSignal::new(fields.iter().map(|f| f.suggested).collect::<Vec<_>>());
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
    let base_rev = state.revision().unwrap_or(0);
    // What each one-sided action throws away: their changes (overwrite) or mine (reload).
    let theirs_lost: Vec<String> = fields
        .iter()
        .filter(|f| f.suggested != Some(model::Pick::Mine))
        .map(|f| f.field.clone())
        .collect();
    let mine_lost: Vec<String> = fields
        .iter()
        .filter(|f| f.suggested != Some(model::Pick::Theirs))
        .map(|f| f.field.clone())
        .collect();
    let confirm = RwSignal::new(None::<&'static str>);
    let current2 = current.clone();
    let reload = move |_: leptos::ev::MouseEvent| {
        if confirm.get_untracked() != Some("reload") && !mine_lost.is_empty() {
            confirm.set(Some("reload"));
            return;
        }
        if let Some(id) = current2.get("id").and_then(Value::as_str) {
            storage::set_draft(id, None);
        }
        state.take(current2.clone());
        state.session.say(
            format!("reloaded revision {rev}; your changes were discarded"),
            false,
        );
    };
    let overwrite = move |_: leptos::ev::MouseEvent| {
        if confirm.get_untracked() != Some("overwrite") && !theirs_lost.is_empty() {
            confirm.set(Some("overwrite"));
            return;
        }
        state.save(true);
    };
    let fields_for_merge = fields.clone();
    let theirs_for_merge = theirs.clone();
    let save_merged = move |_: leptos::ev::MouseEvent| {
        let merged =
            model::apply_merge(&theirs_for_merge, &fields_for_merge, &picks.get_untracked());
        state.draft.set(merged);
        state.save(true);
    };
    let undecided = move || picks.with(|p| p.iter().filter(|x| x.is_none()).count());
    let rows = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f.field.clone();
            let slug = name.replace(['[', ']', '.'], "-");
            let side = |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".to_string(), pretty);
            let who = match f.suggested {
                Some(model::Pick::Theirs) => "only they changed it",
                Some(model::Pick::Mine) => "only you changed it",
                None => "both changed it",
            };
            let choice = move |p: model::Pick, label: &'static str, testid: String| {
                view! {
                    <label class="check">
                        <input type="radio" name=format!("merge-{i}") data-testid=testid
                            prop:checked=move || picks.with(|x| x.get(i).copied().flatten() == Some(p))
                            on:change=move |_| picks.update(|x| if let Some(slot) = x.get_mut(i) { *slot = Some(p) })/>
                        {label}
                    </label>
                }
            };
            view! {
                <tr data-testid=format!("merge-row-{slug}") class=if f.suggested.is_none() { "conflict-row" } else { "" }>
                    <th scope="row"><code>{name.clone()}</code><br/><span class="muted small">{who}</span></th>
                    <td><pre>{side(&f.base)}</pre></td>
                    <td><pre>{side(&f.theirs)}</pre></td>
                    <td><pre>{side(&f.mine)}</pre></td>
                    <td>
                        <fieldset class="merge-pick">
                            <legend class="sr-only">{format!("Keep for {name}")}</legend>
                            {choice(model::Pick::Theirs, "Theirs", format!("merge-{slug}-theirs"))}
                            {choice(model::Pick::Mine, "Yours", format!("merge-{slug}-mine"))}
                        </fieldset>
                    </td>
                </tr>
            }
        })
        .collect::<Vec<_>>();
    let same = fields.is_empty();
    let theirs_list = fields
        .iter()
        .filter(|f| f.suggested != Some(model::Pick::Mine))
        .map(|f| f.field.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let mine_list = fields
        .iter()
        .filter(|f| f.suggested != Some(model::Pick::Theirs))
        .map(|f| f.field.clone())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <div class="card conflict" role="alertdialog" aria-labelledby="conflict-title" data-testid="conflict">
            <h2 id="conflict-title">"This policy changed on the server"</h2>
            <p>{format!("You started from revision {base_rev}; {by} saved revision {rev} at {at}. Choose, field by field, what the merged policy keeps.")}</p>
            {if same {
                view! { <p class="muted">"Their version and yours are the same."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll">
                    <table class="diff merge" data-testid="conflict-diff">
                        <thead><tr><th scope="col">"Field"</th><th scope="col">{format!("Base (revision {base_rev})")}</th>
                            <th scope="col">{format!("Theirs (revision {rev})")}</th><th scope="col">"Yours"</th><th scope="col">"Keep"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                    </div>
                }.into_any()
            }}
            {move || (undecided() > 0).then(|| view! {
                <p class="error small" data-testid="merge-undecided">{format!("{} field(s) changed on both sides: choose theirs or yours", undecided())}</p>
            })}
            {move || match confirm.get() {
                Some("overwrite") => Some(view! { <p class="error" role="alert" data-testid="confirm-text">{format!("Overwriting reverts their changes to: {theirs_list}. Click again to confirm.")}</p> }),
                Some(_) => Some(view! { <p class="error" role="alert" data-testid="confirm-text">{format!("Reloading discards your changes to: {mine_list}. Click again to confirm.")}</p> }),
                None => None,
            }}
            <div class="row">
                <button class="primary" data-testid="conflict-save-merged" disabled=move || { undecided() > 0 || state.busy.get() }
                    on:click=save_merged>{format!("Save merged as revision {}", rev + 1)}</button>
                <button class="ghost" data-testid="conflict-reload" on:click=reload>
                    {move || if confirm.get() == Some("reload") { "Confirm: discard mine" } else { "Reload theirs (discard mine)" }}</button>
                <button class="ghost danger" data-testid="conflict-overwrite" on:click=overwrite>
                    {move || if confirm.get() == Some("overwrite") { format!("Confirm: overwrite revision {rev}") } else { format!("Overwrite revision {rev} with mine") }}
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
    // Rolling back makes a new revision equal to an old version: asked once more, with
    // what it changes.
    let confirm_rollback = RwSignal::new(None::<i64>);
    let rollback = move |n: i64| {
        if confirm_rollback.get_untracked() != Some(n) {
            confirm_rollback.set(Some(n));
            show_diff(n);
            return;
        }
        confirm_rollback.set(None);
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
                                            <button class=move || if confirm_rollback.get() == Some(n) { "danger small" } else { "ghost small" }
                                                data-testid=format!("rollback-{n}") on:click=move |_| rollback(n)>
                                                {move || if confirm_rollback.get() == Some(n) { format!("Confirm roll back to {n}") } else { "Roll back".to_string() }}
                                            </button>
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
                        {move || confirm_rollback.get().map(|n| view! {
                            <p class="error" role="alert" data-testid="rollback-confirm-text">{format!("Rolling back makes a new revision equal to version {n}: the changes below are undone. Click \u{201c}Confirm roll back to {n}\u{201d} to do it.")}</p>
                        })}
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
            <p class="muted small">"Replays the organization's latest logged queries and contexts against the current policies and against the policies with this draft (in place of the stored one), and lists the queries whose answer would change."</p>
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
                let since = r.pointer("/since_logging/changed").and_then(Value::as_u64).unwrap_or(0);
                let since_transitions = r
                    .pointer("/since_logging/transitions")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                view! {
                    <p data-testid="impact-summary"><strong>{format!("{changed} of {replayed} evaluations would change")}</strong>
                        <span class="muted small">" — the current policies and the policies with this draft, both evaluated now, exceptions as they stand now"</span></p>
                    <p class="muted small" data-testid="impact-since-logging">{format!(
                        "{since} of {replayed} logged answers differ from what the current policies answer now (changed since logging, not by this draft){}",
                        if since_transitions.is_empty() { String::new() } else { format!(": {since_transitions}") }
                    )}</p>
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
