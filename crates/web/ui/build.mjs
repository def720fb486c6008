// Bundles the UI into $GATEHOUSE_UI_OUT (the web crate's build script sets
// it to a folder under OUT_DIR), or ./dist when run by hand.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.GATEHOUSE_UI_OUT ?? join(here, "dist");

await mkdir(join(out, "assets"), { recursive: true });
await build({
  entryPoints: { app: join(here, "src/main.tsx") },
  outdir: join(out, "assets"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  jsx: "automatic",
  jsxImportSource: "preact",
  loader: { ".css": "css" },
  logLevel: "warning",
});
await copyFile(join(here, "index.html"), join(out, "index.html"));
