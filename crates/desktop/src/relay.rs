//! One desktop session: the target's screen into the framebuffer, changed
//! regions out to the browser, the browser's input in, the session's end
//! signal beside every wait.

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use gatehouse_access::TargetSpec;
use gatehouse_connect::Requester;
use gatehouse_domain::EndReason;
use gatehouse_sessions::{EndRequest, SessionHandle};
use gatehouse_web::AppState;
use gatehouse_web::auth::Caller;
use gatehouse_web::terminal::{Tx, farewell, linger};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::clipboard_news::ClipboardNews;
use crate::framebuffer::{Framebuffer, PACK_AFTER, Region};
use crate::live::{Inputs, LiveDesktops, ParticipantInput, Requests, Snapshot, WATCH_BUFFER};
use crate::pace::Pace;
use crate::remote::{Event, Input, Remote};
use crate::vnc::UPDATE_INTERVAL;

/// The longest clipboard text passed either way (RFB cut text is Latin-1
/// and unbounded; a browser paste can be megabytes).
pub(crate) const MAX_CLIPBOARD: usize = 64 * 1024;

/// Which way text may cross between the browser's clipboard and the
/// desktop's: each direction can be switched off per connection (a
/// data-loss policy), and the gateway enforces it whatever the tab does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clipboard {
    pub(crate) to_desktop: bool,
    pub(crate) from_desktop: bool,
    /// Whether any text crosses (RDP's UTF-16), not only Latin-1 (RFB's).
    pub(crate) unicode: bool,
}

impl Clipboard {
    /// What the connection allows, of what the desktop can do.
    fn of(spec: &TargetSpec, remote: &Remote) -> Self {
        let (to, from) = spec.connection.target.clipboard().unwrap_or_default();
        let can = remote.has_clipboard();
        Clipboard {
            to_desktop: to && can,
            from_desktop: from && can,
            unicode: remote.unicode_clipboard(),
        }
    }
}

/// An accepted desktop request, before its session exists.
pub(crate) struct Desktop {
    pub(crate) state: AppState,
    pub(crate) caller: Caller,
    pub(crate) spec: TargetSpec,
    pub(crate) live: LiveDesktops,
    /// The tab's size when it opened, if it said (RDP starts at it).
    pub(crate) size: Option<(u16, u16)>,
}

/// What a client sends in text messages.
#[derive(Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Control {
    /// A key pressed or released, as an X11 keysym.
    Key { keysym: u32, down: bool },
    /// The pointer moved or its buttons changed (RFB button mask: 1 left,
    /// 2 middle, 4 right, 8/16 wheel up/down).
    Pointer { x: u16, y: u16, buttons: u8 },
    /// Text for the desktop's clipboard.
    Clipboard { text: String },
    /// Send the whole screen again.
    Refresh,
    /// "Stay connected" after an idle warning.
    KeepAlive,
    /// The owner's tab has a new size (RDP desktops follow it).
    Resize { width: u16, height: u16 },
}

#[tracing::instrument(name = "desktop", skip_all, fields(connection = %desktop.spec.connection.name, user = %desktop.caller.name(), session))]
pub(crate) async fn run(desktop: Desktop, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let Desktop {
        state,
        caller,
        spec,
        live,
        size,
    } = desktop;
    let opener = state.opener();
    let who = Requester {
        principal: &caller.principal,
        client_addr: &caller.client_addr,
    };
    let client = match Remote::dial(&opener, who, &spec, size).await {
        Ok(client) => client,
        Err(e) => {
            let error = json!({ "type": "error", "code": e.code(), "message": e.to_string() });
            farewell(&mut tx, error, 1011, e.code()).await;
            return;
        }
    };
    let handle = match opener.register_desktop(who, &spec).await {
        Ok(handle) => handle,
        Err(e) => {
            let error = json!({ "type": "error", "code": e.code(), "message": e.to_string() });
            farewell(&mut tx, error, 1011, e.code()).await;
            client.close().await;
            return;
        }
    };
    tracing::Span::current().record("session", tracing::field::display(handle.id()));
    let clipboard = Clipboard::of(&spec, &client);
    // VNC's clipboard is part of the protocol; an RDP server's is known
    // once its channel comes up (`null` until then).
    let available = client.clipboard_ready();
    let hello = json!({
        "type": "desktop", "session": handle.id(), "connection": spec.connection.name,
        "protocol": spec.connection.protocol(), "recording": handle.recorded(),
        "clipboard": {
            "to_desktop": clipboard.to_desktop, "from_desktop": clipboard.from_desktop,
            "available": available,
        },
    });
    let news = ClipboardNews::new(available, clipboard.to_desktop || clipboard.from_desktop);
    let (available, told) = watch::channel(available);
    // Watchers find the desktop from here until the session is over.
    let (listed, mut requests, mut shared_input) = live.add(handle.id(), clipboard, told);
    let mut relay = Relay {
        tx,
        client,
        handle,
        clipboard,
        news,
        available,
        fb: Framebuffer::new(0, 0),
        watchers: broadcast::channel(WATCH_BUFFER).0,
        pace: Pace::new(std::time::Instant::now()),
        last_flush: Instant::now(),
    };
    let reason = match relay.send(Message::Text(hello.to_string().into())).await {
        Ok(()) => {
            relay
                .run(&mut rx, &mut requests, &mut shared_input, &state)
                .await
        }
        Err(reason) => reason,
    };
    // The last changes held back by the recording's pace are written.
    relay.record(Vec::new(), true);
    let Relay {
        mut tx,
        client,
        handle,
        ..
    } = relay;
    let request = handle.settle(reason);
    drop(listed);
    tracing::debug!(reason = %request.reason, "closing desktop");
    // The target's connection closes at once, not after the farewell.
    client.close().await;
    let code = if request.reason == EndReason::Error {
        1011
    } else {
        1000
    };
    farewell(
        &mut tx,
        ended_message(&request),
        code,
        request.reason.as_str(),
    )
    .await;
    drop(handle);
    linger(&mut rx).await;
}

struct Relay {
    tx: Tx,
    client: Remote,
    handle: SessionHandle,
    /// The connection's clipboard switches: browser to desktop, and back.
    clipboard: Clipboard,
    /// What the tab was told of the desktop's own clipboard, and when an
    /// RDP server's silence counts as having none (`clipboard_news.rs`).
    news: ClipboardNews,
    /// The same, shared with participants' pastes.
    available: watch::Sender<Option<bool>>,
    fb: Framebuffer,
    /// What the owner is shown (frames and sizes), for watchers.
    watchers: broadcast::Sender<Message>,
    /// When the recording writes its pictures (`pace.rs`).
    pace: Pace,
    /// When regions were last sent.
    last_flush: Instant,
}

impl Relay {
    /// Relays until one side ends or the session is ended; returns our own
    /// reason (one given by whoever ended the session takes precedence).
    async fn run(
        &mut self,
        rx: &mut gatehouse_web::terminal::Rx,
        requests: &mut Requests,
        shared_input: &mut Inputs,
        state: &AppState,
    ) -> EndReason {
        let mut ping = tokio::time::interval(state.config.ws_ping_interval);
        ping.reset();
        let mut frames = tokio::time::interval(UPDATE_INTERVAL);
        frames.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut warnings = self.handle.warnings();
        let mut participants = self.handle.participants();
        loop {
            // vnc-rs holds its client's lock while it waits for an event, so
            // input is sent only once this select has dropped that wait.
            let step = tokio::select! {
                _ = self.handle.ended() => return EndReason::Error,
                event = self.client.recv(&mut self.fb) => match event {
                    Ok(event) => self.on_event(event).await,
                    Err(e) => {
                        tracing::info!(error = %e, "the desktop closed");
                        Err(EndReason::TargetClosed)
                    }
                },
                _ = frames.tick() => self.flush().await,
                _ = tokio::time::sleep_until(self.news.deadline().unwrap_or_else(Instant::now)),
                    if self.news.deadline().is_some() => {
                    let absent = self.news.timed_out();
                    self.tell_clipboard(absent).await
                }
                Some(reply) = requests.recv() => {
                    // A watcher joins: the whole screen now, then what follows.
                    let _ = reply.send(Snapshot {
                        size: self.fb.size(),
                        screen: Message::Binary(self.fb.encode(self.fb.whole())),
                        changes: self.watchers.subscribe(),
                    });
                    Ok(())
                }
                Some(input) = shared_input.recv() => self.on_participant(input).await,
                Ok(()) = participants.changed() => {
                    // The owner sees who else is on their desktop.
                    let people = participants.borrow_and_update().clone();
                    let notice = json!({ "type": "participants", "participants": people });
                    self.send(Message::Text(notice.to_string().into())).await
                }
                msg = rx.next() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(text))) => self.on_control(&text).await,
                        Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_)) | Err(_)) | None => Err(EndReason::ClientClosed),
                    }
                }
                Ok(()) = warnings.changed() => {
                    let notice = match *warnings.borrow_and_update() {
                        Some(w) => json!({ "type": "warning", "reason": w.reason, "seconds_left": w.seconds_left }),
                        None => json!({ "type": "warning_cleared" }),
                    };
                    self.send(Message::Text(notice.to_string().into())).await
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > state.config.ws_client_timeout {
                        // The client vanished without closing (laptop lid, dead network).
                        return EndReason::ClientClosed;
                    }
                    self.send(Message::Ping(Bytes::new())).await
                }
            };
            if let Err(reason) = step {
                return reason;
            }
        }
    }

    /// Applies one event from the target (its pixels are in the framebuffer).
    async fn on_event(&mut self, event: Event) -> Result<(), EndReason> {
        self.clipboard_news(&event).await?;
        match event {
            Event::Resized => {
                // A new size starts from a key frame of its own.
                self.record_key_frame();
                let (width, height) = self.fb.size();
                let size = json!({ "type": "size", "width": width, "height": height });
                let size = Message::Text(size.to_string().into());
                self.fan_out(&size);
                self.send(size).await
            }
            // Copying from the desktop is switched off: the text goes nowhere.
            Event::Clipboard(_) if !self.clipboard.from_desktop => Ok(()),
            Event::Clipboard(text) => {
                let text: String = text.chars().take(MAX_CLIPBOARD).collect();
                let clip = json!({ "type": "clipboard", "text": text });
                self.send(Message::Text(clip.to_string().into())).await
            }
            // The answer to the last request is whole: shown at once (a key
            // echoes without waiting for the tick), but no more often than
            // the tick would, so a busy screen still gets 30 a second at most.
            Event::UpdateEnd if self.last_flush.elapsed() >= UPDATE_INTERVAL => self.flush().await,
            Event::UpdateEnd | Event::Painted | Event::Nothing => Ok(()),
        }
    }

    /// Tells the tab when the desktop's clipboard comes up or is known
    /// absent (see [`ClipboardNews::heard`]).
    async fn clipboard_news(&mut self, event: &Event) -> Result<(), EndReason> {
        let picture = matches!(event, Event::Painted | Event::UpdateEnd);
        let news = self
            .news
            .heard(self.client.clipboard_ready(), picture, Instant::now());
        self.tell_clipboard(news).await
    }

    /// Tells the tab (and participants' pastes) whether the desktop's
    /// clipboard is there, when there is news.
    async fn tell_clipboard(&mut self, news: Option<bool>) -> Result<(), EndReason> {
        let Some(available) = news else {
            return Ok(());
        };
        self.available.send_replace(Some(available));
        tracing::debug!(available, "the desktop's clipboard");
        let status = json!({ "type": "clipboard_status", "available": available });
        self.send(Message::Text(status.to_string().into())).await
    }

    /// Sends the regions changed since the last flush, and asks the target
    /// for more when it is not already asked.
    async fn flush(&mut self) -> Result<(), EndReason> {
        let mut sent = Vec::new();
        if self.fb.is_dirty() {
            self.last_flush = Instant::now();
            for r in self.fb.take_dirty() {
                let frame = self.fb.encode(r);
                if frame.is_empty() {
                    continue;
                }
                self.handle.count_output(frame.len());
                if self.handle.recorded() {
                    sent.push((r, frame.clone()));
                }
                let frame = Message::Binary(frame);
                self.fan_out(&frame);
                self.send(frame).await?;
            }
        } else if !self.pace.holds() {
            // A still screen is held packed until it changes or is read.
            self.fb.pack_when_still(PACK_AFTER);
        }
        self.record(sent, false);
        let ticked = tokio::select! {
            ticked = self.client.tick() => ticked,
            _ = self.handle.ended() => return Err(EndReason::Error),
        };
        ticked.map_err(|e| {
            tracing::info!(error = %e, "the desktop took no more requests");
            EndReason::TargetClosed
        })
    }

    /// Records the regions just sent (`sent`, as sent) at the recording's
    /// pace: when it may write now, the regions held since it last wrote
    /// are written, as the screen is now; `last` writes them whatever the
    /// pace. Then a key frame, when one is due.
    fn record(&mut self, sent: Vec<(Region, Bytes)>, last: bool) {
        if !self.handle.recorded() {
            return;
        }
        let now = std::time::Instant::now();
        let due = self.pace.offer(sent.iter().map(|(r, _)| *r), now);
        let due = due.or_else(|| (last && self.pace.holds()).then(|| self.pace.take()));
        if let Some(regions) = due {
            let mut bytes = 0;
            if regions.iter().eq(sent.iter().map(|(r, _)| r)) {
                // Nothing was held back: the pictures just sent are these.
                for (_, frame) in &sent {
                    self.handle.record_picture(frame, false);
                    bytes += frame.len();
                }
            } else {
                for r in regions {
                    let frame = self.fb.encode(r);
                    if !frame.is_empty() {
                        self.handle.record_picture(&frame, false);
                        bytes += frame.len();
                    }
                }
            }
            self.pace.wrote(bytes, now);
        }
        if !last && self.pace.key_due(now) {
            self.record_key_frame();
        }
    }

    /// Records the whole screen as a key frame, when the session is recorded.
    fn record_key_frame(&mut self) {
        let (width, height) = self.fb.size();
        if !self.handle.recorded() || width == 0 || height == 0 {
            return;
        }
        let frame = self.fb.encode(self.fb.whole());
        self.handle.record_picture(&frame, true);
        self.pace.keyed(frame.len(), std::time::Instant::now());
    }

    /// Sends input to the target unless the session ends first.
    async fn input(&mut self, input: Input) -> Result<(), EndReason> {
        tokio::select! {
            sent = self.client.input(input) => sent.map_err(|e| {
                tracing::info!(error = %e, "the desktop took no more input");
                EndReason::TargetClosed
            }),
            _ = self.handle.ended() => Err(EndReason::Error),
        }
    }

    /// Handles one control message from the client.
    async fn on_control(&mut self, text: &str) -> Result<(), EndReason> {
        let control = match serde_json::from_str::<Control>(text) {
            Ok(control) => control,
            Err(e) => {
                let message = format!("unknown control message: {e}");
                let error = json!({ "type": "error", "code": "bad_message", "message": message });
                return self.send(Message::Text(error.to_string().into())).await;
            }
        };
        let control = match control {
            Control::Clipboard { text } => {
                let available = *self.available.borrow();
                match crate::paste::paste(self.clipboard, available, text) {
                    Ok(control) => control,
                    Err(refusal) => {
                        return self.send(Message::Text(refusal.to_string().into())).await;
                    }
                }
            }
            Control::Refresh => {
                self.fb.mark_all();
                return self.input(Input::Refresh).await;
            }
            Control::KeepAlive => {
                self.handle.keep_alive();
                return Ok(());
            }
            Control::Resize { width, height } => {
                return tokio::select! {
                    sent = self.client.resize(width, height) => sent.map_err(|e| {
                        tracing::info!(error = %e, "the desktop took no new size");
                        EndReason::TargetClosed
                    }),
                    _ = self.handle.ended() => Err(EndReason::Error),
                };
            }
            control => control,
        };
        self.on_input(control, text.len()).await
    }

    /// Passes an interactive participant's key, pointer or clipboard event
    /// on, as the owner's own (`join.rs` checked it with
    /// [`paste`](crate::paste::paste), as the owner's paste is checked).
    async fn on_participant(&mut self, input: ParticipantInput) -> Result<(), EndReason> {
        self.on_input(input.control, input.bytes).await
    }

    /// Sends a key, pointer or (checked) clipboard event to the target.
    async fn on_input(&mut self, control: Control, bytes: usize) -> Result<(), EndReason> {
        let input = match control {
            Control::Key { keysym, down } => Input::Key { keysym, down },
            Control::Pointer { x, y, buttons } => {
                let (width, height) = self.fb.size();
                let (x, y) = (
                    x.min(width.saturating_sub(1)),
                    y.min(height.saturating_sub(1)),
                );
                Input::Pointer { x, y, buttons }
            }
            Control::Clipboard { text } => Input::Clipboard(text),
            // A participant's tab does not resize the owner's desktop.
            Control::Refresh | Control::KeepAlive | Control::Resize { .. } => return Ok(()),
        };
        // Input is activity: the idle limit counts from the last of it.
        self.handle.record_transfer(bytes, 0);
        self.input(input).await
    }

    /// Passes what the owner is shown to the watchers. A watcher that falls
    /// behind is repainted from a fresh snapshot, so this never waits.
    fn fan_out(&self, msg: &Message) {
        if self.watchers.receiver_count() > 0 {
            let _ = self.watchers.send(msg.clone());
        }
    }

    /// Sends `msg` to the client unless the session is ended first: a
    /// client that stopped reading must not keep its session from ending.
    async fn send(&mut self, msg: Message) -> Result<(), EndReason> {
        tokio::select! {
            sent = self.tx.send(msg) => sent.map_err(|_| EndReason::ClientClosed),
            _ = self.handle.ended() => Err(EndReason::Error),
        }
    }
}

/// The client's last message: who ended the session and why.
fn ended_message(request: &EndRequest) -> Value {
    json!({
        "type": "ended",
        "reason": request.reason,
        "by": request.by,
        "message": request.message,
        "text": request.describe(),
    })
}
