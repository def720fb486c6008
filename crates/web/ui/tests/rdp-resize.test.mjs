// An RDP desktop that takes the tab's size: on a real xrdp (which supports
// Display Control), the desktop tab opens the session at the canvas's own
// size, and when the window is resized the remote screen follows — the
// canvas's picture takes the new size rather than being scaled.
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

/** The canvas's picture size and the size it is shown at on the page. */
const sizes = (page) =>
  page.evaluate(() => {
    const cv = document.querySelector("canvas.desktop-screen");
    return { width: cv.width, height: cv.height, shownWidth: cv.clientWidth, shownHeight: cv.clientHeight };
  });

/** Waits until the picture is the shown size (RDP widths are even). */
async function fitted(page, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = await sizes(page);
    const evenWidth = s.shownWidth - (s.shownWidth % 2);
    if (s.width === evenWidth && s.height === s.shownHeight && s.width > 0) return s;
    if (Date.now() > deadline) throw new Error(`${what}: the picture is ${s.width}x${s.height}, shown at ${s.shownWidth}x${s.shownHeight}`);
    await page.waitForTimeout(100);
  }
}

test("an RDP desktop opens at the tab's size and follows the window's resize", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const [desk] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /linux-rdp/ }).click(),
  ]);
  await desk.setViewportSize({ width: 1100, height: 760 });
  await desk.waitForFunction(() => document.title === "linux-rdp · Gatehouse");
  const first = await fitted(desk, "at the start");
  await desk.setViewportSize({ width: 900, height: 640 });
  const second = await fitted(desk, "after the resize");
  if (second.width >= first.width || second.height >= first.height) {
    throw new Error(`the picture did not shrink: ${JSON.stringify(first)} then ${JSON.stringify(second)}`);
  }
  // Still the live session, not an ended one.
  const banner = await desk.locator(".banner.ended, .banner.error").count();
  if (banner !== 0) throw new Error(`the tab shows: ${await desk.locator(".banner").first().innerText()}`);
  await ops.context.close();
});
