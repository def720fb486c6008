// History and Audit with a thousand ended sessions behind them (the Rust
// side seeds them through the gateway's registry: alice, bob, carol, dave in
// turn on prod-db, prod-web, staging, build, backup; every tenth ended by
// admin): paging to the last row, and the filters by user, connection, end
// reason, action and date.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, test } from "node:test";

import { launch, loggedIn } from "./browser.mjs";

const SEEDED = Number(process.env.SEEDED);
const shots = process.env.SCREENSHOT_DIR;
let browser;

before(async () => {
  browser = await launch();
  if (shots) await mkdir(shots, { recursive: true });
});
after(() => browser?.close());

const count = (page, label) => page.getByRole("navigation", { name: `${label} pages` }).locator(".count");

/** Waits until the pager reads `text` exactly. */
async function pagerReads(page, label, text) {
  await assert.doesNotReject(
    count(page, label).filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }).waitFor({ timeout: 10_000 }),
    `the ${label} pager never read "${text}" (it reads "${await count(page, label).textContent()}")`,
  );
}

/** `YYYY-MM-DD` of a day `days` from today, in the browser's zone (the test's). */
function day(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

test("History pages through a thousand sessions and filters them", async () => {
  const { context, page } = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  await page.goto(new URL("#/history", page.url()).href);
  const n = SEEDED.toLocaleString("en-US");
  await pagerReads(page, "History", `1–100 of ${n}`);
  const next = page.getByRole("navigation", { name: "History pages" }).getByRole("button", { name: "Next" });
  const seen = new Set();
  for (let i = 0; i < SEEDED / 100; i++) {
    await pagerReads(page, "History", `${(i * 100 + 1).toLocaleString("en-US")}–${((i + 1) * 100).toLocaleString("en-US")} of ${n}`);
    const rows = page.getByRole("table", { name: "Ended sessions" }).locator("tbody tr");
    assert.equal(await rows.count(), 100, `page ${i + 1} has 100 rows`);
    for (const started of await rows.locator("td:nth-child(4)").allTextContents()) assert.match(started, /\d/);
    // By session id: seeded rows look alike (the first of every page is
    // alice's on prod-db), and a second is all the times show.
    for (const id of await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.session))) seen.add(id);
    if (i < SEEDED / 100 - 1) await next.click();
  }
  assert.equal(seen.size, SEEDED, "every page showed different rows");
  assert.ok(await next.isDisabled(), "there is no page after the last");

  // Filters: each narrows the count the server gives, and they combine.
  await page.getByLabel("User", { exact: true }).fill("alice");
  await pagerReads(page, "History", `1–100 of ${(SEEDED / 4).toLocaleString("en-US")}`);
  const users = await page.getByRole("table", { name: "Ended sessions" }).locator("tbody tr td:first-child").allTextContents();
  assert.deepEqual([...new Set(users)], ["alice"]);
  await page.getByLabel("End reason", { exact: true }).selectOption({ label: "ended by administrator" });
  await pagerReads(page, "History", `1–${SEEDED / 20} of ${SEEDED / 20}`);
  await page.getByLabel("User", { exact: true }).fill("");
  await page.getByLabel("Connection", { exact: true }).fill("prod-db");
  // Every tenth session is prod-db's too (10 ≡ 0 mod 5).
  await pagerReads(page, "History", `1–${SEEDED / 10} of ${SEEDED / 10}`);
  await page.getByRole("button", { name: "Clear filters" }).click();
  await pagerReads(page, "History", `1–100 of ${n}`);

  // Dates are the browser's days, the end day included.
  await page.getByLabel("From", { exact: true }).fill(day(0));
  await page.getByLabel("To", { exact: true }).fill(day(0));
  await pagerReads(page, "History", `1–100 of ${n}`);
  await page.getByLabel("From", { exact: true }).fill(day(1));
  await page.getByLabel("To", { exact: true }).fill(day(1));
  await pagerReads(page, "History", "none");
  await page.getByLabel("From", { exact: true }).fill("");
  await page.getByLabel("To", { exact: true }).fill(day(-1));
  await pagerReads(page, "History", "none");
  await context.close();
});

test("Audit names sessions by user and connection and filters by user, connection and action", async () => {
  const { context, page } = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  await page.goto(new URL("#/admin/audit", page.url()).href);
  await page.getByLabel("Action", { exact: true }).selectOption({ label: "session started" });
  await pagerReads(page, "Audit", `1–100 of ${n()}`);
  const targets = await page.getByRole("table", { name: "Audit events" }).locator("tbody tr td:nth-child(4)").allTextContents();
  for (const t of targets) assert.match(t, /^(alice|bob|carol|dave) on (prod-db|prod-web|staging|build|backup)$/, "a session is named, not its id");
  await page.getByLabel("User", { exact: true }).fill("bob");
  await page.getByLabel("Connection", { exact: true }).fill("prod-web");
  // Sessions i ≡ 1 (mod 4) and i ≡ 1 (mod 5): one in every 20.
  await pagerReads(page, "Audit", `1–${SEEDED / 20} of ${SEEDED / 20}`);
  if (shots) await page.screenshot({ path: `${shots}/audit-filters.png` });

  // Details wrap inside the table's box rather than running off its edge.
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.getByLabel("Action", { exact: true }).selectOption({ label: "session ended" });
  await pagerReads(page, "Audit", `1–100 of ${n()}`);
  const fits = await page.evaluate(() => {
    const box = document.querySelector(".table-scroll").getBoundingClientRect();
    return [...document.querySelectorAll("td.details")].every((td) => td.getBoundingClientRect().right <= box.right + 1);
  });
  assert.ok(fits, "every details cell ends inside the table's box");
  await context.close();
});

const n = () => SEEDED.toLocaleString("en-US");
