import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { PulseServer } from './pulse-server';

// Alerts as a person on the dashboard meets them: a check's card says how
// far its alert has got (pending, then firing), live; a notifier that
// refuses the alert puts a banner on the page until a retry gets through;
// the notifications page lists the notifier and the notification, and its
// button sends a test message that the receiver gets.

/** An HTTP server answering 200, or 500 while `failing`; keeps each POST body. */
class Local {
  failing = false;
  posts: any[] = [];
  private server!: http.Server;

  async start(): Promise<Local> {
    this.server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        if (request.method === 'POST' && !this.failing) this.posts.push(JSON.parse(body));
        response.writeHead(this.failing ? 500 : 200, { connection: 'close' });
        response.end(this.failing ? 'not now' : 'ok');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as any).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let dir: string;
let server: PulseServer;
let target: Local;
let receiver: Local;

test.beforeEach(async () => {
  target = await new Local().start();
  receiver = await new Local().start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-e2e-alerts-'));
  const file = path.join(dir, 'pulse.toml');
  fs.writeFileSync(
    file,
    '[defaults]\ninterval = "1s"\n\n' +
      '[alerts]\nfailure_threshold = 3\nsuccess_threshold = 1\ngroup_window = "0s"\n\n' +
      `[[notifier]]\nname = "ops"\nkind = "webhook"\nurl = "${receiver.url}/hook"\n\n` +
      `[[check]]\nname = "Shop API"\ngroup = "shop"\nkind = "http"\nurl = "${target.url}/api"\n`,
  );
  server = await PulseServer.start(['--config', file, '--history', path.join(dir, 'history.db')]);
});

test.afterEach(async () => {
  await server.stop();
  await target.stop();
  await receiver.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a card shows its alert live, and a notifier that fails shows until a retry gets through', async ({ page }) => {
  await page.goto(server.url);
  await expect(page.locator('.badge')).toHaveAttribute('data-state', 'live');
  const card = page.locator('article.card[data-check-id="shop-api"]');
  await expect(card).toHaveAttribute('data-health', 'up');
  const alert = card.locator('.alert');
  await expect(alert).toHaveText('no alert');

  receiver.failing = true;
  target.failing = true;
  await expect(alert).toHaveAttribute('data-alert', 'pending');
  await expect(alert).toHaveText(/^alert pending: [12] of 3 failing$/);
  await expect(alert).toHaveAttribute('data-alert', 'firing');
  await expect(alert).toHaveText(/^alert firing since \d\d:\d\d:\d\d UTC$/);

  const banner = page.locator('.notifier-error');
  await expect(banner).toBeVisible();
  await expect(banner.locator('li[data-notifier="ops"]')).toContainText('500');

  // The notifications page: the notifier is failing, the notification retried.
  await page.getByRole('navigation').getByRole('link', { name: 'Notifications' }).click();
  await expect(page).toHaveURL(`${server.url}/notifications`);
  const notifier = page.locator('li.notifier[data-notifier="ops"]');
  await expect(notifier).toHaveAttribute('data-health', 'failing');
  const row = page.locator('.notification-table tbody tr').first();
  await expect(row).toContainText('Shop API');
  await expect(row).toContainText('fired');
  await expect(row).toHaveAttribute('data-outcome', /^(retrying|waiting)$/);

  // The receiver takes messages again: a test goes through at once. The
  // button is a plain form: its answer sends the browser back to the page,
  // the outcome in the query…
  receiver.failing = false;
  await notifier.getByRole('button', { name: 'Send a test message' }).click();
  await expect(page).toHaveURL(`${server.url}/notifications?test=sent&notifier=ops`);
  await expect(page.locator('.test-outcome')).toHaveAttribute('data-outcome', 'sent');
  await expect(page.locator('.test-outcome')).toHaveText('A test message was sent to `ops`.');
  expect(receiver.posts.filter((p) => p.test === true)).toHaveLength(1);
  // …the page, loaded again, shows the notifier delivering…
  await expect(notifier).toHaveAttribute('data-health', 'ok');
  // …and a second one moments later is refused, saying when to try again.
  await notifier.getByRole('button', { name: 'Send a test message' }).click();
  await expect(page).toHaveURL(/\/notifications\?test=too-soon&notifier=ops&wait=\d+$/);
  await expect(page.locator('.test-outcome')).toHaveAttribute('data-outcome', 'failed');
  await expect(page.locator('.test-outcome')).toContainText('try again in');
  expect(receiver.posts.filter((p) => p.test === true)).toHaveLength(1);

  // …and the alert itself on its next retry (2 s, then 4 s after the first).
  await page.locator('a.home').click();
  await expect(page).toHaveURL(`${server.url}/`);
  await expect(page.locator('.notifier-error')).toBeHidden({ timeout: 20_000 });
  await expect.poll(() => receiver.posts.filter((p) => !p.test).length).toBe(1);
  expect(receiver.posts.find((p) => !p.test).alerts[0].event).toBe('fired');

  target.failing = false;
  await expect(card.locator('.alert')).toHaveText('no alert');
  await expect.poll(() => receiver.posts.filter((p) => !p.test).length).toBe(2);
});
