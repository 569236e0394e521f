//! `outpost import`: a Prometheus configuration (YAML), or the Helm values of
//! kube-prometheus-stack or the `prometheus` chart, into outpost's TOML. What
//! outpost lacks is left out, each with the YAML's line:col and key path;
//! invalid YAML is an error. Pure: the CLI (main.rs) reads and writes files.

mod helm;
mod prometheus;
mod toml_out;
mod values;

use crate::yaml::{self, Entry, Pos};
use std::path::{Path, PathBuf};
use toml_out::Table;

/// Written when the YAML has no remote_write: outpost's embedded default receiver.
pub const DEFAULT_RECEIVER: &str = "http://127.0.0.1:9090/api/v1/write";

#[derive(Default)]
pub struct Options {
    /// The input is Helm values (kube-prometheus-stack or the `prometheus` chart).
    pub helm: bool,
    /// `--set name=value`: Helm placeholders (`${name}`, `{{ name }}`) to fill in.
    pub set: Vec<(String, String)>,
    /// Relative file paths are made absolute under this directory (the
    /// input's), for output written elsewhere: Prometheus and outpost both
    /// take them from the configuration file's directory.
    pub rebase: Option<PathBuf>,
}

/// The TOML, and what was left out (each `origin:line:col: path: reason`).
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub left_out: Vec<String>,
}

/// Converts `text` (named `origin` in messages); `Err` holds every error.
pub fn import(text: &str, origin: &str, options: &Options) -> Result<Imported, Vec<String>> {
    let mut ctx = Ctx {
        origin,
        rebase: options.rebase.as_deref(),
        set: &options.set,
        errors: Vec::new(),
        left_out: Vec::new(),
        rename: &[],
    };
    let doc = yaml::parse(text).map_err(|e| vec![ctx.format(e.pos, "", &e.reason)])?;
    let mut root = Table::default();
    if options.helm {
        let (prometheus_doc, rename) = helm::document(&mut ctx, &doc);
        ctx.rename = rename;
        prometheus::document(&mut ctx, &prometheus_doc, &mut root);
    } else {
        prometheus::document(&mut ctx, &doc, &mut root);
    }
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    let mut toml = format!(
        "# outpost configuration imported from {origin} by `outpost import` (README, \"Coming from Prometheus\").\n"
    );
    if !ctx.left_out.is_empty() {
        toml.push_str("# Left out (outpost cannot do these):\n");
        for note in &ctx.left_out {
            toml.push_str(&format!("#   {note}\n"));
        }
    }
    toml.push('\n');
    root.render(&mut toml);
    Ok(Imported { toml, left_out: ctx.left_out })
}

/// The state of one import: where messages point, and what they say.
pub(crate) struct Ctx<'a> {
    origin: &'a str,
    rebase: Option<&'a Path>,
    /// `--set` values for Helm placeholders.
    set: &'a [(String, String)],
    errors: Vec<String>,
    left_out: Vec<String>,
    /// Key path prefixes to say in the input's own terms (Helm values).
    rename: &'static [(&'static str, &'static str)],
}

impl Ctx<'_> {
    fn format(&self, pos: Pos, path: &str, reason: &str) -> String {
        let path = self
            .rename
            .iter()
            .find_map(|(from, to)| path.strip_prefix(from).map(|rest| format!("{to}{rest}")))
            .unwrap_or_else(|| path.to_string());
        match path.is_empty() {
            true => format!("{}:{}:{}: {reason}", self.origin, pos.line, pos.col),
            false => format!("{}:{}:{}: {path}: {reason}", self.origin, pos.line, pos.col),
        }
    }

    fn error(&mut self, pos: Pos, path: &str, reason: String) {
        let message = self.format(pos, path, &reason);
        self.errors.push(message);
    }

    fn note_left_out(&mut self, pos: Pos, path: &str, reason: String) {
        let message = self.format(pos, path, &reason);
        self.left_out.push(message);
    }

    /// Leaves `e` out: a comment in `t` where it would be, and a note.
    fn left_out(&mut self, t: &mut Table, e: &Entry, path: &str, reason: &str) {
        let message = self.format(e.key_pos, path, reason);
        t.comment(&format!("left out: {message}"));
        self.left_out.push(message);
    }

    fn rebase(&self, path: &str) -> String {
        match self.rebase {
            Some(dir) if Path::new(path).is_relative() && !path.is_empty() => {
                dir.join(path).display().to_string()
            }
            _ => path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
