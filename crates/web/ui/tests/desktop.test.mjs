// A VNC desktop in a browser tab: opened from My connections, the xterm on
// the real Xvnc appears on the canvas, typed keys run a command, and a
// wrong stored password is told in the tab. An administrator watches it
// from Active Sessions on a canvas of their own.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";

import { base, launch, loggedIn } from "./browser.mjs";

const file = process.env.DESKTOP_FILE;
if (!file) throw new Error("DESKTOP_FILE is not set: run through `cargo test` (tests/it/desktops.rs)");

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

/** A fingerprint of the canvas's pixels: it changes when the picture does. */
const picture = (page) =>
  page.evaluate(() => {
    const cv = document.querySelector("canvas.desktop-screen");
    if (!cv || !cv.width) return "";
    const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    let h = 2166136261;
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619);
    return `${cv.width}x${cv.height}:${h >>> 0}`;
  });

/** Waits until `page`'s canvas shows the xterm (its white background). */
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

test("a desktop opens from My connections and takes typed keys", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const [desk] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /lab-desktop/ }).click(),
  ]);
  await desk.waitForFunction(() => document.title === "lab-desktop · Gatehouse");
  // Recorded, as connections are by default; the tab says so.
  await desk.locator(".session-bar .recorded").filter({ hasText: "Recorded" }).waitFor();
  const deadline = Date.now() + 15_000;
  while ((await whitePixels(desk)) < 10_000) {
    if (Date.now() > deadline) throw new Error("the xterm never appeared on the canvas");
    await desk.waitForTimeout(100);
  }
  // The pointer over the xterm (keys go to the window under it: no window
  // manager), then the keys.
  const at = await onPage(desk, 100, 100);
  await desk.mouse.click(at.x, at.y);
  await desk.keyboard.type(`touch ${file}`);
  await desk.keyboard.press("Enter");
  const until = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`typing in the tab did not create ${file}`);
    await desk.waitForTimeout(100);
  }
  await ops.context.close();
});

test("a wrong stored password is told in the tab", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const [desk] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /bad-desktop/ }).click(),
  ]);
  const alert = desk.getByRole("alert");
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /Could not open the desktop: .*password/);
  await ops.context.close();
});

test("an administrator watches a desktop from Active Sessions and sees it change", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const [desk] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /lab-desktop/ }).click(),
  ]);
  await untilXterm(desk);

  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  const [watch] = await Promise.all([
    admin.context.waitForEvent("page"),
    admin.page.getByRole("link", { name: /Watch ops1's session on lab-desktop/ }).click(),
  ]);
  assert.match(watch.url(), /#\/watch-desktop\//);
  await watch.getByRole("status").filter({ hasText: "Watching ops1's desktop (read-only)" }).waitFor();
  assert.equal(await watch.title(), "Gatehouse · watching ops1's desktop");
  // The current screen first: the xterm is there before anything changes.
  await untilXterm(watch);
  await desk.getByRole("status").filter({ hasText: "Watched by admin" }).waitFor();

  // The owner types; the watcher's picture changes with it.
  const before = await picture(watch);
  const at = await onPage(desk, 100, 100);
  await desk.mouse.click(at.x, at.y);
  await desk.keyboard.type("echo seen-by-the-watcher");
  const deadline = Date.now() + 10_000;
  while ((await picture(watch)) === before) {
    if (Date.now() > deadline) throw new Error("the watcher's canvas never changed");
    await watch.waitForTimeout(100);
  }
  // Both pictures settle to the same screen.
  let settled = "";
  for (let i = 0; i < 50 && !settled; i++) {
    await watch.waitForTimeout(200);
    const mine = await picture(watch);
    if (mine === (await picture(desk))) settled = mine;
  }
  assert.ok(settled, "the watcher's picture never matched the owner's");
  // Watching is read-only: keys typed on the watch page reach nothing, so
  // the picture stays as it is.
  await watch.locator("canvas.desktop-screen").click();
  await watch.keyboard.type("xyz");
  await watch.keyboard.press("Enter");
  await watch.waitForTimeout(1500);
  assert.equal(await picture(watch), settled, "the watcher's keys changed the desktop");
  assert.equal(await picture(desk), settled, "the watcher's keys changed the desktop");

  // The owner closes the tab: the watch says the session ended.
  await desk.close();
  const ended = watch.getByRole("alert");
  await ended.waitFor();
  assert.match(await ended.innerText(), /ended|closed/i);
  await ops.context.close();
  await admin.context.close();
});

test("a desktop's recording replays from History, and seeks back and forth", async () => {
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const page = admin.page;
  // The sessions above have ended; their recordings complete a moment later.
  const replay = page.getByRole("link", { name: /Replay ops1's session on lab-desktop/ }).first();
  const deadline = Date.now() + 15_000;
  for (;;) {
    await page.goto(`${base}/#/history`);
    await page.getByRole("heading", { name: "History" }).waitFor();
    if (await replay.count()) break;
    if (Date.now() > deadline) throw new Error("no replayable desktop session in History");
    await page.waitForTimeout(500);
  }
  await replay.click();
  await page.locator("canvas.replay-desktop").waitFor();
  const slider = page.getByRole("slider", { name: "Position" });
  await page.waitForFunction(() => Number(document.querySelector("input[aria-label=Position]")?.getAttribute("max")) > 0);
  const pause = page.getByRole("button", { name: "Pause" });
  if (await pause.count()) await pause.click();
  const end = await slider.getAttribute("max");

  /** Seeks, then waits until the canvas shows what `ok` wants. */
  const seekUntil = async (to, ok, what) => {
    await slider.fill(String(to));
    const until = Date.now() + 10_000;
    for (;;) {
      const white = await whitePixels(page);
      if (ok(white)) return picture(page);
      if (Date.now() > until) throw new Error(`after seeking to ${to}: ${what} (white pixels: ${white})`);
      await page.waitForTimeout(100);
    }
  };
  // The end: the xterm, painted from the key frame and the regions after it.
  const atEnd = await seekUntil(end, (w) => w > 10_000, "the xterm is not shown at the end");
  // Back to the start: the screen before the xterm was drawn.
  await seekUntil(0, (w) => w < 1_000, "the start still shows the xterm");
  // And forward again to the same picture.
  await slider.fill(String(end));
  const until = Date.now() + 10_000;
  while ((await picture(page)) !== atEnd) {
    if (Date.now() > until) throw new Error("seeking to the end again shows another picture");
    await page.waitForTimeout(100);
  }
  await admin.context.close();
});
