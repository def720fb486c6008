// Sharing a desktop in the browser: the owner shares their desktop tab with
// a user who may type; the user joins from Shared with me, sees the screen
// on a canvas badged Interactive, types a command that runs on the real
// Xvnc's xterm; the owner sees who can type and removes them, and the
// participant's tab says so.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";

const file = process.env.DESKTOP_FILE;
if (!file) throw new Error("DESKTOP_FILE is not set: run through `cargo test` (tests/it/desktops/sharing.rs)");

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

/** How many near-white pixels the canvas shows (the xterm's background). */
const whitePixels = (page) =>
  page.evaluate(() => {
    const cv = document.querySelector("canvas.desktop-screen");
    if (!cv || !cv.width) return 0;
    const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    let white = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 240 && data[i + 1] > 240 && data[i + 2] > 240) white++;
    return white;
  });

async function untilXterm(page) {
  const deadline = Date.now() + 15_000;
  while ((await whitePixels(page)) < 10_000) {
    if (Date.now() > deadline) throw new Error("the xterm never appeared on the canvas");
    await page.waitForTimeout(100);
  }
}

/** Where desktop pixel (x, y) is on the page: the canvas is scaled to fit. */
const onPage = (page, x, y) =>
  page.evaluate(([x, y]) => {
    const cv = document.querySelector("canvas.desktop-screen");
    const r = cv.getBoundingClientRect();
    const scale = Math.min(r.width / cv.width, r.height / cv.height);
    const left = r.left + (r.width - cv.width * scale) / 2;
    const top = r.top + (r.height - cv.height * scale) / 2;
    return { x: left + x * scale, y: top + y * scale };
  }, [x, y]);

test("a desktop shared to type is joined, typed into, and the participant removed", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const kim = await loggedIn(browser, "kim", "kim-password");
  const [desk] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /lab-desktop/ }).click(),
  ]);
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
  const [joined] = await Promise.all([
    kim.context.waitForEvent("page"),
    kim.page.getByRole("link", { name: /Join ops1's session on lab-desktop/ }).click(),
  ]);
  assert.match(joined.url(), /#\/join-desktop\//);
  await joined.getByRole("status").filter({ hasText: "ops1's desktop, shared with you: you can type" }).waitFor();
  await joined.locator(".badge.interactive").filter({ hasText: "Interactive" }).waitFor();
  // The current screen first.
  await untilXterm(joined);
  await desk.getByRole("status").filter({ hasText: "kim can type" }).waitFor();

  // kim's keys run a command on the desktop.
  const at = await onPage(joined, 100, 100);
  await joined.mouse.click(at.x, at.y);
  await joined.keyboard.type(`touch ${file}`);
  await joined.keyboard.press("Enter");
  const until = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`typing in the participant's tab did not create ${file}`);
    await joined.waitForTimeout(100);
  }

  // The owner removes kim: kim's tab says so at once.
  await desk.getByRole("button", { name: "Remove kim (interactive)" }).click();
  const removed = joined.getByRole("alert");
  await removed.waitFor();
  assert.match(await removed.innerText(), /removed from this session by ops1/);
  await desk.getByRole("status").filter({ hasText: "kim was removed" }).waitFor();
  await ops.context.close();
  await kim.context.close();
});
