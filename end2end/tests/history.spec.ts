import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer } from './pulse-server';

// History on the cards: the first HTML already has the uptime and the
// result strip from the database; after hydration each event extends the
// strip and the sparkline in place, and a restart keeps the numbers.

let dir: string;
let server: PulseServer;

test.beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-history-'));
  server = await PulseServer.start(['--interval', '1s', '--history', path.join(dir, 'history.db')]);
});

test.afterEach(async () => {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('cards show uptime and recent results, server-rendered, then live', async ({ page }) => {
  // Let a few results reach the database (batches are written each second).
  await page.waitForTimeout(3500);
  const html = await (await page.request.get(server.url)).text();
  const card = html.slice(html.indexOf('data-check-id="pulse-healthz"'));
  expect(card).toMatch(/<b>100%<\/b> (<!>)?1h/);
  expect(card).toMatch(/<li [^>]*class="tick up"/);
  expect(card).toMatch(/<polyline points="[\d.]+,[\d.]+/);

  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  const healthz = page.locator('[data-check-id="pulse-healthz"]');
  await expect(healthz.locator('.uptime .window').first()).toHaveText('100% 1h');
  const ticks = healthz.locator('.strip .tick');
  const before = await ticks.count();
  expect(before).toBeGreaterThanOrEqual(2);
  // Events extend the strip without a refetch, up to its 20 results.
  await expect.poll(() => ticks.count(), { timeout: 10_000 }).toBeGreaterThan(before);
  await expect(healthz.locator('.sparkline polyline')).toHaveAttribute('points', /\d/);

  // A restart continues from the same file: the strip is still there.
  await server.restart();
  await page.reload();
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  expect(await healthz.locator('.strip .tick').count()).toBeGreaterThanOrEqual(before);
});
