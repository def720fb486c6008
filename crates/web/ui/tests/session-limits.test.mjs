// Session limits set in the administration pages: a connection's idle limit
// in its form, a role's maximum duration on the Users page. The API reports
// what the UI saved, and a session opened afterwards shows when it ends.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PROMPT, launch, loggedIn, waitForScreen } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

const get = (page, path) => page.evaluate(async (p) => (await fetch(`/api/v1${p}`)).json(), path);

test("a connection's idle limit and a role's maximum duration are set in the UI and apply", async () => {
  const admin = await loggedIn(browser, "admin", process.env.GATEHOUSE_ADMIN_PASSWORD);
  const page = admin.page;

  await page.getByRole("link", { name: "Connections", exact: true }).click();
  await page.getByRole("row").filter({ hasText: "prod-db" }).getByRole("button", { name: "Edit" }).click();
  let form = page.getByRole("form", { name: "Edit prod-db" });
  await form.locator("button[type=submit]:not([disabled])").waitFor();
  const idle = form.getByLabel("Idle limit", { exact: true });
  assert.equal(await idle.inputValue(), "", "no limit yet");
  await idle.fill("45");
  await form.getByLabel("Idle limit: unit").selectOption("seconds");
  await form.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("status").filter({ hasText: "Saved prod-db." }).waitFor();

  const [conn] = (await get(page, "/connections?all=true")).filter((c) => c.name === "prod-db");
  assert.deepEqual(await get(page, `/connections/${conn.id}/limits`), {
    idle_timeout_seconds: 45,
    max_session_seconds: null,
  });
  // The form shows the stored limit when opened again.
  await page.getByRole("row").filter({ hasText: "prod-db" }).getByRole("button", { name: "Edit" }).click();
  form = page.getByRole("form", { name: "Edit prod-db" });
  // Save is enabled once the connection's stored settings have loaded.
  await form.locator("button[type=submit]:not([disabled])").waitFor();
  assert.equal(await form.getByLabel("Idle limit", { exact: true }).inputValue(), "45");
  assert.equal(await form.getByLabel("Idle limit: unit").inputValue(), "1");
  await form.getByRole("button", { name: "Cancel" }).click();

  // A role's maximum duration, on the Users page.
  await page.getByRole("link", { name: "Users" }).click();
  const roleForm = page.getByRole("form", { name: "Limits of role admin" });
  await roleForm.getByLabel("Maximum duration", { exact: true }).fill("8");
  await roleForm.getByLabel("Maximum duration: unit").selectOption("hours");
  await roleForm.getByRole("button", { name: "Save admin's limits" }).click();
  await page.getByRole("status").filter({ hasText: "Saved the limits of role admin: at most 8h 00m." }).waitFor();
  const roles = await get(page, "/roles");
  assert.deepEqual(roles.find((r) => r.name === "admin").limits, { idle_timeout_seconds: null, max_session_seconds: 28800 });
  assert.deepEqual(roles.find((r) => r.name === "user").limits, { idle_timeout_seconds: null, max_session_seconds: null });
  await page.getByRole("form", { name: "Limits of role admin" }).getByText("at most 8h 00m").waitFor();

  // A session opened now ends after 45 s without input: Active Sessions says so in words.
  await page.getByRole("link", { name: "My connections" }).click();
  const [terminal] = await Promise.all([
    admin.context.waitForEvent("page"),
    page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);
  await page.getByRole("link", { name: "Active Sessions" }).click();
  const row = page.getByRole("row").filter({ hasText: "prod-db" });
  await row.filter({ hasText: /ends in \d+s/ }).waitFor();
  const session = (await get(page, "/sessions")).items[0];
  assert.equal(session.idle_timeout_seconds, 45);
  assert.equal(session.max_duration_seconds, 28800);
  await admin.context.close();
});
