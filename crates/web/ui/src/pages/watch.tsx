// Watching a live session read-only: the gateway paints the session's
// current screen first, then every change; nothing typed here is sent. A
// web application's session has no screen: its output is its request log,
// shown as a table that grows as requests finish.

import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";

import { endedText } from "../api";
import { LogParser, type LogRow } from "../requestlog";
import { RequestLogTable } from "./request-log";

/** The newest requests a live log keeps: a watcher left open on a busy app
 * for a day must not hold every request the app served. */
const KEPT = 10_000;

type Control =
  | {
      type: "watching";
      id: string;
      user: string;
      mode: "observer" | "interactive";
      cols: number;
      rows: number;
      protocol?: string;
    }
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
  // The request log, for a web application's session; null for a terminal.
  const [log, setLog] = useState<LogRow[] | null>(null);

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
    // A web application's log: parsed as it comes, shown at most once a frame.
    let parser: LogParser | null = null;
    let decoder = new TextDecoder();
    let rows: LogRow[] = [];
    let frame = 0;
    const show = () => {
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          setLog(rows);
        });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        if (parser) {
          const added = parser.push(decoder.decode(ev.data as ArrayBuffer, { stream: true }));
          if (added.length) {
            rows = [...rows, ...added.map((entry) => ({ kind: "request" as const, entry }))].slice(-KEPT);
            show();
          }
        } else {
          term.write(new Uint8Array(ev.data as ArrayBuffer));
        }
        return;
      }
      const msg = JSON.parse(ev.data) as Control;
      if (msg.type === "watching") {
        if (msg.protocol === "http") {
          parser = new LogParser();
          show();
        }
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
        // Fell behind: what follows is the session's recent output again.
        if (parser) {
          parser.reset();
          decoder = new TextDecoder();
          rows = [];
          show();
        }
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
      cancelAnimationFrame(frame);
      term.dispose();
    };
  }, [sessionId, join]);

  return (
    <div class={log ? "log-page" : "terminal-page"}>
      <div class={`banner ${status.kind}`} role={status.kind === "info" ? "status" : "alert"}>
        {status.text}
      </div>
      {log && <RequestLogTable rows={log} live label="Requests" />}
      <div class="terminal-host" ref={host} hidden={!!log} />
    </div>
  );
}
