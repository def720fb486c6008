// Locking a user from the Users page ends all of their sessions at once,
// each terminal says why, and their next login is refused with a clear message.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, test } from "node:test";

import { PROMPT, base, launch, loggedIn, waitForScreen } from "./browser.mjs";

const shots = process.env.SCREENSHOT_DIR;
let browser;
before(async () => {
  browser = await launch();
  if (shots) await mkdir(shots, { recursive: true });
});
after(() => browser?.close());

test("locking a user ends their sessions and refuses their login until unlocked", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const tabs = [];
  for (let i = 0; i < 2; i++) {
    const [tab] = await Promise.all([
      ops.context.waitForEvent("page"),
      ops.page.getByRole("link", { name: /prod-db/ }).click(),
    ]);
    await waitForScreen(tab, PROMPT);
    tabs.push(tab);
  }

  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  await admin.page.getByRole("link", { name: "Users" }).click();
  // Locking asks first and says what it ends; Cancel changes nothing.
  await admin.page.getByRole("button", { name: "Lock ops1" }).click();
  const ask = admin.page.getByRole("dialog", { name: "Lock ops1?" });
  await ask.getByText("This ends ops1's 2 live sessions at once.").waitFor();
  if (shots) await admin.page.screenshot({ path: `${shots}/lock-dialog.png` });
  await ask.getByRole("button", { name: "Cancel" }).click();
  await ask.waitFor({ state: "detached" });
  for (const tab of tabs) assert.match(await tab.locator(".xterm-rows").innerText(), /\$/);
  await admin.page.getByRole("button", { name: "Lock ops1" }).click();
  await ask.getByRole("button", { name: "Lock ops1 and end 2 live sessions" }).click();
  await admin.page.getByRole("status").filter({ hasText: "Locked ops1" }).waitFor();
  for (const tab of tabs) {
    await tab.getByRole("alert").filter({ hasText: "Your account was locked" }).waitFor();
  }

  const again = await browser.newContext();
  const page = await again.newPage();
  await page.goto(base);
  await page.getByLabel("Username").fill("ops1");
  await page.getByLabel("Password").fill("ops1-password");
  await page.getByRole("button", { name: "Log in" }).click();
  const refusal = page.getByRole("alert");
  await refusal.waitFor();
  assert.equal(await refusal.innerText(), "This account is locked. Ask an administrator to unlock it.");

  await admin.page.getByRole("button", { name: "Unlock ops1" }).click();
  await admin.page.getByRole("status").filter({ hasText: "Unlocked ops1" }).waitFor();
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "My connections" }).waitFor();
  await Promise.all([ops.context.close(), admin.context.close(), again.close()]);
});
