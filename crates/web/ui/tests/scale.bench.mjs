// Measures the Active Sessions page with many live sessions (run by
// bench/ui_scale.rs, which fills the gateway's registry first). Prints one
// JSON object of timings in milliseconds.
import { launch, loggedIn } from "./browser.mjs";

const expected = Number(process.env.SESSIONS);
const browser = await launch();
const { page } = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
const count = page.locator(".count");
const result = { sessions: expected };

let t = Date.now();
await page.getByRole("link", { name: "Active Sessions" }).click();
await count.filter({ hasText: `${expected} of ${expected} sessions` }).waitFor({ timeout: 60_000 });
result.first_render_ms = Date.now() - t;
result.rendered_rows = await page.locator("tbody tr[data-session]").count();

// Typing in the search box: time from the input event until the frame that
// shows the result has been painted, measured inside the page.
const search = async (text) =>
  page.evaluate(
    (text) =>
      new Promise((resolve) => {
        const input = document.querySelector('input[type="search"]');
        const start = performance.now();
        input.value = text;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - start), 0));
      }),
    text,
  );
result.search_keystroke_ms = [];
for (const text of ["u", "us", "use", "user", "user4", "user42", "user424", "user4242"]) {
  result.search_keystroke_ms.push(Math.round(await search(text)));
}
result.search_result = await count.innerText();
result.clear_search_ms = Math.round(await search(""));

// Scrolling to the bottom: time until the last row is painted.
result.scroll_to_end_ms = await page.evaluate(
  () =>
    new Promise((resolve) => {
      const scroller = document.querySelector(".table-scroll");
      const start = performance.now();
      scroller.scrollTop = scroller.scrollHeight;
      const check = () => {
        const rows = document.querySelectorAll("tbody tr[data-session]");
        const last = rows[rows.length - 1];
        if (last && Number(last.getAttribute("aria-rowindex")) === Number(document.querySelector("table").getAttribute("aria-rowcount"))) {
          resolve(Math.round(performance.now() - start));
        } else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    }),
);
result.rendered_rows_after_scroll = await page.locator("tbody tr[data-session]").count();
result.dom_nodes = await page.evaluate(() => document.getElementsByTagName("*").length);
result.js_heap_mb = await page.evaluate(() => Math.round((performance.memory?.usedJSHeapSize ?? 0) / 1048576));

// Live changes while 10,000 rows are shown: the bench starts and ends sessions
// when it sees this line, and we time until the count reflects them.
console.log("READY_FOR_CHURN");
t = Date.now();
const churned = Number(process.env.CHURN);
await count.filter({ hasText: `${expected + churned} of ${expected + churned} sessions` }).waitFor({ timeout: 60_000 });
result.churn_visible_ms = Date.now() - t;

console.log(JSON.stringify(result));
await browser.close();
