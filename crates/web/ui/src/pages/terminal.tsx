// A terminal tab: xterm.js over the gateway's terminal WebSocket. Binary
// frames are terminal bytes; text frames are JSON control messages. When the
// session ends the tab says why instead of leaving a silent dead terminal.

import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";

import { endedText } from "../api";

type Control =
  | { type: "session"; id: string }
  | { type: "error"; code: string; message: string }
  | { type: "ended"; reason: string; by: string | null; message: string | null };

export function TerminalPage({ connectionId }: { connectionId: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [banner, setBanner] = useState<{ text: string; kind: "ended" | "error" } | null>(null);

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
      } else if (msg.type === "ended") {
        finished = true;
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

  return (
    <div class="terminal-page">
      {banner && (
        <div class={`banner ${banner.kind}`} role="alert">
          {banner.text}
        </div>
      )}
      <div class="terminal-host" ref={host} />
    </div>
  );
}
