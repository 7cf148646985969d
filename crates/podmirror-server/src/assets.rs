//! The dashboard's files, embedded in the binary at build time (see
//! `build.rs`): `/` is its page; Vite's content-hashed `/assets/*` are
//! cached for a year, the page itself revalidated by ETag; a gzip copy made
//! at build time is sent to browsers that accept it. A binary built without
//! Node answers `/` with a page that says how to get the dashboard.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::collections::HashMap;
use std::sync::LazyLock;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_files.rs"));
}

/// One embedded file.
struct Asset {
    body: &'static [u8],
    gzip: Option<&'static [u8]>,
    etag: HeaderValue,
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    embedded::FILES
        .iter()
        .map(|(path, body, gzip)| {
            // FNV-1a of the body: a validator, not a secret.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in body.iter() {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
            let etag = HeaderValue::from_str(&format!("\"{h:016x}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            (
                *path,
                Asset {
                    body,
                    gzip: *gzip,
                    etag,
                },
            )
        })
        .collect()
});

/// Whether this binary carries the dashboard.
pub fn built() -> bool {
    !embedded::FILES.is_empty()
}

/// What the page may load: only this server's own files and API.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>podmirror</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5; padding: 0 1rem">
<h1>podmirror</h1>
<p>This podmirror was built without its dashboard: Node.js and npm were not
found when it was compiled.</p>
<p>To get the dashboard, install Node.js 20 or newer (with npm) and build
again from the repository: <code>cargo build --release -p podmirror</code>.
The build runs <code>npm ci</code> and <code>npm run build</code> in
<code>dashboard/</code> and embeds the result.</p>
<p>The REST API works without it: <a href="/api/openapi.json">/api/openapi.json</a>
lists its routes, and the CLI talks to it with <code>--server</code>.</p>
</body></html>
"#;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The file at `path` (`/` is the page), or None when there is none.
pub fn serve(path: &str, headers: &HeaderMap, head: bool) -> Option<Response> {
    let path = if path == "/" || path == "/index.html" {
        "/index.html"
    } else {
        path
    };
    if !built() && path == "/index.html" {
        let mut r = (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            NOT_BUILT,
        )
            .into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Some(r);
    }
    let asset = ASSETS.get(path)?;
    let cache = if path.starts_with("/assets/") {
        // Vite puts a hash of the content in these names.
        "public, max-age=31536000, immutable"
    } else if path == "/index.html" {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path == "/index.html" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == asset.etag.to_str().unwrap_or("") || t.trim() == "*");
    if fresh {
        return Some((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let body = match asset.gzip {
        Some(gz) if accepts_gzip(headers) => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz
        }
        _ => asset.body,
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if head {
        Body::empty()
    } else {
        Body::from(body)
    };
    Some((StatusCode::OK, h, body).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn gzip_is_sent_only_to_those_who_accept_it() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity, *;q=0.5"),
        );
        assert!(accepts_gzip(&h));
    }

    fn get(path: &str, headers: &[(&'static str, &str)]) -> Option<Response> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        serve(path, &h, false)
    }

    fn header(r: &Response, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn the_page_revalidates_hashed_assets_are_kept_and_gzip_is_offered() {
        let Some(page) = get("/", &[]) else {
            panic!("/ always answers");
        };
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(header(&page, header::CACHE_CONTROL), "no-cache");
        assert!(get("/nope.js", &[]).is_none());
        if !built() {
            // Built without npm: the page says how to get the dashboard.
            return;
        }
        assert!(header(&page, header::CONTENT_SECURITY_POLICY).contains("default-src 'self'"));
        let etag = header(&page, header::ETAG).to_string();
        let again = get("/", &[("if-none-match", &etag)]).map(|r| r.status());
        assert_eq!(again, Some(StatusCode::NOT_MODIFIED));
        let (asset, _, gz) = embedded::FILES
            .iter()
            .find(|(p, _, gz)| p.starts_with("/assets/") && p.ends_with(".js") && gz.is_some())
            .copied()
            .unwrap_or(("", b"", None));
        assert!(!asset.is_empty(), "the build has a gzipped script");
        let Some(r) = get(asset, &[("accept-encoding", "gzip, br")]) else {
            panic!("{asset} is served");
        };
        assert_eq!(header(&r, header::CONTENT_ENCODING), "gzip");
        assert_eq!(
            header(&r, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            header(&r, header::CONTENT_LENGTH),
            gz.map_or(0, <[u8]>::len).to_string()
        );
        let Some(plain) = get(asset, &[]) else {
            panic!("{asset} is served");
        };
        assert_eq!(header(&plain, header::CONTENT_ENCODING), "");
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(
            content_type("/assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("/favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("/x"), "application/octet-stream");
    }
}
