// The gateway's REST API, as the browser uses it: same-origin requests
// carrying the HttpOnly session cookie. Errors arrive as
// {"error": {"code", "message"}} and are thrown as ApiError.

export type Permission =
  | "sessions.view"
  | "sessions.end"
  | "sessions.watch"
  | "audit.view"
  | "connections.manage"
  | "users.manage";

export interface Me {
  id: string;
  username: string;
  permissions: Permission[];
}

export interface Participant {
  id: string;
  user: string;
  mode: "owner" | "interactive" | "observer";
  client_addr: string;
  joined_at: string;
}

export interface Session {
  id: string;
  user: string;
  user_id: string;
  connection: { id: string; name: string };
  protocol: string;
  client_addr: string;
  target: string;
  started_at: string;
  last_activity_at: string;
  idle_seconds: number;
  idle_timeout_seconds: number | null;
  max_duration_seconds: number | null;
  ends_in_seconds: number | null;
  bytes_from_client: number;
  bytes_to_client: number;
  participants: Participant[];
  /** Port forwards open through a native SSH session. */
  forwards: { id: string; kind: "local" | "remote" | "agent"; destination: string; opened_at: string }[];
  recording: boolean;
  /** What the front end tells about the session in its own terms, shown as-is
   * (for a web application: [`HttpDetail`]). */
  detail?: Record<string, unknown>;
  node: string;
}

/** A web-application session's detail. */
export interface HttpDetail {
  requests?: number;
  open_requests?: number;
  websockets?: number;
  /** "GET /path 200" */
  last_request?: string;
}

export interface EndedSession {
  session: Session;
  ended_at: string;
  end_reason: string;
  ended_by: string | null;
  end_message: string | null;
}

/** A credential the gateway injects into a web application's requests (never its secret). */
export type Injection = { kind: "basic"; username: string } | { kind: "header"; name: string };

/** A web application's settings; administrators only. */
export interface HttpSettings {
  url: string;
  tls_verify: boolean;
  /** Whether an extra CA certificate is set. */
  ca_certificate: boolean;
  host_header: "target" | "public";
  redact_query: boolean;
  inject?: Injection;
  identity_header?: string;
}

export interface Connection {
  id: string;
  name: string;
  protocol: "ssh" | "http" | "tcp" | "vnc" | "rdp";
  /** The target's host (for a web application: its URL's host). */
  host: string;
  port: number;
  /** Web applications: the gateway path that logs the browser in to the app and opens it. */
  app_url?: string;
  /** Web applications: on a host of their own, or under `/apps/{name}/` on the gateway. */
  publish?: "host" | "path";
  http?: HttpSettings;
  username?: string;
  auth?: "password" | "private_key";
  host_key_fingerprint?: string;
  host_key_source?: "administrator" | "first_use";
  /** RDP: the account's domain. */
  domain?: string;
  /** RDP: the pinned certificate's fingerprint (`SHA256:…`). */
  certificate_fingerprint?: string;
  certificate_source?: "administrator" | "first_use";
  users?: string[];
  roles?: string[];
  allow_forwarding: boolean;
  /** VNC and RDP: whether text pasted in the browser reaches the desktop. */
  clipboard_to_desktop?: boolean;
  /** VNC and RDP: whether text copied on the desktop reaches the browser. */
  clipboard_from_desktop?: boolean;
}

export interface User {
  id: string;
  username: string;
  disabled: boolean;
  roles: string[];
  created_at: string;
}

export interface HistoryRow {
  id: string;
  user: string;
  connection: { id: string; name: string };
  protocol: string;
  client_addr: string;
  target: string;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  ended_by: string | null;
  end_message: string | null;
  bytes_from_client: number;
  bytes_to_client: number;
  /** What the front end told about the session at its end (a tunnel: [`TunnelDetail`]). */
  detail?: Record<string, unknown>;
  /** The session's recording, if it was recorded; size and duration once complete. */
  recording: { bytes: number | null; duration_ms: number | null; truncated: boolean } | null;
}

/** A TCP tunnel's detail (`gatehouse tunnel`, or `ssh -L` to a tcp connection). */
export interface TunnelDetail {
  open_connections?: number;
  total_connections?: number;
  /** The client program the user named (`--for psql`), or "ssh -L". */
  program?: string | null;
}

/** A tunnel's traffic: "3 connections · ↑ 1.2 KiB ↓ 40.0 KiB · psql" (`open`: with the open count). */
export function tunnelTraffic(
  s: { bytes_from_client: number; bytes_to_client: number; detail?: Record<string, unknown> },
  open: boolean,
): string {
  const d = (s.detail ?? {}) as TunnelDetail;
  const total = d.total_connections ?? 0;
  const parts = [`${total} connection${total === 1 ? "" : "s"}`];
  if (open) parts[0] = `${d.open_connections ?? 0} open, ${parts[0]}`;
  parts.push(`↑ ${size(s.bytes_from_client)} ↓ ${size(s.bytes_to_client)}`);
  if (d.program) parts.push(String(d.program));
  return parts.join(" · ");
}

/** "512 B", "3.4 KiB", "12.0 MiB". */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export interface AuditRow {
  id: number;
  at: string;
  actor: string | null;
  action: string;
  target: string | null;
  client_addr: string | null;
  details: Record<string, unknown>;
  /** When the target is a session: whose it was and on what connection. */
  session: { user: string; connection: string } | null;
}

export interface PageOf<T> {
  total: number;
  items: T[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A call to the API, its answer as text; an error answer throws [`ApiError`]. */
export async function apiText(method: string, path: string, body?: unknown): Promise<string> {
  const resp = await fetch(`/api/v1${path}`, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) {
    const err = (text ? JSON.parse(text) : null)?.error ?? {};
    throw new ApiError(resp.status, err.code ?? "unknown", err.message ?? resp.statusText);
  }
  return text;
}

/** A call to the API, its JSON answer parsed (`undefined` when it has none). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const text = await apiText(method, path, body);
  return (text ? JSON.parse(text) : undefined) as T;
}

export const can = (me: Me | null, p: Permission) => !!me && me.permissions.includes(p);

/** "3s", "4m 05s", "2h 01m", "3d 4h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const since = (iso: string, now: number) => duration((now - Date.parse(iso)) / 1000);

/** A moment in the browser's time zone, which it names ("29/11/2026, 14:03:07 CET"). */
export const localTime = (iso: string | null) =>
  iso ? new Date(iso).toLocaleString(undefined, { timeZoneName: "short" }) : "";

/** A history row's end reason in words: "ended by administrator admin". */
export function reasonText(reason: string | null, by: string | null): string {
  if (!reason) return "";
  const words: Record<string, string> = {
    ended_by_admin: `ended by administrator ${by ?? ""}`.trim(),
    ended_by_owner: by ? `ended by ${by} (its owner)` : "ended by its owner",
    target_closed: "closed by the server",
    client_closed: "closed by the user",
    idle_timeout: "idle timeout",
    max_duration: "maximum duration reached",
    user_locked: "user locked",
    access_revoked: "access revoked",
    gateway_shutdown: "gateway shut down",
    node_lost: "gateway node lost",
    error: "error",
  };
  return words[reason] ?? reason.replace(/_/g, " ");
}

/** What to tell a person whose session ended, from the gateway's reason. */
export function endedText(reason: string, by: string | null, message: string | null): string {
  const base: Record<string, string> = {
    ended_by_admin: `Session ended by administrator ${by ?? ""}`.trim(),
    ended_by_owner: by ? `Session ended by ${by}` : "Session ended by its owner",
    target_closed: "Connection closed by the server",
    client_closed: "Session closed",
    idle_timeout: "Idle timeout",
    max_duration: "Maximum session duration reached",
    user_locked: "Your account was locked",
    access_revoked: "Your access to this connection was revoked",
    gateway_shutdown: "The gateway is shutting down",
    node_lost: "The gateway node relaying this session was lost",
    error: "Session ended by an error",
  };
  const text = base[reason] ?? `Session ended (${reason})`;
  return message ? `${text}: “${message}”` : text;
}
