// An RDP desktop in a browser tab: the same tab as VNC's, opened from My
// connections; the xterm on the real RDP server (FreeRDP's shadow server)
// appears on the canvas and keys typed in the page — capitals included —
// run a command there.
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";
import { tabFrom, typeIntoXterm, untilFile, untilXterm } from "./desktop-tab.mjs";

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
