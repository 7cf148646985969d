// The browser tests' harness: a real `podmirror demo` (sim + failing shop + backend) on free ports, tokens made with the real CLI, and Debian's chromium driven by playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** The podmirror binary: PODMIRROR_BIN, else the workspace's debug build. */
export const BIN = process.env.PODMIRROR_BIN ?? resolve(here, '../../target/debug/podmirror');
/** Where screenshots go: E2E_OUT, else dashboard/e2e/output. */
export const OUT = process.env.E2E_OUT ?? resolve(here, 'output');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** A running demo (`config`: the backend's config file's text); `stop()` kills it and removes its files. */
export async function startDemo(name, { timeScale = 20, config } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `podmirror-e2e-${name}-`));
  const env = { ...process.env, XDG_DATA_HOME: join(dir, 'data'), NO_COLOR: '1' };
  const args = ['demo', '--port', '0', '--api-port', '0', '--time-scale', String(timeScale), '--seed', '7', '--kubeconfig', join(dir, 'kc.yaml')];
  if (config !== undefined) {
    writeFileSync(join(dir, 'config.yaml'), config);
    args.push('--config', join(dir, 'config.yaml'));
  }
  const child = spawn(BIN, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  const lines = createInterface({ input: child.stdout });
  const link = await new Promise((resolveLink, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no dashboard link in 60 s; stderr:\n${stderr}`)), 60_000);
    child.on('exit', (code) => reject(new Error(`the demo exited (${code}) before printing its link; stderr:\n${stderr}`)));
    lines.on('line', (line) => {
      const m = /(http:\/\/[0-9.:]+)\/#token=(pm_\w+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveLink({ base: m[1], token: m[2], url: `${m[1]}/#token=${m[2]}` });
      }
    });
  });
  // Keep reading so the demo never blocks on a full pipe.
  lines.on('line', () => {});
  return {
    ...link,
    dir,
    /** `podmirror ARGS` on the demo's store (tokens); its stdout. */
    cli(args) {
      return execFileSync(BIN, args, { env, encoding: 'utf8' }).trim();
    },
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.on('exit', () => {
          clearTimeout(t);
          r();
        });
      });
      rmSync(dir, { recursive: true, force: true });
    },
    stderr: () => stderr,
    /** A request straight to the sim's API server (plain HTTP on loopback, from the demo's kubeconfig). */
    sim(path, { method = 'GET', body } = {}) {
      const server = /server:\s*(\S+)/.exec(readFileSync(join(dir, 'kc.yaml'), 'utf8'))[1];
      return fetch(`${server}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
    /** The Deployment `name` in shop, as the sim has it. */
    async deployment(name) {
      return (await this.sim(`/apis/apps/v1/namespaces/shop/deployments/${name}`)).json();
    },
  };
}

/** A Deployment of `replicas` pods that no node can take (Pending, Unschedulable: failing pods in bulk), in `namespace`, made if missing. */
export async function unschedulable(demo, namespace, name, replicas) {
  await demo.sim('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const labels = { app: name };
  const r = await demo.sim(`/apis/apps/v1/namespaces/${namespace}/deployments`, {
    method: 'POST',
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { nodeSelector: { 'podmirror.dev/no-such-node': 'true' }, containers: [{ name: 'app', image: 'registry.example.com/shop/web:1.0' }] },
        },
      },
    },
  });
  if (!r.ok) throw new Error(`the sim refused deployment ${namespace}/${name}: ${r.status} ${await r.text()}`);
}

/** Headless chromium with the flags this machine needs (no sandbox as root, no background network); playwright gives it a fresh profile. */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, close: () => browser.close() };
}

/** A screenshot into OUT/<test>/<name>.png. */
export async function shot(page, test, name) {
  const dir = join(OUT, test);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** The row of the demo's failing pod owned by Deployment `app` (its ReplicaSet is `app-<hash>`). */
export function rowOf(page, app) {
  return page.locator('[data-testid="pod-row"]').filter({ has: page.locator('.pod-owner', { hasText: new RegExp(`^ReplicaSet/${app}-[a-z0-9]+$`) }) });
}

/** Seconds of a countdown text like "2m 05s", "45s". */
export function countdownSeconds(text) {
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([hms])/g)) total += Number(n) * (unit === 'h' ? 3600 : unit === 'm' ? 60 : 1);
  return total;
}
