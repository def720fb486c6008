// A terminal tab: xterm.js over the gateway's terminal WebSocket. Binary
// frames are terminal bytes; text frames are JSON control messages. When the
// session ends the tab says why instead of leaving a silent dead terminal.

import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";

import { type Participant, endedText } from "../api";

type Control =
  | { type: "session"; id: string }
  | { type: "warning"; reason: "idle_timeout" | "max_duration"; seconds_left: number }
  | { type: "warning_cleared" }
  | { type: "participants"; participants: Participant[] }
  | { type: "error"; code: string; message: string }
  | { type: "ended"; reason: string; by: string | null; message: string | null };

export function TerminalPage({ connectionId }: { connectionId: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [banner, setBanner] = useState<{ text: string; kind: "ended" | "error" } | null>(null);
  const [warning, setWarning] = useState<{ reason: string; deadline: number } | null>(null);
  const [now, setNow] = useState(Date.now());
  const [watchers, setWatchers] = useState<string[]>([]);
  const socket = useRef<WebSocket | null>(null);

  useEffect(() => {
    if (!warning) return;
    const tick = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(tick);
  }, [warning]);

  useEffect(() => {
    const term = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
      fontSize: 14,
      scrollback: 5000,
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current!);
    fit.fit();
    // Ctrl+Shift+C copies the selection; pasting uses the browser's own paste.
    term.attachCustomKeyEventHandler((e) => {
      if (e.type === "keydown" && e.ctrlKey && e.shiftKey && e.code === "KeyC" && term.hasSelection()) {
        navigator.clipboard?.writeText(term.getSelection());
        return false;
      }
      return true;
    });

    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/v1/connections/${connectionId}/terminal?cols=${term.cols}&rows=${term.rows}`;
    const ws = new WebSocket(url);
    socket.current = ws;
    ws.binaryType = "arraybuffer";
    let finished = false;
    const encoder = new TextEncoder();

    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        term.write(new Uint8Array(ev.data as ArrayBuffer));
        return;
      }
      const msg = JSON.parse(ev.data) as Control;
      if (msg.type === "session") {
        document.title = `Gatehouse · terminal`;
        term.focus();
      } else if (msg.type === "warning") {
        setNow(Date.now());
        setWarning({ reason: msg.reason, deadline: Date.now() + msg.seconds_left * 1000 });
      } else if (msg.type === "participants") {
        setWatchers(msg.participants.filter((p) => p.mode === "observer").map((p) => p.user));
      } else if (msg.type === "warning_cleared") {
        setWarning(null);
      } else if (msg.type === "ended") {
        finished = true;
        setWarning(null);
        setBanner({ text: endedText(msg.reason, msg.by, msg.message), kind: "ended" });
      } else if (msg.type === "error") {
        finished = true;
        setBanner({ text: `Could not open the session: ${msg.message}`, kind: "error" });
      }
    };
    ws.onclose = () => {
      if (!finished) setBanner({ text: "Connection to the gateway lost", kind: "error" });
      term.options.disableStdin = true;
    };
    const send = (data: string) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    };
    term.onData(send);
    term.onBinary((data) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
    });
    term.onResize(({ cols, rows }) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current!);

    return () => {
      observer.disconnect();
      ws.close();
      term.dispose();
    };
  }, [connectionId]);

  const stayConnected = () => {
    socket.current?.send(JSON.stringify({ type: "keep_alive" }));
  };
  const secondsLeft = warning ? Math.max(0, Math.ceil((warning.deadline - now) / 1000)) : 0;

  return (
    <div class="terminal-page">
      {watchers.length > 0 && !banner && (
        <div class="watched" role="status" title="These people can see this terminal (read-only)">
          👁 Watched by {[...new Set(watchers)].join(", ")}
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
      {banner && (
        <div class={`banner ${banner.kind}`} role="alert">
          {banner.text}
        </div>
      )}
      <div class="terminal-host" ref={host} />
    </div>
  );
}
