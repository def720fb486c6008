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

  await watch.locator(".xterm-helper-textarea").focus().catch(() => undefined);
  await watch.keyboard.type("echo from-watcher-$((1+1))\n");
  await terminal.keyboard.type("echo owner-again\n");
  await waitForScreen(terminal, "owner-again");
  assert.doesNotMatch(await screenText(terminal), /from-watcher-2/, "the watcher typed into the session");

  await admin.page.getByRole("row").filter({ hasText: "ops1" }).filter({ hasText: "2" }).waitFor();
  await watch.close();
  await terminal.getByRole("status").filter({ hasText: "Watched by" }).waitFor({ state: "detached" });
  await ops.context.close();
  await admin.context.close();
});
