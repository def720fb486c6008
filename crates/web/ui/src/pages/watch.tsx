// Watching a live session read-only: the gateway paints the session's
// current screen first, then every change; nothing typed here is sent.

import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";

import { endedText } from "../api";

type Control =
  | { type: "watching"; id: string; user: string; mode: "observer" | "interactive"; cols: number; rows: number }
  | { type: "removed"; by: string }
  | { type: "repaint"; cols: number; rows: number }
  | { type: "error"; code: string; message: string }
  | { type: "ended"; reason: string; by: string | null; message: string | null };

/** Watching (`sessions.watch`) or joining a session shared with you (`join`). */
export function WatchPage({ sessionId, join = false }: { sessionId: string; join?: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<{ text: string; kind: "info" | "ended" | "error" }>({
    text: "Connecting…",
    kind: "info",
  });

  useEffect(() => {
    const term = new Terminal({
      disableStdin: true,
      cursorBlink: false,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
      fontSize: 14,
      scrollback: 1000,
    });
    term.open(host.current!);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/sessions/${sessionId}/${join ? "join" : "watch"}`);
    ws.binaryType = "arraybuffer";
    let finished = false;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        term.write(new Uint8Array(ev.data as ArrayBuffer));
        return;
      }
      const msg = JSON.parse(ev.data) as Control;
      if (msg.type === "watching") {
        term.resize(msg.cols, msg.rows);
        const interactive = msg.mode === "interactive";
        document.title = `Gatehouse · ${interactive ? "with" : "watching"} ${msg.user}`;
        setStatus({
          text: interactive ? `In ${msg.user}'s session (you can type)` : `Watching ${msg.user}'s session (read-only)`,
          kind: "info",
        });
        if (interactive) {
          term.options.disableStdin = false;
          const encoder = new TextEncoder();
          term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)));
          term.focus();
        }
      } else if (msg.type === "removed") {
        finished = true;
        setStatus({ text: `You were removed from this session by ${msg.by}`, kind: "ended" });
      } else if (msg.type === "repaint") {
        term.reset();
        term.resize(msg.cols, msg.rows);
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
        setStatus({ text: ev.code === 1006 ? "Could not watch this session" : "Connection to the gateway lost", kind: "error" });
    };
    return () => {
      ws.close();
      term.dispose();
    };
  }, [sessionId, join]);

  return (
    <div class="terminal-page">
      <div class={`banner ${status.kind}`} role={status.kind === "info" ? "status" : "alert"}>
        {status.text}
      </div>
      <div class="terminal-host" ref={host} />
    </div>
  );
}
