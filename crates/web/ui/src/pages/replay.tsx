// Replaying a session's recording (audit.view): the gateway serves the
// asciicast file (and audits the replay); xterm.js renders it. A web
// application's recording is its request log, shown as a table instead.

import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useReducer, useRef, useState } from "preact/hooks";

import { ApiError, apiText } from "../api";
import { type Cast, Player, parseCast } from "../player";
import { type LogRow, isRequestLog, logRows } from "../requestlog";
import { RequestLogTable } from "./request-log";

const SPEEDS = [1, 2, 4];

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function fetchCast(sessionId: string): Promise<Cast> {
  return parseCast(await apiText("GET", `/history/${sessionId}/recording`));
}

export function ReplayPage({ sessionId }: { sessionId: string }) {
  const frame = useRef<HTMLDivElement>(null);
  const host = useRef<HTMLDivElement>(null);
  const player = useRef<Player | null>(null);
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const refresh = () => bump(undefined);
  const [title, setTitle] = useState("Loading the recording…");
  const [error, setError] = useState("");
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
    let cancelled = false;
    fetchCast(sessionId).then(
      (cast) => {
        if (cancelled) return;
        const when = cast.header.timestamp ? new Date(cast.header.timestamp * 1000).toLocaleString() : "";
        setTitle(`${cast.header.title ?? sessionId}${when ? ` · ${when}` : ""}`);
        if (isRequestLog(cast)) {
          setLog(logRows(cast));
          return;
        }
        player.current = new Player(term, cast, refresh);
        player.current.play();
      },
      (e) => setError(e instanceof ApiError ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
      player.current?.dispose();
      player.current = null;
      term.dispose();
    };
  }, [sessionId]);

  const p = player.current;
  const fullScreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
    else frame.current?.requestFullscreen().catch(() => undefined);
  };
  return (
    <section class="replay" ref={frame}>
      <div class="toolbar">
        <h1>Replay</h1>
        <span class="replay-title">{title}</span>
        <a class="download" href={`/api/v1/history/${sessionId}/recording?download=true`} download>
          Download .cast
        </a>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {log && <RequestLogTable rows={log} label="Recorded requests" />}
      <div class="player-controls" role="toolbar" aria-label="Playback" hidden={!!log}>
        <button type="button" disabled={!p} onClick={() => (p?.isPlaying ? p.pause() : p?.play())}>
          {p?.isPlaying ? "Pause" : "Play"}
        </button>
        <input
          type="range"
          aria-label="Position"
          min={0}
          max={p ? p.duration : 0}
          step={0.1}
          value={p ? p.position : 0}
          disabled={!p}
          onInput={(e) => p?.seek(Number((e.target as HTMLInputElement).value))}
        />
        <span class="time" aria-label="Time">
          {clock(p?.position ?? 0)} / {clock(p?.duration ?? 0)}
        </span>
        <label>
          Speed{" "}
          <select
            aria-label="Speed"
            value={String(p?.speed ?? 1)}
            onChange={(e) => {
              if (p) p.speed = Number((e.target as HTMLSelectElement).value);
              refresh();
            }}
          >
            {SPEEDS.map((s) => (
              <option value={String(s)}>{s}×</option>
            ))}
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={p?.skipsIdle ?? true}
            onChange={(e) => p?.setSkipIdle((e.target as HTMLInputElement).checked)}
          />{" "}
          Skip idle gaps (over 1s)
        </label>
        <button type="button" onClick={fullScreen}>
          Full screen
        </button>
      </div>
      <div class="replay-screen" ref={host} hidden={!!log} />
    </section>
  );
}
