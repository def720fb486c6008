// Every page at a wide screen (1440×900) and a phone (390×844): nothing is
// wider than the viewport, checked in the DOM, with 60-character user and
// connection names on screen; Active Sessions shows every column inside its
// box at 1280 and wider and turns into cards on a phone; the navigation
// folds into a menu on a phone.
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";

import { PROMPT, base, launch, loggedIn, waitForScreen } from "./browser.mjs";

const adminPassword = process.env.GATEHOUSE_ADMIN_PASSWORD;
const longUser = process.env.LONG_USER;
const longConnection = process.env.LONG_CONNECTION;
const shots = process.env.SCREENSHOT_DIR;
let browser;

before(async () => {
  browser = await launch();
  if (shots) await mkdir(shots, { recursive: true });
});
after(() => browser?.close());

/** Elements reaching past the viewport's edges that no fitting scroll box clips. */
const overflowing = (page) =>
  page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const fits = (r) => r.left >= -0.5 && r.right <= vw + 0.5;
    const bad = [];
    if (document.documentElement.scrollWidth > vw) bad.push(`the page is ${document.documentElement.scrollWidth}px wide`);
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || fits(r)) continue;
      let clipped = false;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== "visible" && fits(a.getBoundingClientRect())) {
          clipped = true;
          break;
        }
      }
      if (!clipped) {
        const name = `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." + el.className.trim().replace(/\s+/g, ".") : ""}`;
        bad.push(`${name} "${(el.textContent ?? "").trim().slice(0, 40)}" spans ${Math.round(r.left)}–${Math.round(r.right)} of ${vw}`);
      }
    }
    return bad.slice(0, 8);
  });

/** Whether Active Sessions' columns fill their box (to the rounding of each
 * column's pixel), as they do once laid out for its width; with `fits`
 * false, a description of where they stand instead. */
const tableLayout = (fits) => {
  const box = document.querySelector(".table-scroll");
  const table = box?.querySelector("table.sessions-table");
  if (!table) return fits ? false : "no table";
  const gap = box.clientWidth - table.offsetWidth;
  if (fits) return gap >= 0 && gap < table.querySelectorAll("col").length;
  const cols = [...table.querySelectorAll("col")].map((c) => c.style.width).join(" ");
  return `box ${box.clientWidth}px, table ${table.offsetWidth}px: ${cols}`;
};

/** Waits until the columns are laid out for the box as it is now: a resize
 * is seen a frame or two after it happens. (A function, never a string: the
 * gateway's CSP refuses the page `eval`, which Playwright needs for a
 * string predicate on every poll after the first.) */
async function tableFills(page) {
  const settled = await page
    .waitForFunction(tableLayout, true, { timeout: 5000 })
    .catch((e) => (e.name === "TimeoutError" ? null : Promise.reject(e)));
  if (!settled) assert.fail(`the columns never filled the box: ${await page.evaluate(tableLayout, false)}`);
}

/** Active Sessions' header cells whose text is cut (wider or taller than the cell). */
const clippedHeads = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("table.sessions-table thead th")].flatMap((th) => {
      const cut = [th, ...th.querySelectorAll("button")].filter(
        (el) => el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight,
      );
      return cut.length ? [`"${th.innerText.trim()}": ${cut.map((el) => `${el.tagName} ${el.scrollWidth}×${el.scrollHeight} in ${el.clientWidth}×${el.clientHeight}`).join(", ")}`] : [];
    }),
  );

async function openTerminal(who, name) {
  const [tab] = await Promise.all([
    who.context.waitForEvent("page"),
    who.page.getByRole("link", { name: new RegExp(`^${name}`) }).click(),
  ]);
  await waitForScreen(tab, PROMPT);
  return tab;
}

/** What shows on each page once its data arrived: the checks below read the
 * page with its (long) names on it, never before. */
const LOADED = {
  "/connections": (page) => page.locator("ul.cards li").first(),
  "/sessions": (page) => page.locator("[data-session]").first(),
  "/shared": (page) => page.getByText("No live session is shared with you."),
  "/history": (page) => page.getByRole("navigation", { name: "History pages" }),
  "/profile": (page) => page.getByLabel("Gateway host key fingerprint"),
  "/admin/users": (page) => page.getByRole("cell", { name: longUser, exact: true }),
  "/admin/connections": (page) => page.getByRole("cell", { name: longConnection, exact: true }),
  "/admin/audit": (page) => page.getByRole("navigation", { name: "Audit pages" }),
};

const ADMIN_PAGES = [
  ["/connections", "My connections"],
  ["/sessions", "Active Sessions"],
  ["/shared", "Shared with me"],
  ["/history", "History"],
  ["/profile", "SSH keys"],
  ["/admin/users", "Users"],
  ["/admin/connections", "Connections"],
  ["/admin/audit", "Audit log"],
];
/** axe-core's serious and critical findings on the page as it is now, one line each. */
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
async function axeFindings(page) {
  // Evaluated through the DevTools protocol: the gateway's CSP rightly refuses an injected <script>.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(`${await readFile(AXE, "utf8")}\n;true`);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations);
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")} — ${n.failureSummary.split("\n")[1] ?? ""}`).join("; ")}`);
}

const USER_PAGES = [
  ["/connections", "My connections"],
  ["/sessions", "My sessions"],
  ["/shared", "Shared with me"],
  ["/history", "My history"],
  ["/profile", "SSH keys"],
];

test("every page fits the viewport at 1440×900 and 390×844", async () => {
  const long = await loggedIn(browser, longUser, `${longUser}-password`);
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  await openTerminal(long, longConnection);
  await openTerminal(ops, "prod-db");
  const admin = await loggedIn(browser, "admin", adminPassword);

  for (const [who, pages] of [
    [admin, ADMIN_PAGES],
    [long, USER_PAGES],
  ]) {
    for (const [width, height] of [
      [1440, 900],
      [390, 844],
    ]) {
      await who.page.setViewportSize({ width, height });
      for (const [route, heading] of pages) {
        await who.page.goto(`${base}/#${route}`);
        await who.page.getByRole("heading", { name: heading, exact: true }).first().waitFor();
        await LOADED[route](who.page).waitFor();
        assert.deepEqual(await overflowing(who.page), [], `${route} at ${width}px`);
      }
    }
  }
  await Promise.all([long.context.close(), ops.context.close(), admin.context.close()]);
});

test("axe-core finds nothing serious or critical on any page, light or dark", async () => {
  const long = await loggedIn(browser, longUser, `${longUser}-password`);
  await openTerminal(long, longConnection);
  const admin = await loggedIn(browser, "admin", adminPassword);
  const found = [];
  for (const scheme of ["light", "dark"]) {
    for (const [who, pages] of [
      [admin, ADMIN_PAGES],
      [long, USER_PAGES],
    ]) {
      await who.page.emulateMedia({ colorScheme: scheme });
      for (const [route, heading] of pages) {
        await who.page.goto(`${base}/#${route}`);
        await who.page.getByRole("heading", { name: heading, exact: true }).first().waitFor();
        await LOADED[route](who.page).waitFor();
        for (const f of await axeFindings(who.page)) found.push(`${route} (${scheme}): ${f}`);
      }
    }
    // The login page, logged out.
    const context = await browser.newContext({ colorScheme: scheme });
    const page = await context.newPage();
    await page.goto(base);
    await page.getByLabel("Username").waitFor();
    for (const f of await axeFindings(page)) found.push(`login (${scheme}): ${f}`);
    await context.close();
  }
  assert.deepEqual(found, []);
  await Promise.all([long.context.close(), admin.context.close()]);
});

test("Active Sessions shows every column inside its box at 1280 and 1440, cut with an ellipsis and the full text on hover", async () => {
  const long = await loggedIn(browser, longUser, `${longUser}-password`);
  await openTerminal(long, longConnection);
  const admin = await loggedIn(browser, "admin", adminPassword);
  await admin.page.getByRole("link", { name: "Active Sessions" }).click();
  // The first test's sessions may still be ending: take the newest.
  const row = admin.page.locator("tbody tr[data-session]").filter({ hasText: longUser }).first();
  await row.waitFor();
  for (const width of [1280, 1440]) {
    await admin.page.setViewportSize({ width, height: 900 });
    await tableFills(admin.page);
    const layout = await admin.page.evaluate(() => {
      const box = document.querySelector(".table-scroll");
      const b = box.getBoundingClientRect();
      const heads = [...document.querySelectorAll("thead th")].map((th) => {
        const r = th.getBoundingClientRect();
        return { text: th.innerText.trim(), inside: r.left >= b.left - 0.5 && r.right <= b.right + 0.5 };
      });
      return { scrolls: box.scrollWidth > box.clientWidth, heads };
    });
    assert.equal(layout.scrolls, false, `no sideways scrolling at ${width}px`);
    assert.deepEqual(layout.heads.filter((h) => !h.inside), [], `every column inside the box at ${width}px`);
    for (const label of ["User", "Connection", "Front end", "Ends in", "In / out", "Rec.", "Node", "Session id"]) {
      assert.ok(layout.heads.some((h) => h.text.startsWith(label)), `column ${label} at ${width}px`);
    }
    assert.deepEqual(await clippedHeads(admin.page), [], `every header reads whole at ${width}px`);
    assert.ok(layout.heads.some((h) => /^Active since\s▼$/.test(h.text)), "the sort arrow shows");
  }
  // With every column chosen too.
  await admin.page.getByRole("button", { name: "Columns" }).click();
  await admin.page.getByRole("checkbox", { name: "Protocol" }).check();
  await admin.page.getByRole("button", { name: "Columns" }).click();
  await admin.page.locator("thead th", { hasText: "Protocol" }).waitFor();
  await tableFills(admin.page);
  assert.deepEqual(await clippedHeads(admin.page), [], "every header reads whole at 1440px with every column");
  await admin.page.getByRole("button", { name: "Columns" }).click();
  await admin.page.getByRole("checkbox", { name: "Protocol" }).uncheck();
  await admin.page.getByRole("button", { name: "Columns" }).click();
  await admin.page.locator("thead th", { hasText: "Protocol" }).waitFor({ state: "detached" });
  await tableFills(admin.page);
  const userCell = row.locator("td", { hasText: longUser }).first();
  assert.equal(await userCell.getAttribute("title"), longUser, "the full name on hover");
  const cut = await userCell.evaluate((td) => td.scrollWidth > td.clientWidth && getComputedStyle(td).textOverflow);
  assert.equal(cut, "ellipsis", "a long name is cut with an ellipsis");
  const watch = await row.getByRole("link", { name: /^Watch/ }).boundingBox();
  const box = await admin.page.locator(".table-scroll").boundingBox();
  assert.ok(watch.x + watch.width <= box.x + box.width, "the actions are on screen, at the right");
  if (shots) await admin.page.screenshot({ path: `${shots}/active-sessions.png` });

  // The column chooser hides a column and the choice outlives a reload.
  await admin.page.getByRole("button", { name: "Columns" }).click();
  await admin.page.getByRole("checkbox", { name: "Node" }).uncheck();
  await admin.page.reload();
  await row.waitFor();
  assert.equal(await admin.page.locator("thead th", { hasText: "Node" }).count(), 0, "Node stays hidden after a reload");
  await admin.page.getByRole("button", { name: "Columns" }).click();
  await admin.page.getByRole("checkbox", { name: "Node" }).check();
  await admin.page.locator("thead th", { hasText: "Node" }).waitFor();
  await admin.page.getByRole("button", { name: "Columns" }).click();

  // On a phone: cards with the same checkbox and actions, and a menu.
  await admin.page.setViewportSize({ width: 390, height: 844 });
  const card = admin.page.locator("li.session-card").filter({ hasText: longUser }).first();
  await card.getByRole("checkbox", { name: new RegExp(`Select ${longUser}'s session`) }).check();
  await card.getByRole("link", { name: /^Watch/ }).waitFor();
  await admin.page.getByRole("button", { name: "End Sessions (1)" }).waitFor();
  if (shots) await admin.page.screenshot({ path: `${shots}/active-sessions-phone.png` });
  assert.equal(await admin.page.getByRole("link", { name: "Audit log" }).isVisible(), false, "the menu is folded");
  await admin.page.getByRole("button", { name: "Menu" }).click();
  await admin.page.getByRole("link", { name: "Audit log" }).click();
  await admin.page.getByRole("heading", { name: "Audit log" }).waitFor();
  await admin.page.locator('button[aria-expanded="false"]', { hasText: "Menu" }).waitFor();
  await Promise.all([long.context.close(), admin.context.close()]);
});

test("My connections has a search box: every word must match", async () => {
  const long = await loggedIn(browser, longUser, `${longUser}-password`);
  const cards = long.page.locator("ul.cards li");
  await cards.first().waitFor();
  const all = await cards.count();
  await long.page.getByLabel("Search connections").fill(`${longConnection.slice(0, 10).toUpperCase()} ssh`);
  await long.page.waitForFunction(() => document.querySelectorAll("ul.cards li").length === 1);
  await long.page.getByLabel("Search connections").fill(`${longConnection} no-such-word`);
  await long.page.getByRole("status").filter({ hasText: "No connection matches" }).waitFor();
  assert.equal(await cards.count(), 0);
  await long.page.getByLabel("Search connections").fill("");
  await long.page.waitForFunction((n) => document.querySelectorAll("ul.cards li").length === n, all);
  await long.context.close();
});

test("a plain user who opens an administration page by its address is told they have no access", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  for (const route of ["/admin/users", "/admin/connections", "/admin/audit"]) {
    await ops.page.goto(`${base}/#${route}`);
    await ops.page.getByRole("heading", { name: "You don't have access" }).waitFor();
    assert.equal(await ops.page.locator("form").count(), 0, `no admin form on ${route}`);
  }
  await ops.context.close();
});
