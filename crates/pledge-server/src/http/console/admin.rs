//! Administration, for admins only: staff accounts (add with a password shown once,
//! disable), API keys (create with the key shown once, revoke) and the server's settings,
//! read-only and without secrets. Every change is audited by the store with the admin's
//! account as actor, as `pledge users` and `pledge keys` are with `cli`.

use super::when;
use super::{field, message, page, signed_in, signed_in_with_form, staff_view, store_failed, tr};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};
use pledge_store::Role;
use pledge_store::staff::{NewStaff, StaffError, StaffSession};

/// Roles a console account may have: people, not programs.
const STAFF_ROLES: [Role; 3] = [Role::Admin, Role::PrivacyOfficer, Role::SupportAgent];

fn refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "console.message.role_title",
        "console.message.role_admin",
        &[],
        ("/console", "console.link.dashboard"),
    )
}

/// What the page shows once after a change: a secret to copy, or what went wrong.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    done: Option<String>,
    /// A password or key shown this once.
    secret: Option<(String, String)>,
    error: Option<String>,
}

#[utoipa::path(get, path = "/console/admin", summary = "Administration", tag = "console", operation_id = "console_admin", security(()),
    description = "Staff accounts, API keys (never their secrets) and the server's settings without secrets, with the forms that add, disable, create and revoke. Admins only.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String)
    ))]
pub(super) async fn admin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if session.account.role != Role::Admin {
        return refused();
    }
    admin_page(&state, &session, Outcome::default()).await
}

async fn admin_page(state: &AppState, session: &StaffSession, outcome: Outcome) -> Response {
    let (accounts, keys) = match (
        state.store.list_staff().await,
        state.store.list_keys().await,
    ) {
        (Ok(a), Ok(k)) => (a, k),
        (Err(e), _) | (_, Err(e)) => return store_failed(&e),
    };
    let now = state.now();
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|a| {
            context! {
                email => a.email.clone(), name => a.name.clone(), role => a.role.as_str(),
                created => when(a.created_at),
                disabled => a.disabled_at.map(when),
                locked => a.locked_until.filter(|t| *t > now).map(when),
                me => a.id == session.account.id,
            }
        })
        .collect();
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            context! {
                id => k.id.clone(), role => k.role.as_str(), label => k.label.clone(),
                created => when(k.created_at), revoked => k.revoked_at.map(when),
            }
        })
        .collect();
    let c = &state.config;
    let yes = |b: bool| tr(if b { "console.yes" } else { "console.no" }, &[]);
    let off = || tr("console.settings.off", &[]);
    let n = |v: i64| v.to_string();
    let settings: Vec<(&str, String)> = vec![
        ("console.settings.workers", c.workers.to_string()),
        ("console.settings.public", yes(c.public.enabled)),
        ("console.settings.base_url", c.public.base_url.clone()),
        (
            "console.settings.needs_approval",
            yes(c.public.needs_approval),
        ),
        (
            "console.settings.origins",
            if c.public.origins.is_empty() {
                tr("console.settings.no_origins", &[])
            } else {
                c.public.origins.join(", ")
            },
        ),
        // The URL may carry a password: only whether there is one.
        (
            "console.settings.mail",
            if c.mail.smtp_url.is_some() {
                tr("console.settings.smtp", &[("from", &c.mail.from)])
            } else {
                tr("console.settings.mail_log", &[])
            },
        ),
        ("console.settings.sealed", yes(c.export_keys.is_some())),
        (
            "console.settings.export_kept",
            tr(
                "console.settings.days",
                &[("count", &n(c.export_ttl_secs / 86_400))],
            ),
        ),
        (
            "console.settings.link_valid",
            tr(
                "console.settings.hours",
                &[("count", &n(c.link_ttl_secs / 3_600))],
            ),
        ),
        (
            "console.settings.retention",
            c.retain_schedule
                .as_ref()
                .map_or_else(off, |s| s.to_string()),
        ),
        (
            "console.settings.retention_batch",
            c.retain_batch_size.to_string(),
        ),
        (
            "console.settings.maintenance",
            c.maintenance_schedule
                .as_ref()
                .map_or_else(off, |s| s.to_string()),
        ),
        (
            "console.settings.minimised",
            c.minimise_closed_after.to_string(),
        ),
        ("console.settings.checkpoints", yes(c.checkpoints.is_some())),
        (
            "console.settings.digest",
            c.digest.as_ref().map_or_else(off, |d| {
                tr(
                    "console.settings.digest_to",
                    &[
                        ("schedule", &d.schedule.to_string()),
                        ("count", &d.recipients.len().to_string()),
                    ],
                )
            }),
        ),
        (
            "console.settings.sign_in",
            tr(
                "console.settings.sign_in_policy",
                &[
                    ("lockout", &n(c.console.lockout_secs / 60)),
                    ("failures", &c.console.max_failures.to_string()),
                    ("idle", &n(c.console.idle_secs / 60)),
                    ("absolute", &n(c.console.absolute_secs / 3_600)),
                ],
            ),
        ),
        ("console.settings.datasets", c.connections.len().to_string()),
    ];
    let settings: Vec<Value> = settings
        .into_iter()
        .map(|(key, value)| context! { name => tr(key, &[]), value })
        .collect();
    let roles: Vec<&str> = STAFF_ROLES.iter().map(|r| r.as_str()).collect();
    let key_roles: Vec<&str> = pledge_store::ROLES.iter().map(|r| r.as_str()).collect();
    page(
        outcome.status.unwrap_or(StatusCode::OK),
        "admin.html",
        context! {
            staff => staff_view(session),
            accounts, keys, settings, roles, key_roles,
            done => outcome.done,
            secret => outcome.secret.map(|(what, value)| context! { what, value }),
            error => outcome.error,
        },
    )
}

/// A signed-in admin and the fields of their form, or the answer instead.
async fn admin_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StaffSession, Vec<(String, String)>), Response> {
    let (session, fields) = signed_in_with_form(state, headers, body).await?;
    if session.account.role != Role::Admin {
        return Err(refused());
    }
    Ok((session, fields))
}

/// The key of a role's name in the catalogues.
fn role_key(role: Role) -> String {
    format!("console.role.{}", role.as_str())
}

/// Why the store refused a change of an account, in the page's language.
fn staff_error(e: &StaffError) -> String {
    match e {
        StaffError::BadEmail(email) => tr("console.admin.bad_email", &[("email", email)]),
        StaffError::BadRole(_) => tr("console.admin.need_role", &[]),
        StaffError::BadPassword => tr(
            "console.admin.bad_password",
            &[("count", &pledge_store::staff::MIN_PASSWORD.to_string())],
        ),
        StaffError::NoName => tr("console.admin.need_name", &[]),
        StaffError::Exists => tr("console.admin.exists", &[]),
        StaffError::Unknown => tr("console.admin.unknown", &[]),
        StaffError::Hash(e) => e.clone(),
    }
}

fn invalid(text: impl Into<String>) -> Outcome {
    Outcome {
        status: Some(StatusCode::UNPROCESSABLE_ENTITY),
        error: Some(text.into()),
        ..Outcome::default()
    }
}

#[utoipa::path(post, path = "/console/admin/staff", summary = "Add a staff account", tag = "console", operation_id = "console_add_staff", security(()),
    description = "A new account with a generated password shown once on the page that answers. Admins only; CSRF token required.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `email`, `name`, `role`"),
    responses(
        (status = 200, description = "Added: the page with the password", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an admin, or no CSRF token", content_type = "text/html", body = String),
        (status = 422, description = "A field is missing or wrong, or the address has an account", content_type = "text/html", body = String)
    ))]
pub(super) async fn add_staff(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let email = field(&fields, "email").unwrap_or_default().trim();
    let name = field(&fields, "name").unwrap_or_default().trim();
    let role = field(&fields, "role")
        .and_then(|r| r.parse::<Role>().ok())
        .filter(|r| STAFF_ROLES.contains(r));
    let outcome = match (
        email.contains('@') && email.len() <= 254,
        name.is_empty(),
        role,
    ) {
        (false, _, _) => invalid(tr("console.admin.need_email", &[])),
        (_, true, _) => invalid(tr("console.admin.need_name", &[])),
        (_, _, None) => invalid(tr("console.admin.need_role", &[])),
        (true, false, Some(role)) => {
            let password = match pledge_store::staff::random_password() {
                Ok(p) => p,
                Err(e) => return store_failed(&e),
            };
            match state
                .store
                .create_staff(
                    NewStaff {
                        email,
                        name,
                        role,
                        password: &password,
                    },
                    &session.account.actor(),
                    state.now(),
                )
                .await
            {
                Ok(account) => Outcome {
                    done: Some(tr(
                        "console.admin.added",
                        &[
                            ("email", &account.email),
                            ("role", &tr(&role_key(account.role), &[])),
                        ],
                    )),
                    secret: Some((
                        tr("console.admin.password_of", &[("email", &account.email)]),
                        password,
                    )),
                    ..Outcome::default()
                },
                Err(pledge_store::Error::Staff(e)) if !matches!(e, StaffError::Hash(_)) => {
                    invalid(staff_error(&e))
                }
                Err(e) => return store_failed(&e),
            }
        }
    };
    admin_page(&state, &session, outcome).await
}

#[utoipa::path(post, path = "/console/admin/staff/disable", summary = "Disable a staff account", tag = "console", operation_id = "console_disable_staff", security(()),
    description = "The account can no longer sign in and its sessions end. Admins only, not their own account; CSRF token required.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `email`"),
    responses(
        (status = 200, description = "Disabled", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an admin, or no CSRF token", content_type = "text/html", body = String),
        (status = 422, description = "No such account, or one's own", content_type = "text/html", body = String)
    ))]
pub(super) async fn disable_staff(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let email = field(&fields, "email")
        .unwrap_or_default()
        .trim()
        .to_string();
    let outcome = if email.eq_ignore_ascii_case(&session.account.email) {
        invalid(tr("console.admin.not_yourself", &[]))
    } else {
        match state
            .store
            .disable_staff(&email, &session.account.actor(), state.now())
            .await
        {
            Ok(a) => Outcome {
                done: Some(tr("console.admin.disabled_done", &[("email", &a.email)])),
                ..Outcome::default()
            },
            Err(pledge_store::Error::Staff(e)) if !matches!(e, StaffError::Hash(_)) => {
                invalid(staff_error(&e))
            }
            Err(e) => return store_failed(&e),
        }
    };
    admin_page(&state, &session, outcome).await
}

#[utoipa::path(post, path = "/console/admin/keys", summary = "Create an API key", tag = "console", operation_id = "console_create_key", security(()),
    description = "A new API key with a role and a label, shown once on the page that answers. Admins only; CSRF token required.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `role`, `label`"),
    responses(
        (status = 200, description = "Created: the page with the key", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an admin, or no CSRF token", content_type = "text/html", body = String),
        (status = 422, description = "No such role", content_type = "text/html", body = String)
    ))]
pub(super) async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let label = field(&fields, "label")
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let outcome = match field(&fields, "role").and_then(|r| r.parse::<Role>().ok()) {
        None => invalid(tr("console.admin.need_key_role", &[])),
        Some(role) => match state
            .store
            .create_key(role, label, &session.account.actor(), state.now())
            .await
        {
            Ok((key, secret)) => Outcome {
                done: Some(tr(
                    "console.admin.created_key",
                    &[("key", &key.id), ("role", &tr(&role_key(key.role), &[]))],
                )),
                secret: Some((tr("console.admin.key_of", &[("key", &key.id)]), secret)),
                ..Outcome::default()
            },
            Err(e) => return store_failed(&e),
        },
    };
    admin_page(&state, &session, outcome).await
}

#[utoipa::path(post, path = "/console/admin/keys/revoke", summary = "Revoke an API key", tag = "console", operation_id = "console_revoke_key", security(()),
    description = "The key stops working on this server at once (on other replicas within the key recheck period). Admins only; CSRF token required.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `id`"),
    responses(
        (status = 200, description = "Revoked", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 403, description = "Not an admin, or no CSRF token", content_type = "text/html", body = String),
        (status = 422, description = "No such key", content_type = "text/html", body = String)
    ))]
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let id = field(&fields, "id").unwrap_or_default().trim().to_string();
    let outcome = match state
        .store
        .revoke_key(&id, &session.account.actor(), state.now())
        .await
    {
        Ok(key) => {
            state.forget_key(&key.id);
            Outcome {
                done: Some(tr("console.admin.revoked_done", &[("key", &key.id)])),
                ..Outcome::default()
            }
        }
        Err(pledge_store::Error::UnknownKey(_)) => invalid(tr("console.admin.no_such_key", &[])),
        Err(e) => return store_failed(&e),
    };
    admin_page(&state, &session, outcome).await
}
