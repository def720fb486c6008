// Single sign-on in a real browser: the login page's "Log in with Test IdP"
// button, the provider's own login and consent pages (oidc-provider, started
// by crates/gatehouse/tests/it/browser.rs), and back to Gatehouse logged in
// with the role the person's groups map to; groups that map to no role get
// a page that says so.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { base, launch } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

/** From the gateway's login page through the provider's forms, as `user`. */
async function signIn(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  await page.goto(base);
  await page.getByRole("link", { name: "Log in with Test IdP" }).click();
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
  return { context, page };
}

test("Log in with Test IdP: back on the gateway, logged in with the mapped admin role", async () => {
  const { context, page } = await signIn("alice");
  await page.getByRole("heading", { name: "My connections" }).waitFor();
  assert.equal(new URL(page.url()).origin, new URL(base).origin);
  // ops-admins maps to admin: the administration pages are offered.
  await page.getByRole("link", { name: "Users" }).waitFor();
  const me = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).json());
  assert.equal(me.username, "alice");
  assert.ok(me.permissions.includes("users.manage"), JSON.stringify(me));
  if (process.env.SCREENSHOT_DIR) {
    await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/sso-logged-in.png` });
  }
  await context.close();
});

test("groups that map to no role: a page that says so, and no login", async () => {
  const { context, page } = await signIn("bob");
  await page.getByRole("heading", { name: "Sign-in refused" }).waitFor();
  const alert = await page.getByRole("alert").innerText();
  assert.match(alert, /your groups give you no role on this gateway/);
  assert.match(alert, /sales/);
  const me = await page.goto(`${base}/api/v1/auth/me`);
  assert.equal(me.status(), 401);
  await context.close();
});
