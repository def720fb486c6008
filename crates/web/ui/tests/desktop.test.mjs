// A VNC desktop in a browser tab: opened from My connections, the xterm on
// the real Xvnc appears on the canvas, typed keys run a command, and a
// wrong stored password is told in the tab. An administrator watches it
// from Active Sessions on a canvas of their own, ends one from there (the
// tab says who and why), and replays the watched one from History to the
// very screen with the typed text.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";
import {
  activeSessionId,
  endFromActiveSessions,
  picture,
  replayEndsOn,
  settledAlike,
  tabFrom,
  typeIntoXterm,
  untilChanged,
  untilFile,
  untilPicture,
  untilXterm,
  watchFromActiveSessions,
  whitePixels,
} from "./desktop-tab.mjs";

const file = process.env.DESKTOP_FILE;
if (!file) throw new Error("DESKTOP_FILE is not set: run through `cargo test` (tests/it/desktops.rs)");

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("a desktop opens from My connections and takes typed keys", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const desk = await tabFrom(ops, /lab-desktop/);
  await desk.waitForFunction(() => document.title === "lab-desktop · Gatehouse");
  // Recorded, as connections are by default; the tab says so.
  await desk.locator(".session-bar .recorded").filter({ hasText: "Recorded" }).waitFor();
  await untilXterm(desk);
  await typeIntoXterm(desk, `touch ${file}`);
  await untilFile(desk, file);
  await ops.context.close();
});

test("a wrong stored password is told in the tab", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const desk = await tabFrom(ops, /bad-desktop/);
  const alert = desk.getByRole("alert");
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /Could not open the desktop: .*password/);
  await ops.context.close();
});

/** The watched session's id, and its last screen (the typed text on it),
 * which its replay below must end on. */
const watched = { id: "", typed: "" };

test("an administrator watches a desktop from Active Sessions and sees it change", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const desk = await tabFrom(ops, /lab-desktop/);
  await untilXterm(desk);

  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  watched.id = await activeSessionId(admin, "lab-desktop");
  const watch = await watchFromActiveSessions(admin, desk, "lab-desktop");

  // The owner types; the watcher's picture changes with it.
  const before = await picture(watch);
  await typeIntoXterm(desk, "echo seen-by-the-watcher", { enter: false });
  await untilChanged(watch, before, "the owner typed");
  // Both pictures settle to the same screen.
  const settled = await settledAlike(watch, desk, "the watcher and the owner");
  watched.typed = settled;
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

test("an administrator ends a desktop from Active Sessions; the tab says who and why", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const desk = await tabFrom(ops, /lab-desktop/);
  await untilXterm(desk);
  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  await activeSessionId(admin, "lab-desktop");
  await endFromActiveSessions(admin, desk, "lab-desktop", "patching the lab");
  await ops.context.close();
  await admin.context.close();
});

test("a desktop's recording replays from History to the typed text, and seeks back and forth", async () => {
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const page = admin.page;
  // The end: the very screen the owner and the watcher saw, the typed text on it.
  const { slider, end } = await replayEndsOn(page, watched.id, "lab-desktop", watched.typed);
  // Back to the start: the screen before the xterm was drawn.
  await slider.fill("0");
  const until = Date.now() + 10_000;
  while ((await whitePixels(page)) >= 1_000) {
    if (Date.now() > until) throw new Error("after seeking to the start, it still shows the xterm");
    await page.waitForTimeout(100);
  }
  // And forward again to the same picture.
  await slider.fill(end);
  await untilPicture(page, watched.typed, "seeking to the end again shows another picture");
  await admin.context.close();
});
