//! Metric metadata (TYPE, HELP, UNIT per metric family) as Prometheus's
//! scrape cache keeps it, for remote write's `metadata_config`.
//!
//! Each scrape loop owns its target's [`Families`] (shared with the
//! [`Registry`] through an `Rc`); the parser's HELP, TYPE and UNIT lines
//! update it as they are read, whether or not the scrape succeeds. A family
//! no scrape has mentioned for more than 10 scrapes is forgotten after the
//! next successful one; a target's families go with its loop. Not relabeled
//! (Prometheus sends metadata for every family scraped) and never written to
//! disk: the next `send_interval` sends the current set again.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::{Rc, Weak};

use crate::parse::{Entry, Format, MetricType};

/// Scrapes a family stays after its last mention (Prometheus's scrape cache).
const KEEP_SCRAPES: u64 = 10;

/// One family's metadata as it goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Metadata {
    pub family: String,
    pub kind: MetricType,
    /// Escapes resolved.
    pub help: String,
    pub unit: String,
}

/// The metric families of one target.
#[derive(Debug, Default)]
pub struct Families {
    entries: Vec<Family>,
    index: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    /// The entry the last line named: HELP and TYPE of a family come together,
    /// and families in the same order every scrape.
    last: usize,
    /// Incremented by every scrape.
    scrape: u64,
}

#[derive(Debug)]
struct Family {
    name: Box<str>,
    kind: MetricType,
    /// As written; resolved by `list`.
    help: Box<str>,
    help_format: Format,
    unit: Box<str>,
    /// The last scrape that mentioned it.
    seen: u64,
}

impl Families {
    /// Records a HELP, TYPE or UNIT line of a body in `format`; other entries
    /// are ignored. Allocates only for a new family or a changed text.
    pub fn record(&mut self, entry: &Entry<'_>, format: Format) {
        match *entry {
            Entry::Help { name, text } => {
                let family = self.family(name);
                if *family.help != *text || family.help_format != format {
                    family.help = text.into();
                    family.help_format = format;
                }
            }
            Entry::Type { name, kind } => self.family(name).kind = kind,
            Entry::Unit { name, unit } => {
                let family = self.family(name);
                if *family.unit != *unit {
                    family.unit = unit.into();
                }
            }
            Entry::Comment | Entry::Sample(_) => {}
        }
    }

    fn family(&mut self, name: &str) -> &mut Family {
        // Entries are in the order of the first exposition, which the next
        // ones repeat: the family is usually the last one or the one after it.
        let named = |at: usize| self.entries.get(at).is_some_and(|f| *f.name == *name);
        let at = match self.last {
            last if named(last) => last,
            last if named(last + 1) => last + 1,
            _ => match self.index.get(name) {
                Some(&at) => at,
                None => {
                    self.entries.push(Family {
                        name: name.into(),
                        kind: MetricType::Untyped,
                        help: "".into(),
                        help_format: Format::Text,
                        unit: "".into(),
                        seen: self.scrape,
                    });
                    self.index.insert(name.into(), self.entries.len() - 1);
                    self.entries.len() - 1
                }
            },
        };
        self.last = at;
        let family = &mut self.entries[at];
        family.seen = self.scrape;
        family
    }

    /// Ends a scrape. After a successful one, families not mentioned for
    /// more than [`KEEP_SCRAPES`] scrapes are forgotten.
    pub fn end(&mut self, success: bool) {
        if success {
            let scrape = self.scrape;
            let before = self.entries.len();
            self.entries.retain(|f| scrape - f.seen <= KEEP_SCRAPES);
            if self.entries.len() != before {
                self.index.clear();
                self.index.extend(self.entries.iter().enumerate().map(|(i, f)| (f.name.clone(), i)));
            }
        }
        self.scrape += 1;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every family, in the order first scraped.
    pub fn list(&self) -> impl Iterator<Item = Metadata> + '_ {
        self.entries.iter().map(|f| Metadata {
            family: f.name.to_string(),
            kind: f.kind,
            help: unescape_help(&f.help, f.help_format),
            unit: f.unit.to_string(),
        })
    }

    /// One family by name.
    pub fn get(&self, name: &str) -> Option<Metadata> {
        let &at = self.index.get(name)?;
        let f = self.entries.get(at)?;
        Some(Metadata {
            family: f.name.to_string(),
            kind: f.kind,
            help: unescape_help(&f.help, f.help_format),
            unit: f.unit.to_string(),
        })
    }
}

/// HELP text with its escapes resolved as Prometheus's parsers do: `\\` and
/// `\n` in text 0.0.4, also `\"` in OpenMetrics; any other backslash stays.
pub fn unescape_help(text: &str, format: Format) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if format == Format::OpenMetrics => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// Every scrape loop's [`Families`], for the metadata senders. Holds them
/// weakly: a target whose loop ended is gone from the next collection.
#[derive(Debug, Default)]
pub struct Registry {
    /// `None` when no remote_write sends metadata: loops then record nothing.
    targets: Option<RefCell<Vec<Weak<RefCell<Families>>>>>,
}

impl Registry {
    pub fn new(enabled: bool) -> Self {
        Self { targets: enabled.then(Default::default) }
    }

    /// A new target's families; `None` when metadata is not sent.
    pub fn register(&self) -> Option<Rc<RefCell<Families>>> {
        let targets = self.targets.as_ref()?;
        let families = Rc::new(RefCell::new(Families::default()));
        targets.borrow_mut().push(Rc::downgrade(&families));
        Some(families)
    }

    /// The metadata of every live target, each distinct (family, type, help,
    /// unit) once, in target order (Prometheus's MetadataWatcher.collect).
    pub fn collect(&self) -> Vec<Metadata> {
        let Some(targets) = &self.targets else { return Vec::new() };
        let mut targets = targets.borrow_mut();
        targets.retain(|t| t.strong_count() > 0);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for families in targets.iter().filter_map(Weak::upgrade) {
            for entry in families.borrow().list() {
                if seen.insert(entry.clone()) {
                    out.push(entry);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(families: &mut Families, body: &str, format: Format) {
        for entry in crate::parse::parser(format, body).map_while(Result::ok) {
            families.record(&entry, format);
        }
    }

    fn meta(family: &str, kind: MetricType, help: &str, unit: &str) -> Metadata {
        Metadata { family: family.into(), kind, help: help.into(), unit: unit.into() }
    }

    #[test]
    fn help_type_and_unit_per_family_with_escapes_resolved() {
        let registry = Registry::new(true);
        let families = registry.register().expect("enabled");
        let text = "# HELP a_total A \\\\ b\\nc \\\" d\n# TYPE a_total counter\na_total 1\n\
                    # TYPE g gauge\ng 1\n# HELP h only help\n";
        scrape(&mut families.borrow_mut(), text, Format::Text);
        let om = "# TYPE d_seconds gauge\n# UNIT d_seconds seconds\n# HELP d_seconds x \\\" y\nd_seconds 1\n# EOF\n";
        let other = registry.register().expect("enabled");
        scrape(&mut other.borrow_mut(), om, Format::OpenMetrics);
        // The same family from a second target is sent once.
        scrape(&mut other.borrow_mut(), "# TYPE g gauge\ng 2\n", Format::Text);
        assert_eq!(
            registry.collect(),
            [
                meta("a_total", MetricType::Counter, "A \\ b\nc \\\" d", ""),
                meta("g", MetricType::Gauge, "", ""),
                meta("h", MetricType::Untyped, "only help", ""),
                meta("d_seconds", MetricType::Gauge, "x \" y", "seconds"),
            ]
        );
        drop(other);
        assert_eq!(registry.collect().len(), 3, "a target's families go with its loop");
    }

    #[test]
    fn a_family_is_forgotten_after_ten_scrapes_without_it() {
        let mut f = Families::default();
        scrape(&mut f, "# TYPE old gauge\n# TYPE new gauge\n", Format::Text);
        f.end(true);
        for i in 0..12 {
            scrape(&mut f, "# TYPE new gauge\n", Format::Text);
            // Failed scrapes count but never forget.
            f.end(i % 2 == 0 && i >= 10);
            let want = if i >= 10 { 1 } else { 2 };
            assert_eq!(f.len(), want, "after scrape {}", i + 2);
        }
        scrape(&mut f, "# TYPE new counter\n", Format::Text);
        assert_eq!(f.list().next().map(|m| m.kind), Some(MetricType::Counter), "a changed type replaces");
    }

    #[test]
    fn nothing_is_recorded_when_metadata_is_not_sent() {
        let registry = Registry::new(false);
        assert!(registry.register().is_none());
        assert!(registry.collect().is_empty());
    }
}
