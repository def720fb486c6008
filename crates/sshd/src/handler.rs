//! One client connection: logging in, then handing each channel it opens
//! to a relay.

use std::sync::{Arc, Mutex};

use gatehouse_access::{AccessError, PasswordStep, Principal};
use gatehouse_audit::{Event, action};
use russh::keys::HashAlg;
use russh::server::{
    Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Response, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::ctx::Ctx;
use crate::login::LoginName;
use crate::second_factor::{self, AwaitingCode};
use crate::{Front, approval, channel, forward, tcp};

/// The russh handler of one client connection.
pub(crate) struct Conn {
    front: Arc<Front>,
    peer: String,
    gone: CancellationToken,
    /// Who logged in, once someone did.
    login: Option<(LoginName, Principal)>,
    /// A right password waiting for its second factor's code.
    awaiting_code: Option<AwaitingCode>,
    logged_in: CancellationToken,
    ctx: Option<Arc<Ctx>>,
    /// An approval link shown, waiting for the client's Enter.
    approval: Option<approval::Pending>,
}

impl Conn {
    pub(crate) fn new(front: Arc<Front>, peer: String, gone: CancellationToken) -> Self {
        Self {
            front,
            peer,
            gone,
            login: None,
            awaiting_code: None,
            logged_in: CancellationToken::new(),
            ctx: None,
            approval: None,
        }
    }

    /// Cancelled once the client has logged in.
    pub(crate) fn logged_in(&self) -> CancellationToken {
        self.logged_in.clone()
    }

    /// The outcome of one login attempt, audited when it fails.
    async fn conclude(
        &mut self,
        user: &str,
        method: &str,
        outcome: Result<(LoginName, Principal), AccessError>,
        details: serde_json::Value,
    ) -> Auth {
        match outcome {
            Ok(login) => {
                self.login = Some(login);
                Auth::Accept
            }
            Err(e) => {
                let reason = match &e {
                    AccessError::BadCredentials => "bad_credentials",
                    AccessError::AccountLocked => "account_locked",
                    AccessError::Throttled(_) => "throttled",
                    AccessError::Busy(_) => "busy",
                    AccessError::DirectoryUnavailable => "directory_unavailable",
                    AccessError::Forbidden(_) => "no_role",
                    AccessError::BadCode => "second_factor",
                    AccessError::SecondFactorRequired => "second_factor_not_enrolled",
                    _ => "error",
                };
                // Every refusal leaves a line in the log as well as the audit.
                match &e {
                    AccessError::BadCredentials
                    | AccessError::AccountLocked
                    | AccessError::BadCode
                    | AccessError::SecondFactorRequired => {
                        tracing::info!(peer = %self.peer, %method, reason, "SSH login refused")
                    }
                    AccessError::Throttled(_)
                    | AccessError::Busy(_)
                    | AccessError::DirectoryUnavailable
                    | AccessError::Forbidden(_) => {
                        tracing::warn!(peer = %self.peer, %method, reason, "SSH login refused")
                    }
                    _ => tracing::error!(peer = %self.peer, error = %e, "SSH login check failed"),
                }
                let mut details = details;
                // The typed name only when it names an account: one that
                // names none is often a password typed into the wrong box.
                let known = match LoginName::parse(user) {
                    Some(login) => self.front.access.existing_name(login.user.as_str()).await,
                    None => Ok(None),
                };
                details["username"] = match known {
                    Ok(Some(_)) => json!(user.chars().take(64).collect::<String>()),
                    _ => json!("unknown user"),
                };
                details["method"] = json!(method);
                details["reason"] = json!(reason);
                self.front
                    .audit
                    .record(
                        Event::new(action::SSH_LOGIN_FAILED)
                            .client_addr(&self.peer)
                            .details(details),
                    )
                    .await;
                // The same methods again, within the throttle and the
                // listener's limit on attempts: a mistyped password gets
                // another try, as with OpenSSH.
                Auth::Reject {
                    proceed_with_methods: Some(crate::login_methods()),
                    partial_success: false,
                }
            }
        }
    }

    async fn check_password(&mut self, user: &str, password: &str, method: &str) -> Auth {
        // A password the directory checks is audited as method `ldap`.
        let method = match LoginName::parse(user) {
            Some(login) => match self.front.access.password_method(login.user.as_str()).await {
                "ldap" => "ldap",
                _ => method,
            },
            None => method,
        };
        let outcome = match LoginName::parse(user) {
            None => Err(AccessError::BadCredentials),
            Some(login) => {
                let step = self
                    .front
                    .access
                    .password_step(
                        login.user.as_str(),
                        SecretString::from(password.to_owned()),
                        &self.peer,
                    )
                    .await;
                match step {
                    Ok(PasswordStep::Done(p)) => Ok((login, p)),
                    Ok(PasswordStep::Code(p)) => {
                        self.awaiting_code = Some(AwaitingCode::new(user, login, p));
                        return second_factor::ask(method);
                    }
                    Err(e) => Err(e),
                }
            }
        };
        self.conclude(user, method, outcome, json!({})).await
    }

    fn ctx(&mut self, session: &Session) -> Option<Arc<Ctx>> {
        if self.ctx.is_none() {
            let (login, principal) = self.login.clone()?;
            self.ctx = Some(Arc::new(Ctx {
                front: self.front.clone(),
                principal,
                peer: self.peer.clone(),
                connection: login.connection,
                client: session.handle(),
                gone: self.gone.clone(),
                gate: OnceCell::new(),
                agents: Mutex::default(),
                tunnels: Default::default(),
            }));
        }
        self.ctx.clone()
    }
}

// russh keeps the future of every handler method inline in the
// connection's own future, which lives as long as the connection: its size
// is that of the largest method's future. Methods that await the store, the
// audit log or a dial to the target (deep futures, several KiB each) are
// boxed, so an idle connection holds none of that; the box lives only while
// the method runs.
impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Reject {
            proceed_with_methods: Some(crate::login_methods()),
            partial_success: false,
        })
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(Box::pin(self.check_password(user, password, "password")).await)
    }

    /// Refuses a key that is not the user's before the client signs with
    /// it; the refusal is audited and logged like any failed login (it
    /// counts nothing in the throttle: nobody guesses a private key).
    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Box::pin(async move {
            let fingerprint = offer.public_key.fingerprint(HashAlg::Sha256).to_string();
            let theirs = match LoginName::parse(user) {
                None => Ok(false),
                Some(login) => {
                    self.front
                        .access
                        .offers_own_key(login.user.as_str(), &fingerprint)
                        .await
                }
            };
            let outcome = match theirs {
                Ok(true) => return Ok(Auth::Accept),
                Ok(false) => Err(AccessError::BadCredentials),
                Err(e) => Err(e),
            };
            let details = json!({ "fingerprint": fingerprint, "stage": "offered" });
            Ok(self.conclude(user, "publickey", outcome, details).await)
        })
        .await
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Box::pin(async move {
            let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
            let outcome = match LoginName::parse(user) {
                None => Err(AccessError::BadCredentials),
                Some(login) => self
                    .front
                    .access
                    .key_principal(login.user.as_str(), &fingerprint, &self.peer)
                    .await
                    .map(|p| (login, p)),
            };
            let details = json!({ "fingerprint": fingerprint });
            Ok(self.conclude(user, "publickey", outcome, details).await)
        })
        .await
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Box::pin(async move {
            if self.awaiting_code.as_ref().is_some_and(|a| a.is_for(user)) {
                let Some(mut response) = response else {
                    return Ok(second_factor::prompt());
                };
                let code = response
                    .next()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let Some(awaiting) = self.awaiting_code.take() else {
                    return Ok(second_factor::prompt());
                };
                let outcome = awaiting.check(&self.front, &code, &self.peer).await;
                let details = json!({ "stage": "second_factor" });
                return Ok(self
                    .conclude(user, "keyboard-interactive", outcome, details)
                    .await);
            }
            if let Some(pending) = self.approval.take() {
                let (outcome, how) = approval::wait(&self.front, pending).await;
                let details = json!({ "approval": how });
                return Ok(self.conclude(user, "approval", outcome, details).await);
            }
            let Some(mut response) = response else {
                // No password to check: an approval link instead (if on).
                if let Some((pending, shown)) = approval::start(&self.front, user, &self.peer).await
                {
                    self.approval = Some(pending);
                    return Ok(Auth::Partial {
                        name: "Gatehouse".into(),
                        instructions: shown.instructions.into(),
                        prompts: vec![(shown.prompt.into(), true)].into(),
                    });
                }
                return Ok(Auth::Partial {
                    name: "Gatehouse".into(),
                    instructions: "".into(),
                    prompts: vec![("Password: ".into(), false)].into(),
                });
            };
            let password = response
                .next()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Ok(self
                .check_password(user, &password, "keyboard-interactive")
                .await)
        })
        .await
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        self.logged_in.cancel();
        let Some(ctx) = self.ctx(session) else {
            return Ok(());
        };
        tracing::info!(user = %ctx.principal.username, peer = %ctx.peer, "SSH login");
        Box::pin(
            self.front.audit.record(
                Event::new(action::SSH_LOGIN)
                    .actor(ctx.principal.username.as_str())
                    .client_addr(&ctx.peer)
                    .details(json!({ "connection": ctx.connection })),
            ),
        )
        .await;
        if let Some(connection) = ctx.connection.clone() {
            // Dial while the client asks for its channel and pty: the
            // target is ready sooner.
            tokio::spawn(async move {
                let _ = ctx.gate(&connection).await;
            });
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(ctx) = self.ctx(session) else {
            return Ok(()); // dropping `reply` refuses the channel
        };
        reply.accept().await;
        tokio::spawn(channel::run(ctx, channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(ctx) = self.ctx(session) else {
            return Ok(());
        };
        let request = forward::LocalForward {
            host: host_to_connect.to_owned(),
            port: port_to_connect,
            originator_address: originator_address.to_owned(),
            originator_port,
        };
        if tcp::applies(&ctx) {
            tokio::spawn(tcp::local(ctx, channel, reply, request));
        } else {
            tokio::spawn(forward::local(ctx, channel, reply, request));
        }
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let Some(ctx) = self.ctx(session) else {
            return Ok(false);
        };
        match Box::pin(forward::remote(ctx, address, *port)).await {
            Some(bound) => {
                *port = bound;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let Some(ctx) = self.ctx(session) else {
            return Ok(false);
        };
        Ok(Box::pin(forward::cancel_remote(ctx, address, port)).await)
    }

    // Requests answered at once are answered here, not by the channel's
    // relay: russh keeps one "wants a reply" flag per channel, set by the
    // latest request it read, and an answer sent later through the handle
    // goes to whichever request set it last. OpenSSH sends `env` (no reply
    // wanted) right before `exec`, so a refusal sent from the relay was
    // taken as the refusal of the command. (An answer given here, in
    // russh's read loop, belongs to the request it is given for; one not
    // wanted is not sent.)

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The relay keeps the request and asks the target for the pty.
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The target's environment is the connection's business.
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Refused (and audited by the relay).
        session.channel_failure(channel)
    }

    async fn agent_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let Some(ctx) = self.ctx(session) else {
            return Ok(false);
        };
        Box::pin(async move {
            // Like port forwards, only where the connection allows it (and so
            // only with the connection named at login, not from the menu).
            let allowed = match &ctx.connection {
                Some(connection) => ctx
                    .gate(connection)
                    .await
                    .is_ok_and(|gate| gate.allow_forwarding),
                None => false,
            };
            if allowed {
                ctx.agents
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(channel);
            } else {
                ctx.refused("port_forwarding", json!({ "kind": "agent" }))
                    .await;
            }
            Ok(allowed)
        })
        .await
    }
}
