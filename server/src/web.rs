//! Serves a built single-page app (the policy editor) from a directory: files by path,
//! and `index.html` for every other page path so that client-side routes survive a reload.

use std::path::{Component, Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The directory holding `index.html` and its assets.
#[derive(Debug, Clone)]
pub struct WebDir(pub PathBuf);

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file for a request path, if it is a plain relative path inside the directory.
fn resolve(dir: &Path, uri_path: &str) -> Option<PathBuf> {
    let relative = uri_path.trim_start_matches('/');
    let relative = Path::new(relative);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(dir.join(relative))
}

async fn file(path: &Path) -> Option<Response> {
    let bytes = tokio::fs::read(path).await.ok()?;
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    Some(response)
}

/// The fallback handler when a web directory is configured: API paths stay JSON 404s.
pub async fn serve(State(dir): State<WebDir>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/api/") || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return crate::not_found_error().into_response();
    }
    if let Some(target) = resolve(&dir.0, &path) {
        if target.is_file() {
            if let Some(response) = file(&target).await {
                return response;
            }
        }
    }
    match file(&dir.0.join("index.html")).await {
        Some(response) => response,
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the editor is not built (no index.html in the web directory)",
        )
        .into_response(),
    }
}
