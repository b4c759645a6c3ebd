import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer } from './pulse-server';

// The config file drives the page: edits show up on an open dashboard
// without a reload, and a broken edit is shown with its position while the
// last good checks keep running. Then the viewer's tools: search, "failing
// only", and folding a group.

const header = '[defaults]\ninterval = "1s"\n\n';
const check = (name: string, group: string, body: string) =>
  `[[check]]\nname = "${name}"\ngroup = "${group}"\n${body}\n\n`;
const memory = check('Memory', 'host', 'kind = "host"\nmetric = "memory"\ndegraded = 100\ndown = 100');
const disk = check('Disk', 'host', 'kind = "host"\nmetric = "disk"\ndegraded = 100\ndown = 100');
const closed = check('Closed port', 'net', 'kind = "tcp"\naddress = "127.0.0.1:1"');
const load = check('Load', 'host', 'kind = "host"\nmetric = "load"\ndegraded = 1000\ndown = 1000');

let dir: string;
let file: string;
let server: PulseServer;

/** Saves as editors do: a new file renamed over the old one. */
function save(text: string) {
  const temporary = `${file}.swp`;
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, file);
}

test.beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-e2e-'));
  file = path.join(dir, 'pulse.toml');
  fs.writeFileSync(file, header + memory + disk + closed);
  server = await PulseServer.start(['--config', file]);
});

test.afterEach(async () => {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('editing the config changes the open dashboard, and a broken edit is shown', async ({ page }) => {
  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('.config-source code')).toHaveText(file);
  await expect(page.locator('article.card')).toHaveCount(3);
  await expect(page.locator('[data-check-id="closed-port"]')).toHaveAttribute('data-health', 'down');
  // Marks this document: a reload would lose it.
  await page.evaluate(() => ((window as any).sameDocument = true));

  save(header + memory + disk + load);
  await expect(page.locator('[data-check-id="load"]')).toBeVisible({ timeout: 10_000 });
  await expect(page.locator('[data-check-id="closed-port"]')).toHaveCount(0);
  await expect(page.locator('section[data-group="net"]')).toHaveCount(0);
  await expect(page.locator('[data-check-id="load"]')).toHaveAttribute('data-health', 'up');

  fs.writeFileSync(file, header + memory + '[[check]]\nname = "Broken"\nkind = "tcp"\nadress = "x:1"\n');
  const banner = page.locator('.config-error');
  await expect(banner).toBeVisible({ timeout: 10_000 });
  await expect(banner.locator('pre')).toHaveText(`${file}:15:1: unknown field \`adress\`, expected \`address\` or \`degraded_above\``);
  await expect(page.locator('article.card')).toHaveCount(3);

  save(header + memory);
  await expect(banner).toBeHidden({ timeout: 10_000 });
  await expect(page.locator('article.card')).toHaveCount(1);
  expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
});

test('search, failing only and folding narrow the board down', async ({ page }) => {
  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('[data-check-id="closed-port"]')).toHaveAttribute('data-health', 'down');
  const visibleCards = page.locator('article.card:visible');
  await expect(visibleCards).toHaveCount(3);

  await page.getByLabel('search checks').fill('dis');
  await expect(visibleCards).toHaveCount(1);
  await expect(visibleCards.first()).toHaveAttribute('data-check-id', 'disk');
  await expect(page.locator('section[data-group="net"]')).toBeHidden();

  await page.getByLabel('search checks').fill('');
  await page.getByLabel('Failing only').check();
  await expect(visibleCards).toHaveCount(1);
  await expect(visibleCards.first()).toHaveAttribute('data-check-id', 'closed-port');
  await expect(page.locator('section[data-group="host"]')).toBeHidden();
  await page.getByLabel('Failing only').uncheck();

  const host = page.locator('section[data-group="host"]');
  await expect(host.locator('.group-counts')).toHaveText('2 checks');
  await expect(page.locator('section[data-group="net"] .group-counts')).toHaveText('1 check, 1 failing');
  await host.getByRole('button', { name: 'host', exact: true }).click();
  await expect(host.locator('article.card:visible')).toHaveCount(0);
  await expect(visibleCards).toHaveCount(1);
  await host.getByRole('button', { name: 'host', exact: true }).click();
  await expect(host.locator('article.card:visible')).toHaveCount(2);
});
