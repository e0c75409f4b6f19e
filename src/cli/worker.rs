//! `volley worker`: joins a master and generates the load it is given, until
//! killed; reconnects with backoff whenever the master goes away.

use std::path::PathBuf;

use clap::Args;

use super::Exit;
use crate::cluster::identity::Trust;
use crate::cluster::token::Token;
use crate::cluster::worker::{self, WorkerConfig};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("trust").required(true).args(["master_ca", "master_fingerprint", "insecure"])))]
pub struct WorkerArgs {
    /// The master, HOST:PORT (its port is 7700 unless told otherwise).
    #[arg(long, value_name = "HOST:PORT")]
    pub master: String,
    /// Trust the master's certificate if this CA (PEM) signed it.
    #[arg(long, value_name = "FILE")]
    pub master_ca: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint (hex, as
    /// the master prints it).
    #[arg(long, value_name = "HEX")]
    pub master_fingerprint: Option<String>,
    /// Do not check the master's certificate: only for a master on loopback.
    #[arg(long)]
    pub insecure: bool,
    /// File holding the join token (else VOLLEY_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Load threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true, value_parser = crate::scenario::limits::parse_threads::<usize>)]
    pub threads: usize,
    /// This worker's name on the master (default: host name and process id).
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,
}

pub fn worker(args: WorkerArgs) -> Result<Exit, Exit> {
    let token = Token::from_flag_or_env(args.token_file.as_deref()).map_err(Exit::cannot_start)?;
    let trust = if let Some(ca) = &args.master_ca {
        Trust::ca_file(ca)
    } else if let Some(fp) = &args.master_fingerprint {
        Trust::fingerprint(fp)
    } else {
        Ok(Trust::Insecure)
    }
    .map_err(Exit::cannot_start)?;
    let id = args.id.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            crate::cluster::identity::hostname().unwrap_or_else(|| "worker".into()),
            std::process::id()
        )
    });
    let config = WorkerConfig {
        master: args.master.clone(),
        trust,
        token,
        id,
        threads: args.threads,
        once: false,
        in_process: false,
    };
    let rt = super::run::cluster_runtime()?;
    // SIGTERM or SIGINT: leave the run cleanly (last report, then Done
    // saying it left), then exit 0; a second signal exits at once.
    rt.block_on(async { worker::run(config, super::signals::stop_token()).await })
        .map(|()| Exit::Passed)
        .map_err(Exit::cannot_start)
}
