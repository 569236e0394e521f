//! The command line: `outpost [--config F]`, `outpost check --config F`,
//! `outpost status [--listen ADDR | --config F] [--json]`, `outpost --version`.
//! Exit 0 on a clean stop, a valid config or a status shown; 1 on an invalid
//! config, a failed start or no agent answering; 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use outpost::config::{self, Config, ConfigError};

const USAGE: &str = "usage: outpost [--config FILE]
       outpost check --config FILE
       outpost status [--listen ADDR | --config FILE] [--json]
       outpost --version

Without --config, outpost runs its embedded default configuration: it
scrapes its own metrics on 127.0.0.1:9464 and writes them to
http://127.0.0.1:9090/api/v1/write.

`outpost status` prints the running agent's targets and remote-write queues,
read from its API on --listen, else on the config's listen, else on
127.0.0.1:9464; --json prints the API's answers instead.";

enum Command {
    Run(Option<PathBuf>),
    Check(PathBuf),
    Status { listen: Option<String>, config: Option<PathBuf>, json: bool },
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
        Command::Status { listen, config, json } => {
            let listen = match (listen, config) {
                (Some(listen), _) => listen,
                (None, Some(path)) => match config::load(&path) {
                    Ok(Config { web, .. }) if web.tls.is_some() => {
                        eprintln!(
                            "outpost: {}: listen serves https ([web.tls_config]); outpost status speaks plain http only: use the pages or curl",
                            path.display()
                        );
                        return ExitCode::from(1);
                    }
                    Ok(Config { listen: Some(addr), .. }) => addr.to_string(),
                    Ok(_) => {
                        eprintln!(
                            "outpost: {}: no listen address: that agent serves no status",
                            path.display()
                        );
                        return ExitCode::from(1);
                    }
                    Err(e) => return invalid(&e),
                },
                (None, None) => outpost::terminal::DEFAULT_LISTEN.to_owned(),
            };
            match outpost::terminal::run(&listen, json) {
                Ok(text) => print!("{text}"),
                Err(e) => {
                    eprintln!("outpost status: {e}");
                    return ExitCode::from(1);
                }
            }
        }
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
    let mut status = false;
    let mut config = None;
    let (mut listen, mut json) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "check" if !check && !status && config.is_none() => check = true,
            "status" if !check && !status && config.is_none() => status = true,
            "--listen" if status => listen = Some(args.next().ok_or("--listen needs an address")?),
            s if status && s.starts_with("--listen=") => listen = Some(s["--listen=".len()..].to_owned()),
            "--json" if status => json = true,
            "--config" | "-c" => config = Some(PathBuf::from(args.next().ok_or("--config needs a file")?)),
            s if s.starts_with("--config=") => config = Some(PathBuf::from(&s["--config=".len()..])),
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if status {
        return Ok(Command::Status { listen, config, json });
    }
    match (check, config) {
        (true, Some(path)) => Ok(Command::Check(path)),
        (true, None) => Err("check needs --config FILE".into()),
        (false, path) => Ok(Command::Run(path)),
    }
}
