// The second factor in a real browser: a user adds an authenticator from
// the profile (the QR code shown, confirmed with a code), then logs in with
// a code; a user whose role requires one enrols on the login page itself.
// Codes are computed from the shown key with RFC 6238 (HMAC-SHA-1, six
// digits, 30-second steps), as an authenticator app does.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";

import { base, launch, loggedIn } from "./browser.mjs";

/** RFC 4648 base32 to bytes. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code `steps` 30-second steps from now. */
function totp(secret, steps = 0) {
  const counter = Math.floor(Date.now() / 1000 / 30) + steps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", base32(secret)).update(msg).digest();
  const at = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

/** The QR code is a picture the browser could draw. */
async function assertQrShown(page) {
  const qr = page.getByRole("img", { name: "QR code to scan with your authenticator app" });
  await qr.waitFor();
  const drawn = await qr.evaluate((img) => img.complete && img.naturalWidth >= 100);
  assert.ok(drawn, "the QR code's SVG decodes into an image");
}

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("a user adds an authenticator on the profile page and then logs in with a code", async () => {
  const { context, page } = await loggedIn(browser, "ops1", "ops1-password");
  await page.getByRole("link", { name: "SSH keys" }).click();
  const section = page.getByRole("region", { name: "Second factor" });
  await section.getByText("Off: logins ask only for your password.").waitFor();
  await section.getByRole("button", { name: "Add an authenticator" }).click();
  await assertQrShown(page);
  const secret = (await section.getByLabel("Authenticator key").innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  const form = section.getByRole("form", { name: "Confirm the authenticator" });
  await form.getByLabel("Verification code").fill(totp(secret));
  await form.getByRole("button", { name: "Turn on" }).click();
  const codes = section.getByRole("list", { name: "Recovery codes" }).getByRole("listitem");
  await codes.first().waitFor();
  assert.equal(await codes.count(), 10);
  await section.getByText(/^On: logins ask for a code/).waitFor();
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/second-factor-profile.png` });
  await context.close();

  // The password alone no longer logs in: the code step follows.
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const login = await fresh.newPage();
  await login.goto(base);
  await login.getByLabel("Username").fill("ops1");
  await login.getByLabel("Password").fill("ops1-password");
  await login.getByRole("button", { name: "Log in" }).click();
  await login.getByRole("heading", { name: "Second factor" }).waitFor();
  assert.deepEqual(await fresh.cookies(), [], "no session cookie before the code");
  await login.getByLabel("Verification code").fill(totp(secret, 0) === "123456" ? "654321" : "123456");
  await login.getByRole("button", { name: "Verify" }).click();
  await login.getByRole("alert").filter({ hasText: "Wrong or already used code" }).waitFor();
  // The code that turned it on was taken; the next step's is accepted.
  await login.getByLabel("Verification code").fill(totp(secret, 1));
  await login.getByRole("button", { name: "Verify" }).click();
  await login.getByRole("heading", { name: "My connections" }).waitFor();
  assert.equal((await fresh.cookies()).length, 1, "the session cookie, now");
  await fresh.close();
});

test("an administrator requires a second factor of the auditor role on the Users page", async () => {
  const { context, page } = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  await page.getByRole("link", { name: "Users" }).click();
  const auditor = page.getByRole("checkbox", { name: "auditor must use a second factor" });
  assert.equal(await auditor.isChecked(), false);
  await auditor.check();
  await page.getByRole("status").filter({ hasText: "Holders of auditor now log in with a second factor" }).waitFor();
  assert.equal(await auditor.isChecked(), true);
  assert.equal(await page.getByRole("checkbox", { name: "admin must use a second factor" }).isChecked(), false);
  await context.close();
});

test("a user whose role requires a second factor enrols on the login page before anything else", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  await page.goto(base);
  await page.getByLabel("Username").fill("eve");
  await page.getByLabel("Password").fill("eve-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("Your role requires a second factor.").waitFor();
  await assertQrShown(page);
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/second-factor-enrol-at-login.png` });
  const secret = (await page.getByLabel("Authenticator key").innerText()).trim();
  await page.getByLabel("Verification code").fill(totp(secret));
  await page.getByRole("button", { name: "Verify" }).click();
  const codes = page.getByRole("list", { name: "Recovery codes" }).getByRole("listitem");
  await codes.first().waitFor();
  assert.equal(await codes.count(), 10);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("heading", { name: "My connections" }).waitFor();
  await context.close();
});

test("an administrator resets a user's second factor; the user enrols anew at the next login", async () => {
  const { context, page } = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  await page.getByRole("link", { name: "Users" }).click();
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Reset eve's second factor" }).click();
  await page.getByRole("status").filter({ hasText: "Removed eve's second factor." }).waitFor();
  await context.close();

  const fresh = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const login = await fresh.newPage();
  await login.goto(base);
  await login.getByLabel("Username").fill("eve");
  await login.getByLabel("Password").fill("eve-password");
  await login.getByRole("button", { name: "Log in" }).click();
  await login.getByText("Your role requires a second factor.").waitFor();
  await assertQrShown(login);
  await fresh.close();
});
