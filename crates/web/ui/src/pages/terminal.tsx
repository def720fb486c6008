// A terminal tab: xterm.js over the gateway's terminal WebSocket. Binary
// frames are terminal bytes; text frames are JSON control messages. When the
// session ends the tab says why instead of leaving a silent dead terminal.

import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "preact/hooks";

import { type Connection, type Participant, api, endedText } from "../api";
import { ShareDialog, useSharing } from "./share-controls";

type Control =
  | { type: "session"; id: string; recording?: boolean }
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
  const [people, setPeople] = useState<Participant[]>([]);
  const [sessionId, setSessionId] = useState<string | null>(null);
  const [recorded, setRecorded] = useState(false);
  const [connection, setConnection] = useState<string | null>(null);
  const sharing = useSharing(sessionId);
  const { setSharing, note: shareNote, invited, remove, unshare } = sharing;
  const socket = useRef<WebSocket | null>(null);

  useEffect(() => {
    if (!warning) return;
    const tick = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(tick);
  }, [warning]);

  useEffect(() => {
    api<Connection[]>("GET", "/connections").then(
      (list) => {
        const name = list.find((c) => c.id === connectionId)?.name;
        if (name) {
          setConnection(name);
          document.title = `${name} · Gatehouse`;
        }
      },
      () => undefined,
    );
  }, [connectionId]);

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
    // Ctrl+Shift+C copies the selection. Ctrl+V and Ctrl+Shift+V are left to
    // the browser, whose paste event xterm.js sends on (as bracketed paste
    // where the shell asked for it); a literal Ctrl+V is rarely wanted.
    term.attachCustomKeyEventHandler((e) => {
      if (e.type === "keydown" && e.ctrlKey && e.shiftKey && e.code === "KeyC" && term.hasSelection()) {
        navigator.clipboard?.writeText(term.getSelection());
        return false;
      }
      if (e.ctrlKey && !e.altKey && !e.metaKey && e.code === "KeyV") return false;
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
        setSessionId(msg.id);
        setRecorded(!!msg.recording);
        term.focus();
      } else if (msg.type === "warning") {
        setNow(Date.now());
        setWarning({ reason: msg.reason, deadline: Date.now() + msg.seconds_left * 1000 });
      } else if (msg.type === "participants") {
        setPeople(msg.participants.filter((p) => p.mode !== "owner"));
      } else if (msg.type === "warning_cleared") {
        setWarning(null);
      } else if (msg.type === "ended") {
        finished = true;
        setWarning(null);
        setBanner({ text: endedText(msg.reason, msg.by, msg.message), kind: "ended" });
      } else if (msg.type === "error" && msg.code === "bad_message") {
        // The gateway refused one control message; the session goes on.
        console.warn("gatehouse:", msg.message);
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
      // A squeezed or hidden window can measure as nothing; keep the last real size.
      if (cols < 1 || rows < 1) return;
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    const observer = new ResizeObserver(() => {
      const size = fit.proposeDimensions();
      if (size && size.cols >= 1 && size.rows >= 1) fit.fit();
    });
    observer.observe(host.current!);

    return () => {
      observer.disconnect();
      ws.close();
      term.dispose();
    };
  }, [connectionId]);

  const watchers = people.filter((p) => p.mode === "observer").map((p) => p.user);
  const typists = people.filter((p) => p.mode === "interactive").map((p) => p.user);

  const stayConnected = () => {
    socket.current?.send(JSON.stringify({ type: "keep_alive" }));
  };
  const secondsLeft = warning ? Math.max(0, Math.ceil((warning.deadline - now) / 1000)) : 0;

  const ended = banner !== null;
  const reconnect = () => location.reload();
  const close = () => {
    window.close();
    // A tab the browser will not let a script close stays: go home instead.
    setTimeout(() => (location.hash = "#/connections"), 200);
  };

  // Keys keep the terminal's element in place whatever notices come and go:
  // xterm.js draws into it, and a replaced element would leave the tab black.
  return (
    <div class="terminal-page">
      <header class="term-toolbar" key="toolbar" aria-label="Session">
        <strong class="term-title">{connection ?? "Terminal"}</strong>
        <span class={`term-state ${ended ? "off" : sessionId ? "on" : ""}`}>
          {ended ? "Ended (read-only)" : sessionId ? "Connected" : "Connecting…"}
        </span>
        {recorded && (
          <span class="recorded" title="This session is recorded for audit">
            <span aria-hidden="true">● </span>Recorded
          </span>
        )}
        {!ended && people.length > 0 && (
          <span role="status" class="watched" title="Others on this session">
            {watchers.length > 0 && <>Watched by {[...new Set(watchers)].join(", ")}</>}
            {watchers.length > 0 && typists.length > 0 && " · "}
            {typists.length > 0 && <>{[...new Set(typists)].join(", ")} can type</>}
          </span>
        )}
        {!ended &&
          people.map((p) => (
            <button type="button" class="small" onClick={() => remove(p)} aria-label={`Remove ${p.user} (${p.mode})`}>
              Remove {p.user}
            </button>
          ))}
        {!ended &&
          invited.map((i) => (
            <button
              type="button"
              class="small"
              onClick={() => unshare(i.user)}
              aria-label={`Withdraw invitation for ${i.user}`}
              title={`${i.user} was invited (${i.mode === "interactive" ? "may type" : "read-only"})`}
            >
              Un-share {i.user}
            </button>
          ))}
        <span class="spacer" />
        {!ended && <span class="muted hint">Paste: Ctrl+V or Ctrl+Shift+V · Copy: select, Ctrl+Shift+C</span>}
        {!ended && sessionId && (
          <button type="button" class="small" onClick={() => setSharing(true)}>
            Share
          </button>
        )}
        {ended && (
          <>
            <button type="button" class="small primary" onClick={reconnect}>
              Reconnect
            </button>
            <button type="button" class="small" onClick={close}>
              Close
            </button>
          </>
        )}
      </header>
      <div class="term-notices" key="notices">
        {shareNote && !ended && (
          <div class="banner info" role="status">
            {shareNote}
          </div>
        )}
        {warning && !ended && (
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
      </div>
      <div class="terminal-host" key="host" ref={host} />
      <ShareDialog key="share" sharing={sharing} />
    </div>
  );
}
