// A real OpenID provider for the single sign-on tests: panva's certified
// `oidc-provider`, with its own login and consent pages (dev interactions:
// any password logs in as the typed name). Started by the Rust tests
// (crates/gatehouse/tests/it/harness/oidc.rs), one per test.
//
// Environment: PORT, CLIENT_SECRET, REDIRECT_URIS (comma-separated) and
// ACCOUNTS (JSON: {"alice": ["ops-admins"], ...}, each account's groups).
//
// A small control surface under /__test lets a test change what the
// provider does next, without touching Gatehouse:
//   POST /__test/groups?user=NAME&groups=a,b  — the account's groups claim
//   POST /__test/mode?mode=normal|wrong-key|expired
//     wrong-key: /jwks publishes another RSA key under the signing key's id,
//                so the id_tokens it signs no longer verify against it;
//     expired:   id_tokens live one second and the token endpoint answers
//                two and a half seconds late, so they arrive expired.
import { generateKeyPairSync } from "node:crypto";

import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const groups = JSON.parse(process.env.ACCOUNTS ?? "{}");
let mode = "normal";

const keyPair = () => generateKeyPairSync("rsa", { modulusLength: 2048 });
const signing = keyPair();
const other = keyPair();
const jwk = (key, kind) => ({ ...key[kind].export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "gatehouse",
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: process.env.REDIRECT_URIS.split(","),
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  jwks: { keys: [jwk(signing, "privateKey")] },
  pkce: { required: () => true },
  // The scope-requested claims go into the id_token, where Gatehouse reads them.
  conformIdTokenClaims: false,
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  ttl: { IdToken: () => (mode === "expired" ? 1 : 3600) },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.test`, groups: groups[id] ?? [] };
      },
    };
  },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  if (ctx.path === "/__test/groups" && ctx.method === "POST") {
    groups[ctx.query.user] = ctx.query.groups ? String(ctx.query.groups).split(",") : [];
    ctx.body = { ok: true, groups };
    return;
  }
  if (ctx.path === "/__test/mode" && ctx.method === "POST") {
    mode = String(ctx.query.mode);
    ctx.body = { ok: true, mode };
    return;
  }
  if (ctx.path === "/jwks" && mode === "wrong-key") {
    ctx.type = "application/jwk-set+json";
    ctx.body = { keys: [jwk(other, "publicKey")] };
    return;
  }
  await next();
  if (ctx.path === "/token" && mode === "expired") {
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
});

provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
