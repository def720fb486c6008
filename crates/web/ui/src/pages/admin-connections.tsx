import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";

import { api, type Connection, type User } from "../api";
import { AddressFields, ClipboardSwitches, addressBody, clipboardBody } from "./connection-fields";
import { HttpFields, httpBody, httpSummary } from "./connection-http";
import { RdpFields, rdpBody } from "./connection-rdp";
import { LimitField, type Limits, NO_LIMITS, limitsFrom, sameLimits } from "./limits";
import { Picker } from "./picker";

type Protocol = Connection["protocol"];

interface RecordingSettings {
  recording: boolean;
  record_input: boolean;
}

const DEFAULT_RECORDING: RecordingSettings = { recording: true, record_input: false };

/** A connection's stored settings that its form edits; `id` null for a new one. */
interface StoredSettings {
  id: string | null;
  recording: RecordingSettings;
  limits: Limits;
}
const NEW_SETTINGS: StoredSettings = { id: null, recording: DEFAULT_RECORDING, limits: NO_LIMITS };

/** The names of every user and role, for the grant pickers; `null` when
 * the caller may not list them (`users.manage`): then names are typed. */
function useGrantees(): { users: string[] | null; roles: string[] | null } {
  const [users, setUsers] = useState<string[] | null>(null);
  const [roles, setRoles] = useState<string[] | null>(null);
  useEffect(() => {
    api<User[]>("GET", "/users").then((u) => setUsers(u.map((x) => x.username).sort()), () => setUsers(null));
    api<{ name: string }[]>("GET", "/roles").then((r) => setRoles(r.map((x) => x.name).sort()), () => setRoles(null));
  }, []);
  return { users, roles };
}

/** The SSH fields of a create or edit request. */
function sshBody(d: FormData): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...addressBody(d, 22),
    username: d.get("username"),
    allow_forwarding: d.get("allow_forwarding") === "on",
  };
  const secret = String(d.get("secret") ?? "");
  if (secret) body[d.get("kind") === "private_key" ? "private_key" : "password"] = secret;
  const hostKey = String(d.get("host_key") ?? "").trim();
  if (hostKey) body.host_key = hostKey;
  return body;
}

/** The fields of a tcp connection (a service reached through `gatehouse tunnel` or `ssh -L`). */
function tcpBody(d: FormData): Record<string, unknown> {
  return addressBody(d);
}

/** The fields of a vnc connection; a blank password keeps the stored one. */
function vncBody(d: FormData): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...addressBody(d, 5900),
    ...clipboardBody(d),
  };
  const password = String(d.get("secret") ?? "");
  if (password) body.password = password;
  return body;
}

/** The protocol-specific fields of a create or edit request. */
function protocolBody(protocol: Protocol, d: FormData, editing: Connection | null): Record<string, unknown> {
  switch (protocol) {
    case "http":
      return httpBody(d, editing?.http);
    case "tcp":
      return tcpBody(d);
    case "vnc":
      return vncBody(d);
    case "rdp":
      return rdpBody(d);
    default:
      return sshBody(d);
  }
}

/** Create, edit, grant and delete connections (SSH servers, web
 * applications, TCP services and VNC desktops). Secrets are write-only. */
export function AdminConnections() {
  const [connections, setConnections] = useState<Connection[]>([]);
  const [editing, setEditing] = useState<Connection | null>(null);
  // The protocol of the connection being created; an edit keeps its own.
  const [creating, setCreating] = useState<Protocol>("ssh");
  // Bumped after each save: the form starts afresh, its own state included.
  const [generation, setGeneration] = useState(0);
  const [message, setMessage] = useState("");
  const grantees = useGrantees();
  // The stored recording settings and session limits of the connection being
  // edited (defaults for a new one), with the connection they belong to: on the
  // render right after Edit is clicked they are still the previous form's, and
  // the form must not count them as loaded (a save then would overwrite the
  // connection's limits with another form's).
  const [stored, setStored] = useState<StoredSettings>(NEW_SETTINGS);
  useEffect(() => {
    if (!editing) {
      setStored(NEW_SETTINGS);
      return;
    }
    let current = true;
    Promise.all([
      api<RecordingSettings>("GET", `/connections/${editing.id}/recording`),
      api<Limits>("GET", `/connections/${editing.id}/limits`),
    ]).then(
      ([recording, limits]) => current && setStored({ id: editing.id, recording, limits }),
      (e) => setMessage(String(e)),
    );
    return () => {
      current = false;
    };
  }, [editing]);
  const ready = stored.id === (editing?.id ?? null);
  const recording = ready ? stored.recording : null;
  const limits = ready ? stored.limits : null;
  const reload = () =>
    api<Connection[]>("GET", "/connections?all=true").then(setConnections, (e) => setMessage(String(e)));
  useEffect(() => {
    reload();
  }, []);

  const protocol: Protocol = editing?.protocol ?? creating;
  const save = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const d = new FormData(form);
    let body: Record<string, unknown>;
    let newLimits: Limits;
    try {
      newLimits = limitsFrom(d);
      body = {
        name: d.get("name"),
        ...protocolBody(protocol, d, editing),
        users: d.getAll("users").map(String),
        roles: d.getAll("roles").map(String),
      };
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
      return;
    }
    if (!editing && protocol !== "ssh") body.protocol = protocol;
    const settings: RecordingSettings = {
      recording: d.get("recording") === "on",
      record_input: d.get("record_input") === "on",
    };
    try {
      const saved = editing
        ? await api<Connection>("PATCH", `/connections/${editing.id}`, body)
        : await api<Connection>("POST", "/connections", body);
      // A tunnel's contents are never recorded: it has no recording settings to save.
      if (
        protocol !== "tcp" &&
        (!recording ||
          settings.recording !== recording.recording ||
          settings.record_input !== recording.record_input)
      ) {
        await api("PUT", `/connections/${saved.id}/recording`, settings);
      }
      if (!limits || !sameLimits(newLimits, limits)) {
        await api("PUT", `/connections/${saved.id}/limits`, newLimits);
      }
      setMessage(`Saved ${body.name}.`);
      setEditing(null);
      form.reset();
      setGeneration((g) => g + 1);
      await reload();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  const remove = async (c: Connection) => {
    if (!confirm(`Delete connection ${c.name}?`)) return;
    await api("DELETE", `/connections/${c.id}`).catch((err) => setMessage(String(err)));
    await reload();
  };

  const e = editing;
  return (
    <section>
      <h1>Connections</h1>
      {message && <p class="notice" role="status">{message}</p>}
      <form class="inline-form" onSubmit={save} key={`${e?.id ?? "new"}-${generation}-${ready ? "ready" : "loading"}`} aria-label={e ? `Edit ${e.name}` : "Create a connection"}>
        <label>
          Name <input name="name" required defaultValue={e?.name} />
        </label>
        <label>
          Protocol
          <select
            name="protocol"
            value={protocol}
            disabled={!!e}
            title={e ? "A connection keeps its protocol" : undefined}
            onChange={(ev) => setCreating((ev.target as HTMLSelectElement).value as Protocol)}
          >
            <option value="ssh">SSH</option>
            <option value="http">Web application</option>
            <option value="tcp">TCP service (tunnel)</option>
            <option value="vnc">Desktop (VNC)</option>
            <option value="rdp">Desktop (RDP)</option>
          </select>
        </label>
        {protocol === "http" ? (
          <HttpFields e={e} />
        ) : protocol === "tcp" ? (
          <TcpFields e={e} />
        ) : protocol === "vnc" ? (
          <VncFields e={e} />
        ) : protocol === "rdp" ? (
          <RdpFields e={e} />
        ) : (
          <SshFields e={e} />
        )}
        <Picker name="users" label="Users" options={grantees.users} initial={e?.users} />
        <Picker name="roles" label="Roles" options={grantees.roles} initial={e?.roles} />
        {/* Keyed by whether the stored settings have loaded: inputs take their
            default values when they mount, so they mount again once the
            connection's own settings arrive (else a save would clear them). */}
        <Fragment key={ready ? "loaded" : "loading"}>
          {protocol !== "tcp" && (
            <label>
              <input type="checkbox" name="recording" defaultChecked={recording?.recording ?? true} />{" "}
              {protocol === "http" ? "Record the request log" : "Record sessions"}
            </label>
          )}
          {protocol === "ssh" && (
            <label title="Captures everything typed, including passwords typed at prompts">
              <input type="checkbox" name="record_input" defaultChecked={recording?.record_input ?? false} /> Record
              keystrokes too
            </label>
          )}
          <LimitField scope="connection" name="idle_timeout_seconds" label="Idle limit" seconds={limits?.idle_timeout_seconds ?? null} />
          <LimitField scope="connection" name="max_session_seconds" label="Maximum duration" seconds={limits?.max_session_seconds ?? null} />
        </Fragment>
        <button type="submit" disabled={!ready}>
          {e ? "Save changes" : "Create connection"}
        </button>
        {e && (
          <button type="button" onClick={() => setEditing(null)}>
            Cancel
          </button>
        )}
      </form>
      <table aria-label="Connections">
        <thead>
          <tr>
            <th>Name</th>
            <th>Protocol</th>
            <th>Target</th>
            <th>Account</th>
            <th>Host key / settings</th>
            <th>Granted to</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {connections.map((c) => {
            const http = c.protocol === "http" ? httpSummary(c.http, c.publish) : null;
            return (
              <tr key={c.id}>
                <td>{c.name}</td>
                <td>{c.protocol === "http" ? "web application" : c.protocol}</td>
                <td>{http ? c.http?.url ?? `${c.host}:${c.port}` : `${c.host}:${c.port}`}</td>
                <td>{http ? http.account : `${c.username} (${c.auth === "private_key" ? "key" : "password"})`}</td>
                {http ? (
                  <td>{http.settings}</td>
                ) : (
                  <td class="mono" title={(c.host_key_source ?? c.certificate_source) ?? "not pinned yet"}>
                    {(c.host_key_fingerprint ?? c.certificate_fingerprint) ?? "pinned on first use"}
                  </td>
                )}
                <td>
                  {[...(c.users ?? []), ...(c.roles ?? []).map((r) => `role:${r}`)].join(", ")}
                  {c.allow_forwarding && <span class="muted"> · forwarding allowed</span>}
                </td>
                <td>
                  <button type="button" onClick={() => setEditing(c)}>
                    Edit
                  </button>{" "}
                  <button type="button" class="danger" onClick={() => remove(c)}>
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

/** The form fields of a TCP service (`e`: the one being edited). */
function TcpFields({ e }: { e: Connection | null }) {
  return (
    <>
      <AddressFields e={e} />
    </>
  );
}

/** The form fields of a VNC desktop (`e`: the one being edited). */
function VncFields({ e }: { e: Connection | null }) {
  return (
    <>
      <AddressFields e={e} defaultPort={5900} />
      <label>
        {e ? "New VNC password (blank keeps the stored one)" : "VNC password"}
        <input name="secret" type="password" required={!e} autocomplete="off" />
      </label>
      <ClipboardSwitches e={e} />
    </>
  );
}

/** The form fields of an SSH connection (`e`: the one being edited). */
function SshFields({ e }: { e: Connection | null }) {
  return (
    <>
      <AddressFields e={e} defaultPort={22} />
      <label>
        Account <input name="username" required defaultValue={e?.username} />
      </label>
      <label>
        Secret
        {/* Preact has no defaultValue on a select: the option says it is selected. */}
        <select name="kind">
          <option value="password">password</option>
          <option value="private_key" selected={e?.auth === "private_key"}>
            private key
          </option>
        </select>
      </label>
      <label>
        {e ? "New secret (blank keeps the stored one)" : "Password or private key"}
        <textarea name="secret" rows={1} required={!e} autocomplete="off" />
      </label>
      <label>
        Host key (blank: pin on first use)
        <input name="host_key" placeholder="ssh-ed25519 AAAA…" />
      </label>
      <label>
        <input name="allow_forwarding" type="checkbox" defaultChecked={e?.allow_forwarding} /> Allow forwarding (ssh -L and -R)
      </label>
    </>
  );
}
