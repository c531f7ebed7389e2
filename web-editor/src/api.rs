//! The Policies API client: `fetch` with the Bearer token, JSON in and out, `If-Match`.

use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

/// An answer of the server, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The revision in `ETag`, when the answer has one.
    pub etag: Option<i64>,
    pub body: Value,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's error message (`{"error": {"message"}}`), or the status.
    pub fn message(&self) -> String {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {}", self.status))
    }

    /// The error code (`stale_revision`, `invalid_policy`, …), if any.
    pub fn code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|err| String::from(err.message()))
        })
        .unwrap_or_else(|| "the request failed".to_string())
}

/// Sends one request to the API (paths start with `/api/v1/` or `/health`).
pub async fn call(
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
    if_match: Option<i64>,
) -> Result<Answer, String> {
    call_with(method, path, token, body, if_match, &[]).await
}

/// [`call`] with more request headers (`Verdict-Override-Reason`, …).
pub async fn call_with(
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
    if_match: Option<i64>,
    extra: &[(&str, &str)],
) -> Result<Answer, String> {
    let init = RequestInit::new();
    init.set_method(method);
    let headers = Headers::new().map_err(js_err)?;
    headers.set("Accept", "application/json").map_err(js_err)?;
    if !token.is_empty() {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(js_err)?;
    }
    if let Some(rev) = if_match {
        headers
            .set("If-Match", &format!("\"{rev}\""))
            .map_err(js_err)?;
    }
    for (name, value) in extra {
        headers.set(name, value).map_err(js_err)?;
    }
    if let Some(b) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(js_err)?;
        init.set_body(&JsValue::from_str(&b.to_string()));
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(path, &init).map_err(js_err)?;
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| format!("cannot reach the server: {}", js_err(e)))?
        .dyn_into()
        .map_err(js_err)?;
    let status = response.status();
    let etag = response
        .headers()
        .get("ETag")
        .ok()
        .flatten()
        .and_then(|t| t.trim_start_matches("W/").trim_matches('"').parse().ok());
    let text = JsFuture::from(response.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Answer { status, etag, body })
}

/// Percent-encodes a query or path component (everything but `A-Za-z0-9-_.~`).
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn enc_escapes_reserved_bytes() {
        assert_eq!(super::enc("a b/é=1"), "a%20b%2F%C3%A9%3D1");
    }
}
