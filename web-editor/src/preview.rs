//! The live preview: context editor with presets, the SQL and its samples, and the verdict
//! the engine (linked into this wasm) gives as the user types. No request leaves the page.

use std::sync::Arc;

use leptos::prelude::*;
use serde_json::{json, Map, Value};
use verdict_engine::Verdict;

use crate::fields::describe;
use crate::live::{self, Loaded, Mark, Marked, Segment};
use crate::model;
use crate::storage;

/// A computed value shared by pointer; every recomputation counts as a change.
#[derive(Debug)]
pub struct Shared<T>(pub Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What one evaluation produced.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Option<Verdict>,
    /// Why there is no verdict (invalid policy, catalog or context).
    pub error: Option<String>,
    /// Counts evaluations (exposed as `data-seq` for tests and measurements).
    pub seq: u64,
}

/// The evaluation of the current inputs; recomputed whenever one of them changes.
pub fn outcome_memo(
    loaded: Memo<Shared<Loaded>>,
    context: RwSignal<Value>,
    sql: RwSignal<String>,
) -> Memo<Shared<Outcome>> {
    Memo::new(move |prev: Option<&Shared<Outcome>>| {
        let seq = prev.map_or(0, |p| p.0.seq) + 1;
        let loaded = loaded.get();
        let ctx = context.get();
        let sql = sql.get();
        let (verdict, error) = match (&loaded.0.set, live::context(&ctx)) {
            (Some(set), Ok(ctx)) => (
                Some(crate::perf::span("evaluate", || live::run(set, &sql, &ctx))),
                None,
            ),
            (None, _) => (
                None,
                Some(loaded.0.error.clone().unwrap_or_else(|| {
                    "the policy set does not validate; fix the problems to see a verdict".into()
                })),
            ),
            (_, Err(e)) => (None, Some(format!("the context is not valid: {e}"))),
        };
        Shared(Arc::new(Outcome {
            verdict,
            error,
            seq,
        }))
    })
}

/// The preview column.
#[component]
pub fn Preview(
    loaded: Memo<Shared<Loaded>>,
    context: RwSignal<Value>,
    sql: RwSignal<String>,
    catalog: Signal<Value>,
) -> impl IntoView {
    let outcome = outcome_memo(loaded, context, sql);
    view! {
        <div class="preview" data-testid="preview" data-seq=move || outcome.get().0.seq.to_string()>
            <QueryEditor sql=sql catalog=catalog/>
            <VerdictView outcome=outcome loaded=loaded sql=sql/>
            <crate::explain::ExplainRow loaded=loaded context=context catalog=catalog/>
            <ContextEditor context=context/>
        </div>
    }
}

/// Saved presets (`{name, context}`), from `localStorage`.
fn saved_presets() -> Vec<(String, Value)> {
    storage::get("presets")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("context")?.clone(),
            ))
        })
        .collect()
}

/// The context editor: user, roles, attributes, purpose, workspace, data source and
/// break-glass, with built-in and saved presets.
#[component]
pub fn ContextEditor(context: RwSignal<Value>) -> impl IntoView {
    let saved = RwSignal::new(saved_presets());
    let preset_name = RwSignal::new(String::new());
    let all_presets = move || {
        let mut all = live::builtin_presets();
        all.extend(saved.get());
        all
    };
    let text_field = move |label: &'static str, key: &'static str, list: bool| {
        let ptr = format!("/{key}");
        let ptr2 = ptr.clone();
        view! {
            <label class="field">
                <span>{label}</span>
                <input type="text" data-testid=format!("ctx-{key}")
                    prop:value=move || if list { model::list_at(&context.get(), &ptr).join(", ") } else { model::text_at(&context.get(), &ptr) }
                    on:input=move |ev| {
                        let t = event_target_value(&ev);
                        let v = if list {
                            Some(Value::Array(model::parse_list(&t)))
                        } else {
                            (!t.is_empty()).then_some(Value::String(t))
                        };
                        context.update(|c| model::set_pointer(c, &ptr2, v));
                    }/>
            </label>
        }
    };
    let attr_count = Memo::new(move |_| {
        context
            .get()
            .get("attributes")
            .and_then(Value::as_object)
            .map_or(0, Map::len)
    });
    let attr_at = move |i: usize| -> (String, String) {
        context
            .get()
            .get("attributes")
            .and_then(Value::as_object)
            .and_then(|m| m.iter().nth(i))
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
            .unwrap_or_default()
    };
    let edit_attr = move |i: usize, key: Option<String>, value: Option<String>| {
        context.update(|c| {
            let old = c
                .get("attributes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut next = Map::new();
            for (j, (k, v)) in old.into_iter().enumerate() {
                if j == i {
                    let k2 = key.clone().unwrap_or(k);
                    let v2 = match &value {
                        Some(t) => crate::fields::input_value(crate::fields::Kind::Literal, t)
                            .unwrap_or(Value::String(String::new())),
                        None => v,
                    };
                    next.insert(k2, v2);
                } else {
                    next.insert(k, v);
                }
            }
            model::set_pointer(c, "/attributes", Some(Value::Object(next)));
        });
    };
    let remove_attr = move |i: usize| {
        context.update(|c| {
            if let Some(m) = c.get_mut("attributes").and_then(Value::as_object_mut) {
                if let Some(k) = m.keys().nth(i).cloned() {
                    m.shift_remove(&k);
                }
            }
        });
    };
    let add_attr = move |_| {
        context.update(|c| {
            let n = c
                .get("attributes")
                .and_then(Value::as_object)
                .map_or(0, Map::len);
            let mut name = "attribute".to_string();
            let mut k = n;
            while c.pointer(&format!("/attributes/{name}")).is_some() {
                k += 1;
                name = format!("attribute{k}");
            }
            model::set_pointer(c, &format!("/attributes/{name}"), Some(json!("")));
        });
    };
    let save_preset = move |_| {
        let name = preset_name.get_untracked().trim().to_string();
        if name.is_empty() {
            return;
        }
        let mut list = saved.get_untracked();
        list.retain(|(n, _)| *n != name);
        list.push((name, context.get_untracked()));
        let json_list: Vec<Value> = list
            .iter()
            .map(|(n, c)| json!({"name": n, "context": c}))
            .collect();
        storage::put("presets", Some(Value::Array(json_list)));
        saved.set(list);
        preset_name.set(String::new());
    };
    let invalid = move || live::context(&context.get()).err();
    view! {
        <details class="card context" open>
            <summary><h2>"Context"</h2><span class="muted small">" who runs the query"</span></summary>
            <label class="field">
                <span>"Preset"</span>
                <select data-testid="ctx-preset" on:change=move |ev| {
                    let name = event_target_value(&ev);
                    if let Some((_, c)) = all_presets().into_iter().find(|(n, _)| *n == name) {
                        context.set(c);
                    }
                }>
                    <option value="">"Choose a preset…"</option>
                    {move || all_presets().into_iter().map(|(n, _)| { let v = n.clone(); view! { <option value=v>{n}</option> } }).collect::<Vec<_>>()}
                </select>
            </label>
            <div class="row">
                {text_field("User", "user", false)}
                {text_field("Roles", "roles", true)}
            </div>
            <div class="row">
                {text_field("Purpose", "purpose", false)}
                {text_field("Workspace", "workspace", false)}
                {text_field("Data source", "data_source", false)}
            </div>
            <fieldset class="attrs">
                <legend>"Attributes (ctx.attr.NAME)"</legend>
                {move || (0..attr_count.get()).map(|i| view! {
                    <div class="row attr" data-testid=format!("ctx-attr-{i}")>
                        <input type="text" aria-label=format!("Attribute {} name", i + 1) data-testid=format!("ctx-attr-{i}-name")
                            prop:value=move || attr_at(i).0
                            on:change=move |ev| edit_attr(i, Some(event_target_value(&ev)), None)/>
                        <input type="text" aria-label=format!("Attribute {} value", i + 1) data-testid=format!("ctx-attr-{i}-value")
                            prop:value=move || attr_at(i).1
                            on:input=move |ev| edit_attr(i, None, Some(event_target_value(&ev)))/>
                        <button class="ghost small" aria-label=format!("Remove attribute {}", i + 1) on:click=move |_| remove_attr(i)>"×"</button>
                    </div>
                }).collect::<Vec<_>>()}
                <button class="ghost small" data-testid="ctx-attr-add" on:click=add_attr>"+ Attribute"</button>
            </fieldset>
            <label class="check">
                <input type="checkbox" data-testid="ctx-break-glass"
                    prop:checked=move || context.get().get("break_glass").and_then(Value::as_bool).unwrap_or(false)
                    on:change=move |ev| { let on = event_target_checked(&ev); context.update(|c| model::set_pointer(c, "/break_glass", Some(Value::Bool(on)))); }/>
                " Break-glass"
            </label>
            <div class="row end">
                <label class="field grow">
                    <span>"Save this context as"</span>
                    <input type="text" data-testid="ctx-preset-name" placeholder="preset name"
                        prop:value=move || preset_name.get() on:input=move |ev| preset_name.set(event_target_value(&ev))/>
                </label>
                <button class="ghost" data-testid="ctx-preset-save" on:click=save_preset>"Save preset"</button>
            </div>
            {move || invalid().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </details>
    }
}

/// Copies text to the clipboard; says so (or why not) in `said`.
fn copy_text(text: String, said: RwSignal<Option<&'static str>>) {
    let write = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"navigator".into()).ok())
        .and_then(|n| js_sys::Reflect::get(&n, &"clipboard".into()).ok())
        .and_then(|c| {
            let f = js_sys::Reflect::get(&c, &"writeText".into()).ok()?;
            let f: js_sys::Function = wasm_bindgen::JsCast::dyn_into(f).ok()?;
            f.call1(&c, &text.into()).ok()
        })
        .and_then(|p| wasm_bindgen::JsCast::dyn_into::<js_sys::Promise>(p).ok());
    match write {
        Some(promise) => leptos::task::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            said.set(Some(if ok {
                "copied"
            } else {
                "copy refused by the browser"
            }));
        }),
        None => said.set(Some("no clipboard here")),
    }
}

/// A small "Copy" button for the text `text` gives when clicked; `what` completes its
/// name for screen readers ("Copy the rewritten SQL").
pub(crate) fn copy_button(
    what: &'static str,
    testid: &'static str,
    text: impl Fn() -> String + 'static,
) -> impl IntoView {
    let said = RwSignal::new(None::<&'static str>);
    view! {
        <button type="button" class="ghost small copy" data-testid=testid
            on:click=move |_| copy_text(text(), said)>
            {move || said.get().unwrap_or("Copy")}<span class="sr-only">{what}</span>
        </button>
    }
}

/// The SQL to evaluate (highlighted as it is typed), and sample queries over the catalog.
#[component]
pub fn QueryEditor(sql: RwSignal<String>, catalog: Signal<Value>) -> impl IntoView {
    // The highlighted copy lies under the transparent text of the textarea; both scroll
    // together.
    let under = NodeRef::<leptos::html::Pre>::new();
    let sync = move |ev: leptos::ev::Event| {
        let Some(pre) = under.get_untracked() else {
            return;
        };
        if let Some(t) = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        {
            pre.set_scroll_top(t.scroll_top());
            pre.set_scroll_left(t.scroll_left());
        }
    };
    view! {
        // A form of its own: Chromium's form-field tracking, which runs after each typed
        // character, then walks this form's few controls instead of every formless one.
        <form class="card query" on:submit=|ev| ev.prevent_default()>
            <label class="field">
                <span><h2 class="inline">"Query"</h2></span>
            </label>
            <div class="code-box">
                <pre class="mono code-under" aria-hidden="true" node_ref=under data-testid="sql-highlight"
                    inner_html=move || crate::perf::span("highlight", || live::highlight_html(&sql.get()))></pre>
                <textarea class="mono code-over" rows="4" data-testid="sql-input" spellcheck="false"
                    aria-label="SQL to evaluate"
                    prop:value=move || sql.get()
                    on:input=move |ev| sql.set(event_target_value(&ev))
                    on:scroll=sync></textarea>
            </div>
            <div class="samples" role="group" aria-label="Sample queries">
                {move || live::sample_queries(&catalog.get()).into_iter().enumerate().map(|(i, q)| {
                    let q2 = q.clone();
                    let title = q.clone();
                    view! { <button type="button" class="chip-button" data-testid=format!("sample-{i}") title=title on:click=move |_| sql.set(q2.clone())>{q}</button> }
                }).collect::<Vec<_>>()}
            </div>
        </form>
    }
}

fn render_marked(parts: Vec<Marked>) -> impl IntoView {
    parts
        .into_iter()
        .map(|s| match s.mark {
            Some(m) => view! { <mark class=m.class()>{s.text}</mark> }.into_any(),
            None => view! { <span>{s.text}</span> }.into_any(),
        })
        .collect::<Vec<_>>()
}

fn render_segments(segments: Vec<Segment>) -> impl IntoView {
    segments
        .into_iter()
        .map(|s| {
            if s.changed {
                view! { <mark>{s.text}</mark> }.into_any()
            } else {
                view! { <span>{s.text}</span> }.into_any()
            }
        })
        .collect::<Vec<_>>()
}

/// One part of the verdict, recomputed with every evaluation but passed on only when it
/// changed: a keystroke re-renders the parts it changes (usually the SQL), not the whole
/// verdict.
fn part<T: PartialEq + Send + Sync + 'static>(
    outcome: Memo<Shared<Outcome>>,
    f: impl Fn(&Verdict) -> T + Send + Sync + 'static,
) -> Memo<Option<T>> {
    Memo::new(move |_| outcome.with(|o| o.0.verdict.as_ref().map(&f)))
}

/// The lines of a list part, with the engine's rule numbers as the form shows them.
fn lines(items: &[String]) -> Vec<impl IntoView> {
    items
        .iter()
        .map(|n| view! { <li>{n.clone()}</li> })
        .collect()
}

/// The verdict: badge, reason and hint, the SQL before and after, masks, filters,
/// matched policies (monitor ones marked) and notes.
#[component]
pub fn VerdictView(
    outcome: Memo<Shared<Outcome>>,
    loaded: Memo<Shared<Loaded>>,
    sql: RwSignal<String>,
) -> impl IntoView {
    let valid = Memo::new(move |_| outcome.with(|o| o.0.verdict.is_some()));
    let head = part(outcome, |v| {
        (
            v.verdict.as_str().to_string(),
            v.rule.to_string(),
            v.reason.clone(),
            v.hint.clone(),
        )
    });
    let rewritten = part(outcome, |v| v.rewritten_sql.clone());
    let masks = part(outcome, |v| v.masked_columns.clone());
    let filters = part(outcome, |v| v.row_filters.clone());
    // The SQL pair laid out alike on several lines: (original, rewritten when something
    // runs, each change marked with what it does).
    let pair = Memo::new(move |_| {
        let sql = sql.get();
        crate::perf::span("diff", || {
            let original = live::format_sql(&sql);
            match rewritten.get().flatten() {
                Some(r) => {
                    let (a, b) = live::sql_diff(&original, &live::format_sql(&r));
                    let columns: Vec<String> =
                        masks.with(|m| m.iter().flatten().map(|c| c.column.clone()).collect());
                    let predicates: Vec<String> =
                        filters.with(|f| f.iter().flatten().map(|f| f.predicate.clone()).collect());
                    (a, Some(live::mark_changes(&b, &columns, &predicates)))
                }
                None => (
                    vec![Segment {
                        text: original,
                        changed: false,
                    }],
                    None,
                ),
            }
        })
    });
    let legend_kinds = Memo::new(move |_| {
        pair.with(|p| {
            let mut kinds: Vec<Mark> = Vec::new();
            for m in p.1.iter().flatten().filter_map(|m| m.mark) {
                if !kinds.contains(&m) {
                    kinds.push(m);
                }
            }
            kinds
        })
    });
    let matched = part(outcome, |v| v.matched_policies.clone());
    let notes = part(outcome, |v| v.notes.clone());
    let explanation = part(outcome, |v| v.explanation.clone());
    let error = Memo::new(move |_| outcome.with(|o| o.0.error.clone()));
    let problems = Memo::new(move |_| {
        loaded.with(|l| {
            l.0.draft_problems
                .iter()
                .map(|p| (p.clone(), true))
                .chain(l.0.other_problems.iter().map(|p| (p.clone(), false)))
                .collect::<Vec<_>>()
        })
    });

    let invalid_view = move || {
        let list = move || {
            problems
                .get()
                .into_iter()
                .map(|(p, draft)| {
                    let place = match &p.policy {
                        Some(id) if !draft => {
                            view! { <code>{format!("policy `{id}` · {}", p.field)}</code> }
                                .into_any()
                        }
                        _ => {
                            view! { <crate::fields::ProblemLink field=p.field.clone()/> }.into_any()
                        }
                    };
                    view! { <li>{place}" — "{describe(&p)}</li> }
                })
                .collect::<Vec<_>>()
        };
        view! {
            <div class="verdict-head">
                <span class="badge badge-invalid" data-testid="verdict-badge">"invalid"</span>
                <span data-testid="verdict-reason">{move || error.get().unwrap_or_default()}</span>
            </div>
            <ul class="problem-list" data-testid="preview-problems">{list}</ul>
        }
    };
    let field = move |k: usize| {
        move || {
            head.with(|h| {
                h.as_ref()
                    .map(|h| match k {
                        0 => h.0.clone(),
                        1 => h.1.clone(),
                        2 => h.2.clone(),
                        _ => h.3.clone(),
                    })
                    .unwrap_or_default()
            })
        }
    };
    let mask_items = move || {
        masks
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                view! { <li><code>{format!("{}.{}", m.table, m.column)}</code>" → "<span class="chip">{m.kind}</span>
                    <span class="muted small">{format!(" {} rule {}", m.policy, m.rule_index + 1)}</span></li> }
            })
            .collect::<Vec<_>>()
    };
    let filter_items = move || {
        filters
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                view! { <li><code>{f.table}</code>": "<code class="pred">{f.predicate}</code>
                    <span class="muted small">{format!(" {} rule {}", f.policy, f.rule_index + 1)}</span></li> }
            })
            .collect::<Vec<_>>()
    };
    let matched_items = move || {
        matched
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let monitor = m.mode == "monitor";
                view! { <li class:monitor=monitor data-testid=format!("matched-{}", m.id)>
                    <code>{m.id.clone()}</code>
                    {monitor.then(|| view! { <span class="chip mode-monitor">"monitor"</span> })}
                </li> }
            })
            .collect::<Vec<_>>()
    };
    let has = move |m: Memo<Option<Vec<String>>>| {
        move || m.with(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
    };
    let has_masks = move || masks.with(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
    let has_filters = move || filters.with(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
    let has_notes = has(notes);
    let valid_view = move || {
        view! {
            <div class="verdict-head">
                <span class=move || format!("badge badge-{}", field(0)()) data-testid="verdict-badge">{field(0)}</span>
                // The deciding rule category, when it says more than the badge.
                <span class="muted" data-testid="verdict-rule" hidden=move || field(1)() == field(0)()>{field(1)}</span>
            </div>
            <p class="reason" data-testid="verdict-reason">{field(2)}</p>
            <p class="hint" data-testid="verdict-hint">{field(3)}</p>
            <div class="sql-pair">
                <figure>
                    <figcaption>"Original"{copy_button(" the original SQL", "copy-original", move || pair.with(|p| p.0.iter().map(|s| s.text.as_str()).collect::<String>()))}</figcaption>
                    <pre class="sql" data-testid="original-sql">{move || render_segments(pair.with(|p| p.0.clone()))}</pre>
                </figure>
                <figure>
                    <figcaption>"Rewritten (what runs)"{copy_button(" the rewritten SQL", "copy-rewritten", move || pair.with(|p| p.1.iter().flatten().map(|s| s.text.as_str()).collect::<String>()))}</figcaption>
                    <pre class="sql" data-testid="rewritten-sql">{move || match pair.with(|p| p.1.clone()) {
                        Some(b) => render_marked(b).into_any(),
                        None => view! { <span class="muted">"— blocked: nothing runs —"</span> }.into_any(),
                    }}</pre>
                </figure>
            </div>
            <p class="legend small" data-testid="sql-legend" hidden=move || legend_kinds.with(Vec::is_empty)>
                "Changes: "
                {[(Mark::Mask, "masked column"), (Mark::Filter, "row filter"), (Mark::Limit, "row limit"), (Mark::Other, "other change")]
                    .into_iter()
                    .map(|(m, label)| view! { <mark class=m.class() hidden=move || !legend_kinds.with(|k| k.contains(&m))>{label}</mark>" " })
                    .collect::<Vec<_>>()}
            </p>
            <div class="facts">
                <section hidden=move || !has_masks()><h3>"Masked columns"</h3><ul data-testid="masked-columns">{mask_items}</ul></section>
                <section hidden=move || !has_filters()><h3>"Row filters"</h3><ul data-testid="row-filters">{filter_items}</ul></section>
                <section><h3>"Matched policies"</h3><ul data-testid="matched-policies">{matched_items}</ul></section>
                <section hidden=move || !has_notes()><h3>"Notes"</h3><ul data-testid="notes">{move || lines(&notes.get().unwrap_or_default())}</ul></section>
                <section>
                    <h3>"Why"</h3>
                    <ul class="small" data-testid="explanation" title="Rules are numbered from 1, as in the form">
                        {move || lines(&explanation.get().unwrap_or_default())}
                    </ul>
                </section>
            </div>
        }
    };
    let body = move || {
        crate::perf::span("verdict-view", || {
            if valid.get() {
                valid_view().into_any()
            } else {
                invalid_view().into_any()
            }
        })
    };
    let preview_notes = Memo::new(move |_| loaded.with(|l| l.0.notes.clone()));
    let policies = Memo::new(move |_| loaded.with(|l| l.0.set.as_ref().map(|_| l.0.policies)));
    let count = move || match policies.get() {
        Some(n) => format!("against {n} polic{}", if n == 1 { "y" } else { "ies" }),
        None => String::new(),
    };
    // Announced when it changes, not with every keystroke.
    let summary = Memo::new(move |_| {
        outcome.with(|o| match &o.0.verdict {
            Some(v) => format!("verdict {}: {}", v.verdict.as_str(), v.reason.clone()),
            None => "no verdict: the policy set does not validate".to_string(),
        })
    });
    view! {
        <section class="card verdict" aria-label="Verdict">
            <span class="sr-only" aria-live="polite">{move || summary.get()}</span>
            <div class="row">
                <h2 class="inline">"Verdict"</h2>
                <span class="muted small" data-testid="preview-count">{count}</span>
            </div>
            <ul class="preview-notes small">{move || preview_notes.get().into_iter().map(|n| view! { <li>{n}</li> }).collect::<Vec<_>>()}</ul>
            {body}
        </section>
    }
}
