// A desktop tab: the gateway keeps the remote screen and sends the regions
// that change (a header of x, y, width, height, then a PNG); this page paints
// them on a canvas scaled to the tab, and sends keys, pointer and clipboard
// back as JSON. When the session ends the tab says who ended it and why.
// The owner shares the desktop from here as a terminal is shared, and sees
// who watches or joined. The Clipboard panel shows the desktop's last copy
// and sends text to its clipboard, or says why it cannot (the connection
// switched a direction off, or the desktop's server offers no clipboard).

import { useEffect, useRef, useState } from "preact/hooks";

import { type Participant, endedText } from "../api";
import { attachInput, sendCombo } from "../desktop/input";
import { COMBOS } from "../desktop/keysym";
import { painter } from "../desktop/screen";
import { ShareControls } from "./share-controls";

type Control =
  | {
      type: "desktop";
      session: string;
      connection: string;
      recording?: boolean;
      clipboard?: { to_desktop: boolean; from_desktop: boolean; available?: boolean | null };
    }
  | { type: "size"; width: number; height: number }
  | { type: "clipboard"; text: string }
  | { type: "clipboard_status"; available: boolean }
  | { type: "warning"; reason: "idle_timeout" | "max_duration"; seconds_left: number }
  | { type: "warning_cleared" }
  | { type: "participants"; participants: Participant[] }
  | { type: "error"; code: string; message: string }
  | { type: "ended"; reason: string; by: string | null; message: string | null };

export function DesktopPage({ connectionId }: { connectionId: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const socket = useRef<WebSocket | null>(null);
  const [banner, setBanner] = useState<{ text: string; kind: "ended" | "error" } | null>(null);
  const [warning, setWarning] = useState<{ reason: string; deadline: number } | null>(null);
  const [now, setNow] = useState(Date.now());
  const [people, setPeople] = useState<Participant[]>([]);
  const [name, setName] = useState("");
  const [recorded, setRecorded] = useState(false);
  const [sessionId, setSessionId] = useState<string | null>(null);
  // A refused paste, told in the tab (not only in the console).
  const [notice, setNotice] = useState("");
  // What the connection allows, and whether the desktop's own clipboard is
  // there (null: not known yet, an RDP server's channel still coming up).
  const [clip, setClip] = useState<Clip | null>(null);
  const [clipOpen, setClipOpen] = useState(false);
  const [clipText, setClipText] = useState("");

  useEffect(() => {
    if (!warning) return;
    const tick = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(tick);
  }, [warning]);

  useEffect(() => {
    const cv = canvas.current!;
    const screen = painter(cv);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The tab's size: an RDP desktop starts at it and follows it (VNC
    // keeps its own and the canvas scales it).
    const tabSize = () => ({ width: Math.round(cv.clientWidth), height: Math.round(cv.clientHeight) });
    const start = tabSize();
    const query = start.width > 0 && start.height > 0 ? `?width=${start.width}&height=${start.height}` : "";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/connections/${connectionId}/desktop${query}`);
    ws.binaryType = "arraybuffer";
    socket.current = ws;
    let finished = false;
    // The connection's clipboard switches and the desktop's clipboard (the
    // gateway enforces them too; this only tells the user sooner).
    let clipNow: Clip = { to: true, from: true, available: null };
    const setClipNow = (next: Clip) => {
      clipNow = next;
      setClip(next);
    };
    const send = (msg: object) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    };

    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        screen.paint(ev.data as ArrayBuffer);
        return;
      }
      const msg = JSON.parse(ev.data) as Control;
      if (msg.type === "desktop") {
        setName(msg.connection);
        setSessionId(msg.session);
        setRecorded(!!msg.recording);
        setClipNow({
          to: msg.clipboard?.to_desktop ?? true,
          from: msg.clipboard?.from_desktop ?? true,
          available: msg.clipboard?.available ?? null,
        });
        document.title = `${msg.connection} · Gatehouse`;
        cv.focus();
      } else if (msg.type === "size") {
        screen.resize(msg.width, msg.height);
      } else if (msg.type === "clipboard") {
        setClipText(msg.text);
        navigator.clipboard?.writeText(msg.text).catch(() => undefined);
      } else if (msg.type === "clipboard_status") {
        setClipNow({ ...clipNow, available: msg.available });
      } else if (msg.type === "warning") {
        setNow(Date.now());
        setWarning({ reason: msg.reason, deadline: Date.now() + msg.seconds_left * 1000 });
      } else if (msg.type === "warning_cleared") {
        setWarning(null);
      } else if (msg.type === "participants") {
        setPeople(msg.participants.filter((p) => p.mode !== "owner"));
      } else if (msg.type === "ended") {
        finished = true;
        setWarning(null);
        setBanner({ text: endedText(msg.reason, msg.by, msg.message), kind: "ended" });
      } else if (msg.type === "error" && msg.code.startsWith("clipboard_")) {
        setNotice(msg.message);
      } else if (msg.type === "error" && msg.code === "bad_message") {
        console.warn("gatehouse:", msg.message);
      } else if (msg.type === "error") {
        finished = true;
        setBanner({ text: `Could not open the desktop: ${msg.message}`, kind: "error" });
      }
    };
    ws.onclose = () => {
      if (!finished) setBanner({ text: "Connection to the gateway lost", kind: "error" });
    };

    const detach = attachInput(
      cv,
      send,
      () => clipNow.to && clipNow.available !== false,
      () => setNotice(clipWhy(clipNow, "paste") ?? ""),
    );
    // A resize is told once the tab has kept its size for a moment, not
    // at every step of a window being dragged.
    let settle: ReturnType<typeof setTimeout> | undefined;
    let told = start;
    const resized = new ResizeObserver(() => {
      clearTimeout(settle);
      settle = setTimeout(() => {
        const now = tabSize();
        if (now.width <= 0 || now.height <= 0) return;
        if (now.width === told.width && now.height === told.height) return;
        told = now;
        send({ type: "resize", ...now });
      }, 400);
    });
    resized.observe(cv);
    return () => {
      clearTimeout(settle);
      resized.disconnect();
      detach();
      ws.close();
    };
  }, [connectionId]);

  const combo = (keys: number[]) => {
    const ws = socket.current;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    sendCombo((msg) => ws.send(JSON.stringify(msg)), keys);
    canvas.current?.focus();
  };
  const sendClip = () => {
    socket.current?.send(JSON.stringify({ type: "clipboard", text: clipText }));
    canvas.current?.focus();
  };
  const clipNote = clip ? clipWhy(clip, "panel") : null;
  const canSend = !!clip && clip.to && clip.available !== false;
  const stayConnected = () => socket.current?.send(JSON.stringify({ type: "keep_alive" }));
  const secondsLeft = warning ? Math.max(0, Math.ceil((warning.deadline - now) / 1000)) : 0;

  return (
    <div class="terminal-page desktop-page">
      {!banner && (
        <div class="session-bar">
          <strong>{name}</strong>
          {recorded && (
            <span class="recorded" title="This session is recorded for audit">
              <span aria-hidden="true">● </span>Recorded
            </span>
          )}
          {sessionId && <ShareControls sessionId={sessionId} people={people} />}
          {clip && (clip.to || clip.from) && (
            <button type="button" aria-expanded={clipOpen} onClick={() => setClipOpen(!clipOpen)}>
              Clipboard
            </button>
          )}
          {Object.entries(COMBOS).map(([label, keys]) => (
            <button type="button" onClick={() => combo(keys)}>
              {label}
            </button>
          ))}
        </div>
      )}
      {clipOpen && clip && !banner && (
        <div class="panel clipboard-panel" role="group" aria-label="Clipboard">
          {clipNote && <p class="clipboard-note">{clipNote}</p>}
          <textarea
            aria-label="Clipboard text"
            rows={3}
            value={clipText}
            disabled={clip.available === false}
            onInput={(e) => setClipText((e.target as HTMLTextAreaElement).value)}
          />
          {clip.to && (
            <button type="button" class="small" disabled={!canSend} onClick={sendClip}>
              Send to desktop
            </button>
          )}
        </div>
      )}
      {warning && !banner && (
        <div class="banner warning" role="alert">
          {warning.reason === "idle_timeout"
            ? `No input for a while: this session ends in ${secondsLeft}s. `
            : `This session reaches its maximum duration in ${secondsLeft}s. `}
          {warning.reason === "idle_timeout" && (
            <button type="button" onClick={stayConnected}>
              Stay connected
            </button>
          )}
        </div>
      )}
      {notice && !banner && (
        <div class="banner info" role="status">
          {notice}{" "}
          <button type="button" class="small" onClick={() => setNotice("")}>
            Dismiss
          </button>
        </div>
      )}
      {banner && (
        <div class={`banner ${banner.kind}`} role="alert">
          {banner.text}
        </div>
      )}
      <canvas class="desktop-screen" ref={canvas} tabIndex={0} aria-label="Remote desktop" />
    </div>
  );
}

/** The connection's clipboard switches, and whether the desktop has a
 * clipboard at all (null: not known yet). */
type Clip = { to: boolean; from: boolean; available: boolean | null };

/** Why text cannot cross now, for a paste or for the Clipboard panel;
 * null when it can. */
function clipWhy(clip: Clip, what: "paste" | "panel"): string | null {
  if (clip.available === false) return "This desktop's server offers no clipboard.";
  if (!clip.to) return "Pasting into this desktop is switched off for its connection.";
  if (what === "paste") return null;
  if (!clip.from) return "Copies on the desktop are not shown here: switched off for its connection.";
  if (clip.available === null) return "Waiting for the desktop's clipboard…";
  return null;
}
