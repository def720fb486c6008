// Watch across nodes (issue 20): an administrator on node A watches, from
// Active Sessions, a session node B relays (A relays it from B over the
// internal channel), sees the screen as it is, ends the session from A,
// and the watch tab says who ended it. The harness (tests/it/cluster/
// browser.rs) opened the session on B and typed into it before this runs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launch, loggedIn, waitForScreen } from "./browser.mjs";

const ownerNode = process.env.OWNER_NODE;
const shots = process.env.SCREENSHOT_DIR;

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an administrator on one node watches and ends a session another node relays", async () => {
  assert.ok(ownerNode, "OWNER_NODE is set by the harness");
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  const row = admin.page.locator("tbody tr[data-session]").filter({ hasText: "ops1" });
  await row.filter({ hasText: ownerNode }).waitFor();

  const [watch] = await Promise.all([
    admin.context.waitForEvent("page"),
    admin.page.getByRole("link", { name: /Watch ops1's session on prod-db/ }).click(),
  ]);
  await watch.getByRole("status").filter({ hasText: "Watching ops1's session (read-only)" }).waitFor();
  // The current screen first: typed on B before the watch began.
  await waitForScreen(watch, "before-watch-42");
  if (shots) await watch.screenshot({ path: `${shots}/watch-across-nodes.png` });

  // Ended from A: the row goes and the watch tab says who ended it.
  await admin.page.getByRole("checkbox", { name: /Select ops1's session on prod-db/ }).check();
  await admin.page.getByRole("button", { name: /^End Sessions/ }).click();
  const dialog = admin.page.getByRole("dialog");
  await dialog.getByLabel("Message to the users (optional)").fill("moving to another node");
  await dialog.getByRole("button", { name: "End 1 session" }).click();
  await admin.page.getByRole("status").filter({ hasText: "Ended 1 session." }).waitFor();
  const banner = watch.getByRole("alert").filter({ hasText: "Session ended by administrator admin" });
  await banner.waitFor();
  assert.match(await banner.innerText(), /moving to another node/);
  await row.waitFor({ state: "detached" });
  await admin.context.close();
});
