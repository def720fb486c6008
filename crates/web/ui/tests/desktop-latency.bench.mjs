// Key press in the browser to drawn pixels, in one Chromium, two clients of
// the same Xvnc display (run by bench/compare/desktop_browser.rs, which
// starts the display, the release gateway and websockify):
// - gatehouse: the real desktop tab (My connections → the VNC connection);
// - novnc: the @novnc/novnc package's RFB client through websockify, straight
//   to the display — the direct path's floor.
// Each timed key is a lowercase letter typed into the xterm's shell after a
// random 0–33 ms pause, the paths taking turns key by key; every 30 keys
// Ctrl-U clears the line (untimed). Prints one JSON object: per round, each
// path's keys with times in ms from the page's keydown.
import { readFileSync } from "node:fs";

import { launch, loggedIn } from "./browser.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through bench/run (BENCH_ONLY=desktop-browser)`);
  return v;
};
const desktopName = env("DESKTOP_NAME");
const websockify = env("WEBSOCKIFY_URL");
const vncPassword = env("VNC_PASSWORD");
const rounds = Number(process.env.ROUNDS ?? 5);
const keys = Number(process.env.KEYS ?? 60);
/** No draw on either page for this long: the screen has settled. */
const QUIET_MS = 150;
/** A key whose echo is not drawn by then is counted as missed. */
const KEY_TIMEOUT_MS = 5_000;

// In every page, before its own scripts: the time of each letter's keydown
// (capture phase, before the client's own handler), of the first binary
// WebSocket message after it, of the first draw on a canvas in the document
// after it, and of the first such draw that changed pixels. Both clients draw
// through these two methods: the gateway's tab drawImage()s each decoded PNG
// region on its canvas; noVNC draws into a detached back buffer and copies the
// damaged part to its visible canvas with drawImage() at the end of each
// update ("flip"); putImageData() is covered too.
function instrument() {
  const st = { key: null, msg: null, first: null, changed: null, lastDraw: 0, draws: 0, done: null, result: null };
  window.__lat = st;
  const finish = () => {
    st.done?.({ msg: st.msg === null ? null : st.msg - st.key, first: st.first - st.key, changed: st.changed - st.key });
    st.done = null;
  };
  // Before each timed key: forget the last one and wait for the next.
  window.__arm = () => {
    st.key = st.msg = st.first = st.changed = null;
    st.result = new Promise((resolve) => {
      st.done = resolve;
    });
  };
  // The armed key's times, or null if nothing changed within `ms`.
  window.__result = (ms) => Promise.race([st.result, new Promise((resolve) => setTimeout(() => resolve(null), ms))]);
  addEventListener(
    "keydown",
    (e) => {
      if (st.done && !e.ctrlKey && e.key.length === 1 && st.key === null) st.key = performance.now();
    },
    true,
  );
  // A real WebSocket, watched (noVNC checks its channel's own prototype, so
  // no subclass).
  window.WebSocket = new Proxy(window.WebSocket, {
    construct(Ws, args) {
      const ws = new Ws(...args);
      ws.addEventListener("message", (e) => {
        if (st.key !== null && st.msg === null && typeof e.data !== "string") st.msg = performance.now();
      });
      return ws;
    },
  });
  const proto = CanvasRenderingContext2D.prototype;
  const wrap = (name, dest) => {
    const orig = proto[name];
    proto[name] = function (...args) {
      if (!this.canvas.isConnected) return orig.apply(this, args);
      const t = performance.now();
      st.lastDraw = t;
      st.draws++;
      if (st.key === null || st.changed !== null) return orig.apply(this, args);
      if (st.first === null) st.first = t;
      let [x, y, w, h] = dest(args).map(Math.round);
      const cw = this.canvas.width;
      const ch = this.canvas.height;
      if (x < 0) (w += x), (x = 0);
      if (y < 0) (h += y), (y = 0);
      w = Math.min(w, cw - x);
      h = Math.min(h, ch - y);
      if (w <= 0 || h <= 0) return orig.apply(this, args);
      const before = new Uint32Array(this.getImageData(x, y, w, h).data.buffer);
      const out = orig.apply(this, args);
      const after = new Uint32Array(this.getImageData(x, y, w, h).data.buffer);
      for (let i = 0; i < after.length; i++) {
        if (after[i] !== before[i]) {
          st.changed = t;
          finish();
          break;
        }
      }
      return out;
    };
  };
  const size = (img) => [img.width, img.height];
  wrap("drawImage", (a) =>
    a.length <= 3 ? [a[1], a[2], ...size(a[0])] : a.length <= 5 ? [a[1], a[2], a[3], a[4]] : [a[5], a[6], a[7], a[8]],
  );
  wrap("putImageData", (a) => (a.length <= 3 ? [a[1], a[2], a[0].width, a[0].height] : [a[1] + a[3], a[2] + a[4], a[5], a[6]]));
}

const browser = await launch();

// The gateway's desktop tab, as a user opens it.
const { context: ghContext, page: home } = await loggedIn(browser, "admin", env("GATEHOUSE_ADMIN_PASSWORD"));
await ghContext.addInitScript(instrument);
const [gatehouse] = await Promise.all([
  ghContext.waitForEvent("page"),
  home.getByRole("link", { name: new RegExp(desktopName) }).click(),
]);
await gatehouse.waitForFunction((name) => document.title === `${name} · Gatehouse`, desktopName);

// noVNC's own client (tests/novnc-latency.html), served as deployments serve
// it: by websockify itself (--web), @novnc/novnc's files beside the page.
const novncContext = await browser.newContext({ viewport: { width: 1280, height: 720 } });
await novncContext.addInitScript(instrument);
const novnc = await novncContext.newPage();
await novnc.goto(`${websockify.replace(/^ws/, "http")}/?ws=${encodeURIComponent(websockify)}&pw=${encodeURIComponent(vncPassword)}`);
await novnc.waitForFunction(() => window.__connected || window.__disconnected, null, { timeout: 15_000 });
const failed = await novnc.evaluate(() => window.__disconnected);
if (failed) throw new Error(`noVNC did not connect: ${failed}`);

/** Near-white pixels on the page's visible canvas (the xterm's background). */
const whitePixels = (p) =>
  p.evaluate(() => {
    const cv = [...document.querySelectorAll("canvas")].find((c) => c.width > 0 && c.isConnected);
    if (!cv) return 0;
    const data = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    let white = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 240 && data[i + 1] > 240 && data[i + 2] > 240) white++;
    return white;
  });
for (const p of [gatehouse, novnc]) {
  const deadline = Date.now() + 15_000;
  while ((await whitePixels(p)) < 10_000) {
    if (Date.now() > deadline) throw new Error(`the xterm never appeared on ${p.url()}`);
    await p.waitForTimeout(100);
  }
}

/** Where desktop pixel (x, y) is on the page (the tab scales its canvas). */
const onPage = (p, x, y) =>
  p.evaluate(
    ([x, y]) => {
      const cv = [...document.querySelectorAll("canvas")].find((c) => c.width > 0 && c.isConnected);
      const r = cv.getBoundingClientRect();
      const scale = Math.min(r.width / cv.width, r.height / cv.height);
      const left = r.left + (r.width - cv.width * scale) / 2;
      const top = r.top + (r.height - cv.height * scale) / 2;
      return { x: left + x * scale, y: top + y * scale };
    },
    [x, y],
  );
// Each client's canvas takes the keys (the click focuses it) and the pointer
// rests over the xterm (no window manager: keys go to the window under it).
for (const p of [gatehouse, novnc]) {
  const at = await onPage(p, 100, 100);
  await p.mouse.click(at.x, at.y);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pages = { gatehouse, novnc };
/** Waits until neither page has drawn for QUIET_MS. */
async function quiet() {
  for (;;) {
    const last = await Promise.all(
      Object.values(pages).map((p) => p.evaluate(() => performance.now() - window.__lat.lastDraw)),
    );
    const since = Math.min(...last);
    if (since >= QUIET_MS) return;
    await sleep(QUIET_MS - since);
  }
}

const letters = "abcdefghijklmnopqrstuvwxyz";
let typed = 0;
const result = { rounds: [], visibility: {} };
for (const [name, p] of Object.entries(pages)) result.visibility[name] = await p.evaluate(() => document.visibilityState);
// A clean line to start with.
await gatehouse.keyboard.press("Control+u");
for (let round = 0; round < rounds; round++) {
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const times = { gatehouse: [], novnc: [] };
  for (let k = 0; k < keys; k++) {
    // Alternate which path goes first, key by key.
    const order = k % 2 === 0 ? ["gatehouse", "novnc"] : ["novnc", "gatehouse"];
    for (const name of order) {
      const p = pages[name];
      if (typed > 0 && typed % 30 === 0) {
        await p.keyboard.press("Control+u");
      }
      await quiet();
      await sleep(Math.random() * 33);
      await p.evaluate(() => window.__arm());
      const letter = letters[Math.floor(Math.random() * letters.length)];
      await p.keyboard.press(letter);
      typed++;
      times[name].push(await p.evaluate((ms) => window.__result(ms), KEY_TIMEOUT_MS));
    }
  }
  result.rounds.push({ load, ...times });
  console.error(`desktop-browser: round ${round + 1} of ${rounds} done`);
}
await gatehouse.keyboard.press("Control+u");
console.log(JSON.stringify(result));
await browser.close();
