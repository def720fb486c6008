//! Reaching an RDP connection's target with IronRDP: dial, TLS with the
//! server's certificate pinned (on first use, like an SSH host key: RDP
//! servers' certificates are self-signed, so no CA vouches for them), log
//! in with the stored password over CredSSP (the user never learns it),
//! then decode the server's graphics into a picture the relay copies into
//! its framebuffer, and turn the browser's input into fast-path events.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use gatehouse_access::TargetSpec;
use gatehouse_connect::tls::AcceptAnyCertificate;
use gatehouse_connect::{OpenError, Opener, Requester, action};
use ironrdp_connector::{ClientConnector, ConnectionOutcome, ConnectorErrorKind, Credentials};
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_input::{Database, MouseButton, MousePosition, Operation, Scancode, WheelRotations};
use ironrdp_pdu::input::fast_path::FastPathInputEvent;
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageBuilder, ActiveStageOutput};
use ironrdp_tokio::TokioFramed;
use ironrdp_tokio::bytes::BytesMut;
use rustls::ClientConfig;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::ServerName;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::framebuffer::{Framebuffer, Region};
use crate::rdp_clipboard::{self, RdpClipboard, Switches};
use crate::rdp_display::{self, Display, Step};
use crate::scancode;

type Framed = TokioFramed<TlsStream<TcpStream>>;

/// The screen size asked for when the browser gave none. The relay's
/// framebuffer takes whatever size the server grants.
const DESKTOP: (u16, u16) = (1280, 800);
/// The most input events held while the display reactivates.
const HELD_INPUT: usize = 512;

/// A logged-in RDP session: the server's picture as IronRDP decodes it,
/// and the state of the keys and buttons the browser holds down.
pub(crate) struct RdpDesktop {
    framed: Framed,
    stage: ActiveStage,
    /// IronRDP's picture (RGBA, 4 bytes a pixel): empty while the relay's
    /// framebuffer is packed (a still screen), rebuilt from it when the
    /// server next sends something (see [`RdpDesktop::shed`]).
    image: DecodedImage,
    /// The screen's size, whether or not `image` holds it now.
    screen: (u16, u16),
    input: Database,
    /// The last RFB button mask from the browser, to send only changes.
    buttons: u8,
    /// What the server allows for a full repaint.
    refresh_rect: bool,
    suppress_output: bool,
    /// Frames for the server not yet written: the relay may drop a wait
    /// half-way (its select), and a frame half-written must go on from
    /// where it stopped, never again from its start.
    out: BytesMut,
    /// The clipboard channel, unless both directions are switched off.
    clipboard: Option<RdpClipboard>,
    /// Whether the server gave the clipboard channel an id when it was
    /// offered (a server without cliprdr may leave it out).
    clipboard_joined: bool,
    /// The tab's size, asked of the server (`rdp_display.rs`).
    display: Display,
    /// Input that came while the server reactivated its display, sent
    /// after (a key's release must not be lost, or the key sticks).
    held: Vec<FastPathInputEvent>,
}

/// What the server's frames changed, for the relay.
pub(crate) enum Change {
    /// Nothing the browser sees.
    None,
    /// These regions of the picture were painted into the framebuffer.
    Painted,
    /// The server reactivated the session at a new size: the picture is
    /// new (and blank until the server paints it).
    Resized,
    /// Text the desktop copied (only when copying from it is allowed).
    Clipboard(String),
    /// The server ended the session, with its reason.
    Closed(String),
}

/// Dials the RDP target of `spec`, pins or checks its certificate, and logs
/// in, asking for the tab's `size` when it gave one; a failure is audited
/// and comes back as the error the client is told.
pub(crate) async fn dial(
    opener: &Opener,
    who: Requester<'_>,
    spec: &TargetSpec,
    size: Option<(u16, u16)>,
) -> Result<RdpDesktop, OpenError> {
    let fail = |audit: &'static str, code: &'static str, message: String| async move {
        opener.failed(who, spec, audit, code, message).await
    };
    let failed = action::SESSION_FAILED;
    let Some(target) = spec.connection.target.rdp() else {
        return Err(fail(
            failed,
            "bad_target",
            "the connection has no RDP target".into(),
        )
        .await);
    };
    let Ok(addr) = target.addr() else {
        return Err(fail(
            failed,
            "bad_target",
            "the RDP target's address is not valid".into(),
        )
        .await);
    };
    let Some(password) = spec.secret.clone() else {
        return Err(fail(
            failed,
            "bad_target",
            "the connection has no RDP password".into(),
        )
        .await);
    };
    let timeout = opener.settings().connect_timeout;
    let size = size.map_or(DESKTOP, |(w, h)| rdp_display::fit(w, h));
    let (to_desktop, from_desktop) = spec.connection.target.clipboard().unwrap_or_default();
    let (cliprdr, clipboard) = match rdp_clipboard::channel(Switches {
        to_desktop,
        from_desktop,
    }) {
        Some((channel, handle)) => (Some(channel), Some(handle)),
        None => (None, None),
    };
    let attempt = async {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr.to_string())).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err((
                    failed,
                    "target_unreachable",
                    format!("cannot reach {addr}: {e}"),
                ));
            }
            Err(_) => {
                return Err((
                    failed,
                    "target_timeout",
                    format!("{addr} did not answer within {timeout:?}"),
                ));
            }
        };
        let _ = tcp.set_nodelay(true);
        let client_addr = tcp
            .local_addr()
            .map_err(|e| (failed, "target_error", format!("{addr}: {e}")))?;
        let config = connector_config(
            target.username.clone(),
            password.expose_secret().to_owned(),
            target.domain.clone(),
            size,
        );
        let login = async {
            let mut framed = TokioFramed::new(tcp);
            let mut connector = ClientConnector::new(config, client_addr)
                .with_static_channel(rdp_display::channel());
            if let Some(cliprdr) = cliprdr {
                connector.attach_static_channel(cliprdr);
            }
            let upgrade = ironrdp_tokio::connect_begin(&mut framed, &mut connector)
                .await
                .map_err(|e| classify(&e, false))?;
            let tcp = framed.into_inner_no_leftover();
            let (tls, der) = tls_upgrade(tcp, &target.host).await.map_err(|e| {
                (
                    failed,
                    "target_error",
                    format!("TLS with {addr} failed: {e}"),
                )
            })?;
            let presented = fingerprint(&der);
            if let Some(pinned) = target.cert.as_deref().filter(|p| *p != presented) {
                return Err((
                    action::HOST_KEY_MISMATCH,
                    "certificate_mismatch",
                    format!("the target's certificate changed: expected {pinned}, got {presented}"),
                ));
            }
            let public_key = public_key(&der).map_err(|e| {
                (
                    failed,
                    "target_error",
                    format!("the server's certificate: {e}"),
                )
            })?;
            let upgraded = ironrdp_tokio::mark_as_upgraded(upgrade, &mut connector);
            let mut framed = TokioFramed::new(tls);
            let outcome = ironrdp_tokio::connect_finalize(
                upgraded,
                connector,
                &mut framed,
                &mut NoKerberos,
                ironrdp_connector::ServerName::new(target.host.clone()),
                public_key,
                None,
            )
            .await
            .map_err(|e| classify(&e, true))?;
            let ConnectionOutcome::Connected(result) = outcome else {
                return Err((
                    failed,
                    "target_error",
                    "the RDP server redirected the session elsewhere (not supported)".into(),
                ));
            };
            Ok((framed, result, presented))
        };
        match tokio::time::timeout(timeout, login).await {
            Ok(done) => done,
            Err(_) => Err((
                failed,
                "target_timeout",
                format!("{addr} did not finish the RDP handshake within {timeout:?}"),
            )),
        }
    };
    let result = tokio::select! {
        r = attempt => r,
        _ = opener.shutdown().cancelled() => return Err(OpenError::ShuttingDown),
    };
    let (framed, result, presented) = match result {
        Ok(done) => done,
        Err((audit, code, message)) => return Err(fail(audit, code, message).await),
    };
    if target.cert.is_none() {
        pin(opener, who, spec, &presented).await;
    }
    let (width, height) = (result.desktop_size.width, result.desktop_size.height);
    let (refresh_rect, suppress_output) =
        (result.refresh_rect_support, result.suppress_output_support);
    let clipboard_joined = result
        .static_channels
        .get_channel_id_by_type::<ironrdp_cliprdr::CliprdrClient>()
        .is_some();
    let display = Display::new(result.activation_factory.clone(), size);
    let stage = ActiveStageBuilder {
        static_channels: result.static_channels,
        user_channel_id: result.user_channel_id,
        io_channel_id: result.io_channel_id,
        message_channel_id: result.message_channel_id,
        share_id: result.share_id,
        compression_type: result.compression_type,
        enable_server_pointer: result.enable_server_pointer,
        pointer_software_rendering: result.pointer_software_rendering,
    }
    .build();
    Ok(RdpDesktop {
        framed,
        stage,
        image: DecodedImage::new(PixelFormat::RgbA32, width, height),
        screen: (width, height),
        input: Database::new(),
        buttons: 0,
        refresh_rect,
        suppress_output,
        out: BytesMut::new(),
        clipboard,
        clipboard_joined,
        display,
        held: Vec::new(),
    })
}

/// Pins the certificate seen on first use, and audits it as SSH front ends
/// audit a pinned host key.
async fn pin(opener: &Opener, who: Requester<'_>, spec: &TargetSpec, presented: &str) {
    let connection = &spec.connection;
    match opener
        .access()
        .pin_certificate(connection.id, presented)
        .await
    {
        Ok(true) => {
            opener
                .audit()
                .record(
                    gatehouse_audit::Event::new(action::HOST_KEY_PINNED)
                        .actor(who.principal.username.as_str())
                        .target(connection.name.as_str())
                        .details(json!({ "protocol": "rdp", "fingerprint": presented })),
                )
                .await
        }
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "could not pin the RDP certificate"),
    }
}

/// The IronRDP settings for a session as `username`: a plain desktop at
/// `size`, 32-bit colour, no sound, drives or printers.
fn connector_config(
    username: String,
    password: String,
    domain: Option<String>,
    size: (u16, u16),
) -> ironrdp_connector::Config {
    use ironrdp_pdu::gcc::{ConnectionType, KeyboardType};
    use ironrdp_pdu::rdp::capability_sets::{MajorPlatformType, RailSupportLevel};
    use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
    ironrdp_connector::Config {
        desktop_size: ironrdp_connector::DesktopSize {
            width: size.0,
            height: size.1,
        },
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        enable_tls: true,
        enable_credssp: true,
        enable_standard_rdp_security: false,
        credentials: Credentials::UsernamePassword { username, password },
        domain,
        // xrdp takes builds up to 419 for clients that cannot follow a
        // resize (it then never restarts the display at the new size).
        client_build: 18363,
        client_name: "gatehouse".to_owned(),
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: 0x0409,
        connection_type: ConnectionType::Lan,
        ime_file_name: String::new(),
        // RemoteFX: the codec IronRDP decodes best and servers (Windows,
        // FreeRDP) send most; without a codec, servers fall back to
        // legacy bitmaps, some of whose 32-bit variants IronRDP cannot read.
        bitmap: Some(ironrdp_connector::BitmapConfig {
            lossy_compression: true,
            color_depth: 32,
            codecs: ironrdp_pdu::rdp::capability_sets::client_codecs_capabilities(&["remotefx:on"])
                .unwrap_or_default(),
        }),
        dig_product_id: String::new(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".to_owned(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: RailSupportLevel::empty(),
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        request_data: None,
        // The gateway holds the password: a server that shows a login
        // screen after TLS (no NLA) logs the account in at once.
        autologon: true,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        // The pointer is drawn by the browser's own cursor, not into the picture.
        enable_server_pointer: false,
        pointer_software_rendering: true,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: false,
    }
}

/// A stable code and a message for a failed RDP login; `logging_in` is
/// whether it failed after TLS, while the credentials were being checked.
fn classify(
    e: &ironrdp_connector::ConnectorError,
    logging_in: bool,
) -> (&'static str, &'static str, String) {
    let failed = action::SESSION_FAILED;
    match e.kind() {
        ConnectorErrorKind::Credssp(_) | ConnectorErrorKind::AccessDenied => (
            failed,
            "target_auth_failed",
            format!("the RDP server refused the stored credentials: {e}"),
        ),
        // Windows answers a wrong password with a CredSSP error (above);
        // FreeRDP and others just hang up in the middle of the login.
        _ if logging_in && hung_up(e) => (
            failed,
            "target_auth_failed",
            "the RDP server closed the connection while checking the stored credentials \
             (a wrong password, or an account it does not allow)"
                .into(),
        ),
        _ => (failed, "target_error", format!("RDP handshake failed: {e}")),
    }
}

/// Whether `e` comes from the server closing the connection.
fn hung_up(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(error) = source {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// Kerberos is not offered: CredSSP falls back to NTLM, which needs no
/// network beyond the RDP connection itself.
struct NoKerberos;

impl ironrdp_tokio::NetworkClient for NoKerberos {
    async fn send(
        &mut self,
        _request: &ironrdp_connector::sspi::generator::NetworkRequest,
    ) -> ironrdp_connector::ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!(
            "the gateway does not reach a Kerberos KDC for RDP"
        ))
    }
}

/// The certificate fingerprint the gateway pins and shows: `SHA256:` and
/// unpadded base64 of the SHA-256 of the certificate's DER.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = ::aws_lc_rs::digest::digest(&::aws_lc_rs::digest::SHA256, der);
    format!("SHA256:{}", STANDARD_NO_PAD.encode(digest.as_ref()))
}

/// The subject public key CredSSP binds its exchange to.
fn public_key(der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "its public key is not whole bytes".to_owned())
}

/// TLS over the negotiated connection, any certificate accepted (it is
/// pinned by the caller); returns the stream and the certificate's DER.
async fn tls_upgrade(
    tcp: TcpStream,
    host: &str,
) -> Result<(TlsStream<TcpStream>, Vec<u8>), String> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
        .with_no_client_auth();
    // CredSSP does not support TLS session resumption.
    config.resumption = rustls::client::Resumption::disabled();
    let name = ServerName::try_from(host.to_owned())
        .or_else(|_| ServerName::try_from("rdp.invalid".to_owned()))
        .map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let der = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| cert.to_vec())
        .ok_or("the server sent no certificate")?;
    Ok((tls, der))
}

impl RdpDesktop {
    /// The server's screen size.
    pub(crate) fn size(&self) -> (u16, u16) {
        self.screen
    }

    /// Whether IronRDP's picture is dropped now.
    fn is_shed(&self) -> bool {
        self.image.data().is_empty() && self.screen.0 > 0 && self.screen.1 > 0
    }

    /// Drops IronRDP's picture of a still screen: the framebuffer holds
    /// the same pixels, packed, so an idle desktop holds a few KiB instead
    /// of two copies of its screen at 4 bytes a pixel. Input needs no
    /// picture (the pointer is the browser's own, not drawn into it).
    fn shed(&mut self) {
        self.image = DecodedImage::new(PixelFormat::RgbA32, 0, 0);
        tracing::debug!("the still screen's RDP picture dropped");
    }

    /// Rebuilds IronRDP's picture from the framebuffer before a frame is
    /// decoded into it (see [`crate::rdp_idle::picture_of`]).
    fn unshed(&mut self, fb: &Framebuffer) {
        self.image = crate::rdp_idle::picture_of(&mut self.stage, self.screen, fb);
        tracing::debug!("the RDP picture rebuilt from the framebuffer");
    }

    /// Reads one frame from the server, answers what it asks, and paints
    /// what it draws into `fb`. Cancel-safe: a frame half read stays
    /// buffered for the next call.
    pub(crate) async fn recv(&mut self, fb: &mut Framebuffer) -> Result<Change, String> {
        self.drain().await?;
        if let Some(text) = self.clipboard.as_ref().and_then(RdpClipboard::take_copied) {
            return Ok(Change::Clipboard(text));
        }
        if self.display.reactivating() {
            return self.reactivate().await;
        }
        if fb.is_packed() && !self.is_shed() {
            self.shed();
        }
        let (action, frame) = self.framed.read_pdu().await.map_err(|e| e.to_string())?;
        let shed = self.is_shed();
        if shed {
            self.unshed(fb);
        }
        let outputs = self
            .stage
            .process(&mut self.image, action, &frame, None)
            .map_err(|e| {
                let head = &frame[..frame.len().min(24)];
                tracing::debug!(?action, len = frame.len(), ?head, error = ?e, "an RDP frame failed");
                e.to_string()
            })?;
        let mut change = Change::None;
        for out in outputs {
            match out {
                ActiveStageOutput::ResponseFrame(reply) => self.out.extend_from_slice(&reply),
                ActiveStageOutput::GraphicsUpdate(r) => {
                    self.copy_into(fb, r.left, r.top, r.right, r.bottom);
                    self.display.painted();
                    change = Change::Painted;
                }
                ActiveStageOutput::Terminate(reason) => {
                    return Ok(Change::Closed(reason.to_string()));
                }
                ActiveStageOutput::DeactivateAll => {
                    // The server resizes (or restarts) the display: the
                    // reactivation is read by the next calls.
                    self.display.deactivated();
                }
                _ => {}
            }
        }
        if shed && fb.is_packed() {
            // Nothing was drawn: the screen is still, and so stays its memory.
            self.shed();
        }
        self.answer_channels()?;
        self.drain().await?;
        Ok(change)
    }

    /// Queues what the clipboard and display channels have to send.
    fn answer_channels(&mut self) -> Result<(), String> {
        if let Some(clipboard) = &self.clipboard {
            let frames = clipboard.pump(&mut self.stage)?;
            self.out.extend_from_slice(&frames);
        }
        let frames = self.display.send_wanted(&mut self.stage)?;
        self.out.extend_from_slice(&frames);
        Ok(())
    }

    /// One frame of a reactivation; at its end, a new picture of the
    /// server's new size.
    async fn reactivate(&mut self) -> Result<Change, String> {
        let step = self
            .display
            .step(&mut self.framed, &mut self.stage, &mut self.out)
            .await?;
        self.drain().await?;
        let active = match step {
            Step::Pending => return Ok(Change::None),
            Step::Channel(action, frame) => {
                let outputs = self
                    .stage
                    .process(&mut self.image, action, &frame, None)
                    .map_err(|e| e.to_string())?;
                for out in outputs {
                    if let ActiveStageOutput::ResponseFrame(reply) = out {
                        self.out.extend_from_slice(&reply);
                    }
                }
                self.answer_channels()?;
                self.drain().await?;
                return Ok(Change::None);
            }
            Step::Done(active) => active,
        };
        self.image = DecodedImage::new(PixelFormat::RgbA32, active.size.width, active.size.height);
        self.screen = (active.size.width, active.size.height);
        self.refresh_rect = active.refresh_rect;
        self.suppress_output = active.suppress_output;
        tracing::debug!(
            width = active.size.width,
            height = active.size.height,
            "the RDP display was reactivated"
        );
        // The whole new screen, whatever the server painted while the
        // sequence ran (dropped above) or thinks it painted.
        let (width, height) = self.size();
        let redraw = self
            .stage
            .request_full_redraw(width, height, self.refresh_rect, self.suppress_output)
            .map_err(|e| e.to_string())?;
        for frame in redraw {
            self.out.extend_from_slice(&frame);
        }
        // What waited for the reactivation: input, and a newer size.
        let held = std::mem::take(&mut self.held);
        self.send(&held).await?;
        self.answer_channels()?;
        self.drain().await?;
        Ok(Change::Resized)
    }

    /// Whether the clipboard channel was offered (one direction is allowed).
    pub(crate) fn has_clipboard(&self) -> bool {
        self.clipboard.is_some()
    }

    /// What is known of the server's clipboard: `Some(true)` once its
    /// channel is up, `Some(false)` when the server did not even join it,
    /// `None` while it may still come up (or was never offered).
    pub(crate) fn clipboard_ready(&self) -> Option<bool> {
        match &self.clipboard {
            None => None,
            Some(clipboard) if clipboard.is_ready() => Some(true),
            Some(_) if !self.clipboard_joined => Some(false),
            Some(_) => None,
        }
    }

    /// Text from the tab for the desktop's clipboard.
    pub(crate) async fn paste(&mut self, text: String) -> Result<(), String> {
        let Some(clipboard) = &self.clipboard else {
            return Ok(());
        };
        let frames = clipboard.paste(&mut self.stage, text)?;
        self.write(&frames).await
    }

    /// The tab is `width` x `height` now: asked of the server when it
    /// takes a monitor layout (else the tab scales the picture).
    pub(crate) async fn resize(&mut self, width: u16, height: u16) -> Result<(), String> {
        self.display.want(width, height);
        self.tick().await
    }

    /// At every frame tick: a size that had to wait goes out when it can.
    pub(crate) async fn tick(&mut self) -> Result<(), String> {
        let frames = self.display.send_wanted(&mut self.stage)?;
        self.write(&frames).await
    }

    /// Copies the inclusive rectangle from IronRDP's picture into `fb`.
    fn copy_into(&self, fb: &mut Framebuffer, left: u16, top: u16, right: u16, bottom: u16) {
        let (width, height) = self.size();
        if left > right || top > bottom || right >= width || bottom >= height {
            return;
        }
        let r = Region {
            x: left,
            y: top,
            width: right - left + 1,
            height: bottom - top + 1,
        };
        fb.paint_from(r, self.image.data(), width);
    }

    /// The whole picture into `fb` (a new framebuffer of its size).
    pub(crate) fn paint_all(&self, fb: &mut Framebuffer) {
        let (width, height) = self.size();
        if width > 0 && height > 0 {
            self.copy_into(fb, 0, 0, width - 1, height - 1);
        }
    }

    /// Queues `frame` and writes what is queued.
    async fn write(&mut self, frame: &[u8]) -> Result<(), String> {
        self.out.extend_from_slice(frame);
        self.drain().await
    }

    /// Writes the queued frames. Cancel-safe: `write_buf` takes from the
    /// queue only what it wrote.
    async fn drain(&mut self) -> Result<(), String> {
        use tokio::io::AsyncWriteExt;
        if self.out.is_empty() {
            return Ok(());
        }
        let (stream, _) = self.framed.get_inner_mut();
        while !self.out.is_empty() {
            stream
                .write_buf(&mut self.out)
                .await
                .map_err(|e| e.to_string())?;
        }
        stream.flush().await.map_err(|e| e.to_string())
    }

    /// Sends input events, if any, to the server (held while it
    /// reactivates the display: they would interleave with its sequence).
    async fn send(&mut self, events: &[FastPathInputEvent]) -> Result<(), String> {
        if self.display.reactivating() {
            // Bounded: a reactivation takes a second; the rest is dropped.
            let room = HELD_INPUT.saturating_sub(self.held.len());
            self.held.extend(events.iter().take(room));
            return Ok(());
        }
        if events.is_empty() {
            return Ok(());
        }
        let outputs = self
            .stage
            .process_fastpath_input(&mut self.image, events)
            .map_err(|e| e.to_string())?;
        for out in outputs {
            if let ActiveStageOutput::ResponseFrame(frame) = out {
                self.write(&frame).await?;
            }
        }
        Ok(())
    }

    /// A key pressed or released, as an X11 keysym. A keysym typed with
    /// Shift (a capital) that comes without the Shift key held — a
    /// browser's synthetic keys, an on-screen keyboard — gets a Shift press
    /// around it, so the server types the same character.
    pub(crate) async fn key(&mut self, keysym: u32, down: bool) -> Result<(), String> {
        let shift_held = self.input.is_key_pressed(scancode::SHIFT)
            || self.input.is_key_pressed(Scancode::from_u8(false, 0x36));
        let op = match scancode::of(keysym) {
            Some(code) if down && !shift_held && scancode::shifted(keysym) => {
                let events = self.input.apply([
                    Operation::KeyPressed(scancode::SHIFT),
                    Operation::KeyPressed(code),
                    Operation::KeyReleased(scancode::SHIFT),
                ]);
                return self.send(&events).await;
            }
            Some(code) if down => Operation::KeyPressed(code),
            Some(code) => Operation::KeyReleased(code),
            None => {
                let Some(c) = unicode(keysym) else {
                    return Ok(());
                };
                if down {
                    Operation::UnicodeKeyPressed(c)
                } else {
                    Operation::UnicodeKeyReleased(c)
                }
            }
        };
        let events = self.input.apply([op]);
        self.send(&events).await
    }

    /// The pointer at `(x, y)` with the RFB button mask `buttons` (1 left,
    /// 2 middle, 4 right; 8 and 16 a wheel step up and down).
    pub(crate) async fn pointer(&mut self, x: u16, y: u16, buttons: u8) -> Result<(), String> {
        let mut ops = vec![Operation::MouseMove(MousePosition { x, y })];
        for (bit, button) in [
            (1, MouseButton::Left),
            (2, MouseButton::Middle),
            (4, MouseButton::Right),
        ] {
            match (self.buttons & bit != 0, buttons & bit != 0) {
                (false, true) => ops.push(Operation::MouseButtonPressed(button)),
                (true, false) => ops.push(Operation::MouseButtonReleased(button)),
                _ => {}
            }
        }
        // A wheel step is a press of its bit (the release that follows is nothing).
        for (bit, units) in [(8, 120), (16, -120)] {
            if buttons & bit != 0 && self.buttons & bit == 0 {
                ops.push(Operation::WheelRotations(WheelRotations {
                    is_vertical: true,
                    rotation_units: units,
                }));
            }
        }
        self.buttons = buttons;
        let events = self.input.apply(ops);
        self.send(&events).await
    }

    /// Asks the server to paint the whole screen again, where it says it
    /// can (Refresh Rect or Suppress Output).
    pub(crate) async fn refresh(&mut self) -> Result<(), String> {
        let (width, height) = self.size();
        let frames = self
            .stage
            .request_full_redraw(width, height, self.refresh_rect, self.suppress_output)
            .map_err(|e| e.to_string())?;
        for frame in frames {
            self.write(&frame).await?;
        }
        Ok(())
    }

    /// Says goodbye to the server, releasing every key and button first.
    pub(crate) async fn close(mut self) {
        let released = self.input.release_all();
        let _ = self.send(&released).await;
        if let Ok(outputs) = self.stage.graceful_shutdown() {
            for out in outputs {
                if let ActiveStageOutput::ResponseFrame(frame) = out {
                    let _ = self.write(&frame).await;
                }
            }
        }
    }
}

/// The character a keysym with no US key types: Latin-1 keysyms are the
/// character's code, Unicode ones are `0x0100_0000` plus it.
fn unicode(keysym: u32) -> Option<char> {
    match keysym {
        0xa0..=0xff => char::from_u32(keysym),
        0x0100_0000..=0x0110_ffff => char::from_u32(keysym - 0x0100_0000),
        _ => None,
    }
}
