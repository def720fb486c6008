// The web-application part of the connection form: the app's URL, how the
// gateway trusts and addresses it, and the credential it injects. Secrets
// are write-only: the API never returns the injected password or header
// value, so an edit keeps them unless new ones are typed.

import { useState } from "preact/hooks";

import type { Connection, HttpSettings, Injection } from "../api";

type InjectKind = "none" | Injection["kind"];

/** The form fields of a web application connection (`e`: the one being edited). */
export function HttpFields({ e }: { e: Connection | null }) {
  const h = e?.http;
  const [inject, setInject] = useState<InjectKind>(h?.inject?.kind ?? "none");
  const basic = h?.inject?.kind === "basic" ? h.inject : null;
  const header = h?.inject?.kind === "header" ? h.inject : null;
  const keeps = e ? " (blank keeps the stored one)" : "";
  return (
    <>
      <label>
        URL <input name="url" type="url" required placeholder="http://10.0.0.7:3000" defaultValue={h?.url} size={32} />
      </label>
      <label class="check">
        <input name="tls_verify" type="checkbox" defaultChecked={h?.tls_verify ?? true} /> Verify the app's TLS certificate
      </label>
      <label>
        {h?.ca_certificate ? "New CA certificate (blank keeps the stored one)" : "CA certificate (PEM, optional)"}
        <textarea name="ca_certificate" rows={1} placeholder="-----BEGIN CERTIFICATE-----" />
      </label>
      {h?.ca_certificate && (
        <label class="check">
          <input name="ca_remove" type="checkbox" /> Remove the stored CA certificate
        </label>
      )}
      <label>
        Published
        <select name="publish">
          <option value="host">on a host of its own (NAME.apps domain)</option>
          <option value="path" selected={e?.publish === "path"}>
            under /apps/NAME/ on the gateway (apps with that base path; same origin as the gateway)
          </option>
        </select>
      </label>
      <label>
        Host header
        <select name="host_header">
          <option value="target">the app's own host (from its URL)</option>
          <option value="public" selected={h?.host_header === "public"}>
            the public app host
          </option>
        </select>
      </label>
      <label class="check">
        <input name="redact_query" type="checkbox" defaultChecked={h?.redact_query} /> Leave query strings out of the
        request log
      </label>
      <label>
        Injected credential
        <select
          name="inject"
          value={inject}
          onChange={(ev) => setInject((ev.target as HTMLSelectElement).value as InjectKind)}
        >
          <option value="none">none</option>
          <option value="basic">HTTP basic authentication</option>
          <option value="header">a fixed header (API key)</option>
        </select>
      </label>
      {inject === "basic" && (
        <>
          <label>
            Basic username <input name="inject_username" required autocomplete="off" defaultValue={basic?.username} />
          </label>
          <label>
            {`Basic password${basic ? keeps : ""}`}
            <input name="inject_password" type="password" required={!basic} autocomplete="new-password" />
          </label>
        </>
      )}
      {inject === "header" && (
        <>
          <label>
            Header name <input name="inject_name" required placeholder="X-Api-Key" defaultValue={header?.name} />
          </label>
          <label>
            {`Header value${header ? keeps : ""}`}
            <input name="inject_value" type="password" required={!header} autocomplete="new-password" />
          </label>
        </>
      )}
      <label>
        Identity header (optional)
        <input name="identity_header" placeholder="X-Gatehouse-User" defaultValue={h?.identity_header} />
      </label>
    </>
  );
}

const text = (d: FormData, name: string) => String(d.get(name) ?? "").trim();

/** The injected credential to send: `undefined` leaves the stored one as it is. */
function injection(d: FormData, was: Injection | undefined): Record<string, string> | null | undefined {
  const kind = String(d.get("inject") ?? "none") as InjectKind;
  if (kind === "none") return was ? null : undefined;
  if (kind === "basic") {
    const username = text(d, "inject_username");
    const password = String(d.get("inject_password") ?? "");
    if (password) return { kind, username, password };
    if (was?.kind === "basic" && was.username === username) return undefined;
    throw new Error("Give the password of the injected basic credential.");
  }
  const name = text(d, "inject_name");
  const value = String(d.get("inject_value") ?? "");
  if (value) return { kind, name, value };
  if (was?.kind === "header" && was.name === name) return undefined;
  throw new Error("Give the value of the injected header.");
}

/** The web-application fields of a create (`was` absent) or edit request. */
export function httpBody(d: FormData, was?: HttpSettings): Record<string, unknown> {
  const body: Record<string, unknown> = {
    url: text(d, "url"),
    tls_verify: d.get("tls_verify") === "on",
    host_header: d.get("host_header") === "public" ? "public" : "target",
    publish: d.get("publish") === "path" ? "path" : "host",
    redact_query: d.get("redact_query") === "on",
  };
  const ca = text(d, "ca_certificate");
  if (d.get("ca_remove") === "on") body.ca_certificate = null;
  else if (ca) body.ca_certificate = ca;
  const inject = injection(d, was?.inject);
  if (inject !== undefined) body.inject = inject;
  const identity = text(d, "identity_header");
  if (identity !== (was?.identity_header ?? "")) body.identity_header = identity || null;
  return body;
}

/** How a web application connection is reached and what it is sent, for the list. */
export function httpSummary(
  h: HttpSettings | undefined,
  publish?: "host" | "path",
): { account: string; settings: string } {
  if (!h) return { account: "", settings: "" };
  const account =
    h.inject?.kind === "basic"
      ? `basic auth as ${h.inject.username}`
      : h.inject?.kind === "header"
        ? `header ${h.inject.name}`
        : "no credential";
  const settings = [
    h.url.startsWith("https:")
      ? h.tls_verify
        ? `TLS verified${h.ca_certificate ? " (own CA)" : ""}`
        : "TLS not verified"
      : "plain HTTP",
    h.host_header === "public" ? "public Host" : "",
    publish === "path" ? "under /apps/" : "",
    h.redact_query ? "queries redacted" : "",
    h.identity_header ? `identity in ${h.identity_header}` : "",
  ];
  return { account, settings: settings.filter(Boolean).join(" · ") };
}
