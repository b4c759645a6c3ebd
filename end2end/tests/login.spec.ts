import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer, binary } from './pulse-server';

// Signing in, from a real browser: an anonymous visitor of the dashboard
// is sent to the login page, signs in, sees the private dashboard live
// (results keep arriving), and signs out, after which the dashboard asks
// for a password again.

const password = 'a long enough passphrase';
const privateName = 'Private billing DB';

let dir: string;
let server: PulseServer;

test.beforeAll(async () => {
  const hash = execFileSync(binary, ['hash-password'], { input: `${password}\n` }).toString().trim();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-e2e-login-'));
  const file = path.join(dir, 'pulse.toml');
  fs.writeFileSync(
    file,
    '[defaults]\ninterval = "1s"\n\n' +
      `[access]\nusers = [{ name = "ada", password_hash = ${JSON.stringify(hash)} }]\n\n` +
      `[[check]]\nname = ${JSON.stringify(privateName)}\nkind = "tcp"\naddress = "127.0.0.1:9"\n`,
  );
  server = await PulseServer.start(['--config', file]);
});

test.afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('signs in, sees the private dashboard live, and signs out', async ({ page }) => {
  await page.goto(`${server.url}/`);
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await expect(page.locator('body')).not.toContainText(privateName);

  await page.getByLabel('Name').fill('ada');
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('do not match');

  await page.getByLabel('Name').fill('ada');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(`${server.url}/`);
  const card = page.locator('.card', { hasText: privateName });
  await expect(card).toBeVisible();
  await expect(page.locator('.signed-in .who')).toHaveText('ada');
  // Live: the private stream is open and results keep arriving on it.
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('.last-event')).toContainText('last event', { timeout: 10_000 });
  await expect(card).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto(`${server.url}/`);
  await expect(page).toHaveURL(/\/login/);
  await expect(page.locator('body')).not.toContainText(privateName);
});
