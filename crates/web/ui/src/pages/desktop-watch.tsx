// Watching a desktop read-only, or joining one its owner shared: the gateway
// sends the current screen first, then every region the owner's tab is
// sent. A watcher and a read-only participant send nothing back; an
// interactive participant's keys, pointer and pastes go to the desktop as
// the owner's do. When the session ends (or the viewer is removed, or
// loses the right to watch) the page says so and keeps the last picture.

import { useEffect, useRef, useState } from "preact/hooks";

import { endedText } from "../api";
import { attachInput, sendCombo } from "../desktop/input";
import { COMBOS } from "../desktop/keysym";
import { painter } from "../desktop/screen";

type Control =
  | {
      type: "watching";
      id: string;
      user: string;
      mode?: "observer" | "interactive";
      width: number;
      height: number;
      clipboard?: { to_desktop: boolean; available?: boolean | null };
    }
  | { type: "size"; width: number; height: number }
  | { type: "removed"; by: string }
  | { type: "error"; code: string; message: string }
  | { type: "ended"; reason: string; by: string | null; message: string | null };

/** A desktop seen by someone other than its owner: `join` for a session
 * shared with the caller, else a watch (`sessions.watch`). */
export function DesktopWatchPage({ sessionId, join = false }: { sessionId: string; join?: boolean }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const socket = useRef<WebSocket | null>(null);
  const [status, setStatus] = useState<{ text: string; kind: "info" | "ended" | "error" }>({
    text: "Connecting…",
    kind: "info",
  });
  const [mode, setMode] = useState<"observer" | "interactive" | null>(null);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    const cv = canvas.current!;
    const screen = painter(cv);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const how = join ? "join" : "watch";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/sessions/${sessionId}/desktop/${how}`);
    ws.binaryType = "arraybuffer";
    socket.current = ws;
    let finished = false;
    let detach = () => {};
    const send = (msg: object) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        screen.paint(ev.data as ArrayBuffer);
        return;
      }
      const msg = JSON.parse(ev.data) as Control;
      if (msg.type === "watching") {
        const interactive = join && msg.mode === "interactive";
        setMode(join ? (interactive ? "interactive" : "observer") : null);
        if (interactive) {
          // Only the gateway decides what reaches the desktop; this only
          // saves sending what it would refuse.
          const pasteAllowed = (msg.clipboard?.to_desktop ?? false) && msg.clipboard?.available !== false;
          detach = attachInput(cv, send, () => pasteAllowed);
          cv.focus();
        }
        document.title = join ? `Gatehouse · ${msg.user}'s desktop` : `Gatehouse · watching ${msg.user}'s desktop`;
        const text = !join
          ? `Watching ${msg.user}'s desktop (read-only)`
          : interactive
            ? `${msg.user}'s desktop, shared with you: you can type`
            : `${msg.user}'s desktop, shared with you (read-only)`;
        setStatus({ text, kind: "info" });
      } else if (msg.type === "size") {
        screen.resize(msg.width, msg.height);
      } else if (msg.type === "removed") {
        finished = true;
        detach();
        setStatus({ text: `You were removed from this session by ${msg.by}`, kind: "ended" });
      } else if (msg.type === "ended") {
        finished = true;
        detach();
        setStatus({ text: endedText(msg.reason, msg.by, msg.message), kind: "ended" });
      } else if (msg.type === "error" && msg.code.startsWith("clipboard_")) {
        setNotice(msg.message);
      } else if (msg.type === "error" && msg.code === "bad_message") {
        console.warn("gatehouse:", msg.message);
      } else if (msg.type === "error") {
        finished = true;
        setStatus({ text: msg.message, kind: "error" });
      }
    };
    ws.onclose = (ev) => {
      detach();
      if (!finished)
        setStatus({
          text: ev.code === 1006 ? `Could not ${join ? "join" : "watch"} this desktop` : "Connection to the gateway lost",
          kind: "error",
        });
    };
    return () => {
      detach();
      ws.close();
    };
  }, [sessionId, join]);

  const combo = (keys: number[]) => {
    const ws = socket.current;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    sendCombo((msg) => ws.send(JSON.stringify(msg)), keys);
    canvas.current?.focus();
  };
  const live = status.kind === "info";

  return (
    <div class="terminal-page desktop-page">
      <div class={`banner ${status.kind}`} role={live ? "status" : "alert"}>
        {mode && live && (
          <span class={`badge ${mode}`}>{mode === "interactive" ? "Interactive" : "Read-only"}</span>
        )}{" "}
        {status.text}
        {mode === "interactive" &&
          live &&
          Object.entries(COMBOS).map(([label, keys]) => (
            <button type="button" class="small" onClick={() => combo(keys)}>
              {label}
            </button>
          ))}
      </div>
      {notice && live && (
        <div class="banner info" role="status">
          {notice}{" "}
          <button type="button" class="small" onClick={() => setNotice("")}>
            Dismiss
          </button>
        </div>
      )}
      <canvas
        class="desktop-screen"
        ref={canvas}
        tabIndex={mode === "interactive" ? 0 : undefined}
        aria-label={mode === "interactive" ? "Shared desktop" : "Watched desktop (read-only)"}
      />
    </div>
  );
}
