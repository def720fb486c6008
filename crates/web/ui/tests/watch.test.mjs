// Watch from Active Sessions: the administrator's watch tab shows the user's
// screen as it is, follows it live, and the user sees that they are watched.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PROMPT, launch, loggedIn, screenText, waitForScreen } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an administrator watches a live session from Active Sessions", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const [terminal] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("echo before-watch-$((6*7))\n");
  await waitForScreen(terminal, "before-watch-42");

  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  const [watch] = await Promise.all([
    admin.context.waitForEvent("page"),
    admin.page.getByRole("link", { name: /Watch ops1's session on prod-db/ }).click(),
  ]);
  await watch.getByRole("status").filter({ hasText: "Watching ops1's session (read-only)" }).waitFor();
  await waitForScreen(watch, "before-watch-42");

  await terminal.getByRole("status").filter({ hasText: "Watched by admin" }).waitFor();
  await terminal.keyboard.type("echo while-watched-$((5*5))\n");
  await waitForScreen(watch, "while-watched-25");

  // The watcher types, as a person would, into the read-only page; and, as
  // a client that ignores the page's read-only mode would, sends keystrokes
  // down the watch socket itself. Neither reaches the shell: the gateway
  // drops a watcher's input, whatever the page does. A ping after the
  // keystrokes comes back only once the gateway has read (and dropped) them.
  await watch.locator(".xterm-helper-textarea").focus().catch(() => undefined);
  await watch.keyboard.type("echo from-watcher-$((1+1))\n");
  const sessionId = new URL(watch.url()).hash.split("/").pop();
  const sent = await watch.evaluate(async (id) => {
    const ws = new WebSocket(`ws://${location.host}/api/v1/sessions/${id}/watch`);
    ws.binaryType = "arraybuffer";
    await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
    ws.send(new TextEncoder().encode("echo from-socket-$((3+3))\n"));
    // The browser cannot send a WebSocket ping; a control message the
    // gateway answers in order does the same job: the watcher's own close.
    await new Promise((done) => { ws.onclose = done; ws.close(1000); });
    return true;
  }, sessionId);
  assert.equal(sent, true);
  await terminal.keyboard.type("echo owner-again-$((4+4))\n");
  await waitForScreen(terminal, "owner-again-8");
  const screen = await screenText(terminal);
  assert.doesNotMatch(screen, /from-watcher-2/, "the watcher's typing reached the shell");
  assert.doesNotMatch(screen, /from-socket-6/, "a watcher's keystrokes sent down the socket reached the shell");

  // Two people on the session, by the participants button's accessible name.
  await admin.page
    .getByRole("button", { name: "2 participants in ops1's session: show them" })
    .waitFor();
  await watch.close();
  await terminal.getByRole("status").filter({ hasText: "Watched by" }).waitFor({ state: "detached" });
  await ops.context.close();
  await admin.context.close();
});
