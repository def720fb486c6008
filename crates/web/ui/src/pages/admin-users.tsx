import { useEffect, useState } from "preact/hooks";

import { api, type PageOf, type Session, type User } from "../api";
import { RoleLimits } from "./limits";
import { ResetSecondFactor } from "./second-factor";

const ROLES = ["admin", "auditor", "user"];

/** Create users, change their roles, lock and unlock them. */
export function AdminUsers() {
  const [users, setUsers] = useState<User[]>([]);
  const [message, setMessage] = useState("");
  // The user about to be locked, with how many live sessions that ends.
  const [locking, setLocking] = useState<{ user: User; live: number } | null>(null);
  const reload = () => api<User[]>("GET", "/users").then(setUsers, (e) => setMessage(String(e)));
  useEffect(() => {
    reload();
  }, []);

  const act = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      setMessage(done);
      await reload();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };

  const create = (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const username = String(data.get("username"));
    act(
      () => api("POST", "/users", { username, password: data.get("password"), roles: data.getAll("roles") }),
      `Created ${username}.`,
    ).then(() => form.reset());
  };
  const setRoles = (u: User, role: string, on: boolean) => {
    const roles = on ? [...u.roles, role] : u.roles.filter((r) => r !== role);
    act(() => api("PATCH", `/users/${u.id}`, { roles }), `Updated ${u.username}'s roles.`);
  };
  // Locking ends every session of the user at once and refuses new logins.
  const setLocked = (u: User, locked: boolean) =>
    act(
      () => api("POST", `/users/${u.id}/${locked ? "lock" : "unlock"}`),
      locked ? `Locked ${u.username}; their sessions ended.` : `Unlocked ${u.username}.`,
    );

  // Locking asks first, saying how many live sessions it ends now.
  const askLock = async (u: User) => {
    try {
      const found = await api<PageOf<Session>>("GET", `/sessions?q=${encodeURIComponent(u.username)}&limit=1000`);
      setLocking({ user: u, live: found.items.filter((s) => s.user === u.username).length });
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  const sessions = (n: number) => (n === 1 ? "1 live session" : `${n} live sessions`);

  return (
    <section>
      <h1>Users</h1>
      {locking && (
        <dialog open aria-modal="true" aria-labelledby="lock-title" class="confirm">
          <h2 id="lock-title">Lock {locking.user.username}?</h2>
          <p>
            {locking.live === 0
              ? `${locking.user.username} has no live sessions. `
              : `This ends ${locking.user.username}'s ${sessions(locking.live)} at once. `}
            They cannot log in until unlocked.
          </p>
          <div class="actions">
            <button
              type="button"
              class="danger"
              onClick={() => {
                const u = locking.user;
                setLocking(null);
                setLocked(u, true);
              }}
            >
              Lock {locking.user.username}
              {locking.live > 0 && ` and end ${sessions(locking.live)}`}
            </button>{" "}
            <button type="button" autofocus onClick={() => setLocking(null)}>
              Cancel
            </button>
          </div>
        </dialog>
      )}
      {message && <p class="notice" role="status">{message}</p>}
      <form class="inline-form" onSubmit={create} aria-label="Create a user">
        <label>
          Username <input name="username" required />
        </label>
        <label>
          Password <input name="password" type="password" minLength={8} required autocomplete="new-password" />
        </label>
        <fieldset>
          <legend>Roles</legend>
          {ROLES.map((r) => (
            <label class="check">
              <input type="checkbox" name="roles" value={r} defaultChecked={r === "user"} /> {r}
            </label>
          ))}
        </fieldset>
        <button type="submit">Create user</button>
      </form>
      <table aria-label="Users">
        <thead>
          <tr>
            <th>User</th>
            {ROLES.map((r) => (
              <th>{r}</th>
            ))}
            <th>Status</th>
            <th>Second factor</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id}>
              <td>{u.username}</td>
              {ROLES.map((r) => (
                <td>
                  <input
                    type="checkbox"
                    aria-label={`${u.username} has role ${r}`}
                    checked={u.roles.includes(r)}
                    onChange={(e) => setRoles(u, r, (e.target as HTMLInputElement).checked)}
                  />
                </td>
              ))}
              <td>
                <button type="button" class={u.disabled ? "" : "danger"} onClick={() => (u.disabled ? setLocked(u, false) : askLock(u))}>
                  {u.disabled ? `Unlock ${u.username}` : `Lock ${u.username}`}
                </button>
                {u.disabled && <span class="muted"> locked</span>}
              </td>
              <td>
                <ResetSecondFactor username={u.username} id={u.id} onDone={setMessage} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <RoleLimits />
    </section>
  );
}
