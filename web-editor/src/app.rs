//! The application shell: sign-in by token, the top bar, and the page for the URL's hash
//! (`#/` list, `#/policy/ID`, `#/new`, `#/catalog`, `#/audit?FILTERS`,
//! `#/audit/evaluation/ID`, `#/review?FILTERS`, `#/review/policy/ID/N`, `#/review/catalog/N`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;

use crate::api;
use crate::audit::{AuditPage, EvaluationPage};
use crate::catalog::CatalogPage;
use crate::editor::PolicyEditor;
use crate::list::PolicyList;
use crate::review::{ChangeKey, ChangePage, ReviewPage};
use crate::storage;

/// A page of the app, from the location hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    List,
    New,
    Policy(String),
    Catalog,
    /// The evaluation log with its filters (a query string).
    Audit(String),
    /// One logged evaluation.
    Evaluation(String),
    /// The change requests with their filter (a query string).
    Review(String),
    /// One change request.
    Change(ChangeKey),
}

impl Route {
    /// The route of a location hash such as `#/policy/tenant-isolation`.
    pub fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        if path == "new" {
            Route::New
        } else if path == "catalog" {
            Route::Catalog
        } else if let Some(id) = path
            .strip_prefix("audit/evaluation/")
            .filter(|id| !id.is_empty())
        {
            Route::Evaluation(decode(id))
        } else if let Some(rest) = path.strip_prefix("review/catalog/") {
            match rest.parse() {
                Ok(n) => Route::Change(ChangeKey::Catalog(n)),
                Err(_) => Route::Review(String::new()),
            }
        } else if let Some(rest) = path.strip_prefix("review/policy/") {
            match rest.rsplit_once('/').map(|(id, n)| (id, n.parse::<i64>())) {
                Some((id, Ok(n))) if !id.is_empty() => {
                    Route::Change(ChangeKey::Policy(decode(id), n))
                }
                _ => Route::Review(String::new()),
            }
        } else if path == "review" || path.starts_with("review?") {
            Route::Review(path.strip_prefix("review?").unwrap_or("").to_string())
        } else if path == "audit" || path.starts_with("audit?") {
            Route::Audit(path.strip_prefix("audit?").unwrap_or("").to_string())
        } else if let Some(id) = path.strip_prefix("policy/") {
            if id.is_empty() {
                Route::List
            } else {
                Route::Policy(decode(id))
            }
        } else {
            Route::List
        }
    }

    /// The hash of this route.
    pub fn hash(&self) -> String {
        match self {
            Route::List => "#/".into(),
            Route::New => "#/new".into(),
            Route::Catalog => "#/catalog".into(),
            Route::Policy(id) => format!("#/policy/{}", api::enc(id)),
            Route::Audit(q) if q.is_empty() => "#/audit".into(),
            Route::Audit(q) => format!("#/audit?{q}"),
            Route::Evaluation(id) => format!("#/audit/evaluation/{}", api::enc(id)),
            Route::Review(q) if q.is_empty() => "#/review".into(),
            Route::Review(q) => format!("#/review?{q}"),
            Route::Change(ChangeKey::Policy(id, n)) => {
                format!("#/review/policy/{}/{n}", api::enc(id))
            }
            Route::Change(ChangeKey::Catalog(n)) => format!("#/review/catalog/{n}"),
        }
    }
}

/// Decodes `%XX` escapes of a hash component.
pub fn decode(text: &str) -> String {
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
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Arrow keys (and Home/End) move between the tabs of a `role="tablist"` (the WAI-ARIA
/// tabs pattern); the tab that gets focus is also selected.
pub fn tab_keys(ev: leptos::ev::KeyboardEvent) {
    let key = ev.key();
    let Some(target) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let Some(list) = target.closest("[role=tablist]").ok().flatten() else {
        return;
    };
    let Ok(nodes) = list.query_selector_all("[role=tab]:not([disabled])") else {
        return;
    };
    let tabs: Vec<web_sys::HtmlElement> = (0..nodes.length())
        .filter_map(|i| nodes.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let n = tabs.len();
    let Some(at) = tabs.iter().position(|t| **t == target) else {
        return;
    };
    let next = match key.as_str() {
        "ArrowRight" => (at + 1) % n,
        "ArrowLeft" => (at + n - 1) % n,
        "Home" => 0,
        "End" => n - 1,
        _ => return,
    };
    ev.prevent_default();
    if let Some(tab) = tabs.get(next) {
        tab.click();
        let _ = tab.focus();
    }
}

/// Whether the signed-in token may only read (role `viewer`).
pub fn read_only(session: &Session) -> bool {
    session
        .me
        .get()
        .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some("viewer"))
}

/// What every page shares: the token and who it is, the organization's catalog and
/// policies (for the preview), the route, a status message, and the preview's inputs.
#[derive(Clone, Copy)]
pub struct Session {
    pub token: RwSignal<Option<String>>,
    pub me: RwSignal<Option<Value>>,
    pub catalog: RwSignal<Value>,
    pub catalog_revision: RwSignal<i64>,
    /// Every stored policy of the organization (for the preview's set).
    pub policies: RwSignal<Vec<Value>>,
    pub route: RwSignal<Route>,
    /// A status line: text and whether it reports an error.
    pub status: RwSignal<Option<(String, bool)>>,
    /// The preview's context and SQL, shared by every policy.
    pub context: RwSignal<Value>,
    pub sql: RwSignal<String>,
}

impl Session {
    /// A session with nothing loaded (the component tests build their own).
    pub fn new(token: Option<String>) -> Session {
        let stored_ctx = storage::get("context").filter(Value::is_object);
        let context = stored_ctx.unwrap_or_else(|| {
            crate::live::builtin_presets()
                .into_iter()
                .next()
                .map(|(_, c)| c)
                .unwrap_or_else(|| json!({}))
        });
        let sql = storage::get("sql")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "SELECT * FROM orders LIMIT 10".to_string());
        Session {
            token: RwSignal::new(token),
            me: RwSignal::new(None),
            catalog: RwSignal::new(Value::Null),
            catalog_revision: RwSignal::new(0),
            policies: RwSignal::new(Vec::new()),
            route: RwSignal::new(Route::List),
            status: RwSignal::new(None),
            context: RwSignal::new(context),
            sql: RwSignal::new(sql),
        }
    }

    /// The token, or "" when signed out.
    pub fn token(&self) -> String {
        self.token.get_untracked().unwrap_or_default()
    }

    /// Shows a status message.
    pub fn say(&self, text: impl Into<String>, error: bool) {
        self.status.set(Some((text.into(), error)));
    }

    /// Goes to a page (through the hash, so that back and reload work).
    pub fn go(&self, route: Route) {
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_hash(&route.hash());
        }
        self.route.set(route);
    }

    /// Reloads the catalog and every policy of the organization (for the preview).
    pub fn refresh(&self) {
        let s = *self;
        spawn_local(async move {
            let token = s.token();
            if let Ok(a) = api::call("GET", "/api/v1/catalog", &token, None, None).await {
                if a.ok() {
                    s.catalog
                        .set(a.body.get("catalog").cloned().unwrap_or(Value::Null));
                    s.catalog_revision
                        .set(a.body.get("revision").and_then(Value::as_i64).unwrap_or(0));
                }
            }
            let mut all = Vec::new();
            let mut offset = 0;
            while let Ok(a) = api::call(
                "GET",
                &format!("/api/v1/policies?limit=500&offset={offset}"),
                &token,
                None,
                None,
            )
            .await
            {
                let items = a
                    .body
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let n = items.len();
                all.extend(items);
                offset += n;
                let total = a.body.get("total").and_then(Value::as_u64).unwrap_or(0);
                if !a.ok() || n == 0 || offset as u64 >= total {
                    break;
                }
            }
            s.policies.set(all);
        });
    }
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let session = Session::new(storage::token());
    provide_context(session);
    let hash = || {
        web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default()
    };
    session.route.set(Route::parse(&hash()));
    let on_hash = Closure::<dyn Fn()>::new(move || session.route.set(Route::parse(&hash())));
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref());
    }
    on_hash.forget();

    // Checks the token (and learns who it is) whenever it changes.
    Effect::new(move |_| {
        let Some(token) = session.token.get() else {
            return;
        };
        spawn_local(async move {
            match api::call("GET", "/api/v1/me", &token, None, None).await {
                Ok(a) if a.ok() => {
                    session.me.set(Some(a.body));
                    session.refresh();
                }
                Ok(a) => {
                    storage::set_token(None, false);
                    session.token.set(None);
                    session.say(format!("sign-in failed: {}", a.message()), true);
                }
                Err(e) => session.say(e, true),
            }
        });
    });
    // The preview's inputs survive a reload.
    Effect::new(move |_| storage::put("context", Some(session.context.get())));
    Effect::new(move |_| {
        let sql = session.sql.get();
        crate::perf::span("store-sql", || {
            storage::put("sql", Some(Value::String(sql)))
        });
    });

    view! {
        <div class="app">
            {move || match session.me.get() {
                None => view! { <SignIn/> }.into_any(),
                Some(me) => view! {
                    <TopBar me=me/>
                    <StatusLine/>
                    <main class="page" id="main">
                        {move || match session.route.get() {
                            Route::List => view! { <PolicyList/> }.into_any(),
                            Route::New => view! { <PolicyEditor id=None/> }.into_any(),
                            Route::Policy(id) => view! { <PolicyEditor id=Some(id)/> }.into_any(),
                            Route::Catalog => view! { <CatalogPage/> }.into_any(),
                            Route::Audit(q) => view! { <AuditPage query=q/> }.into_any(),
                            Route::Evaluation(id) => view! { <EvaluationPage id=id/> }.into_any(),
                            Route::Review(q) => view! { <ReviewPage query=q/> }.into_any(),
                            Route::Change(key) => view! { <ChangePage key=key/> }.into_any(),
                        }}
                    </main>
                }.into_any(),
            }}
        </div>
    }
}

/// The sign-in form: an API token (from `verdict token create` or the server's first start).
#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let token = RwSignal::new(String::new());
    let remember = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = token.get_untracked().trim().to_string();
        if t.is_empty() {
            session.say("enter an API token", true);
            return;
        }
        storage::set_token(Some(&t), remember.get_untracked());
        session.status.set(None);
        session.token.set(Some(t));
    };
    view! {
        <main class="signin">
            <form class="card signin-card" on:submit=submit data-testid="signin-form">
                <h1>"Verdict"</h1>
                <p class="muted">"Policy editor — sign in with an API token of your organization."</p>
                <label class="field">
                    <span>"API token"</span>
                    <input type="password" autocomplete="off" data-testid="token-input"
                        placeholder="vdt_…" prop:value=move || token.get()
                        on:input=move |ev| token.set(event_target_value(&ev))/>
                </label>
                <label class="check">
                    <input type="checkbox" prop:checked=move || remember.get()
                        on:change=move |ev| remember.set(event_target_checked(&ev))/>
                    " Remember on this computer"
                </label>
                <button type="submit" class="primary" data-testid="signin-button">"Sign in"</button>
                <p class="muted small">
                    "The server prints an admin token when it starts; "
                    <code>"verdict token create --user NAME --role editor"</code>
                    " makes more."
                </p>
                {move || session.status.get().map(|(m, _)| view! {
                    <p class="error" role="alert" data-testid="signin-error">{m}</p>
                })}
            </form>
        </main>
    }
}

#[component]
fn TopBar(me: Value) -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    let who = format!(
        "{} · {} ({})",
        me.get("org").and_then(Value::as_str).unwrap_or(""),
        me.get("user").and_then(Value::as_str).unwrap_or(""),
        me.get("role").and_then(Value::as_str).unwrap_or("")
    );
    let sign_out = move |_| {
        storage::set_token(None, false);
        session.me.set(None);
        session.token.set(None);
    };
    let is = move |r: &str| match (r, session.route.get()) {
        ("list", Route::List) | ("catalog", Route::Catalog) => "page",
        ("list", Route::Policy(_)) | ("list", Route::New) => "page",
        ("audit", Route::Audit(_)) | ("audit", Route::Evaluation(_)) => "page",
        ("review", Route::Review(_)) | ("review", Route::Change(_)) => "page",
        _ => "false",
    };
    view! {
        <header class="topbar">
            <a class="skip" href="#main">"Skip to content"</a>
            <span class="brand">"Verdict"</span>
            <nav aria-label="Main">
                <a href="#/" aria-current=move || is("list") data-testid="nav-policies">"Policies"</a>
                <a href="#/catalog" aria-current=move || is("catalog") data-testid="nav-catalog">"Catalog"</a>
                <a href="#/audit" aria-current=move || is("audit") data-testid="nav-audit">"Audit"</a>
                <a href="#/review" aria-current=move || is("review") data-testid="nav-review">"Review"</a>
                <a href="/docs/" target="_blank" rel="noopener">"API docs"</a>
            </nav>
            <span class="spacer"></span>
            <span class="who" data-testid="whoami">{who}</span>
            <button class="ghost" on:click=sign_out data-testid="signout">"Sign out"</button>
        </header>
    }
}

#[component]
fn StatusLine() -> impl IntoView {
    let session = use_context::<Session>().unwrap_or_else(|| Session::new(None));
    view! {
        <div class="status" role="status" aria-live="polite">
            {move || session.status.get().map(|(m, err)| view! {
                <div class=if err { "status-msg error" } else { "status-msg" } data-testid="status">
                    <span>{m}</span>
                    <button class="ghost small" aria-label="Dismiss" on:click=move |_| session.status.set(None)>"×"</button>
                </div>
            })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        for r in [
            Route::List,
            Route::New,
            Route::Catalog,
            Route::Policy("a b/c".into()),
            Route::Audit(String::new()),
            Route::Audit("verdict=block&user=alice".into()),
            Route::Evaluation("ev_1".into()),
            Route::Review(String::new()),
            Route::Review("status=in_review".into()),
            Route::Change(ChangeKey::Policy("pii/masks".into(), 3)),
            Route::Change(ChangeKey::Catalog(2)),
        ] {
            assert_eq!(Route::parse(&r.hash()), r);
        }
        assert_eq!(Route::parse(""), Route::List);
        assert_eq!(Route::parse("#/policy/"), Route::List);
    }
}
