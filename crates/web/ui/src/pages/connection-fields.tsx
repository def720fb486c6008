// Rows the connection form's protocols share: the host and port of every
// target reached at one, and a desktop's two clipboard switches.

import type { Connection } from "../api";

/** The host and port a form names; a blank port is `defaultPort`. */
export function addressBody(d: FormData, defaultPort?: number): { host: unknown; port: number } {
  return { host: d.get("host"), port: Number(d.get("port") || defaultPort) };
}

/** The clipboard switches a desktop form names. */
export function clipboardBody(d: FormData): { clipboard_to_desktop: boolean; clipboard_from_desktop: boolean } {
  return {
    clipboard_to_desktop: d.get("clipboard_to_desktop") === "on",
    clipboard_from_desktop: d.get("clipboard_from_desktop") === "on",
  };
}

/** Host and port rows (`e`: the connection being edited). Without a
 * `defaultPort` the port must be given. */
export function AddressFields({ e, defaultPort }: { e: Connection | null; defaultPort?: number }) {
  const port = e?.port ?? defaultPort;
  return (
    <>
      <label>
        Host <input name="host" required defaultValue={e?.host} />
      </label>
      <label>
        Port{" "}
        <input
          name="port"
          type="number"
          required={defaultPort === undefined}
          min={1}
          max={65535}
          defaultValue={port === undefined ? undefined : String(port)}
        />
      </label>
    </>
  );
}

/** Which ways a desktop's clipboard text may cross (both on for a new one). */
export function ClipboardSwitches({ e }: { e: Connection | null }) {
  return (
    <>
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
