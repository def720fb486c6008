//! Builds the browser UI (crates/web/ui, TypeScript) into OUT_DIR so the
//! gatehouse binary can embed it: `npm ci` when the installed packages are
//! missing or older than package-lock.json, then the esbuild bundle.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ui = manifest.join("ui");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("ui");
    for input in [
        "src",
        "index.html",
        "build.mjs",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed=ui/{input}");
    }

    let installed = ui.join("node_modules/.package-lock.json");
    if modified(&ui.join("package-lock.json")) > modified(&installed) {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&ui));
    }
    run(Command::new("node")
        .arg("build.mjs")
        .env("GATEHOUSE_UI_OUT", &out)
        .current_dir(&ui));
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn run(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("building the web UI failed: {shown} exited with {status}"),
        Err(e) => panic!(
            "building the web UI needs Node.js 20+ and npm on PATH (Debian: apt-get install nodejs npm); \
             running {shown} failed: {e}"
        ),
    }
}
