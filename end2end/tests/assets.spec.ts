import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { PulseServer, servesBuiltInSite, siteRoot } from './pulse-server';

// Static assets are compressed once, at build time (`cargo leptos build
// --release --precompress` writes `.br` and `.gz` beside each file), built
// into the release binary, and served as they are: the bytes on the wire are
// the build's file, not a fresh compression per request (nor a stale copy).
// The bundle's names carry a hash of their content (`hash-files`), which the
// page links; browsers may keep those for a year.

const FOREVER = 'public, max-age=31536000, immutable';

let server: PulseServer;
let bundle: string[];

test.beforeAll(async () => {
  server = await PulseServer.start();
  bundle = bundleLinkedBy((await fetchRaw('/', '')).body.toString());
});

test.afterAll(async () => {
  await server?.stop();
});

/** The paths of the CSS, JS and WASM that a page's head links. */
function bundleLinkedBy(html: string): string[] {
  const head = html.slice(0, html.indexOf('</head>'));
  const linked = [...head.matchAll(/href="(\/pkg\/[^"]+\.(?:css|js|wasm))"/g)].map((m) => m[1]);
  return [...new Set(linked)];
}

/** The build's file for `asset`: itself, or (a plain name linked from a
 * folder site) its content-hashed copy, as the server picks it. */
function builtFile(asset: string): string {
  const plain = path.join(siteRoot, asset);
  if (fs.existsSync(plain)) return plain;
  const { dir, name, ext } = path.parse(plain);
  const hashed = fs.readdirSync(dir).find((f) => new RegExp(`^${name}\\.[A-Za-z0-9_-]{22}\\${ext}$`).test(f));
  return path.join(dir, hashed ?? path.basename(plain));
}

/** The raw answer to GET `target` with `accept-encoding`: no decoding. */
function fetchRaw(target: string, encoding: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${server.url}${target}`, { headers: { 'accept-encoding': encoding } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on('error', reject);
  });
}

test('the page links one CSS, one JS and one WASM file', () => {
  expect(bundle.map((p) => path.extname(p)).sort()).toEqual(['.css', '.js', '.wasm']);
});

for (const [encoding, suffix] of [['br', '.br'], ['gzip', '.gz'], ['', '']]) {
  test(`the bundle is sent as its build-time ${encoding || 'uncompressed'} file`, async () => {
    for (const asset of bundle) {
      const onDisk = fs.readFileSync(builtFile(asset) + suffix);
      const { status, headers, body } = await fetchRaw(asset, encoding);
      expect(status, asset).toBe(200);
      expect(headers['content-encoding'], asset).toBe(encoding || undefined);
      expect(headers['vary'], asset).toMatch(/accept-encoding/i);
      expect(body.equals(onDisk), asset).toBe(true);
    }
  });
}

test('each answer has its content type, and an ETag that answers 304', async () => {
  const types: Record<string, RegExp> = { '.css': /^text\/css/, '.js': /javascript/, '.wasm': /^application\/wasm$/ };
  for (const asset of [...bundle, '/favicon.svg']) {
    const first = await fetchRaw(asset, 'br');
    expect(first.headers['content-type'], asset).toMatch(types[path.extname(asset)] ?? /^image\/svg\+xml$/);
    const etag = first.headers['etag'];
    expect(etag, asset).toBeTruthy();
    const again = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(`${server.url}${asset}`, { headers: { 'accept-encoding': 'br', 'if-none-match': etag! } }, (r) => {
          r.resume();
          resolve(r);
        })
        .on('error', reject);
    });
    expect(again.statusCode, asset).toBe(304);
  }
});

test('the hashed bundle may be kept for a year; the favicon and the page may not', async () => {
  test.skip(!servesBuiltInSite, 'a folder named by PULSE_SITE_ROOT is linked by plain names');
  for (const asset of bundle) {
    expect(path.basename(asset), asset).toMatch(/^pulse\.[A-Za-z0-9_-]{22}\.(css|js|wasm)$/);
    expect((await fetchRaw(asset, 'br')).headers['cache-control'], asset).toBe(FOREVER);
  }
  expect((await fetchRaw('/favicon.svg', 'br')).headers['cache-control']).not.toContain('immutable');
  expect((await fetchRaw('/', 'br')).headers['cache-control'] ?? '').not.toContain('immutable');
});
