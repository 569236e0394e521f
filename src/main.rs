//! The command line: `outpost [--config F]`, `outpost check --config F`,
//! `outpost status [--listen ADDR | --config F] [--json]`, `outpost import F [-o OUT]`,
//! `outpost --version`. Exit 0 on a clean stop, a valid config, a status shown or a
//! whole import; 1 on an invalid config or input, a failed start or no agent
//! answering; 2 on a usage error or an import that left something out.

use std::path::PathBuf;
use std::process::ExitCode;

use outpost::config::{self, Config, ConfigError};

const USAGE: &str = "usage: outpost [--config FILE]
       outpost check --config FILE
       outpost status [--listen ADDR | --config FILE] [--json]
       outpost import [--helm] [--set NAME=VALUE]... [--keep-going] FILE [-o OUT]
       outpost --version

Without --config, outpost runs its embedded default configuration: it
scrapes its own metrics on 127.0.0.1:9464 and writes them to
http://127.0.0.1:9090/api/v1/write.

`outpost status` prints the running agent's targets and remote-write queues,
read from its API on --listen, else on the config's listen, else on
127.0.0.1:9464; --json prints the API's answers instead.

import converts a Prometheus configuration (or, with --helm, the values of
kube-prometheus-stack or the prometheus chart) into outpost's TOML, on
stdout or into OUT. What outpost cannot do is refused with its line:col and
key path (exit 2); --keep-going writes the rest, naming what was left out.";

enum Command {
    Run(Option<PathBuf>),
    Check(PathBuf),
    Status { listen: Option<String>, config: Option<PathBuf>, json: bool },
    Import(Import),
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
        Command::Import(import) => return run_import(&import),
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

struct Import {
    input: PathBuf,
    output: Option<PathBuf>,
    keep_going: bool,
    options: outpost::import::Options,
}

fn parse_import(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let (mut input, mut output, mut keep_going) = (None, None, false);
    let mut options = outpost::import::Options::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => output = Some(PathBuf::from(args.next().ok_or("-o needs a file")?)),
            "--keep-going" => keep_going = true,
            "--helm" => options.helm = true,
            "--set" => {
                let pair = args.next().ok_or("--set needs NAME=VALUE")?;
                let (name, value) = pair.split_once('=').ok_or("--set needs NAME=VALUE")?;
                options.set.push((name.to_string(), value.to_string()));
            }
            s if s.starts_with('-') && s != "-" => return Err(format!("import: unexpected option {s:?}")),
            s if input.is_none() => input = Some(PathBuf::from(s)),
            other => return Err(format!("import: unexpected argument {other:?}")),
        }
    }
    let input = input.ok_or("import needs a FILE")?;
    Ok(Command::Import(Import { input, output, keep_going, options }))
}

/// Reads, converts, checks the result as `outpost check` would, and writes it.
fn run_import(import: &Import) -> ExitCode {
    let origin = import.input.display().to_string();
    let text = match std::fs::read_to_string(&import.input) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("outpost: import: {origin}: cannot read: {e}");
            return ExitCode::from(1);
        }
    };
    // Both read relative paths from the file's directory: rebase them when the output lives elsewhere.
    let dir = |p: &std::path::Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        std::fs::canonicalize(parent).ok()
    };
    let out_dir = match &import.output {
        Some(out) => dir(out),
        None => std::env::current_dir().ok(),
    };
    let mut options =
        outpost::import::Options { helm: import.options.helm, set: import.options.set.clone(), rebase: None };
    if let Some(input_dir) = dir(&import.input)
        && out_dir.as_ref() != Some(&input_dir)
    {
        options.rebase = Some(input_dir);
    }
    let imported = match outpost::import::import(&text, &origin, &options) {
        Ok(imported) => imported,
        Err(errors) => {
            for e in errors {
                eprintln!("outpost: import: {e}");
            }
            return ExitCode::from(1);
        }
    };
    if !imported.left_out.is_empty() && !import.keep_going {
        for note in &imported.left_out {
            eprintln!("outpost: import: {note}");
        }
        eprintln!(
            "outpost: import: outpost cannot do the above; --keep-going writes the rest, naming each as left out"
        );
        return ExitCode::from(2);
    }
    let check_origin = import.output.as_ref().map_or("<stdout>".to_string(), |p| p.display().to_string());
    let checked = config::parse(&imported.toml, &check_origin);
    let written = match &import.output {
        Some(out) => {
            std::fs::write(out, &imported.toml).map_err(|e| format!("{}: cannot write: {e}", out.display()))
        }
        None => {
            print!("{}", imported.toml);
            Ok(())
        }
    };
    if let Err(e) = written {
        eprintln!("outpost: import: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = checked {
        eprintln!("outpost: import: the result does not pass `outpost check` here: {e}");
        return ExitCode::from(1);
    }
    for note in &imported.left_out {
        eprintln!("outpost: import: left out: {note}");
    }
    if imported.left_out.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut check = false;
    let mut status = false;
    let mut config = None;
    let (mut listen, mut json) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "import" if !check && !status && config.is_none() => return parse_import(args),
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
