// Plays a hostile site against the web view in headless Chromium (Debian's,
// through playwright-core) for the tests in web_security_test.go, and
// prints what it achieved as one JSON line; the Go test judges it. The
// hostile pages are the test's, served from loopback as the attacker's
// server would serve them; everything they ask of the admin endpoints
// goes over the network to the real server. Every wait is on an event or
// a condition in the page, never a fixed sleep.
//
// Usage: node attack.mjs MODE   (env: CHROMIUM; ADMIN: the web view's URL;
// ATTACKER: the hostile page's URL). The name rebind.test resolves to
// 127.0.0.1.
//
//   frame: the hostile page frames the web view (to trick an admin into
//          clicking Kill twice) and sets window.frameLoaded:
//          {"rendered": did the web view render in the frame, "url": ...}
//   page:  the hostile page does its worst and sets window.result, printed
//   crowded: opens the web view while the test holds every live stream;
//          prints "saw refused" once the page says so, waits for "go
//          freed" on its standard input, then for the page to be live
//   xss:   opens the web view, waits for a session whose authid is env
//          MARKUP and a subscription to env TOPIC, and reports whether any
//          markup of them ran or became elements
import { chromium } from "playwright-core";
import readline from "node:readline";

const mode = process.argv[2];
const env = process.env;
const timeout = 20000;
const result = (r) => console.log(JSON.stringify(r));

const args = ["--no-sandbox", "--host-resolver-rules=MAP rebind.test 127.0.0.1"];
const browser = await chromium.launch({ executablePath: env.CHROMIUM || "/usr/bin/chromium", args });
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on("console", (m) => console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));

  switch (mode) {
    case "frame": {
      await page.goto(env.ATTACKER);
      await page.waitForFunction(() => window.frameLoaded === true, null, { timeout });
      const frame = page.frames().find((f) => f.parentFrame() === page.mainFrame());
      let rendered = false;
      try {
        rendered = await frame.evaluate(() => document.querySelector('[data-metric="sessions"]') !== null);
      } catch { /* an error page, or no document */ }
      result({ rendered, url: frame.url() });
      break;
    }
    case "page": {
      await page.goto(env.ATTACKER);
      await page.waitForFunction(() => window.result !== undefined, null, { timeout });
      result(await page.evaluate(() => window.result));
      break;
    }
    case "crowded": {
      // The test has taken every live stream: the page's is refused;
      // once the test lets one go, the page must get live by itself.
      await page.goto(env.ADMIN);
      await page.waitForFunction(() => document.getElementById("status").dataset.state === "refused", null, { timeout });
      console.log("saw refused");
      const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
      const { value } = await lines.next();
      if (value !== "go freed") throw new Error(`expected "go freed", got ${JSON.stringify(value)}`);
      await page.waitForFunction(() => document.getElementById("status").dataset.state === "live", null, { timeout });
      result({ live: true });
      process.stdin.destroy();
      break;
    }
    case "xss": {
      await page.goto(env.ADMIN);
      await page.waitForFunction((m) => [...document.querySelectorAll("#sessions tbody td")].some((td) => td.textContent === m),
        env.MARKUP, { timeout });
      await page.waitForFunction((m) => [...document.querySelectorAll("#subscriptions tbody td")].some((td) => td.textContent === m),
        env.TOPIC, { timeout });
      result(await page.evaluate(() => ({
        shown: true,
        ran: window.pwned !== undefined,
        elements: document.querySelectorAll("main img, main script, main svg, main iframe").length,
      })));
      break;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await browser.close();
}
