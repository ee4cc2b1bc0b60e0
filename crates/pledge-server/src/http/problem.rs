//! Errors as RFC 9457 problem documents (`application/problem+json`), and the extractors
//! that turn every bad input into one.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pledge_store::{Error as StoreError, VerificationError};
use serde::de::DeserializeOwned;
use serde_json::json;

/// The shape of a problem document, for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// `urn:pledge:problem:<kind>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What was wrong with this call.
    pub detail: String,
}

/// The answers of every route behind the API-key middleware before its own work, for the
/// OpenAPI document: `responses(..., AuthProblems)` on each such route.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its OpenAPI description is used; no value is ever built.
pub enum AuthProblems {
    /// Missing, unknown or revoked API key
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(ProblemDoc),
    /// The key's role may not do this
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemDoc),
    /// Too many unknown keys from this client (see Retry-After)
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyUnknownKeys(ProblemDoc),
    /// The store did not answer the key's check (decisions go on with a key confirmed recently); see Retry-After
    #[response(status = 503, content_type = "application/problem+json")]
    StoreUnavailable(ProblemDoc),
}

/// A problem document: `type` names the kind of problem, `detail` this occurrence.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// A short id: `type` is `urn:pledge:problem:<kind>`.
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid API key",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role may not do this",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "The request is not valid",
            detail,
        )
    }

    /// 429 for a rate limit: the response says when to come back (`Retry-After`).
    pub fn rate_limited(detail: impl Into<String>, retry_after_secs: u64) -> Response {
        let mut response = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            detail,
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        response
    }

    /// 503: the store did not answer in time (or at all); the call may be repeated.
    pub fn store_unavailable(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "The server's store does not answer",
            detail,
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }
}

tokio::task_local! {
    /// Set by the API-key middleware around a call made with a staff key (admin, privacy
    /// officer): such a caller is shown the text of internal errors.
    pub(crate) static SHOWS_INTERNALS: bool;
}

/// A short random id that ties an answer to its line in the log.
pub(crate) fn correlation_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Only a lookup aid: a counter will do when randomness is unavailable.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        bytes = NEXT
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Problem {
    /// The text of an internal error (a database message, a pool timeout) says how the
    /// server is built: it goes to the log under a correlation id, and this returns the id
    /// and the sentence a caller who is not staff is shown instead. None for the other
    /// problems, whose detail is meant for the caller.
    fn redacted(&self) -> Option<(String, String)> {
        if self.kind != "internal" && self.kind != "store-unavailable" {
            return None;
        }
        let id = correlation_id();
        tracing::error!(
            correlation_id = %id,
            status = self.status.as_u16(),
            kind = self.kind,
            detail = %self.detail,
            "internal error"
        );
        Some((
            id.clone(),
            format!(
                "the server could not answer this call; if it keeps happening, tell the operator the correlation id {id}"
            ),
        ))
    }

    /// For an internal error, the correlation id its text is logged under (a page for a
    /// person says the id in its own words); none for the other problems.
    pub fn correlation(&self) -> Option<String> {
        self.redacted().map(|(id, _)| id)
    }

    /// The detail to put in a page for a person (no key): an internal error's text is
    /// logged and replaced (see [`Problem::redacted`]).
    pub fn public_detail(&self) -> String {
        self.redacted()
            .map_or_else(|| self.detail.clone(), |(_, shown)| shown)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:pledge:problem:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some((id, shown)) = self.redacted() {
            let staff = SHOWS_INTERNALS.try_with(|s| *s).unwrap_or(false);
            if !staff {
                body["detail"] = json!(shown);
            }
            body["correlation_id"] = json!(id);
        }
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::UnknownRequest(_) | StoreError::UnknownKey(_) => {
                Problem::not_found(e.to_string())
            }
            StoreError::Transition(
                pledge_domain::workflow::TransitionError::ReasonRequired(_)
                | pledge_domain::workflow::TransitionError::NoteRequired,
            ) => Problem::invalid(e.to_string()),
            StoreError::Verification(v) => verification_problem(v, e.to_string()),
            StoreError::Transition(_) | StoreError::Conflict(_) => Problem::new(
                StatusCode::CONFLICT,
                "transition-not-allowed",
                "The request's state does not allow this",
                e.to_string(),
            ),
            StoreError::NotForwarded(_) => Problem::new(
                StatusCode::CONFLICT,
                "not-awaiting-callback",
                "No report is awaited from this recipient",
                e.to_string(),
            ),
            // The store's database failing for now (a full disk, a lost connection, a lock,
            // a pool timeout): nothing was written; the same call may work later.
            _ if e.retryable() || store_unavailable(&e) => {
                Problem::store_unavailable(e.to_string())
            }
            _ => Problem::internal(e.to_string()),
        }
    }
}

/// Whether the store failed to answer at all (no connection in time, the pool closed, the
/// network), as against refusing or failing a statement: worth a 503 and a retry.
fn store_unavailable(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Database(
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        )
    )
}

fn verification_problem(v: &VerificationError, detail: String) -> Problem {
    match v {
        // Whether a request exists is not told to someone without its code or token.
        VerificationError::NoCode(_)
        | VerificationError::UnknownLink
        | VerificationError::BadStatusToken => Problem::not_found(detail),
        VerificationError::Expired => Problem::new(
            StatusCode::GONE,
            "code-expired",
            "The code has expired",
            detail,
        ),
        VerificationError::Used => Problem::new(
            StatusCode::GONE,
            "code-used",
            "The code was already used",
            detail,
        ),
        // Locked for good (no Retry-After): a new request brings a new code.
        VerificationError::TooManyAttempts => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
            "Too many wrong codes",
            detail,
        ),
        VerificationError::Wrong { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong-code",
            "The code is not right",
            detail,
        ),
    }
}

/// `Json<T>` whose rejections are problem documents: malformed JSON (400), a missing
/// content type (415), unknown fields and wrong types (422), a body over the limit (413).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> Problem {
    let detail = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => Problem::invalid(detail),
        JsonRejection::JsonSyntaxError(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "The body is not valid JSON",
            detail,
        ),
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Send JSON with Content-Type: application/json",
            detail,
        ),
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The body is larger than the server accepts",
            detail,
        ),
        _ => Problem::new(
            rejection.status(),
            "bad-body",
            "The body cannot be read",
            detail,
        ),
    }
}

/// `Query<T>` whose rejections are problem documents (400).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_problem(&rejection)),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad-query",
        "The query string is not valid",
        rejection.body_text(),
    )
}
