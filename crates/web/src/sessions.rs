//! Active Sessions: list and search, one session, the live feed, and End Sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use gatehouse_access::Principal;
use gatehouse_audit::{Event, action};
use gatehouse_domain::{ConnectionName, EndReason, Permission, SessionId, Username};
use gatehouse_sessions::{
    EndRequest, EndedSession, ListQuery, Page, Registry, SessionEvent, SessionView, Visibility,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

/// The most sessions one End Sessions call may name.
const MAX_END_IDS: usize = 10_000;
/// The largest `POST /sessions/end` body: 10,000 quoted ids with commas and
/// spaces (40 bytes each), a reason and a filter.
pub(crate) const END_BODY_LIMIT: usize = MAX_END_IDS * 40 + 8 * 1024;
/// The longest message an ender may leave for the user.
const MAX_END_MESSAGE: usize = 500;

fn visibility(caller: &Caller) -> Visibility {
    may_see(&caller.principal)
}

/// All sessions with `sessions.view`, else one's own.
fn may_see(who: &Principal) -> Visibility {
    if who.has(Permission::SessionsView) {
        Visibility::All
    } else {
        Visibility::OwnedBy(who.user_id)
    }
}

/// Search, sort and page parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Case-insensitive words, every one of which must occur in one of the
    /// session's user, connection name, protocol, client address, target,
    /// id or node (`alice prod` finds alice's sessions on prod-*).
    q: Option<String>,
    /// `started_at` (default, newest first), `user`, `connection`,
    /// `protocol`, `client_addr`, `target` or `last_activity_at`;
    /// prefix `-` for descending.
    #[param(
        pattern = "^(-?(started_at|user|connection|protocol|client_addr|target|last_activity_at))?$"
    )]
    sort: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Matches to skip.
    offset: Option<usize>,
}

/// Live sessions the caller may see: all with `sessions.view`, else their own.
#[utoipa::path(get, operation_id = "list_sessions", path = "/sessions", tag = "sessions", params(ListParams),
    responses((status = 200, description = "A page of matching live sessions", body = Page), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Page>, ApiError> {
    let query = ListQuery::parse(p.q.as_deref(), p.sort.as_deref(), p.limit, p.offset)
        .map_err(ApiError::invalid)?;
    Ok(Json(list_all(&state, &query, visibility(&caller))))
}

/// [`Registry::list`] over every node's sessions: this node's and, in a
/// cluster, those the others published.
fn list_all(state: &AppState, query: &ListQuery, visibility: Visibility) -> Page {
    match &state.cluster {
        Some(cluster) => {
            let remote = cluster.remote_sessions(visibility);
            state.registry.list_with(query, visibility, &remote)
        }
        None => state.registry.list(query, visibility),
    }
}

/// One live session, on this node or (in a cluster) another.
fn get_any(state: &AppState, id: SessionId) -> Option<SessionView> {
    state
        .registry
        .get(id)
        .or_else(|| state.cluster.as_ref().and_then(|c| c.remote_session(id)))
}

/// One live session.
#[utoipa::path(get, operation_id = "get_session", path = "/sessions/{id}", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 200, description = "The session", body = SessionView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<SessionView>, ApiError> {
    get_any(&state, id)
        .filter(|s| visible(&caller, s))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no live session {id}")))
}

fn visible(caller: &Caller, s: &SessionView) -> bool {
    caller.principal.has(Permission::SessionsView) || s.user_id == caller.principal.user_id
}

/// Sessions to end: a list of ids, a filter, or both (the union). A filter
/// matches the live sessions the caller can see that meet every criterion
/// given.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndSessions {
    /// The sessions to end (up to 10,000); may be left out when a filter
    /// (`q`, `user`, `connection`) is given.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    ids: Vec<SessionId>,
    /// End the sessions the list's search would show: case-insensitive
    /// words, each found in the user, connection name, protocol, client
    /// address, target, id or node. Must not be blank.
    q: Option<String>,
    /// End the sessions of this user (exact username).
    #[schema(value_type = Option<String>)]
    user: Option<Username>,
    /// End the sessions on this connection (exact name).
    #[schema(value_type = Option<String>)]
    connection: Option<ConnectionName>,
    /// A message shown to the users whose sessions end (≤ 500 characters).
    reason: Option<String>,
}

/// What an End Sessions call did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndedSessions {
    /// Sessions told to end; their clients and targets close at once.
    #[schema(value_type = Vec<String>)]
    ended: Vec<SessionId>,
    /// Ids that named no live session the caller can see.
    #[schema(value_type = Vec<String>)]
    missing: Vec<SessionId>,
}

/// Which sessions a filter picks: every criterion given must hold.
struct Filter {
    q: Option<String>,
    user: Option<Username>,
    connection: Option<ConnectionName>,
}

impl Filter {
    fn given(&self) -> bool {
        self.q.is_some() || self.user.is_some() || self.connection.is_some()
    }

    fn picks(&self, s: &SessionView) -> bool {
        self.user.as_ref().is_none_or(|u| s.user == u.as_str())
            && self
                .connection
                .as_ref()
                .is_none_or(|c| s.connection.name == c.as_str())
    }

    /// Every live session the filter picks among those `visibility` allows,
    /// however many pages of the list that takes.
    fn matches(
        &self,
        state: &AppState,
        visibility: Visibility,
    ) -> Result<Vec<SessionView>, ApiError> {
        // Oldest first, so sessions starting meanwhile land after the pages
        // already read. Sessions ending meanwhile shift the rest forward;
        // overlapping pages keep that from slipping one between two pages.
        const OVERLAP: usize = 100;
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            let query = ListQuery::parse(
                self.q.as_deref(),
                Some("started_at"),
                Some(ListQuery::MAX_LIMIT),
                Some(offset),
            )
            .map_err(ApiError::invalid)?;
            let page = list_all(state, &query, visibility);
            let read = page.items.len();
            found.extend(page.items.into_iter().filter(|s| self.picks(s)));
            if read < ListQuery::MAX_LIMIT {
                return Ok(found);
            }
            offset += read - OVERLAP;
        }
    }
}

/// End many sessions at once: those named by `ids`, and those a filter
/// (`q`, as the list's search, and/or an exact `user` and `connection`)
/// picks among the sessions the caller can see. Ending another user's
/// session needs `sessions.end`; a user may always end their own. If any
/// session named or picked may not be ended by the caller, nothing is ended.
#[utoipa::path(post, operation_id = "end_sessions", path = "/sessions/end", tag = "sessions", request_body = EndSessions,
    responses((status = 200, description = "Which sessions ended and which were not found", body = EndedSessions), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<EndSessions>,
) -> Result<Json<EndedSessions>, ApiError> {
    let filter = Filter {
        q: req.q,
        user: req.user,
        connection: req.connection,
    };
    if req.ids.len() > MAX_END_IDS || (req.ids.is_empty() && !filter.given()) {
        return Err(ApiError::invalid(format!(
            "ids must name 1–{MAX_END_IDS} sessions, or give a filter: q, user or connection"
        )));
    }
    if filter.q.as_deref().is_some_and(|q| q.trim().is_empty()) {
        return Err(ApiError::invalid(
            "q must not be blank; to end sessions, name them or search for them",
        ));
    }
    let message = req
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if message
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_END_MESSAGE)
    {
        return Err(ApiError::invalid(format!(
            "reason must be at most {MAX_END_MESSAGE} characters"
        )));
    }
    let mut chosen: BTreeMap<SessionId, SessionView> = BTreeMap::new();
    if filter.given() {
        for s in filter.matches(&state, visibility(&caller))? {
            chosen.insert(s.id, s);
        }
    }
    let mut missing = Vec::new();
    let named: BTreeSet<SessionId> = req.ids.into_iter().collect();
    for &id in &named {
        if chosen.contains_key(&id) {
            continue;
        }
        match get_any(&state, id).filter(|s| visible(&caller, s)) {
            Some(s) => {
                chosen.insert(id, s);
            }
            None => missing.push(id),
        }
    }
    let me = &caller.principal;
    let mut plan = Vec::with_capacity(chosen.len());
    for s in chosen.into_values() {
        if s.user_id == me.user_id {
            plan.push((s, EndReason::EndedByOwner));
        } else if me.has(Permission::SessionsEnd) {
            plan.push((s, EndReason::EndedByAdmin));
        } else {
            return Err(ApiError::forbidden(format!(
                "ending {}'s session {} requires the sessions.end permission",
                s.user, s.id
            )));
        }
    }
    let request = |reason: EndReason| EndRequest {
        reason,
        by: Some(caller.name().to_owned()),
        message: message.clone(),
    };
    let mut ended = Vec::with_capacity(plan.len());
    let mut gone = Vec::new();
    // Another node's sessions, by reason: their owners end them and say
    // which were still live.
    let mut elsewhere: BTreeMap<&str, Vec<(String, SessionId)>> = BTreeMap::new();
    for (s, reason) in &plan {
        if s.node != state.registry.node() && state.cluster.is_some() {
            elsewhere
                .entry(reason.as_str())
                .or_default()
                .push((s.node.clone(), s.id));
        } else if state.registry.end(s.id, request(*reason)) {
            ended.push(s.id);
        } else {
            gone.push(s.id);
        }
    }
    if let Some(cluster) = &state.cluster {
        for (reason, sessions) in elsewhere {
            let Some((_, reason)) = plan.iter().find(|(_, r)| r.as_str() == reason) else {
                continue;
            };
            let asked: Vec<SessionId> = sessions.iter().map(|(_, id)| *id).collect();
            let done: BTreeSet<SessionId> = cluster
                .end_elsewhere(sessions, &request(*reason))
                .await
                .into_iter()
                .collect();
            for id in asked {
                if done.contains(&id) {
                    ended.push(id);
                } else {
                    gone.push(id);
                }
            }
        }
    }
    // Ended by its own course meanwhile; a filter's match is just gone.
    missing.extend(gone.into_iter().filter(|id| named.contains(id)));
    let filter_details = filter
        .given()
        .then(|| json!({ "q": filter.q, "user": filter.user, "connection": filter.connection }));
    let mut events = Vec::with_capacity(ended.len());
    let ended_set: BTreeSet<SessionId> = ended.iter().copied().collect();
    for (s, reason) in plan.iter().filter(|(s, _)| ended_set.contains(&s.id)) {
        let mut details = json!({
            "owner": s.user,
            "connection": s.connection.name,
            "end_reason": reason,
            "message": message,
        });
        if let Some(filter) = &filter_details {
            details["filter"] = filter.clone();
        }
        events.push(
            Event::new(action::SESSION_END_REQUESTED)
                .actor(caller.name())
                .target(s.id.to_string())
                .client_addr(&caller.client_addr)
                .details(details),
        );
    }
    // One transaction for the lot: ending 1,000 sessions is one commit.
    state.audit.record_all(events).await;
    Ok(Json(EndedSessions { ended, missing }))
}

/// The first event of the live feed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// Every session the caller may see, newest first.
    items: Vec<SessionView>,
}

/// Live feed of the sessions the caller may see, as Server-Sent Events:
/// `snapshot` (`{items}`) first, then `started` and `updated` (a session),
/// and `ended` (`{session, ended_at, end_reason, ended_by, end_message}`).
/// A subscriber that falls too far behind receives a fresh `snapshot`, and
/// so does one whose `sessions.view` was granted or taken away. The feed
/// lasts as long as the login that opened it: when it is logged out,
/// revoked, expires, or the account is locked or deleted, a last `closed`
/// event (`{reason, message}`, `reason` being `user_locked` or
/// `access_revoked`) is sent and the stream ends.
#[utoipa::path(get, path = "/sessions/events", tag = "sessions",
    responses((status = 200, content_type = "text/event-stream", description = "The event stream",
               body = Snapshot), (status = 401, body = crate::error::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let feed = Feed {
        standing: caller.standing(&state, None),
        visibility: visibility(&caller),
        registry: state.registry.clone(),
        cluster: state.cluster.clone(),
        rx: None,
        remote_rx: None,
        closed: false,
    };
    let shutdown = state.shutdown.clone();
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let ev = feed.next().await?;
        Some((Ok(ev), feed))
    });
    let stream =
        futures_util::StreamExt::take_until(stream, async move { shutdown.cancelled().await });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn snapshot_event(items: Vec<SessionView>) -> SseEvent {
    SseEvent::default()
        .event("snapshot")
        .json_data(Snapshot { items })
        .unwrap_or_default()
}

/// One subscriber's feed: the registry's events it may see, for as long as
/// its login stands.
struct Feed {
    registry: Registry,
    /// Other nodes' sessions, in a cluster.
    cluster: Option<gatehouse_cluster::Cluster>,
    visibility: Visibility,
    /// `None` until the first snapshot, and after falling behind.
    rx: Option<tokio::sync::broadcast::Receiver<SessionEvent>>,
    /// The other nodes' events, in a cluster (reset with `rx`).
    remote_rx: Option<tokio::sync::broadcast::Receiver<SessionEvent>>,
    standing: gatehouse_access::Standing,
    /// The last event (`closed`) was sent.
    closed: bool,
}

impl Feed {
    /// The next event to send, or `None` when the feed is over.
    async fn next(&mut self) -> Option<SseEvent> {
        if self.closed {
            return None;
        }
        loop {
            let Some(rx) = self.rx.as_mut() else {
                let (mut snapshot, rx) = self.registry.subscribe(self.visibility);
                self.rx = Some(rx);
                if let Some(cluster) = &self.cluster {
                    let (remote, remote_rx) = cluster.subscribe(self.visibility);
                    snapshot.extend(remote);
                    snapshot.sort_by_key(|s| std::cmp::Reverse(s.started_at));
                    self.remote_rx = Some(remote_rx);
                }
                return Some(snapshot_event(snapshot));
            };
            let remote = async {
                match self.remote_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(ev) => {
                        if self.visibility.allows(ev.session().user_id) {
                            return Some(to_sse(&ev));
                        }
                    }
                    // Too far behind to replay: start over from a fresh picture.
                    Err(RecvError::Lagged(_)) => self.rx = None,
                    Err(RecvError::Closed) => return None,
                },
                got = remote => match got {
                    Ok(ev) => {
                        if self.visibility.allows(ev.session().user_id) {
                            return Some(to_sse(&ev));
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.rx = None,
                    Err(RecvError::Closed) => self.remote_rx = None,
                },
                now = self.standing.recheck() => match now {
                    Ok(principal) => {
                        let now = may_see(&principal);
                        if now != self.visibility {
                            // A role change: show what they may see now.
                            self.visibility = now;
                            self.rx = None;
                        }
                    }
                    Err(lost) => {
                        tracing::info!(reason = %lost, "live feed closed");
                        self.closed = true;
                        return Some(
                            SseEvent::default()
                                .event("closed")
                                .json_data(crate::auth::lost_notice(&lost))
                                .unwrap_or_default(),
                        );
                    }
                },
            }
        }
    }
}

fn to_sse(ev: &SessionEvent) -> SseEvent {
    let built = match ev {
        SessionEvent::Started(s) => SseEvent::default().event("started").json_data(s),
        SessionEvent::Updated(s) => SseEvent::default().event("updated").json_data(s),
        SessionEvent::Ended(e) => SseEvent::default()
            .event("ended")
            .json_data::<&EndedSession>(e),
    };
    built.unwrap_or_default()
}
