// The Active Sessions story in a real browser: a user works in a terminal,
// an administrator watches the session appear live, finds it, ends it, and
// the user's tab says who ended it.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, test } from "node:test";

import { PROMPT, base, launch, loggedIn, screenText, waitForScreen } from "./browser.mjs";

const adminPassword = process.env.GATEHOUSE_ADMIN_PASSWORD;
const shots = process.env.SCREENSHOT_DIR;
let browser;

before(async () => {
  browser = await launch();
  if (shots) await mkdir(shots, { recursive: true });
});
after(() => browser?.close());

test("a bad password gets a clear message", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "Invalid username or password." }).waitFor();
  await context.close();
});

test("an administrator sees a session live, finds it and ends it; the user sees why", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", adminPassword);

  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  const count = admin.page.locator(".count");
  await count.filter({ hasText: "0 of 0 sessions" }).waitFor();
  const endButton = admin.page.getByRole("button", { name: /^End Sessions/ });
  assert.equal(await endButton.isDisabled(), true, "nothing selected yet");

  // The user opens the connection: the terminal opens in a new tab.
  const [terminal] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("echo gatehouse-$((6*7))\n");
  await waitForScreen(terminal, "gatehouse-42");

  // The session appears on the administrator's page without a reload.
  await count.filter({ hasText: "1 of 1 sessions" }).waitFor();
  const row = admin.page.locator("tbody tr[data-session]");
  await row.filter({ hasText: "ops1" }).filter({ hasText: "prod-db" }).waitFor();
  assert.match(await row.innerText(), /127\.0\.0\.1/);
  const id = await row.first().getAttribute("data-session");

  const search = admin.page.getByLabel("Search sessions");
  await search.fill("PROD");
  await count.filter({ hasText: "1 of 1 sessions" }).waitFor();
  await search.fill("no-such-thing");
  await count.filter({ hasText: "0 of 1 sessions" }).waitFor();
  await admin.page.getByText("No session matches the search.").waitFor();
  // Several words must all match, over every shown field (the id too).
  await search.fill("prod OPS1");
  await count.filter({ hasText: "1 of 1 sessions" }).waitFor();
  await search.fill("ops1 staging");
  await count.filter({ hasText: "0 of 1 sessions" }).waitFor();
  await search.fill(`${id.slice(0, 8)} ops1`);
  await count.filter({ hasText: "1 of 1 sessions" }).waitFor();
  await search.fill("ops1");
  await count.filter({ hasText: "1 of 1 sessions" }).waitFor();

  await admin.page.getByRole("checkbox", { name: /Select ops1's session on prod-db/ }).check();
  assert.equal(await endButton.isEnabled(), true);
  await endButton.click();
  const dialog = admin.page.getByRole("dialog");
  await dialog.getByRole("heading", { name: "End 1 session?" }).waitFor();
  assert.match(await dialog.getByRole("list", { name: "Sessions to end" }).innerText(), /ops1 on prod-db \(browser, from 127\.0\.0\.1/);
  if (shots) await admin.page.screenshot({ path: `${shots}/end-sessions-dialog.png` });
  await dialog.getByLabel("Message to the users (optional)").fill("maintenance window");
  await dialog.getByRole("button", { name: "End 1 session" }).click();

  // The row vanishes, and the user's tab says who ended it and why.
  await count.filter({ hasText: "0 of 0 sessions" }).waitFor();
  const notice = admin.page.getByRole("status").filter({ hasText: "Ended 1 session." });
  await notice.getByRole("link", { name: "See them in History" }).waitFor();
  const banner = terminal.getByRole("alert");
  await banner.filter({ hasText: "Session ended by administrator admin" }).waitFor();
  assert.match(await banner.innerText(), /maintenance window/);
  assert.match(await screenText(terminal), /gatehouse-42/, "the screen stays readable after the end");
  if (shots) await terminal.screenshot({ path: `${shots}/terminal-ended.png` });

  await ops.context.close();
  await admin.context.close();
});

test("a plain user sees only their own sessions, ends one from My sessions and reopens the connection", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const admin = await loggedIn(browser, "admin", adminPassword);
  const open = async (who) => {
    const [tab] = await Promise.all([
      who.context.waitForEvent("page"),
      who.page.getByRole("link", { name: /prod-db/ }).click(),
    ]);
    await waitForScreen(tab, PROMPT);
    await tab.locator(".xterm-helper-textarea").focus();
    await tab.keyboard.type("echo up-$((1+1))\n");
    await waitForScreen(tab, "up-2");
    return tab;
  };
  await open(admin);
  const mine = await open(ops);

  await ops.page.getByRole("link", { name: "My sessions" }).click();
  await ops.page.getByRole("heading", { name: "My sessions" }).waitFor();
  await ops.page.locator(".count").filter({ hasText: "1 of 1 sessions" }).waitFor();
  const rows = ops.page.locator("tbody tr[data-session]");
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), /ops1/);
  assert.equal(await ops.page.getByRole("link", { name: "Users" }).count(), 0, "no admin pages for a plain user");
  assert.equal(await ops.page.getByRole("link", { name: /^Watch/ }).count(), 0, "no watching without sessions.watch");

  // Their own session: End from its row, confirmed, and the tab says so.
  await ops.page.getByRole("button", { name: "End ops1's session on prod-db" }).click();
  const dialog = ops.page.getByRole("dialog");
  await dialog.getByRole("button", { name: "End 1 session" }).click();
  await ops.page.locator(".count").filter({ hasText: "0 of 0 sessions" }).waitFor();
  await mine.getByRole("alert").filter({ hasText: "Session ended by ops1" }).waitFor();

  // The administrator's session goes on.
  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  await admin.page.locator(".count").filter({ hasText: "1 of 1 sessions" }).waitFor();

  // Reopen: from the ended tab, a new session on the same connection.
  await mine.getByRole("button", { name: "Reconnect" }).click();
  await waitForScreen(mine, PROMPT);
  await ops.page.locator(".count").filter({ hasText: "1 of 1 sessions" }).waitFor();
  const [again] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: "Reopen prod-db" }).click(),
  ]);
  await waitForScreen(again, PROMPT);
  await ops.page.locator(".count").filter({ hasText: "2 of 2 sessions" }).waitFor();

  await ops.context.close();
  await admin.context.close();
});
