// Shared helpers for the browser tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), against a gateway that the
// Rust test harness started (GATEHOUSE_URL).
import { chromium } from "playwright-core";

export const base = process.env.GATEHOUSE_URL;
if (!base) throw new Error("GATEHOUSE_URL is not set: run these through `cargo test` (crates/gatehouse/tests/it/browser.rs)");

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      // A gateway serving HTTPS in the tests has a certificate made for the
      // test, which no root vouches for.
      ...(base.startsWith("https:") ? ["--ignore-certificate-errors"] : []),
    ],
  });
}

/** A fresh browser context (its own cookies), logged in as `username`. */
export async function loggedIn(browser, username, password) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  await page.goto(base);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "My connections" }).waitFor();
  return { context, page };
}

/** The prompt of the test target account's shell (/bin/sh). Keys typed before
 * it appears are discarded by the shell as it sets up its terminal. */
export const PROMPT = "$ ";

/** The text on an xterm.js screen (the DOM renderer keeps it readable). */
export const screenText = (page) =>
  page.evaluate(() => {
    const rows = document.querySelector(".xterm-rows");
    return rows ? rows.innerText : `<no terminal on ${location.hash}: ${document.body.innerText.slice(0, 200)}>`;
  });

export async function waitForScreen(page, needle, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await screenText(page).catch((e) => `<${e.message}>`);
    if (text.includes(needle)) return text;
    if (Date.now() > deadline) throw new Error(`"${needle}" never appeared on the terminal; screen:\n${text}`);
    await page.waitForTimeout(50);
  }
}
