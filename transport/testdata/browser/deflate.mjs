// Opens a WAMP session from headless Chromium (Debian's, driven by
// playwright-core) over the browser's own WebSocket, which offers
// permessage-deflate, for each router URL given, and prints what each
// found as a JSON list. Usage: node deflate.mjs WS_URL...
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const reports = [];
try {
  for (const url of process.argv.slice(2)) {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    reports.push(await page.evaluate(session, url));
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(reports));

// session runs in the page: HELLO, then a PUBLISH to itself and a CALL to
// itself, each carrying 8 KiB of typical JSON, and reports the
// negotiated extensions and whether the payloads came back intact.
async function session(url) {
  const report = { extensions: null, event: false, result: false, error: null };
  const ws = new WebSocket(url, ["wamp.2.json"]);
  const inbox = [];
  let wake = null;
  ws.onmessage = (e) => {
    inbox.push(JSON.parse(e.data));
    if (wake) wake();
  };
  const closed = new Promise((resolve) => (ws.onclose = (e) => resolve(e.code)));
  const next = async (type) => {
    for (;;) {
      const i = inbox.findIndex((m) => m[0] === type);
      if (i >= 0) return inbox.splice(i, 1)[0];
      const code = await Promise.race([new Promise((resolve) => (wake = resolve)), closed]);
      if (code !== undefined) throw new Error(`closed (${code}) waiting for message type ${type}`);
    }
  };
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("WebSocket error"));
    });
    report.extensions = ws.extensions;
    const records = [];
    for (let i = 0; JSON.stringify(records).length < 8192; i++) {
      records.push({ id: `sensor-${i % 40}`, celsius: 18 + (i % 9) / 2, ok: i % 7 !== 0 });
    }
    const text = JSON.stringify(records);
    const roles = { publisher: {}, subscriber: {}, caller: {}, callee: {} };
    ws.send(JSON.stringify([1, "realm1", { roles }]));
    await next(2); // WELCOME
    ws.send(JSON.stringify([32, 1, {}, "com.test.browser"]));
    await next(33); // SUBSCRIBED
    ws.send(JSON.stringify([16, 2, { acknowledge: true, exclude_me: false }, "com.test.browser", [text]]));
    await next(17); // PUBLISHED
    const ev = await next(36); // EVENT
    report.event = ev[4][0] === text;
    ws.send(JSON.stringify([64, 3, {}, "com.test.echo"]));
    await next(65); // REGISTERED
    ws.send(JSON.stringify([48, 4, {}, "com.test.echo", [text]]));
    const inv = await next(68); // INVOCATION
    ws.send(JSON.stringify([70, inv[1], {}, [inv[4][0] + "!"]]));
    const res = await next(50); // RESULT
    report.result = res[3][0] === text + "!";
    ws.send(JSON.stringify([6, {}, "wamp.close.normal"]));
    await next(6); // GOODBYE
  } catch (e) {
    report.error = String(e);
  }
  ws.close();
  return report;
}
