// Sharing a desktop in the browser: the owner shares their desktop tab with
// a user who may type; the user joins from Shared with me, sees the screen
// on a canvas badged Interactive, types a command that runs on the real
// Xvnc's xterm; the owner sees who can type and removes them, and the
// participant's tab says so.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";
import { tabFrom, typeIntoXterm, untilFile, untilXterm } from "./desktop-tab.mjs";

const file = process.env.DESKTOP_FILE;
if (!file) throw new Error("DESKTOP_FILE is not set: run through `cargo test` (tests/it/desktops/sharing.rs)");

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("a desktop shared to type is joined, typed into, and the participant removed", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const kim = await loggedIn(browser, "kim", "kim-password");
  const desk = await tabFrom(ops, /lab-desktop/);
  await untilXterm(desk);

  // The owner shares from the desktop tab's bar.
  await desk.getByRole("button", { name: "Share", exact: true }).click();
  const dialog = desk.getByRole("dialog", { name: "Share this session" });
  await dialog.getByLabel("User").fill("kim");
  await dialog.getByLabel("Access").selectOption("interactive");
  await dialog.getByRole("button", { name: "Share" }).click();
  await desk.getByRole("status").filter({ hasText: "Shared with kim" }).waitFor();

  // kim joins from Shared with me, in a tab of its own.
  await kim.page.getByRole("link", { name: "Shared with me" }).click();
  const joined = await tabFrom(kim, /Join ops1's session on lab-desktop/);
  assert.match(joined.url(), /#\/join-desktop\//);
  await joined.getByRole("status").filter({ hasText: "ops1's desktop, shared with you: you can type" }).waitFor();
  await joined.locator(".badge.interactive").filter({ hasText: "Interactive" }).waitFor();
  // The current screen first.
  await untilXterm(joined);
  await desk.getByRole("status").filter({ hasText: "kim can type" }).waitFor();

  // kim's keys run a command on the desktop.
  await typeIntoXterm(joined, `touch ${file}`);
  await untilFile(joined, file, "typing in the participant's tab");

  // The owner removes kim: kim's tab says so at once.
  await desk.getByRole("button", { name: "Remove kim (interactive)" }).click();
  const removed = joined.getByRole("alert");
  await removed.waitFor();
  assert.match(await removed.innerText(), /removed from this session by ops1/);
  await desk.getByRole("status").filter({ hasText: "kim was removed" }).waitFor();
  await ops.context.close();
  await kim.context.close();
});
