//! `GET /docs`: a browsable page for the OpenAPI document. Self-written and self-contained
//! (one HTML file with its script and style, built into the binary): nothing is fetched at
//! build time or by the browser, and it adds no dependency to the build.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("../../assets/docs.html");

#[utoipa::path(get, path = "/docs", summary = "A page to browse this document", tag = "operations", operation_id = "api_docs_page", security(()),
    description = "A browsable page for the OpenAPI document.",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    // Only this page's own inline script and style, and fetches to this server.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}

#[utoipa::path(get, path = "/", summary = "Where the server's root leads", tag = "operations", operation_id = "root_redirect", security(()),
    description = "A redirect (307) to the page a person arriving here most likely looks for: the privacy center (`/privacy`) where public intake is on; otherwise the privacy notice the declaration publishes (`policy.url`), and without one this document's page, `/docs`.",
    responses((status = 307, description = "To the privacy center, the privacy notice, or `/docs`", headers(("Location" = String, description = "Where to go")))))]
pub async fn root(axum::extract::State(state): axum::extract::State<crate::AppState>) -> Response {
    let notice = crate::http::public::notice_url(&state);
    let to = if state.config.public.enabled {
        "/privacy"
    } else {
        notice.as_deref().unwrap_or("/docs")
    };
    axum::response::Redirect::temporary(to).into_response()
}
