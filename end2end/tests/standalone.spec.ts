import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binary, PulseServer } from './pulse-server';

// The release binary carries its site: copied alone into an empty folder and
// started there, with nothing from the build in its environment, it serves a
// styled page that hydrates, and every asset the page asks for.

let dir: string;
let server: PulseServer | undefined;

test.beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-alone-'));
});

test.afterEach(async () => {
  await server?.stop();
  server = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** This process's environment without anything that points at the build
 * (LEPTOS_*, and PULSE_*, which are flags of the server). */
function foreignEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { RUST_LOG: 'warn' };
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(LEPTOS_|PULSE_|CARGO)/.test(key)) env[key] = value;
  }
  return env;
}

test('a copy of the release binary, alone in an empty folder, serves a styled, hydrated page', async ({ page }) => {
  const copy = path.join(dir, 'pulse');
  fs.copyFileSync(binary, copy);
  fs.chmodSync(copy, 0o755);
  server = await PulseServer.start([], { binary: copy, cwd: dir, env: foreignEnv() });

  const failed: string[] = [];
  const errors: string[] = [];
  const assets = new Map<string, string>();
  page.on('response', (response) => {
    if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    const url = new URL(response.url());
    if (url.pathname.startsWith('/pkg/')) assets.set(url.pathname, response.headers()['cache-control'] ?? '');
  });
  page.on('requestfailed', (request) => failed.push(`failed ${request.url()}`));
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });

  await page.goto(server.url);
  // Hydrated: only the WASM turns the badge live (its EventSource is open).
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  // Styled: style/main.css lays the header out as a flex row and sets the
  // page's custom properties.
  await expect(page.locator('header.top')).toHaveCSS('display', 'flex');
  const radius = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--radius').trim());
  expect(radius).toBe('10px');

  expect(failed).toEqual([]);
  expect(errors).toEqual([]);
  expect(server.stderr).not.toMatch(/ERROR|WARN/);

  // The bundle came under content-hashed names that browsers may keep.
  expect([...assets.keys()].map((p) => path.extname(p)).sort()).toEqual(['.css', '.js', '.wasm']);
  for (const [asset, cacheControl] of assets) {
    expect(asset).toMatch(/^\/pkg\/pulse\.[A-Za-z0-9_-]{22}\.(css|js|wasm)$/);
    expect(cacheControl, asset).toBe('public, max-age=31536000, immutable');
  }
  const favicon = await page.request.get(`${server.url}/favicon.svg`);
  expect(favicon.status()).toBe(200);
  expect(favicon.headers()['cache-control'] ?? '').not.toContain('immutable');

  // It wrote nothing beside itself (no history: --no-history).
  expect(fs.readdirSync(dir)).toEqual(['pulse']);
});
