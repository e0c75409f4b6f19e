//! A scenario that says `reflection = true` is compiled a second time with
//! the schema the server gives, before anything runs: a misspelt method or
//! message field is then an error at its file:line:col, from `volley check`
//! and at the run's start alike, instead of a request failure once the load
//! has begun.

use std::time::Duration;

use crate::scenario::compile::Options;
use crate::scenario::{Scenario, ScenarioError};

/// What asking the server's reflection gave.
#[derive(Debug)]
pub enum Asked {
    /// The scenario has no gRPC request that uses reflection.
    NotNeeded,
    /// Checked against the schema the endpoint gave.
    Checked { endpoint: String },
    /// The endpoint could not be asked: methods and messages are checked
    /// only when the run starts. `why` is only shown (a note of `volley
    /// check` and of the run), and may come from the runtime that asks as
    /// well as from reflection: text is all it needs to be.
    Unreached { endpoint: String, why: String },
}

/// Asks the endpoint of `scenario`'s reflection requests for its schema
/// (within `timeout`, capped at 10 s) and, when it answers, compiles again
/// with it through `compile`. The scenario comes back unchanged when there
/// is nothing to ask or no answer.
pub fn recompile(
    scenario: Scenario,
    options: &Options,
    timeout: Duration,
    compile: impl Fn(&Options) -> Result<Scenario, ScenarioError>,
) -> Result<(Scenario, Asked), ScenarioError> {
    let Some(spec) = scenario.reflection_request() else {
        return Ok((scenario, Asked::NotNeeded));
    };
    let endpoint = spec.endpoint.clone();
    let timeout = timeout.min(Duration::from_secs(10));
    let asked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(crate::client::grpc::reflect_endpoint(spec, timeout))
                .map_err(|e| e.to_string())
        });
    match asked {
        Ok(pool) => {
            let options = Options {
                reflected: Some(pool),
                ..options.clone()
            };
            Ok((compile(&options)?, Asked::Checked { endpoint }))
        }
        Err(why) => Ok((scenario, Asked::Unreached { endpoint, why })),
    }
}
