import { useEffect, useState } from "preact/hooks";

import { api } from "../api";
import { nextPath } from "./login";

/** A single sign-on provider, as `GET /auth/providers` lists it. */
interface Provider {
  name: string;
  display_name: string;
  start_url: string;
}

/** "Log in with …" for each configured OpenID Connect provider. Each is a
 * plain link: the browser leaves for the provider and comes back logged in
 * (to the page the login page was asked to open next). */
export function SsoButtons() {
  const [providers, setProviders] = useState<Provider[]>([]);
  useEffect(() => {
    api<Provider[]>("GET", "/auth/providers")
      .then(setProviders)
      .catch(() => setProviders([]));
  }, []);
  if (providers.length === 0) return null;
  const next = nextPath(location.search) ?? "/" + location.hash;
  return (
    <div class="sso" role="group" aria-label="Single sign-on">
      {providers.map((p) => (
        <a key={p.name} class="button" href={`${p.start_url}?next=${encodeURIComponent(next)}`}>
          Log in with {p.display_name}
        </a>
      ))}
    </div>
  );
}
