//! TOML -> Config (in progress).
use super::Config;
use std::path::Path;

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

pub fn parse(_text: &str, origin: &str) -> Result<Config, ConfigError> {
    Err(ConfigError(format!("{origin}: not implemented")))
}
