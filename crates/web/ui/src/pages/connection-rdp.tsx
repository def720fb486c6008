// The RDP part of the connection form: where the desktop is, the account the
// gateway logs in as, the pinned certificate and the clipboard switches. The
// password is write-only: the API never returns it, so an edit keeps it
// unless a new one is typed.

import type { Connection } from "../api";

/** The fields of an rdp connection; a blank password keeps the stored one,
 * a blank certificate keeps the pinned one (or pins on first use). */
export function rdpBody(d: FormData): Record<string, unknown> {
  const body: Record<string, unknown> = {
    host: d.get("host"),
    port: Number(d.get("port") || 3389),
    username: d.get("username"),
    domain: String(d.get("domain") ?? "").trim(),
    clipboard_to_desktop: d.get("clipboard_to_desktop") === "on",
    clipboard_from_desktop: d.get("clipboard_from_desktop") === "on",
  };
  const password = String(d.get("secret") ?? "");
  if (password) body.password = password;
  const certificate = String(d.get("certificate") ?? "").trim();
  if (certificate) body.certificate = certificate;
  return body;
}

/** The form fields of an RDP desktop (`e`: the one being edited). */
export function RdpFields({ e }: { e: Connection | null }) {
  return (
    <>
      <label>
        Host <input name="host" required defaultValue={e?.host} />
      </label>
      <label>
        Port <input name="port" type="number" min={1} max={65535} defaultValue={String(e?.port ?? 3389)} />
      </label>
      <label>
        Account <input name="username" required defaultValue={e?.username} />
      </label>
      <label>
        Domain <input name="domain" placeholder="optional" defaultValue={e?.domain} />
      </label>
      <label>
        {e ? "New password (blank keeps the stored one)" : "Password"}
        <input name="secret" type="password" required={!e} autocomplete="off" />
      </label>
      <label>
        Certificate (blank: {e?.certificate_fingerprint ? "keep the pinned one" : "pin on first use"})
        <input name="certificate" placeholder="SHA256:…" />
      </label>
      <label>
        <input name="clipboard_to_desktop" type="checkbox" defaultChecked={e?.clipboard_to_desktop ?? true} /> Paste from
        the browser to the desktop
      </label>
      <label>
        <input name="clipboard_from_desktop" type="checkbox" defaultChecked={e?.clipboard_from_desktop ?? true} /> Copy
        from the desktop to the browser
      </label>
    </>
  );
}
