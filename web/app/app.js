// chiiki's web map: sign in with a token, see the layers the role may
// read, ask the saved questions with their parameters, inspect, download
// and print the answers. Everything comes from this service's API (the
// same views and privacy rules as any client); nothing from outside.
'use strict';

(function () {
  // ---------------------------------------------------------------- text
  const TEXT = {
    ja: {
      title: 'chiiki 地域', signin: 'サインイン', signout: 'サインアウト', token: 'アクセストークン',
      anonymous: 'トークンなしで見る (公開データ)', badToken: 'トークンが正しくないか、期限切れです。',
      layers: 'レイヤー', questions: '質問', role: 'ロール', public: '公開',
      g_hazards: 'ハザード', g_people: '住民', g_infrastructure: '施設・インフラ', g_analyses: '分析結果', g_base: '基盤',
      run: '実行', asOf: '基準日', count: '件数', features: '件', prev: '前へ', next: '次へ',
      geojson: 'GeoJSONで保存', csv: 'CSVで保存 (Excel)', print: '印刷', close: '閉じる',
      noParams: 'この質問に変えられる条件はありません。', loading: '読み込み中…', none: '該当なし',
      printedBy: '印刷したロール', printedAt: '印刷日時', generation: 'データ世代', params: '条件',
      list: '一覧', page: 'ページ', zoomIn: '拡大すると表示されます', protected: '保護された集計値 (小さな値は秘匿・攪乱)',
      depth: '浸水深', lang: 'English', noLayers: '読めるレイヤーがありません。', error: 'エラー',
      hidden: '秘匿', back: '質問一覧へ', inspect: '地物の属性',
      round: '訪問ラウンド', rounds: 'ラウンド', stop: '順', homes: '訪問先', walk: '歩く距離', fromPrevious: '前の訪問先から',
      cell: 'メッシュ', visitOrder: '線は訪問の順 (道順は道路に沿って歩きます)', nameCol: '氏名', addressCol: '住所', ageCol: '年齢',
      notify: '通知リスト', notifyIntro: '区域内で条件に合う住民の一覧 (通知システム用CSV)。一覧を読めないロールには保護された件数だけが返ります。',
      areaKind: '区域', areaTown: '町丁目', areaMesh: 'メッシュコード', areaView: 'いま表示している範囲', criteria: '条件 (CQL2)',
      countButton: '件数を見る', listButton: '一覧をCSVで保存', protectedCount: '保護された件数 (小さな値は秘匿・攪乱)', exactCount: '件数',
      meshHint: '例: 53394611, 533946114 (カンマ区切り)',
    },
    en: {
      title: 'chiiki', signin: 'Sign in', signout: 'Sign out', token: 'Access token',
      anonymous: 'Continue without a token (open data)', badToken: 'The token is wrong or has expired.',
      layers: 'Layers', questions: 'Questions', role: 'Role', public: 'public',
      g_hazards: 'Hazards', g_people: 'People', g_infrastructure: 'Infrastructure', g_analyses: 'Analyses', g_base: 'Base',
      run: 'Run', asOf: 'As of', count: 'Count', features: 'features', prev: 'Previous', next: 'Next',
      geojson: 'Save as GeoJSON', csv: 'Save as CSV (Excel)', print: 'Print', close: 'Close',
      noParams: 'This question has no conditions to change.', loading: 'Loading…', none: 'None',
      printedBy: 'Printed by role', printedAt: 'Printed at', generation: 'Data generation', params: 'Conditions',
      list: 'List', page: 'Page', zoomIn: 'Zoom in to see it', protected: 'Protected aggregates (small values hidden or perturbed)',
      depth: 'Flood depth', lang: '日本語', noLayers: 'No layers to read.', error: 'Error',
      hidden: 'hidden', back: 'All questions', inspect: 'Feature attributes',
      round: 'Visit round', rounds: 'Rounds', stop: 'Stop', homes: 'Homes', walk: 'Walk', fromPrevious: 'From the previous home',
      cell: 'Mesh cell', visitOrder: 'Lines show the order of visits (the walk follows the roads)', nameCol: 'Name', addressCol: 'Address', ageCol: 'Age',
      notify: 'Notification list', notifyIntro: 'The residents of an area who meet criteria, as CSV for a notification system. Roles that may not read the list get a protected count only.',
      areaKind: 'Area', areaTown: 'Town (町丁目)', areaMesh: 'Mesh codes', areaView: 'The map as shown', criteria: 'Criteria (CQL2)',
      countButton: 'Count', listButton: 'Save the list as CSV', protectedCount: 'Protected count (small values hidden or perturbed)', exactCount: 'Count',
      meshHint: 'e.g. 53394611, 533946114 (comma-separated)',
    },
  };
  const GROUPS = ['hazards', 'people', 'infrastructure', 'analyses', 'base'];
  let lang = localStorage.getItem('chiiki-lang') === 'en' ? 'en' : 'ja';
  const t = (k) => TEXT[lang][k] || k;

  // -------------------------------------------------------------- legends
  // MLIT 水害ハザードマップ作成の手引き: depth classes and their colours.
  const MLIT_DEPTH = [
    [0.3, '#FFFFB3', '0.3m未満'], [0.5, '#F7F5A9', '0.3–0.5m'], [1.0, '#F8E1A6', '0.5–1.0m'],
    [3.0, '#FFD8C0', '1.0–3.0m'], [5.0, '#FFB7B7', '3.0–5.0m'], [10.0, '#FF9191', '5.0–10.0m'],
    [20.0, '#F285C9', '10.0–20.0m'], [Infinity, '#DC7ADC', '20.0m以上'],
  ];
  /** The MLIT colour of a depth class (by the middle of its range). */
  function depthColour(min, max) {
    const d = max == null ? min : (min + max) / 2;
    return MLIT_DEPTH.find(([upper]) => d < upper)[1];
  }
  // The demo's depth ranks (1: <0.5 m … 5: ≥5 m), coloured by their range.
  const RANKS = [[1, 0, 0.5, '0.5m未満'], [2, 0.5, 1, '0.5–1.0m'], [3, 1, 2, '1.0–2.0m'], [4, 2, 5, '2.0–5.0m'], [5, 5, null, '5.0m以上']];
  const GRADES = [['I', '#1a9850'], ['II', '#fee08b'], ['III', '#fc8d59'], ['IV', '#d73027']];
  const PALETTE = ['#1f78b4', '#33a02c', '#6a3d9a', '#b15928', '#e31a1c', '#ff7f00', '#a6cee3', '#b2df8a'];

  /** Class breaks of a choropleth field (share 0–1), lowest class first. */
  const CHOROPLETHS = {
    aging_rate: { breaks: [0.2, 0.3, 0.4, 0.5], colours: ['#fff5eb', '#fdd0a2', '#fd8d3c', '#d94801', '#7f2704'] },
    uptake: { breaks: [0.1, 0.2, 0.3, 0.5], colours: ['#a50f15', '#ef3b2c', '#fc9272', '#c6dbef', '#2171b5'] },
    covered_share: { breaks: [0.5, 0.7, 0.9, 0.99], colours: ['#a50f15', '#ef3b2c', '#fc9272', '#c6dbef', '#2171b5'] },
    risk_score: { breaks: [0.2, 0.4, 0.6, 0.8], colours: ['#1a9850', '#91cf60', '#fee08b', '#fc8d59', '#d73027'] },
    // Shelter crowding (count / capacity): grey where nothing was posted.
    occupancy_rate: { breaks: [0.5, 0.8, 1.0], colours: ['#1a9850', '#fee08b', '#fc8d59', '#d73027'], unknown: '不明 (未報告)' },
  };

  /** How a collection is drawn: MapLibre paint and the legend's entries. */
  function styleFor(c, fields, index) {
    const geom = (c['chiiki:geometryType'] || '').replace('Multi', '');
    const base = PALETTE[index % PALETTE.length];
    const has = (f) => fields.includes(f);
    let colour = base;
    let legend = [[base, c.title]];
    if (has('fill') && c.id.includes('flood')) {
      colour = ['to-color', ['get', 'fill'], base];
      legend = MLIT_DEPTH.slice(0, 6).map(([, col, label]) => [col, label]);
    } else if (has('depth_rank')) {
      colour = ['match', ['get', 'depth_rank']];
      for (const [r, lo, hi] of RANKS) colour.push(r, depthColour(lo, hi));
      colour.push(base);
      legend = RANKS.map(([r, lo, hi, label]) => [depthColour(lo, hi), `${t('depth')} ${r}: ${label}`]);
    } else if (has('health_grade')) {
      colour = ['match', ['get', 'health_grade']];
      for (const [g, col] of GRADES) colour.push(g, col);
      colour.push(base);
      legend = GRADES.map(([g, col]) => [col, `健全性 ${g}`]);
    } else {
      const field = Object.keys(CHOROPLETHS).find(has);
      if (field) {
        const { breaks, colours } = CHOROPLETHS[field];
        colour = ['step', ['coalesce', ['get', field], -1], '#cccccc', 0, colours[0]];
        breaks.forEach((b, i) => colour.push(b, colours[i + 1]));
        legend = colours.map((col, i) => [col,
          `${field} ${i === 0 ? '<' + breaks[0] : i === breaks.length ? '≥' + breaks[i - 1] : breaks[i - 1] + '–' + breaks[i]}`]);
        if (c['chiiki:privacy'] === 'aggregate') legend.push(['#cccccc', t('hidden')]);
        if (CHOROPLETHS[field].unknown) legend.push(['#cccccc', CHOROPLETHS[field].unknown]);
      }
    }
    if (c.id.includes('flood') && !has('fill') && !has('depth_rank')) {
      colour = '#7fb2e5';
      legend = [[colour, `${c.title}`]];
    }
    if (geom === 'Point') {
      const person = c['chiiki:privacy'] === 'individuals' || c['chiiki:privacy'] === 'derived';
      return {
        legend,
        layers: [{ type: 'circle', paint: {
          'circle-color': colour, 'circle-radius': person ? ['interpolate', ['linear'], ['zoom'], 13, 1.5, 17, 5] : 5,
          // People are small: a thin dark ring keeps pale classes visible.
          'circle-stroke-color': person ? '#444444' : '#ffffff', 'circle-stroke-width': person ? 0.4 : 1,
        } }],
      };
    }
    if (geom === 'LineString') {
      return { legend, layers: [{ type: 'line', paint: { 'line-color': colour, 'line-width': 2 } }] };
    }
    const outlineOnly = c['chiiki:group'] === 'base';
    return {
      legend: outlineOnly ? [['#555555', c.title]] : legend,
      layers: outlineOnly
        ? [{ type: 'line', paint: { 'line-color': '#555555', 'line-width': 1 } }]
        : [{ type: 'fill', paint: { 'fill-color': colour, 'fill-opacity': 0.7 } },
           { type: 'line', paint: { 'line-color': '#666666', 'line-width': 0.3 } }],
    };
  }

  // ----------------------------------------------------------------- API
  let token = sessionStorage.getItem('chiiki-token') || '';
  let session = null;
  let generation = '';

  async function api(path, opts = {}) {
    const headers = { Accept: opts.accept || 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { headers };
    if (opts.body !== undefined) {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    const r = await fetch(path, init);
    generation = r.headers.get('Chiiki-Generation') || generation;
    if (!r.ok) {
      let message = r.statusText;
      try { message = (await r.json()).description || message; } catch (_) { /* not JSON */ }
      const e = new Error(message);
      e.status = r.status;
      throw e;
    }
    return opts.text ? r.text() : r.json();
  }

  /** Query string of a question's parameters and date. */
  function askedQuery(q) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q.values)) p.set('param.' + k, v);
    if (q.asOf) p.set('as_of', q.asOf);
    return p;
  }

  // ------------------------------------------------------------------ DOM
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'on') for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
      else if (v === true) e.setAttribute(k, '');
      else if (v !== false && v != null) e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs = {}, ...children) => {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, v);
    for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  const app = document.getElementById('app');
  let map = null;
  let collections = [];
  let analyses = [];
  const shown = new Set(JSON.parse(sessionStorage.getItem('chiiki-shown') || '[]'));
  let question = null;
  let notifying = null;

  function render() {
    document.documentElement.lang = lang;
    document.title = t('title');
    app.replaceChildren(
      el('header', { class: 'bar' },
        el('h1', {}, t('title')),
        session ? el('span', { id: 'who', class: 'who' }, `${t('role')}: ${session.anonymous ? t('public') : session.role}`) : null,
        el('button', { id: 'lang', type: 'button', lang: lang === 'ja' ? 'en' : 'ja', on: { click: toggleLang } }, t('lang')),
        session ? el('button', { id: 'signout', type: 'button', on: { click: signOut } }, t('signout')) : null),
      el('div', { class: 'main' },
        el('aside', { id: 'side', 'aria-label': t('layers') }, session ? sidePanel() : signInForm()),
        el('div', { id: 'map', role: 'region', 'aria-label': 'map', tabindex: '0' })),
      el('div', { id: 'popup-host' }));
    startMap();
  }

  function signInForm() {
    const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'signin-error' });
    return el('form', { id: 'signin', on: { submit: (e) => { e.preventDefault(); signIn(input.value.trim()); } } },
      el('h2', {}, t('signin')),
      el('label', { for: 'token' }, t('token')), input,
      el('div', { class: 'row' },
        el('button', { type: 'submit', id: 'signin-button' }, t('signin')),
        el('button', { type: 'button', id: 'anonymous', on: { click: () => signIn('') } }, t('anonymous'))),
      el('p', { id: 'signin-error', role: 'alert', class: 'error' }));
  }

  async function signIn(value) {
    token = value;
    try {
      session = await api('session');
    } catch (e) {
      token = '';
      session = null;
      render();
      document.getElementById('signin-error').textContent = e.status === 401 ? t('badToken') : `${t('error')}: ${e.message}`;
      return;
    }
    sessionStorage.setItem('chiiki-token', token);
    await loadCollections();
    // Boundaries orient the eye where there is no base map: on at first.
    if (sessionStorage.getItem('chiiki-shown') === null) {
      for (const c of collections) if (c['chiiki:group'] === 'base') shown.add(c.id);
      sessionStorage.setItem('chiiki-shown', JSON.stringify([...shown]));
    }
    render();
  }

  function signOut() {
    token = '';
    session = null;
    question = null;
    notifying = null;
    shown.clear();
    sessionStorage.clear();
    render();
  }

  function toggleLang() {
    lang = lang === 'ja' ? 'en' : 'ja';
    localStorage.setItem('chiiki-lang', lang);
    const keep = map && { center: map.getCenter(), zoom: map.getZoom() };
    render();
    if (keep) map.jumpTo(keep);
    document.getElementById('lang').focus();
  }

  async function loadCollections() {
    const [cs, as] = await Promise.all([api('collections'), api('analyses')]);
    const fields = await Promise.all(cs.collections.map((c) =>
      api(`collections/${c.id}/queryables`).then((q) => Object.keys(q.properties || {})).catch(() => [])));
    collections = cs.collections.map((c, i) => ({ ...c, fields: fields[i], style: styleFor(c, fields[i], i) }));
    analyses = as.analyses.filter((a) => collections.some((c) => c.id === a.id));
  }

  function sidePanel() {
    if (question) return questionPanel();
    if (notifying) return notifyPanel();
    const groups = GROUPS.map((g) => {
      const members = collections.filter((c) => c['chiiki:group'] === g);
      if (!members.length) return null;
      return el('fieldset', { class: 'group', 'data-group': g },
        el('legend', {}, t('g_' + g)),
        members.map((c) => layerEntry(c)));
    });
    return [
      el('section', { id: 'layers' }, el('h2', {}, t('layers')),
        collections.length ? groups : el('p', {}, t('noLayers'))),
      el('section', { id: 'questions' }, el('h2', {}, t('questions')),
        el('ul', {}, analyses.map((a) => el('li', {},
          el('button', { type: 'button', class: 'question', 'data-id': a.id, on: { click: () => openQuestion(a) } }, a.title))))),
      session.anonymous ? null : el('section', { id: 'notify-entry' },
        el('button', { type: 'button', id: 'open-notify', on: { click: openNotify } }, t('notify'))),
    ];
  }

  // ------------------------------------------------------- notifications
  /** The town layer the area picker offers: a base layer of polygons named
   *  by S_NAME (the census 小地域), when the role reads one. */
  function townLayer() {
    return collections.find((c) => c['chiiki:group'] === 'base' && c.fields.includes('S_NAME'));
  }

  async function openNotify() {
    const towns = townLayer();
    let names = [];
    if (towns) {
      const page = await api(`collections/${towns.id}/items?limit=${(session && session.maxLimit) || 10000}&properties=S_NAME`);
      names = [...new Set(page.features.map((f) => f.properties.S_NAME).filter(Boolean))].sort((a, b) => a.localeCompare(b, 'ja'));
    }
    notifying = { towns, names, kind: towns ? 'town' : 'view', town: names[0] || '', mesh: '', filter: 'age >= 65', result: null, error: '' };
    const side = document.getElementById('side');
    side.replaceChildren(...[sidePanel()].flat());
    document.getElementById('notify-kind').focus();
  }

  /** The request body for the panel's area and criteria. */
  function notifyBody(countOnly) {
    const n = notifying;
    let area;
    if (n.kind === 'town') {
      area = { collection: n.towns.id, filter: `S_NAME = '${n.town.replace(/'/g, "''")}'` };
    } else if (n.kind === 'mesh') {
      area = { mesh: n.mesh.split(/[\s,、]+/).filter(Boolean) };
    } else {
      const b = map.getBounds();
      const [w, s2, e, nth] = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
      area = { polygon: { type: 'Polygon', coordinates: [[[w, s2], [e, s2], [e, nth], [w, nth], [w, s2]]] } };
    }
    const body = { area };
    if (n.filter.trim()) body.filter = n.filter.trim();
    if (countOnly) body.count_only = true;
    return body;
  }

  async function notifyCount() {
    const n = notifying;
    try {
      n.result = await api('notifications', { body: notifyBody(true) });
      n.error = '';
    } catch (e) {
      n.result = null;
      n.error = `${t('error')}: ${e.message}`;
    }
    document.getElementById('side').replaceChildren(...[sidePanel()].flat());
    showNotifyArea();
    window.chiikiNotified = { body: notifyBody(true), result: n.result, error: n.error };
  }

  async function notifyList() {
    const n = notifying;
    try {
      const text = await api('notifications?f=csv', { body: notifyBody(false), text: true, accept: 'text/csv' });
      // fetch's text() drops the byte-order mark Excel needs: put it back.
      const blob = new Blob(['\uFEFF' + text.replace(/^\uFEFF/, '')], { type: 'text/csv;charset=utf-8' });
      const a = el('a', { href: URL.createObjectURL(blob), download: 'notification-list.csv' });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      n.error = `${t('error')}: ${e.message}`;
      document.getElementById('notify-error').textContent = n.error;
    }
  }

  /** Outlines the chosen town on the map (and clears the outline when
   *  the panel is closed). */
  async function showNotifyArea() {
    const n = notifying;
    if (!map || !map.isStyleLoaded()) return;
    if (map.getLayer('notify-area')) map.removeLayer('notify-area');
    if (map.getSource('notify-area')) map.removeSource('notify-area');
    if (!n || n.kind !== 'town') return;
    const q = new URLSearchParams({ filter: notifyBody(true).area.filter, limit: 100 });
    const page = await api(`collections/${n.towns.id}/items?${q}`);
    map.addSource('notify-area', { type: 'geojson', data: page });
    map.addLayer({ id: 'notify-area', type: 'line', source: 'notify-area', paint: { 'line-color': '#c0392b', 'line-width': 3 } });
    fitTo(page.features);
  }

  function notifyPanel() {
    const n = notifying;
    const kinds = [n.towns ? ['town', t('areaTown')] : null, ['mesh', t('areaMesh')], ['view', t('areaView')]].filter(Boolean);
    const kind = el('select', { id: 'notify-kind', name: 'kind' }, kinds.map(([v, label]) => el('option', { value: v, selected: n.kind === v }, label)));
    kind.addEventListener('change', () => { n.kind = kind.value; n.result = null; document.getElementById('side').replaceChildren(...[sidePanel()].flat()); });
    let where = null;
    if (n.kind === 'town') {
      const town = el('select', { id: 'notify-town', name: 'town' }, n.names.map((name) => el('option', { value: name, selected: n.town === name }, name)));
      town.addEventListener('change', () => { n.town = town.value; });
      where = el('div', { class: 'param' }, el('label', { for: 'notify-town' }, t('areaTown')), town);
    } else if (n.kind === 'mesh') {
      const mesh = el('input', { id: 'notify-mesh', name: 'mesh', type: 'text', value: n.mesh, placeholder: t('meshHint') });
      mesh.addEventListener('change', () => { n.mesh = mesh.value; });
      where = el('div', { class: 'param' }, el('label', { for: 'notify-mesh' }, t('areaMesh')), mesh);
    }
    const filter = el('input', { id: 'notify-filter', name: 'filter', type: 'text', value: n.filter });
    filter.addEventListener('change', () => { n.filter = filter.value; });
    const r = n.result;
    const shown = r == null ? '' : `${r.protected ? t('protectedCount') : t('exactCount')}: ${Number(r.count).toLocaleString()}`;
    return el('section', { id: 'notify' },
      el('button', { type: 'button', id: 'notify-back', class: 'link', on: { click: () => { notifying = null; showNotifyArea(); render(); } } }, '← ' + t('back')),
      el('h2', {}, t('notify')), el('p', { class: 'description' }, t('notifyIntro')),
      el('form', { id: 'notify-form', on: { submit: (e) => { e.preventDefault(); notifyCount(); } } },
        el('div', { class: 'param' }, el('label', { for: 'notify-kind' }, t('areaKind')), kind),
        where,
        el('div', { class: 'param' }, el('label', { for: 'notify-filter' }, t('criteria')), filter),
        el('button', { type: 'submit', id: 'notify-count' }, t('countButton'))),
      el('p', { id: 'notify-result', role: 'status', 'aria-live': 'polite' }, shown),
      r && !r.protected ? el('button', { type: 'button', id: 'notify-csv', on: { click: notifyList } }, t('listButton')) : null,
      el('p', { id: 'notify-error', role: 'alert', class: 'error' }, n.error));
  }

  function layerEntry(c) {
    const id = `layer-${c.id}`;
    const box = el('input', { type: 'checkbox', id, 'data-layer': c.id, checked: shown.has(c.id),
      on: { change: (e) => { toggleLayer(c, e.target.checked); } } });
    const entry = el('div', { class: 'layer' },
      box, el('label', { for: id }, c.title || c.id),
      el('span', { class: 'count' }, c['chiiki:featureCount'] != null ? `${c['chiiki:featureCount'].toLocaleString()}` : ''));
    if (shown.has(c.id)) entry.append(legend(c));
    return entry;
  }

  function legend(c) {
    const note = c['chiiki:privacy'] === 'aggregate' && !session.exactAggregates ? el('p', { class: 'note' }, t('protected')) : null;
    const zoom = c['chiiki:privacy'] === 'individuals' ? el('p', { class: 'note' }, t('zoomIn') + ' (z13+)') : null;
    return el('ul', { class: 'legend', 'data-legend': c.id },
      c.style.legend.map(([colour, label]) => el('li', {}, el('span', { class: 'swatch', style: `background:${colour}` }), label)),
      note, zoom);
  }

  function toggleLayer(c, on) {
    if (on) shown.add(c.id); else shown.delete(c.id);
    sessionStorage.setItem('chiiki-shown', JSON.stringify([...shown]));
    if (on) addLayer(c.id, c, ''); else removeLayer(c.id);
    const side = document.getElementById('side');
    const scroll = side.scrollTop;
    side.replaceChildren(...[sidePanel()].flat());
    side.scrollTop = scroll;
    document.getElementById(`layer-${c.id}`).focus();
  }

  // ------------------------------------------------------------------ map
  function startMap() {
    const container = document.getElementById('map');
    const bm = session && session.basemap;
    const style = { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f4f3ef' } }] };
    if (bm && bm.tiles) {
      style.sources.basemap = { type: 'raster', tiles: [bm.tiles], tileSize: 256, attribution: bm.attribution || '' };
      style.layers.push({ id: 'basemap', type: 'raster', source: 'basemap' });
    }
    const keep = map && { center: map.getCenter(), zoom: map.getZoom() };
    if (map) map.remove();
    map = new maplibregl.Map({
      container, style: bm && bm.style ? bm.style : style,
      center: keep ? keep.center : [139.7525, 35.7165], zoom: keep ? keep.zoom : 13.2,
      canvasContextAttributes: { preserveDrawingBuffer: true },
      attributionControl: { compact: true },
      transformRequest: (url) => (token && url.startsWith(location.origin)
        ? { url, headers: { Authorization: 'Bearer ' + token } } : { url }),
    });
    window.chiikiMap = map;
    map.addControl(new maplibregl.NavigationControl(), 'top-right');
    map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
    map.on('load', () => {
      window.chiikiMapLoaded = performance.now();
      if (!session) return;
      for (const c of collections) if (shown.has(c.id)) addLayer(c.id, c, '');
      if (question && question.ran) addLayer('q', question.collection, askedQuery(question).toString());
    });
    map.on('click', inspect);
  }

  function tileUrl(id, query) {
    return new URL(`collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}${query ? '?' + query : ''}`, location.href)
      .href.replace('%7Bz%7D', '{z}').replace('%7By%7D', '{y}').replace('%7Bx%7D', '{x}');
  }

  /** Draws collection `c` as source `key` from its vector tiles. */
  function addLayer(key, c, query) {
    if (!map || !map.isStyleLoaded()) return;
    removeLayer(key);
    const people = c['chiiki:privacy'] === 'individuals';
    map.addSource(`src-${key}`, { type: 'vector', tiles: [tileUrl(c.id, query)], minzoom: people ? 13 : 0, maxzoom: 16,
      attribution: c.attribution || '' });
    c.style.layers.forEach((l, i) => {
      map.addLayer({ id: `lyr-${key}-${i}`, source: `src-${key}`, 'source-layer': c.id, minzoom: people ? 13 : 0, ...l });
    });
  }

  function removeLayer(key) {
    if (!map || !map.getStyle()) return;
    for (const l of map.getStyle().layers) if (l.id.startsWith(`lyr-${key}-`)) map.removeLayer(l.id);
    if (map.getSource(`src-${key}`)) map.removeSource(`src-${key}`);
  }

  /** A popup with the attributes of what was clicked, as the API served them. */
  function inspect(e) {
    const layers = map.getStyle().layers.map((l) => l.id).filter((id) => id.startsWith('lyr-'));
    const hit = map.queryRenderedFeatures([[e.point.x - 4, e.point.y - 4], [e.point.x + 4, e.point.y + 4]], { layers });
    if (!hit.length) return;
    const f = hit[0];
    const rows = Object.entries(f.properties).map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, String(v))));
    const body = el('div', { class: 'inspect' }, el('h3', {}, `${f.sourceLayer}${f.id != null ? ' #' + f.id : ''}`),
      el('table', { 'aria-label': t('inspect') }, el('tbody', {}, rows)));
    new maplibregl.Popup({ maxWidth: '360px' }).setLngLat(e.lngLat).setDOMContent(body).addTo(map);
  }

  // ------------------------------------------------------------ questions
  function openQuestion(a) {
    const values = {};
    for (const p of a.parameters || []) values[p.name] = String(p.default);
    question = { analysis: a, collection: collections.find((c) => c.id === a.id), values, asOf: '', offset: 0, ran: false };
    document.getElementById('side').replaceChildren(questionPanel());
    document.getElementById('back').focus();
    run();
  }

  function questionPanel() {
    const q = question;
    const a = q.analysis;
    const inputs = (a.parameters || []).map((p) => {
      const id = `param-${p.name}`;
      const label = el('label', { for: id }, (lang === 'en' && p.label_en) || p.label, p.unit ? ` (${p.unit})` : '');
      const input = p.choices
        ? el('select', { id, name: p.name }, p.choices.map((c) => el('option', { value: c, selected: String(q.values[p.name]) === c }, c)))
        : el('input', { id, name: p.name, type: 'number', min: p.min, max: p.max, step: p.step || 'any', value: q.values[p.name], required: true });
      input.addEventListener('change', () => { q.values[p.name] = input.value; });
      return el('div', { class: 'param' }, label, input);
    });
    const asOf = el('input', { id: 'as-of', type: 'date', value: q.asOf || '' });
    asOf.addEventListener('change', () => { q.asOf = asOf.value; });
    const form = el('form', { id: 'question-form', on: { submit: (e) => { e.preventDefault(); q.offset = 0; run(); } } },
      inputs.length ? inputs : el('p', { class: 'note' }, t('noParams')),
      el('div', { class: 'param' }, el('label', { for: 'as-of' }, t('asOf')), asOf),
      el('button', { type: 'submit', id: 'run' }, t('run')));
    return el('section', { id: 'answer', 'data-id': a.id },
      el('button', { type: 'button', id: 'back', class: 'link', on: { click: () => { question = null; removeLayer('q'); render(); } } }, '← ' + t('back')),
      el('h2', {}, a.title), el('p', { class: 'description' }, a.description),
      form,
      el('p', { id: 'count', role: 'status', 'aria-live': 'polite' }, q.ran ? `${t('count')}: ${q.matched.toLocaleString()} ${t('features')}` : ''),
      el('div', { class: 'row' },
        el('button', { type: 'button', id: 'download-geojson', on: { click: () => download('geojson') } }, t('geojson')),
        el('button', { type: 'button', id: 'download-csv', on: { click: () => download('csv') } }, t('csv')),
        el('button', { type: 'button', id: 'print', on: { click: printView } }, t('print'))),
      el('div', { id: 'table-host' }, q.page ? featureTable(q.page, q.columns) : null),
      el('div', { class: 'row pager' },
        el('button', { type: 'button', id: 'prev', disabled: !q.ran || q.offset === 0, on: { click: () => { q.offset = Math.max(0, q.offset - PAGE); run(); } } }, t('prev')),
        el('span', { id: 'page' }, q.ran && q.matched ? `${q.offset + 1}–${Math.min(q.offset + PAGE, q.matched)} / ${q.matched.toLocaleString()}` : ''),
        el('button', { type: 'button', id: 'next', disabled: !q.ran || q.offset + PAGE >= q.matched, on: { click: () => { q.offset += PAGE; run(); } } }, t('next'))),
      el('p', { id: 'question-error', role: 'alert', class: 'error' }));
  }

  const PAGE = 50;

  async function run() {
    const q = question;
    const query = askedQuery(q);
    query.set('limit', PAGE);
    query.set('offset', q.offset);
    const side = document.getElementById('side');
    try {
      const page = await api(`collections/${q.analysis.id}/items?${query}`);
      q.page = page.features;
      q.matched = page.numberMatched;
      q.columns = columnsOf(page.features);
      q.ran = true;
      q.error = '';
      side.replaceChildren(questionPanel());
      addLayer('q', q.collection, askedQuery(q).toString());
      if (q.offset === 0) fitTo(page.features);
      window.chiikiLastRun = { id: q.analysis.id, matched: q.matched, query: askedQuery(q).toString() };
    } catch (e) {
      side.replaceChildren(questionPanel());
      document.getElementById('question-error').textContent = `${t('error')}: ${e.message}`;
    }
  }

  /** Moves the map to the features of the answer's first page. */
  function fitTo(features) {
    let box = null;
    const visit = (c) => {
      if (typeof c[0] === 'number') {
        box = box ? [Math.min(box[0], c[0]), Math.min(box[1], c[1]), Math.max(box[2], c[0]), Math.max(box[3], c[1])] : [c[0], c[1], c[0], c[1]];
      } else c.forEach(visit);
    };
    for (const f of features) if (f.geometry) visit(f.geometry.coordinates);
    if (box) map.fitBounds([[box[0], box[1]], [box[2], box[3]]], { padding: 40, maxZoom: 15, duration: 0 });
  }

  function columnsOf(features) {
    const cols = [];
    for (const f of features) for (const k of Object.keys(f.properties)) if (!cols.includes(k)) cols.push(k);
    return cols;
  }

  function featureTable(features, columns) {
    if (!features.length) return el('p', {}, t('none'));
    return el('div', { class: 'table-wrap' }, el('table', { class: 'features' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'id'), columns.map((c) => el('th', { scope: 'col' }, c)))),
      el('tbody', {}, features.map((f) => el('tr', { 'data-fid': f.id },
        el('td', {}, f.id), columns.map((c) => el('td', {}, f.properties[c] == null ? '' : String(f.properties[c]))))))));
  }

  /** Every feature of the answer, page by page (as large as the service allows). */
  async function allFeatures(purpose) {
    const q = question;
    const out = [];
    const limit = (session && session.maxLimit) || 10000;
    for (let offset = 0; ; offset += limit) {
      const query = askedQuery(q);
      query.set('limit', limit); query.set('offset', offset); query.set('purpose', purpose);
      const page = await api(`collections/${q.analysis.id}/items?${query}`);
      out.push(...page.features);
      if (page.features.length < limit || out.length >= page.numberMatched) return out;
    }
  }

  async function download(format) {
    const q = question;
    const limit = (session && session.maxLimit) || 10000;
    let blob;
    if (format === 'geojson') {
      const features = await allFeatures('download');
      blob = new Blob([JSON.stringify({ type: 'FeatureCollection', features })], { type: 'application/geo+json' });
    } else {
      // The Excel-friendly CSV (UTF-8 with a BOM): one header, every page's rows.
      let text = '';
      for (let offset = 0; ; offset += limit) {
        const query = askedQuery(q);
        query.set('f', 'csv'); query.set('limit', limit); query.set('offset', offset); query.set('purpose', 'download');
        let part = (await api(`collections/${q.analysis.id}/items?${query}`, { text: true, accept: 'text/csv' })).replace(/^\uFEFF/, '');
        const lines = part.split(/\r?\n/).filter((l) => l.length);
        if (offset > 0) { lines.shift(); }
        text += (text ? '\r\n' : '') + lines.join('\r\n');
        if (lines.length - (offset === 0 ? 1 : 0) < limit) break;
      }
      blob = new Blob(['\uFEFF' + text + '\r\n'], { type: 'text/csv;charset=utf-8' });
    }
    const a = el('a', { href: URL.createObjectURL(blob), download: `${q.analysis.id}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
  }

  // ---------------------------------------------------------------- print
  /** The answer on paper: the map, then the whole list, with title, date,
   *  data generation and the role that printed it. Reading the list for
   *  print is a read like any other (audited, with purpose=print). */
  async function printView() {
    const q = question;
    const features = await allFeatures('print');
    const columns = columnsOf(features);
    const image = map.getCanvas().toDataURL('image/png');
    const visits = features.length && features[0].properties.round != null && features[0].properties.stop != null;
    const roundPages = visits ? await visitPages(features, q.analysis) : [];
    const params = Object.entries(q.values).map(([k, v]) => `${k} = ${v}`).join(', ') || '—';
    const now = new Date();
    const sheet = el('div', { id: 'print-view', class: 'print-view' },
      el('div', { class: 'print-controls no-print' },
        el('button', { type: 'button', id: 'print-close', on: { click: () => sheet.remove() } }, t('close')),
        el('button', { type: 'button', id: 'print-now', on: { click: () => window.print() } }, t('print'))),
      el('section', { class: 'print-page' },
        el('h1', {}, q.analysis.title),
        el('dl', { class: 'print-meta' },
          el('dt', {}, t('params')), el('dd', {}, params),
          el('dt', {}, t('asOf')), el('dd', {}, q.asOf || now.toISOString().slice(0, 10)),
          el('dt', {}, t('count')), el('dd', { id: 'print-count' }, `${features.length.toLocaleString()} ${t('features')}`),
          el('dt', {}, t('generation')), el('dd', { id: 'print-generation' }, generation),
          el('dt', {}, t('printedBy')), el('dd', { id: 'print-role' }, session.anonymous ? t('public') : `${session.role} (${session.name || session.token})`),
          el('dt', {}, t('printedAt')), el('dd', {}, now.toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-GB'))),
        el('img', { class: 'print-map', src: image, alt: q.analysis.title })),
      visits ? roundPages : el('section', { class: 'print-list' }, el('h2', {}, t('list')), featureTable(features, columns)));
    document.body.append(sheet);
    document.getElementById('print-now').focus();
    window.chiikiPrinted = { rows: features.length, rounds: roundPages.length };
  }

  /** Visit rounds on paper: one page per round, with a map of its homes
   *  numbered in visiting order over the streets it walks, and the list of
   *  whom to visit at each stop. */
  async function visitPages(features, analysis) {
    const rounds = new Map();
    for (const f of features) {
      const r = f.properties.round;
      if (!rounds.has(r)) rounds.set(r, []);
      rounds.get(r).push(f);
    }
    const lines = await streets(features, analysis.network || 'roads');
    return [...rounds.entries()].map(([r, people]) => {
      const p0 = people[0].properties;
      const walk = `${Math.round(p0.round_walk_m).toLocaleString()} m`;
      const name = (p) => p.name || '';
      const address = (p) => [p.address, p.address_extra].filter(Boolean).join(' ');
      const age = (p) => p.age_band || p.age || '';
      return el('section', { class: 'print-page round-page', 'data-round': r },
        el('h2', {}, `${t('round')} ${r} / ${rounds.size}`),
        el('p', { class: 'round-meta' },
          [p0.mesh_code ? `${t('cell')} ${p0.mesh_code}` : null, `${t('homes')} ${p0.round_homes}`, `${t('walk')} ${walk}`]
            .filter(Boolean).join(' · ')),
        roundMap(people, lines),
        el('p', { class: 'note' }, t('visitOrder')),
        el('table', { class: 'features round-list' },
          el('thead', {}, el('tr', {},
            [t('stop'), t('nameCol'), t('addressCol'), t('ageCol'), t('fromPrevious')].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, people.map((f) => {
            const p = f.properties;
            return el('tr', { 'data-fid': f.id },
              el('td', {}, p.stop), el('td', {}, name(p)), el('td', {}, address(p)), el('td', {}, age(p)),
              el('td', {}, p.walk_from_previous_m == null ? '—' : `${Math.round(p.walk_from_previous_m)} m`));
          }))));
    });
  }

  /** The street lines around the features, for the round maps (none when
   *  the role may not read the network layer). */
  async function streets(features, network) {
    let box = [Infinity, Infinity, -Infinity, -Infinity];
    for (const f of features) {
      const [x, y] = f.geometry.coordinates;
      box = [Math.min(box[0], x), Math.min(box[1], y), Math.max(box[2], x), Math.max(box[3], y)];
    }
    const m = 0.004;
    const bbox = [box[0] - m, box[1] - m, box[2] + m, box[3] + m].map((v) => v.toFixed(6)).join(',');
    const limit = (session && session.maxLimit) || 10000;
    const out = [];
    try {
      for (let offset = 0; ; offset += limit) {
        const page = await api(`collections/${network}/items?bbox=${bbox}&limit=${limit}&offset=${offset}`);
        for (const f of page.features) {
          const g = f.geometry;
          if (!g) continue;
          if (g.type === 'LineString') out.push(g.coordinates);
          else if (g.type === 'MultiLineString') out.push(...g.coordinates);
        }
        if (page.features.length < limit) break;
      }
    } catch (_) { /* not readable: the map shows the homes only */ }
    return out;
  }

  /** A round's homes numbered in visiting order, over the streets. */
  function roundMap(people, lines) {
    const stops = [];
    for (const f of people) {
      if (!stops.length || stops[stops.length - 1].stop !== f.properties.stop) {
        stops.push({ stop: f.properties.stop, at: f.geometry.coordinates });
      }
    }
    const xs = stops.map((s) => s.at[0]); const ys = stops.map((s) => s.at[1]);
    const lat = (Math.min(...ys) + Math.max(...ys)) / 2;
    const kx = Math.cos(lat * Math.PI / 180);
    // At least 300 m across, with a margin of 60 m.
    const pad = 60 / 111320;
    let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const span = Math.max((x1 - x0) * kx, y1 - y0, 300 / 111320);
    const cx = (x0 + x1) / 2; const cy = (y0 + y1) / 2;
    x0 = cx - (span / 2 + pad) / kx; x1 = cx + (span / 2 + pad) / kx;
    y0 = cy - (span / 2 + pad); y1 = cy + (span / 2 + pad);
    const W = 600; const H = 600;
    const px = ([x, y]) => [((x - x0) / (x1 - x0)) * W, ((y1 - y) / (y1 - y0)) * H];
    const inside = (line) => line.some(([x, y]) => x >= x0 && x <= x1 && y >= y0 && y <= y1);
    const path = (coords) => coords.map((c, i) => `${i ? 'L' : 'M'}${px(c).map((v) => v.toFixed(1)).join(' ')}`).join('');
    return svg('svg', { class: 'round-map', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${t('round')} ${people[0].properties.round}` },
      svg('rect', { x: 0, y: 0, width: W, height: H, fill: '#fff' }),
      lines.filter(inside).map((l) => svg('path', { d: path(l), fill: 'none', stroke: '#bbb', 'stroke-width': 3, 'stroke-linecap': 'round' })),
      stops.length > 1 ? svg('path', { d: path(stops.map((s) => s.at)), fill: 'none', stroke: '#c0392b', 'stroke-width': 2, 'stroke-dasharray': '6 4' }) : null,
      stops.map((s) => {
        const [x, y] = px(s.at);
        return svg('g', { class: 'stop' },
          svg('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: 11, fill: '#c0392b', stroke: '#fff', 'stroke-width': 2 }),
          svg('text', { x: x.toFixed(1), y: (y + 4).toFixed(1), 'text-anchor': 'middle', 'font-size': 12, fill: '#fff', 'font-weight': 'bold' }, s.stop));
      }),
      // A 100 m scale bar.
      svg('path', { d: `M20 ${H - 20}h${(100 / 111320 / (x1 - x0) * W / kx).toFixed(1)}`, stroke: '#333', 'stroke-width': 3 }),
      svg('text', { x: 20, y: H - 28, 'font-size': 12, fill: '#333' }, '100 m'));
  }

  // ---------------------------------------------------------------- start
  if (token) signIn(token); else render();
})();
