//! The built-in dashboard: `/ui`, a page of plain HTML, CSS and JavaScript
//! modules (`query-api/ui/`) embedded in the binary, so it works offline
//! and ships with the API. Nothing is loaded from elsewhere: the
//! Content-Security-Policy allows this server only. The page signs in
//! client-side (an API key as a Bearer token, kept in `sessionStorage`)
//! and reads the `/v1` routes like any client; these routes need no key.
//!
//! - `GET /ui`: a redirect to `ui/` (relative, so a path prefix added by a
//!   proxy is kept), whose relative asset URLs then resolve under `/ui/`.
//! - `GET /ui/`: the page (`index.html`).
//! - `GET /ui/assets/{file}`: stylesheet, modules, icon.
//!
//! Every answer has an ETag (a hash of the file) and `Cache-Control:
//! no-cache`: browsers revalidate and get a 304 while the binary is the same.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// This server only: scripts, styles, images and API calls. No inline
/// script or style, no `eval`, no frames; DOM sinks that parse HTML are
/// refused (Trusted Types): the page builds its DOM node by node.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'";

/// One embedded file.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../ui/", $name)),
        }
    };
}

/// The page itself.
static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// What `/ui/assets/{file}` serves.
static ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("kit.js", "text/javascript; charset=utf-8"),
    asset!("view-signin.js", "text/javascript; charset=utf-8"),
    asset!("view-campaigns.js", "text/javascript; charset=utf-8"),
    asset!("view-campaign.js", "text/javascript; charset=utf-8"),
    asset!("view-journeys.js", "text/javascript; charset=utf-8"),
    asset!("view-overview.js", "text/javascript; charset=utf-8"),
    asset!("view-alerts.js", "text/javascript; charset=utf-8"),
    asset!("view-reports.js", "text/javascript; charset=utf-8"),
    asset!("view-dashboards.js", "text/javascript; charset=utf-8"),
    asset!("view-dashboard.js", "text/javascript; charset=utf-8"),
    asset!("view-dashboard-form.js", "text/javascript; charset=utf-8"),
];

/// The routes of the dashboard (no key, no state).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(to_slash))
        .route("/ui/", get(index))
        .route("/ui/assets/{file}", get(asset))
}

async fn to_slash() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("ui/"))],
    )
        .into_response()
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => serve(a, &headers),
        None => ApiError::not_found(format!("no asset {file:?} in the dashboard")).into_response(),
    }
}

/// A strong ETag: the first 128 bits of the file's SHA-256, computed once.
fn etag(a: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|a| {
                let hash = Sha256::digest(a.body);
                (a.name, format!("\"{}\"", hex::encode(&hash[..16])))
            })
            .collect()
    });
    tags.iter()
        .find(|(name, _)| *name == a.name)
        .map_or("\"\"", |(_, tag)| tag.as_str())
}

/// Whether `If-None-Match` names `tag` (or is `*`); weak tags compare by
/// their opaque part, as the weak comparison of RFC 9110 does.
fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

fn serve(a: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(a);
    let common: [(HeaderName, HeaderValue); 6] = [
        (header::ETAG, HeaderValue::from_static(tag)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if not_modified(headers, tag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        )],
        common,
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    const JS: &str = "text/javascript; charset=utf-8";

    async fn get(uri: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(uri);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let res = router::<()>()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }

    fn text(a: &Asset) -> &'static str {
        std::str::from_utf8(a.body).expect("UTF-8")
    }

    #[tokio::test]
    async fn the_page_its_assets_and_their_headers() {
        let (status, headers, _) = get("/ui", None).await;
        assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(headers[header::LOCATION], "ui/");

        let (status, headers, body) = get("/ui/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(body, INDEX.body);

        for a in ASSETS {
            let (status, headers, body) = get(&format!("/ui/assets/{}", a.name), None).await;
            assert_eq!(status, StatusCode::OK, "{}", a.name);
            assert_eq!(headers[header::CONTENT_TYPE], a.content_type, "{}", a.name);
            let ext = a.name.rsplit('.').next().unwrap_or_default();
            let want = match ext {
                "js" => JS,
                "css" => "text/css; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("an asset of unknown kind: {other}"),
            };
            assert_eq!(a.content_type, want, "{}", a.name);
            assert_eq!(body, a.body);

            // Revalidation: the same tag is a 304 without a body.
            let tag = headers[header::ETAG].to_str().expect("ASCII").to_string();
            assert!(tag.starts_with('"') && tag.len() == 34, "{tag}");
            let (status, headers, body) = get(&format!("/ui/assets/{}", a.name), Some(&tag)).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{}", a.name);
            assert_eq!(headers[header::ETAG], tag.as_str());
            assert!(body.is_empty());
            let other = format!("\"x\", W/{tag}");
            let (status, _, _) = get(&format!("/ui/assets/{}", a.name), Some(&other)).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "weak comparison");
            let (status, _, _) = get(&format!("/ui/assets/{}", a.name), Some("\"x\"")).await;
            assert_eq!(status, StatusCode::OK);
        }

        for missing in ["/ui/assets/nope.js", "/ui/assets/index.html", "/ui/assets/"] {
            let (status, _, _) = get(missing, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        }
    }

    #[test]
    fn every_file_of_the_folder_is_served_and_every_reference_resolves() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .expect("query-api/ui")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        let served: BTreeSet<String> = std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|a| a.name.to_string())
            .collect();
        assert_eq!(on_disk, served, "query-api/ui and the asset list differ");

        let names: BTreeSet<&str> = ASSETS.iter().map(|a| a.name).collect();
        // index.html loads assets/NAME; modules import ./NAME.
        let mut referenced = Vec::new();
        for piece in text(&INDEX).split("assets/").skip(1) {
            referenced.push(piece.split('"').next().unwrap_or_default());
        }
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for piece in text(a).split("from \"./").skip(1) {
                referenced.push(piece.split('"').next().unwrap_or_default());
            }
        }
        assert!(referenced.len() > ASSETS.len(), "{referenced:?}");
        for r in referenced {
            assert!(names.contains(r), "{r} is referenced but not served");
        }
    }

    #[test]
    fn nothing_comes_from_elsewhere_and_no_html_is_parsed_from_strings() {
        for a in std::iter::once(&INDEX).chain(ASSETS) {
            let t = text(a);
            // The SVG namespace is a name, not a location.
            let outside = t
                .replace("http://www.w3.org/2000/svg", "")
                .replace("http://www.w3.org/1999/xlink", "");
            for scheme in ["http://", "https://", "//fonts.", "@import"] {
                assert!(!outside.contains(scheme), "{} holds {scheme}", a.name);
            }
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "eval(",
                "style=",
            ] {
                assert!(!t.contains(sink), "{} uses {sink}", a.name);
            }
        }
    }
}
