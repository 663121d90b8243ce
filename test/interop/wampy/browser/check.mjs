// Opens the wampy browser page (index.html, page.mjs) in headless Chromium
// (Debian's, driven by playwright-core from ../node_modules), waits until
// the page has run its checks and prints one JSON line, which
// ../../wampy_browser_test.go parses:
//
//   {"report": <the page's window.report>, "pageErrors": [...], "driver": "..."}
//
// pageErrors are uncaught errors in the page; driver says why the page was
// not waited for to the end ("" when it was). It exits 1 in that case only:
// the checks' failures are the report's. Usage: node check.mjs URL
import { chromium } from 'playwright-core';

const url = process.argv[2];
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// The page reports within 20s (page.mjs's DEADLINE); this is only a bound.
const TIMEOUT = 30000;

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
let driver = '';
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('console', (m) => console.error('page:', m.text()));
  page.on('pageerror', (e) => {
    pageErrors.push(e.message);
    console.error('page error:', e.message);
  });
  let report = null;
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.report && window.report.done, null, { timeout: TIMEOUT });
  } catch (e) {
    driver = String(e.message).split('\n')[0];
  }
  try {
    report = await page.evaluate(() => window.report || null);
  } catch (e) {
    driver = driver || `reading window.report: ${String(e.message).split('\n')[0]}`;
  }
  console.log(JSON.stringify({ report, pageErrors, driver }));
} finally {
  await browser.close();
}
process.exitCode = driver ? 1 : 0;
