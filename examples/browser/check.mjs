// Opens the browser example's page in headless Chromium (Debian's, driven by
// playwright-core) and waits for it to report "ok": it joined the realm,
// got the result of a call and two events. Usage: node check.mjs URL
import { chromium } from "playwright-core";

const url = process.argv[2];
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("status").textContent !== "waiting", null, { timeout: 20000 });
  const text = (id) => page.textContent("#" + id);
  const result = { status: await text("status"), result: await text("result"), session: await text("session"),
    events: await page.$$eval("#events li", (l) => l.map((e) => e.textContent)) };
  console.log(JSON.stringify(result));
  if (result.status !== "ok") process.exit(1);
} finally {
  await browser.close();
}
