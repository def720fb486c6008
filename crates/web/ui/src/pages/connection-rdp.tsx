// The RDP part of the connection form: where the desktop is, the account the
// gateway logs in as, the pinned certificate and the clipboard switches. The
// password is write-only: the API never returns it, so an edit keeps it
// unless a new one is typed.

import type { Connection } from "../api";
import { AddressFields, ClipboardSwitches, addressBody, clipboardBody } from "./connection-fields";

/** The fields of an rdp connection; a blank password keeps the stored one,
 * a blank certificate keeps the pinned one (or pins on first use). */
export function rdpBody(d: FormData): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...addressBody(d, 3389),
    username: d.get("username"),
    domain: String(d.get("domain") ?? "").trim(),
    ...clipboardBody(d),
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
      <AddressFields e={e} defaultPort={3389} />
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
      <ClipboardSwitches e={e} />
    </>
  );
}
