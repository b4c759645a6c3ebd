// The public status page as an anonymous viewer sees it: only the public
// checks, live, and not one private word anywhere the public can read (the
// page's HTML, its stream, /api/public/status).
import { test, expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer } from './pulse-server';

// In every private text of the config (name, group, URL, so also the live
// detail), and nowhere public.
const MARKER = 'qx9private';
const PUBLIC_DETAIL = 'The shop’s front page';

const PUBLIC_CHECK = `
[[check]]
name = "Shop front"
group = "Website"
kind = "tcp"
address = "127.0.0.1:9"
public = true
public_detail = "${PUBLIC_DETAIL}"
`;

const PRIVATE_CHECK = `
[[check]]
name = "Vault ${MARKER}"
group = "internal ${MARKER}"
kind = "http"
url = "http://127.0.0.1:9/${MARKER}"
`;

/** A server on a config file of `text`, checking every second. */
async function serve(text: string): Promise<PulseServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-public-'));
  const config = path.join(dir, 'pulse.toml');
  fs.writeFileSync(config, text);
  return PulseServer.start(['--config', config, '--interval', '1s']);
}

/** Every event's data on the public stream for `ms`, read in the page. */
async function publicStream(page: Page, ms: number): Promise<string[]> {
  return page.evaluate(
    (ms) =>
      new Promise<string[]>((resolve) => {
        const seen: string[] = [];
        const source = new EventSource('/api/public/events');
        const keep = (event: MessageEvent) => seen.push(`${event.type} ${event.data}`);
        for (const type of ['message', 'snapshot', 'removed', 'config', 'history']) {
          source.addEventListener(type, keep as EventListener);
        }
        setTimeout(() => {
          source.close();
          resolve(seen);
        }, ms);
      }),
    ms,
  );
}

test('an anonymous viewer sees only the public check, live, and no private text', async ({ page }) => {
  const server = await serve(PUBLIC_CHECK + PRIVATE_CHECK);
  try {
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}/status`);
    await expect(page).toHaveTitle('Status');
    await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');

    const check = page.locator('[data-check-id="shop-front"]');
    await expect(page.locator('.public-check')).toHaveCount(1);
    await expect(check.locator('h3')).toHaveText('Shop front');
    await expect(check.locator('.detail')).toHaveText(PUBLIC_DETAIL);
    await expect(page.locator('.group h2')).toHaveText(['Website']);

    // Live: a result arrives after the page loaded and changes the check.
    const checked = check.locator('.checked');
    const first = await checked.textContent();
    await expect(checked).not.toHaveText(first ?? '', { timeout: 10_000 });
    await expect(check).toHaveAttribute('data-health', 'down');
    await expect(page.locator('.overall')).toHaveText('Outage');

    // Nothing private anywhere the public reads.
    expect(await page.content()).not.toContain(MARKER);
    const html = await (await page.request.get(`${server.url}/status`)).text();
    expect(html).toContain('data-check-id="shop-front"');
    expect(html).not.toContain(MARKER);
    const status = await (await page.request.get(`${server.url}/api/public/status`)).text();
    expect(status).toContain('"shop-front"');
    expect(status).not.toContain(MARKER);
    const stream = await publicStream(page, 2_500);
    expect(stream.some((event) => event.startsWith('message ') && event.includes('shop-front'))).toBe(true);
    expect(stream.join('\n')).not.toContain(MARKER);
    expect(stream.join('\n')).not.toContain('refused');
    expect(errors).toEqual([]);
  } finally {
    await server.stop();
  }
});

test('with no public check the page says so', async ({ page }) => {
  const server = await serve(PRIVATE_CHECK);
  try {
    await page.goto(`${server.url}/status`);
    await expect(page.locator('.overall')).toHaveText('No public checks');
    await expect(page.locator('.public .empty')).toBeVisible();
    await expect(page.locator('.public-check')).toHaveCount(0);
    expect(await page.content()).not.toContain(MARKER);
  } finally {
    await server.stop();
  }
});

test('with no config, the page shows Pulse’s own health check and no host metric', async ({ page }) => {
  const server = await PulseServer.start(['--interval', '1s']);
  try {
    await page.goto(`${server.url}/status`);
    await expect(page.locator('.public-check')).toHaveCount(1);
    await expect(page.locator('[data-check-id="pulse-healthz"]')).toBeVisible();
    // Up, unless the machine is slow enough for the 500 ms threshold.
    await expect(page.locator('.overall')).toHaveText(/All systems operational|Some systems degraded/);
  } finally {
    await server.stop();
  }
});
