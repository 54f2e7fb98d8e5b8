//! The `coracle` binary: parse, set up logging, run, map the result to an exit status.

use std::process::ExitCode;

use clap::CommandFactory as _;

fn main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash coracle -- coracle ...`) is answered
    // here and the process exits, before anything else runs or writes to stdout.
    clap_complete::CompleteEnv::with_factory(coracle::cli::Cli::command)
        .var(coracle::cmd::completion::COMPLETE_VAR)
        .bin("coracle")
        .completer("coracle")
        .shells(coracle::cmd::completion::SHELLS)
        .complete();
    let cli = match coracle::cli::docs::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version requests are not errors; usage errors exit 125 as in Podman.
            if !err.use_stderr() {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let rest: Vec<&str> = text.lines().skip(1).collect();
            #[allow(clippy::print_stderr)]
            {
                eprintln!("Error: {}", first.trim_start_matches("error: "));
                eprintln!("{}", rest.join("\n").trim_end());
            }
            return ExitCode::from(125);
        }
    };
    init_tracing(&cli.log_level);
    match coracle::cmd::run(cli) {
        Ok(status) => ExitCode::from(status.code()),
        Err(err) => {
            // A closed pipe (`coracle images | head -1`) is not an error worth a message.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("Error: {err:#}");
                if let Some(hint) =
                    coracle::doctor::runtime_dir::foreign_dir_hint(&format!("{err:#}"))
                {
                    eprintln!("Hint: {hint}");
                }
            }
            ExitCode::from(coracle::error::status_of(&err))
        }
    }
}

fn init_tracing(level: &str) {
    let level = match level {
        "fatal" | "panic" => "error",
        l => l,
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!("coracle={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("coracle=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
