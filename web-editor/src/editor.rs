//! The policy editor page: the form and the raw JSON/YAML tab (one draft, both ways), the
//! live preview beside it, saving with `If-Match` and the conflict view, delete, and the
//! history, exceptions and impact panels. Unsaved drafts live in `localStorage`.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};
use verdict_engine::policy::ASSIGNMENT_KINDS;
use verdict_engine::{Problem, ProblemKind};

use crate::api::{self, Answer};
use crate::app::{read_only, tab_keys, Route, Session};
use crate::fields::{
    focus_field, CheckField, FieldProblems, FocusRequest, Kind, ProblemLink, Problems, RuleCard,
    SelectField, TextField,
};
use crate::live;
use crate::model;
use crate::panels::{ConflictView, Exceptions, History, Impact};
use crate::preview::{Preview, Shared};
use crate::storage;

/// The `localStorage` draft key of a policy that is not saved yet.
pub const NEW_KEY: &str = "__new__";
/// The id a new policy starts with (the author renames it).
pub const NEW_ID: &str = "new-policy";

/// A stored policy as the form edits it: no metadata, assignments as `{kind, value}`.
pub fn clean(resource: &Value) -> Value {
    let mut v = model::strip_metadata(resource);
    let specs: Vec<Value> = model::assignments(resource)
        .into_iter()
        .map(|(kind, value)| json!({"kind": kind, "value": value}))
        .collect();
    model::set_pointer(&mut v, "/assignments", Some(Value::Array(specs)));
    v
}

/// Problems the server reported (422 `details.problems`), which the server answers in the
/// engine's shape; one that is not (an older server) is shown with its JSON as the message.
pub fn server_problems(answer: &Answer) -> Vec<Problem> {
    answer
        .body
        .pointer("/error/details/problems")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let read = serde_json::from_value::<Problem>(p.clone()).unwrap_or_else(|_| {
                        Problem::new(ProblemKind::InvalidValue, "", p.to_string())
                    });
                    Problem {
                        policy_index: Some(0),
                        ..read
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the editor page's parts share.
#[derive(Clone, Copy)]
pub struct EditorState {
    pub session: Session,
    /// The policy id as stored (`None` until a new policy is created).
    pub id: Option<StoredValue<String>>,
    pub draft: RwSignal<Value>,
    /// The server's copy (with `revision`), once loaded or saved.
    pub stored: RwSignal<Option<Value>>,
    /// The server's newer copy when a save found ours stale.
    pub conflict: RwSignal<Option<Value>>,
    pub busy: RwSignal<bool>,
    pub server_problems: RwSignal<Vec<Problem>>,
    /// Whether the draft may be saved: the stored policy is loaded (or the policy is new).
    /// A page whose policy failed to load never becomes ready.
    pub ready: RwSignal<bool>,
}

impl EditorState {
    /// The revision our draft is based on.
    pub fn revision(&self) -> Option<i64> {
        self.stored
            .get_untracked()
            .and_then(|s| s.get("revision").and_then(Value::as_i64))
    }

    /// Replaces the draft and the stored copy with a server answer's policy.
    pub fn take(&self, resource: Value) {
        self.draft.set(clean(&resource));
        self.stored.set(Some(resource));
        self.conflict.set(None);
        self.server_problems.set(Vec::new());
    }

    /// Saves the draft: POST for a new policy, PATCH with `If-Match` for a stored one
    /// (`overwrite` bases it on the server's newer copy after a conflict).
    pub fn save(self, overwrite: bool) {
        if self.busy.get_untracked() || !self.ready.get_untracked() {
            return;
        }
        let s = self.session;
        let draft = self.draft.get_untracked();
        let token = s.token();
        let stored = if overwrite {
            self.conflict.get_untracked()
        } else {
            self.stored.get_untracked()
        };
        self.busy.set(true);
        spawn_local(async move {
            let result = match &stored {
                None => {
                    api::call(
                        "POST",
                        "/api/v1/policies",
                        &token,
                        Some(&model::strip_metadata(&draft)),
                        None,
                    )
                    .await
                }
                Some(old) => {
                    let id = old.get("id").and_then(Value::as_str).unwrap_or("");
                    let rev = old.get("revision").and_then(Value::as_i64);
                    api::call(
                        "PATCH",
                        &format!("/api/v1/policies/{}", api::enc(id)),
                        &token,
                        Some(&model::patch_body(old, &draft)),
                        rev,
                    )
                    .await
                }
            };
            self.busy.set(false);
            match result {
                // Review is required: the change became a change request, nothing is
                // enforced yet; it is opened for the author to submit.
                Ok(a) if a.status == 202 => {
                    let key = crate::review::ChangeKey::of(&a.body);
                    let id = model::text_at(&a.body, "/policy_id");
                    storage::set_draft(&id, None);
                    if stored.is_none() {
                        storage::set_draft(NEW_KEY, None);
                    }
                    s.say(
                        format!(
                            "review is required: your change to `{id}` is proposed as version {} (a draft change request); submit it for review",
                            model::text_at(&a.body, "/version")
                        ),
                        false,
                    );
                    if let Some(key) = key {
                        s.go(Route::Change(key));
                    }
                }
                Ok(a) if a.ok() => {
                    let id = a
                        .body
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let rev = a.body.get("revision").and_then(Value::as_i64).unwrap_or(0);
                    storage::set_draft(&id, None);
                    if stored.is_none() {
                        storage::set_draft(NEW_KEY, None);
                        s.say(format!("created `{id}` (revision {rev})"), false);
                        s.refresh();
                        s.go(Route::Policy(id));
                    } else {
                        self.take(a.body);
                        s.say(format!("saved `{id}` as revision {rev}"), false);
                        s.refresh();
                    }
                }
                Ok(a) if a.code() == Some("stale_revision") => {
                    let current = a.body.pointer("/error/details/current").cloned();
                    self.conflict.set(current);
                    s.say(
                        "someone saved this policy after you opened it: compare and choose",
                        true,
                    );
                }
                Ok(a) => {
                    self.server_problems.set(server_problems(&a));
                    s.say(format!("not saved: {}", a.message()), true);
                }
                Err(e) => s.say(format!("not saved: {e}"), true),
            }
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Form,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Preview,
    Data,
    Impact,
    History,
    Exceptions,
    Tests,
}

/// The editor page for a stored policy (`id`) or a new one.
#[component]
pub fn PolicyEditor(id: Option<String>) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let key = id.clone().unwrap_or_else(|| NEW_KEY.to_string());
    let state = EditorState {
        session,
        id: id.clone().map(StoredValue::new),
        draft: RwSignal::new(model::new_policy(NEW_ID)),
        stored: RwSignal::new(None),
        conflict: RwSignal::new(None),
        busy: RwSignal::new(false),
        server_problems: RwSignal::new(Vec::new()),
        ready: RwSignal::new(id.is_none()),
    };
    let ready = state.ready;
    let restored = RwSignal::new(None::<i64>);
    let missing = RwSignal::new(None::<String>);

    // Loads the stored policy, then any unsaved draft of it from this browser.
    match id.clone() {
        Some(id) => {
            let key = key.clone();
            spawn_local(async move {
                let token = session.token();
                match api::call(
                    "GET",
                    &format!("/api/v1/policies/{}", api::enc(&id)),
                    &token,
                    None,
                    None,
                )
                .await
                {
                    Ok(a) if a.ok() => {
                        let server = clean(&a.body);
                        state.take(a.body);
                        if let Some(local) = storage::draft(&key) {
                            if let Some(p) = local.get("policy").filter(|p| **p != server) {
                                state.draft.set(p.clone());
                                restored.set(Some(
                                    local
                                        .get("base_revision")
                                        .and_then(Value::as_i64)
                                        .unwrap_or(0),
                                ));
                            }
                        }
                        ready.set(true);
                    }
                    Ok(a) => missing.set(Some(a.message())),
                    Err(e) => missing.set(Some(e)),
                }
            });
        }
        None => {
            // Only a draft that differs from a blank new policy was worth keeping.
            if let Some(p) = storage::draft(NEW_KEY)
                .and_then(|d| d.get("policy").cloned())
                .filter(|p| *p != model::new_policy(NEW_ID))
            {
                state.draft.set(p);
                restored.set(Some(0));
            }
        }
    }

    let is_new = id.is_none();
    // The stored copy as the form edits it, made once per save or load, not per keystroke;
    // a new policy is compared with a blank one, so that opening "New policy" changes
    // nothing to keep.
    let clean_stored = Memo::new(move |_| match state.stored.get() {
        Some(s) => Some(clean(&s)),
        None if is_new => Some(model::new_policy(NEW_ID)),
        None => None,
    });
    let dirty = Memo::new(move |_| {
        clean_stored.with(|c| state.draft.with(|d| c.as_ref().is_none_or(|c| c != d)))
    });
    // Unsaved changes are kept in this browser until saved or discarded.
    {
        let key = key.clone();
        Effect::new(move |_| {
            let draft = state.draft.get();
            if !ready.get() {
                return;
            }
            if dirty.get() {
                let base = state
                    .stored
                    .get_untracked()
                    .and_then(|s| s.get("revision").and_then(Value::as_i64));
                crate::perf::span("store-draft", || {
                    storage::set_draft_soon(
                        &key,
                        Some(json!({"policy": draft, "base_revision": base})),
                    )
                });
            } else {
                crate::perf::span("store-draft", || storage::set_draft_soon(&key, None));
            }
        });
    }

    let catalog = Signal::derive(move || session.catalog.get());
    // The other policies are loaded when they or the catalog change; a keystroke in the
    // draft reloads only the draft.
    let draft_id = Memo::new(move |_| model::text_at(&state.draft.get(), "/id"));
    let base = Memo::new_with_compare(
        move |_| {
            Shared(Arc::new(live::load_base(
                &session.catalog.get(),
                &session.policies.get(),
                &draft_id.get(),
            )))
        },
        |_, _| true,
    );
    let loaded = Memo::new_with_compare(
        move |_| {
            let (base, catalog, draft) = (base.get(), session.catalog.get(), state.draft.get());
            Shared(Arc::new(crate::perf::span("load", || {
                live::load_with(&base.0, &catalog, &draft)
            })))
        },
        |_, _| true,
    );
    // The organization's policy tests, run against the draft's set after each pause in
    // typing (never in the keystroke's own work).
    let tests = crate::tests_panel::TestsState::start(session, loaded);
    // A memo: the many fields that read it only hear of it when the problems change.
    let problems: Problems = Memo::new(move |_| {
        live::merge_problems(&loaded.get().0.draft_problems, &state.server_problems.get())
    })
    .into();
    // The server's problems are about the draft it refused: an edit makes them stale.
    Effect::new(move |first: Option<()>| {
        state.draft.track();
        if first.is_some() && !state.server_problems.with_untracked(Vec::is_empty) {
            state.server_problems.set(Vec::new());
        }
    });
    // The raw tab's text and format outlive the tab: leaving it keeps both, broken text
    // included (with its error), and a draft with broken raw text is not saved.
    let raw = RawState::new(state.draft);
    let blocked = Memo::new(move |_| {
        !problems.with(Vec::is_empty)
            || loaded.with(|l| l.0.error.is_some())
            || raw.error.with(Option::is_some)
    });

    // Ctrl+S / Cmd+S saves.
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("s") {
            ev.prevent_default();
            if blocked.get_untracked() {
                session.say("not saved: fix the problems listed above first", true);
            } else {
                state.save(false);
            }
        }
    });
    on_cleanup(move || handle.remove());

    let tab = RwSignal::new(Tab::Form);
    let side = RwSignal::new(Side::Preview);
    // A problem's link shows its field: the form tab, then the input, focused.
    let focus = RwSignal::new(None::<String>);
    provide_context(FocusRequest(focus));
    Effect::new(move |_| {
        if let Some(field) = focus.get() {
            *focus.write_untracked() = None;
            tab.set(Tab::Form);
            request_animation_frame(move || {
                focus_field(&field);
            });
        }
    });
    let title = move || {
        let d = state.draft.get();
        let name = model::text_at(&d, "/name");
        let pid = model::text_at(&d, "/id");
        if name.is_empty() {
            pid
        } else {
            name
        }
    };
    let confirm_delete = RwSignal::new(false);
    let delete = move |_| {
        if !confirm_delete.get_untracked() {
            confirm_delete.set(true);
            return;
        }
        confirm_delete.set(false);
        let Some(stored) = state.stored.get_untracked() else {
            return;
        };
        let id = stored
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rev = stored.get("revision").and_then(Value::as_i64);
        spawn_local(async move {
            match api::call(
                "DELETE",
                &format!("/api/v1/policies/{}", api::enc(&id)),
                &session.token(),
                None,
                rev,
            )
            .await
            {
                Ok(a) if a.ok() => {
                    storage::set_draft(&id, None);
                    session.say(
                        format!("deleted `{id}`; its versions can restore it"),
                        false,
                    );
                    session.refresh();
                    session.go(Route::List);
                }
                Ok(a) if a.code() == Some("stale_revision") => {
                    state
                        .conflict
                        .set(a.body.pointer("/error/details/current").cloned());
                    session.say("not deleted: the policy changed since you opened it", true);
                }
                Ok(a) => session.say(format!("not deleted: {}", a.message()), true),
                Err(e) => session.say(e, true),
            }
        });
    };
    let key = StoredValue::new(key);
    let discard = move |_| {
        storage::set_draft(&key.get_value(), None);
        restored.set(None);
        match state.stored.get_untracked() {
            Some(s) => state.draft.set(clean(&s)),
            None => state.draft.set(model::new_policy(NEW_ID)),
        }
    };
    let tab_button = move |t: Tab, label: &'static str, testid: &'static str| {
        view! {
            <button role="tab" class="tab" data-testid=testid aria-selected=move || (tab.get() == t).to_string()
                tabindex=move || if tab.get() == t { "0" } else { "-1" }
                on:click=move |_| tab.set(t)>{label}</button>
        }
    };
    let side_button = move |t: Side, label: &'static str, testid: &'static str| {
        view! {
            <button role="tab" class="tab" data-testid=testid aria-selected=move || (side.get() == t).to_string()
                tabindex=move || if side.get() == t { "0" } else { "-1" }
                disabled=move || is_new && matches!(t, Side::History | Side::Exceptions)
                on:click=move |_| side.set(t)>{label}</button>
        }
    };

    view! {
        {move || missing.get().map(|m| view! {
            <div class="card error" role="alert" data-testid="load-error">
                <h1>"Policy unavailable"</h1>
                <p>{format!("cannot open this policy: {m}")}</p>
                <a href="#/">"Back to the list"</a>
            </div>
        })}
        // INVARIANT: no editor (and so nothing to save) for a policy that did not load.
        {move || missing.get().is_none().then(|| view! {
        <section class="editor-page" data-testid="editor" data-ready=move || ready.get().to_string()>
            <div class="page-head">
                <a href="#/" class="ghost" title="Back to the policy list"><span aria-hidden="true">"‹ "</span>"Policies"</a>
                <h1 data-testid="editor-title">{title}</h1>
                {move || state.stored.get().and_then(|s| s.get("revision").and_then(Value::as_i64)).map(|r| view! {
                    <span class="chip" data-testid="revision">{format!("revision {r}")}</span>
                })}
                {move || dirty.get().then(|| view! { <span class="chip unsaved" data-testid="unsaved">"unsaved changes"</span> })}
                <span class="spacer"></span>
                {(!is_new).then(|| view! {
                    <button class="ghost danger" data-testid="delete" on:click=delete disabled=move || read_only(&session)>
                        {move || if confirm_delete.get() { "Confirm delete" } else { "Delete" }}
                    </button>
                })}
                {move || read_only(&session).then(|| view! {
                    <span class="chip" data-testid="read-only" title="A viewer token can read, preview and run the impact analysis, not change">"read-only (viewer)"</span>
                })}
                <button class="primary" data-testid="save" title="Save (Ctrl+S)"
                    disabled=move || state.busy.get() || !ready.get() || !dirty.get() || blocked.get() || read_only(&session)
                    on:click=move |_| state.save(false)>
                    {move || if state.busy.get() { "Saving…" } else if is_new { "Create" } else { "Save" }}
                </button>
            </div>
            {move || restored.get().map(|rev| view! {
                <div class="banner" role="status" data-testid="restored-banner">
                    <span>{if rev > 0 { format!("Restored your unsaved changes from this browser (based on revision {rev}).") } else { "Restored your unsaved changes from this browser.".to_string() }}</span>
                    <button class="ghost small" data-testid="discard-draft" on:click=discard>"Discard them"</button>
                </div>
            })}
            {move || state.conflict.get().map(|current| view! { <ConflictView state=state current=current/> })}
            <div class="columns">
                <div class="col-main">
                    <div role="tablist" aria-label="Policy editor" class="tabs" on:keydown=tab_keys>
                        {tab_button(Tab::Form, "Form", "tab-form")}
                        {tab_button(Tab::Raw, "JSON / YAML", "tab-raw")}
                    </div>
                    <ProblemSummary problems=problems/>
                    {move || (tab.get() == Tab::Form).then(|| raw.error.get().map(|e| view! {
                        <div class="card problems-summary" role="alert" data-testid="raw-pending">
                            <strong>"The JSON / YAML tab holds text that is not applied: "</strong>{e}
                            " "<button class="ghost small" on:click=move |_| tab.set(Tab::Raw)>"Show it"</button>
                        </div>
                    })).flatten()}
                    {move || match tab.get() {
                        Tab::Form => view! { <PolicyForm draft=state.draft problems=problems catalog=catalog is_new=is_new/> }.into_any(),
                        Tab::Raw => view! { <RawEditor draft=state.draft raw=raw/> }.into_any(),
                    }}
                </div>
                <div class="col-side">
                    <div role="tablist" aria-label="Preview and history" class="tabs" on:keydown=tab_keys>
                        {side_button(Side::Preview, "Live preview", "side-preview")}
                        {side_button(Side::Data, "Data", "side-data")}
                        {side_button(Side::Impact, "Impact", "side-impact")}
                        {side_button(Side::History, "History", "side-history")}
                        {side_button(Side::Exceptions, "Exceptions", "side-exceptions")}
                        <button role="tab" class="tab" data-testid="side-tests" aria-selected=move || (side.get() == Side::Tests).to_string()
                            tabindex=move || if side.get() == Side::Tests { "0" } else { "-1" }
                            on:click=move |_| side.set(Side::Tests)>{move || tests.label()}</button>
                    </div>
                    {move || match side.get() {
                        Side::Preview => view! { <Preview loaded=loaded context=session.context sql=session.sql catalog=catalog/> }.into_any(),
                        Side::Data => view! { <crate::data::DataPreview draft=state.draft/> }.into_any(),
                        Side::Impact => view! { <Impact state=state/> }.into_any(),
                        Side::History => view! { <History state=state/> }.into_any(),
                        Side::Exceptions => view! { <Exceptions state=state/> }.into_any(),
                        Side::Tests => view! { <crate::tests_panel::TestsPanel state=tests/> }.into_any(),
                    }}
                </div>
            </div>
            <datalist id="catalog-tables">
                {move || model::catalog_tables(&catalog.get()).into_iter().map(|t| view! { <option value=t/> }).collect::<Vec<_>>()}
            </datalist>
        </section>
        })}
    }
}

/// Every problem of the draft, above the form (each also shows at its field).
#[component]
fn ProblemSummary(problems: Problems) -> impl IntoView {
    // Shown once the problems stay the same for a moment: typing through a half-written
    // predicate would otherwise insert and remove this card above the form with every
    // key, moving (re-laying out and repainting) the whole form each time. Each field and
    // the preview show their problems at once.
    let shown = RwSignal::new(problems.get_untracked());
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let ps = problems.get();
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        set_timeout(
            move || {
                if generation.try_get_value() == Some(mine) {
                    shown.set(ps);
                }
            },
            std::time::Duration::from_millis(300),
        );
    });
    view! {
        {move || {
            let ps = shown.get();
            (!ps.is_empty()).then(|| view! {
                <div class="card problems-summary" role="alert" data-testid="problem-summary">
                    <strong>{format!("{} problem{} — the policy cannot be saved as it is", ps.len(), if ps.len() == 1 { "" } else { "s" })}</strong>
                    <ul>
                        {ps.iter().map(|p| view! { <li><ProblemLink field=p.field.clone()/>" — "{crate::fields::describe(p)}</li> }).collect::<Vec<_>>()}
                    </ul>
                </div>
            })
        }}
    }
}

/// The structured form.
#[component]
pub fn PolicyForm(
    draft: RwSignal<Value>,
    problems: Problems,
    catalog: Signal<Value>,
    #[prop(optional)] is_new: bool,
) -> impl IntoView {
    let count = Memo::new(move |_| {
        draft
            .get()
            .get("rules")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    });
    let count_signal = Signal::derive(move || count.get());
    let new_type = RwSignal::new("row_filter".to_string());
    let add_rule = move |_| {
        let t = new_type.get_untracked();
        let table = model::catalog_tables(&catalog.get_untracked())
            .first()
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_string())
            .unwrap_or_default();
        draft.update(|d| {
            let n = d.get("rules").and_then(Value::as_array).map_or(0, Vec::len);
            model::set_pointer(d, &format!("/rules/{n}"), Some(model::new_rule(&t, &table)));
        });
    };
    let modes = vec![
        ("enforce".to_string(), "Enforce".to_string()),
        ("monitor".to_string(), "Monitor (report only)".to_string()),
    ];
    let audits = vec![
        (String::new(), "Default".to_string()),
        ("none".to_string(), "None".to_string()),
        ("normal".to_string(), "Normal".to_string()),
        ("verbose".to_string(), "Verbose".to_string()),
    ];
    view! {
        <div class="form" role="tabpanel" data-testid="policy-form">
            <section class="card">
                <h2>"Policy"</h2>
                <div class="row">
                    <TextField draft=draft problems=problems ptr="/id" label="Id" field="id" testid="policy-id"
                        kind=Kind::Required readonly=!is_new placeholder="tenant-isolation"/>
                    <TextField draft=draft problems=problems ptr="/name" label="Name" field="name" testid="policy-name"/>
                </div>
                <TextField draft=draft problems=problems ptr="/description" label="Description" field="description" testid="policy-description"/>
                <div class="row">
                    <TextField draft=draft problems=problems ptr="/priority" label="Priority (higher first)" field="priority"
                        testid="policy-priority" kind=Kind::Number placeholder="0"/>
                    <SelectField draft=draft problems=problems ptr="/mode" label="Mode" field="mode" testid="policy-mode"
                        options=modes default="enforce"/>
                    <SelectField draft=draft problems=problems ptr="/audit_level" label="Audit level" field="audit_level"
                        testid="policy-audit" options=audits default=""/>
                </div>
                <div class="row">
                    <CheckField draft=draft ptr="/enabled" label="Enabled" testid="policy-enabled" default=true/>
                    <CheckField draft=draft ptr="/break_glass_allowed" label="Break-glass may bypass it" testid="policy-break-glass" default=false/>
                </div>
            </section>
            <Assignments draft=draft problems=problems/>
            <section class="card">
                <h2>"Exempt (except)"</h2>
                <p class="muted small">"Comma-separated; anyone listed is exempt."</p>
                <div class="row wrap">
                    {model::SUBJECT_LISTS.iter().map(|(k, label)| view! {
                        <TextField draft=draft problems=problems ptr=format!("/except/{k}") label=*label field=format!("except.{k}")
                            testid=format!("except-{k}") kind=Kind::List/>
                    }).collect::<Vec<_>>()}
                </div>
            </section>
            <section class="card">
                <h2>"Tags and labels"</h2>
                <div class="row wrap">
                    <TextField draft=draft problems=problems ptr="/compliance_tags" label="Compliance tags" field="compliance_tags"
                        testid="compliance-tags" kind=Kind::List placeholder="gdpr, soc2"/>
                    <TextField draft=draft problems=problems ptr="/purpose_tags" label="Purpose tags" field="purpose_tags"
                        testid="purpose-tags" kind=Kind::List/>
                </div>
                <Labels draft=draft problems=problems/>
            </section>
            <section class="rules">
                <div class="row">
                    <h2 class="inline">"Rules"</h2>
                    <span class="spacer"></span>
                    <label class="field inline">
                        <span class="sr-only">"Rule type to add"</span>
                        <select data-testid="add-rule-type" on:change=move |ev| new_type.set(event_target_value(&ev))>
                            {model::RULE_TYPES.iter().map(|(t, l)| view! { <option value=*t selected=move || new_type.get() == *t>{*l}</option> }).collect::<Vec<_>>()}
                        </select>
                    </label>
                    <button class="primary" data-testid="add-rule" on:click=add_rule>"+ Add rule"</button>
                </div>
                <FieldProblems problems=problems field="rules" exact=true/>
                {move || {
                    let n = count.get();
                    if n == 0 {
                        return view! { <p class="muted card" data-testid="no-rules">"No rules yet: add a row filter, a mask, a deny, a restriction or a limit."</p> }.into_any();
                    }
                    (0..n).map(|i| view! { <RuleCard draft=draft problems=problems index=i count=count_signal catalog=catalog/> }).collect::<Vec<_>>().into_any()
                }}
            </section>
        </div>
    }
}

/// Where the policy applies: the server's assignments (`everyone`, user, role, …).
#[component]
fn Assignments(draft: RwSignal<Value>, problems: Problems) -> impl IntoView {
    let count = Memo::new(move |_| model::assignments(&draft.get()).len());
    let kind = RwSignal::new("role".to_string());
    let value = RwSignal::new(String::new());
    let add = move |_| {
        let k = kind.get_untracked();
        let v = if k == "everyone" {
            "*".to_string()
        } else {
            value.get_untracked().trim().to_string()
        };
        if v.is_empty() {
            return;
        }
        draft.update(|d| {
            let mut list = model::assignments(d);
            if !list.iter().any(|(a, b)| *a == k && *b == v) {
                list.push((k, v));
            }
            let json_list: Vec<Value> = list
                .into_iter()
                .map(|(k, v)| json!({"kind": k, "value": v}))
                .collect();
            model::set_pointer(d, "/assignments", Some(Value::Array(json_list)));
        });
        value.set(String::new());
    };
    let remove = move |i: usize| {
        draft.update(|d| model::set_pointer(d, &format!("/assignments/{i}"), None));
    };
    view! {
        <section class="card" data-testid="assignments">
            <h2>"Applies to (assignments)"</h2>
            <p class="muted small">"A user or role must match, and each workspace, data source or purpose list must contain the caller's. Without any assignment the server applies the policy to no one."</p>
            <ul class="assign-list">
                {move || (0..count.get()).map(|i| {
                    let item = move || model::assignments(&draft.get()).get(i).cloned().unwrap_or_default();
                    view! {
                        <li data-testid=format!("assignment-{i}")>
                            <span class="chip">{move || item().0}</span>
                            <code>{move || item().1}</code>
                            <button class="ghost small" aria-label=move || format!("Remove assignment {} {}", item().0, item().1)
                                on:click=move |_| remove(i)>"×"</button>
                        </li>
                    }
                }).collect::<Vec<_>>()}
            </ul>
            <div class="row end">
                <label class="field inline">
                    <span>"Kind"</span>
                    <select data-testid="assignment-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        {ASSIGNMENT_KINDS.iter().map(|(k, _)| view! { <option value=*k selected=move || kind.get() == *k>{*k}</option> }).collect::<Vec<_>>()}
                    </select>
                </label>
                <label class="field grow">
                    <span>"Value"</span>
                    <input type="text" data-testid="assignment-value" placeholder="analyst"
                        disabled=move || kind.get() == "everyone"
                        prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                </label>
                <button class="ghost" data-testid="assignment-add" on:click=add>"Add"</button>
            </div>
            <FieldProblems problems=problems field="applies_to"/>
        </section>
    }
}

/// Labels as `key=value` lines.
#[component]
fn Labels(draft: RwSignal<Value>, problems: Problems) -> impl IntoView {
    let text = move || {
        draft
            .get()
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    view! {
        <label class="field">
            <span>"Labels"</span>
            <input type="text" data-testid="labels" placeholder="team=data, tier=1" prop:value=text
                on:change=move |ev| {
                    let t = event_target_value(&ev);
                    let mut map = serde_json::Map::new();
                    for part in t.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let (k, v) = part.split_once('=').unwrap_or((part, ""));
                        map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
                    }
                    draft.update(|d| model::set_pointer(d, "/labels", (!map.is_empty()).then_some(Value::Object(map))));
                }/>
            <FieldProblems problems=problems field="labels"/>
        </label>
    }
}

/// The raw tab's state, kept by the editor page across tab switches: the format, the text
/// as typed, and its error when it does not parse.
#[derive(Clone, Copy)]
pub struct RawState {
    pub yaml: RwSignal<bool>,
    pub text: RwSignal<String>,
    pub error: RwSignal<Option<String>>,
}

impl RawState {
    /// The draft printed as JSON.
    pub fn new(draft: RwSignal<Value>) -> RawState {
        RawState {
            yaml: RwSignal::new(false),
            text: RwSignal::new(model::print_text(&draft.get_untracked(), false)),
            error: RwSignal::new(None),
        }
    }
}

/// The raw tab: the draft as JSON or YAML text; valid text updates the draft at once, and
/// form changes show here. Text that does not parse is kept with its error (never
/// replaced by a reprint) until it is fixed or explicitly discarded.
#[component]
pub fn RawEditor(
    draft: RwSignal<Value>,
    /// The page's raw state; a fresh one when absent.
    #[prop(optional)]
    raw: Option<RawState>,
) -> impl IntoView {
    let RawState { yaml, text, error } = raw.unwrap_or_else(|| RawState::new(draft));
    // Shows changes made elsewhere (rollback, reload), but never reformats what the user
    // is typing when it already says the same thing, and never replaces broken text.
    Effect::new(move |_| {
        let d = draft.get();
        let y = yaml.get();
        if error.get_untracked().is_some() {
            return;
        }
        let current = model::parse_text(&text.get_untracked(), y);
        if current.as_ref() != Ok(&d) {
            text.set(model::print_text(&d, y));
        }
    });
    let switch = move |y: bool| {
        if error.get_untracked().is_some() || yaml.get_untracked() == y {
            return;
        }
        text.set(model::print_text(&draft.get_untracked(), y));
        yaml.set(y);
    };
    let discard = move |_| {
        error.set(None);
        text.set(model::print_text(
            &draft.get_untracked(),
            yaml.get_untracked(),
        ));
    };
    let broken = move || error.get().is_some();
    view! {
        <div class="card raw" role="tabpanel">
            <div class="row">
                <div role="radiogroup" aria-label="Format" class="seg">
                    <button role="radio" data-testid="raw-json" aria-checked=move || (!yaml.get()).to_string()
                        disabled=broken title=move || if broken() { "Fix or discard the text first" } else { "" }
                        on:click=move |_| switch(false)>"JSON"</button>
                    <button role="radio" data-testid="raw-yaml" aria-checked=move || yaml.get().to_string()
                        disabled=broken title=move || if broken() { "Fix or discard the text first" } else { "" }
                        on:click=move |_| switch(true)>"YAML"</button>
                </div>
                <span class="muted small">"Edits here update the form, and the form's edits show here."</span>
            </div>
            <textarea class="mono raw-text" data-testid="raw-text" spellcheck="false" aria-label="Policy as text"
                rows="28" prop:value=move || text.get()
                on:input=move |ev| {
                    let t = event_target_value(&ev);
                    text.set(t.clone());
                    match model::parse_text(&t, yaml.get_untracked()) {
                        Ok(v) => { error.set(None); draft.set(v); }
                        Err(e) => error.set(Some(e)),
                    }
                }></textarea>
            {move || error.get().map(|e| view! {
                <div class="row">
                    <p class="error" role="alert" data-testid="raw-error">{e}</p>
                    <button class="ghost small" data-testid="raw-discard" on:click=discard>"Discard this text"</button>
                </div>
            })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    #[test]
    fn server_problems_are_read_in_the_engines_shape() {
        let answer = Answer {
            status: 422,
            etag: None,
            body: json!({"error": {"code": "invalid_policy", "message": "m", "details": {"problems": [
                {"kind": "missing", "field": "name", "message": "`name` is required"},
                {"policy": "p", "rule_index": 1, "kind": "predicate", "field": "rules[1].predicate",
                 "message": "expected an expression", "line": 1, "column": 4},
                {"field": "x", "message": "from an older server"}
            ]}}}),
        };
        let ps = server_problems(&answer);
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[0].kind, ProblemKind::Missing);
        assert_eq!(ps[1].rule_index, Some(1));
        assert_eq!(ps[1].column, Some(4));
        assert!(ps.iter().all(|p| p.policy_index == Some(0)));
        assert!(
            ps[2].message.contains("from an older server"),
            "{:?}",
            ps[2]
        );
    }
}
