//! The command line: `outpost [--config F]`, `outpost check --config F`,
//! `outpost --version`. Exit 0 on a clean stop or a valid config, 1 on an
//! invalid config or a failed start, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use outpost::config::{self, Config, ConfigError};

const USAGE: &str = "usage: outpost [--config FILE]
       outpost check --config FILE
       outpost --version

Without --config, outpost runs its embedded default configuration: it
scrapes its own metrics on 127.0.0.1:9464 and writes them to
http://127.0.0.1:9090/api/v1/write.";

enum Command {
    Run(Option<PathBuf>),
    Check(PathBuf),
    Version,
    Help,
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("outpost: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => println!("outpost {}", env!("CARGO_PKG_VERSION")),
        Command::Help => println!("{USAGE}"),
        Command::Check(path) => match config::load(&path) {
            Ok(_) => println!("{}: ok", path.display()),
            Err(e) => return invalid(&e),
        },
        Command::Run(path) => {
            let loaded = match &path {
                Some(path) => config::load(path),
                None => config::parse(config::DEFAULT, "<default>"),
            };
            let config: Config = match loaded {
                Ok(c) => c,
                Err(e) => return invalid(&e),
            };
            outpost::log::init(config.log_level);
            if let Err(e) = outpost::agent::run(&config) {
                log::error!("{e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

fn invalid(e: &ConfigError) -> ExitCode {
    eprintln!("outpost: invalid config: {e}");
    ExitCode::from(1)
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut check = false;
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "check" if !check && config.is_none() => check = true,
            "--config" | "-c" => config = Some(PathBuf::from(args.next().ok_or("--config needs a file")?)),
            s if s.starts_with("--config=") => config = Some(PathBuf::from(&s["--config=".len()..])),
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    match (check, config) {
        (true, Some(path)) => Ok(Command::Check(path)),
        (true, None) => Err("check needs --config FILE".into()),
        (false, path) => Ok(Command::Run(path)),
    }
}
