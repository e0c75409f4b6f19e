//! volley's CSV files read as Locust's: the same scenario as
//! tests/integration/locust/locustfile.py (GET /ok three times as often as
//! GET /fail, which answers 500), against a server answering as
//! locust/target.py does, compared file by file with what real Locust
//! 2.47.0 wrote there (locust/locust_*.csv): the same headers, the same
//! number of columns in every row, the same Type values, row order and
//! Aggregated rows, whole milliseconds where Locust writes them, First and
//! Last Seen as Locust writes times, the history's first row.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::common::{Dir, ExpectExit, Volley};

async fn target() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new()
        .route("/ok", get(|| async { "x".repeat(1000) }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn locust(file: &str) -> Vec<Vec<String>> {
    rows(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/integration/locust/locust_{file}.csv")),
    )
}

/// Columns that hold a whole number of milliseconds in Locust's file hold
/// one in ours (where either has a figure).
fn whole_ms_columns_agree(ours: &[String], theirs: &[String], columns: &[usize]) {
    for &c in columns {
        let is_whole = |s: &str| s.parse::<u64>().is_ok() || s == "N/A";
        assert!(is_whole(&theirs[c]), "Locust's column {c}: {theirs:?}");
        assert!(is_whole(&ours[c]), "our column {c} is not whole: {ours:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_csv_files_have_locusts_shape() {
    let (addr, _stop) = target().await;
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!(
            "[load]\nusers = 2\nthink_time = \"10ms\"\n[http]\nbase_url = \"http://{addr}\"\n\
             [[request]]\nname = \"/ok\"\npath = \"/ok\"\nweight = 3\n\
             [[request]]\nname = \"/fail\"\npath = \"/fail\"\n"
        ),
    );
    let prefix = dir.path("v");
    let out = Volley::run_bare(&file)
        .flag("-t", "3")
        .flag("--csv", &prefix)
        .arg("--csv-full-history")
        .flag("--exit-code-on-error", "3")
        .output_async()
        .await;
    // No threshold failed, but requests did: Locust's exit code asked for.
    out.expect_exit(3);
    let ours = |f: &str| rows(&dir.path(&format!("v_{f}.csv")));

    // _stats.csv
    let (theirs, mine) = (locust("stats"), ours("stats"));
    assert_eq!(mine[0], theirs[0], "the header");
    assert_eq!(mine.len(), theirs.len(), "{mine:?}");
    for (m, t) in mine.iter().zip(&theirs).skip(1) {
        assert_eq!(m.len(), t.len());
        // Type and Name, in Locust's order: sorted by name, Aggregated last.
        assert_eq!((&m[0], &m[1]), (&t[0], &t[1]));
        // Median and the percentiles: whole milliseconds.
        let whole: Vec<usize> = std::iter::once(4).chain(11..22).collect();
        whole_ms_columns_agree(m, t, &whole);
        // Means, minima, maxima, sizes and rates: numbers.
        for c in 5..11 {
            assert!(m[c].parse::<f64>().is_ok(), "column {c}: {m:?}");
        }
    }
    // Every /fail failed, none of /ok.
    assert_eq!(mine[1][2], mine[1][3]);
    assert_eq!(mine[2][3], "0");

    // _failures.csv
    let (theirs, mine) = (locust("failures"), ours("failures"));
    assert_eq!(mine[0], theirs[0], "the header");
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!((&mine[1][0], &mine[1][1]), (&theirs[1][0], &theirs[1][1]));
    assert_eq!(mine[1][2], "status: HTTP 500 Internal Server Error");
    for c in [4, 5] {
        // 2026-11-30T15:36:12Z, as Locust writes it.
        let (m, t) = (&mine[1][c], &theirs[1][c]);
        assert_eq!(m.len(), t.len(), "{m} against {t}");
        assert!(m.ends_with('Z') && m.as_bytes()[10] == b'T', "{m}");
    }

    // _exceptions.csv: the header; volley caught no panic.
    assert_eq!(ours("exceptions"), locust("exceptions"));
    // Every line of every file ends with CR LF, as in Locust's (Python's
    // csv module).
    for f in ["stats", "failures", "exceptions", "stats_history"] {
        for (which, path) in [
            ("ours", dir.path(&format!("v_{f}.csv"))),
            (
                "Locust's",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("tests/integration/locust/locust_{f}.csv")),
            ),
        ] {
            let bytes = std::fs::read(&path).unwrap();
            let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty());
            assert!(
                lines.into_iter().all(|l| l.ends_with(b"\r")),
                "{which} {f}: a line without CR LF"
            );
        }
    }

    // _stats_history.csv
    let (theirs, mine) = (locust("stats_history"), ours("stats_history"));
    assert_eq!(mine[0], theirs[0], "the header");
    assert!(mine.iter().all(|r| r.len() == theirs[0].len()), "{mine:?}");
    // The first row: the start, nothing measured yet.
    assert_eq!(mine[1][1..], theirs[1][1..]);
    // Then per second a row per name (full history) and the Aggregated row,
    // whose totals are the run's so far.
    let names: Vec<&str> = mine[2..].iter().map(|r| r[3].as_str()).collect();
    assert!(
        names.contains(&"/ok") && names.contains(&"/fail"),
        "{names:?}"
    );
    let aggregated: Vec<&Vec<String>> = mine[2..].iter().filter(|r| r[3] == "Aggregated").collect();
    assert!(aggregated.len() >= 2, "{mine:?}");
    // Within a second, names sorted as Locust sorts them, Aggregated last;
    // the last row still counts the users, as Locust's does.
    for (ours, whose) in [(&mine, "ours"), (&theirs, "Locust's")] {
        for second in ours[2..].chunk_by(|a, b| a[0] == b[0]) {
            let names: Vec<&str> = second.iter().map(|r| r[3].as_str()).collect();
            let (last, named) = names.split_last().unwrap();
            assert_eq!(*last, "Aggregated", "{whose}: {names:?}");
            assert!(named.is_sorted(), "{whose}: {names:?}");
        }
        assert_eq!(
            ours[ours.len() - 1][1],
            "2",
            "{whose}: {:?}",
            ours[ours.len() - 1]
        );
    }
    let totals: Vec<u64> = aggregated.iter().map(|r| r[17].parse().unwrap()).collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    let last = aggregated[aggregated.len() - 1];
    for c in [19, 20, 21, 22, 23] {
        assert!(last[c].parse::<f64>().is_ok(), "column {c}: {last:?}");
    }
    for r in &mine[2..] {
        assert_eq!(r[4].split('.').nth(1).map(str::len), Some(6), "{r:?}");
    }
    // A name's own rows carry its totals so far, as Locust's do: numbers
    // in Locust's formats, the count growing, the last row's the name's
    // final figures (/ok answers 1000-byte bodies, /fail short ones).
    for name in ["/ok", "/fail"] {
        let rows: Vec<&Vec<String>> = mine[2..].iter().filter(|r| r[3] == name).collect();
        assert!(!rows.is_empty(), "{name}: {mine:?}");
        let counts: Vec<u64> = rows.iter().map(|r| r[17].parse().unwrap()).collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {counts:?}"
        );
        for r in &rows {
            assert!(r[19].parse::<u64>().is_ok(), "median, whole ms: {r:?}");
            for c in [20, 21, 22, 23] {
                assert!(r[c].parse::<f64>().is_ok(), "column {c}: {r:?}");
            }
            let (min, mean, max) = (
                r[21].parse::<f64>().unwrap(),
                r[20].parse::<f64>().unwrap(),
                r[22].parse::<f64>().unwrap(),
            );
            assert!(min <= mean && mean <= max, "{r:?}");
        }
        let size: f64 = rows[rows.len() - 1][23].parse().unwrap();
        assert!(
            if name == "/ok" {
                size > 1000.0
            } else {
                size < 1000.0
            },
            "{name}: {size}"
        );
    }

    // Without --csv-full-history, only Aggregated rows, as Locust.
    let out = Volley::run_bare(&file)
        .flag("-n", "50")
        .flag("--csv", &prefix)
        .output_async()
        .await;
    out.expect_exit(0);
    assert!(
        ours("stats_history")[1..]
            .iter()
            .all(|r| r[3] == "Aggregated")
    );
}
