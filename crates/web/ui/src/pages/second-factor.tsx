// The TOTP second factor in the browser: the login's code step (and the
// enrolment a role can require there), and the profile's section to add or
// remove an authenticator. The QR code is an SVG the gateway draws.

import { useEffect, useState } from "preact/hooks";

import { ApiError, api, type Me } from "../api";

export interface Enrolment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

/** The password step's answer when a code must follow. */
export interface PendingLogin {
  second_factor: "code" | "enrol";
  pending: string;
  expires_in: number;
  enrolment?: Enrolment;
}

interface Status {
  enabled: boolean;
  required: boolean;
  recovery_codes_left: number;
}

const message = (err: unknown) => {
  if (err instanceof ApiError && err.code === "bad_code") return "Wrong or already used code. Try the next one.";
  return err instanceof Error ? err.message : String(err);
};

/** The authenticator to add: its QR code, and the secret for typing in. */
function AddAuthenticator({ enrolment }: { enrolment: Enrolment }) {
  return (
    <div class="enrolment">
      <img
        class="qr"
        width={200}
        height={200}
        alt="QR code to scan with your authenticator app"
        src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qr_svg)}`}
      />
      <p>
        Scan it with an authenticator app, or type in the key{" "}
        <code class="mono" aria-label="Authenticator key">
          {enrolment.secret}
        </code>
        .
      </p>
      <details>
        <summary>Link</summary>
        <code class="mono" aria-label="otpauth link">
          {enrolment.otpauth_uri}
        </code>
      </details>
    </div>
  );
}

/** Recovery codes, shown once. */
function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <div role="status">
      <p>
        Keep these recovery codes somewhere safe: each logs you in once if you lose your authenticator. They are not
        shown again.
      </p>
      <ol class="recovery-codes mono" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ol>
    </div>
  );
}

function CodeInput({ focus }: { focus?: boolean }) {
  return (
    <label>
      Verification code
      <input name="code" inputMode="numeric" autocomplete="one-time-code" required autofocus={focus} maxLength={64} />
    </label>
  );
}

/** The login's second step. */
export function CodeStep({
  step,
  onLogin,
  onRestart,
}: {
  step: PendingLogin;
  onLogin: (me: Me) => void;
  onRestart: (why: string) => void;
}) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<{ user: Me; codes: string[] } | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError("");
    try {
      const resp = await api<{ user: Me; recovery_codes?: string[] }>("POST", "/auth/login/code", {
        pending: step.pending,
        code: form.get("code"),
      });
      if (resp.recovery_codes) setDone({ user: resp.user, codes: resp.recovery_codes });
      else onLogin(resp.user);
    } catch (err) {
      if (err instanceof ApiError && err.code === "login_expired") onRestart("The login expired. Log in again.");
      else setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  if (done)
    return (
      <main class="login">
        <form
          aria-labelledby="login-title"
          onSubmit={(e) => {
            e.preventDefault();
            onLogin(done.user);
          }}
        >
          <h1 id="login-title">Second factor on</h1>
          <RecoveryCodes codes={done.codes} />
          <button type="submit">Continue</button>
        </form>
      </main>
    );
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Second factor</h1>
        {step.enrolment ? (
          <>
            <p>Your role requires a second factor. Add this account to your authenticator app, then enter its code.</p>
            <AddAuthenticator enrolment={step.enrolment} />
          </>
        ) : (
          <p>Enter the code from your authenticator app, or a recovery code.</p>
        )}
        <CodeInput focus />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Verify
        </button>
      </form>
    </main>
  );
}

/** The profile's second-factor section. */
export function SecondFactor() {
  const [status, setStatus] = useState<Status | null>(null);
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [note, setNote] = useState("");
  const reload = () => api<Status>("GET", "/profile/second-factor").then(setStatus, (e) => setNote(message(e)));
  useEffect(() => {
    reload();
  }, []);

  const start = async () => {
    setNote("");
    setCodes(null);
    try {
      setEnrolment(await api<Enrolment>("POST", "/profile/second-factor/enrol"));
    } catch (err) {
      setNote(message(err));
    }
  };
  const confirm = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    try {
      const resp = await api<{ recovery_codes: string[] }>("POST", "/profile/second-factor/confirm", {
        code: new FormData(form).get("code"),
      });
      setEnrolment(null);
      setCodes(resp.recovery_codes);
      setNote("Second factor on: logins now ask for a code.");
      await reload();
    } catch (err) {
      setNote(message(err));
    }
  };
  const disable = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    try {
      await api("POST", "/profile/second-factor/disable", { code: new FormData(form).get("code") });
      setCodes(null);
      setNote("Second factor off.");
      await reload();
    } catch (err) {
      setNote(message(err));
    }
  };

  return (
    <section aria-labelledby="second-factor-title">
      <h2 id="second-factor-title">Second factor</h2>
      {status && (
        <p>
          {status.enabled
            ? `On: logins ask for a code from your authenticator app. ${status.recovery_codes_left} recovery codes left.`
            : "Off: logins ask only for your password."}
          {status.required && " Your role requires it."}
        </p>
      )}
      {note && (
        <p class="notice" role="status">
          {note}
        </p>
      )}
      {codes && <RecoveryCodes codes={codes} />}
      {status && !status.enabled && !enrolment && (
        <button type="button" onClick={start}>
          Add an authenticator
        </button>
      )}
      {enrolment && (
        <form class="inline-form" onSubmit={confirm} aria-label="Confirm the authenticator">
          <AddAuthenticator enrolment={enrolment} />
          <CodeInput />
          <button type="submit">Turn on</button>
        </form>
      )}
      {status?.enabled && !status.required && (
        <form class="inline-form" onSubmit={disable} aria-label="Turn the second factor off">
          <CodeInput />
          <button type="submit" class="danger">
            Turn off
          </button>
        </form>
      )}
    </section>
  );
}

/** Whether a role's holders must log in with a second factor (`users.manage`):
 * a checkbox in the role's row on the Users page, saved when changed. */
export function RoleSecondFactor({
  role,
  required,
  onDone,
}: {
  role: string;
  required: boolean;
  onDone: (note: string) => void;
}) {
  // Shown as ticked at once, and as stored once the answer comes.
  const [ticked, setTicked] = useState(required);
  useEffect(() => setTicked(required), [required]);
  const set = async (on: boolean) => {
    setTicked(on);
    try {
      await api("PUT", `/roles/${encodeURIComponent(role)}/second-factor`, { required: on });
      onDone(
        on
          ? `Holders of ${role} now log in with a second factor; those without one add it at their next login.`
          : `Holders of ${role} may log in without a second factor.`,
      );
    } catch (err) {
      setTicked(!on);
      onDone(message(err));
    }
  };
  return (
    <label class="check">
      <input type="checkbox" checked={ticked} onChange={(e) => set((e.target as HTMLInputElement).checked)} />
      {`${role} must use a second factor`}
    </label>
  );
}

/** An administrator removes a user's authenticator (a lost phone). */
export function ResetSecondFactor({ username, id, onDone }: { username: string; id: string; onDone: (note: string) => void }) {
  const reset = async () => {
    if (!confirm(`Remove ${username}'s second factor? They can log in with their password alone (or must add a new one, if a role requires it).`))
      return;
    try {
      await api("DELETE", `/users/${id}/second-factor`);
      onDone(`Removed ${username}'s second factor.`);
    } catch (err) {
      onDone(message(err));
    }
  };
  return (
    <button type="button" onClick={reset} aria-label={`Reset ${username}'s second factor`}>
      Reset
    </button>
  );
}
