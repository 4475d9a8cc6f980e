// End-to-end check of the subset explorer in JupyterLab, driven by tests/test_browser.py.
//
//   node explorer.js <notebook URL> <screenshot.png> <fresh profile dir>
//
// Opens the notebook in headless Chromium, waits for the kernel to be idle, runs all
// cells, waits for the explorer's image grid, changes the "rule" picker, checks that the
// grid's image bytes changed, picks a subset to compare with, clicks a point of the study Q
// scatter (which must open that subset and show its measures), and saves a screenshot. Prints one JSON line starting with
// RESULT and exits 0 on success, 1 on failure (after a screenshot of what it saw).
"use strict";

const { chromium } = require("playwright-core");
const crypto = require("crypto");

const [url, screenshot, profile] = process.argv.slice(2);
if (!url || !screenshot || !profile) {
  console.error("usage: node explorer.js <notebook URL> <screenshot.png> <profile dir>");
  process.exit(2);
}
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

const KEPT = "img.xf-kept";

// The bytes behind the grid's <img> (ipywidgets serves them as a blob: URL) and a hash.
async function gridImage(page) {
  const info = await page.$eval(KEPT, async (img) => {
    const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    return { src: img.src, width: img.naturalWidth, height: img.naturalHeight, bytes: Array.from(buf) };
  });
  const hash = crypto.createHash("sha256").update(Buffer.from(info.bytes)).digest("hex");
  return { src: info.src, width: info.width, height: info.height, size: info.bytes.length, hash };
}

async function kernelIdle(page, timeout) {
  // Idle means: the server has a session for this notebook whose kernel is idle, the
  // notebook toolbar's execution indicator says idle, and no dialog is open.
  await page.waitForFunction(async () => {
    const el = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator");
    if (!el || el.getAttribute("data-status") !== "idle" || document.querySelector(".jp-Dialog")) return false;
    try {
      const sessions = await (await fetch("/api/sessions", { cache: "no-store" })).json();
      return sessions.some((s) => s.path.endsWith("explore.ipynb") && s.kernel && s.kernel.execution_state === "idle");
    } catch (e) {
      return false;
    }
  }, null, { timeout, polling: 500 });
}

// JupyterLab may still ask which kernel to use; accept its (preselected) Python 3 choice.
async function acceptKernelDialog(page) {
  const dialog = await page.$(".jp-Dialog");
  if (dialog) {
    log("dialog:", (await dialog.innerText()).replace(/\s+/g, " ").slice(0, 120));
    await page.click(".jp-Dialog .jp-mod-accept");
  }
}

// "Run all" from the Run menu, checked: some cell's prompt must turn to [*] or [n] soon after.
// A click that lands while the menu bar is still being built (a busy machine) opens nothing
// and runs nothing, so the cells would never execute: retry it, then fail with a reason.
async function runAll(page) {
  for (let attempt = 1; attempt <= 3; attempt++) {
    await page.click('.lm-MenuBar-itemLabel:text-is("Run")');
    await page.click('.lm-Menu-item[data-command="runmenu:run-all"]');
    await page.waitForTimeout(1000);
    await acceptKernelDialog(page);
    try {
      await page.waitForFunction(() => [...document.querySelectorAll(".jp-InputArea-prompt")]
        .some((p) => /\[(\*|\d+)\]/.test(p.textContent)), null, { timeout: 30000 });
      return attempt;
    } catch (e) {
      log(`no cell started after "Run all" (attempt ${attempt})`);
      await page.keyboard.press("Escape");
    }
  }
  throw new Error('"Run all" never started executing the cells');
}

async function main() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
    viewport: { width: 1500, height: 1900 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(60000);
  page.on("pageerror", (e) => log("page error:", e.message));
  const result = { ok: false };
  try {
    log("open", url);
    await page.goto(url, { waitUntil: "domcontentloaded" });
    await page.waitForSelector(".jp-NotebookPanel .jp-Cell", { timeout: 90000 });
    await page.waitForTimeout(1000);
    await acceptKernelDialog(page);
    await kernelIdle(page, 120000);
    log("kernel idle");

    log(`run all cells (started on attempt ${await runAll(page)})`);
    await page.waitForFunction((sel) => {
      const img = document.querySelector(sel);
      return img && img.complete && img.naturalWidth > 0;
    }, KEPT, { timeout: 120000 });
    await kernelIdle(page, 120000);
    const before = await gridImage(page);
    const subsetBefore = await page.$eval(".xf-picker-subset select", (s) => s.options[s.selectedIndex].text);
    log("grid shown:", before.width, "x", before.height, "px;", "subset", subsetBefore);

    const rule = ".xf-picker-rule select";
    const options = await page.$$eval(`${rule} option`, (os) => os.map((o) => o.textContent));
    const current = await page.$eval(rule, (s) => s.selectedIndex);
    if (options.length < 2) throw new Error(`the rule picker has only ${options.length} option(s)`);
    const target = options.indexOf("own_mean") >= 0 && options.indexOf("own_mean") !== current
      ? options.indexOf("own_mean") : (current + 1) % options.length;
    await page.selectOption(rule, { index: target });
    log(`rule: ${options[current]} -> ${options[target]}`);
    await page.waitForFunction(({ sel, src }) => {
      const img = document.querySelector(sel);
      return img && img.src !== src && img.complete && img.naturalWidth > 0;
    }, { sel: KEPT, src: before.src }, { timeout: 60000 });
    const after = await gridImage(page);
    const subsetAfter = await page.$eval(".xf-picker-subset select", (s) => s.options[s.selectedIndex].text);
    log("grid after:", after.width, "x", after.height, "px;", "subset", subsetAfter);
    if (after.hash === before.hash) throw new Error("the image grid did not change after the picker change");
    if (subsetAfter === subsetBefore) throw new Error("the subset picker did not follow the rule picker");
    if (!subsetAfter.includes(options[target])) throw new Error(`subset ${subsetAfter} is not of rule ${options[target]}`);

    // A second subset to compare with, so the screenshot shows that part too.
    await page.selectOption(".xf-picker-compare select", { index: 1 });
    await page.waitForFunction(() => {
      const img = document.querySelector("img.xf-only-a");
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 60000 });
    log("compared with", await page.$eval(".xf-picker-compare select", (s) => s.options[s.selectedIndex].text));

    // Study Q: click a point of the quality scatter; the explorer must open that subset and
    // show its measures.
    const pick = await page.$$eval(".xf-q-point", (bs, cur) => {
      const other = bs.map((b) => b.title).filter((t) => t && t !== cur);
      return other[other.length - 1];
    }, subsetAfter);
    if (!pick) throw new Error("the quality scatter has no point to pick");
    await page.click(`.xf-q-point[title="${pick}"]`);
    await page.waitForFunction((want) => {
      const s = document.querySelector(".xf-picker-subset select");
      return s && s.options[s.selectedIndex].text === want;
    }, pick, { timeout: 60000 });
    await page.waitForFunction((want) => {
      const el = document.querySelector(".xf-q-measures");
      return el && el.textContent.includes(want) && el.textContent.includes("q_cov_rmsd_mean");
    }, pick, { timeout: 60000 });
    const picked = await page.$eval(".xf-picker-subset select", (s) => s.options[s.selectedIndex].text);
    log("picked from the quality scatter:", picked);

    await page.$eval(".xf-explorer", (el) => el.scrollIntoView({ block: "start" }));
    await page.waitForTimeout(500);
    Object.assign(result, { ok: true, rule: [options[current], options[target]], subset: [subsetBefore, subsetAfter],
      pick: [pick, picked],
      before: { hash: before.hash, size: before.size }, after: { hash: after.hash, size: after.size } });
  } catch (err) {
    result.error = String(err && err.stack || err);
  } finally {
    await page.screenshot({ path: screenshot }).catch((e) => log("screenshot failed:", e.message));
    await context.close().catch(() => {});
  }
  result.seconds = (Date.now() - t0) / 1000;
  console.log("RESULT " + JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

main().catch((err) => {
  console.log("RESULT " + JSON.stringify({ ok: false, error: String(err && err.stack || err) }));
  process.exit(1);
});
