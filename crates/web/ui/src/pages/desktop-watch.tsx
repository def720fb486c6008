// Watching a desktop read-only: the gateway sends the current screen first,
// then every region the owner's tab is sent. Nothing is sent back: no keys,
// no pointer. When the session ends (or the watcher loses the right to
// watch) the page says so and keeps the last picture.

import { useEffect, useRef, useState } from "preact/hooks";

import { endedText } from "../api";
import { painter } from "../desktop/screen";

type Control =
  | { type: "watching"; id: string; user: string; width: number; height: number }
  | { type: "size"; width: number; height: number }
  | { type: "removed"; by: string }
  | { type: "error"; code: string; message: string }
  | { type: "ended"; reason: string; by: string | null; message: string | null };

export function DesktopWatchPage({ sessionId }: { sessionId: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [status, setStatus] = useState<{ text: string; kind: "info" | "ended" | "error" }>({
    text: "Connecting…",
    kind: "info",
  });

  useEffect(() => {
    const screen = painter(canvas.current!);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/sessions/${sessionId}/desktop/watch`);
    ws.binaryType = "arraybuffer";
    let finished = false;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        screen.paint(ev.data as ArrayBuffer);
        return;
      }
      const msg = JSON.parse(ev.data) as Control;
      if (msg.type === "watching") {
        document.title = `Gatehouse · watching ${msg.user}'s desktop`;
        setStatus({ text: `Watching ${msg.user}'s desktop (read-only)`, kind: "info" });
      } else if (msg.type === "size") {
        screen.resize(msg.width, msg.height);
      } else if (msg.type === "removed") {
        finished = true;
        setStatus({ text: `You were removed from this session by ${msg.by}`, kind: "ended" });
      } else if (msg.type === "ended") {
        finished = true;
        setStatus({ text: endedText(msg.reason, msg.by, msg.message), kind: "ended" });
      } else if (msg.type === "error") {
        finished = true;
        setStatus({ text: msg.message, kind: "error" });
      }
    };
    ws.onclose = (ev) => {
      if (!finished)
        setStatus({ text: ev.code === 1006 ? "Could not watch this desktop" : "Connection to the gateway lost", kind: "error" });
    };
    return () => ws.close();
  }, [sessionId]);

  return (
    <div class="terminal-page desktop-page">
      <div class={`banner ${status.kind}`} role={status.kind === "info" ? "status" : "alert"}>
        {status.text}
      </div>
      <canvas class="desktop-screen" ref={canvas} aria-label="Watched desktop (read-only)" />
    </div>
  );
}
