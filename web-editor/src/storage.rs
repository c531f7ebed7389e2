//! What the editor keeps in the browser: one `localStorage` key holding a JSON object
//! (drafts by policy id, the preview's context, context presets, queries), and the API
//! token in `sessionStorage` (or `localStorage` when the user asks to be remembered).
//! What changes with every keystroke (drafts, the preview's query and context) is written
//! when typing pauses, and before the page is left.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::Storage;

/// The one `localStorage` key of the editor's state.
pub const KEY: &str = "verdict-editor";
/// Where the API token is kept.
pub const TOKEN_KEY: &str = "verdict-editor.token";

fn local() -> Option<Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn session() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The stored state, `{}` when there is none or it does not parse.
pub fn load() -> Value {
    local()
        .and_then(|s| s.get_item(KEY).ok().flatten())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// Writes that wait for a pause in typing: `localStorage` is synchronous and its whole
/// state is one JSON text, so a write per keystroke would parse and print it every time.
#[derive(Default)]
struct Pending {
    members: BTreeMap<String, Option<Value>>,
    drafts: BTreeMap<String, Option<Value>>,
    timer: bool,
    hooked: bool,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// How long typing must pause before a deferred write happens.
const DELAY_MS: i32 = 400;

fn set(state: &mut Value, member: &str, value: Option<Value>) {
    if let Value::Object(map) = state {
        match value {
            Some(v) => {
                map.insert(member.to_string(), v);
            }
            None => {
                map.remove(member);
            }
        }
    }
}

fn save(state: &Value) {
    if let Some(s) = local() {
        let _ = s.set_item(KEY, &state.to_string());
    }
}

/// Changes one member of the stored state (`None` removes it), now.
pub fn put(member: &str, value: Option<Value>) {
    PENDING.with(|p| p.borrow_mut().members.remove(member));
    let mut state = load();
    set(&mut state, member, value);
    save(&state);
}

/// Changes one member of the stored state when typing pauses (or the page is left).
pub fn put_soon(member: &str, value: Option<Value>) {
    PENDING.with(|p| p.borrow_mut().members.insert(member.to_string(), value));
    schedule();
}

/// One member of the stored state (a deferred write counts as done).
pub fn get(member: &str) -> Option<Value> {
    if let Some(v) = PENDING.with(|p| p.borrow().members.get(member).cloned()) {
        return v;
    }
    load().get(member).cloned()
}

/// The saved draft of a policy (`{policy, base_revision, saved_at}`), if any.
pub fn draft(id: &str) -> Option<Value> {
    if let Some(v) = PENDING.with(|p| p.borrow().drafts.get(id).cloned()) {
        return v;
    }
    get("drafts")?.get(id).cloned()
}

fn apply_drafts(state: &mut Value, changes: BTreeMap<String, Option<Value>>) {
    if changes.is_empty() {
        return;
    }
    let mut drafts = match state.get("drafts") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (id, d) in changes {
        match d {
            Some(d) => {
                drafts.insert(id, d);
            }
            None => {
                drafts.remove(&id);
            }
        }
    }
    set(state, "drafts", Some(Value::Object(drafts)));
}

/// Saves (or with `None` forgets) the draft of a policy, now.
pub fn set_draft(id: &str, draft: Option<Value>) {
    PENDING.with(|p| p.borrow_mut().drafts.remove(id));
    let mut state = load();
    apply_drafts(&mut state, BTreeMap::from([(id.to_string(), draft)]));
    save(&state);
}

/// Saves (or forgets) the draft of a policy when typing pauses (or the page is left).
pub fn set_draft_soon(id: &str, draft: Option<Value>) {
    PENDING.with(|p| p.borrow_mut().drafts.insert(id.to_string(), draft));
    schedule();
}

/// Does the deferred writes now, in one `localStorage` write.
pub fn flush() {
    let (members, drafts) = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.timer = false;
        (
            std::mem::take(&mut p.members),
            std::mem::take(&mut p.drafts),
        )
    });
    if members.is_empty() && drafts.is_empty() {
        return;
    }
    let mut state = load();
    for (member, value) in members {
        set(&mut state, &member, value);
    }
    apply_drafts(&mut state, drafts);
    save(&state);
}

fn schedule() {
    let Some(window) = web_sys::window() else {
        flush();
        return;
    };
    let (timer, hooked) = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let was = (p.timer, p.hooked);
        p.timer = true;
        p.hooked = true;
        was
    });
    if !hooked {
        // Leaving or hiding the page writes what is pending (a reload keeps the draft).
        let on_leave = Closure::<dyn Fn()>::new(flush);
        for (target, event) in [
            (
                window.clone().unchecked_into::<web_sys::EventTarget>(),
                "pagehide",
            ),
            (
                window.clone().unchecked_into::<web_sys::EventTarget>(),
                "beforeunload",
            ),
        ] {
            let _ =
                target.add_event_listener_with_callback(event, on_leave.as_ref().unchecked_ref());
        }
        if let Some(doc) = window.document() {
            let _ = doc.add_event_listener_with_callback(
                "visibilitychange",
                on_leave.as_ref().unchecked_ref(),
            );
        }
        on_leave.forget();
    }
    if !timer {
        let later = Closure::once_into_js(flush);
        if window
            .set_timeout_with_callback_and_timeout_and_arguments_0(later.unchecked_ref(), DELAY_MS)
            .is_err()
        {
            flush();
        }
    }
}

/// The token, from this tab's session or from the remembered one.
pub fn token() -> Option<String> {
    session()
        .and_then(|s| s.get_item(TOKEN_KEY).ok().flatten())
        .or_else(|| local().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten()))
        .filter(|t| !t.is_empty())
}

/// Keeps the token for this tab, and across restarts when `remember`; `None` signs out.
pub fn set_token(token: Option<&str>, remember: bool) {
    for (store, keep) in [(session(), true), (local(), remember)] {
        if let Some(s) = store {
            match token {
                Some(t) if keep => {
                    let _ = s.set_item(TOKEN_KEY, t);
                }
                _ => {
                    let _ = s.remove_item(TOKEN_KEY);
                }
            }
        }
    }
}
