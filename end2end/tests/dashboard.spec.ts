import { test, expect, Page } from '@playwright/test';
import { PulseServer } from './pulse-server';

type Status = { id: string; name: string; health: string; detail: string };

let server: PulseServer;

test.beforeEach(async () => {
  server = await PulseServer.start(['--interval', '1s']);
});

test.afterEach(async () => {
  await server.stop();
});

/** Fails the test on any page error or console error (a hydration panic, say). */
function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}

async function checkedStatuses(page: Page): Promise<Status[]> {
  // The first results land within a few hundred milliseconds of start.
  await expect
    .poll(async () => {
      const snapshot = await (await page.request.get(`${server.url}/api/status`)).json();
      return snapshot.checks.every((c: Status) => c.health !== 'unknown');
    })
    .toBe(true);
  return (await (await page.request.get(`${server.url}/api/status`)).json()).checks;
}

test('the first HTML, before any WASM runs, already shows real statuses', async ({ browser, page }) => {
  const checks = await checkedStatuses(page);
  const html = await (await page.request.get(server.url)).text();
  for (const check of checks) {
    expect(html).toContain(`data-check-id="${check.id}"`);
    expect(html).toContain(`>${check.name}</h3>`);
  }
  expect(html).not.toContain('data-health="unknown"');

  // And as a person without JavaScript sees it.
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noScript.newPage();
  await plain.goto(server.url);
  await expect(plain.locator('article.card')).toHaveCount(checks.length);
  await expect(plain.locator('[data-check-id="pulse-healthz"] .pill')).toHaveText(/up|degraded|down/);
  await expect(plain.locator('[data-check-id="host-memory"] .detail')).toContainText('used');
  await noScript.close();
});

test('after hydration, events change the cards in place without a reload', async ({ page }) => {
  const errors = watchForErrors(page);
  await checkedStatuses(page);
  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');

  // Tag the page and every card: a reload would lose the tag, a re-created
  // card would lose its mark.
  const before = await page.evaluate(() => {
    (window as any).__sameDocument = true;
    const cards = [...document.querySelectorAll('article.card')];
    cards.forEach((card, i) => ((card as any).__mark = i));
    return cards.map((card) => card.querySelector('.detail')!.textContent + '|' + card.querySelector('.latency')!.textContent);
  });

  await expect
    .poll(
      () =>
        page.evaluate(() =>
          [...document.querySelectorAll('article.card')].map(
            (card) => card.querySelector('.detail')!.textContent + '|' + card.querySelector('.latency')!.textContent,
          ),
        ),
      { timeout: 20_000 },
    )
    .not.toEqual(before);

  const kept = await page.evaluate(() => ({
    sameDocument: (window as any).__sameDocument === true,
    marks: [...document.querySelectorAll('article.card')].map((card) => (card as any).__mark),
  }));
  expect(kept.sameDocument).toBe(true);
  expect(kept.marks).toEqual(before.map((_, i) => i));
  await expect(page.locator('.last-event')).toHaveText(/last event (just now|\d+ s ago)/);
  expect(errors).toEqual([]);
});

test('the connection indicator reads live, and the summary counts every check', async ({ page }) => {
  const errors = watchForErrors(page);
  const checks = await checkedStatuses(page);
  await page.goto(server.url);
  const badge = page.locator('.badge');
  await expect(badge).toHaveAttribute('data-state', 'live');
  await expect(badge).toHaveText('live');
  const counts = await page.locator('.summary .count b').allTextContents();
  expect(counts.map(Number).reduce((a, b) => a + b, 0)).toBe(checks.length);
  if (process.env.PULSE_SCREENSHOT) {
    await page.setViewportSize({ width: 1100, height: 640 });
    await page.screenshot({ path: process.env.PULSE_SCREENSHOT, fullPage: true });
  }
  expect(errors).toEqual([]);
});

test('a server restart shows reconnecting, then live again, without a reload', async ({ page }) => {
  await checkedStatuses(page);
  await page.goto(server.url);
  const badge = page.locator('.badge');
  await expect(badge).toHaveAttribute('data-state', 'live');
  await page.evaluate(() => ((window as any).__sameDocument = true));

  await server.stop();
  await expect(badge).toHaveAttribute('data-state', 'reconnecting');

  await server.restart();
  await expect(badge).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // The restarted server's events reach the page: a fresh check result shows.
  await expect(page.locator('[data-check-id="pulse-healthz"] .checked')).toHaveText(/just now|[1-5] s ago/);
});

test("the page's stream gets a connection of its own, served straight onto the socket", async ({ page }) => {
  // Pages and assets close their connections, so Chromium cannot put the
  // EventSource on one of them, where it would be served through hyper at
  // several times the memory (see src/sse/listener.rs).
  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  const metrics = await (await page.request.get(`${server.url}/metrics`)).text();
  expect(metrics).toContain('pulse_streams_opened_total{path="direct"} 1\n');
  expect(metrics).not.toContain('path="hyper"');
});
