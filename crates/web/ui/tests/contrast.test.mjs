// Accessibility beyond axe-core, in the light and the dark theme: every
// focus ring and every input or button border reaches 3:1 against what
// surrounds it (WCAG 2.1 1.4.11), measured from computed colours; states
// shown by colour are also shown in words or a shape; no character on a page renders
// as a missing-glyph box in this Chromium's fonts.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, test } from "node:test";

import { PROMPT, base, launch, waitForScreen } from "./browser.mjs";

const shots = process.env.SCREENSHOT_DIR;
const PAGES = ["/connections", "/sessions", "/shared", "/history", "/profile", "/admin/users", "/admin/connections", "/admin/audit"];
let browser;
before(async () => {
  browser = await launch();
  if (shots) await mkdir(shots, { recursive: true });
});
after(() => browser?.close());

async function login(scheme) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: scheme });
  const page = await context.newPage();
  await page.goto(base);
  return { context, page };
}
async function logIn(page) {
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(process.env.GATEHOUSE_ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "My connections" }).waitFor();
}

/** Installs the colour arithmetic in the page (window.__contrast). */
const INSTALL = () => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) throw new Error(`unparsed colour ${c}`);
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  };
  const over = ([r, g, b, a], [R, G, B]) => [r * a + R * (1 - a), g * a + G * (1 - a), b * a + B * (1 - a), 1];
  /** The opaque colour behind `el`: its own background and its ancestors', composed. */
  const behind = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let out = [255, 255, 255, 1];
    for (const c of layers.reverse()) out = over(c, out);
    return out;
  };
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const describe = (el) =>
    `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." + el.className.trim().replace(/\s+/g, ".") : ""}` +
    ` "${(el.getAttribute("aria-label") || el.textContent || el.getAttribute("name") || "").trim().slice(0, 30)}"`;
  window.__contrast = { parse, over, behind, ratio, describe };
};

/** The focus ring of the focused element (or of the box that shows it for
 * the element, :focus-within) and its contrast with what surrounds it. */
const focusRing = (page) =>
  page.evaluate(() => {
    const { parse, over, behind, ratio, describe } = window.__contrast;
    const el = document.activeElement;
    if (!el || el === document.body || el.closest(".xterm")) return null;
    for (let e = el, up = 0; e && up < 3; e = e.parentElement, up++) {
      const s = getComputedStyle(e);
      if (s.outlineStyle === "none" || parseFloat(s.outlineWidth) === 0) continue;
      const around = behind(e.parentElement);
      const ring = over(parse(s.outlineColor), around);
      return { what: describe(el), width: parseFloat(s.outlineWidth), ratio: ratio(ring, around) };
    }
    return { what: describe(el), width: 0, ratio: 0 };
  });

/** Every visible input, select, textarea and bordered button whose edge is
 * neither its border nor its fill reaching 3:1 against its surroundings. */
const weakBorders = (page) =>
  page.evaluate(() => {
    const { parse, over, behind, ratio, describe } = window.__contrast;
    const bad = [];
    for (const el of document.querySelectorAll("input, select, textarea, button, .picker-box")) {
      if (el.disabled || el.closest(".xterm") || ["checkbox", "radio", "range", "hidden"].includes(el.type)) continue;
      const r = el.getBoundingClientRect();
      const s = getComputedStyle(el);
      if (r.width === 0 || s.visibility === "hidden" || s.borderTopStyle === "none" || parseFloat(s.borderTopWidth) === 0) continue;
      const around = behind(el.parentElement);
      const edge = ratio(over(parse(s.borderTopColor), around), around);
      const fill = ratio(behind(el), around);
      if (Math.max(edge, fill) < 3) bad.push(`${describe(el)}: border ${edge.toFixed(2)}:1, fill ${fill.toFixed(2)}:1`);
    }
    return bad;
  });

/** Tabs through the page (at most `max` stops); the weak or missing focus rings. */
async function weakRings(page, max = 40) {
  const bad = [];
  const seen = new Set();
  await page.locator("body").focus();
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const ring = await focusRing(page);
    if (!ring || seen.has(ring.what)) continue;
    seen.add(ring.what);
    if (ring.width < 2 || ring.ratio < 3) bad.push(`${ring.what}: ring ${ring.width}px at ${ring.ratio.toFixed(2)}:1`);
  }
  return { bad, count: seen.size };
}

/** Characters on the page that render as the missing-glyph box: drawn on a
 * canvas in the page's font, compared with a character no font has. */
const boxes = (page) =>
  page.evaluate(() => {
    const text = document.body.innerText + [...document.querySelectorAll("[title],[aria-label]")].map((e) => e.title).join("");
    const chars = [...new Set([...text].filter((c) => c.codePointAt(0) > 127 && !/\s/.test(c)))];
    const font = `16px ${getComputedStyle(document.body).fontFamily}`;
    const draw = (c) => {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 32;
      const g = canvas.getContext("2d");
      g.font = font;
      g.fillText(c, 4, 24);
      return canvas.toDataURL();
    };
    const missing = draw("\u{10FFFD}");
    return { checked: chars.join(""), boxes: chars.filter((c) => draw(c) === missing) };
  });

for (const scheme of ["light", "dark"]) {
  test(`focus rings and borders reach 3:1 and no glyph is a box (${scheme} theme)`, async () => {
    const { context, page } = await login(scheme);
    const problems = [];
    const glyphs = new Set();
    const check = async (where) => {
      await page.evaluate(INSTALL);
      for (const b of await weakBorders(page)) problems.push(`${where}: ${b}`);
      const rings = await weakRings(page);
      assert.ok(rings.count >= 2, `${where}: Tab reached ${rings.count} controls`);
      for (const b of rings.bad) problems.push(`${where}: ${b}`);
      const found = await boxes(page);
      for (const c of found.checked) glyphs.add(c);
      for (const c of found.boxes) problems.push(`${where}: "${c}" (U+${c.codePointAt(0).toString(16)}) renders as a box`);
    };
    await check("login");
    await logIn(page);

    // A live, recorded session close to its idle limit, on Active Sessions.
    const [terminal] = await Promise.all([
      context.waitForEvent("page"),
      page.getByRole("link", { name: /prod-db/ }).click(),
    ]);
    await waitForScreen(terminal, PROMPT);
    await terminal.evaluate(INSTALL);
    for (const b of await weakBorders(terminal)) problems.push(`terminal: ${b}`);
    const termRings = await weakRings(terminal, 8);
    for (const b of termRings.bad) problems.push(`terminal: ${b}`);

    for (const path of PAGES) {
      await page.goto(`${base}/#${path}`);
      await page.locator("main h1").first().waitFor();
      if (path === "/sessions") await page.getByRole("row").filter({ hasText: "prod-db" }).waitFor();
      if (path === "/admin/connections") {
        // The grant pickers' lists, open.
        await page.getByRole("combobox", { name: "Roles", exact: true }).focus();
        await page.getByRole("listbox", { name: "Roles" }).waitFor();
      }
      await check(path);
    }
    assert.deepEqual(problems, [], problems.join("\n"));
    // The check saw the glyphs it is about.
    for (const c of "●▼") assert.ok(glyphs.has(c), `"${c}" was on no page checked: ${[...glyphs].join("")}`);

    // States in colour are in words too: the expiring row says when it ends,
    // the recording dot has a name.
    await page.goto(`${base}/#/sessions`);
    const expiring = page.locator("tr.expiring").filter({ hasText: "prod-db" });
    await expiring.waitFor();
    assert.match(await expiring.innerText(), /ends in \d+s/);
    const cut = await expiring.locator("td").filter({ hasText: /^ends in/ }).evaluate((td) => td.scrollWidth > td.clientWidth);
    assert.equal(cut, false, "the words are whole, not cut by an ellipsis");
    assert.match(await expiring.locator('td[title="Recorded"]').textContent(), /●\s*recorded/);
    // Every action of the row is inside its cell, none cut off.
    const clipped = await expiring.locator("td.actions").evaluate((td) => {
      const box = td.getBoundingClientRect();
      return [...td.querySelectorAll("a, button")].filter((a) => a.getBoundingClientRect().right > box.right + 0.5).map((a) => a.textContent);
    });
    assert.deepEqual(clipped, [], "actions cut off");
    if (shots && scheme === "dark") await page.screenshot({ path: `${shots}/active-sessions-dark.png` });
    await context.close();
  });
}
