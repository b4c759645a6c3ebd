// A check's own page: live from the shared stream, with a chart a person
// can read (axes, a tooltip under the pointer and on keyboard focus, gaps,
// the 90-day uptime bar).
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer } from './pulse-server';

let dir: string;
let target: net.Server;
let port: number;
let server: PulseServer;

function listen(at: number): Promise<net.Server> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => socket.end());
    server.listen(at, '127.0.0.1', () => resolve(server));
  });
}

test.beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-detail-'));
  target = await listen(0);
  port = (target.address() as net.AddressInfo).port;
  const config = path.join(dir, 'pulse.toml');
  fs.writeFileSync(config, `[defaults]\ninterval = "500ms"\n\n[[check]]\nname = "Toggle"\nkind = "tcp"\naddress = "127.0.0.1:${port}"\n`);
  server = await PulseServer.start(['--config', config, '--history', path.join(dir, 'history.db')]);
});

test.afterEach(async () => {
  await server.stop();
  target.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Until `n` results of the toggle check are in the database. */
async function saved(page: import('@playwright/test').Page, n: number) {
  await expect
    .poll(() => server.savedResults(page.request, 'toggle'), { message: `${n} results saved`, timeout: 30_000 })
    .toBeGreaterThanOrEqual(n);
}

test('a detail page follows its check live: status, chart, changes, uptime', async ({ page }) => {
  await saved(page, 2);
  await page.goto(`${server.url}/checks/toggle?range=1h`);
  await expect(page.locator('.detail-page .badge')).toHaveAttribute('data-state', 'live');
  const pill = page.locator('.detail-page h2 .pill');
  await expect(pill).toHaveText('up');
  await page.evaluate(() => ((window as any).sameDocument = true));
  const today = page.locator('.days .day').last();
  const todayText = async () => (await today.getAttribute('title')) ?? '';
  const results = async () => Number((await todayText()).match(/\((\d+) results/)?.[1] ?? 0);
  const before = await results();
  await expect.poll(results).toBeGreaterThan(before);

  await new Promise((resolve) => target.close(resolve));
  await expect(pill).toHaveText('down', { timeout: 30_000 });
  await expect(page.locator('.detail-page > .detail')).toContainText('refused');
  await expect(page.locator('.spans li').first()).toContainText('down at');
  await expect(page.locator('.failures li').first()).toContainText('refused');
  await expect(page.locator('.chart path.failed')).toHaveAttribute('d', /M[\d.]+ [\d.]+v-8/);
  await expect(today).toHaveAttribute('title', /[1-9]\d* down\)/);

  target = await listen(port);
  await expect(pill).toHaveText('up', { timeout: 30_000 });
  await expect(page.locator('.spans li').first()).toContainText('up at');
  expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
});

test('the chart has labelled axes and a tooltip under the pointer and on focus', async ({ page }) => {
  await saved(page, 3);
  await page.goto(`${server.url}/checks/toggle?range=1h`);
  await expect(page.locator('.detail-page .badge')).toHaveAttribute('data-state', 'live');
  const chart = page.locator('.chart svg');
  await expect(chart.locator('text.tick', { hasText: /^\d\d:\d\d$/ }).first()).toBeVisible();
  await expect(chart.locator('text.tick', { hasText: / ms$/ }).first()).toBeVisible();
  await expect(page.locator('.chart figcaption')).toContainText(/mean [\d.]+ ms, slowest [\d.]+ ms/);

  // The newest point sits at the right end of the time axis: hover over it.
  const box = (await chart.boundingBox())!;
  const d = (await chart.locator('path.avg').getAttribute('d'))!;
  const xs = [...d.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1]));
  const newestX = xs[xs.length - 1];
  await page.mouse.move(box.x + (newestX / 640) * box.width, box.y + box.height / 2);
  const tip = page.locator('.chart .tip');
  await expect(tip).toHaveClass(/shown/);
  await expect(tip).toHaveText(/^\d\d:\d\d UTC: mean [\d.]+ ms, slowest [\d.]+ ms, \d+ results?/);
  // Beside the pointer, inside the chart (the CSP refuses style attributes,
  // so a position set that way would leave it at the left edge).
  const tipBox = (await tip.boundingBox())!;
  const figure = (await page.locator('.chart').boundingBox())!;
  expect(tipBox.x).toBeGreaterThanOrEqual(figure.x);
  expect(tipBox.x + tipBox.width).toBeLessThanOrEqual(figure.x + figure.width + 1);
  expect(tipBox.x + tipBox.width).toBeGreaterThan(figure.x + figure.width * 0.6);
  // It names the newest minute: results come twice a second, so this one
  // (or the one before, at a minute's turn).
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  const clock = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  await expect(tip).toHaveText(new RegExp(`^(${clock(minute)}|${clock(minute - 60_000)}) UTC`));
  await page.mouse.move(box.x + box.width / 2, box.y + box.height + 200);
  await expect(tip).not.toHaveClass(/shown/);

  // By keyboard: focus picks the newest point, Home the oldest, End the
  // newest again (on a fresh server they may be one minute), Escape hides.
  await chart.focus();
  await expect(tip).toHaveClass(/shown/);
  // (The newest point's figures change live; its time does not.)
  const newestTime = (await tip.textContent())!.slice(0, 9);
  const point = /^\d\d:\d\d UTC: mean [\d.]+ ms/;
  await page.keyboard.press('Home');
  await expect(tip).toHaveText(point);
  await page.keyboard.press('ArrowLeft');
  await expect(tip).toHaveText(point);
  await page.keyboard.press('End');
  await expect(tip).toHaveText(new RegExp(`^${newestTime}`));
  await page.keyboard.press('Escape');
  await expect(tip).not.toHaveClass(/shown/);
  await expect(tip).toHaveAttribute('aria-live', 'polite');

  // Ninety days, each with its figures in text.
  await expect(page.locator('.days .day')).toHaveCount(90);
  await expect(page.locator('.days .day').last().locator('.sr-only')).toHaveText(/: 100% up \(\d+ results, 0 down\)/);
});
