//! The RDP clipboard: text both ways over the `cliprdr` static channel
//! (MS-RDPECLIP), with IronRDP's `ironrdp-cliprdr`. The crate calls a
//! backend back while it processes the server's frames; ours only notes
//! what was asked ([`Shared`]), and the session answers after the frame
//! ([`RdpClipboard::pump`]), since only it can write to the server.
//!
//! A copy on the desktop is a format list from the server: when copying
//! from the desktop is allowed, the text (`CF_UNICODETEXT`, else
//! `CF_TEXT`) is asked for, and what comes back goes to the tab. A paste
//! from the tab is a format list of our own offering `CF_UNICODETEXT`;
//! the desktop asks for it when someone pastes there. RDP text is UTF-16,
//! so unlike RFB's Latin-1 any text crosses. Files are never offered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use ironrdp_cliprdr::backend::CliprdrBackend;
use ironrdp_cliprdr::pdu::{
    ClipboardFormat, ClipboardFormatId, ClipboardGeneralCapabilityFlags, FileContentsRequest,
    FileContentsResponse, FormatDataRequest, FormatDataResponse, LockDataId,
    OwnedFormatDataResponse,
};
use ironrdp_cliprdr::{CliprdrClient, CliprdrSvcMessages};
use ironrdp_session::ActiveStage;

use crate::relay::MAX_CLIPBOARD;

/// What the channel's callbacks noted, for the session to act on.
#[derive(Debug, Default)]
struct Shared {
    /// Text the tab pasted, held for the desktop until it asks.
    local: Option<String>,
    /// What the session must send, in order.
    todo: VecDeque<Todo>,
    /// The format of the text last asked of the desktop.
    asked: Option<ClipboardFormatId>,
    /// Text the desktop copied, for the tab.
    copied: VecDeque<String>,
    /// Whether the server brought the channel up (its Monitor Ready, and
    /// the format lists exchanged): only then does text cross.
    ready: bool,
}

#[derive(Debug)]
enum Todo {
    /// Tell the desktop what our clipboard holds (at start, or after a paste).
    FormatList,
    /// Ask the desktop for its clipboard's text in this format.
    Fetch(ClipboardFormatId),
    /// The desktop asked for our clipboard in this format.
    Answer(ClipboardFormatId),
}

/// The connection's clipboard switches, as the channel applies them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Switches {
    pub(crate) to_desktop: bool,
    pub(crate) from_desktop: bool,
}

/// The callbacks `ironrdp-cliprdr` makes.
#[derive(Debug)]
struct Backend {
    shared: Arc<Mutex<Shared>>,
    switches: Switches,
}

ironrdp_core::impl_as_any!(Backend);

impl Backend {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CliprdrBackend for Backend {
    fn temporary_directory(&self) -> &str {
        // Only used for file lists, which are never offered.
        "C:\\Windows\\Temp"
    }

    fn client_capabilities(&self) -> ClipboardGeneralCapabilityFlags {
        ClipboardGeneralCapabilityFlags::empty()
    }

    fn on_ready(&mut self) {
        self.shared().ready = true;
    }

    fn on_request_format_list(&mut self) {
        self.shared().todo.push_back(Todo::FormatList);
    }

    fn on_process_negotiated_capabilities(&mut self, _: ClipboardGeneralCapabilityFlags) {}

    fn on_remote_copy(&mut self, formats: &[ClipboardFormat]) {
        if !self.switches.from_desktop {
            // Copying from the desktop is switched off: the text is never fetched.
            return;
        }
        let has = |id| formats.iter().any(|f| f.id() == id);
        let wanted = [
            ClipboardFormatId::CF_UNICODETEXT,
            ClipboardFormatId::CF_TEXT,
        ]
        .into_iter()
        .find(|id| has(*id));
        if let Some(id) = wanted {
            self.shared().todo.push_back(Todo::Fetch(id));
        }
    }

    fn on_format_data_request(&mut self, request: FormatDataRequest) {
        self.shared().todo.push_back(Todo::Answer(request.format));
    }

    fn on_format_data_response(&mut self, response: FormatDataResponse<'_>) {
        let mut shared = self.shared();
        let asked = shared.asked.take();
        if response.is_error() || !self.switches.from_desktop {
            return;
        }
        let text = match asked {
            Some(ClipboardFormatId::CF_UNICODETEXT) => response.to_unicode_string(),
            Some(ClipboardFormatId::CF_TEXT) => response.to_string(),
            _ => return,
        };
        let Ok(text) = text else {
            tracing::debug!("the desktop's clipboard text did not decode");
            return;
        };
        let text: String = text
            .trim_end_matches('\0')
            .chars()
            .take(MAX_CLIPBOARD)
            .collect();
        shared.copied.push_back(text);
    }

    fn on_file_contents_request(&mut self, _: FileContentsRequest) {}

    fn on_file_contents_response(&mut self, _: FileContentsResponse<'_>) {}

    fn on_lock(&mut self, _: LockDataId) {}

    fn on_unlock(&mut self, _: LockDataId) {}
}

/// The session's side of the clipboard channel.
#[derive(Debug)]
pub(crate) struct RdpClipboard {
    shared: Arc<Mutex<Shared>>,
    switches: Switches,
}

/// The channel to attach to the connector, and the session's handle on
/// it; `None` when both directions are switched off (the channel is then
/// not even offered to the server).
pub(crate) fn channel(switches: Switches) -> Option<(CliprdrClient, RdpClipboard)> {
    if !switches.to_desktop && !switches.from_desktop {
        return None;
    }
    let shared = Arc::new(Mutex::new(Shared::default()));
    let backend = Backend {
        shared: shared.clone(),
        switches,
    };
    Some((
        CliprdrClient::new(Box::new(backend)),
        RdpClipboard { shared, switches },
    ))
}

impl RdpClipboard {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the server brought the clipboard channel up.
    pub(crate) fn is_ready(&self) -> bool {
        self.shared().ready
    }

    /// Text the desktop copied, oldest first.
    pub(crate) fn take_copied(&self) -> Option<String> {
        self.shared().copied.pop_front()
    }

    /// Holds `text` (from the tab) for the desktop and tells the desktop
    /// its clipboard changed; the frames to send.
    pub(crate) fn paste(&self, stage: &mut ActiveStage, text: String) -> Result<Vec<u8>, String> {
        if !self.switches.to_desktop {
            return Ok(Vec::new());
        }
        let mut shared = self.shared();
        shared.local = Some(text);
        // Before the channel is ready, the list goes with its start-up
        // (the desktop asks for it, `on_request_format_list`).
        if stage
            .get_svc_processor::<CliprdrClient>()
            .is_some_and(CliprdrClient::is_ready)
        {
            shared.todo.push_back(Todo::FormatList);
        }
        drop(shared);
        self.pump(stage)
    }

    /// Does what the channel's callbacks asked; the frames to send.
    pub(crate) fn pump(&self, stage: &mut ActiveStage) -> Result<Vec<u8>, String> {
        let mut frames = Vec::new();
        loop {
            let mut shared = self.shared();
            let Some(todo) = shared.todo.pop_front() else {
                return Ok(frames);
            };
            let Some(cliprdr) = stage.get_svc_processor_mut::<CliprdrClient>() else {
                return Ok(frames);
            };
            let messages: CliprdrSvcMessages<_> = match todo {
                Todo::FormatList => {
                    let offered = match shared.local {
                        Some(_) => vec![ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)],
                        None => Vec::new(),
                    };
                    cliprdr.initiate_copy(&offered)
                }
                Todo::Fetch(id) => {
                    shared.asked = Some(id);
                    cliprdr.initiate_paste(id)
                }
                Todo::Answer(id) => {
                    let answer = match (&shared.local, id) {
                        (Some(text), ClipboardFormatId::CF_UNICODETEXT) => {
                            OwnedFormatDataResponse::new_unicode_string(text)
                        }
                        _ => OwnedFormatDataResponse::new_error(),
                    };
                    cliprdr.submit_format_data(answer)
                }
            }
            .map_err(|e| format!("the clipboard channel: {e}"))?;
            drop(shared);
            let frame = stage
                .process_svc_processor_messages(messages)
                .map_err(|e| format!("the clipboard channel: {e}"))?;
            frames.extend_from_slice(&frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(switches: Switches) -> (Backend, Arc<Mutex<Shared>>) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        (
            Backend {
                shared: shared.clone(),
                switches,
            },
            shared,
        )
    }

    const OPEN: Switches = Switches {
        to_desktop: true,
        from_desktop: true,
    };

    #[test]
    fn a_copy_on_the_desktop_fetches_its_unicode_text_first() {
        let (mut b, shared) = backend(OPEN);
        b.on_remote_copy(&[
            ClipboardFormat::new(ClipboardFormatId::CF_TEXT),
            ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT),
        ]);
        let todo = shared.lock().unwrap().todo.pop_front();
        assert!(
            matches!(todo, Some(Todo::Fetch(ClipboardFormatId::CF_UNICODETEXT))),
            "{todo:?}"
        );
    }

    #[test]
    fn with_copying_off_the_desktops_text_is_never_fetched() {
        let (mut b, shared) = backend(Switches {
            to_desktop: true,
            from_desktop: false,
        });
        b.on_remote_copy(&[ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)]);
        assert!(shared.lock().unwrap().todo.is_empty());
        // Nor kept, should it come anyway.
        shared.lock().unwrap().asked = Some(ClipboardFormatId::CF_UNICODETEXT);
        let data = OwnedFormatDataResponse::new_unicode_string("secret");
        b.on_format_data_response(data);
        assert!(shared.lock().unwrap().copied.is_empty());
    }

    #[test]
    fn the_desktops_text_arrives_whole_and_without_its_terminator() {
        let (mut b, shared) = backend(OPEN);
        shared.lock().unwrap().asked = Some(ClipboardFormatId::CF_UNICODETEXT);
        b.on_format_data_response(OwnedFormatDataResponse::new_unicode_string("héllo €"));
        assert_eq!(
            shared.lock().unwrap().copied.pop_front().as_deref(),
            Some("héllo €")
        );
    }

    #[test]
    fn the_channel_is_ready_once_the_crate_says_so() {
        let (mut b, shared) = backend(OPEN);
        assert!(!shared.lock().unwrap().ready);
        b.on_ready();
        assert!(shared.lock().unwrap().ready);
    }

    #[test]
    fn both_switches_off_offer_no_channel() {
        let off = Switches {
            to_desktop: false,
            from_desktop: false,
        };
        assert!(channel(off).is_none());
        assert!(channel(OPEN).is_some());
    }
}
