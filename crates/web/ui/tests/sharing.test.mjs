// Sharing from the terminal tab: the owner types the start of a colleague's
// name and is offered it, shares with them so they may type, the colleague
// joins from "Shared with me" and types into the shell, the owner removes
// them again while the session goes on, and withdraws a new invitation
// before it is used.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PROMPT, launch, loggedIn, screenText, waitForScreen } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("an owner shares a session, the invitee types into it, and is removed", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const [terminal] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);

  await terminal.getByRole("button", { name: "Share" }).click();
  const dialog = terminal.getByRole("dialog");
  // ops1 may not list users and this browser never shared before: the
  // gateway suggests the names that start with what is typed.
  await dialog.getByLabel("User").pressSequentially("de");
  const suggested = dialog.locator("datalist#share-users option");
  await suggested.first().waitFor({ state: "attached" });
  assert.deepEqual(await suggested.evaluateAll((os) => os.map((o) => o.value)), ["dev2"]);
  await dialog.getByLabel("User").fill("dev2");
  await dialog.getByLabel("Access").selectOption("interactive");
  await dialog.getByRole("button", { name: "Share" }).click();
  await terminal.getByRole("status").filter({ hasText: "Shared with dev2" }).waitFor();

  const dev = await loggedIn(browser, "dev2", "dev2-password");
  await dev.page.getByRole("link", { name: "Shared with me" }).click();
  const [joined] = await Promise.all([
    dev.context.waitForEvent("page"),
    dev.page.getByRole("link", { name: /Join ops1's session on prod-db/ }).click(),
  ]);
  await joined.getByRole("status").filter({ hasText: "In ops1's session (you can type)" }).waitFor();
  await joined.locator(".xterm-helper-textarea").focus();
  await joined.keyboard.type("echo from-dev2-$((2*2))\n");
  await waitForScreen(terminal, "from-dev2-4");
  await terminal.getByRole("status").filter({ hasText: "dev2 can type" }).waitFor();

  await terminal.getByRole("button", { name: "Remove dev2 (interactive)" }).click();
  await joined.getByText("You were removed from this session by ops1").waitFor();
  await terminal.getByRole("status").filter({ hasText: "can type" }).waitFor({ state: "detached" });
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("echo still-mine-$((3*3))\n");
  await waitForScreen(terminal, "still-mine-9");

  // Removal withdrew the invitation; a new one can be withdrawn before use.
  await dev.page.reload();
  await dev.page.getByText("No live session is shared with you.").waitFor();
  await terminal.getByRole("button", { name: "Share" }).click();
  await dialog.getByLabel("User").fill("dev2");
  await dialog.getByRole("button", { name: "Share" }).click();
  await terminal.getByRole("status").filter({ hasText: "Shared with dev2" }).waitFor();
  await dev.page.reload();
  await dev.page.getByRole("link", { name: /Join ops1's session on prod-db/ }).waitFor();
  await terminal.getByRole("button", { name: "Withdraw invitation for dev2" }).click();
  await terminal.getByRole("status").filter({ hasText: "Invitation for dev2 withdrawn" }).waitFor();
  await dev.page.reload();
  await dev.page.getByText("No live session is shared with you.").waitFor();
  await Promise.all([ops.context.close(), dev.context.close()]);
});

// Regression (issue 21): after Share, an end left the tab black — the
// terminal's element was replaced when the ended notice rendered.
test("after Share, an end keeps the terminal's text, read-only, with Reconnect and Close", async () => {
  const ops = await loggedIn(browser, "ops1", "ops1-password");
  const [terminal] = await Promise.all([
    ops.context.waitForEvent("page"),
    ops.page.getByRole("link", { name: /prod-db/ }).click(),
  ]);
  await waitForScreen(terminal, PROMPT);
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("echo kept-$((6*7))\n");
  await waitForScreen(terminal, "kept-42");
  // Ctrl+V pastes (as well as Ctrl+Shift+V).
  await ops.context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await terminal.evaluate(() => navigator.clipboard.writeText("echo pasted-$((2*5))"));
  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.press("Control+V");
  await terminal.keyboard.press("Enter");
  await waitForScreen(terminal, "pasted-10");
  await terminal.getByRole("banner", { name: "Session" }).getByText("prod-db").waitFor();
  assert.match(await terminal.title(), /prod-db/, "the tab's title names the connection");

  await terminal.getByRole("button", { name: "Share" }).click();
  const dialog = terminal.getByRole("dialog");
  await dialog.getByLabel("User").fill("dev2");
  await dialog.getByRole("button", { name: "Share" }).click();
  await terminal.getByRole("status").filter({ hasText: "Shared with dev2" }).waitFor();

  await terminal.locator(".xterm-helper-textarea").focus();
  await terminal.keyboard.type("exit\n");
  await terminal.getByRole("alert").filter({ hasText: "Connection closed by the server" }).waitFor();
  const text = await screenText(terminal);
  assert.match(text, /kept-42/, `the screen keeps its text after the end:\n${text}`);
  const box = await terminal.locator(".xterm-screen").boundingBox();
  assert.ok(box && box.width > 200 && box.height > 100, `the terminal is still drawn: ${JSON.stringify(box)}`);
  await terminal.getByRole("button", { name: "Reconnect" }).waitFor();
  await terminal.getByRole("button", { name: "Close" }).waitFor();
  assert.equal(await terminal.getByRole("button", { name: "Share" }).count(), 0, "nothing to share once ended");

  // Reconnect opens a new session on the same connection in the same tab.
  await terminal.getByRole("button", { name: "Reconnect" }).click();
  await waitForScreen(terminal, PROMPT);
  await terminal.getByText("Connected", { exact: true }).waitFor();
  await ops.context.close();
});
