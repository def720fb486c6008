// An RDP desktop in a browser tab: the same tab as VNC's, opened from My
// connections; the xterm on the real RDP server (FreeRDP's shadow server)
// appears on the canvas and keys typed in the page — capitals included —
// run a command there. An administrator watches it from Active Sessions and
// sees the same change, ends it from there (the tab says who and why), and
// replays it from History to the very screen the user left, typing shown.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";
import {
  activeSessionId,
  endFromActiveSessions,
  picture,
  pointAtXterm,
  replayEndsOn,
  settledAlike,
  tabFrom,
  typeIntoXterm,
  untilChanged,
  untilFile,
  untilPicture,
  untilXterm,
  watchFromActiveSessions,
} from "./desktop-tab.mjs";

const file = process.env.DESKTOP_FILE;
if (!file) throw new Error("DESKTOP_FILE is not set: run through `cargo test` (tests/it/desktops/rdp.rs)");

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an RDP desktop opens from My connections and takes typed keys, capitals included", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const desk = await tabFrom(ops, /win-desktop/);
  await desk.waitForFunction(() => document.title === "win-desktop · Gatehouse");
  await untilXterm(desk);
  // The file's path has capitals: Playwright types them without a Shift key
  // event, and the gateway adds the Shift press the server needs.
  await typeIntoXterm(desk, `touch ${file}`);
  await untilFile(desk, file);
  await ops.context.close();
});

/** What the next two tests share: the watched session's id, and the
 * owner's screen when it was ended (the typed command on it) and before. */
const watched = { id: "", typed: "", before: "" };

test("an administrator watches an RDP desktop from Active Sessions, sees the same change, and ends it", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const desk = await tabFrom(ops, /win-desktop/);
  await untilXterm(desk);

  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  watched.id = await activeSessionId(admin, "win-desktop");
  const watch = await watchFromActiveSessions(admin, desk, "win-desktop");

  // The owner types; the watcher's picture changes with it and settles to
  // the owner's, pixel for pixel. (The pointer first, so that only the
  // typing changes the picture.)
  await pointAtXterm(desk);
  watched.before = await settledAlike(watch, desk, "before typing, the watcher and the owner");
  await typeIntoXterm(desk, "echo Watched-And-Replayed-42");
  await untilChanged(watch, watched.before, "the owner typed");
  watched.typed = await settledAlike(watch, desk, "after typing, the watcher and the owner");
  assert.notEqual(watched.typed, watched.before);

  // The administrator ends it from Active Sessions, with a message: the
  // RDP tab says who ended it and why, and so does the watch.
  await endFromActiveSessions(admin, desk, "win-desktop", "patching the server");
  await watch.getByRole("alert").filter({ hasText: /ended/i }).waitFor();
  // The ended tab keeps the last picture.
  assert.equal(await picture(desk), watched.typed, "the ended tab lost its picture");
  await ops.context.close();
  await admin.context.close();
});

test("the RDP session's recording replays from History to the screen with the typed command", async () => {
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const page = admin.page;
  // The end: the very screen the user and the watcher saw with the command typed.
  const { slider } = await replayEndsOn(page, watched.id, "win-desktop", watched.typed);
  // Back to the start: the typing is not there yet.
  await slider.fill("0");
  await untilChanged(page, watched.typed, "seeking back to the start");
  // Played (fast, idle stretches skipped), it comes to the typed command again.
  await page.getByLabel("Speed").selectOption("4");
  await page.getByRole("button", { name: "Play" }).click();
  await untilPicture(page, watched.typed, "playing from the start never showed the typed command", 30_000);
  await admin.context.close();
});
