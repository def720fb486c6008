// X11 keysyms for browser keyboard events: what a VNC server is sent.

const NAMED: Record<string, number> = {
  Backspace: 0xff08, Tab: 0xff09, Enter: 0xff0d, Escape: 0xff1b, Delete: 0xffff,
  Home: 0xff50, ArrowLeft: 0xff51, ArrowUp: 0xff52, ArrowRight: 0xff53, ArrowDown: 0xff54,
  PageUp: 0xff55, PageDown: 0xff56, End: 0xff57, Insert: 0xff63, Pause: 0xff13,
  ScrollLock: 0xff14, PrintScreen: 0xff61, ContextMenu: 0xff67, NumLock: 0xff7f,
  CapsLock: 0xffe5, Shift: 0xffe1, Control: 0xffe3, Alt: 0xffe9, AltGraph: 0xfe03,
  Meta: 0xffeb, OS: 0xffeb,
};

const RIGHT: Record<string, number> = {
  ShiftRight: 0xffe2, ControlRight: 0xffe4, AltRight: 0xffea, MetaRight: 0xffec,
};

/** The keysym a key event stands for, or null for keys with none. */
export function keysymOf(e: KeyboardEvent): number | null {
  if (RIGHT[e.code] !== undefined) return RIGHT[e.code];
  if (NAMED[e.key] !== undefined) return NAMED[e.key];
  const f = /^F([1-9]|1[0-9]|2[0-4])$/.exec(e.key);
  if (f) return 0xffbe + Number(f[1]) - 1;
  if ([...e.key].length === 1) {
    const cp = e.key.codePointAt(0)!;
    // Latin-1 keysyms are their code points; the rest of Unicode is offset.
    return cp < 0x100 ? cp : 0x01000000 + cp;
  }
  return null;
}

/** Keysyms of the combinations a browser would take for itself. */
export const COMBOS: Record<string, number[]> = {
  "Ctrl+Alt+Del": [0xffe3, 0xffe9, 0xffff],
  Win: [0xffeb],
  "Alt+Tab": [0xffe9, 0xff09],
  "Ctrl+Esc": [0xffe3, 0xff1b],
};
