// An idle browser terminal is warned, can stay connected, and otherwise ends
// with "Idle timeout"; Active Sessions flags the session as about to end.
// (The gateway runs with a 4 s idle limit and a 3 s warning.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PROMPT, launch, loggedIn, waitForScreen } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an idle terminal is warned, stays connected on request, then ends with Idle timeout", async () => {
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const [terminal] = await Promise.all([
    admin.context.waitForEvent("page"),
    admin.page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);

  const warning = terminal.getByRole("alert").filter({ hasText: "No input for a while" });
  await warning.waitFor();
  assert.match(await warning.innerText(), /ends in \ds/);

  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  await admin.page.locator("tr.expiring").filter({ hasText: "prod-db" }).waitFor();

  await terminal.getByRole("button", { name: "Stay connected" }).click();
  await warning.waitFor({ state: "detached" });

  await warning.waitFor();
  await terminal.getByRole("alert").filter({ hasText: "Idle timeout" }).waitFor();
  await admin.page.locator(".count").filter({ hasText: "0 of 0 sessions" }).waitFor();
  await admin.context.close();
});
