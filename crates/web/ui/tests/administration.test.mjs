// Administration in a real browser: an administrator creates a user and a
// connection from the UI; the new user opens it and works; the session ends
// from the keyboard alone and shows up in History.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PROMPT, launch, loggedIn, waitForScreen } from "./browser.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an administrator creates a user and a connection; the user works; the end is in History", async () => {
  const admin = await loggedIn(browser, "admin", env("GATEHOUSE_ADMIN_PASSWORD"));
  const page = admin.page;

  await page.getByRole("link", { name: "Users" }).click();
  const userForm = page.getByRole("form", { name: "Create a user" });
  await userForm.getByLabel("Username").fill("dev2");
  await userForm.getByLabel("Password").fill("dev2-password");
  await userForm.getByRole("button", { name: "Create user" }).click();
  await page.getByRole("status").filter({ hasText: "Created dev2." }).waitFor();
  await page.getByRole("checkbox", { name: "dev2 has role user" }).waitFor();
  assert.equal(await page.getByRole("checkbox", { name: "dev2 has role user" }).isChecked(), true);

  await page.getByRole("link", { name: "Connections", exact: true }).click();
  const connForm = page.getByRole("form", { name: "Create a connection" });
  await connForm.getByLabel("Name").fill("lab");
  await connForm.getByLabel("Host", { exact: true }).fill("127.0.0.1");
  await connForm.getByLabel("Port").fill(env("SSHD_PORT"));
  await connForm.getByLabel("Account").fill(env("TARGET_USER"));
  await connForm.getByLabel("Password or private key").fill(env("TARGET_PASSWORD"));
  // Grants are chosen from the lists of users and roles: type to filter,
  // Enter or a click adds, × removes.
  const users = connForm.getByRole("combobox", { name: "Users", exact: true });
  await users.fill("dev");
  const userOptions = connForm.getByRole("listbox", { name: "Users" }).getByRole("option");
  await userOptions.first().waitFor();
  assert.deepEqual(await userOptions.allInnerTexts(), ["dev2"], "only the users matching what was typed");
  await users.press("Enter");
  await connForm.getByRole("button", { name: "Remove dev2" }).waitFor();
  assert.equal(await users.inputValue(), "", "the search box empties after adding");
  const roles = connForm.getByRole("combobox", { name: "Roles", exact: true });
  await roles.fill("au");
  await connForm.getByRole("listbox", { name: "Roles" }).getByRole("option", { name: "auditor" }).click();
  await roles.fill("nobody-by-this-name");
  await connForm.getByText("No roles match").waitFor();
  await roles.press("Enter");
  await connForm.getByRole("button", { name: "Remove auditor" }).click();
  await connForm.getByRole("button", { name: "Remove auditor" }).waitFor({ state: "detached" });
  await roles.fill("");
  await roles.press("ArrowDown");
  assert.deepEqual(
    await connForm.getByRole("listbox", { name: "Roles" }).getByRole("option").allInnerTexts(),
    ["admin", "auditor", "user"],
    "every role, the removed one included",
  );
  await roles.press("Escape");
  assert.equal(await connForm.getByLabel("Record sessions").isChecked(), true, "recorded by default");
  assert.equal(await connForm.getByLabel("Record keystrokes too").isChecked(), false);
  await connForm.getByLabel("Record keystrokes too").check();
  await connForm.getByRole("button", { name: "Create connection" }).click();
  await page.getByRole("status").filter({ hasText: "Saved lab." }).waitFor();
  const row = page.getByRole("row").filter({ hasText: "lab" });
  assert.match(await row.innerText(), /pinned on first use/);
  // Granted to dev2 alone: the removed role and the unknown name were not sent.
  const saved = await page.evaluate(async () => {
    const all = await (await fetch("/api/v1/connections?all=true")).json();
    return all.find((c) => c.name === "lab");
  });
  assert.deepEqual([saved.users, saved.roles], [["dev2"], []]);
  assert.doesNotMatch(await page.content(), new RegExp(env("TARGET_PASSWORD")), "the secret is write-only");

  const dev = await loggedIn(browser, "dev2", "dev2-password");
  const [terminal] = await Promise.all([
    dev.context.waitForEvent("page"),
    dev.page.getByRole("link", { name: /lab/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);
  await terminal.getByText("● Recorded").waitFor();
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("echo lab-$((3*3))\n");
  await waitForScreen(terminal, "lab-9");

  // The host key was pinned by that first session.
  await page.reload();
  await page.getByRole("row").filter({ hasText: "lab" }).filter({ hasText: "SHA256:" }).waitFor();
  // The recording settings were saved with the connection.
  await page.getByRole("row").filter({ hasText: "lab" }).getByRole("button", { name: "Edit" }).click();
  const editForm = page.getByRole("form", { name: "Edit lab" });
  await editForm.getByLabel("Record keystrokes too").and(editForm.locator(":checked")).waitFor();
  await editForm.getByRole("button", { name: "Remove dev2" }).waitFor();
  await editForm.getByRole("button", { name: "Cancel" }).click();

  // End it with the keyboard only: checkbox, End Sessions, confirm.
  await page.getByRole("link", { name: "Active Sessions" }).click();
  const box = page.getByRole("checkbox", { name: /Select dev2's session on lab/ });
  await box.focus();
  await page.keyboard.press("Space");
  assert.equal(await box.isChecked(), true);
  await page.getByRole("button", { name: /^End Sessions/ }).focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("heading", { name: "End 1 session?" }).waitFor();
  await dialog.getByLabel("Message to the users (optional)").focus();
  await page.keyboard.press("Enter");
  await terminal.getByRole("alert").filter({ hasText: "Session ended by administrator admin" }).waitFor();

  await page.getByRole("link", { name: "History", exact: true }).click();
  await page.getByLabel("Search history").fill("dev2");
  const ended = page.getByRole("row").filter({ hasText: "dev2" }).filter({ hasText: "ended by administrator admin" });
  await ended.waitFor();
  assert.match(await ended.innerText(), /admin/);

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("row").filter({ hasText: "user.create" }).filter({ hasText: "dev2" }).waitFor();
  await admin.context.close();
  await dev.context.close();
});

test("a user registers an SSH key on their profile and sees the gateway's host key to check", async () => {
  const admin = await loggedIn(browser, "admin", env("GATEHOUSE_ADMIN_PASSWORD"));
  const page = admin.page;
  await page.getByRole("link", { name: "SSH keys" }).click();
  const fingerprint = page.getByLabel("Gateway host key fingerprint");
  assert.match(await fingerprint.innerText(), /^SHA256:[A-Za-z0-9+/]{43}$/);

  const form = page.getByRole("form", { name: "Add a key" });
  await form.getByLabel("Name").fill("laptop");
  await form
    .getByLabel("Public key")
    .fill("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFLdBKA+S44IkdcGZehSUKuWZGtVNII6sAVTqfN79Ygl ui-test");
  await form.getByRole("button", { name: "Add key" }).click();
  // The fingerprint ssh-keygen -lf printed for this key.
  const added = "SHA256:k9Ek5ftWTQW5e9wDKupd1qy9lsXaOFr6jWKGs69eeUI";
  await page.getByRole("status").filter({ hasText: `Added laptop (${added}).` }).waitFor();
  await page.getByRole("table", { name: "SSH keys" }).getByText(added).waitFor();

  await form.getByLabel("Name").fill("garbage");
  await form.getByLabel("Public key").fill("not a key");
  await form.getByRole("button", { name: "Add key" }).click();
  await page.getByRole("status").filter({ hasText: "is not an OpenSSH public key" }).waitFor();
  await admin.context.close();
});

test("a TCP service and a VNC desktop are created and edited from the Connections page", async () => {
  const admin = await loggedIn(browser, "admin", env("GATEHOUSE_ADMIN_PASSWORD"));
  const page = admin.page;
  const connection = (name) =>
    page.evaluate(
      async (n) => (await (await fetch("/api/v1/connections?all=true")).json()).find((c) => c.name === n),
      name,
    );

  await page.getByRole("link", { name: "Connections", exact: true }).click();
  const form = page.getByRole("form", { name: "Create a connection" });
  await form.locator("button[type=submit]:not([disabled])").waitFor();
  await form.getByLabel("Protocol").selectOption("tcp");
  await form.getByLabel("Name").fill("prod-pg");
  await form.getByLabel("Host", { exact: true }).fill("10.0.0.5");
  await form.getByLabel("Port").fill("5432");
  assert.equal(await form.getByLabel("Account").count(), 0, "a TCP service has no account");
  assert.equal(await form.getByLabel("Record sessions").count(), 0, "a tunnel's contents are never recorded");
  await form.getByRole("button", { name: "Create connection" }).click();
  await page.getByRole("status").filter({ hasText: "Saved prod-pg." }).waitFor();
  const pg = await connection("prod-pg");
  assert.deepEqual([pg.protocol, pg.host, pg.port], ["tcp", "10.0.0.5", 5432]);

  await form.getByLabel("Protocol").selectOption("vnc");
  await form.getByLabel("Name").fill("lab-desktop");
  await form.getByLabel("Host", { exact: true }).fill("10.0.0.6");
  assert.equal(await form.getByLabel("Port").inputValue(), "5900", "VNC's port by default");
  await form.getByLabel("Port").fill("5901");
  await form.getByLabel("VNC password").fill("vnc-secret-1");
  assert.equal(await form.getByLabel("Paste from the browser to the desktop").isChecked(), true);
  await form.getByLabel("Copy from the desktop to the browser").uncheck();
  await form.getByRole("button", { name: "Create connection" }).click();
  await page.getByRole("status").filter({ hasText: "Saved lab-desktop." }).waitFor();
  const desktop = await connection("lab-desktop");
  assert.deepEqual(
    [desktop.protocol, desktop.host, desktop.port, desktop.clipboard_to_desktop, desktop.clipboard_from_desktop],
    ["vnc", "10.0.0.6", 5901, true, false],
  );
  assert.doesNotMatch(JSON.stringify(desktop), /vnc-secret-1/, "the password is write-only");

  // Each opens in its own protocol's fields, with what was stored.
  await page.getByRole("row").filter({ hasText: "prod-pg" }).getByRole("button", { name: "Edit" }).click();
  let edit = page.getByRole("form", { name: "Edit prod-pg" });
  await edit.locator("button[type=submit]:not([disabled])").waitFor();
  assert.equal(await edit.getByLabel("Port").inputValue(), "5432");
  assert.equal(await edit.getByLabel("Account").count(), 0);
  await edit.getByRole("button", { name: "Cancel" }).click();

  await page.getByRole("row").filter({ hasText: "lab-desktop" }).getByRole("button", { name: "Edit" }).click();
  edit = page.getByRole("form", { name: "Edit lab-desktop" });
  await edit.locator("button[type=submit]:not([disabled])").waitFor();
  assert.equal(await edit.getByLabel("Port").inputValue(), "5901");
  assert.equal(await edit.getByLabel("Copy from the desktop to the browser").isChecked(), false);
  await edit.getByLabel("Copy from the desktop to the browser").check();
  await edit.getByRole("button", { name: "Save changes" }).click();
  // Saved: the form is back to creating a connection.
  await edit.waitFor({ state: "detached" });
  const changed = await connection("lab-desktop");
  assert.deepEqual([changed.port, changed.clipboard_from_desktop], [5901, true]);
  await admin.context.close();
});
