//! `volley import KIND SOURCE`: a scenario file written from what describes
//! an API, so that a test starts from the API rather than from a blank
//! file. One subcommand per kind of source; each converter is pure (text
//! in, scenario text out, in its own module) and this file does the
//! reading and writing. See docs/import.md.

pub mod har;
pub mod openapi;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::Exit;

/// What to import from.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An OpenAPI 3.0 or 3.1 document (JSON or YAML): one request per
    /// operation, with its parameters, JSON body and expected statuses,
    /// from the document's examples (guessed where it has none, and said
    /// so in comments).
    Openapi(OpenapiArgs),
    /// A HAR file (what a browser's developer tools or a proxy recorded):
    /// one request per name (method and path, ids folded) on its main
    /// origin, weighted by how often the HAR has it, with its statuses as
    /// checks. `volley replay FILE.har` sends it on its own timeline
    /// instead.
    Har(HarArgs),
}

#[derive(Debug, Args)]
pub struct HarArgs {
    /// The HAR file.
    #[arg(value_name = "HAR")]
    pub har: PathBuf,
    /// The origin whose requests are imported (and the scenario's base
    /// URL), instead of the HAR's most frequent one.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Write the scenario to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// The OpenAPI document, JSON or YAML (`-`: standard input).
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// The target: scheme, host, port and any path prefix
    /// (http://127.0.0.1:8080/v1), instead of the document's first server.
    /// Needed when the document's server URL is relative or missing.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Write the scenario to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs an import; exit 2 (could not start) on a bad source, naming what
/// and where.
pub fn import(what: ImportCommand) -> Result<Exit, Exit> {
    match what {
        ImportCommand::Openapi(args) => import_openapi(args),
        ImportCommand::Har(args) => import_har(args),
    }
}

fn import_har(args: HarArgs) -> Result<Exit, Exit> {
    let shown = args.har.display().to_string();
    // Its errors name the file where it matters.
    let text = har::import(&args.har, args.base_url.as_deref()).map_err(Exit::cannot_start)?;
    write_scenario(args.output.as_deref(), &text)?;
    eprintln!(
        "{shown}: a scenario{}",
        args.output
            .as_ref()
            .map(|p| format!(" written to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(Exit::Passed)
}

/// The scenario to FILE, or to standard output.
fn write_scenario(output: Option<&Path>, text: &str) -> Result<(), Exit> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Exit::cannot_start(anyhow!("cannot write {}: {e}", path.display()))),
        None => super::write_out(text.as_bytes()).map(|_| ()),
    }
}

fn import_openapi(args: OpenapiArgs) -> Result<Exit, Exit> {
    let text = read_source(&args.spec, openapi::MAX_BYTES)?;
    let source = if args.spec.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        args.spec.display().to_string()
    };
    let imported = openapi::convert(
        &text,
        &openapi::Options {
            source: &source,
            base_url: args.base_url.as_deref(),
        },
    )
    .map_err(|e| Exit::cannot_start(anyhow!("{source}: {e}")))?;
    write_scenario(args.output.as_deref(), &imported.toml)?;
    // On stderr: stdout may be the scenario itself.
    eprintln!(
        "{source}: {} request{}{}{}",
        imported.requests,
        if imported.requests == 1 { "" } else { "s" },
        if imported.guessed > 0 {
            format!(
                ", {} with guessed values (see their comments)",
                imported.guessed
            )
        } else {
            String::new()
        },
        args.output
            .as_ref()
            .map(|p| format!(", written to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(Exit::Passed)
}

/// The text of `path` (`-`: standard input), refused past `max` bytes
/// before more is read, and unless it is UTF-8.
pub fn read_source(path: &Path, max: usize) -> Result<String, Exit> {
    let shown = path.display();
    let reader: Box<dyn std::io::Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| Exit::cannot_start(anyhow!("cannot read {shown}: {e}")))?,
        )
    };
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| Exit::cannot_start(anyhow!("cannot read {shown}: {e}")))?;
    if bytes.len() > max {
        return Err(Exit::cannot_start(anyhow!(
            "{shown}: larger than {max} bytes, the most that is read"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Exit::cannot_start(anyhow!(
            "{shown}: not UTF-8 text (byte {} is not)",
            e.utf8_error().valid_up_to()
        ))
    })
}
