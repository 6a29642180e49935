//! Walking distances on the demo city: the network built from `roads`, the
//! nearest shelter by walking for every resident against an independent
//! brute force (one Dijkstra per shelter), and the saved analyses
//! `elderly_beyond_shelters_300m_walking`, `shelter_catchments_walking` and
//! `shelters_over_capacity_walking` as the server answers them.

mod common;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use chiiki_core::layers::column::{date_from_days, Value};
use chiiki_core::layers::{Geometries, Layer};
use chiiki_network::{nearest_facilities, Network, Snap, TOLERANCE_M};
use chiiki_store::{GeoParquetStore, LayerStore};
use chrono::{Datelike, NaiveDate};
use common::postgres::Cluster;
use common::server;
use serde_json::Value as Json;

/// Every feature of `collection` as the admin reads it.
fn all_features(collection: &str, query: &str) -> Vec<Json> {
    common::all_features(collection, Some("admin"), query)
}

/// Every feature of `collection` as `role` reads it.
fn all_features_as(role: &str, collection: &str, query: &str) -> Vec<Json> {
    common::all_features(collection, Some(role), query)
}

/// The demo's layers, as stored.
fn layers() -> &'static HashMap<String, Arc<Layer>> {
    static L: std::sync::OnceLock<HashMap<String, Arc<Layer>>> = std::sync::OnceLock::new();
    L.get_or_init(|| {
        GeoParquetStore::new(&server().data)
            .load_all()
            .unwrap()
            .into_iter()
            .filter(|l| ["roads", "residents", "shelters_evacuation"].contains(&l.meta.id.as_str()))
            .map(|l| (l.meta.id.clone(), Arc::new(l)))
            .collect()
    })
}

fn points(layer: &Layer) -> &[[f64; 2]] {
    match &layer.geometries {
        Geometries::Points(p) => p,
        Geometries::Shapes(_) => panic!("{} is not points", layer.meta.id),
    }
}

/// Walking distance from a facility to every node of the network, by a
/// textbook Dijkstra over the network's edges (no petgraph, no virtual
/// source).
fn from_facility(net: &Network, adj: &[Vec<(usize, f64)>], f: &Snap) -> Vec<f64> {
    let mut d = vec![f64::INFINITY; adj.len()];
    let mut heap = BinaryHeap::new();
    let (a, b) = net.ends(f.edge);
    let len = net.edges[f.edge as usize].metres;
    for (v, w) in [
        (a.index(), f.distance + f.offset),
        (b.index(), f.distance + len - f.offset),
    ] {
        if w < d[v] {
            d[v] = w;
            heap.push(Reverse((w.to_bits(), v)));
        }
    }
    while let Some(Reverse((w, v))) = heap.pop() {
        let w = f64::from_bits(w);
        if w > d[v] {
            continue;
        }
        for &(u, l) in &adj[v] {
            if w + l < d[u] {
                d[u] = w + l;
                heap.push(Reverse(((w + l).to_bits(), u)));
            }
        }
    }
    d
}

/// From a snapped point to a facility whose node distances are `d`.
fn walk(net: &Network, d: &[f64], f: &Snap, p: &Snap) -> f64 {
    let (a, b) = net.ends(p.edge);
    let len = net.edges[p.edge as usize].metres;
    let mut x = p.distance + (d[a.index()] + p.offset).min(d[b.index()] + len - p.offset);
    if p.edge == f.edge {
        x = x.min(p.distance + (p.offset - f.offset).abs() + f.distance);
    }
    x
}

/// Per facility, the walking distance to every node (`None` for a facility
/// that did not snap).
fn per_facility(net: &Network, facilities: &[Option<Snap>]) -> Vec<Option<Vec<f64>>> {
    let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); net.node_count()];
    for (e, edge) in net.edges.iter().enumerate() {
        let (a, b) = net.ends(e as u32);
        adj[a.index()].push((b.index(), edge.metres));
        adj[b.index()].push((a.index(), edge.metres));
    }
    facilities
        .iter()
        .map(|f| f.as_ref().map(|f| from_facility(net, &adj, f)))
        .collect()
}

/// Walking distance from every point to its nearest facility: the minimum
/// over one Dijkstra per facility.
fn brute_force(net: &Network, facilities: &[Option<Snap>], points: &[Option<Snap>]) -> Vec<f64> {
    let dists = per_facility(net, facilities);
    points
        .iter()
        .map(|p| {
            let Some(p) = p else { return f64::INFINITY };
            facilities
                .iter()
                .zip(&dists)
                .filter_map(|(f, d)| Some(walk(net, d.as_ref()?, f.as_ref()?, p)))
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

#[test]
fn walking_to_the_nearest_shelter_on_the_demo() {
    let l = layers();
    let (roads, residents, shelters) = (&l["roads"], &l["residents"], &l["shelters_evacuation"]);
    let started = std::time::Instant::now();
    let net = Network::from_layer(roads, TOLERANCE_M);
    let c = net.components();
    eprintln!(
        "roads: {} lines → {} nodes, {} edges, {:.1} km, {} components (largest {:.1}% of the length), built in {:?}",
        roads.len(),
        net.node_count(),
        net.edge_count(),
        net.metres() / 1000.0,
        c.count,
        100.0 * c.largest_share,
        started.elapsed()
    );
    assert!(net.edge_count() >= roads.len() && c.largest_share > 0.9);
    let (people, sites) = (points(residents), points(shelters));
    let started = std::time::Instant::now();
    let got = nearest_facilities(&net, sites, people);
    eprintln!(
        "{} residents assigned in {:?}",
        people.len(),
        started.elapsed()
    );

    // Against one Dijkstra per shelter.
    let (fs, ps) = (net.snap_all(sites), net.snap_all(people));
    let brute = brute_force(&net, &fs, &ps);
    let dists = per_facility(&net, &fs);
    let mut unreachable = 0;
    for (i, (g, b)) in got.iter().zip(&brute).enumerate() {
        match g {
            None => {
                assert!(b.is_infinite(), "resident row {i}: none, brute force {b}");
                unreachable += 1;
            }
            Some(a) => {
                assert!(
                    (a.metres - b).abs() < 1e-6,
                    "resident row {i}: {a:?}, brute force {b}"
                );
                // The facility named is at that distance.
                let f = a.facility as usize;
                let one = walk(
                    &net,
                    dists[f].as_ref().unwrap(),
                    fs[f].as_ref().unwrap(),
                    ps[i].as_ref().unwrap(),
                );
                assert!((one - a.metres).abs() < 1e-6, "row {i}: {a:?} but {one}");
            }
        }
    }
    eprintln!("{unreachable} residents reach no shelter");

    // Never shorter than the straight line (on the same plane), up to the
    // vertices moved by merging.
    let sites_m: Vec<[f64; 2]> = sites.iter().map(|&s| net.plane.project(s)).collect();
    let mut longer = Vec::with_capacity(people.len());
    for (p, g) in people.iter().zip(&got) {
        let q = net.plane.project(*p);
        let straight = sites_m
            .iter()
            .map(|s| (s[0] - q[0]).hypot(s[1] - q[1]))
            .fold(f64::INFINITY, f64::min);
        let walk = g.map_or(f64::INFINITY, |a| a.metres);
        assert!(
            walk >= straight - TOLERANCE_M,
            "{p:?}: walking {walk}, straight {straight}"
        );
        if walk.is_finite() {
            longer.push(walk / straight.max(1.0));
        }
    }
    longer.sort_by(f64::total_cmp);
    eprintln!(
        "walking / straight line: median {:.2}, 90th percentile {:.2}",
        longer[longer.len() / 2],
        longer[longer.len() * 9 / 10]
    );
}

/// Age on `on` from a birth date.
fn age(birth: NaiveDate, on: NaiveDate) -> i32 {
    on.year() - birth.year() - ((on.month(), on.day()) < (birth.month(), birth.day())) as i32
}

#[test]
fn elderly_beyond_shelters_300m_walking_is_the_brute_force() {
    let l = layers();
    let (roads, residents, shelters) = (&l["roads"], &l["residents"], &l["shelters_evacuation"]);
    let net = Network::from_layer(roads, TOLERANCE_M);
    let today = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive();
    let (_, birth) = residents.column("birth_date").unwrap();
    let elderly: Vec<usize> = (0..residents.len())
        .filter(|&i| match birth.get(i) {
            Value::Date(d) => age(date_from_days(d), today) >= 65,
            _ => false,
        })
        .collect();
    let people: Vec<[f64; 2]> = elderly.iter().map(|&i| points(residents)[i]).collect();
    let brute = brute_force(
        &net,
        &net.snap_all(points(shelters)),
        &net.snap_all(&people),
    );

    let features = all_features("elderly_beyond_shelters_300m_walking", "");
    let served: HashMap<i64, Option<f64>> = features
        .iter()
        .map(|f| {
            (
                f["id"].as_i64().unwrap(),
                f["properties"]["walking_distance"].as_f64(),
            )
        })
        .collect();
    let (mut checked, mut beyond, mut close) = (0, 0, 0);
    for (k, &row) in elderly.iter().enumerate() {
        let (id, d) = (residents.fids[row], brute[k]);
        // Distances are served to the decimetre.
        if (d - 300.0).abs() < 0.1 {
            close += 1;
            continue;
        }
        checked += 1;
        beyond += (d > 300.0) as usize;
        assert_eq!(
            served.contains_key(&id),
            d > 300.0,
            "resident {id} at {d:.2} m walking"
        );
        if let Some(w) = served.get(&id) {
            match w {
                Some(w) => assert!(
                    (w - d).abs() <= 0.051,
                    "resident {id}: served {w}, brute force {d}"
                ),
                None => assert!(d.is_infinite(), "resident {id}: null, brute force {d}"),
            }
        }
    }
    assert!(
        checked > 40_000 && beyond > 1_000,
        "{checked} checked, {beyond} beyond"
    );
    assert!(
        (beyond..=beyond + close).contains(&served.len()),
        "the answer holds only the 65+ beyond 300 m: {} served, {beyond} beyond, {close} at 300 m",
        served.len()
    );

    // Straight line against walking: beyond 300 m as the crow flies is
    // beyond 300 m on foot, up to the snapping tolerance.
    let straight: HashSet<i64> = all_features("elderly_beyond_shelters_300m", "")
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    let walking: HashSet<i64> = served.keys().copied().collect();
    let by_id: HashMap<i64, f64> = elderly
        .iter()
        .zip(&brute)
        .map(|(&row, &d)| (residents.fids[row], d))
        .collect();
    for id in straight.difference(&walking) {
        let d = by_id[id];
        assert!(
            d >= 300.0 - TOLERANCE_M,
            "resident {id}: beyond 300 m straight, {d:.2} m walking"
        );
    }
    eprintln!(
        "65+: {} residents; beyond 300 m straight {}, walking {}; {} change class (beyond only on foot: {}, only straight: {})",
        elderly.len(),
        straight.len(),
        walking.len(),
        walking.symmetric_difference(&straight).count(),
        walking.difference(&straight).count(),
        straight.difference(&walking).count()
    );

    // The distance parameter moves the walking limit.
    let far: HashSet<i64> = all_features(
        "elderly_beyond_shelters_300m_walking",
        "&param.distance=600",
    )
    .iter()
    .map(|f| f["id"].as_i64().unwrap())
    .collect();
    assert!(far.is_subset(&walking));
    for (&row, &d) in elderly.iter().zip(&brute) {
        let id = residents.fids[row];
        if (d - 600.0).abs() >= 0.1 {
            assert_eq!(
                far.contains(&id),
                d > 600.0,
                "resident {id} at {d:.2} m walking"
            );
        }
    }
    eprintln!("65+ beyond 600 m walking: {}", far.len());
}

/// Per shelter (by row): the residents whose nearest shelter by walking it
/// is, by the brute force; ties go to the shelter the one-pass search names
/// (checked to be one of the nearest).
#[test]
fn shelter_catchments_walking_is_the_brute_force() {
    let l = layers();
    let (roads, residents, shelters) = (&l["roads"], &l["residents"], &l["shelters_evacuation"]);
    let net = Network::from_layer(roads, TOLERANCE_M);
    let (people, sites) = (points(residents), points(shelters));
    let (fs, ps) = (net.snap_all(sites), net.snap_all(people));
    let dists = per_facility(&net, &fs);
    let fast = nearest_facilities(&net, sites, people);
    let today = (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive();
    let (_, birth) = residents.column("birth_date").unwrap();
    let (_, support) = residents.column("needs_support").unwrap();
    // Per shelter row: residents, 65+, 要支援者.
    let mut exact = vec![[0i64; 3]; sites.len()];
    let (mut reachable, mut ties) = (0i64, 0);
    for (i, p) in ps.iter().enumerate() {
        let walks: Vec<f64> = fs
            .iter()
            .zip(&dists)
            .map(|(f, d)| match (p, f, d) {
                (Some(p), Some(f), Some(d)) => walk(&net, d, f, p),
                _ => f64::INFINITY,
            })
            .collect();
        let best = walks.iter().copied().fold(f64::INFINITY, f64::min);
        if best.is_infinite() {
            assert!(fast[i].is_none(), "resident row {i} reaches none");
            continue;
        }
        let a = fast[i].unwrap_or_else(|| panic!("resident row {i}: none, brute force {best}"));
        let f = a.facility as usize;
        assert!(
            (walks[f] - best).abs() < 1e-6,
            "resident row {i}: shelter {f} at {}, nearest {best}",
            walks[f]
        );
        ties += (walks.iter().filter(|&&w| (w - best).abs() < 1e-6).count() > 1) as usize;
        reachable += 1;
        exact[f][0] += 1;
        if matches!(birth.get(i), Value::Date(d) if age(date_from_days(d), today) >= 65) {
            exact[f][1] += 1;
        }
        if support.get(i) == Value::Boolean(true) {
            exact[f][2] += 1;
        }
    }
    let row_of: HashMap<i64, usize> = shelters
        .fids
        .iter()
        .enumerate()
        .map(|(r, &f)| (f, r))
        .collect();
    let (_, capacity) = shelters.column("capacity").unwrap();
    let capacity = |r: usize| match capacity.get(r) {
        Value::Integer(c) => c,
        v => panic!("capacity {v:?}"),
    };
    let measures = ["residents", "aged_65", "needs_support"];

    // The admin reads the exact catchments, one per shelter.
    let served = all_features("shelter_catchments_walking", "");
    assert_eq!(served.len(), sites.len());
    let mut total = 0;
    for f in &served {
        let id = f["id"].as_i64().unwrap();
        let p = &f["properties"];
        assert_eq!(p["facility_id"].as_i64(), Some(id));
        let r = row_of[&id];
        assert_eq!(p["capacity"].as_i64(), Some(capacity(r)));
        assert!(p["施設・場所名"].is_string());
        assert_eq!(f["geometry"]["type"], "Point");
        for (m, name) in measures.iter().enumerate() {
            assert_eq!(p[name].as_i64(), Some(exact[r][m]), "shelter {id}: {name}");
        }
        total += p["residents"].as_i64().unwrap();
    }
    assert_eq!(total, reachable);
    assert!(reachable as usize > people.len() * 9 / 10);

    // Over capacity: exactly the shelters whose catchment exceeds it.
    let over: HashSet<i64> = all_features("shelters_over_capacity_walking", "")
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    let expected: HashSet<i64> = (0..sites.len())
        .filter(|&r| exact[r][0] > capacity(r))
        .map(|r| shelters.fids[r])
        .collect();
    assert_eq!(over, expected);
    assert!(!over.is_empty() && over.len() < sites.len());
    eprintln!(
        "{} shelters, {} residents reach one ({} not, {ties} at a tie), largest catchment {}, {} over capacity",
        sites.len(),
        reachable,
        people.len() as i64 - reachable,
        exact.iter().map(|e| e[0]).max().unwrap(),
        over.len()
    );

    // An analyst reads perturbed counts: never 1 or 2, some not the exact.
    let perturbed = all_features_as("analyst", "shelter_catchments_walking", "");
    assert_eq!(perturbed.len(), sites.len());
    let (mut differ, mut small) = (0, 0);
    for f in &perturbed {
        let r = row_of[&f["id"].as_i64().unwrap()];
        for (m, name) in measures.iter().enumerate() {
            let v = &f["properties"][name];
            if let Some(v) = v.as_i64() {
                assert!(v != 1 && v != 2, "{name} = {v} published to an analyst");
                differ += (v != exact[r][m]) as usize;
            }
            small += (exact[r][m] == 1 || exact[r][m] == 2) as usize;
        }
    }
    assert!(differ > 0, "no perturbed value differs from the exact");
    eprintln!(
        "analyst: {differ} of {} values differ from the exact ({small} exact values are 1 or 2)",
        3 * sites.len()
    );
    // The over-capacity question, for an analyst, selects on those values.
    let over_perturbed = all_features_as("analyst", "shelters_over_capacity_walking", "");
    for f in &over_perturbed {
        let p = &f["properties"];
        assert!(p["residents"].as_i64().unwrap() > p["capacity"].as_i64().unwrap());
    }

    // Health staff and analysts read the catchments, never the residents.
    let s = server();
    for role in ["health", "analyst"] {
        let get = |path: &str| {
            common::client()
                .get(s.url(path))
                .bearer_auth(s.token(role))
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(
            get("/collections/shelter_catchments_walking/items?limit=1"),
            200,
            "{role}"
        );
        assert_eq!(get("/collections/residents/items?limit=1"), 404, "{role}");
    }
}

/// pgRouting as a peer: the network's edges loaded into PostgreSQL, and
/// `pgr_dijkstra` between the ends of the edges of 1,000 random resident–
/// shelter pairs gives the same walking distances as chiiki.
#[test]
fn pgrouting_agrees_on_random_resident_shelter_pairs() {
    let cluster = match Cluster::start() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED: PostgreSQL with pgRouting cannot start here: {why}");
            return;
        }
    };
    let l = layers();
    let (roads, residents, shelters) = (&l["roads"], &l["residents"], &l["shelters_evacuation"]);
    let net = Network::from_layer(roads, TOLERANCE_M);
    let (fs, ps) = (
        net.snap_all(points(shelters)),
        net.snap_all(points(residents)),
    );

    // 1,000 pairs from a fixed seed (a 64-bit LCG: no dependency needed).
    let mut state = 0x2026_1207_u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n
    };
    let pairs: Vec<(usize, usize)> = (0..1000)
        .map(|_| (next(residents.len()), next(shelters.len())))
        .collect();

    // chiiki: per shelter, its residents with the library's pass.
    let mut ours = vec![f64::INFINITY; pairs.len()];
    let mut by_shelter: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, &(_, s)) in pairs.iter().enumerate() {
        by_shelter.entry(s).or_default().push(k);
    }
    for (s, ks) in &by_shelter {
        let pts: Vec<Option<Snap>> = ks.iter().map(|&k| ps[pairs[k].0]).collect();
        let got = chiiki_network::nearest::nearest_snapped(&net, &[fs[*s]], &pts);
        for (&k, g) in ks.iter().zip(got) {
            ours[k] = g.map_or(f64::INFINITY, |a| a.metres);
        }
    }

    // pgRouting: the same edges, the ends of each pair's edges.
    let mut sql = String::from(
        "CREATE EXTENSION pgrouting CASCADE;\n\
         CREATE TABLE edges (id bigint, source bigint, target bigint, cost float8, reverse_cost float8);\n\
         CREATE TABLE combos (source bigint, target bigint);\n\
         COPY edges FROM stdin WITH (FORMAT csv);\n",
    );
    for (e, edge) in net.edges.iter().enumerate() {
        let (a, b) = net.ends(e as u32);
        sql += &format!(
            "{},{},{},{:?},{:?}\n",
            e + 1,
            a.index() + 1,
            b.index() + 1,
            edge.metres,
            edge.metres
        );
    }
    sql += "\\.\nCOPY combos FROM stdin WITH (FORMAT csv);\n";
    let ends = |s: &Snap| {
        let (a, b) = net.ends(s.edge);
        let len = net.edges[s.edge as usize].metres;
        [(a.index() + 1, s.offset), (b.index() + 1, len - s.offset)]
    };
    let mut combos = HashSet::new();
    for &(p, s) in &pairs {
        if let (Some(p), Some(s)) = (&ps[p], &fs[s]) {
            for (u, _) in ends(p) {
                for (v, _) in ends(s) {
                    if u != v && combos.insert((u, v)) {
                        sql += &format!("{u},{v}\n");
                    }
                }
            }
        }
    }
    sql += "\\.\n\
        SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstra(\n\
          'SELECT id, source, target, cost, reverse_cost FROM edges',\n\
          'SELECT source, target FROM combos', directed => false)\n\
        WHERE edge = -1;\n";
    let started = std::time::Instant::now();
    let rows = cluster.psql(&sql);
    let between: HashMap<(usize, usize), f64> = rows
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                (f[0].parse().unwrap(), f[1].parse().unwrap()),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    eprintln!(
        "pgRouting: {} edges loaded, {} node pairs routed in {:?}",
        net.edge_count(),
        combos.len(),
        started.elapsed()
    );
    let (mut compared, mut unreachable, mut worst) = (0, 0, 0.0f64);
    for (k, &(p, s)) in pairs.iter().enumerate() {
        let (Some(p), Some(s)) = (&ps[p], &fs[s]) else {
            continue;
        };
        let mut theirs = f64::INFINITY;
        for (u, pu) in ends(p) {
            for (v, sv) in ends(s) {
                let d = if u == v {
                    Some(0.0)
                } else {
                    between.get(&(u, v)).copied()
                };
                if let Some(d) = d {
                    theirs = theirs.min(p.distance + pu + d + sv + s.distance);
                }
            }
        }
        if p.edge == s.edge {
            theirs = theirs.min(p.distance + (p.offset - s.offset).abs() + s.distance);
        }
        compared += 1;
        if theirs.is_infinite() || ours[k].is_infinite() {
            assert_eq!(
                theirs.is_infinite(),
                ours[k].is_infinite(),
                "pair {k}: chiiki {}, pgRouting {theirs}",
                ours[k]
            );
            unreachable += 1;
            continue;
        }
        worst = worst.max((theirs - ours[k]).abs());
        assert!(
            (theirs - ours[k]).abs() <= TOLERANCE_M,
            "pair {k}: chiiki {}, pgRouting {theirs}",
            ours[k]
        );
    }
    assert!(compared >= 990, "{compared} pairs compared");
    eprintln!(
        "pgRouting against chiiki: {compared} resident–shelter pairs, {unreachable} unreachable in both, largest difference {worst:.2e} m"
    );
}
