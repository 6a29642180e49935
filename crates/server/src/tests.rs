//! The router as a whole, in process: authentication before the rate
//! limit, the cap on blocking work, compression, validators, probes and
//! the access log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use tower::ServiceExt;

use super::*;
use crate::settings::{LimitsConfig, ServerConfig, ServiceConfig};
use chiiki_core::layers::{Column, FieldType, Geometries, LayerMeta, LayerParts, Value};
use chiiki_policy::settings::TokenConfig;

const ADMIN: &str = "admin-4f1c9a0e7b2d4c8e9a1f3b5d7c9e0a2b";

/// An open public layer of `n` points, imported at a known time.
fn shelters(n: usize) -> Layer {
    let mut name = Column::new("name", FieldType::Text);
    for i in 0..n {
        name.push(Value::Text(format!("避難所{i}"))).unwrap();
    }
    Layer::new(LayerParts {
        meta: LayerMeta {
            id: "shelters".into(),
            title: "避難所".into(),
            imported_at: "2026-11-22T03:04:05Z".into(),
            fingerprint: "f1".into(),
            access: chiiki_core::layers::Access {
                public: true,
                roles: vec![],
            },
            ..LayerMeta::default()
        },
        fids: (1..=n as i64).collect(),
        geometries: Geometries::Points((0..n).map(|i| [139.7 + i as f64 * 1e-4, 35.7]).collect()),
        columns: vec![name],
    })
}

/// Counts of people per cell: readable by admin only, never cached.
fn counts() -> Layer {
    let mut n = Column::new("people", FieldType::Integer);
    n.push(Value::Integer(12)).unwrap();
    Layer::new(LayerParts {
        meta: LayerMeta {
            id: "counts".into(),
            imported_at: "2026-11-22T03:04:05Z".into(),
            privacy: chiiki_core::sensitivity::Privacy::Aggregate {
                population: "residents".into(),
            },
            ..LayerMeta::default()
        },
        fids: vec![1],
        geometries: Geometries::Points(vec![[139.7, 35.7]]),
        columns: vec![n],
    })
}

struct Harness {
    state: SharedState,
    router: Router,
    _dir: tempfile::TempDir,
}

fn harness(limits: LimitsConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        data_dir: dir.path().to_path_buf(),
        bind: "127.0.0.1:0".into(),
        server: ServerConfig::default(),
        limits,
        layers: vec![],
        tokens: vec![TokenConfig {
            name: "desk".into(),
            role: "admin".into(),
            token_sha256: None,
            token: Some(ADMIN.into()),
            expires: None,
        }],
        roles: Default::default(),
        analyses: vec![],
        privacy: Default::default(),
        audit: chiiki_policy::settings::AuditConfig {
            fsync: false,
            ..Default::default()
        },
    };
    let store = Arc::new(chiiki_store::GeoParquetStore::new(dir.path()));
    let state = Arc::new(AppState::new(&config, vec![shelters(1500), counts()], store).unwrap());
    let router =
        router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    Harness {
        state,
        router,
        _dir: dir,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl Harness {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (Response, Vec<u8>) {
        let mut request = Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (Response::from_parts(parts, Body::empty()), bytes.to_vec())
    }
}

fn header_of(r: &Response, name: header::HeaderName) -> Option<&str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn basic(user: &str, token: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

#[test]
fn random_tokens_are_refused_before_they_cost_a_rate_window() {
    let h = harness(LimitsConfig {
        requests_per_minute: 5,
        ..LimitsConfig::default()
    });
    runtime().block_on(async {
        for i in 0..10_000u32 {
            let forged = format!("Bearer chiiki_{:048x}", (i as u128) * 0x9e37_79b9_7f4a_7c15);
            let (r, _) = h.get("/collections", &[("authorization", &forged)]).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "token {i}");
        }
        assert_eq!(
            h.state.rate.buckets(),
            0,
            "no window for a token that is not one"
        );

        // A token is one window however it is presented: Bearer or Basic
        // (any user name), and Basic is the same caller.
        let bearer = format!("Bearer {ADMIN}");
        let mut statuses = Vec::new();
        for auth in [
            bearer.clone(),
            basic("any", ADMIN),
            basic("qgis", ADMIN),
            bearer.clone(),
            basic("", ADMIN),
            bearer,
        ] {
            let (r, _) = h
                .get("/collections/counts", &[("authorization", &auth)])
                .await;
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
        let (r, _) = h.get("/collections", &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "anonymous: its own window");
        assert_eq!(h.state.rate.buckets(), 2);
    });
}

#[test]
fn unauthorized_offers_bearer_and_basic() {
    let h = harness(LimitsConfig::default());
    runtime().block_on(async {
        let (r, body) = h
            .get(
                "/collections",
                &[("authorization", &basic("x", "not-a-token"))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<&str> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            challenges,
            [
                "Bearer realm=\"chiiki\"",
                "Basic realm=\"chiiki\", charset=\"UTF-8\""
            ]
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["description"], "unknown token");
        // A caller that sent a bearer token is not asked for a password
        // (a browser would open its own dialog over the web map's).
        let (r, _) = h
            .get("/collections", &[("authorization", "Bearer not-a-token")])
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<&str> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(challenges, ["Bearer realm=\"chiiki\""]);
    });
}

#[test]
fn blocking_work_is_capped() {
    let rt = runtime();
    rt.block_on(async {
        let pool = limits::BlockingPool::new(2, Duration::from_millis(200));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(std::sync::Mutex::new(hold));
        // Two requests whose work outlasts their time-out: answered, but
        // their threads still run and keep their slots.
        for _ in 0..2 {
            let hold = hold.clone();
            let answered = tokio::time::timeout(
                Duration::from_millis(50),
                pool.run(move || {
                    let _ = hold.lock().unwrap().recv();
                    Ok(())
                }),
            )
            .await;
            assert!(answered.is_err(), "timed out");
        }
        assert_eq!(pool.in_use(), 2);
        // Full: the next waits, then is told to come back.
        let started = std::time::Instant::now();
        let err = pool.run(|| Ok(())).await.unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::SERVICE_UNAVAILABLE, "Busy")
        );
        assert!(started.elapsed() >= Duration::from_millis(190));
        release.send(()).unwrap();
        release.send(()).unwrap();
        while pool.in_use() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
    });

    // Through the router: 503 with Retry-After while the slots are taken.
    let h = harness(LimitsConfig {
        max_blocking: 1,
        blocking_wait_seconds: 0.1,
        ..LimitsConfig::default()
    });
    rt.block_on(async {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let pool = h.state.blocking.clone();
        let busy = tokio::spawn(async move {
            pool.run(move || {
                let _ = hold.recv();
                Ok(())
            })
            .await
        });
        while h.state.blocking.in_use() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (r, body) = h.get("/collections/shelters/items", &[]).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header_of(&r, header::RETRY_AFTER), Some("2"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "Busy");
        // The probes do not wait for a slot.
        let (r, _) = h.get("/ready", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        let (r, _) = h.get("/collections/shelters/items", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
    });
}

#[test]
fn large_responses_are_compressed_small_ones_not() {
    let h = harness(LimitsConfig::default());
    runtime().block_on(async {
        let page = "/collections/shelters/items?limit=100";
        for encoding in ["gzip", "br"] {
            let (r, body) = h.get(page, &[("accept-encoding", encoding)]).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(header_of(&r, header::CONTENT_ENCODING), Some(encoding));
            let vary: Vec<&str> = r
                .headers()
                .get_all(header::VARY)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert!(
                vary.iter().any(|v| v.contains("accept-encoding")),
                "{vary:?}"
            );
            assert!(vary.contains(&"Authorization"), "{vary:?}");
            assert!(body.len() < 5000, "{encoding}: {} bytes", body.len());
        }
        // A streamed page (more than 1,000 features) is compressed too.
        let (r, _) = h
            .get(
                "/collections/shelters/items?limit=10000",
                &[("accept-encoding", "gzip")],
            )
            .await;
        assert_eq!(header_of(&r, header::CONTENT_ENCODING), Some("gzip"));
        let (r, body) = h.get(page, &[]).await;
        assert_eq!(header_of(&r, header::CONTENT_ENCODING), None);
        serde_json::from_slice::<serde_json::Value>(&body).unwrap();
        // Under 1 KiB: sent as it is.
        let (r, body) = h.get("/health", &[("accept-encoding", "gzip")]).await;
        assert_eq!(header_of(&r, header::CONTENT_ENCODING), None);
        assert_eq!(body, br#"{"status":"ok"}"#);
    });
}

#[test]
fn open_layers_are_validated_people_are_not() {
    let h = harness(LimitsConfig::default());
    runtime().block_on(async {
        for path in [
            "/collections/shelters/items?limit=3",
            "/collections/shelters/items/2",
            "/collections/shelters",
            "/collections/shelters/queryables",
        ] {
            let (r, body) = h.get(path, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let etag = header_of(&r, header::ETAG).unwrap().to_string();
            assert_eq!(
                header_of(&r, header::LAST_MODIFIED),
                Some("Sun, 22 Nov 2026 03:04:05 GMT"),
                "{path}"
            );
            assert_eq!(header_of(&r, header::CACHE_CONTROL), Some("no-cache"));
            assert!(!body.is_empty());
            let (r, body) = h.get(path, &[("if-none-match", &etag)]).await;
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");
            assert!(body.is_empty());
            assert_eq!(header_of(&r, header::ETAG), Some(etag.as_str()));
            let (r, _) = h.get(path, &[("if-none-match", "\"stale\"")]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        }
        // Another query is another tag.
        let tag = |r: &Response| header_of(r, header::ETAG).unwrap().to_string();
        let (a, _) = h.get("/collections/shelters/items?limit=3", &[]).await;
        let (b, _) = h.get("/collections/shelters/items?limit=4", &[]).await;
        assert_ne!(tag(&a), tag(&b));
        // A compressed copy has its own tag, and revalidates.
        let gz = [("accept-encoding", "gzip")];
        let (r, _) = h.get("/collections/shelters/items?limit=100", &gz).await;
        let gz_tag = tag(&r);
        assert!(gz_tag.ends_with("-gzip\""), "{gz_tag}");
        let (r, _) = h
            .get(
                "/collections/shelters/items?limit=100",
                &[("accept-encoding", "gzip"), ("if-none-match", &gz_tag)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        // Errors get none.
        let (r, _) = h.get("/collections/shelters/items/99999", &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(header_of(&r, header::ETAG).is_none());

        // Counts of people: no validators, no-store, and a tag never 304s.
        let auth = format!("Bearer {ADMIN}");
        for path in ["/collections/counts/items", "/collections/counts"] {
            let (r, _) = h
                .get(
                    path,
                    &[("authorization", &auth), ("if-none-match", &gz_tag)],
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert!(header_of(&r, header::ETAG).is_none(), "{path}");
            assert!(header_of(&r, header::LAST_MODIFIED).is_none(), "{path}");
            assert_eq!(header_of(&r, header::CACHE_CONTROL), Some("no-store"));
        }
    });
}

#[test]
fn csv_pages_and_items() {
    let h = harness(LimitsConfig::default());
    runtime().block_on(async {
        let (r, body) = h
            .get("/collections/shelters/items?f=csv&limit=2", &[])
            .await;
        assert_eq!(
            header_of(&r, header::CONTENT_TYPE),
            Some("text/csv; charset=utf-8")
        );
        assert!(
            body.starts_with("\u{feff}id,name,lon,lat\n".as_bytes()),
            "{body:?}"
        );
        let (_, body) = h
            .get(
                "/collections/shelters/items?f=csv&limit=2&encoding=cp932&geometry=wkt",
                &[],
            )
            .await;
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&body);
        assert!(!bad);
        assert!(
            text.starts_with("id,name,wkt\n1,避難所0,POINT(139.7 35.7)\n"),
            "{text}"
        );
        let (r, body) = h
            .get("/collections/shelters/items/2?f=csv&bom=false", &[])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "id,name,lon,lat\n2,避難所1,139.7001000,35.7000000\n"
        );
        for bad in [
            "/collections/shelters/items?encoding=cp932",
            "/collections/shelters/items?f=csv&encoding=latin1",
            "/collections/shelters/items?f=csv&geometry=wkb",
            "/collections/shelters/items/2?geometry=wkt",
        ] {
            let (r, _) = h.get(bad, &[]).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        // Listed as an alternate of the collection's items and of each page.
        let (_, body) = h.get("/collections/shelters", &[]).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let alternate = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["type"] == "text/csv")
            .unwrap();
        assert_eq!(alternate["rel"], "alternate");
        assert!(alternate["href"]
            .as_str()
            .unwrap()
            .ends_with("/collections/shelters/items?f=csv"));
        let (_, body) = h
            .get("/collections/shelters/items?limit=2&f=json", &[])
            .await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let alternate = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "alternate")
            .unwrap();
        assert_eq!(alternate["type"], "text/csv");
        let href = alternate["href"].as_str().unwrap();
        assert!(href.contains("f=csv") && !href.contains("f=json"), "{href}");
    });
}

#[test]
fn probes() {
    let h = harness(LimitsConfig::default());
    runtime().block_on(async {
        let (r, body) = h.get("/health", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body, br#"{"status":"ok"}"#);

        let ready = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).unwrap();
        let (r, body) = h.get("/ready", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v = ready(&body);
        assert_eq!(v["status"], "ready");
        assert!(v["last_reload_error"].is_null());

        // Not before the saved analyses are computed.
        h.state
            .warming
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (r, body) = h.get("/ready", &[]).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready(&body)["reasons"][0], "computing the saved analyses");
        h.state
            .warming
            .store(false, std::sync::atomic::Ordering::SeqCst);

        // A failed reload keeps the service on its data: still ready.
        let layers = h._dir.path().join("layers");
        std::fs::create_dir_all(&layers).unwrap();
        std::fs::write(layers.join("x.parquet"), b"not parquet").unwrap();
        let why = h.state.reload().unwrap_err();
        let (r, body) = h.get("/ready", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(ready(&body)["last_reload_error"], why.as_str());
        assert!(why.contains("x.parquet"), "{why}");

        // An audit log that cannot be written: not ready, and the reason
        // says so without the server's paths.
        std::fs::remove_dir_all(h.state.audit.path().parent().unwrap()).unwrap();
        let (r, body) = h.get("/ready", &[]).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let v = ready(&body);
        assert_eq!(v["audit_log_writable"], false);
        assert_eq!(v["reasons"][0], "the audit log cannot be written");
        assert!(!String::from_utf8_lossy(&body).contains(&*h._dir.path().to_string_lossy()));
    });
}

/// Collects the access log's events as text.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn access_log_has_the_request_but_not_what_was_asked_of_people() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let h = harness(LimitsConfig::default());
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let auth = format!("Bearer {ADMIN}");
                h.get(
                    "/collections/shelters/items?limit=2&bbox=139,35,140,36",
                    &[],
                )
                .await;
                h.get(
                    "/collections/counts/items?people=12&limit=1",
                    &[("authorization", &auth)],
                )
                .await;
                h.get(
                    "/collections/counts/items/1?f=json",
                    &[("authorization", &auth)],
                )
                .await;
                h.get("/collections/shelters", &[("authorization", "Bearer nope")])
                    .await;
            });
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("chiiki::access"))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains("method=GET")
            && lines[0].contains("path=/collections/shelters/items?limit=2&bbox=139,35,140,36")
            && lines[0].contains("status=200")
            && lines[0].contains("role=public")
            && lines[0].contains("latency_ms="),
        "{}",
        lines[0]
    );
    let bytes: usize = lines[0]
        .split("bytes=")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(bytes > 200, "{}", lines[0]);
    assert!(
        lines[1].contains("path=/collections/counts/items ") && !lines[1].contains("people=12"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("role=admin") && lines[1].contains("token=c"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("path=/collections/counts/items/{fid} "),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("status=401") && lines[3].contains("role=-"),
        "{}",
        lines[3]
    );
}
