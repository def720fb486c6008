//! A paste from the browser, the owner's or an interactive participant's,
//! checked once for both: the connection's switch, whether the desktop's
//! server has a clipboard at all (an RDP server without cliprdr has none),
//! its size, and what the RFB wire can carry. `ClientCutText` and `ServerCutText`
//! carry Latin-1 (ISO 8859-1), one byte per character, while the browser's
//! clipboard is Unicode. Text from the desktop is therefore always
//! representable (every Latin-1 byte is the Unicode character of the same
//! number); text to the desktop is refused whole, with a notice naming what
//! cannot cross, when it holds anything outside Latin-1 — a paste that
//! silently lost its `€` or its quotation marks would be worse than none.
//! The bytes themselves are read and written by `vendor/vnc-rs` (patched:
//! the published crate decoded cut text as UTF-8 and sent it as UTF-8).

use serde_json::{Value, json};

use crate::relay::{Clipboard, Control, MAX_CLIPBOARD};

/// The notice for a paste into a desktop whose server offers no clipboard.
pub(crate) const UNAVAILABLE: &str =
    "nothing was pasted: this desktop's server offers no clipboard";

/// A paste checked against the connection's switch, what is known of the
/// desktop's clipboard (`available`, as [`crate::remote::Remote::clipboard_ready`]
/// says: a paste while it is not known yet is held for the desktop), and
/// what RFB carries: the clipboard control to send, or the error message
/// to answer with.
pub(crate) fn paste(
    clipboard: Clipboard,
    available: Option<bool>,
    text: String,
) -> Result<Control, Value> {
    if !clipboard.to_desktop {
        return Err(json!({
            "type": "error", "code": "clipboard_off",
            "message": "pasting into this desktop is switched off for its connection",
        }));
    }
    if available == Some(false) {
        return Err(json!({
            "type": "error", "code": "clipboard_unavailable", "message": UNAVAILABLE,
        }));
    }
    if text.chars().count() > MAX_CLIPBOARD {
        return Err(
            json!({ "type": "error", "code": "bad_message", "message": "clipboard text is too long" }),
        );
    }
    // RDP's clipboard is UTF-16: anything crosses.
    let checked = if clipboard.unicode {
        Ok(())
    } else {
        check(&text)
    };
    match checked {
        Ok(()) => Ok(Control::Clipboard { text }),
        Err(message) => {
            Err(json!({ "type": "error", "code": "clipboard_not_latin1", "message": message }))
        }
    }
}

/// The most characters a refusal names.
const NAMED: usize = 5;

/// `Ok` when all of `text` can cross to the desktop as Latin-1; else the
/// notice for the user, naming the first characters that cannot.
fn check(text: &str) -> Result<(), String> {
    let mut outside: Vec<char> = Vec::new();
    for c in text.chars().filter(|c| u32::from(*c) > 0xff) {
        if !outside.contains(&c) {
            outside.push(c);
        }
        if outside.len() > NAMED {
            break;
        }
    }
    if outside.is_empty() {
        return Ok(());
    }
    let more = if outside.len() > NAMED { ", …" } else { "" };
    let named: Vec<String> = outside
        .iter()
        .take(NAMED)
        .map(|c| format!("“{c}” (U+{:04X})", u32::from(*c)))
        .collect();
    Err(format!(
        "nothing was pasted: a VNC desktop's clipboard carries only Latin-1 text, and this has {}{more}",
        named.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RDP: Clipboard = Clipboard {
        to_desktop: true,
        from_desktop: true,
        unicode: true,
    };

    #[test]
    fn a_paste_into_a_desktop_without_a_clipboard_is_refused_not_dropped() {
        let refused = paste(RDP, Some(false), "ls".into()).unwrap_err();
        assert_eq!(refused["code"], "clipboard_unavailable", "{refused}");
        assert_eq!(refused["message"], UNAVAILABLE);
        // Not known yet: held for the desktop; known: sent.
        assert!(paste(RDP, None, "ls".into()).is_ok());
        assert!(paste(RDP, Some(true), "5 €".into()).is_ok());
        // The connection's switch is named first.
        let off = Clipboard {
            to_desktop: false,
            ..RDP
        };
        let refused = paste(off, Some(false), "ls".into()).unwrap_err();
        assert_eq!(refused["code"], "clipboard_off", "{refused}");
    }

    #[test]
    fn latin1_text_crosses_whole() {
        for text in [
            "plain ascii",
            "café crème, naïve, ½ × ¼, ©®, ß, ÿ",
            "tab\tand\nnewline",
            "",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
        let every: String = (0..=255u8).map(char::from).collect();
        assert_eq!(check(&every), Ok(()));
    }

    #[test]
    fn text_outside_latin1_is_refused_naming_what_cannot_cross() {
        let refused = check("costs 5 € — “quoted”").unwrap_err();
        assert!(refused.starts_with("nothing was pasted"), "{refused}");
        assert!(refused.contains("“€” (U+20AC)"), "{refused}");
        assert!(refused.contains("(U+2014)"), "{refused}");
        assert!(refused.contains("(U+201C)"), "{refused}");
        // Each character named once, and only the first few.
        let refused = check("€€€ 日本語のテキスト").unwrap_err();
        assert_eq!(refused.matches("U+20AC").count(), 1, "{refused}");
        assert!(refused.ends_with(", …"), "{refused}");
        assert!(check("emoji 🙂").is_err());
    }
}
