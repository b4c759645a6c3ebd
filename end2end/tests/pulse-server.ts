// Runs the real `pulse` release binary for a test, on a port the OS picks,
// and can stop it (SIGTERM) and start it again on the same port, as a deploy
// would.
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { APIRequestContext } from '@playwright/test';

const root = path.resolve(__dirname, '..', '..');
// Where cargo put the release binary (`CARGO_TARGET_DIR` moves it), unless
// PULSE_BIN says; cargo-leptos writes the site into the project either way.
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
export const binary = process.env.PULSE_BIN ?? path.join(targetDir, 'release', 'pulse');
// The site as built, which the tests compare what is served with. The
// servers serve the copy built into the binary, unless PULSE_SITE_ROOT names
// a folder for them to serve instead (LEPTOS_SITE_ROOT; an unoptimised
// bundle for profiling, say).
export const siteRoot = process.env.PULSE_SITE_ROOT ?? path.join(root, 'target', 'site');
export const servesBuiltInSite = !process.env.PULSE_SITE_ROOT;

export type LaunchOptions = {
  /** Another binary (a copy of `binary`, say). */
  binary?: string;
  /** The working directory; this process's by default. */
  cwd?: string;
  /** The whole environment, instead of this process's with the site's. */
  env?: NodeJS.ProcessEnv;
};

function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: 'warn' };
  delete env.LEPTOS_SITE_ROOT;
  if (!servesBuiltInSite) env.LEPTOS_SITE_ROOT = siteRoot;
  return env;
}

export class PulseServer {
  private child: ChildProcess | null = null;
  port = 0;

  /** What the server wrote to stderr (it is passed on as well). */
  stderr = '';

  private constructor(
    private readonly args: string[],
    private readonly options: LaunchOptions,
  ) {}

  static async start(args: string[] = [], options: LaunchOptions = {}): Promise<PulseServer> {
    const server = new PulseServer(args, options);
    await server.launch('127.0.0.1:0');
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * How many results of `check` the history holds for today, as its page
   * says in the first HTML (the 90-day bar's last day), asked through
   * `request`: a page's, so that a signed-in page's session goes with it.
   * For tests that need results in the database, to wait for them instead
   * of for a time. (The JSON API's chart points are whole minutes only.)
   */
  async savedResults(request: APIRequestContext, check: string): Promise<number> {
    const answer = await request.get(`${this.url}/checks/${check}?range=1h`, { maxRedirects: 0 });
    if (answer.status() !== 200) throw new Error(`the page of ${check}: ${answer.status()}`);
    const days = [...(await answer.text()).matchAll(/title="[^"]*: (?:no results|[^"]*\((\d+) results?)/g)];
    return Number(days.at(-1)?.[1] ?? 0);
  }

  /** SIGTERM, then wait for the process to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.child = null;
  }

  /** Starts again on the same port, so open pages can find it. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch(`127.0.0.1:${this.port}`);
  }

  private launch(addr: string): Promise<void> {
    // No history file in the working directory unless a test asks for one.
    const history = this.args.includes('--history') ? [] : ['--no-history'];
    const child = spawn(this.options.binary ?? binary, ['--addr', addr, ...history, ...this.args], {
      cwd: this.options.cwd,
      env: this.options.env ?? serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      process.stderr.write(chunk);
    });
    return new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`pulse did not start: ${seen}`)), 30_000);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`pulse exited with ${code} at start: ${seen}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = seen.match(/pulse listening on http:\/\/[\d.]+:(\d+)/);
        if (match) {
          clearTimeout(timer);
          this.port = Number(match[1]);
          resolve();
        }
      });
    });
  }
}
