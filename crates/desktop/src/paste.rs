//! A paste from the browser, the owner's or an interactive participant's,
//! checked once for both: the connection's switch and its size. RFB cut
//! text is Latin-1: what it cannot carry is dropped.

use serde_json::{Value, json};

use crate::relay::{Clipboard, Control, MAX_CLIPBOARD};

/// A paste checked against the connection's switch and what RFB carries:
/// the clipboard control to send, or the error message to answer with.
pub(crate) fn paste(clipboard: Clipboard, text: String) -> Result<Control, Value> {
    if !clipboard.to_desktop {
        return Err(json!({
            "type": "error", "code": "clipboard_off",
            "message": "pasting into this desktop is switched off for its connection",
        }));
    }
    if text.chars().count() > MAX_CLIPBOARD {
        return Err(
            json!({ "type": "error", "code": "bad_message", "message": "clipboard text is too long" }),
        );
    }
    // RFB cut text is Latin-1: what it cannot carry is dropped.
    let latin1: String = text.chars().filter(|c| u32::from(*c) < 256).collect();
    Ok(Control::Clipboard { text: latin1 })
}
