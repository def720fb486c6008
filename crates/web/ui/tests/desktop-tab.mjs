// Shared by the desktop browser tests (desktop, rdp-desktop,
// desktop-sharing): opening a desktop tab, reading its canvas, and typing
// into the xterm on the real desktop server (Xvnc or FreeRDP's shadow
// server). Every wait here polls what the page shows, never a fixed sleep.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";

import { base } from "./browser.mjs";

/** The tab that a click on the link named `link` in `session`'s page opens
 * (a desktop from My connections, a watch from Active Sessions, a join). */
export async function tabFrom(session, link) {
  const [tab] = await Promise.all([
    session.context.waitForEvent("page"),
    session.page.getByRole("link", { name: link }).click(),
  ]);
  return tab;
}

/** How many near-white pixels the canvas shows (the xterm's background). */
export const whitePixels = (page) =>
  page.evaluate(() => {
    const cv = document.querySelector("canvas.desktop-screen");
    if (!cv || !cv.width) return 0;
    const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    let white = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 240 && data[i + 1] > 240 && data[i + 2] > 240) white++;
    return white;
  });

/** A fingerprint of the canvas's pixels: it changes when the picture does. */
export const picture = (page) =>
  page.evaluate(() => {
    const cv = document.querySelector("canvas.desktop-screen");
    if (!cv || !cv.width) return "";
    const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    let h = 2166136261;
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619);
    return `${cv.width}x${cv.height}:${h >>> 0}`;
  });

/** Waits until `page`'s canvas shows the xterm (its white background). */
export async function untilXterm(page) {
  const deadline = Date.now() + 15_000;
  while ((await whitePixels(page)) < 10_000) {
    if (Date.now() > deadline) throw new Error("the xterm never appeared on the canvas");
    await page.waitForTimeout(100);
  }
}

/** Where desktop pixel (x, y) is on the page: the canvas is scaled to fit. */
export const onPage = (page, x, y) =>
  page.evaluate(([x, y]) => {
    const cv = document.querySelector("canvas.desktop-screen");
    const r = cv.getBoundingClientRect();
    const scale = Math.min(r.width / cv.width, r.height / cv.height);
    const left = r.left + (r.width - cv.width * scale) / 2;
    const top = r.top + (r.height - cv.height * scale) / 2;
    return { x: left + x * scale, y: top + y * scale };
  }, [x, y]);

/** Clicks on the xterm: keys go to the window under the pointer (there is
 * no window manager). */
export async function pointAtXterm(page) {
  const at = await onPage(page, 100, 100);
  await page.mouse.click(at.x, at.y);
}

/** Clicks on the xterm, then types `text` and, unless `enter` is false, Enter. */
export async function typeIntoXterm(page, text, { enter = true } = {}) {
  await pointAtXterm(page);
  await page.keyboard.type(text);
  if (enter) await page.keyboard.press("Enter");
}

/** Waits until `file` exists: what typing `touch file` did on the desktop. */
export async function untilFile(page, file, what = "typing in the tab") {
  const until = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`${what} did not create ${file}`);
    await page.waitForTimeout(100);
  }
}

/** Waits until `page`'s picture is other than `before`. */
export async function untilChanged(page, before, what) {
  const deadline = Date.now() + 10_000;
  while ((await picture(page)) === before) {
    if (Date.now() > deadline) throw new Error(`${what}: the canvas never changed`);
    await page.waitForTimeout(100);
  }
}

/** Waits until `page`'s picture is `want`. */
export async function untilPicture(page, want, what, limit = 10_000) {
  const deadline = Date.now() + limit;
  while ((await picture(page)) !== want) {
    if (Date.now() > deadline) throw new Error(what);
    await page.waitForTimeout(100);
  }
}

/** Waits until both pages' pictures settle to the same screen; that picture. */
export async function settledAlike(a, b, what) {
  for (let i = 0; i < 50; i++) {
    await a.waitForTimeout(200);
    const mine = await picture(a);
    if (mine === (await picture(b))) return mine;
  }
  throw new Error(`${what}: the two pictures never matched`);
}

/** Reloads History until the Replay link of ops1's session `id` on
 * `connection` is there — a recording completes a moment after its session
 * ends — and opens it, paused; sought to the end, the replay must show the
 * picture `last` (the owner's last screen, the typed text on it). The
 * Position slider and where it ends. */
export async function replayEndsOn(page, id, connection, last) {
  assert.ok(last, "the session to replay was not recorded by the test before");
  const replay = page.locator(`tr[data-session="${id}"]`).getByRole("link", { name: `Replay ops1's session on ${connection}` });
  const deadline = Date.now() + 15_000;
  for (;;) {
    await page.goto(`${base}/#/history`);
    await page.getByRole("heading", { name: "History" }).waitFor();
    await page.locator("tbody tr[data-session]").first().waitFor();
    if (await replay.count()) break;
    if (Date.now() > deadline) throw new Error(`no replay of session ${id} in History`);
    await page.waitForTimeout(500);
  }
  await replay.click();
  await page.locator("canvas.replay-desktop").waitFor();
  const slider = page.getByRole("slider", { name: "Position" });
  await page.waitForFunction(() => Number(document.querySelector("input[aria-label=Position]")?.getAttribute("max")) > 0);
  const pause = page.getByRole("button", { name: "Pause" });
  if (await pause.count()) await pause.click();
  const end = await slider.getAttribute("max");
  // Painted from the key frame and the regions after it, up to the very end.
  await slider.fill(end);
  await untilPicture(page, last, "the replay does not end on the owner's last screen (the typed text)");
  return { slider, end };
}

/** The administrator `admin` (a loggedIn session on Active Sessions) opens
 * Watch on ops1's session on `connection`, whose tab is `desk`: the watch
 * page says it is read-only, shows the current screen (the xterm) at once,
 * and the owner's tab says who watches. The watch page. */
export async function watchFromActiveSessions(admin, desk, connection) {
  const watch = await tabFrom(admin, `Watch ops1's session on ${connection}`);
  assert.match(watch.url(), /#\/watch-desktop\//);
  await watch.getByRole("status").filter({ hasText: "Watching ops1's desktop (read-only)" }).waitFor();
  assert.equal(await watch.title(), "Gatehouse · watching ops1's desktop");
  // The current screen first: the xterm is there before anything changes.
  await untilXterm(watch);
  await desk.getByRole("status").filter({ hasText: "Watched by admin" }).waitFor();
  return watch;
}

/** The id of ops1's session on `connection` as `admin`'s Active Sessions
 * page lists it (its row's data-session). */
export async function activeSessionId(admin, connection) {
  const row = admin.page.locator("tbody tr[data-session]").filter({ hasText: connection });
  await row.first().waitFor();
  return row.first().getAttribute("data-session");
}

/** The administrator `admin` (on Active Sessions) ends ops1's session on
 * `connection` with End on its row and `message`: the owner's tab `desk`
 * says who ended it and why. */
export async function endFromActiveSessions(admin, desk, connection, message) {
  await admin.page.getByRole("button", { name: `End ops1's session on ${connection}` }).click();
  const dialog = admin.page.getByRole("dialog");
  await dialog.getByRole("heading", { name: "End 1 session?" }).waitFor();
  await dialog.getByLabel("Message to the users (optional)").fill(message);
  await dialog.getByRole("button", { name: "End 1 session" }).click();
  const banner = desk.getByRole("alert").filter({ hasText: "Session ended by administrator admin" });
  await banner.waitFor();
  assert.match(await banner.innerText(), new RegExp(message));
}
