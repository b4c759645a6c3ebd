import { test, expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import { PulseServer } from './pulse-server';

// Markup in data stays data. Check names, groups, body expectations and a
// target's answer all hold script and tags; the dashboard and the check's
// page, server-rendered and then live, must show them as text: Chromium's
// title and DOM unchanged, no script run, and no violation of the page's
// Content-Security-Policy (which the page must carry, with a nonce).

const script = (n: number) => `<script>window.pwned=${n}</script>`;
const hostileName = `${script(1)}<b class="injected">Bold</b>`;
const hostileGroup = `<img src=x onerror=window.pwned=2>`;
const hostileBody = `${script(3)}<img src=x onerror=window.pwned=4><b class="injected">x</b>`;

let dir: string;
let server: PulseServer;
let target: http.Server;

test.beforeAll(async () => {
  target = http.createServer((_, response) => {
    response.writeHead(500, { 'content-type': 'text/html' });
    response.end(hostileBody);
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const port = (target.address() as AddressInfo).port;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-e2e-'));
  const file = path.join(dir, 'pulse.toml');
  const config =
    '[defaults]\ninterval = "1s"\n\n' +
    `[[check]]\nname = ${JSON.stringify(hostileName)}\ngroup = ${JSON.stringify(hostileGroup)}\n` +
    `kind = "http"\nurl = "http://127.0.0.1:${port}/"\nexpect_status = [500]\n` +
    `body_contains = ${JSON.stringify(script(5))}\n`;
  fs.writeFileSync(file, config);
  server = await PulseServer.start(['--config', file]);
});

test.afterAll(async () => {
  await server.stop();
  target.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Opens `url`, collecting console messages about the CSP; `live` pages
 * are waited on until their stream is up (hydrated and connected). */
async function open(page: Page, url: string, live: boolean) {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  const response = await page.goto(url);
  const policy = response?.headers()['content-security-policy'] ?? '';
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=_-]+' 'wasm-unsafe-eval'/);
  expect(policy).toContain("frame-ancestors 'none'");
  expect(response?.headers()['x-content-type-options']).toBe('nosniff');
  if (live) await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  return violations;
}

async function expectNothingInjected(page: Page, violations: string[]) {
  expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();
  await expect(page.locator('.injected')).toHaveCount(0);
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  expect(violations).toEqual([]);
}

test('markup in names, groups, expectations and answers is shown as text', async ({ page }) => {
  const violations = await open(page, server.url, true);
  await expect(page).toHaveTitle('Pulse');
  const card = page.locator('article.card');
  await expect(card).toHaveCount(1);
  // The name, literally, after at least one live result (the reason says
  // what the body lacked: the expectation, itself markup).
  await expect(card).toContainText(hostileName);
  await expect(card).toHaveAttribute('data-health', 'down', { timeout: 10_000 });
  await expect(card).toContainText('window.pwned=5');
  await expect(page.locator('section[data-group]')).toContainText(hostileGroup);
  await expectNothingInjected(page, violations);

  // The check's own page, where name and reasons are shown at length.
  const id = await card.getAttribute('data-check-id');
  const detail = await open(page, `${server.url}/checks/${id}`, false);
  await expect(page.locator('body')).toContainText(hostileName);
  // The title names the check, as text.
  expect(await page.title()).toBe(`${hostileName} · Pulse`);
  await page.waitForLoadState('networkidle'); // the bundle loaded and hydrated
  await expectNothingInjected(page, detail);
});
