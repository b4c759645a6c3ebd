import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import { PulseServer } from './pulse-server';

// 5,000 checks on one page: it loads, stays live, and search, "failing
// only" and folding all work on it. The times are recorded as annotations
// (and printed) for docs/benchmarks.md, never asserted: this machine is shared.

const CHECKS = 5000;
const FAILING_EVERY = 50;

let dir: string;
let target: http.Server;
let server: PulseServer;

test.beforeAll(async () => {
  target = http.createServer((req, res) => {
    const n = Number(req.url?.split('/').pop());
    res.writeHead(n % FAILING_EVERY === 0 ? 503 : 200).end('ok');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const port = (target.address() as AddressInfo).port;
  let config = '[defaults]\ninterval = "10s"\ntimeout = "5s"\n\n';
  for (let n = 0; n < CHECKS; n++) {
    const name = `service ${String(n).padStart(5, '0')}`;
    config += `[[check]]\nname = "${name}"\ngroup = "group ${String(n % 50).padStart(2, '0')}"\nkind = "http"\nurl = "http://127.0.0.1:${port}/t/${n}"\n\n`;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-scale-'));
  fs.writeFileSync(path.join(dir, 'pulse.toml'), config);
  server = await PulseServer.start(['--config', path.join(dir, 'pulse.toml')]);
});

test.afterAll(async () => {
  await server.stop();
  target.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a board of 5,000 checks loads, stays live and can be narrowed down', async ({ page }) => {
  test.setTimeout(180_000);
  const timings: Record<string, number> = {};
  // Every check has run once (the first runs are spread over 250 ms).
  await expect
    .poll(async () => {
      const snapshot = await (await page.request.get(`${server.url}/api/status`)).json();
      return snapshot.checks.filter((c: { health: string }) => c.health !== 'unknown').length;
    }, { timeout: 60_000 })
    .toBe(CHECKS);

  const cards = page.locator('article.card');
  const visible = page.locator('article.card:visible');
  const started = Date.now();
  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live', { timeout: 60_000 });
  timings['load and hydrate'] = Date.now() - started;
  await expect(cards).toHaveCount(CHECKS);
  await expect(page.locator('.count.down b')).toHaveText(String(CHECKS / FAILING_EVERY));

  // Measured in the page, from the input to the next frame painted after the
  // update: what a person waits for (Playwright's polling would add its own
  // intervals). Checked afterwards, untimed.
  const untilPainted = (label: string, act: string) =>
    page.evaluate(async ([label, act]) => {
      const t0 = performance.now();
      const search = document.querySelector('input.search') as HTMLInputElement;
      const failing = document.querySelector('.failing-only input') as HTMLInputElement;
      const button = (cls: string) => document.querySelector(cls) as HTMLButtonElement;
      switch (act) {
        case 'search': search.value = 'service 04999'; search.dispatchEvent(new Event('input', { bubbles: true })); break;
        case 'clear': search.value = ''; search.dispatchEvent(new Event('input', { bubbles: true })); break;
        case 'failing': failing.click(); break;
        case 'fold': button('.fold-all').click(); break;
        case 'unfold': button('.unfold-all').click(); break;
      }
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      return [label, performance.now() - t0] as [string, number];
    }, [label, act]).then(([label, ms]) => { timings[label] = Math.round(ms); });

  await untilPainted('search to one card', 'search');
  await expect(visible).toHaveCount(1);
  await untilPainted('clear search', 'clear');
  await expect(visible).toHaveCount(CHECKS);
  await untilPainted('failing only on', 'failing');
  await expect(visible).toHaveCount(CHECKS / FAILING_EVERY);
  await untilPainted('failing only off', 'failing');
  await expect(visible).toHaveCount(CHECKS);
  await untilPainted('fold all', 'fold');
  await expect(visible).toHaveCount(0);
  await untilPainted('unfold all', 'unfold');
  await expect(visible).toHaveCount(CHECKS);

  // Still live after all that: results keep arriving (500 a second).
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('.last-event')).toHaveText('last event just now');

  for (const [label, ms] of Object.entries(timings)) {
    test.info().annotations.push({ type: `${label} (ms)`, description: String(ms) });
  }
  console.log(`5,000 cards, ms: ${JSON.stringify(timings)}`);
});
