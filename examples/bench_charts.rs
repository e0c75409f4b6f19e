//! Charts of the benchmark results for docs/results.md and the README, drawn
//! by volley's own chart code (the HTML report's): reads bench/results/*.json,
//! writes docs/charts/*.svg. Run by bench/run after the benchmarks:
//!
//!     cargo run --release --example bench_charts
//!
//! A result file that is missing is skipped (its chart is not drawn).

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use volley::report::charts::{BarGroup, bars};

fn read(path: &Path) -> anyhow::Result<Option<Value>> {
    if !path.exists() {
        eprintln!("{}: missing, its charts are skipped", path.display());
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(v))
}

fn write(dir: &Path, name: &str, svg: String) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The median of a summary figure, 0 where missing.
fn median(v: &Value) -> f64 {
    v["median"].as_f64().unwrap_or(0.0)
}

/// Groups by language, a bar per protocol, for one figure of the servers'
/// summary at one text length.
fn servers_chart(
    summary: &Value,
    texts: &str,
    title: &str,
    y: &str,
    figure: impl Fn(&Value) -> f64,
) -> anyhow::Result<String> {
    let groups: Vec<BarGroup> = ["rust", "go", "python"]
        .iter()
        .map(|lang| BarGroup {
            label: match *lang {
                "rust" => "Rust".into(),
                "go" => "Go".into(),
                _ => "Python".into(),
            },
            values: ["rest", "grpc"]
                .iter()
                .map(|p| figure(&summary[format!("{lang}-{p}/{texts}")]))
                .collect(),
        })
        .collect();
    Ok(bars(title, y, &["REST", "gRPC"], &groups)?)
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("docs/charts");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    if let Some(servers) = read(&root.join("bench/results/servers.json"))? {
        let s = &servers["summary"];
        let bound = servers["p99_max_ms"].as_f64().unwrap_or(0.0);
        for texts in ["short", "long"] {
            write(
                &out,
                &format!("servers-sustained-{texts}.svg"),
                servers_chart(
                    s,
                    texts,
                    &format!("Highest rate with p99 under {bound} ms, {texts} texts, one core"),
                    "requests/s",
                    |v| median(&v["sustained_rps"]),
                )?,
            )?;
            write(
                &out,
                &format!("servers-cpu-{texts}.svg"),
                servers_chart(
                    s,
                    texts,
                    &format!("Server CPU time per request at capacity, {texts} texts"),
                    "microseconds",
                    |v| median(&v["cpu_us_per_request_at_capacity"]),
                )?,
            )?;
        }
    }

    if let Some(loadgen) = read(&root.join("bench/results/loadgen.json"))? {
        let results = loadgen["results"].as_array().cloned().unwrap_or_default();
        let tools = ["volley", "wrk", "oha", "locust", "grpc_loop", "ghz"];
        let targets = ["nginx", "predict-rest", "predict-grpc"];
        let shown: Vec<&str> = tools
            .iter()
            .copied()
            .filter(|t| results.iter().any(|r| r["tool"] == *t))
            .collect();
        let groups: Vec<BarGroup> = targets
            .iter()
            .map(|target| BarGroup {
                label: (*target).into(),
                values: shown
                    .iter()
                    .map(|tool| {
                        results
                            .iter()
                            .find(|r| r["target"] == *target && r["tool"] == *tool)
                            .and_then(|r| r["rps_median"].as_f64())
                            .unwrap_or(0.0)
                    })
                    .collect(),
            })
            .collect();
        write(
            &out,
            "loadgen-rps.svg",
            bars(
                "Requests/s from one core, 64 connections (median of 3)",
                "requests/s",
                &shown,
                &groups,
            )?,
        )?;
    }
    Ok(())
}
