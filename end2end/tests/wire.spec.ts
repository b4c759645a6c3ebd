import { test, expect } from '@playwright/test';
import { PulseServer } from './pulse-server';

// Must equal FRAMING_SAMPLES in src/checks/demo.rs: the synthetic source
// cycles through these as details.
const FRAMING_SAMPLES = [
  'plain text',
  'line one\nline two',
  'carriage\rreturn',
  'crlf\r\nline',
  'ends with a lone CR\r',
  '',
  'ünïcödé ✓ — 日本語 🚀',
  '\u2028line separator\u2029',
  'data: not a field\n\nid: 7\nevent: fake',
  '\n',
];

test('any detail arrives byte for byte in Chromium’s EventSource', async ({ page }) => {
  const server = await PulseServer.start(['--demo-rate', '50/s']);
  try {
    await page.goto(server.url);
    const received: string[] = await page.evaluate(
      (wanted) =>
        new Promise<string[]>((resolve, reject) => {
          const seen = new Set<string>();
          const source = new EventSource('/api/events');
          const timer = setTimeout(() => reject(new Error(`saw only ${JSON.stringify([...seen])}`)), 20_000);
          source.onmessage = (event) => {
            const status = JSON.parse(event.data);
            if (status.group !== 'synthetic') return;
            seen.add(status.detail);
            if (seen.size >= wanted) {
              clearTimeout(timer);
              source.close();
              resolve([...seen]);
            }
          };
        }),
      FRAMING_SAMPLES.length,
    );
    expect(new Set(received)).toEqual(new Set(FRAMING_SAMPLES));

    // And once events have updated it, a card shows exactly the text sent.
    // (Its server-rendered first paint may not: HTML parsing turns \r into \n.)
    const detail = page.locator('[data-check-id="synthetic-0"] .detail');
    await expect
      .poll(async () => FRAMING_SAMPLES.includes((await detail.evaluate((node) => node.textContent)) ?? 'missing'))
      .toBe(true);
  } finally {
    await server.stop();
  }
});

test('a page refused at the stream cap (503) retries by itself and goes live', async ({ browser }) => {
  const server = await PulseServer.start(['--max-clients', '1']);
  try {
    const first = await browser.newPage();
    await first.goto(server.url);
    await expect(first.locator('.badge')).toHaveAttribute('data-state', 'live');

    // The browser gives up on a 503 for good; Pulse's own backoff must not.
    const second = await browser.newPage();
    await second.goto(server.url);
    await expect(second.locator('.badge')).toHaveAttribute('data-state', 'reconnecting');

    await first.close();
    await expect(second.locator('.badge')).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
  } finally {
    await server.stop();
  }
});
