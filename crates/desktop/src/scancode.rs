//! The browser's keys (X11 keysyms, as the VNC side takes them) as RDP
//! scancodes: the key's place on a US keyboard, so the server's own layout
//! gives the character, and modifiers pressed in the browser (Shift, AltGr)
//! reach it as keys of their own, as with a real keyboard.

use ironrdp_input::Scancode;

/// The scancode of the key that types `keysym` on a US keyboard; `None`
/// for a keysym no key there types (sent as a Unicode character instead).
pub(crate) fn of(keysym: u32) -> Option<Scancode> {
    let (extended, code) = match keysym {
        0x20..=0x7e => (false, ascii(keysym as u8)?),
        // Latin-1 keysyms beyond ASCII type no US key.
        0xff08 => (false, 0x0e), // BackSpace
        0xff09 => (false, 0x0f), // Tab
        0xff0d => (false, 0x1c), // Return
        0xff13 => (false, 0x45), // Pause
        0xff14 => (false, 0x46), // Scroll_Lock
        0xff1b => (false, 0x01), // Escape
        0xff50 => (true, 0x47),  // Home
        0xff51 => (true, 0x4b),  // Left
        0xff52 => (true, 0x48),  // Up
        0xff53 => (true, 0x4d),  // Right
        0xff54 => (true, 0x50),  // Down
        0xff55 => (true, 0x49),  // Prior (Page Up)
        0xff56 => (true, 0x51),  // Next (Page Down)
        0xff57 => (true, 0x4f),  // End
        0xff61 => (true, 0x37),  // Print
        0xff63 => (true, 0x52),  // Insert
        0xff67 => (true, 0x5d),  // Menu
        0xff7f => (false, 0x45), // Num_Lock
        0xff8d => (true, 0x1c),  // KP_Enter
        0xffaa => (false, 0x37), // KP_Multiply
        0xffab => (false, 0x4e), // KP_Add
        0xffad => (false, 0x4a), // KP_Subtract
        0xffae => (false, 0x53), // KP_Decimal
        0xffaf => (true, 0x35),  // KP_Divide
        0xffb0 => (false, 0x52), // KP_0
        0xffb1..=0xffb9 => (false, keypad(keysym - 0xffb1)),
        0xffbe..=0xffc7 => (false, 0x3b + (keysym - 0xffbe) as u8), // F1–F10
        0xffc8 => (false, 0x57),                                    // F11
        0xffc9 => (false, 0x58),                                    // F12
        0xffe1 => (false, 0x2a),                                    // Shift_L
        0xffe2 => (false, 0x36),                                    // Shift_R
        0xffe3 => (false, 0x1d),                                    // Control_L
        0xffe4 => (true, 0x1d),                                     // Control_R
        0xffe5 => (false, 0x3a),                                    // Caps_Lock
        0xffe7 | 0xffe9 => (false, 0x38),                           // Meta_L, Alt_L
        0xffe8 | 0xffea | 0xfe03 => (true, 0x38), // Meta_R, Alt_R, ISO_Level3_Shift (AltGr)
        0xffeb => (true, 0x5b),                   // Super_L (Win)
        0xffec => (true, 0x5c),                   // Super_R
        0xffff => (true, 0x53),                   // Delete
        _ => return None,
    };
    Some(Scancode::from_u8(extended, code))
}

/// Whether `keysym` is typed with Shift on a US keyboard (a capital, or a
/// symbol above a digit or punctuation key).
pub(crate) fn shifted(keysym: u32) -> bool {
    matches!(keysym, 0x41..=0x5a)
        || u8::try_from(keysym).is_ok_and(|c| b"~!@#$%^&*()_+{}|:\"<>?".contains(&c))
}

/// The left Shift key.
pub(crate) const SHIFT: Scancode = Scancode::from_u8(false, 0x2a);

/// KP_1 … KP_9 from their offset.
fn keypad(n: u32) -> u8 {
    const ROWS: [u8; 9] = [0x4f, 0x50, 0x51, 0x4b, 0x4c, 0x4d, 0x47, 0x48, 0x49];
    ROWS[n as usize % 9]
}

/// The US key of a printable ASCII character, shifted or not.
fn ascii(c: u8) -> Option<u8> {
    const DIGITS: &[u8; 10] = b"1234567890";
    const SHIFTED: &[u8; 10] = b"!@#$%^&*()";
    const TOP: &[u8] = b"qwertyuiop";
    const HOME: &[u8] = b"asdfghjkl";
    const BOTTOM: &[u8] = b"zxcvbnm";
    let c = c.to_ascii_lowercase();
    let at = |row: &[u8], first: u8| row.iter().position(|k| *k == c).map(|i| first + i as u8);
    at(DIGITS, 0x02)
        .or_else(|| at(SHIFTED, 0x02))
        .or_else(|| at(TOP, 0x10))
        .or_else(|| at(HOME, 0x1e))
        .or_else(|| at(BOTTOM, 0x2c))
        .or(match c {
            b'-' | b'_' => Some(0x0c),
            b'=' | b'+' => Some(0x0d),
            b'[' | b'{' => Some(0x1a),
            b']' | b'}' => Some(0x1b),
            b';' | b':' => Some(0x27),
            b'\'' | b'"' => Some(0x28),
            b'`' | b'~' => Some(0x29),
            b'\\' | b'|' => Some(0x2b),
            b',' | b'<' => Some(0x33),
            b'.' | b'>' => Some(0x34),
            b'/' | b'?' => Some(0x35),
            b' ' => Some(0x39),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(keysym: u32) -> (bool, u8) {
        of(keysym).expect("a US key").as_u8()
    }

    #[test]
    fn keysyms_are_the_keys_of_a_us_keyboard() {
        assert_eq!(code(u32::from(b'a')), (false, 0x1e));
        assert_eq!(
            code(u32::from(b'A')),
            (false, 0x1e),
            "Shift comes as a key of its own"
        );
        assert_eq!(code(u32::from(b't')), (false, 0x14));
        assert_eq!(code(u32::from(b'1')), (false, 0x02));
        assert_eq!(code(u32::from(b'!')), (false, 0x02));
        assert_eq!(code(u32::from(b'0')), (false, 0x0b));
        assert_eq!(code(u32::from(b'/')), (false, 0x35));
        assert_eq!(code(u32::from(b' ')), (false, 0x39));
        assert_eq!(code(u32::from(b'm')), (false, 0x32));
        assert_eq!(code(0xff0d), (false, 0x1c), "Return");
        assert_eq!(code(0xffff), (true, 0x53), "Delete is extended");
        assert_eq!(code(0xffeb), (true, 0x5b), "Win");
        assert_eq!(code(0xffc9), (false, 0x58), "F12");
        assert_eq!(code(0xffb5), (false, 0x4c), "KP_5");
        assert!(shifted(u32::from(b'T')) && shifted(u32::from(b'?')) && shifted(u32::from(b'"')));
        assert!(!shifted(u32::from(b't')) && !shifted(u32::from(b'/')) && !shifted(0xff0d));
        assert!(of(0xe9).is_none(), "é is no US key: sent as Unicode");
        assert!(of(0x0100_20ac).is_none(), "€ neither");
    }
}
