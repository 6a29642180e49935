// The OGC HTML pages in Chromium: the collections page, an open
// collection's items page (the map draws, the table has rows), Swagger UI
// over the OpenAPI document (operations listed), and a planner signing in
// with HTTP Basic (the token as the password) to read residents as HTML.
// Prints one JSON line of findings for tests/html.rs.
import { launch, shot, report, BASE, TOKENS } from './browser.mjs';

const found = {};
const { browser, page, errors, outside } = await launch();

// Waits for the map of an items/item page to be idle (all drawn).
async function mapDrawn(p) {
  await p.waitForSelector('#map canvas', { timeout: 60000 });
  await p.waitForSelector('#map[data-state="idle"]', { timeout: 60000 });
  return p.evaluate(() => {
    const c = document.querySelector('#map canvas');
    return { width: c.width, height: c.height, error: document.getElementById('map').dataset.error || null };
  });
}

try {
  // The collections, as an anonymous browser sees them.
  await page.goto(`${BASE}/collections`, { waitUntil: 'load' });
  found.collections = {
    title: await page.title(),
    lang: await page.getAttribute('html', 'lang'),
    rows: await page.locator('table.list tbody tr').count(),
    ids: await page.locator('table.list tbody td code').allTextContents(),
  };
  await shot(page, 'collections');

  // Follow the link to an open collection, then to its items.
  await page.click('a[href="collections/bunkyo_towns?f=html"]');
  await page.waitForSelector('h1');
  found.collection = { url: page.url(), h1: await page.textContent('h1'), map: await mapDrawn(page) };
  await page.click('a.button');
  await page.waitForSelector('table.items');
  found.items = {
    url: page.url(),
    map: await mapDrawn(page),
    rows: await page.locator('table.items tbody tr').count(),
    next: await page.locator('a[rel="next"]').count(),
  };
  // A pixel of the map that is not the background: the features are drawn.
  const png = await page.locator('#map canvas').screenshot();
  found.items.mapBytes = png.length;
  await shot(page, 'items');

  // Next page, then one feature's page.
  await page.click('a[rel="next"]');
  await page.waitForSelector('table.items');
  found.next = { url: page.url(), prev: await page.locator('a[rel="prev"]').count() };
  await page.click('table.items tbody tr:first-child th a');
  await page.waitForSelector('table.facts');
  found.item = {
    url: page.url(),
    map: await mapDrawn(page),
    properties: await page.locator('table.facts tbody tr').count(),
  };
  await shot(page, 'item');

  // Swagger UI, from the embedded bundle.
  await page.goto(`${BASE}/api`, { waitUntil: 'load' });
  await page.waitForSelector('.opblock', { timeout: 60000 });
  found.swagger = {
    operations: await page.locator('.opblock').count(),
    paths: await page.locator('.opblock-summary-path').allTextContents(),
  };
  await shot(page, 'swagger');
} catch (e) {
  found.failure = String(e && e.stack || e);
}

// A planner signs in with HTTP Basic and reads residents as HTML.
const context = await browser.newContext({
  viewport: { width: 1366, height: 768 },
  httpCredentials: { username: 'planner', password: TOKENS.planner },
});
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith(BASE) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
  outside.push(url);
  return route.abort();
});
const planner = await context.newPage();
planner.on('pageerror', (e) => errors.push(String(e)));
planner.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
try {
  const next = encodeURIComponent('collections/residents/items?f=html&limit=5');
  const r = await planner.goto(`${BASE}/signin?next=${next}`, { waitUntil: 'load' });
  found.residents = {
    status: r.status(),
    url: planner.url(),
    cacheControl: r.headers()['cache-control'] || null,
    rows: await planner.locator('table.items tbody tr').count(),
    map: await mapDrawn(planner),
  };
  await shot(planner, 'residents-planner');
  // The browser keeps sending the credentials: the collections list the private ones.
  await planner.goto(`${BASE}/collections`, { waitUntil: 'load' });
  found.plannerIds = await planner.locator('table.list tbody td code').allTextContents();
} catch (e) {
  found.plannerFailure = String(e && e.stack || e);
}

found.errors = errors;
found.outside = outside;
await browser.close();
report(found);
