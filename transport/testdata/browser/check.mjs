// Opens the TLS test page in headless Chromium (Debian's, driven by
// playwright-core), trusting the test's self-signed certificate, waits
// until the page says it is done and prints what it found as JSON.
// Usage: node check.mjs URL
import { chromium } from "playwright-core";

const url = process.argv[2];
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--ignore-certificate-errors"] });
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  page.on("console", (m) => console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.report && window.report.done, null, { timeout: 45000 });
  console.log(JSON.stringify(await page.evaluate(() => window.report)));
} finally {
  await browser.close();
}
