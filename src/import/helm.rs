//! Helm values -> the Prometheus file they make: kube-prometheus-stack's
//! `prometheus.prometheusSpec` (the operator's camelCase remoteWrite,
//! externalLabels, scrapeInterval, additionalScrapeConfigs) or the
//! `prometheus` chart's `serverFiles."prometheus.yml"`, `server.global`,
//! `server.remoteWrite` and `extraScrapeConfigs`. Placeholders (`${name}`,
//! `{{ ... }}`) are filled from `--set` or refused at their position.

use super::Ctx;
use crate::yaml::{self, Entry, Node, Pos, Value};
use std::rc::Rc;

/// prometheus-operator's scrape interval when the spec sets none.
const OPERATOR_SCRAPE_INTERVAL: &str = "30s";

type Rename = &'static [(&'static str, &'static str)];

const KPS: Rename = &[
    ("remote_write", "prometheus.prometheusSpec.remoteWrite"),
    ("scrape_configs", "prometheus.prometheusSpec.additionalScrapeConfigs"),
    ("global.scrape_interval", "prometheus.prometheusSpec.scrapeInterval"),
    ("global.scrape_timeout", "prometheus.prometheusSpec.scrapeTimeout"),
    ("global.external_labels", "prometheus.prometheusSpec.externalLabels"),
];
const CHART: Rename = &[
    ("remote_write", "server.remoteWrite"),
    ("remote_read", "server.remoteRead"),
    ("global", "server.global"),
    ("scrape_configs", "serverFiles.\"prometheus.yml\".scrape_configs"),
    ("rule_files", "serverFiles.\"prometheus.yml\".rule_files"),
    ("alerting", "serverFiles.\"prometheus.yml\".alerting"),
];

/// The Prometheus document the values describe, and how to name its key paths.
pub fn document(ctx: &mut Ctx, values: &Node) -> (Rc<Node>, Rename) {
    let pos = values.pos;
    if let Some(spec) = values.get("prometheus").and_then(|p| p.value.get("prometheusSpec")) {
        return (kube_prometheus_stack(ctx, values, spec), KPS);
    }
    if let Some(files) = values.get("serverFiles") {
        return (prometheus_chart(ctx, values, files), CHART);
    }
    ctx.error(
        pos,
        "",
        "neither kube-prometheus-stack values (prometheus.prometheusSpec) nor the prometheus chart's (serverFiles)".into(),
    );
    (Node::new(pos, Value::Null), &[])
}

fn kube_prometheus_stack(ctx: &mut Ctx, values: &Node, spec: &Entry) -> Rc<Node> {
    let prometheus = values.get("prometheus").map(|p| &p.value);
    let agent = prometheus.and_then(|p| p.get("agentMode"));
    if agent.is_none_or(|a| a.value.text() != Some("true")) {
        let at = agent.map_or(spec.key_pos, |a| a.key_pos);
        ctx.note_left_out(
            at,
            "prometheus.agentMode",
            "not true: a server's rules and alerting are not imported".into(),
        );
    }
    ctx.note_left_out(
        spec.key_pos,
        "prometheus.prometheusSpec",
        "ServiceMonitors, PodMonitors, Probes and ScrapeConfigs (the chart's own for the kubelet, node-exporter, \
         kube-state-metrics, ... and those its selectors match) are the operator's: left out; scrape with kubernetes_sd_configs jobs"
            .into(),
    );
    ctx.note_left_out(
        spec.key_pos,
        "prometheus.prometheusSpec",
        "the operator's external labels `prometheus` and `prometheus_replica`: left out; add them to \
         [global.external_labels] if the receiver relies on them"
            .into(),
    );
    for key in ["additionalServiceMonitors", "additionalPodMonitors"] {
        if let Some(e) = prometheus.and_then(|p| p.get(key)).filter(|e| !matches!(e.value.value, Value::Null))
        {
            ctx.note_left_out(e.key_pos, &format!("prometheus.{key}"), "the operator's: left out".into());
        }
    }
    let spec = &spec.value;
    let mut global = Vec::new();
    for (camel, snake) in [
        ("scrapeInterval", "scrape_interval"),
        ("scrapeTimeout", "scrape_timeout"),
        ("externalLabels", "external_labels"),
    ] {
        if let Some(e) = spec.get(camel) {
            let value = convert(ctx, &e.value, &format!("prometheus.prometheusSpec.{camel}"), false);
            global.push(Entry { key: snake.into(), key_pos: e.key_pos, value });
        }
    }
    if spec.get("scrapeInterval").is_none() {
        // The operator's default (its Prometheus CRD), not Prometheus's 1m.
        let value = Node::new(spec.pos, Value::Scalar { text: OPERATOR_SCRAPE_INTERVAL.into(), plain: true });
        global.push(Entry { key: "scrape_interval".into(), key_pos: spec.pos, value });
    }
    let mut top = vec![Entry {
        key: "global".into(),
        key_pos: spec.pos,
        value: Node::new(spec.pos, Value::Map(global)),
    }];
    if let Some(e) = spec.get("remoteWrite") {
        let value = convert(ctx, &e.value, "prometheus.prometheusSpec.remoteWrite", true);
        top.push(Entry { key: "remote_write".into(), key_pos: e.key_pos, value });
    }
    if let Some(e) = spec.get("additionalScrapeConfigs") {
        let jobs = job_list(ctx, &e.value, "prometheus.prometheusSpec.additionalScrapeConfigs");
        let value = Node::new(e.value.pos, Value::Seq(jobs));
        top.push(Entry { key: "scrape_configs".into(), key_pos: e.key_pos, value });
    }
    Node::new(spec.pos, Value::Map(top))
}

fn prometheus_chart(ctx: &mut Ctx, values: &Node, files: &Entry) -> Rc<Node> {
    let server = values.get("server").map(|s| &s.value);
    let mut top = Vec::new();
    if let Some(global) = server.and_then(|s| s.get("global")) {
        let value = convert(ctx, &global.value, "server.global", false);
        top.push(Entry { key: "global".into(), key_pos: global.key_pos, value });
    }
    let mut jobs: Vec<Rc<Node>> = Vec::new();
    let mut jobs_pos = files.key_pos;
    if let Some(file) = files.value.get("prometheus.yml") {
        for e in match &file.value.value {
            Value::Map(entries) => entries.as_slice(),
            _ => &[],
        } {
            let path = format!("serverFiles.\"prometheus.yml\".{}", e.key);
            let value = convert(ctx, &e.value, &path, false);
            match (e.key.as_str(), &value.value) {
                ("global", _) if top.iter().any(|t| t.key == "global") => {}
                ("scrape_configs", Value::Seq(items)) => {
                    jobs_pos = e.key_pos;
                    jobs.extend(items.iter().cloned());
                }
                _ => top.push(Entry { key: e.key.clone(), key_pos: e.key_pos, value }),
            }
        }
    }
    for (camel, snake) in [("remoteWrite", "remote_write"), ("remoteRead", "remote_read")] {
        if let Some(e) = server.and_then(|s| s.get(camel)) {
            let value = convert(ctx, &e.value, &format!("server.{camel}"), false);
            top.push(Entry { key: snake.into(), key_pos: e.key_pos, value });
        }
    }
    // extraScrapeConfigs: YAML text appended to scrape_configs.
    if let Some(extra) = values.get("extraScrapeConfigs") {
        jobs.extend(job_list(ctx, &extra.value, "extraScrapeConfigs"));
    }
    top.push(Entry {
        key: "scrape_configs".into(),
        key_pos: jobs_pos,
        value: Node::new(jobs_pos, Value::Seq(jobs)),
    });
    Node::new(files.key_pos, Value::Map(top))
}

/// A list of scrape configs: a YAML list, or a string holding one (the charts take
/// both; positions inside a string are its text's own, named as such).
fn job_list(ctx: &mut Ctx, node: &Rc<Node>, path: &str) -> Vec<Rc<Node>> {
    let parsed;
    let node = match node.text() {
        Some(text) if text.trim().is_empty() => return Vec::new(),
        Some(text) => match yaml::parse(text) {
            Ok(doc) => {
                parsed = doc;
                &parsed
            }
            Err(e) if text.contains('\n') => {
                // A block scalar: its text starts at its node's position, indentation removed.
                let at = Pos { line: node.pos.line + e.pos.line - 1, col: node.pos.col + e.pos.col - 1 };
                // A duplicate key's "(first at L:C)" is in the text's own lines.
                let reason = match e.reason.strip_suffix(')').filter(|_| e.reason.contains("(first at ")) {
                    Some(head) => format!("{head} of the text)"),
                    None => e.reason.clone(),
                };
                ctx.error(at, path, format!("in its YAML text: {reason}"));
                return Vec::new();
            }
            Err(e) => {
                let reason = format!("line {} column {} of its text: {}", e.pos.line, e.pos.col, e.reason);
                ctx.error(node.pos, path, reason);
                return Vec::new();
            }
        },
        None => node,
    };
    match &convert(ctx, node, path, false).value {
        Value::Seq(items) => items.clone(),
        Value::Null => Vec::new(),
        _ => {
            ctx.error(node.pos, path, "expected a list of scrape configs".into());
            Vec::new()
        }
    }
}

/// A copy of `node` with placeholders filled (or refused), and with
/// `camel` keys turned into Prometheus's names (the operator's spec).
fn convert(ctx: &mut Ctx, node: &Rc<Node>, path: &str, camel: bool) -> Rc<Node> {
    match &node.value {
        Value::Null => node.clone(),
        Value::Scalar { text, plain } => {
            // A quoted scalar's text starts one column after its quote.
            let start = Pos { line: node.pos.line, col: node.pos.col + usize::from(!*plain) };
            let filled = placeholders(ctx, text, start, path);
            Node::new(node.pos, Value::Scalar { text: filled, plain: *plain })
        }
        Value::Seq(items) => {
            let items = items
                .iter()
                .enumerate()
                .map(|(i, n)| convert(ctx, n, &format!("{path}[{i}]"), camel))
                .collect();
            Node::new(node.pos, Value::Seq(items))
        }
        Value::Map(entries) => {
            let mut out = Vec::new();
            for e in entries {
                let p = format!("{path}.{}", e.key);
                if camel && is_secret_reference(&e.value) {
                    ctx.note_left_out(e.key_pos, &p, "a Secret or ConfigMap reference (the operator mounts it): left out; use a *_file key".into());
                    continue;
                }
                let key = if camel { snake_case(&e.key) } else { e.key.clone() };
                // Header and label names are data, not field names.
                let inner = camel && !matches!(e.key.as_str(), "headers" | "externalLabels");
                let value = convert(ctx, &e.value, &p, inner);
                out.push(Entry { key, key_pos: e.key_pos, value });
            }
            Node::new(node.pos, Value::Map(out))
        }
    }
}

/// The operator's SecretKeySelector (`{name, key}`) or a `{secret: ...}`/`{configMap: ...}` source.
fn is_secret_reference(node: &Node) -> bool {
    let Value::Map(entries) = &node.value else { return false };
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    (keys.contains(&"key") && keys.iter().all(|k| matches!(*k, "name" | "key" | "optional")))
        || keys.iter().any(|k| matches!(*k, "secret" | "configMap"))
}

/// The operator's field names as Prometheus's (`maxShards` -> `max_shards`).
fn snake_case(key: &str) -> String {
    match key {
        "retryOnRateLimit" => return "retry_on_http_429".into(),
        "enableHTTP2" => return "enable_http2".into(),
        "azureAd" => return "azuread".into(),
        "proxyUrl" | "proxyURL" => return "proxy_url".into(),
        _ => {}
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with each `${name}` and `{{ name }}` replaced by its `--set`
/// value; one without is an error at its position (`${1}`, a regex group
/// reference in a replacement, is no placeholder).
fn placeholders(ctx: &mut Ctx, text: &str, pos: Pos, path: &str) -> String {
    let set = ctx.set;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0usize;
    while let Some(start) = rest.find("${").into_iter().chain(rest.find("{{")).min() {
        let (open, close) = if rest[start..].starts_with("${") { ("${", "}") } else { ("{{", "}}") };
        let Some(len) = rest[start + open.len()..].find(close) else { break };
        let name = rest[start + open.len()..start + open.len() + len].trim();
        let end = start + open.len() + len + close.len();
        let is_name =
            open == "{{" || name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        out.push_str(&rest[..start]);
        match set.iter().find(|(n, _)| n == name) {
            Some((_, value)) if is_name => out.push_str(value),
            None if is_name => {
                // Exact on the scalar's first line (where placeholders are).
                let at = Pos { line: pos.line, col: pos.col + offset + rest[..start].chars().count() };
                let reason = format!(
                    "Helm placeholder `{}` is not filled in: give it with --set {name}=VALUE",
                    &rest[start..end]
                );
                ctx.error(at, path, reason);
                out.push_str(&rest[start..end]);
            }
            _ => out.push_str(&rest[start..end]),
        }
        offset += rest[..end].chars().count();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
