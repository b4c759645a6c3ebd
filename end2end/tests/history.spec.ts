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
  // Until a few results have reached the database (batches are written
  // each second): the first HTML's strip then has two at least.
  const strip2 = /<svg [^>]*class="strip"[^>]*><path class="up" d="M0 0h4v16h-4zM6 0/;
  const cardHtml = async () => {
    const html = await (await page.request.get(server.url)).text();
    return html.slice(html.indexOf('data-check-id="pulse-healthz"'));
  };
  await expect
    .poll(cardHtml, { message: 'two results of the self-check saved and on its card', timeout: 30_000 })
    .toMatch(strip2);
  const card = await cardHtml();
  expect(card).toMatch(/<b>100%<\/b> (<!>)?1h/);
  expect(card).toMatch(strip2);
  expect(card).toMatch(/<polyline points="[\d.]+,[\d.]+/);

  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  const healthz = page.locator('[data-check-id="pulse-healthz"]');
  await expect(healthz.locator('.uptime .window').first()).toHaveText('100% 1h');
  const strip = healthz.locator('.strip');
  const results = async () => Number(await strip.getAttribute('data-results'));
  const before = await results();
  expect(before).toBeGreaterThanOrEqual(2);
  await expect(strip).toHaveAttribute('aria-label', new RegExp(`^newest ${before} results: ${before} up, last at`));
  // Events extend the strip without a refetch, up to its 20 results.
  await expect.poll(results, { timeout: 30_000 }).toBeGreaterThan(before);
  const ticks = (await strip.locator('path.up').getAttribute('d'))?.match(/M/g)?.length;
  expect(ticks).toBe(await results());
  await expect(healthz.locator('.sparkline polyline')).toHaveAttribute('points', /\d/);

  // A restart continues from the same file: the strip is still there.
  await server.restart();
  await page.reload();
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  expect(await results()).toBeGreaterThanOrEqual(before);
});

test('the change feed shows a check going down and recovering, live and after a reload', async ({ page }) => {
  const net = await import('node:net');
  const listen = (port: number) =>
    new Promise<import('node:net').Server>((resolve) => {
      const target = net.createServer((socket) => socket.end());
      target.listen(port, '127.0.0.1', () => resolve(target));
    });
  let target = await listen(0);
  const port = (target.address() as import('node:net').AddressInfo).port;
  const config = path.join(dir, 'pulse.toml');
  fs.writeFileSync(config, `[defaults]\ninterval = "500ms"\n\n[[check]]\nname = "Toggle"\nkind = "tcp"\naddress = "127.0.0.1:${port}"\n`);
  const flipping = await PulseServer.start(['--config', config, '--history', path.join(dir, 'flip.db')]);
  try {
    await page.goto(flipping.url);
    await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
    await expect(page.locator('[data-check-id="toggle"]')).toHaveAttribute('data-health', 'up');
    await expect(page.locator('.feed')).toContainText('No changes of state yet.');

    const hourUptime = page.locator('[data-check-id="toggle"] .uptime .window').first();
    await expect(hourUptime).toHaveText('100% 1h');
    await page.evaluate(() => ((window as any).sameDocument = true));

    await new Promise((resolve) => target.close(resolve));
    const feed = page.locator('.feed .change');
    await expect(feed.first()).toContainText('Toggle went down', { timeout: 30_000 });
    await expect(feed.first()).toContainText('Connection refused');
    // The card's uptime falls with each failure, on the same page.
    const share = async () => parseFloat((await hourUptime.textContent()) ?? '');
    await expect.poll(share, { timeout: 30_000 }).toBeLessThan(100);
    const fallen = await share();
    await expect.poll(share, { timeout: 30_000 }).toBeLessThan(fallen);
    expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    target = await listen(port);
    await expect(feed.first()).toContainText('Toggle recovered', { timeout: 30_000 });

    // From the database, in the first HTML of a new page, once the
    // recovery's batch is written.
    const firstHtml = async () => (await page.request.get(flipping.url)).text();
    await expect
      .poll(firstHtml, { message: 'the recovery saved and in the first HTML', timeout: 30_000 })
      .toMatch(/<b>Toggle<\/b> (<!>)?recovered/);
    expect(await firstHtml()).toMatch(/<b>Toggle<\/b> (<!>)?went down/);
  } finally {
    await flipping.stop();
    target.close();
  }
});

test('a check has its own page: chart, changes and failures, and ranges change in place', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // Until a few results are in the database (batches each second).
  await expect
    .poll(() => server.savedResults(page.request, 'pulse-healthz'), {
      message: 'results of the self-check saved',
      timeout: 30_000,
    })
    .toBeGreaterThanOrEqual(3);

  // Server-rendered: the first HTML already holds the chart and the changes.
  const html = await (await page.request.get(`${server.url}/checks/pulse-healthz?range=1h`)).text();
  expect(html).toMatch(/<path d="M[\d.]+ [\d.]+[^"]*" class="avg">/);
  expect(html).toMatch(/<text [^>]*class="tick"[^>]*>\d\d:\d\d<\/text>/);
  expect(html).toMatch(/<b>up<\/b> at /);

  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await page.locator('[data-check-id="pulse-healthz"] a.more').click();
  await expect(page).toHaveURL(/\/checks\/pulse-healthz$/);
  await expect(page.locator('.detail-page h2')).toContainText('Pulse /healthz');
  await expect(page.locator('.ranges a[aria-current="page"]')).toHaveText('24h');
  await expect(page.locator('.spans li').first()).toContainText('up at');
  await page.evaluate(() => ((window as any).sameDocument = true));

  await page.locator('.ranges a', { hasText: '7d' }).click();
  await expect(page).toHaveURL(/range=7d/);
  await expect(page.locator('.ranges a[aria-current="page"]')).toHaveText('7d');
  await expect(page.locator('.chart figcaption')).toContainText('per hour');
  expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
  expect(errors).toEqual([]);
});
