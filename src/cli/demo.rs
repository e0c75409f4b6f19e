//! `volley demo`: the prediction servers (REST and gRPC) started in this
//! process on free loopback ports, and the mixed scenario run against them,
//! so that a newcomer sees volley work with nothing else installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::Exit;
use super::load_args::LoadArgs;
use super::run::{OutputArgs, execute, prepare_compiled};
use crate::scenario::compile::{MemorySources, Options, compile};

const SCENARIO_PATH: &str = "scenarios/predict-mixed.toml";
const SCENARIO: &str = include_str!("../../scenarios/predict-mixed.toml");
const TEXTS: &str = include_str!("../../scenarios/data/texts.txt");
const PROTO: &str = include_str!("../../proto/predict/v1/predict.proto");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the demo runs (default: 20 s without a console, 10 min with
    /// one: quit it with q).
    #[arg(short = 't', long, value_parser = crate::scenario::compile::parse_duration)]
    pub duration: Option<Duration>,
    /// Without the live console, even in a terminal.
    #[arg(long)]
    pub headless: bool,
    /// Virtual users (default: the scenario's, 16).
    #[arg(short = 'u', long)]
    pub users: Option<u64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn demo(args: DemoArgs) -> Result<Exit, Exit> {
    let console = crate::console::wanted(args.headless);
    let duration = args.duration.unwrap_or(if console {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(20)
    });
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("predict-servers")
        .enable_all()
        .build()
        .map_err(Exit::cannot_start)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (rest, grpc) = servers
        .block_on(async {
            let model = predict::SharedModel::loaded(predict::Model::builtin()?);
            let rest = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addrs = (rest.local_addr()?, grpc.local_addr()?);
            let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            tokio::spawn(predict::rest::serve(
                rest,
                model.clone(),
                None,
                stopped(stop_rx.clone()),
            ));
            tokio::spawn(predict::grpc::serve(grpc, model, None, stopped(stop_rx)));
            anyhow::Ok(addrs)
        })
        .map_err(Exit::cannot_start)?;
    eprintln!(
        "volley demo: predict-rest on http://{rest} and predict-grpc on http://{grpc}, in this process"
    );
    eprintln!(
        "volley demo: running {SCENARIO_PATH} for {duration:?} ({})",
        if console {
            "q quits"
        } else {
            "Ctrl-C stops early"
        }
    );

    let files = BTreeMap::from([
        (
            "data/texts.txt".to_string(),
            bytes::Bytes::from_static(TEXTS.as_bytes()),
        ),
        (
            "../proto/predict/v1/predict.proto".to_string(),
            bytes::Bytes::from_static(PROTO.as_bytes()),
        ),
    ]);
    let options = Options {
        host: None,
        headers: Vec::new(),
        isolated: false,
        reflected: None,
        vars: BTreeMap::from([
            ("PREDICT_REST_URL".to_string(), format!("http://{rest}")),
            ("PREDICT_GRPC_URL".to_string(), format!("http://{grpc}")),
        ]),
    };
    let scenario = compile(
        Path::new(SCENARIO_PATH),
        SCENARIO,
        &MemorySources(files),
        &options,
    )
    .map_err(Exit::cannot_start)?;
    let load = LoadArgs {
        target: None,
        file: Some(SCENARIO_PATH.into()),
        method: None,
        body: None,
        http_version: None,
        insecure: false,
        headers: Vec::new(),
        users: args.users,
        spawn_rate: None,
        rate: None,
        connections: None,
        think_time: None,
        duration: Some(duration),
        requests: None,
        timeout: None,
        host: None,
    };
    let prepared = prepare_compiled(scenario, &load, &args.output)?;
    // The demo is there to be looked at: its console stays until q.
    let code = execute(&prepared, 0, 2, &args.output, console.then_some(true));
    let _ = stop_tx.send(true);
    servers.shutdown_timeout(Duration::from_secs(2));
    code
}
