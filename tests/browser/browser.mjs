// Headless Chromium for the web map's tests: Debian's /usr/bin/chromium,
// driven by playwright-core from web/node_modules (Playwright's own browser
// download needs the internet). Each test script imports `launch` and
// `report`; the Rust test that runs it (tests/common `browser_script`)
// passes the server's URL, the role tokens and an output directory for
// screenshots in the environment, and reads the JSON the script prints.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export const BASE = process.env.CHIIKI_URL;
export const TOKENS = JSON.parse(process.env.CHIIKI_TOKENS || '{}');
export const OUT = process.env.CHIIKI_OUT || '.';
mkdirSync(OUT, { recursive: true });

/** A browser at a city-hall laptop's screen size (1366×768). */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // Nothing may be fetched from outside the local server.
  const outside = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(BASE) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  return { browser, context, page, errors, outside };
}

/** Saves a screenshot named `name` under the output directory. */
export async function shot(page, name) {
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Prints the script's findings for the Rust test, as one JSON line. */
export function report(value) {
  process.stdout.write(JSON.stringify(value) + '\n');
}
