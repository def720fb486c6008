// The browser's keys, pointer, wheel and paste as the gateway's desktop
// control messages. The owner's tab and an interactive participant's view
// send the same messages; the gateway decides what reaches the desktop.

import { keysymOf } from "./keysym";

/** RFB button mask bits of the browser's mouse buttons (left, middle, right). */
const BUTTON_BITS = [1, 2, 4];

/** Sends `cv`'s keys, pointer and wheel, and the page's pastes when
 * `pasteAllowed()` says so (else calls `refused`, so the user is told),
 * through `send`; returns the detach function. */
export function attachInput(
  cv: HTMLCanvasElement,
  send: (msg: object) => void,
  pasteAllowed: () => boolean,
  refused: () => void = () => undefined,
) {
  // The canvas is scaled to the tab; the desktop wants its own pixels.
  let buttons = 0;
  const pointer = (e: MouseEvent) => {
    const r = cv.getBoundingClientRect();
    const scale = Math.min(r.width / cv.width, r.height / cv.height) || 1;
    const left = r.left + (r.width - cv.width * scale) / 2;
    const top = r.top + (r.height - cv.height * scale) / 2;
    const x = Math.max(0, Math.min(cv.width - 1, Math.floor((e.clientX - left) / scale)));
    const y = Math.max(0, Math.min(cv.height - 1, Math.floor((e.clientY - top) / scale)));
    return { x, y };
  };
  const onMouse = (e: MouseEvent) => {
    e.preventDefault();
    if (e.type === "mousedown") cv.focus();
    buttons = 0;
    for (let i = 0; i < 3; i++) if (e.buttons & (1 << i)) buttons |= BUTTON_BITS[[0, 2, 1][i]];
    send({ type: "pointer", ...pointer(e), buttons });
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const at = pointer(e);
    const bit = e.deltaY < 0 ? 8 : 16;
    send({ type: "pointer", ...at, buttons: buttons | bit });
    send({ type: "pointer", ...at, buttons });
  };
  const onKey = (e: KeyboardEvent) => {
    const keysym = keysymOf(e);
    if (keysym === null) return;
    e.preventDefault();
    send({ type: "key", keysym, down: e.type === "keydown" });
  };
  const onPaste = (e: ClipboardEvent) => {
    // A paste into a field of the page (the Share dialog's user name) is
    // that field's, not the desktop's.
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    const text = e.clipboardData?.getData("text/plain");
    if (!text) return;
    if (pasteAllowed()) send({ type: "clipboard", text });
    else refused();
  };
  const noMenu = (e: Event) => e.preventDefault();
  const canvasEvents: [string, EventListener][] = [
    ["mousemove", onMouse as EventListener],
    ["mousedown", onMouse as EventListener],
    ["mouseup", onMouse as EventListener],
    ["contextmenu", noMenu],
    ["keydown", onKey as EventListener],
    ["keyup", onKey as EventListener],
  ];
  for (const [name, fn] of canvasEvents) cv.addEventListener(name, fn);
  cv.addEventListener("wheel", onWheel, { passive: false });
  document.addEventListener("paste", onPaste);
  return () => {
    for (const [name, fn] of canvasEvents) cv.removeEventListener(name, fn);
    cv.removeEventListener("wheel", onWheel);
    document.removeEventListener("paste", onPaste);
  };
}

/** Presses `keys` in order and releases them in reverse (Ctrl+Alt+Del…). */
export function sendCombo(send: (msg: object) => void, keys: number[]) {
  for (const keysym of keys) send({ type: "key", keysym, down: true });
  for (const keysym of [...keys].reverse()) send({ type: "key", keysym, down: false });
}
