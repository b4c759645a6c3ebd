import { test, expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer, binary } from './pulse-server';

// Accessibility: every page, hydrated and live, in the light and the dark
// colour scheme, passes axe (WCAG 2.0 and 2.1, A and AA) with no serious or
// critical violation; and the dashboard works by keyboard alone, with the
// focus always visible.
//
// The board holds a check in each health (up, degraded, down, and one not
// checked yet), so every pill and colour is on the page; [access] is
// configured, so the login page and the signed-in header are there too.

const password = 'a long enough passphrase';
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

let hash: string;
let dir: string;
let file: string;
let server: PulseServer;
/** Accepts connections and never answers: the check on it stays unchecked. */
let silent: net.Server;
const sockets = new Set<net.Socket>();
/** What "Shop front" connects to: up while it listens, down once closed. */
let shop: net.Server;
let shopPort: number;

function config(extra = ''): string {
  const silentPort = (silent.address() as net.AddressInfo).port;
  return (
    '[defaults]\ninterval = "1s"\n\n' +
    `[access]\nusers = [{ name = "ada", password_hash = ${JSON.stringify(hash)} }]\n\n` +
    '[[check]]\nname = "Shop front"\ngroup = "web"\nkind = "tcp"\n' +
    `address = "127.0.0.1:${shopPort}"\n` +
    'public = true\npublic_detail = "The shop’s front page"\n\n' +
    `[[check]]\nname = "Slow API"\ngroup = "web"\nkind = "http"\nurl = "http://127.0.0.1:${silentPort}/"\n` +
    'interval = "1m"\ntimeout = "50s"\npublic = true\n\n' +
    '[[check]]\nname = "Disk"\ngroup = "host"\nkind = "host"\nmetric = "disk"\ndegraded = 0.001\ndown = 100\npublic = true\n\n' +
    '[[check]]\nname = "Memory"\ngroup = "host"\nkind = "host"\nmetric = "memory"\ndegraded = 100\ndown = 100\npublic = true\n\n' +
    extra
  );
}

test.beforeAll(async () => {
  hash = execFileSync(binary, ['hash-password'], { input: `${password}\n` }).toString().trim();
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

/** Closes what "Shop front" connects to: it goes down (a change for the feed). */
async function takeShopDown() {
  await new Promise((resolve) => shop.close(resolve));
}

test.afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent?.close(resolve));
});

test.beforeEach(async () => {
  shop = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
  shopPort = (shop.address() as net.AddressInfo).port;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-e2e-a11y-'));
  file = path.join(dir, 'pulse.toml');
  fs.writeFileSync(file, config());
  server = await PulseServer.start(['--config', file, '--history', path.join(dir, 'history.db')]);
});

test.afterEach(async () => {
  await server.stop();
  if (shop.listening) await takeShopDown();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One violation per paragraph: rule, impact, what it asks, and each element. */
function describe(violations: Awaited<ReturnType<AxeBuilder['analyze']>>['violations']): string {
  return violations
    .map((v) =>
      [
        `[${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`,
        ...v.nodes.map(
          (node) =>
            `  at ${node.target.join(' ')}\n    ${node.html}\n    ` +
            (node.failureSummary ?? '').replace(/\n/g, '\n    '),
        ),
      ].join('\n'),
    )
    .join('\n\n');
}

/** Runs axe in the light and the dark scheme; fails on serious or critical. */
async function expectAccessible(page: Page, what: string) {
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    if (bad.length > 0) found.push(`${what}, ${colorScheme} scheme:\n${describe(bad)}`);
  }
  await page.emulateMedia({ colorScheme: null });
  expect(found.join('\n\n'), `axe found serious or critical violations:\n\n${found.join('\n\n')}\n`).toBe('');
}

async function signIn(page: Page) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Name').fill('ada');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(`${server.url}/`);
}

/** Hydrated, on the stream, and every check but the silent one checked. */
async function liveBoard(page: Page) {
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('article.card[data-check-id="shop-front"]')).toHaveAttribute('data-health', 'down');
  await expect(page.locator('article.card[data-check-id="disk"]')).toHaveAttribute('data-health', 'degraded');
  await expect(page.locator('article.card[data-check-id="memory"]')).toHaveAttribute('data-health', 'up');
  await expect(page.locator('article.card[data-check-id="slow-api"]')).toHaveAttribute('data-health', 'unknown');
}

test('the dashboard passes axe, signed in, also with a config error shown', async ({ page }) => {
  await signIn(page);
  await expect(page.locator('article.card[data-check-id="shop-front"]')).toHaveAttribute('data-health', 'up');
  await takeShopDown();
  await liveBoard(page);
  await expect(page.locator('.feed .change').first()).toContainText('Shop front went down', { timeout: 10_000 });
  await expect(page.locator('.signed-in .who')).toHaveText('ada');
  await expectAccessible(page, 'dashboard');

  // A refused edit: the error banner joins the page.
  fs.writeFileSync(file, config('[[check]]\nname = "Broken"\nkind = "tcp"\nadress = "x:1"\n'));
  await expect(page.locator('.config-error')).toBeVisible({ timeout: 10_000 });
  // Folded and filtered: the states the toolbar leads to.
  await page.getByRole('button', { name: 'Fold all', exact: true }).click();
  await page.getByLabel('Failing only').check();
  await expectAccessible(page, 'dashboard with a config error, folded');
});

test('the public status page passes axe', async ({ page }) => {
  await takeShopDown();
  await page.goto(`${server.url}/status`);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('.public-check')).toHaveCount(4);
  await expect(page.locator('article.public-check[data-check-id="shop-front"]')).toHaveAttribute('data-health', 'down');
  await expect(page.locator('article.public-check[data-check-id="disk"]')).toHaveAttribute('data-health', 'degraded');
  await expect(page.locator('article.public-check[data-check-id="memory"]')).toHaveAttribute('data-health', 'up');
  await expect(page.locator('.overall')).toHaveText('Outage');
  await expectAccessible(page, '/status');
});

test('the login page passes axe, also after a failed attempt', async ({ page }) => {
  await page.goto(`${server.url}/`);
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await page.waitForLoadState('networkidle');
  await expectAccessible(page, '/login');

  await page.getByLabel('Name').fill('ada');
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('do not match');
  await page.waitForLoadState('networkidle');
  await expectAccessible(page, '/login?failed=1');
});

test('a check’s detail page passes axe', async ({ page }) => {
  await takeShopDown();
  await signIn(page);
  await liveBoard(page);
  // Results reach the history once a second: until the chart has a few.
  await expect
    .poll(() => server.savedResults(page.request, 'shop-front'), {
      message: 'results of the shop saved',
      timeout: 30_000,
    })
    .toBeGreaterThanOrEqual(3);
  // From the hydrated dashboard, so the detail page is hydrated too.
  await page.locator('article.card[data-check-id="shop-front"] a.more').click();
  await expect(page).toHaveURL(/\/checks\/shop-front$/);
  await expect(page.locator('.detail-page')).toBeVisible();
  // The chart and the lists, so axe sees them too.
  await expect(page.locator('.detail-page .chart')).toBeVisible();
  await expect(page.locator('.spans li').first()).toBeVisible();
  await expectAccessible(page, '/checks/shop-front');
});

test('the notifications page passes axe, with a failing notifier and a test refused', async ({ page }) => {
  // Nothing listens on port 1: every delivery fails, and is shown.
  fs.writeFileSync(
    file,
    config('[alerts]\ngroup_window = "0s"\n\n[[notifier]]\nname = "ops"\nkind = "webhook"\nurl = "http://127.0.0.1:1/hook"\n'),
  );
  await signIn(page);
  // The reload has put the notifier in force once the page lists it.
  await expect
    .poll(async () => (await page.request.get(`${server.url}/notifications`)).text())
    .toContain('data-notifier="ops"');
  await takeShopDown();
  await liveBoard(page);
  await expect(page.locator('article.card[data-check-id="shop-front"] .alert')).toHaveAttribute('data-alert', 'firing');
  await expect(page.locator('.notifier-error')).toBeVisible();
  await expectAccessible(page, 'dashboard with an alert firing and a notifier failing');

  await page.getByRole('navigation').getByRole('link', { name: 'Notifications' }).click();
  await expect(page.locator('li.notifier[data-notifier="ops"]')).toHaveAttribute('data-health', 'failing');
  await expect(page.locator('.notification-table tbody tr').first()).toContainText('Shop front');
  await page.getByRole('button', { name: 'Send a test message' }).click();
  await expect(page.locator('.test-outcome')).toHaveAttribute('data-outcome', 'failed');
  await expectAccessible(page, '/notifications');
});

/** What the focused element looks like, focused and not. */
async function focusStyles(page: Page) {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    if (!element || element === document.body) return null;
    const look = () => {
      const s = getComputedStyle(element);
      return {
        outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
        outlineVisible: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
        boxShadow: s.boxShadow,
      };
    };
    const focused = look();
    const focusVisible = element.matches(':focus-visible');
    element.blur();
    const unfocused = look();
    element.focus();
    return {
      element: element.outerHTML.slice(0, 120),
      focusVisible,
      focused,
      unfocused,
      refocused: document.activeElement === element,
    };
  });
}

/** The focus is on an element and plainly shown there. */
async function expectFocusShown(page: Page) {
  const styles = await focusStyles(page);
  expect(styles, 'something has the focus').not.toBeNull();
  const { element, focusVisible, focused, unfocused, refocused } = styles!;
  expect(refocused, element).toBe(true);
  expect(focusVisible, `${element} matches :focus-visible`).toBe(true);
  expect(focused.outlineVisible || focused.boxShadow !== 'none', `${element} shows an outline or a shadow`).toBe(true);
  expect(
    focused.outline !== unfocused.outline || focused.boxShadow !== unfocused.boxShadow,
    `${element} looks different focused (${JSON.stringify(focused)}) and not (${JSON.stringify(unfocused)})`,
  ).toBe(true);
}

/** Presses Tab (or Shift+Tab) until `selector` has the focus, checking each stop. */
async function tabTo(page: Page, selector: string, key: 'Tab' | 'Shift+Tab' = 'Tab') {
  for (let presses = 0; presses < 40; presses++) {
    await page.keyboard.press(key);
    await expectFocusShown(page);
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`${key} never reached ${selector}`);
}

test('the dashboard works by keyboard alone, with the focus always visible', async ({ page }) => {
  await takeShopDown();
  // Sign in by keyboard too: the name field has the focus from the start.
  await page.goto(`${server.url}/`);
  await expect(page).toHaveURL(/\/login/);
  await page.waitForLoadState('networkidle');
  await expect(page.locator('input[name="user"]')).toBeFocused();
  await expectFocusShown(page);
  await page.keyboard.type('ada');
  await tabTo(page, 'input[name="password"]');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(`${server.url}/`);
  await liveBoard(page);

  const visibleCards = page.locator('article.card:visible');
  await expect(visibleCards).toHaveCount(4);

  // Search.
  await tabTo(page, 'input.search');
  await page.keyboard.type('host');
  await expect(visibleCards).toHaveCount(2);
  await expect(page.locator('section[data-group="web"]')).toBeHidden();

  // Failing only: Space on the checkbox.
  await tabTo(page, '.failing-only input[type="checkbox"]');
  await page.keyboard.press('Space');
  await expect(page.getByLabel('Failing only')).toBeChecked();
  await expect(visibleCards).toHaveCount(1);
  await expect(visibleCards.first()).toHaveAttribute('data-check-id', 'disk');

  // Back with Shift+Tab, and forward again.
  await tabTo(page, 'input.search', 'Shift+Tab');
  await tabTo(page, '.failing-only input[type="checkbox"]');

  // Fold the group with Enter, unfold it with Space.
  const fold = page.locator('section[data-group="host"] button.fold');
  await tabTo(page, 'section[data-group="host"] button.fold');
  await page.keyboard.press('Enter');
  await expect(fold).toHaveAttribute('aria-expanded', 'false');
  await expect(visibleCards).toHaveCount(0);
  await page.keyboard.press('Space');
  await expect(fold).toHaveAttribute('aria-expanded', 'true');
  await expect(visibleCards).toHaveCount(1);

  // Open the check's page: its link is named after the check, not just "history".
  await tabTo(page, 'article.card[data-check-id="disk"] a.more');
  await expect(page.locator('article.card[data-check-id="disk"] a.more')).toHaveAccessibleName('Disk history');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/checks\/disk$/);
  await expect(page.locator('.detail-page')).toBeVisible();
});
