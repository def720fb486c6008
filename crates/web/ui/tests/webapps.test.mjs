// A web application through the gateway, in a real browser: an
// administrator publishes httpbin from the Connections page; a user opens it
// from My connections (a new tab on its own app host, bin.apps.localhost),
// fills and submits its form; the administrator sees the session in Active
// Sessions, watches its request log live, ends it with a message, and the
// user's tab shows who ended it; History replays the requests as a table.
// httpbin has no WebSocket, so none is opened here (the proxy's own tests
// relay WebSockets).
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, test } from "node:test";

import { base, launch, loggedIn } from "./browser.mjs";

const adminPassword = process.env.GATEHOUSE_ADMIN_PASSWORD;
const httpbin = process.env.HTTPBIN_URL;
if (!httpbin) throw new Error("HTTPBIN_URL is not set");
const shots = process.env.SCREENSHOT_DIR;
const port = new URL(base).port;
const appOrigin = `http://bin.apps.localhost:${port}`;
const API_KEY = "s3cret-api-key-for-bin";
let browser;

before(async () => {
  browser = await launch();
  if (shots) await mkdir(shots, { recursive: true });
});
after(() => browser?.close());

/** The text of a page that shows JSON (httpbin's answers). */
const body = (page) => page.locator("body").innerText();

test("an administrator publishes a web application; a user uses it; it is watched, ended and replayed", async () => {
  const admin = await loggedIn(browser, "admin", adminPassword);
  const page = admin.page;

  // Publish httpbin as "bin", injecting an API key and naming the user to it.
  await page.getByRole("link", { name: "Connections", exact: true }).click();
  const form = page.getByRole("form", { name: "Create a connection" });
  await form.getByLabel("Name", { exact: true }).fill("bin");
  await form.getByLabel("Protocol").selectOption("http");
  assert.equal(await form.getByLabel("Port").count(), 0, "no SSH fields for a web application");
  await form.getByLabel("URL", { exact: true }).fill(httpbin);
  assert.equal(await form.getByLabel("Verify the app's TLS certificate").isChecked(), true, "TLS verified by default");
  await form.getByLabel("Injected credential").selectOption("header");
  await form.getByLabel("Header name").fill("X-Api-Key");
  await form.getByLabel("Header value").fill(API_KEY);
  await form.getByLabel("Identity header (optional)").fill("X-Gatehouse-User");
  const users = form.getByRole("combobox", { name: "Users", exact: true });
  await users.fill("ops1");
  await form.getByRole("listbox", { name: "Users" }).getByRole("option", { name: "ops1" }).waitFor();
  await users.press("Enter");
  await form.getByRole("button", { name: "Remove ops1" }).waitFor();
  assert.equal(await form.getByLabel("Record the request log").isChecked(), true, "recorded by default");
  if (shots) await page.screenshot({ path: `${shots}/connections-http.png` });
  await form.getByRole("button", { name: "Create connection" }).click();
  await page.getByRole("status").filter({ hasText: "Saved bin." }).waitFor();
  const row = page.getByRole("row").filter({ hasText: "bin" });
  const listed = await row.innerText();
  assert.match(listed, /web application/);
  assert.ok(listed.includes(httpbin), `the list shows the app's URL: ${listed}`);
  assert.match(listed, /header X-Api-Key/);
  assert.match(listed, /identity in X-Gatehouse-User/);
  assert.doesNotMatch(await page.content(), new RegExp(API_KEY), "the injected secret is write-only");

  // Edit it without retyping the secret: the stored one is kept.
  await row.getByRole("button", { name: "Edit" }).click();
  const edit = page.getByRole("form", { name: "Edit bin" });
  // The form is ready (and no longer redrawn) once the recording settings came.
  await edit.locator("button[type=submit]:enabled").waitFor();
  assert.equal(await edit.getByLabel("Protocol").isDisabled(), true, "a connection keeps its protocol");
  assert.equal(await edit.getByLabel("URL", { exact: true }).inputValue(), httpbin);
  assert.equal(await edit.getByLabel("Header name").inputValue(), "X-Api-Key");
  await edit.getByLabel("Leave query strings out of the request log").check();
  await edit.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("status").filter({ hasText: "Saved bin." }).waitFor();
  await page.getByRole("row").filter({ hasText: "bin" }).filter({ hasText: "queries redacted" }).waitFor();

  // The user opens it from My connections: a new tab, logged in to the app.
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const card = ops.page.getByRole("link", { name: /bin/ });
  assert.match(await card.innerText(), /Open/);
  assert.equal(await card.getAttribute("target"), "_blank");
  const [app] = await Promise.all([ops.context.waitForEvent("page"), card.click()]);
  await app.waitForURL(`${appOrigin}/`);

  // httpbin's form: fill it, submit it, and see what the app received.
  await app.goto(`${appOrigin}/forms/post`);
  await app.getByLabel("Customer name:").fill("Ada Lovelace");
  await app.getByLabel("Delivery instructions:").fill("through-the-gateway");
  await app.getByLabel("Large").check();
  await Promise.all([app.waitForURL(`${appOrigin}/post`), app.getByRole("button", { name: "Submit order" }).click()]);
  const echoed = JSON.parse(await body(app));
  assert.equal(echoed.form.custname, "Ada Lovelace");
  assert.equal(echoed.form.comments, "through-the-gateway");
  assert.equal(echoed.form.size, "large");
  // The app got the injected key and the user's name, never the gateway's cookie.
  assert.equal(echoed.headers["X-Api-Key"], API_KEY, "the stored key survived the edit");
  assert.equal(echoed.headers["X-Gatehouse-User"], "ops1");
  assert.doesNotMatch(echoed.headers.Cookie ?? "", /gatehouse_session/);

  // The administrator finds it in Active Sessions: front end "web app", its requests.
  await page.getByRole("link", { name: "Active Sessions" }).click();
  const session = page.locator("tbody tr[data-session]").filter({ hasText: "bin" });
  // Its activity: requests served and the last one (the POST, or a favicon
  // the browser asked for after it).
  await session.filter({ hasText: /\d+ requests · (POST \/post 200|GET \/favicon\.ico)/ }).waitFor();
  const cells = session.locator("td");
  assert.equal((await cells.nth(3).innerText()).trim(), "web app", "the Front end column");
  assert.match(await session.innerText(), /ops1/);
  if (shots) await page.screenshot({ path: `${shots}/active-sessions-http.png` });

  // Watching it shows the request log as a table, live.
  const [watch] = await Promise.all([
    admin.context.waitForEvent("page"),
    page.getByRole("link", { name: "Watch ops1's session on bin" }).click(),
  ]);
  await watch.getByRole("status").filter({ hasText: "Watching ops1's session (read-only)" }).waitFor();
  const requests = watch.getByRole("table", { name: "Requests" });
  await requests.getByRole("row", { name: /GET \/forms\/post 200/ }).waitFor();
  await requests.getByRole("row", { name: /POST \/post 200/ }).waitFor();
  assert.equal(await watch.locator(".xterm-rows").isVisible().catch(() => false), false, "no terminal");
  await app.goto(`${appOrigin}/anything/while-watched?token=hidden`);
  assert.match(await body(app), /while-watched/);
  // Redacted: the query string never reaches the log.
  const live = requests.getByRole("row").filter({ hasText: "/anything/while-watched?…" });
  await live.waitFor();
  assert.match(await live.innerText(), /200/);
  assert.doesNotMatch(await requests.innerText(), /token=hidden/);
  // A failed request is tinted, and says so in words.
  await app.evaluate(() => fetch("/status/404"));
  const failed = requests.locator("tr.failed").filter({ hasText: "/status/404" });
  await failed.waitFor();
  assert.match(await failed.locator("td").last().innerText(), /^client error 404$/);
  if (shots) await watch.screenshot({ path: `${shots}/watch-http.png` });

  // End it with a message.
  await page.getByRole("checkbox", { name: "Select ops1's session on bin" }).check();
  await page.getByRole("button", { name: /^End Sessions/ }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Message to the users (optional)").fill("maintenance window");
  await dialog.getByRole("button", { name: "End 1 session" }).click();
  await page.getByRole("status").filter({ hasText: "Ended 1 session." }).waitFor();
  await watch.getByRole("alert").filter({ hasText: "Session ended by administrator admin" }).waitFor();

  // The user's next request gets the ended page.
  await app.reload();
  await app.getByText("Session ended by administrator admin: maintenance window").waitFor();
  assert.match(await app.title(), /bin: session ended/);
  if (shots) await app.screenshot({ path: `${shots}/webapp-ended.png` });

  // History replays the recorded requests as a table, once the recording is complete.
  await page.getByRole("link", { name: "History", exact: true }).click();
  const ended = page.getByRole("row").filter({ hasText: "bin" }).filter({ hasText: "ended by administrator admin" });
  await ended.waitFor();
  for (let i = 0; !(await ended.filter({ hasText: /\d B|KiB/ }).count()); i++) {
    assert.ok(i < 50, `the recording never completed: ${await ended.innerText()}`);
    await page.waitForTimeout(100);
    await page.reload();
    await ended.waitFor();
  }
  await ended.getByRole("link", { name: "Replay ops1's session on bin" }).click();
  const recorded = page.getByRole("table", { name: "Recorded requests" });
  await recorded.getByRole("row", { name: /GET \/forms\/post 200/ }).waitFor();
  await recorded.getByRole("row", { name: /POST \/post 200/ }).waitFor();
  await recorded.getByRole("row").filter({ hasText: "/anything/while-watched?…" }).waitFor();
  assert.equal(await page.getByRole("toolbar", { name: "Playback" }).isVisible(), false, "no terminal player");
  await page.getByLabel("Filter requests").fill("post");
  assert.equal(await recorded.getByRole("row").filter({ hasText: "/anything" }).count(), 0);
  if (shots) await page.screenshot({ path: `${shots}/replay-http.png` });

  await ops.context.close();
  await admin.context.close();
});

test("an app host sends a browser that is not logged in to log in, then on to the page it asked for", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${appOrigin}/anything/after-login`);
  await page.getByLabel("Username").waitFor({ timeout: 5000 }).catch(async (e) => {
    throw new Error(`${e.message}\nat ${page.url()}: ${await body(page)}`);
  });
  // The gateway's login page, told where to go next.
  await page.getByLabel("Username").fill("ops1");
  assert.match(new URL(page.url()).searchParams.get("next") ?? "", /^\/apps\/launch\/bin/);
  await page.getByLabel("Password").fill("ops1-password");
  await Promise.all([
    page.waitForURL(`${appOrigin}/anything/after-login`),
    page.getByRole("button", { name: "Log in" }).click(),
  ]);
  assert.equal(JSON.parse(await body(page)).url.endsWith("/anything/after-login"), true);
  await context.close();
});

test("a next parameter that leaves the gateway is ignored", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  for (const next of ["//example.invalid/x", "/\\example.invalid/x", "https://example.invalid/"]) {
    await page.goto(`${base}/?next=${encodeURIComponent(next)}`);
    await page.getByLabel("Username").fill("ops1");
    await page.getByLabel("Password").fill("ops1-password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "My connections" }).waitFor();
    assert.equal(new URL(page.url()).origin, new URL(base).origin, `followed ${next}`);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("Username").waitFor();
  }
  await context.close();
});
