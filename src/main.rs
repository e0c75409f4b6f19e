//! volley: a distributed load tester for REST and gRPC APIs. This binary only
//! parses the command line, sets up logging and maps outcomes to exit codes.

use clap::Parser;

fn main() {
    let cli = volley::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("VOLLEY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Held while the console draws, written when it lets go.
        .with_writer(|| volley::console::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    std::process::exit(volley::cli::main(cli));
}
