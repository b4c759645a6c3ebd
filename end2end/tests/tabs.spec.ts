// Many tabs of one browser share one stream: a browser keeps at most six
// HTTP/1.1 connections per host, and a stream per tab left the seventh tab
// unable to load. One tab leads (Web Locks) and relays every event to the
// others (BroadcastChannel); see src/live/tabs.rs.
import { test, expect, Page, BrowserContext } from '@playwright/test';
import { PulseServer } from './pulse-server';

let server: PulseServer;
let context: BrowserContext;

test.beforeEach(async ({ browser }) => {
  // Twenty synthetic results a second: a steady flow of events to count.
  server = await PulseServer.start(['--interval', '1s', '--demo-rate', '20/s']);
  context = await browser.newContext();
});

test.afterEach(async () => {
  await context.close();
  await server.stop();
});

async function openTabs(count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const page = await context.newPage();
    await page.goto(server.url);
    pages.push(page);
  }
  return pages;
}

async function connectedClients(): Promise<number> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return Number(metrics.match(/^pulse_connected_clients (\d+)$/m)![1]);
}

/** The newest event id a tab applied, and how many events it applied: read together. */
async function counts(page: Page): Promise<{ id: number; events: number }> {
  return page.evaluate(() => {
    const badge = document.querySelector('.badge')!;
    return { id: Number(badge.getAttribute('data-last-event-id')), events: Number(badge.getAttribute('data-events')) };
  });
}

test('ten tabs are all live on one stream', async () => {
  const pages = await openTabs(10);
  for (const page of pages) {
    await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  }
  await expect.poll(connectedClients).toBe(1);

  // Every tab keeps receiving events, not just the one that holds the stream.
  const before = await Promise.all(pages.map(counts));
  for (const [i, page] of pages.entries()) {
    await expect.poll(async () => (await counts(page)).events).toBeGreaterThan(before[i].events);
  }
  await expect(pages[9].locator('article.card').first()).toBeVisible();
});

test('closing the leading tab hands the stream over: no event lost, none twice', async () => {
  const pages = await openTabs(4);
  for (const page of pages) {
    await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  }
  await expect.poll(connectedClients).toBe(1);

  // The first tab opened leads. Close it while events keep coming.
  const [leader, ...rest] = pages;
  const before = await Promise.all(rest.map(counts));
  const closedAt = Date.now();
  await leader.close();

  // Each remaining tab applies events again once another took over.
  const newest = Math.max(...before.map((c) => c.id));
  for (const page of rest) {
    await expect.poll(async () => (await counts(page)).id, { timeout: 10_000 }).toBeGreaterThan(newest + 5);
  }
  console.log(`handover: every tab live again ${Date.now() - closedAt} ms after the leader closed`);
  await expect.poll(connectedClients).toBe(1);

  // Every event id in between applied exactly once in every tab: the
  // private stream's ids have no gaps, so the count of events applied must
  // equal the distance between the ids (a snapshot would break it too).
  const after = await Promise.all(rest.map(counts));
  for (const [i, page] of rest.entries()) {
    expect(after[i].events - before[i].events, `tab ${i + 2}`).toBe(after[i].id - before[i].id);
    await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  }
});

test('a tab opened later catches up from the id its page was rendered at, each event once', async () => {
  const [first] = await openTabs(1);
  await expect(first.locator('.badge')).toHaveAttribute('data-state', 'live');

  const second = await context.newPage();
  const response = await second.goto(server.url);
  const html = await response!.text();
  const renderedAt = Number(html.match(/data-last-event-id="(\d+)"/)![1]);
  await expect(second.locator('.badge')).toHaveAttribute('data-state', 'live');
  await expect.poll(async () => (await counts(second)).id).toBeGreaterThan(renderedAt + 20);

  // What came between the render and the tab joining (asked of the leader)
  // and everything relayed since: each applied once, none missing.
  const now = await counts(second);
  expect(now.events).toBe(now.id - renderedAt);
  await expect.poll(connectedClients).toBe(1);
});
