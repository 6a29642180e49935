// The small map of the OGC HTML pages: draws the page's features (the
// GeoJSON in <script type="application/json" id="features">, in CRS84)
// with MapLibre and no base map, fitted to them. A click on a feature
// opens its page; hovering a table row highlights its feature.
(function () {
  'use strict';
  var el = document.getElementById('map');
  var data = document.getElementById('features');
  if (!el || !data || typeof maplibregl === 'undefined') return;
  var fc;
  try {
    fc = JSON.parse(data.textContent);
  } catch (e) {
    el.setAttribute('data-state', 'error');
    return;
  }
  var bounds = null;
  function extend(c) {
    if (typeof c[0] === 'number') {
      if (!bounds) bounds = [c[0], c[1], c[0], c[1]];
      bounds[0] = Math.min(bounds[0], c[0]);
      bounds[1] = Math.min(bounds[1], c[1]);
      bounds[2] = Math.max(bounds[2], c[0]);
      bounds[3] = Math.max(bounds[3], c[1]);
    } else {
      for (var i = 0; i < c.length; i++) extend(c[i]);
    }
  }
  (fc.features || []).forEach(function (f) {
    if (f.geometry && f.geometry.coordinates) extend(f.geometry.coordinates);
  });
  var map = new maplibregl.Map({
    container: el,
    style: {
      version: 8,
      sources: { features: { type: 'geojson', data: fc } },
      layers: [
        { id: 'background', type: 'background', paint: { 'background-color': '#f3f4f1' } },
        {
          id: 'fill', type: 'fill', source: 'features',
          filter: ['==', ['geometry-type'], 'Polygon'],
          paint: { 'fill-color': '#2f6fb0', 'fill-opacity': 0.35 },
        },
        {
          id: 'line', type: 'line', source: 'features',
          filter: ['!=', ['geometry-type'], 'Point'],
          paint: { 'line-color': '#1d4f80', 'line-width': 1.2 },
        },
        {
          id: 'point', type: 'circle', source: 'features',
          filter: ['==', ['geometry-type'], 'Point'],
          paint: {
            'circle-radius': 5, 'circle-color': '#d2562c',
            'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1,
          },
        },
        {
          id: 'highlight', type: 'circle', source: 'features',
          filter: ['all', ['==', ['geometry-type'], 'Point'], ['==', ['id'], -1]],
          paint: { 'circle-radius': 9, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#111', 'circle-stroke-width': 2 },
        },
      ],
    },
    bounds: bounds ? [[bounds[0], bounds[1]], [bounds[2], bounds[3]]] : [[139.72, 35.70], [139.78, 35.73]],
    fitBoundsOptions: { padding: 30, maxZoom: 17 },
    attributionControl: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.on('idle', function () {
    el.setAttribute('data-state', 'idle');
  });
  map.on('error', function (e) {
    el.setAttribute('data-error', String((e && e.error && e.error.message) || e));
  });
  // A feature's page: items/<id> from the items page, itself from an item's.
  var onItems = /\/items$/.test(window.location.pathname);
  ['fill', 'point'].forEach(function (layer) {
    map.on('click', layer, function (e) {
      var f = e.features && e.features[0];
      if (!f || f.id === undefined || !onItems) return;
      window.location.href = 'items/' + encodeURIComponent(f.id) + '?f=html';
    });
    map.on('mouseenter', layer, function () { map.getCanvas().style.cursor = onItems ? 'pointer' : ''; });
    map.on('mouseleave', layer, function () { map.getCanvas().style.cursor = ''; });
  });
  document.querySelectorAll('tr[data-id]').forEach(function (row) {
    row.addEventListener('mouseenter', function () {
      var id = Number(row.getAttribute('data-id'));
      if (map.getLayer('highlight')) {
        map.setFilter('highlight', ['all', ['==', ['geometry-type'], 'Point'], ['==', ['id'], id]]);
      }
    });
  });
})();
