// Replay from History: an auditor finds the session by what it printed,
// opens its recording and sees the text on the replayed xterm.js screen;
// the player's controls work and the replay is in the audit log. Opened from
// a search inside recordings, the replay starts at the first match, marks the
// matches on the timeline, and the keyboard drives it (Space, ←, →); the
// session's details stand beside the player.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { loggedIn, launch, screenText, waitForScreen } from "./browser.mjs";

const shots = process.env.SCREENSHOT_DIR;
let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an administrator finds a session by its output in History and replays it", async () => {
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const page = admin.page;
  await page.getByRole("link", { name: "History" }).click();
  await page.getByLabel("Search inside recordings").fill("replayed-42");
  await page.getByRole("navigation", { name: "History pages" }).getByText("1–1 of 1").waitFor();
  const row = page.getByRole("row").filter({ hasText: "ops1" });
  await row.getByText(/KiB|B$/).first().waitFor();
  if (shots) await page.screenshot({ path: `${shots}/history-search.png` });
  await row.getByRole("link", { name: "Replay ops1's session on prod-db" }).click();

  assert.match(page.url(), /\?text=replayed-42$/, "the replay knows what was searched for");

  // It opens paused at the first match, the text on screen and marked on the timeline.
  await page.getByText("1 match for “replayed-42”, marked on the timeline; at match 1 of 1").waitFor();
  await waitForScreen(page, "replayed-42");
  assert.equal(await page.locator(".timeline .match-mark").count(), 1);
  await page.getByRole("button", { name: "Play" }).waitFor();
  assert.match(await page.getByLabel("Time").innerText(), /^0:0\d \/ 0:0\d$/);
  const details = page.getByRole("complementary", { name: "Session details" });
  await details.getByText("ops1").waitFor();
  await details.getByText("prod-db").waitFor();
  assert.match(await details.innerText(), /End reason\s+\S/);
  if (shots) await page.screenshot({ path: `${shots}/replay.png` });

  // The keyboard: ← goes back (before the text was printed), → forward, Space plays.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  assert.match(await page.getByLabel("Time").innerText(), /^0:00 \//);
  assert.doesNotMatch(await screenText(page), /replayed-42/);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  await waitForScreen(page, "replayed-42");
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("Space");
  await page.getByRole("button", { name: "Pause" }).waitFor();
  await waitForScreen(page, "replayed-42");
  await page.getByRole("button", { name: "Play" }).waitFor(); // finished: offers to play again

  // Back to the start: the screen is repainted as it was then.
  await page.getByLabel("Position").fill("0");
  assert.doesNotMatch(await screenText(page), /replayed-42/);
  await page.getByLabel("Speed").selectOption("4");
  await page.getByRole("button", { name: "Play" }).click();
  await waitForScreen(page, "replayed-42");
  assert.equal(
    await page.getByRole("link", { name: "Download .cast" }).getAttribute("href"),
    `/api/v1/history/${process.env.SESSION_ID}/recording?download=true`,
  );

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("row").filter({ hasText: "recording.replay" }).first().waitFor();
  await admin.context.close();
});

test("a user without audit.view sees their history but no replay", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  await ops.page.getByRole("link", { name: "History" }).click();
  await ops.page.getByRole("row").filter({ hasText: "prod-db" }).first().waitFor();
  assert.equal(await ops.page.getByRole("link", { name: /Replay/ }).count(), 0);
  await ops.context.close();
});
