//! After the fact: ended sessions and the audit log.

use axum::Json;
use axum::extract::State;
use gatehouse_domain::{EndReason, Permission, SessionId};
use gatehouse_store::{AuditQuery, AuditRecord, HistoryQuery, HistoryRecord};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath, ApiQuery};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

fn page(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(_) => Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// A search string as a query parameter, refused when SQLite cannot take it:
/// its full-text `MATCH` fails on a NUL byte (a 500 before this check) and
/// its `LIKE` stops reading a pattern there, so a NUL would silently match
/// more than was asked. Nothing a person types contains one.
fn search_param(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(ApiError::invalid(format!(
            "{name} must not contain a NUL character (%00)"
        ))),
        v => Ok(v),
    }
}

/// A point in time as a query parameter: RFC 3339 with its offset, e.g.
/// `2026-11-28T00:00:00+01:00` (a browser sends its local midnight). An
/// empty value is not a time either: leave the parameter out for no bound.
fn time_param(name: &str, value: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|v| {
            OffsetDateTime::parse(v.trim(), &Rfc3339).map_err(|_| {
                ApiError::invalid(format!(
                    "{name} must be an RFC 3339 time such as 2026-11-28T00:00:00Z"
                ))
            })
        })
        .transpose()
}

/// A name to match exactly (case-insensitive); blank means no filter.
fn name_param(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(search_param(name, value)?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty()))
}

/// `from` must come before `to` when both are given.
fn range(
    from: Option<String>,
    to: Option<String>,
) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), ApiError> {
    let (from, to) = (time_param("from", from)?, time_param("to", to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::invalid("from must be before to"));
    }
    Ok((from, to))
}

/// History search parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Case-insensitive text matched against user, connection, protocol,
    /// client address, target, end reason and who ended it.
    q: Option<String>,
    /// Text the session's recorded output contained, e.g. `rm -rf`
    /// (case-insensitive, at least 3 characters; searched in an index).
    text: Option<String>,
    /// Only this user's sessions (a username, case-insensitive).
    user: Option<String>,
    /// Only sessions on this connection (its name, case-insensitive).
    connection: Option<String>,
    /// Only sessions that ended for this reason, e.g. `ended_by_admin`.
    reason: Option<String>,
    /// Only sessions still running at or after this time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Only sessions that started before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Rows to skip.
    // A u32 is not an OpenAPI int32: say its real range.
    #[param(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    offset: Option<u32>,
}

/// The shortest text the recording index can look up (it indexes trigrams).
const MIN_TEXT: usize = 3;

/// A page of history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// Matching rows in all.
    total: i64,
    /// This page, most recently ended first.
    items: Vec<HistoryRecord>,
}

/// Ended sessions: everyone's with `audit.view`, otherwise one's own;
/// `text` finds those whose recorded output contained it.
#[utoipa::path(get, path = "/history", tag = "audit", params(HistoryParams),
    responses((status = 200, description = "A page of ended sessions", body = HistoryPage), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let q = search_param("q", p.q)?;
    let text = search_param("text", p.text)?.filter(|t| !t.trim().is_empty());
    if let Some(t) = &text
        && t.chars().count() < MIN_TEXT
    {
        return Err(ApiError::invalid(format!(
            "text must be at least {MIN_TEXT} characters"
        )));
    }
    let reason = match p.reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(EndReason::parse(r).ok_or_else(|| {
            ApiError::invalid(format!(
                "reason must be one of {}",
                EndReason::ALL.map(EndReason::as_str).join(", ")
            ))
        })?),
    };
    let (from, to) = range(p.from, p.to)?;
    let query = HistoryQuery {
        q,
        text,
        username: name_param("user", p.user)?,
        connection: name_param("connection", p.connection)?,
        reason,
        from,
        to,
        user: (!caller.principal.has(Permission::AuditView)).then_some(caller.principal.user_id),
        limit: page(p.limit)?,
        offset: p.offset.unwrap_or(0),
    };
    let (total, items) = state.access.store().list_history(&query).await?;
    Ok(Json(HistoryPage { total, items }))
}

/// One session's history row, live or ended: anyone's with `audit.view`,
/// otherwise one's own (another's is "not found", so ids reveal nothing).
#[utoipa::path(get, path = "/history/{id}", tag = "audit",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 200, description = "The session's history row", body = HistoryRecord),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn entry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<HistoryRecord>, ApiError> {
    let row = state.access.store().history_entry(id).await?;
    match row {
        Some(row)
            if caller.principal.has(Permission::AuditView)
                || row.user_id == caller.principal.user_id =>
        {
            Ok(Json(row))
        }
        _ => Err(ApiError::not_found(format!("no session {id} in history"))),
    }
}

/// Audit log parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only events of this action, e.g. `auth.login_failed`.
    action: Option<String>,
    /// Only events this user did or that were about them or their sessions
    /// (a username, case-insensitive).
    user: Option<String>,
    /// Only events about this connection or its sessions (its name, case-insensitive).
    connection: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Rows to skip.
    // A u32 is not an OpenAPI int32: say its real range.
    #[param(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    offset: Option<u32>,
}

/// A page of the audit log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Matching events in all.
    total: i64,
    /// This page, newest first.
    items: Vec<AuditRecord>,
}

/// The audit log (`audit.view`).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "A page of audit events", body = AuditPage), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.principal.require(Permission::AuditView)?;
    let (from, to) = range(p.from, p.to)?;
    let query = AuditQuery {
        action: name_param("action", p.action)?,
        user: name_param("user", p.user)?,
        connection: name_param("connection", p.connection)?,
        from,
        to,
        limit: page(p.limit)?,
        offset: p.offset.unwrap_or(0),
    };
    let (total, items) = state.access.store().list_audit(&query).await?;
    Ok(Json(AuditPage { total, items }))
}
