// A desktop left idle in a browser tab: on a gateway whose idle limit is
// 3 s (warned 2 s before), the tab warns with a count-down and a Stay
// connected button; pressing it clears the warning and the count starts
// again; left alone after that, the session ends as idle and the tab says so.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";
import { tabFrom } from "./desktop-tab.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an idle desktop tab is warned, can stay connected, and then ends as idle", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const desk = await tabFrom(ops, /lab-desktop/);
  await desk.waitForFunction(() => document.title === "lab-desktop · Gatehouse");
  const warning = desk.getByRole("alert").filter({ hasText: "No input for a while: this session ends in" });
  await warning.waitFor({ timeout: 10_000 });
  assert.match(await warning.innerText(), /ends in [0-9]s/);

  // Stay connected: the warning goes, and the idle count starts again.
  await warning.getByRole("button", { name: "Stay connected" }).click();
  const stayed = Date.now();
  await warning.waitFor({ state: "detached", timeout: 5_000 });

  // Left alone: warned again, then ended as idle, the reason shown.
  await warning.waitFor({ timeout: 10_000 });
  const ended = desk.getByRole("alert").filter({ hasText: "Idle timeout" });
  await ended.waitFor({ timeout: 10_000 });
  await warning.waitFor({ state: "detached" });
  // The 3 s limit counted again from Stay connected.
  const after = Date.now() - stayed;
  assert.ok(after >= 2_500, `ended ${after} ms after Stay connected`);
  await ops.context.close();
});
