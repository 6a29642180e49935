// The web map end to end, as its users use it, in headless Chromium:
// a planner, a health nurse and an analyst sign in with their tokens.
// Prints what each saw; tests/webmap.rs checks it against the API.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, shot, report, BASE, TOKENS, OUT } from './browser.mjs';

const found = { shots: [] };

async function open(page) {
  const started = Date.now();
  await page.goto(BASE + '/', { waitUntil: 'load' });
  // The map's style is loaded (MapLibre's `load`), timed from navigation.
  await page.waitForFunction(() => window.chiikiMapLoaded, null, { timeout: 30000 });
  const load = await page.evaluate(() => window.chiikiMapLoaded);
  return { load_ms: Math.round(load), wall_ms: Date.now() - started };
}

async function signIn(page, role) {
  await page.fill('#token', TOKENS[role]);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#who');
  await page.waitForFunction(() => window.chiikiMapLoaded);
}

async function idle(page) {
  await page.evaluate(() => new Promise((done) => {
    const map = window.chiikiMap;
    if (map.loaded() && !map.isMoving()) { map.once('idle', done); map.triggerRepaint(); } else map.once('idle', done);
    setTimeout(done, 20000);
  }));
}

async function layerList(page) {
  return page.$$eval('[data-layer]', (boxes) => boxes.map((b) => ({
    id: b.dataset.layer, group: b.closest('fieldset').dataset.group, checked: b.checked,
  })));
}

async function runQuestion(page, id) {
  await page.click(`button.question[data-id="${id}"]`);
  await page.waitForFunction((qid) => window.chiikiLastRun && window.chiikiLastRun.id === qid, id);
}

async function countShown(page) {
  return page.evaluate(() => window.chiikiLastRun);
}

const { browser, context, page, errors, outside } = await launch();
try {
  // --- the page and sign-in, in Japanese, then English
  found.first_load = await open(page);
  found.lang = await page.getAttribute('html', 'lang');
  found.signin_label = await page.textContent('label[for=token]');
  await page.fill('#token', 'not-a-token');
  await page.click('#signin-button');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  found.bad_token_message = await page.textContent('#signin-error');
  found.shots.push(await shot(page, '01-sign-in'));
  errors.length = 0; // the refused token's 401, expected

  // --- planner: layers, a question with a changed depth rank, downloads, print
  await signIn(page, 'planner');
  found.token_in_session_storage = await page.evaluate(() => sessionStorage.getItem('chiiki-token') !== null);
  found.token_in_local_storage = await page.evaluate(() => JSON.stringify(localStorage).includes('demo-'));
  found.planner_layers = await layerList(page);
  // 町丁目 boundaries are on from the start; the keyboard turns on more.
  found.base_on_at_first = await page.isChecked('[data-layer="bunkyo_towns"]');
  for (const id of ['flood_depth', 'shelters_evacuation']) {
    await page.focus(`[data-layer="${id}"]`);
    await page.keyboard.press('Space');
    await page.waitForSelector(`[data-legend="${id}"]`);
  }
  found.planner_legend_flood = await page.$$eval('[data-legend="flood_depth"] li', (li) => li.map((l) => ({
    label: l.textContent, colour: getComputedStyle(l.querySelector('.swatch')).backgroundColor })));
  found.map_layers = await page.evaluate(() => window.chiikiMap.getStyle().layers.map((l) => l.id));
  await idle(page);
  found.shots.push(await shot(page, '02-planner-layers'));

  await runQuestion(page, 'elderly_in_flood');
  found.elderly_default = await countShown(page);
  await page.fill('#param-depth_rank', '3');
  await page.click('#run');
  await page.waitForFunction(() => window.chiikiLastRun.query.includes('param.depth_rank=3'));
  found.elderly_rank3 = await countShown(page);
  found.elderly_rank3_text = await page.textContent('#count');
  found.table_rows = await page.$$eval('table.features tbody tr', (r) => r.length);
  found.table_first_ids = await page.$$eval('table.features tbody tr', (r) => r.slice(0, 5).map((x) => x.dataset.fid));
  await idle(page);
  found.shots.push(await shot(page, '03-planner-elderly-in-flood-rank3'));

  // Click on a drawn resident of the answer: the popup shows its attributes.
  const point = await page.evaluate(() => {
    const map = window.chiikiMap;
    const layers = map.getStyle().layers.map((l) => l.id).filter((id) => id.startsWith('lyr-q-'));
    const f = map.queryRenderedFeatures({ layers })[0];
    if (!f) return null;
    const p = map.project(f.geometry.coordinates);
    return { x: p.x, y: p.y, id: f.id, properties: f.properties };
  });
  found.clicked = point;
  if (point) {
    const box = await page.$('#map');
    const b = await box.boundingBox();
    await page.mouse.click(b.x + point.x, b.y + point.y);
    await page.waitForSelector('.maplibregl-popup .inspect');
    found.popup = await page.$$eval('.maplibregl-popup .inspect tr', (rows) => Object.fromEntries(rows.map((r) =>
      [r.querySelector('th').textContent, r.querySelector('td').textContent])));
    found.shots.push(await shot(page, '04-planner-inspect'));
  }

  for (const [button, name] of [['#download-geojson', 'geojson'], ['#download-csv', 'csv']]) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    const path = join(OUT, await dl.suggestedFilename());
    await dl.saveAs(path);
    const text = readFileSync(path, 'utf8');
    found[`download_${name}`] = name === 'geojson'
      ? { file: path, features: JSON.parse(text).features.length }
      : { file: path, bom: text.charCodeAt(0) === 0xfeff, rows: text.split(/\r\n/).filter((l) => l.length).length - 1, header: text.split(/\r\n/)[0].replace(/^\uFEFF/, '') };
  }

  await page.click('#print');
  await page.waitForSelector('#print-view table.features');
  found.print = await page.evaluate(() => ({
    title: document.querySelector('#print-view h1').textContent,
    rows: document.querySelectorAll('#print-view table.features tbody tr').length,
    role: document.getElementById('print-role').textContent,
    generation: document.getElementById('print-generation').textContent,
    map_image: document.querySelector('#print-view img.print-map').src.length,
  }));
  found.shots.push(await shot(page, '05-planner-print-view'));
  await page.emulateMedia({ media: 'print' });
  const pdf = join(OUT, 'elderly_in_flood.pdf');
  await page.pdf({ path: pdf, format: 'A4' });
  found.print_pdf = { file: pdf, bytes: readFileSync(pdf).length };
  await page.emulateMedia({ media: 'screen' });
  await page.click('#print-close');

  // English, and back.
  await page.click('#lang');
  found.english_label = await page.textContent('#lang');
  found.english_back = await page.textContent('#back');
  await page.click('#lang');

  // A notification list: the 65+ of one town, counted, then saved as CSV.
  await page.click('#back');
  await page.click('#open-notify');
  await page.waitForSelector('#notify-town');
  await page.selectOption('#notify-town', '白山一丁目');
  await page.fill('#notify-filter', 'age >= 75');
  await page.click('#notify-count');
  await page.waitForFunction(() => window.chiikiNotified);
  found.planner_notify = await page.evaluate(() => ({ ...window.chiikiNotified, shown: document.getElementById('notify-result').textContent }));
  await page.waitForSelector('#notify-csv');
  {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#notify-csv')]);
    const path = join(OUT, 'notification-list.csv');
    await dl.saveAs(path);
    const text = readFileSync(path, 'utf8');
    found.planner_notify_csv = { bom: text.charCodeAt(0) === 0xfeff, rows: text.split(/\r?\n/).filter((l) => l.length).length - 1 };
  }
  await idle(page);
  found.shots.push(await shot(page, '10-planner-notification-list'));
  await page.click('#notify-back');
  await page.click('#signout');
  found.token_after_signout = await page.evaluate(() => sessionStorage.getItem('chiiki-token'));

  // --- health: the outreach list, but no residents layer
  await signIn(page, 'health');
  found.health_layers = await layerList(page);
  found.health_questions = await page.$$eval('button.question', (b) => b.map((x) => x.dataset.id));
  await runQuestion(page, 'care_outreach_flood');
  found.health_outreach = await countShown(page);
  found.health_outreach_columns = await page.$$eval('table.features thead th', (th) => th.map((x) => x.textContent));
  await idle(page);
  found.shots.push(await shot(page, '06-health-outreach'));
  // The visit rounds, printed: a page per round with its map and list.
  await page.click('#back');
  await runQuestion(page, 'shingles_outreach_visits');
  found.health_visits = await countShown(page);
  await page.click('#print');
  await page.waitForSelector('#print-view section.round-page svg.round-map');
  found.visit_print = await page.evaluate(() => {
    const pages = [...document.querySelectorAll('#print-view section.round-page')];
    return {
      pages: pages.length,
      rows: pages.reduce((n, p) => n + p.querySelectorAll('table.round-list tbody tr').length, 0),
      first: pages.slice(0, 20).map((p) => ({
        round: Number(p.dataset.round),
        markers: p.querySelectorAll('svg.round-map g.stop').length,
        streets: p.querySelectorAll('svg.round-map path[stroke="#bbb"]').length,
        stops: [...new Set([...p.querySelectorAll('table.round-list tbody tr td:first-child')].map((td) => td.textContent))].length,
        names: [...p.querySelectorAll('table.round-list tbody tr')].map((tr) => tr.children[1].textContent),
      })),
      printed: window.chiikiPrinted,
    };
  });
  found.shots.push(await shot(page, '08-health-visit-round-print'));
  // The first round's page as it prints.
  const roundPage = await page.$('#print-view section.round-page');
  const roundShot = join(OUT, '09-health-visit-round-page.png');
  await roundPage.screenshot({ path: roundShot });
  found.shots.push(roundShot);
  await page.emulateMedia({ media: 'print' });
  const visitsPdf = join(OUT, 'shingles_outreach_visits.pdf');
  await page.pdf({ path: visitsPdf, format: 'A4' });
  found.visit_pdf = { file: visitsPdf, bytes: readFileSync(visitsPdf).length };
  await page.emulateMedia({ media: 'screen' });
  await page.click('#print-close');
  await page.click('#signout');

  // --- analyst: aggregates only
  await signIn(page, 'analyst');
  found.analyst_layers = await layerList(page);
  found.analyst_questions = await page.$$eval('button.question', (b) => b.map((x) => x.dataset.id));
  await runQuestion(page, 'aging_mesh_250m');
  found.analyst_aging = await countShown(page);
  found.analyst_aging_first = await page.$$eval('table.features tbody tr', (rows) => rows.slice(0, 3).map((r) => r.dataset.fid));
  await idle(page);
  found.shots.push(await shot(page, '07-analyst-aging-mesh'));
  // The analyst may count the same town's 65+, protected, but not list them.
  await page.click('#back');
  await page.click('#open-notify');
  await page.waitForSelector('#notify-town');
  await page.selectOption('#notify-town', '白山一丁目');
  await page.evaluate(() => { window.chiikiNotified = null; });
  await page.click('#notify-count');
  await page.waitForFunction(() => window.chiikiNotified);
  found.analyst_notify = await page.evaluate(() => ({ ...window.chiikiNotified, shown: document.getElementById('notify-result').textContent,
    csv_button: !!document.getElementById('notify-csv') }));

  // A fresh page load, timed (the assets are cached as a returning user's are).
  const again = await context.newPage();
  await again.route('**/*', (r) => (r.request().url().startsWith(BASE) ? r.continue() : r.abort()));
  found.second_load = await open(again);
  await again.close();
} catch (e) {
  found.failure = String(e && e.stack || e);
  try { found.shots.push(await shot(page, 'failure')); } catch (_) { /* nothing to show */ }
} finally {
  found.errors = errors;
  found.outside = outside;
  await browser.close();
}
report(found);
