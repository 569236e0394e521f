//! `file_sd_configs`: target groups from JSON or YAML files in Prometheus's
//! format (`[{"targets": ["host:port"], "labels": {"k": "v"}}]`; the name's
//! extension, `.json` or `.yml`/`.yaml`, picks the parser), re-read every
//! `refresh_interval`. A file that cannot be read or parsed keeps the targets
//! it had (the cause is logged with the file name); a file that disappears,
//! or no longer matches a pattern, removes its targets.
//!
//! Files are listed and read on the blocking pool, never on the executor
//! thread. [`parse`] and [`matches`] are pure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::timer::Timer;
use serde::Deserialize;

use super::{Group, Updates};
use crate::config::FileSdConfig;
use crate::model::Labels;
use crate::model::labels::is_valid_name;
use crate::offload::Offload;

/// The label naming the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// One element of a target file, as Prometheus's `targetgroup.Group`
/// unmarshals it: unknown keys are errors, a missing key is empty.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The groups of one target file: group `i` has source `<path>:<i>` and the
/// label `__meta_filepath`. A `.yml` or `.yaml` name is read as YAML, any
/// other as JSON (the configuration admits only these). Errors carry the
/// line and column.
pub fn parse(text: &str, path: &str) -> Result<Vec<Group>, String> {
    let lower = path.to_ascii_lowercase();
    let raw: Option<Vec<Option<RawGroup>>> = if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        crate::yaml::de::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    };
    let mut groups = Vec::new();
    for (i, group) in raw.unwrap_or_default().into_iter().enumerate() {
        let Some(group) = group else { return Err(format!("group {i}: null target group")) };
        let mut labels = Labels::new();
        for (name, value) in group.labels {
            if !is_valid_name(&name) {
                return Err(format!(
                    "group {i}: invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*"
                ));
            }
            labels.set(name, value);
        }
        labels.set(FILEPATH_LABEL.into(), path.to_owned());
        let targets = group.targets.into_iter().map(|t| Labels::from_pairs([("__address__", t)])).collect();
        groups.push(Group { source: format!("{path}:{i}"), targets, labels });
    }
    Ok(groups)
}

/// `name` matches `pattern` where `*` is any run of characters and `?` any
/// one character (Go's filepath.Match, without character classes).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic wildcard matching with one backtrack point: linear in practice.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The files the patterns name now, sorted and without repeats: a path
/// without wildcards when it exists, and the files of its directory that a
/// pattern matches (a directory that cannot be listed matches nothing).
fn list(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pattern in patterns {
        let name = pattern.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !name.contains(['*', '?']) {
            if pattern.exists() {
                out.push(pattern.clone());
            }
            continue;
        }
        let dir = match pattern.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if matches(&name, &file) && entry.path().is_file() {
                out.push(pattern.with_file_name(file));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What one refresh read: each listed file's text, or why it could not be read.
type Read = Vec<(PathBuf, Result<String, String>)>;

fn read(patterns: &[PathBuf]) -> Read {
    list(patterns)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
            (path, text)
        })
        .collect()
}

/// Runs the provider: one refresh now, then every `refresh_interval`.
pub async fn run(config: FileSdConfig, updates: Updates, offload: &Offload) {
    let mut state = State::default();
    let mut first = true;
    loop {
        let patterns = config.files.clone();
        let read = offload.run(move || read(&patterns)).await;
        let changed = state.refresh(read);
        if (first || !changed.is_empty()) && !updates.send(changed).await {
            return;
        }
        first = false;
        Timer::after(config.refresh_interval).await;
    }
}

/// The groups last read from each file, and the error last logged for it.
#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, Vec<Group>>,
    errors: BTreeMap<PathBuf, String>,
}

impl State {
    /// Takes one refresh's reads; returns the groups that changed, with an
    /// empty group for each source that went away.
    fn refresh(&mut self, read: Read) -> Vec<Group> {
        let mut changed = Vec::new();
        let mut seen = BTreeMap::new();
        for (path, text) in read {
            let name = path.display().to_string();
            let parsed = text.map_err(|e| format!("read: {e}")).and_then(|t| parse(&t, &name));
            let groups = match parsed {
                Ok(groups) => {
                    if self.errors.remove(&path).is_some() {
                        log::info!("file_sd {name}: read again");
                    }
                    groups
                }
                Err(e) => {
                    if self.errors.get(&path) != Some(&e) {
                        log::error!("file_sd {name}: {e}; keeping its previous targets");
                        self.errors.insert(path.clone(), e);
                    }
                    // Keeps what the file had (it is not removed below).
                    seen.insert(path, ());
                    continue;
                }
            };
            let old = self.files.remove(&path).unwrap_or_default();
            changed.extend(gone(&old, groups.len()));
            changed.extend(groups.iter().filter(|g| !old.contains(g)).cloned());
            self.files.insert(path.clone(), groups);
            seen.insert(path, ());
        }
        let removed: Vec<PathBuf> = self.files.keys().filter(|p| !seen.contains_key(*p)).cloned().collect();
        for path in removed {
            log::info!("file_sd {}: gone; its targets are removed", path.display());
            self.errors.remove(&path);
            if let Some(old) = self.files.remove(&path) {
                changed.extend(gone(&old, 0));
            }
        }
        changed
    }
}

/// Empty groups for the sources of `old` past the first `kept`.
fn gone(old: &[Group], kept: usize) -> impl Iterator<Item = Group> + '_ {
    old.iter().skip(kept).map(|g| Group { source: g.source.clone(), ..Group::default() })
}

#[cfg(test)]
mod tests;
