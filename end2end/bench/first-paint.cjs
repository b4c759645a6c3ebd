// The dashboard's first paint of a large board, for docs/benchmarks.md
// ("50,000 checks on one node"): opens URL in Debian's Chromium RUNS times
// (default 3), each in a fresh page, and prints per run the time to the
// first byte, the first contentful paint, DOMContentLoaded, load, the
// moment the badge reads "live" (hydrated, the event stream open), the
// HTML's size on the wire and the cards on the page; then the medians.
// A benchmark, not a test: it asserts nothing about times.
//
//   target/release/pulse-checkbench --checks 50000 --interval 60s --serve-only --addr 127.0.0.1:3000 &
//   node end2end/bench/first-paint.cjs http://127.0.0.1:3000/ [RUNS]
const { chromium } = require('playwright');

const url = process.argv[2];
const runs = Number(process.argv[3] || 3);
if (!url) {
  console.error('usage: node first-paint.cjs URL [RUNS]');
  process.exit(2);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
  const rows = [];
  for (let run = 1; run <= runs; run++) {
    const page = await browser.newPage();
    const started = Date.now();
    await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
    await page.locator('.badge[data-state="live"]').waitFor({ timeout: 120_000 });
    const liveMs = Date.now() - started;
    const row = await page.evaluate(() => {
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      const nav = performance.getEntriesByType('navigation')[0];
      return {
        ttfb_ms: Math.round(nav.responseStart),
        first_paint_ms: paint ? Math.round(paint.startTime) : null,
        dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
        load_ms: Math.round(nav.loadEventEnd),
        html_bytes_on_wire: nav.transferSize,
        cards: document.querySelectorAll('article').length,
      };
    });
    rows.push({ run, ...row, live_ms: liveMs });
    console.log(JSON.stringify(rows[rows.length - 1]));
    await page.close();
  }
  await browser.close();
  const medians = {};
  for (const key of ['ttfb_ms', 'first_paint_ms', 'dom_content_loaded_ms', 'load_ms', 'live_ms']) {
    medians[key] = median(rows.map((r) => r[key]));
  }
  console.log(JSON.stringify({ medians_of: runs, ...medians }));
})();
