// An incident as people meet it: opened and updated from the dashboard's
// forms by the machine's own user (the open loopback dashboard may act),
// and seen live by an anonymous viewer of the status page, who never
// reloads and never sees who wrote it or a private check's name.
import { test, expect } from '@playwright/test';
import { PulseServer } from './pulse-server';

test('an incident opened on the dashboard appears live on the status page, then resolves', async ({ browser }) => {
  const server = await PulseServer.start(['--interval', '1s']);
  try {
    const errors: string[] = [];
    const viewer = await (await browser.newContext()).newPage();
    viewer.on('pageerror', (error) => errors.push(error.message));
    await viewer.goto(`${server.url}/status`);
    await expect(viewer.locator('.badge')).toHaveAttribute('data-state', 'live');
    await expect(viewer.locator('.incident')).toHaveCount(0);
    await expect(viewer.locator('.incidents')).toBeHidden();

    const dashboard = await (await browser.newContext()).newPage();
    dashboard.on('pageerror', (error) => errors.push(error.message));
    await dashboard.goto(server.url);
    await expect(dashboard.locator('.badge')).toHaveAttribute('data-state', 'live');
    await dashboard.getByText('Open an incident').click();
    const form = dashboard.locator('.open-incident form');
    await form.getByLabel('Title').fill('Database failover');
    await form.getByLabel('Status').selectOption('identified');
    // Two lines: the browser sends the break as CRLF.
    await form.getByLabel('What is known').fill('The primary is gone;\nthe replica takes over.');
    await form.getByLabel('Checks it concerns').fill('Pulse /healthz, CPU');
    await form.getByRole('button', { name: 'Open the incident' }).click();
    await expect(dashboard).toHaveURL(/#incidents$/);
    const mine = dashboard.locator('.incident');
    await expect(mine.locator('.incident-title')).toHaveText('Database failover');
    await expect(mine.locator('.update-at')).toContainText("by the open dashboard's user");

    // The status page, untouched, shows it: the public check named, the
    // private one (CPU) and the author not.
    const shown = viewer.locator('.incident');
    await expect(shown).toHaveCount(1);
    await expect(shown.locator('.incident-title')).toHaveText('Database failover');
    await expect(shown.locator('.pill')).toHaveText('identified');
    await expect(shown.locator('.incident-meta')).toContainText('affects Pulse /healthz');
    await expect(shown.locator('.incident-meta')).not.toContainText('CPU');
    await expect(shown.locator('.update-message')).toHaveText('The primary is gone; the replica takes over.');
    expect(await shown.locator('.update-message').textContent()).toBe('The primary is gone;\nthe replica takes over.');
    await expect(shown).not.toContainText('dashboard');

    await mine.locator('.update-incident summary').click();
    const update = mine.locator('.update-incident form');
    await update.getByLabel('Status').selectOption('resolved');
    await update.getByLabel('Update').fill('Failover done; all writes go to the new primary.');
    await update.getByRole('button', { name: 'Post the update' }).click();
    await expect(shown.locator('.pill')).toHaveText('resolved');
    await expect(shown.locator('.update-status')).toHaveText(['resolved', 'identified']);
    await expect(dashboard.locator('.incident .update-incident')).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    await server.stop();
  }
});
