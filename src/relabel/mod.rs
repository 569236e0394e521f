//! Target, metric and write relabeling, with Prometheus's semantics
//! (model/relabel/relabel.go, `<relabel_config>`): [`process`] applies
//! compiled [`Rule`]s in order to a sorted label set and says whether the set
//! is kept. Pure: it never fails, never panics, and touches nothing else.
//! Rules come validated from [`Rule::new`] (the config loader calls it).

mod rule;

pub use rule::{Action, Field, Rule, RuleError, RuleSpec};

use crate::model::Labels;
use crate::model::labels::is_valid_name;
use md5::{Digest, Md5};

/// Applies `rules` in order; `false` means a rule dropped the label set (it
/// is then left part-way through and should be discarded). As Prometheus's
/// `labels.Builder`, setting a label to "" removes it, and a missing source
/// label reads as "".
///
/// One deliberate difference: where labelmap would create a label whose name
/// is not a valid label name (e.g. `$1` expanding to "1x" or ""), that label
/// is skipped, as replace skips an invalid target. Prometheus (legacy names)
/// would create it and then fail the scrape or have the receiver refuse it.
pub fn process(labels: &mut Labels, rules: &[Rule]) -> bool {
    first_drop(labels, rules).is_none()
}

/// As [`process`], and names the rule that dropped the label set: its index
/// in `rules` (what the status API shows for a dropped target).
pub fn first_drop(labels: &mut Labels, rules: &[Rule]) -> Option<usize> {
    let mut value = String::new();
    rules.iter().position(|rule| !apply(labels, rule, &mut value))
}

/// Applies one rule; `false` when it drops the label set (the relabel-steps API).
pub fn apply_one(labels: &mut Labels, rule: &Rule) -> bool {
    apply(labels, rule, &mut String::new())
}

/// One rule; `value` is a buffer for the joined source values, reused across rules.
fn apply(labels: &mut Labels, rule: &Rule, value: &mut String) -> bool {
    value.clear();
    for (i, name) in rule.source_labels.iter().enumerate() {
        if i > 0 {
            value.push_str(&rule.separator);
        }
        value.push_str(labels.get(name).unwrap_or(""));
    }
    let value = value.as_str();
    let target = rule.target_label.as_str();
    match rule.action {
        Action::Keep => return rule.regex.is_match(value),
        Action::Drop => return !rule.regex.is_match(value),
        Action::KeepEqual => return labels.get(target).unwrap_or("") == value,
        Action::DropEqual => return labels.get(target).unwrap_or("") != value,
        Action::Replace => replace(labels, rule, value),
        Action::Lowercase => set(labels, target, value.chars().map(go_lower).collect()),
        Action::Uppercase => set(labels, target, value.chars().map(go_upper).collect()),
        Action::HashMod => {
            // The last 8 bytes of the md5 sum, big-endian, as Prometheus (for
            // the same shard as Prometheus gives the same series).
            let sum: [u8; 16] = Md5::digest(value.as_bytes()).into();
            let [_, _, _, _, _, _, _, _, low @ ..] = sum;
            // Rule::new refuses a zero modulus for hashmod; checked, so a
            // broken invariant cannot divide by zero.
            if let Some(bucket) = u64::from_be_bytes(low).checked_rem(rule.modulus) {
                set(labels, target, bucket.to_string());
            }
        }
        Action::LabelMap => label_map(labels, rule),
        Action::LabelDrop => labels.retain(|l| !rule.regex.is_match(&l.name)),
        Action::LabelKeep => labels.retain(|l| rule.regex.is_match(&l.name)),
    }
    true
}

/// No match: no change. Else the expanded target_label, when it is a valid
/// label name, is set to the expanded replacement ("" removes it).
fn replace(labels: &mut Labels, rule: &Rule, value: &str) {
    let mut groups = rule.regex.locations();
    if !rule.regex.captures(value, &mut groups) {
        return;
    }
    // Without a reference the target is the name Rule::new validated.
    let expanded;
    let target = match rule.target_label.contains('$') {
        false => rule.target_label.as_str(),
        true => {
            let mut name = String::new();
            rule.regex.expand(&mut name, &rule.target_label, value, &groups);
            expanded = name;
            expanded.as_str()
        }
    };
    if !is_valid_name(target) {
        return;
    }
    let mut replacement = String::new();
    rule.regex.expand(&mut replacement, &rule.replacement, value, &groups);
    set(labels, target, replacement);
}

/// Every label whose name matches is copied to the expanded replacement.
/// Names and values are read before any is written, as Prometheus ranges
/// over a snapshot; when two map to one name, the later in sort order wins.
fn label_map(labels: &mut Labels, rule: &Rule) {
    let mut groups = rule.regex.locations();
    let mut copies = Vec::new();
    for label in labels.iter() {
        if rule.regex.captures(&label.name, &mut groups) {
            let mut name = String::new();
            rule.regex.expand(&mut name, &rule.replacement, &label.name, &groups);
            if is_valid_name(&name) {
                copies.push((name, label.value.clone()));
            }
        }
    }
    for (name, value) in copies {
        set(labels, &name, value);
    }
}

/// `labels.Builder.Set`: an empty value removes the label.
fn set(labels: &mut Labels, name: &str, value: String) {
    if value.is_empty() {
        labels.remove(name);
    } else {
        labels.set(name.to_string(), value);
    }
}

/// Go's `unicode.ToLower`, the simple one-to-one mapping. Rust's full mapping
/// differs only for 'İ' (to "i̇"), whose simple lower case is 'i'.
fn go_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `unicode.ToUpper`, the simple one-to-one mapping. Where Rust's full
/// mapping gives several characters ('ß' to "SS"), Go keeps the character,
/// except the Greek letters with ypogegrammeni, which map to their
/// prosgegrammeni capital ('ᾳ' to 'ᾼ', not "ΑΙ").
fn go_upper(c: char) -> char {
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(upper), None) => upper,
        _ => {
            let code = u32::from(c);
            let simple = match code {
                0x1F80..=0x1FAF if code & 0x8 == 0 => code + 8,
                0x1FB3 | 0x1FC3 | 0x1FF3 => code + 9,
                _ => code,
            };
            char::from_u32(simple).unwrap_or(c)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
