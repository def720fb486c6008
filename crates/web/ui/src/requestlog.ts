// A web-application session's request log: what the gateway writes for each
// request it proxied, as JSON lines ending in "\r\n". The same lines arrive
// on the watch WebSocket (live) and in the recording's output events
// (replay); either may cut a line in two, and a watcher's first chunk (the
// session's recent output) may start in the middle of one.

import type { Cast } from "./player";

export interface RequestEntry {
  /** When the request arrived (RFC 3339). */
  at: string;
  method: string;
  /** The path asked for; its query string is "…" where the connection redacts it. */
  path: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  websocket: boolean;
  outcome: "completed" | "cut" | "error";
}

/** A row of the log: a request, or a note the recording carries (e.g. why it stopped). */
export type LogRow = { kind: "request"; entry: RequestEntry } | { kind: "note"; text: string };

function entryOf(line: string): RequestEntry | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const e = v as Partial<RequestEntry>;
  if (typeof e.at !== "string" || typeof e.method !== "string" || typeof e.path !== "string") return null;
  if (typeof e.status !== "number") return null;
  return {
    at: e.at,
    method: e.method,
    path: e.path,
    status: e.status,
    bytes_in: Number(e.bytes_in ?? 0),
    bytes_out: Number(e.bytes_out ?? 0),
    duration_ms: Number(e.duration_ms ?? 0),
    websocket: e.websocket === true,
    outcome: e.outcome ?? "completed",
  };
}

/** Turns chunks of log text into entries, holding back a line cut in two. */
export class LogParser {
  private partial = "";

  /** The entries completed by `chunk`; lines that are no entry (a line cut at the front) are skipped. */
  push(chunk: string): RequestEntry[] {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    // A line that never ends is not a line: bound what is held back.
    if (this.partial.length > MAX_LINE) this.partial = "";
    const out: RequestEntry[] = [];
    for (const line of lines) {
      const entry = entryOf(line.trim());
      if (entry) out.push(entry);
    }
    return out;
  }

  /** Forgets a held-back partial line (the stream starts over). */
  reset() {
    this.partial = "";
  }
}

/** Longer than any log line the gateway writes (a path is bounded by the request's header limit). */
const MAX_LINE = 256 * 1024;

/** Whether a recording is a web application's request log rather than a terminal's output. */
export function isRequestLog(cast: Cast): boolean {
  const meta = (cast.header as { gatehouse?: { protocol?: string; target?: string } }).gatehouse;
  if (meta?.protocol) return meta.protocol === "http";
  // An SSH target is written host:port; a web application's is its URL.
  return /^https?:\/\//.test(meta?.target ?? "");
}

/** A request-log recording's rows, in order: requests and the recording's own notes. */
export function logRows(cast: Cast): LogRow[] {
  const parser = new LogParser();
  const rows: LogRow[] = [];
  for (const e of cast.events) {
    if (e.code === "o") {
      for (const entry of parser.push(e.data)) rows.push({ kind: "request", entry });
    } else if (e.code === "m") {
      rows.push({ kind: "note", text: e.data });
    }
  }
  for (const entry of parser.push("\n")) rows.push({ kind: "request", entry });
  return rows;
}
