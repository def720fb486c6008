// The gateway serving HTTPS itself, in a real browser: pages over HTTP/2, a
// Secure session cookie, the terminal's WebSocket (HTTP/1.1, wss://), the
// live feed, and End Sessions (a cookie-authenticated POST over HTTP/2).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PROMPT, base, launch, loggedIn, waitForScreen } from "./browser.mjs";

const adminPassword = process.env.GATEHOUSE_ADMIN_PASSWORD;
let browser;

before(async () => {
  assert.match(base, /^https:/, "run against a gateway that serves TLS");
  browser = await launch();
});
after(() => browser?.close());

test("over HTTPS a user works in a terminal and an administrator ends the session", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const protocol = await ops.page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  assert.equal(protocol, "h2", "the page came over HTTP/2");
  const [cookie] = (await ops.context.cookies()).filter((c) => c.name === "gatehouse_session");
  assert.equal(cookie.secure, true);
  assert.equal(cookie.httpOnly, true);

  const [terminal] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("echo over-https-$((6*7))\n");
  await waitForScreen(terminal, "over-https-42");

  const admin = await loggedIn(browser, "admin", adminPassword);
  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  await admin.page.locator(".count").filter({ hasText: "1 of 1 sessions" }).waitFor();
  await admin.page.getByRole("checkbox", { name: /Select ops1's session on prod-db/ }).check();
  await admin.page.getByRole("button", { name: /^End Sessions/ }).click();
  await admin.page.getByRole("dialog").getByRole("button", { name: "End 1 session" }).click();
  await admin.page.getByRole("status").filter({ hasText: "Ended 1 session." }).waitFor();
  await terminal.getByRole("alert").filter({ hasText: "Session ended by administrator admin" }).waitFor();

  await ops.context.close();
  await admin.context.close();
});
