//! Compiled relabel rules. [`Rule::new`] validates a `relabel_config` as
//! Prometheus's `relabel.Config.Validate` does and compiles its regex fully
//! anchored (`^(?s:pattern)$`), so that applying a rule never fails. The
//! template expansion (`$1`, `${name}`) is Go's `regexp.Expand`.

use crate::model::labels::is_valid_name;
use std::fmt;

/// Prometheus's defaults (`relabel.DefaultRelabelConfig`).
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// What a rule does (Prometheus's `<relabel_action>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches.
    Replace,
    /// Drops the label set unless `regex` matches the joined source values.
    Keep,
    /// Drops the label set when `regex` matches the joined source values.
    Drop,
    /// Drops the label set unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the label set when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to the md5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copies each label whose name matches `regex` to the expanded `replacement`.
    LabelMap,
    /// Removes each label whose name matches `regex`.
    LabelDrop,
    /// Removes each label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the joined source values in lower case.
    Lowercase,
    /// Sets `target_label` to the joined source values in upper case.
    Uppercase,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name in a configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Case-insensitive, as Prometheus reads it ("Replace" is "replace").
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `relabel_config` as written: `None` is a key left out, whose default
/// applies (some actions refuse a key that is written at all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSpec {
    pub source_labels: Option<Vec<String>>,
    pub separator: Option<String>,
    pub regex: Option<String>,
    pub modulus: Option<u64>,
    pub target_label: Option<String>,
    pub replacement: Option<String>,
    pub action: Option<String>,
}

/// A validated rule with its regex compiled; equal when written the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub(super) action: Action,
    pub(super) source_labels: Vec<String>,
    pub(super) separator: String,
    pub(super) regex: Regex,
    /// Greater than 0 for [`Action::HashMod`].
    pub(super) modulus: u64,
    /// A label name, or for [`Action::Replace`] a name template.
    pub(super) target_label: String,
    pub(super) replacement: String,
}

impl Rule {
    /// Validates `spec` with Prometheus's checks, in Prometheus's order, so
    /// the first problem reported is the one Prometheus reports.
    pub fn new(spec: RuleSpec) -> Result<Rule, RuleError> {
        let action = match &spec.action {
            None => Action::Replace,
            Some(name) => Action::parse(name).ok_or_else(|| RuleError::UnknownAction(name.clone()))?,
        };
        let sources_written = spec.source_labels.is_some();
        let source_labels = spec.source_labels.unwrap_or_default();
        if let Some((index, name)) = source_labels.iter().enumerate().find(|(_, n)| !is_valid_name(n)) {
            return Err(RuleError::InvalidSourceLabel { index, name: name.clone() });
        }
        let regex_written = spec.regex.is_some();
        let pattern = spec.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex = Regex::new(pattern)
            .map_err(|e| RuleError::InvalidRegex { pattern: pattern.to_string(), message: e.to_string() })?;
        let rule = Rule {
            action,
            source_labels,
            separator: spec.separator.unwrap_or_else(|| DEFAULT_SEPARATOR.to_string()),
            regex,
            modulus: spec.modulus.unwrap_or(0),
            target_label: spec.target_label.unwrap_or_default(),
            replacement: spec.replacement.unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string()),
        };
        rule.validate(sources_written, regex_written)?;
        Ok(rule)
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The rule with every default filled in, as Prometheus's
    /// `relabel.Config` shows it (the status API; regex as written).
    pub fn shown(&self) -> RuleSpec {
        RuleSpec {
            source_labels: Some(self.source_labels.clone()),
            separator: Some(self.separator.clone()),
            regex: Some(self.regex.pattern.clone()),
            modulus: Some(self.modulus),
            target_label: Some(self.target_label.clone()),
            replacement: Some(self.replacement.clone()),
            action: Some(self.action.as_str().to_owned()),
        }
    }

    /// `relabel.Config.Validate`. keepequal and dropequal refuse a regex
    /// written at all, even "(.*)": Prometheus compares the compiled regex by
    /// identity with the default one.
    fn validate(&self, sources_written: bool, regex_written: bool) -> Result<(), RuleError> {
        use Action::*;
        let action = self.action;
        let one_value = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
        let target = &self.target_label;
        let invalid_target = || RuleError::InvalidTargetLabel { action, target: target.clone() };
        if action == HashMod && self.modulus == 0 {
            return Err(RuleError::ModulusRequired);
        }
        if (one_value || matches!(action, Replace | HashMod)) && target.is_empty() {
            return Err(RuleError::TargetLabelRequired(action));
        }
        if action == Replace && target.contains('$') && !is_name_template(target) {
            return Err(RuleError::InvalidTemplate {
                action,
                field: Field::TargetLabel,
                template: target.clone(),
            });
        }
        if ((action == Replace && !target.contains('$')) || one_value) && !is_valid_name(target) {
            return Err(invalid_target());
        }
        if one_value && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RuleError::ReplacementNotAllowed(action));
        }
        if action == LabelMap && !is_name_template(&self.replacement) {
            let template = self.replacement.clone();
            return Err(RuleError::InvalidTemplate { action, field: Field::Replacement, template });
        }
        if action == HashMod && !is_valid_name(target) {
            return Err(invalid_target());
        }
        let modulus = self.modulus != 0;
        let separator = self.separator != DEFAULT_SEPARATOR;
        let replacement = self.replacement != DEFAULT_REPLACEMENT;
        let extra = match action {
            KeepEqual | DropEqual => [
                (regex_written, Field::Regex),
                (modulus, Field::Modulus),
                (separator, Field::Separator),
                (replacement, Field::Replacement),
            ]
            .into_iter()
            .find(|(written, _)| *written),
            LabelDrop | LabelKeep => [
                (sources_written, Field::SourceLabels),
                (!target.is_empty(), Field::TargetLabel),
                (modulus, Field::Modulus),
                (separator, Field::Separator),
                (replacement, Field::Replacement),
            ]
            .into_iter()
            .find(|(written, _)| *written),
            _ => None,
        };
        match extra {
            Some((_, field)) => Err(RuleError::ExtraField { action, field }),
            None => Ok(()),
        }
    }
}

/// Prometheus's `relabelTargetLegacy`: a label name in which `$1`, `${1}`,
/// `$name` and `${name}` references may stand for letters, e.g. `${1}_total`;
/// it must not start with a digit. Checked before expansion; the expanded
/// name is checked again when the rule is applied.
pub(super) fn is_name_template(template: &str) -> bool {
    let bytes = template.as_bytes();
    // The length of the run of `\w` (ASCII letters, digits, `_`) from `at`.
    let word_len = |at: usize| {
        let rest = bytes.get(at..).unwrap_or_default();
        rest.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count()
    };
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += match b {
            b'$' => match bytes.get(i + 1) {
                Some(b'{') => match word_len(i + 2) {
                    0 => return false,
                    n if bytes.get(i + 2 + n) == Some(&b'}') => n + 3,
                    _ => return false,
                },
                _ => match word_len(i + 1) {
                    0 => return false,
                    n => n + 1,
                },
            },
            b'0'..=b'9' if i == 0 => return false,
            b if b.is_ascii_alphanumeric() || b == b'_' => 1,
            _ => return false,
        };
    }
    i > 0
}

/// Which key of a `relabel_config` an error is about, to point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Action,
    SourceLabels,
    /// One entry of `source_labels`, by index.
    SourceLabel(usize),
    Separator,
    Regex,
    Modulus,
    TargetLabel,
    Replacement,
}

impl Field {
    pub fn key(self) -> &'static str {
        match self {
            Field::Action => "action",
            Field::SourceLabels | Field::SourceLabel(_) => "source_labels",
            Field::Separator => "separator",
            Field::Regex => "regex",
            Field::Modulus => "modulus",
            Field::TargetLabel => "target_label",
            Field::Replacement => "replacement",
        }
    }
}

/// Why a `relabel_config` was refused. Display gives the reason without
/// context; the config loader adds which rule and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownAction(String),
    InvalidSourceLabel {
        index: usize,
        name: String,
    },
    InvalidRegex {
        pattern: String,
        message: String,
    },
    /// hashmod without a modulus, or with 0.
    ModulusRequired,
    TargetLabelRequired(Action),
    InvalidTargetLabel {
        action: Action,
        target: String,
    },
    /// replace's `target_label` or labelmap's `replacement` is not a name template.
    InvalidTemplate {
        action: Action,
        field: Field,
        template: String,
    },
    /// lowercase, uppercase, keepequal and dropequal take no replacement.
    ReplacementNotAllowed(Action),
    /// keepequal and dropequal take only source_labels and target_label;
    /// labeldrop and labelkeep only regex.
    ExtraField {
        action: Action,
        field: Field,
    },
}

impl RuleError {
    /// The key to point at (the rule itself when that key is not written).
    pub fn field(&self) -> Field {
        match self {
            RuleError::UnknownAction(_) => Field::Action,
            RuleError::InvalidSourceLabel { index, .. } => Field::SourceLabel(*index),
            RuleError::InvalidRegex { .. } => Field::Regex,
            RuleError::ModulusRequired => Field::Modulus,
            RuleError::TargetLabelRequired(_) | RuleError::InvalidTargetLabel { .. } => Field::TargetLabel,
            RuleError::InvalidTemplate { field, .. } | RuleError::ExtraField { field, .. } => *field,
            RuleError::ReplacementNotAllowed(_) => Field::Replacement,
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::UnknownAction(name) => {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                write!(f, "unknown action {name:?}: expected one of {}", names.join(", "))
            }
            RuleError::InvalidSourceLabel { name, .. } => {
                write!(f, "invalid label name {name:?} in source_labels: must match [a-zA-Z_][a-zA-Z0-9_]*")
            }
            RuleError::InvalidRegex { pattern, message } => write!(f, "invalid regex {pattern:?}: {message}"),
            RuleError::ModulusRequired => f.write_str("action \"hashmod\" requires a modulus greater than 0"),
            RuleError::TargetLabelRequired(action) => {
                write!(f, "action \"{action}\" requires a target_label")
            }
            RuleError::InvalidTargetLabel { action, target } => write!(
                f,
                "action \"{action}\": target_label {target:?} is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"
            ),
            RuleError::InvalidTemplate { action, field, template } => write!(
                f,
                "action \"{action}\": {} {template:?} is not a label name template (letters, digits, \"_\" \
                 and $1, ${{1}}, $name or ${{name}} references; not starting with a digit)",
                field.key()
            ),
            RuleError::ReplacementNotAllowed(action) => {
                write!(f, "action \"{action}\" does not take a replacement")
            }
            RuleError::ExtraField { action, field } => {
                let allowed = match action {
                    Action::KeepEqual | Action::DropEqual => "source_labels and target_label",
                    _ => "regex",
                };
                write!(f, "action \"{action}\" takes only {allowed}, not {}", field.key())
            }
        }
    }
}

impl std::error::Error for RuleError {}

/// A regex as Prometheus compiles it, `^(?s:pattern)$`: it must match the
/// whole value, and `.` matches newlines too. RE2 syntax, with regex-lite's
/// limits: no Unicode classes (`\pL` is refused at load), `(?i)` folds ASCII only.
#[derive(Clone)]
pub struct Regex {
    /// As written, without the anchors: what equality and Debug show.
    pattern: String,
    anchored: regex_lite::Regex,
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, regex_lite::Error> {
        let anchored = regex_lite::Regex::new(&format!("^(?s:{pattern})$"))?;
        Ok(Regex { pattern: pattern.to_string(), anchored })
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }

    /// Room for the groups of one match; reusable across [`Regex::captures`].
    pub(super) fn locations(&self) -> regex_lite::CaptureLocations {
        self.anchored.capture_locations()
    }

    /// Matches `value`, recording its groups in `groups`.
    pub(super) fn captures(&self, value: &str, groups: &mut regex_lite::CaptureLocations) -> bool {
        self.anchored.captures_read(groups, value).is_some()
    }

    /// Appends `template` to `dst`, with references replaced by the groups of
    /// `value`, as Go's `Regexp.ExpandString`: `$name` takes the longest run of
    /// letters, digits and `_` (`$1x` is group "1x", not `${1}x`); a number
    /// without a leading zero is a group index; a group that does not exist or
    /// did not take part is ""; `$$` is `$`; a malformed `$` is kept as is.
    /// Go's letters and digits are Unicode categories L and Nd; here
    /// `char::is_alphanumeric`, which also counts a few numeric and mark
    /// characters: they differ only for such a character right after a `$name`.
    pub(super) fn expand(
        &self,
        dst: &mut String,
        mut template: &str,
        value: &str,
        groups: &regex_lite::CaptureLocations,
    ) {
        while let Some((before, after)) = template.split_once('$') {
            dst.push_str(before);
            if let Some(rest) = after.strip_prefix('$') {
                dst.push('$');
                template = rest;
                continue;
            }
            let Some((name, rest)) = reference(after) else {
                dst.push('$');
                template = after;
                continue;
            };
            template = rest;
            let index = match group_number(name) {
                Some(index) => Some(index),
                None => self.anchored.capture_names().position(|n| n == Some(name)),
            };
            if let Some((start, end)) = index.and_then(|i| groups.get(i)) {
                dst.push_str(value.get(start..end).unwrap_or(""));
            }
        }
        dst.push_str(template);
    }
}

/// Go's `extract`: the name of a `name` or `{name}` reference at the start of
/// `s` (just after a `$`) and the text after it; `None` when malformed.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len = body.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(body.len());
    if len == 0 {
        return None;
    }
    let (name, rest) = body.split_at(len);
    match braced {
        true => rest.strip_prefix('}').map(|rest| (name, rest)),
        false => Some((name, rest)),
    }
}

/// A reference that is a group index: ASCII digits without a leading zero
/// ("01" is a name, and no group can have it).
fn group_number(name: &str) -> Option<usize> {
    let digits = name.bytes().all(|b| b.is_ascii_digit());
    match digits && !(name.len() > 1 && name.starts_with('0')) {
        true => name.parse().ok(),
        false => None,
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.pattern == other.pattern
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.pattern).finish()
    }
}
