// The RDP clipboard in a browser tab: on a real xrdp, text written in the
// tab's Clipboard panel and sent reaches the desktop's clipboard (read back
// there with xclip), and a copy on the desktop shows in the panel. On
// FreeRDP's shadow server, which offers no clipboard, the panel says so
// and sends nothing, and a paste into the tab is answered in the tab.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";
import { tabFrom, typeIntoXterm, untilXterm } from "./desktop-tab.mjs";

const pasted = process.env.PASTED_FILE;
if (!pasted) throw new Error("PASTED_FILE is not set: run through `cargo test` (tests/it/desktops/rdp_clipboard.rs)");

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

const NO_CLIPBOARD = "This desktop's server offers no clipboard.";

/** Opens `name`'s desktop as ops1, waits for its xterm, and opens the
 * Clipboard panel; the tab and the panel. */
async function withClipboardPanel(name) {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const desk = await tabFrom(ops, new RegExp(name));
  await desk.waitForFunction((n) => document.title === `${n} · Gatehouse`, name);
  await untilXterm(desk);
  await desk.getByRole("button", { name: "Clipboard" }).click();
  return { ops, desk, panel: desk.getByRole("group", { name: "Clipboard" }) };
}

test("text crosses an xrdp desktop's clipboard both ways through the tab's Clipboard panel", async () => {
  const { ops, desk, panel } = await withClipboardPanel("linux-rdp");
  // The server's clipboard channel comes up: the panel stops waiting for it.
  await panel.getByText("Waiting for the desktop's clipboard…").waitFor({ state: "detached", timeout: 30_000 });
  assert.equal(await panel.getByText(NO_CLIPBOARD).count(), 0);

  // The tab to the desktop: any text (RDP's clipboard is Unicode).
  const text = "from the tab: 5 € “quoted”";
  await panel.getByRole("textbox", { name: "Clipboard text" }).fill(text);
  await panel.getByRole("button", { name: "Send to desktop" }).click();
  await typeIntoXterm(desk, "xclip -o -selection clipboard > pasted.txt");
  const until = Date.now() + 10_000;
  while (!existsSync(pasted) || readFileSync(pasted, "utf8") !== text) {
    if (Date.now() > until) {
      const got = existsSync(pasted) ? readFileSync(pasted, "utf8") : "(no file)";
      throw new Error(`the desktop's clipboard holds ${JSON.stringify(got)}`);
    }
    await desk.waitForTimeout(100);
  }

  // The desktop to the tab: a copy there shows in the panel.
  await typeIntoXterm(desk, "echo -n copied-on-xrdp | xclip -selection clipboard");
  await desk.waitForFunction(
    () => document.querySelector("textarea[aria-label='Clipboard text']")?.value === "copied-on-xrdp",
    undefined,
    { timeout: 15_000 },
  );
  await ops.context.close();
});

test("a desktop whose server offers no clipboard says so in the tab, and a paste is answered", async () => {
  const { ops, desk, panel } = await withClipboardPanel("shadow-rdp");
  // Told once the server had its time to bring a clipboard up (8 s).
  await panel.getByText(NO_CLIPBOARD).waitFor({ timeout: 30_000 });
  assert.ok(await panel.getByRole("button", { name: "Send to desktop" }).isDisabled());
  assert.ok(await panel.getByRole("textbox", { name: "Clipboard text" }).isDisabled());
  // A paste into the tab anyway: the tab says why nothing happens.
  await desk.evaluate(() => {
    const data = new DataTransfer();
    data.setData("text/plain", "into-nothing");
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data }));
  });
  await desk.getByRole("status").filter({ hasText: NO_CLIPBOARD }).waitFor();
  await ops.context.close();
});
