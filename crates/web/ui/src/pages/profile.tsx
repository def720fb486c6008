import { useEffect, useState } from "preact/hooks";

import { api, type Connection, localTime, type Me } from "../api";
import { SecondFactor } from "./second-factor";

interface SshKey {
  id: string;
  name: string;
  public_key: string;
  fingerprint: string;
  created_at: string;
  last_used_at: string | null;
}

interface Gateway {
  ssh: { port: number; host_key: string; host_key_fingerprint: string } | null;
}

/** The keys this user logs in with from their own ssh, and how to reach the listener. */
export function Profile({ me }: { me: Me }) {
  // Each `null` until it arrives: an empty list or a missing listener is
  // said only once the gateway said so.
  const [keys, setKeys] = useState<SshKey[] | null>(null);
  const [gateway, setGateway] = useState<Gateway | null>(null);
  const [connections, setConnections] = useState<Connection[] | null>(null);
  const [message, setMessage] = useState("");
  const reload = () => api<SshKey[]>("GET", "/profile/keys").then(setKeys, (e) => setMessage(String(e)));
  useEffect(() => {
    reload();
    api<Gateway>("GET", "/gateway").then(setGateway, () => undefined);
    api<Connection[]>("GET", "/connections").then(setConnections, () => setConnections([]));
  }, []);

  const add = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const d = new FormData(form);
    try {
      const key = await api<SshKey>("POST", "/profile/keys", { name: d.get("name"), public_key: d.get("public_key") });
      setMessage(`Added ${key.name} (${key.fingerprint}).`);
      form.reset();
      await reload();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  const remove = async (k: SshKey) => {
    if (!confirm(`Remove key ${k.name}?`)) return;
    await api("DELETE", `/profile/keys/${k.id}`).catch((err) => setMessage(String(err)));
    await reload();
  };

  const ssh = gateway?.ssh;
  const host = location.hostname;
  const example = connections?.[0]?.name ?? "CONNECTION";
  return (
    <section>
      <h1>SSH keys</h1>
      {gateway === null || connections === null ? null : ssh ? (
        <p>
          Use your own ssh, scp or sftp: <code class="mono">ssh -p {ssh.port} {me.username}:{example}@{host}</code>, or{" "}
          <code class="mono">ssh -p {ssh.port} {me.username}@{host}</code> to pick from a menu. The gateway's host key is{" "}
          <code class="mono" aria-label="Gateway host key fingerprint">{ssh.host_key_fingerprint}</code>: check that ssh shows the same on
          first connect. <code class="mono">gatehouse ssh-config</code> prints a ready ~/.ssh/config.
        </p>
      ) : (
        <p>This gateway does not run an SSH listener.</p>
      )}
      {message && <p class="notice" role="status">{message}</p>}
      <form class="inline-form" onSubmit={add} aria-label="Add a key">
        <label>
          Name <input name="name" required placeholder="laptop" maxLength={64} />
        </label>
        <label>
          Public key <textarea name="public_key" required rows={2} placeholder="ssh-ed25519 AAAA… (from ~/.ssh/id_ed25519.pub)" />
        </label>
        <button type="submit">Add key</button>
      </form>
      <table aria-label="SSH keys">
        <thead>
          <tr>
            <th>Name</th>
            <th>Fingerprint</th>
            <th>Added</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys?.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td class="mono">{k.fingerprint}</td>
              <td>{localTime(k.created_at)}</td>
              <td>{localTime(k.last_used_at) || "never"}</td>
              <td>
                <button type="button" class="danger" onClick={() => remove(k)} aria-label={`Remove ${k.name}`}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {keys?.length === 0 && <p class="muted">No keys yet.</p>}
      <SecondFactor />
    </section>
  );
}
