// An RDP desktop in a browser tab: the same tab as VNC's, opened from My
// connections; the xterm on the real RDP server (FreeRDP's shadow server)
// appears on the canvas and keys typed in the page — capitals included —
// run a command there.
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";

const file = process.env.DESKTOP_FILE;
if (!file) throw new Error("DESKTOP_FILE is not set: run through `cargo test` (tests/it/desktops/rdp.rs)");

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

test("an RDP desktop opens from My connections and takes typed keys, capitals included", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const [desk] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /win-desktop/ }).click(),
  ]);
  await desk.waitForFunction(() => document.title === "win-desktop · Gatehouse");
  const deadline = Date.now() + 15_000;
  while ((await whitePixels(desk)) < 10_000) {
    if (Date.now() > deadline) throw new Error("the xterm never appeared on the canvas");
    await desk.waitForTimeout(100);
  }
  const at = await onPage(desk, 100, 100);
  await desk.mouse.click(at.x, at.y);
  // The file's path has capitals: Playwright types them without a Shift key
  // event, and the gateway adds the Shift press the server needs.
  await desk.keyboard.type(`touch ${file}`);
  await desk.keyboard.press("Enter");
  const until = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`typing in the tab did not create ${file}`);
    await desk.waitForTimeout(100);
  }
  await ops.context.close();
});
