// Drives the web view in headless Chromium (Debian's, through
// playwright-core) for TestWebViewInChromium, which runs it and answers on
// its standard input: the script says what it saw ("saw ..." lines on
// standard output), the test makes sessions join, work, leave ("go"
// lines). Every wait is on a condition in the page, never a fixed sleep.
//
// Usage: node check.mjs URL   (env: CHROMIUM, ADMIN_USER, ADMIN_PASS,
// VIEWER_USER, VIEWER_PASS, SCREENSHOT: a PNG to write, or empty)
import { chromium } from "playwright-core";
import readline from "node:readline";

const url = process.argv[2];
const env = process.env;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (what) => console.log(`saw ${what}`);
async function expect(cmd) {
  const { value, done } = await lines.next();
  if (done || value !== cmd) throw new Error(`expected "${cmd}" from the test, got ${done ? "EOF" : JSON.stringify(value)}`);
}
const timeout = 20000;
const sessions = (page, n) =>
  page.waitForFunction((n) => document.querySelector('[data-metric="sessions"]').textContent === String(n), n, { timeout });

const browser = await chromium.launch({ executablePath: env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const admin = await browser.newContext({ httpCredentials: { username: env.ADMIN_USER, password: env.ADMIN_PASS }, viewport: { width: 1400, height: 1000 } });
  const page = await admin.newPage();
  page.on("console", (m) => console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").dataset.state === "live", null, { timeout });
  await sessions(page, 0);
  say("sessions 0");

  // Sessions join and work: the numbers move without a reload.
  await expect("go joined");
  await sessions(page, 3);
  await page.waitForSelector('#sessions tbody tr td:text-is("alice")', { timeout });
  await page.waitForFunction(() => [...document.querySelectorAll("#messages tbody td")].some((td) => td.textContent === "call"), null, { timeout });
  await page.waitForFunction(() => [...document.querySelectorAll("#subscriptions tbody td")].some((td) => td.textContent === "com.example.ticks"), null, { timeout });
  await page.waitForFunction(() => [...document.querySelectorAll("#registrations tbody td")].some((td) => td.textContent === "com.example.add"), null, { timeout });
  say("sessions 3");

  await expect("go left");
  await sessions(page, 2);
  say("sessions 2");

  // Someone who may only look sees no kill button.
  const viewer = await browser.newContext({ httpCredentials: { username: env.VIEWER_USER, password: env.VIEWER_PASS } });
  const vpage = await viewer.newPage();
  await vpage.goto(url);
  await sessions(vpage, 2);
  await vpage.waitForSelector('#sessions tbody tr td:text-is("alice")', { timeout });
  const buttons = await vpage.locator('button[data-action="kill"]').count();
  const hint = await vpage.textContent("#kill-hint");
  if (buttons !== 0 || !hint.includes("admin")) throw new Error(`a viewer sees ${buttons} kill buttons, hint ${JSON.stringify(hint)}`);
  await viewer.close();
  say("viewer cannot kill");

  if (env.SCREENSHOT) {
    await page.screenshot({ path: env.SCREENSHOT, fullPage: true });
  }

  // Look alice up and kill her session, as an admin.
  await page.fill("#search", "alice");
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#sessions tbody tr[data-session]");
    return rows.length === 1 && rows[0].textContent.includes("alice");
  }, null, { timeout });
  const kill = page.locator('#sessions tbody tr[data-session] button[data-action="kill"]');
  await kill.click();
  await page.waitForSelector('button[data-action="kill"].confirm', { timeout });
  await page.locator('button[data-action="kill"].confirm').click();
  await sessions(page, 1);
  say("alice killed");
} finally {
  await browser.close();
}
