//! `GET /docs`: a browsable page for the OpenAPI document. Self-written and self-contained
//! (one HTML file with its script and style, built into the binary): nothing is fetched at
//! build time or by the browser, and it adds no dependency to the build.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("../assets/docs.html");

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
