import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { PulseServer, siteRoot } from './pulse-server';

// Static assets are compressed once, at build time (`cargo leptos build
// --release --precompress` writes `.br` and `.gz` beside each file), and
// served as they are: the bytes on the wire are the file on disk, not a
// fresh compression per request.


let server: PulseServer;

test.beforeAll(async () => {
  server = await PulseServer.start();
});

test.afterAll(async () => {
  await server?.stop();
});

/** The raw answer to GET `target` with `accept-encoding`: no decoding. */
function fetchRaw(target: string, encoding: string): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${server.url}${target}`, { headers: { 'accept-encoding': encoding } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on('error', reject);
  });
}

for (const [encoding, suffix] of [['br', '.br'], ['gzip', '.gz']]) {
  for (const asset of ['/pkg/pulse.wasm', '/pkg/pulse.js', '/pkg/pulse.css']) {
    test(`${asset} is sent as its build-time ${encoding} file`, async () => {
      const onDisk = fs.readFileSync(path.join(siteRoot, asset + suffix));
      const { headers, body } = await fetchRaw(asset, encoding);
      expect(headers['content-encoding']).toBe(encoding);
      expect(body.equals(onDisk)).toBe(true);
    });
  }
}
