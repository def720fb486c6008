// The page an SSH login's approval link opens: in a browser where the user
// is logged in (their session cookie), it shows which login it is and
// approving it lets the waiting SSH client in. The Rust side
// (tests/it/approvals.rs) started the ssh client and passes the link it
// printed (APPROVAL_LINK) and the user's login token (SSO_TOKEN).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { base, launch } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("the approval link shows the login and approves it", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.addCookies([{ name: "gatehouse_session", value: process.env.SSO_TOKEN, url: base }]);
  const page = await context.newPage();
  await page.goto(process.env.APPROVAL_LINK);
  await page.getByRole("heading", { name: "Approve SSH login" }).waitFor();
  assert.match(page.url(), /#\/approve\/[0-9a-f-]+$/);
  const details = await page.locator("dl.approval").innerText();
  assert.match(details, /sso1/);
  assert.match(details, /127\.0\.0\.1/);
  assert.match(details, /box/);
  assert.match(details, /pending/);
  if (process.env.SCREENSHOT_DIR) {
    await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/approve-ssh-login.png` });
  }
  await page.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").filter({ hasText: "This login request is approved." }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0);
  await context.close();
});
