//! Serves a built single-page app (the policy editor) from a directory: files by path,
//! and `index.html` for every other page path so that client-side routes survive a reload.
//!
//! Each file is compressed once (brotli and gzip, or its `.br` / `.gz` sibling when the
//! build wrote one) and kept in memory; answers carry `ETag` (304 on `If-None-Match`),
//! `Vary: Accept-Encoding` and `Cache-Control`: a year and `immutable` for the hashed
//! files a release build names (`app-0123456789abcdef.js`), `no-cache` for the rest.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The directory holding `index.html` and its assets, and the files served so far.
#[derive(Debug, Clone)]
pub struct WebDir {
    dir: PathBuf,
    cache: Arc<Mutex<HashMap<PathBuf, Arc<Asset>>>>,
}

impl WebDir {
    /// Serves `dir`.
    pub fn new(dir: PathBuf) -> Self {
        WebDir {
            dir,
            cache: Arc::default(),
        }
    }

    /// Compresses every file of the directory in the background, so that the first page
    /// load finds them ready.
    pub fn warm(&self) {
        let web = self.clone();
        tokio::spawn(async move {
            let mut pending = vec![web.dir.clone()];
            while let Some(dir) = pending.pop() {
                let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                    continue;
                };
                while let Ok(Some(entry)) = entries.next_entry().await {
                    let path = entry.path();
                    match entry.file_type().await {
                        Ok(t) if t.is_dir() => pending.push(path),
                        Ok(t) if t.is_file() => {
                            let _ = asset(&web, &path).await;
                        }
                        _ => {}
                    }
                }
            }
        });
    }
}

/// One file in its encodings.
#[derive(Debug)]
struct Asset {
    modified: Option<SystemTime>,
    len: u64,
    identity: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
    /// A digest of the content, quoted: the same for every encoding of it.
    tag: String,
}

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

/// Formats that gain from compression (images and fonts are compressed already).
fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        "html" | "js" | "mjs" | "wasm" | "css" | "json" | "map" | "svg" | "txt" | "ico"
    )
}

/// Whether the file name carries a content hash (`name-0123456789abcdef.js`,
/// `name-0123456789abcdef_bg.wasm`): its content never changes under that name.
pub fn is_hashed(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let bytes = name.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'-'
            && bytes.get(i + 1..i + 17).is_some_and(|h| {
                h.iter()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            })
            && matches!(bytes.get(i + 17), Some(b'.') | Some(b'_'))
    })
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

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

fn brotli(data: &[u8]) -> Option<Bytes> {
    let mut out = Vec::new();
    // The best ratio for what loads first; a little less for large files (a release
    // editor's wasm), which quality 11 would take seconds to compress.
    let params = brotli::enc::BrotliEncoderParams {
        quality: if data.len() > 512 * 1024 { 9 } else { 11 },
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).ok()?;
    Some(Bytes::from(out))
}

/// Reads and compresses a file (blocking: run it off the async workers).
fn build(path: &Path, modified: Option<SystemTime>, len: u64) -> Option<Asset> {
    let identity = Bytes::from(std::fs::read(path).ok()?);
    let sibling = |ext: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(ext);
        std::fs::read(PathBuf::from(name)).ok().map(Bytes::from)
    };
    let (gzip, brotli) = if compressible(path) {
        (
            sibling(".gz").or_else(|| gzip(&identity)),
            sibling(".br").or_else(|| brotli(&identity)),
        )
    } else {
        (None, None)
    };
    let digest = hex::encode(Sha256::digest(&identity));
    let tag = format!("\"{}\"", digest.get(..32).unwrap_or(&digest));
    // A compressed form is worth sending only when it is smaller.
    let smaller = |b: Option<Bytes>| b.filter(|b| b.len() < identity.len());
    Some(Asset {
        modified,
        len,
        gzip: smaller(gzip),
        brotli: smaller(brotli),
        identity,
        tag,
    })
}

async fn asset(web: &WebDir, path: &Path) -> Option<Arc<Asset>> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let modified = meta.modified().ok();
    let len = meta.len();
    if let Ok(cache) = web.cache.lock() {
        if let Some(a) = cache.get(path) {
            if a.modified == modified && a.len == len {
                return Some(Arc::clone(a));
            }
        }
    }
    let owned = path.to_path_buf();
    let built = tokio::task::spawn_blocking(move || build(&owned, modified, len))
        .await
        .ok()??;
    let built = Arc::new(built);
    if let Ok(mut cache) = web.cache.lock() {
        cache.insert(path.to_path_buf(), Arc::clone(&built));
    }
    Some(built)
}

/// Whether `Accept-Encoding` accepts `coding` (a `q=0` refuses it).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case(coding) || name == "*") && !refused
        })
}

fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

fn answer(path: &Path, asset: &Asset, request: &HeaderMap) -> Response {
    let cache_control = if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&asset.tag) {
        headers.insert(header::ETAG, v);
    }
    if not_modified(request, &asset.tag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let body = match (&asset.brotli, &asset.gzip) {
        (Some(br), _) if accepts(request, "br") => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            br.clone()
        }
        (_, Some(gz)) if accepts(request, "gzip") => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz.clone()
        }
        _ => asset.identity.clone(),
    };
    (StatusCode::OK, headers, body).into_response()
}

/// The fallback handler when a web directory is configured: API paths stay JSON 404s.
pub async fn serve(State(web): State<WebDir>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/api/") || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return crate::not_found_error().into_response();
    }
    let headers = request.headers();
    if let Some(target) = resolve(&web.dir, &path) {
        if let Some(a) = asset(&web, &target).await {
            return answer(&target, &a, headers);
        }
    }
    let index = web.dir.join("index.html");
    match asset(&web, &index).await {
        Some(a) => answer(&index, &a, headers),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the editor is not built (no index.html in the web directory)",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        for hashed in [
            "verdict-web-editor-0123456789abcdef.js",
            "verdict-web-editor-0123456789abcdef_bg.wasm",
            "style-fedcba9876543210.css",
        ] {
            assert!(is_hashed(Path::new(hashed)), "{hashed}");
        }
        for plain in [
            "index.html",
            "app.js",
            "verdict-web-editor.js",
            "x-0123456789abcdeg.js",
            "x-0123456789abcde.js",
        ] {
            assert!(!is_hashed(Path::new(plain)), "{plain}");
        }
    }

    #[test]
    fn accept_encoding() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts(&h("gzip, deflate, br"), "br"));
        assert!(accepts(&h("gzip;q=0.5"), "gzip"));
        assert!(!accepts(&h("gzip, br;q=0"), "br"));
        assert!(accepts(&h("*"), "br"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }
}
