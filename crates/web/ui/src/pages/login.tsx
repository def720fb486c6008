import { useState } from "preact/hooks";

import { ApiError, api, type Me } from "../api";
import { CodeStep, type PendingLogin } from "./second-factor";
import { SsoButtons } from "./sso";

/** Where to go after logging in: the `next` query parameter, if it is a path
 * on this gateway (`/apps/launch/grafana`, where an app host sent a browser
 * that was not logged in). Anything else — another origin, `//host`, `/\host`
 * (which browsers read as `//host`) — is ignored, so a link cannot use the
 * login page to send people elsewhere. */
export function nextPath(search: string): string | null {
  const next = new URLSearchParams(search).get("next");
  if (!next || !next.startsWith("/") || next.startsWith("//") || /[\\\s]/.test(next)) return null;
  try {
    const url = new URL(next, location.origin);
    if (url.origin !== location.origin) return null;
    return url.pathname + url.search + url.hash;
  } catch {
    return null;
  }
}

export function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [pending, setPending] = useState<PendingLogin | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError("");
    try {
      const resp = await api<{ user: Me } | PendingLogin>("POST", "/auth/login", {
        username: form.get("username"),
        password: form.get("password"),
      });
      if ("pending" in resp) setPending(resp);
      else onLogin(resp.user);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError("Invalid username or password.");
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  if (pending)
    return (
      <CodeStep
        step={pending}
        onLogin={onLogin}
        onRestart={(why) => {
          setPending(null);
          setError(why);
        }}
      />
    );
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Gatehouse</h1>
        <label>
          Username
          <input name="username" autocomplete="username" required autofocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Log in
        </button>
        <SsoButtons />
      </form>
    </main>
  );
}
