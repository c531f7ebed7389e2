//! What the editor keeps in the browser: one `localStorage` key holding a JSON object
//! (drafts by policy id, the preview's context, context presets, queries), and the API
//! token in `sessionStorage` (or `localStorage` when the user asks to be remembered).

use serde_json::{json, Map, Value};
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

/// Changes one member of the stored state (`None` removes it).
pub fn put(member: &str, value: Option<Value>) {
    let mut state = load();
    if let Value::Object(map) = &mut state {
        match value {
            Some(v) => {
                map.insert(member.to_string(), v);
            }
            None => {
                map.remove(member);
            }
        }
    }
    if let Some(s) = local() {
        let _ = s.set_item(KEY, &state.to_string());
    }
}

/// One member of the stored state.
pub fn get(member: &str) -> Option<Value> {
    load().get(member).cloned()
}

/// The saved draft of a policy (`{policy, base_revision, saved_at}`), if any.
pub fn draft(id: &str) -> Option<Value> {
    get("drafts")?.get(id).cloned()
}

/// Saves (or with `None` forgets) the draft of a policy.
pub fn set_draft(id: &str, draft: Option<Value>) {
    let mut drafts = match get("drafts") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    match draft {
        Some(d) => {
            drafts.insert(id.to_string(), d);
        }
        None => {
            drafts.remove(id);
        }
    }
    put("drafts", Some(Value::Object(drafts)));
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
