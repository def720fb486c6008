// Replaying a session's recording (audit.view): the gateway serves the
// asciicast file (and audits the replay); xterm.js renders it. A web
// application's recording is its request log, shown as a table instead; a
// desktop's is pictures, painted on a canvas with the same controls.

import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useMemo, useReducer, useRef, useState } from "preact/hooks";

import { ApiError, api, apiText, duration, type HistoryRow, localTime, reasonText } from "../api";
import { DesktopPlayer, isDesktop } from "../desktop/player";
import { type Cast, Player, parseCast } from "../player";
import { type LogRow, isRequestLog, logRows } from "../requestlog";
import { RequestLogTable } from "./request-log";

const SPEEDS = [1, 2, 4];
/** Seconds ← and → move on the timeline. */
const STEP = 5;

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function fetchCast(sessionId: string): Promise<Cast> {
  return parseCast(await apiText("GET", `/history/${sessionId}/recording`));
}

/** Who, what, why: the session's history row beside the player. */
function Details({ row }: { row: HistoryRow }) {
  const items: [string, string][] = [
    ["User", row.user],
    ["Connection", row.connection.name],
    ["Target", row.target],
    ["From", row.client_addr],
    ["Started", localTime(row.started_at)],
    ["Ended", row.ended_at ? localTime(row.ended_at) : "still running"],
    ["Duration", row.ended_at ? duration((Date.parse(row.ended_at) - Date.parse(row.started_at)) / 1000) : ""],
    ["End reason", `${reasonText(row.end_reason, row.ended_by)}${row.end_message ? `: “${row.end_message}”` : ""}`],
    ["Ended by", row.ended_by ?? "—"],
  ];
  return (
    <aside class="replay-details panel" aria-label="Session details">
      <dl>
        {items
          .filter(([, v]) => v !== "")
          .map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
      </dl>
    </aside>
  );
}

/** Space plays or pauses, ← and → step back and forward, unless a control has the keyboard. */
function useKeys(player: () => Player | DesktopPlayer | null, refresh: () => void) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const p = player();
      if (!p || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement;
      if (t.closest("input, select, textarea, button, a") && !t.closest(".xterm")) return;
      if (e.key === " ") p.isPlaying ? p.pause() : p.play();
      else if (e.key === "ArrowLeft") p.seek(p.position - STEP);
      else if (e.key === "ArrowRight") p.seek(p.position + STEP);
      else return;
      e.preventDefault();
      refresh();
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
}

export function ReplayPage({ sessionId, text }: { sessionId: string; text?: string }) {
  const frame = useRef<HTMLDivElement>(null);
  const host = useRef<HTMLDivElement>(null);
  const player = useRef<Player | DesktopPlayer | null>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [desktop, setDesktop] = useState(false);
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const refresh = () => bump(undefined);
  const [title, setTitle] = useState("Loading the recording…");
  const [error, setError] = useState("");
  const [log, setLog] = useState<LogRow[] | null>(null);
  const [row, setRow] = useState<HistoryRow | null>(null);
  useKeys(() => player.current, refresh);

  useEffect(() => {
    api<HistoryRow>("GET", `/history/${sessionId}`).then(setRow, () => setRow(null));
  }, [sessionId]);

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
        if (isDesktop(cast)) {
          setDesktop(true);
          const p = new DesktopPlayer(canvas.current!, cast, refresh);
          player.current = p;
          p.play();
          return;
        }
        const p = new Player(term, cast, refresh);
        player.current = p;
        // Opened from a search inside recordings: start where the text first shows.
        const first = text ? p.matches(text)[0] : undefined;
        if (first !== undefined) p.seek(first);
        else p.play();
      },
      (e) => setError(e instanceof ApiError ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
      player.current?.dispose();
      player.current = null;
      term.dispose();
    };
  }, [sessionId, text]);

  const p = player.current;
  const skips = p?.skipsIdle;
  const marks = useMemo(() => (p && text ? p.matches(text) : []), [p, text, skips]);
  const current = marks.filter((m) => m <= (p?.position ?? 0) + 0.05).length;
  const jump = (i: number) => {
    p?.pause();
    p?.seek(marks[i]);
  };
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
      {text && p && (
        <p class="matches" role="status">
          {marks.length === 0 ? (
            <>“{text}” is not in this recording’s screen text.</>
          ) : (
            <>
              <span>
                {marks.length === 1 ? "1 match" : `${marks.length} matches`} for “{text}”, marked on the timeline
                {current > 0 && `; at match ${current} of ${marks.length}`}
              </span>{" "}
              <button type="button" disabled={current <= 1} onClick={() => jump(current - 2)}>
                Previous match
              </button>{" "}
              <button type="button" disabled={current >= marks.length} onClick={() => jump(current)}>
                Next match
              </button>
            </>
          )}
        </p>
      )}
      {log && <RequestLogTable rows={log} label="Recorded requests" />}
      <div class="player-controls" role="toolbar" aria-label="Playback" hidden={!!log}>
        <button type="button" disabled={!p} onClick={() => (p?.isPlaying ? p.pause() : p?.play())}>
          {p?.isPlaying ? "Pause" : "Play"}
        </button>
        <span class="timeline">
          <input
            type="range"
            aria-label="Position"
            aria-keyshortcuts="Space ArrowLeft ArrowRight"
            min={0}
            // The end rounded up to a whole step: a range's value snaps to
            // its steps, so a max between two of them made the slider's end
            // stop short, and the last changes (up to 0.1 s) never painted.
            max={p ? Math.ceil(p.duration * 10) / 10 : 0}
            step={0.1}
            value={p ? p.position : 0}
            disabled={!p}
            onInput={(e) => p?.seek(Number((e.target as HTMLInputElement).value))}
          />
          {p &&
            p.duration > 0 &&
            marks.map((m) => (
              <span key={m} class="match-mark" aria-hidden="true" title={`“${text}” at ${clock(m)}`} style={{ left: `${(m / p.duration) * 100}%` }} />
            ))}
        </span>
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
        {p instanceof DesktopPlayer &&
          p.notices.map((note) => (
            <p class="banner ended replay-note" role="status">
              [{note}]
            </p>
          ))}
      <div class="replay-body">
        <div class="replay-screen" ref={host} hidden={!!log || desktop} />
        <canvas class="desktop-screen replay-desktop" ref={canvas} hidden={!desktop} aria-label="Recorded desktop" />
        {row && <Details row={row} />}
      </div>
      <p class="muted hint">Keys: Space plays or pauses; ← and → move {STEP} seconds.</p>
    </section>
  );
}
