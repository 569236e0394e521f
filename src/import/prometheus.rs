//! A Prometheus configuration (the YAML tree) -> outpost's TOML tables, key
//! by key: what outpost implements is written under the same name, what it
//! lacks is noted as left out with its position and key path, and where the
//! defaults differ the Prometheus value is written with a comment.

use super::toml_out::{Table, inline, string};
use super::{Ctx, DEFAULT_RECEIVER};
use crate::yaml::{Entry, Node, Pos, Value};

/// Prometheus's queue_config.max_shards default (outpost's is 1).
const PROMETHEUS_MAX_SHARDS: &str = "50";

/// The global limits a job inherits when it sets none (Prometheus's rule).
const INHERITED: [&str; 5] =
    ["body_size_limit", "sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit"];

/// The whole document into the root table.
pub fn document(ctx: &mut Ctx, doc: &Node, root: &mut Table) {
    let Value::Map(entries) = &doc.value else {
        if !doc.is_null() {
            ctx.error(doc.pos, "", format!("expected a mapping at the top, found {}", doc.kind()));
        }
        return write_default_receiver(ctx, root, doc.pos);
    };
    let mut inherited: Vec<(&str, &Node)> = Vec::new();
    if let Some(global) = doc.get("global") {
        root.sub(global_table(ctx, global, &mut inherited));
    }
    let mut wrote_receiver = false;
    for e in entries {
        match e.key.as_str() {
            "global" => {}
            "remote_write" => {
                for (i, rw) in items(ctx, e, "remote_write").into_iter().enumerate() {
                    let path = format!("remote_write[{i}]{}", name_of(rw, &["name", "url"]));
                    root.sub(remote_write(ctx, rw, &path));
                    wrote_receiver = true;
                }
            }
            "scrape_configs" => {
                for (i, job) in items(ctx, e, "scrape_configs").into_iter().enumerate() {
                    let path = format!("scrape_configs[{i}]{}", name_of(job, &["job_name"]));
                    root.sub(scrape_config(ctx, job, &path, &inherited));
                }
            }
            "rule_files" | "alerting" | "remote_read" if is_empty(&e.value) => {}
            "rule_files" => ctx.left_out(root, e, &e.key, "an agent evaluates no rules"),
            "alerting" => ctx.left_out(root, e, &e.key, "an agent sends no alerts"),
            "remote_read" => ctx.left_out(root, e, &e.key, "an agent answers no queries"),
            other => ctx.left_out(root, e, other, &format!("outpost has no `{other}`")),
        }
    }
    if !wrote_receiver {
        write_default_receiver(ctx, root, doc.pos);
    }
}

/// outpost needs a receiver; a server's configuration has none.
fn write_default_receiver(ctx: &mut Ctx, root: &mut Table, pos: Pos) {
    let mut rw = Table::new("remote_write", true);
    rw.comment("The Prometheus file has no remote_write (a server's configuration): outpost's default receiver; set yours.");
    rw.set("url", string(DEFAULT_RECEIVER));
    root.sub(rw);
    ctx.note_left_out(
        pos,
        "remote_write",
        "none in the file: outpost's default receiver written; set yours".into(),
    );
}

/// Whether a value is null, an empty sequence or mapping, or holds only such values.
fn is_empty(node: &Node) -> bool {
    match &node.value {
        Value::Null => true,
        Value::Scalar { .. } => false,
        Value::Seq(items) => items.iter().all(|n| is_empty(n)),
        Value::Map(entries) => entries.iter().all(|e| is_empty(&e.value)),
    }
}

/// ` ("name")` of the first of `keys` the mapping has.
fn name_of(node: &Node, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| node.get(k).and_then(|e| e.value.text().map(str::to_owned)))
        .map_or_else(String::new, |name| format!(" ({name:?})"))
}

/// The entries of a sequence of mappings (null is none).
fn items<'a>(ctx: &mut Ctx, e: &'a Entry, path: &str) -> Vec<&'a Node> {
    match &e.value.value {
        Value::Null => Vec::new(),
        Value::Seq(list) => list
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n.value {
                Value::Map(_) => Some(&**n),
                _ => {
                    ctx.error(
                        n.pos,
                        &format!("{path}[{i}]"),
                        format!("expected a mapping, found {}", n.kind()),
                    );
                    None
                }
            })
            .collect(),
        _ => {
            ctx.error(e.value.pos, path, format!("expected a sequence, found {}", e.value.kind()));
            Vec::new()
        }
    }
}

pub(super) fn entries(node: &Node) -> &[Entry] {
    match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

fn global_table<'a>(ctx: &mut Ctx, global: &'a Entry, inherited: &mut Vec<(&'a str, &'a Node)>) -> Table {
    let mut t = Table::new("global", false);
    let node = &global.value;
    if !matches!(node.value, Value::Map(_) | Value::Null) {
        ctx.error(node.pos, "global", format!("expected a mapping, found {}", node.kind()));
    }
    for e in entries(node) {
        let path = format!("global.{}", e.key);
        match e.key.as_str() {
            "scrape_interval" | "scrape_timeout" => ctx.duration(&mut t, e, &path),
            "external_labels" => ctx.labels(&mut t, e, &path),
            "evaluation_interval" | "rule_query_offset" => {
                t.comment(&format!("{}: {} (an agent evaluates no rules)", e.key, text_of(&e.value)));
            }
            "keep_dropped_targets" => t.comment(&format!(
                "keep_dropped_targets: {} (only Prometheus's targets page)",
                text_of(&e.value)
            )),
            key if INHERITED.contains(&key) => {
                // Checked here, written into each job that sets none.
                let mut scratch = Table::default();
                if key == "body_size_limit" {
                    ctx.size(&mut scratch, e, &path)
                } else {
                    ctx.integer(&mut scratch, e, &path)
                }
                t.comment(&format!("{key}: {}, written into each job that sets none", text_of(&e.value)));
                inherited.push((&e.key, &e.value));
            }
            other => ctx.left_out(&mut t, e, &path, &format!("outpost has no global `{other}`")),
        }
    }
    t
}

pub(super) fn text_of(node: &Node) -> String {
    node.text().map_or_else(|| node.kind().to_string(), str::to_owned)
}

fn scrape_config(ctx: &mut Ctx, job: &Node, path: &str, inherited: &[(&str, &Node)]) -> Table {
    let mut t = Table::new("scrape_configs", true);
    let mut subs: Vec<Table> = Vec::new();
    for e in entries(job) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "job_name" | "metrics_path" | "scheme" => ctx.string(&mut t, e, &p),
            "scrape_interval" | "scrape_timeout" => ctx.duration(&mut t, e, &p),
            "honor_labels" | "honor_timestamps" => ctx.boolean(&mut t, e, &p),
            "sample_limit" | "label_limit" | "label_name_length_limit" | "label_value_length_limit" => {
                ctx.integer(&mut t, e, &p)
            }
            "body_size_limit" => ctx.size(&mut t, e, &p),
            "params" => ctx.params(&mut t, e, &p),
            "static_configs" => {
                for (i, sc) in items(ctx, e, &p).into_iter().enumerate() {
                    subs.push(static_config(ctx, sc, &format!("{p}[{i}]")));
                }
            }
            "file_sd_configs" => {
                for (i, sd) in items(ctx, e, &p).into_iter().enumerate() {
                    subs.push(file_sd(ctx, sd, &format!("{p}[{i}]")));
                }
            }
            "kubernetes_sd_configs" => {
                for (i, sd) in items(ctx, e, &p).into_iter().enumerate() {
                    subs.push(kubernetes_sd(ctx, sd, &format!("{p}[{i}]")));
                }
            }
            "http_sd_configs" => {
                for (i, sd) in items(ctx, e, &p).into_iter().enumerate() {
                    subs.push(http_sd(ctx, sd, &format!("{p}[{i}]")));
                }
            }
            "relabel_configs" | "metric_relabel_configs" => {
                let header = format!("scrape_configs.{}", e.key);
                for (i, rule) in items(ctx, e, &p).into_iter().enumerate() {
                    subs.push(relabel(ctx, rule, &header, &format!("{p}[{i}]")));
                }
            }
            key if key.ends_with("_sd_configs") => {
                let what = key.trim_end_matches("_sd_configs");
                ctx.left_out(&mut t, e, &p, &format!("outpost has no {what} discovery"));
            }
            _ => {
                if !http_client(ctx, &mut t, e, &p) && !default_only(ctx, &mut t, e, &p, SCRAPE_DEFAULTS) {
                    ctx.left_out(&mut t, e, &p, &format!("outpost has no `{}` in a scrape config", e.key));
                }
            }
        }
    }
    for (key, value) in inherited {
        match value.text() {
            Some(text) if job.get(key).is_none() => {
                let value = if *key == "body_size_limit" { string(text) } else { text.to_string() };
                t.set_noted(key, value, "from Prometheus's global section");
            }
            _ => {}
        }
    }
    if job.get("body_size_limit").is_none() && !inherited.iter().any(|(k, _)| *k == "body_size_limit") {
        t.set_noted("body_size_limit", string("0"), "Prometheus's default: no limit");
    }
    for sub in subs {
        t.sub(sub);
    }
    t
}

/// Keys outpost lacks that are harmless at Prometheus's default value (and
/// what that default is); any other value is left out.
const SCRAPE_DEFAULTS: &[(&str, &str)] = &[
    ("enable_compression", "true"),
    ("follow_redirects", "true"),
    ("enable_http2", "*"),
    ("scrape_native_histograms", "false"),
    ("track_timestamps_staleness", "false"),
    ("keep_dropped_targets", "*"),
    ("target_limit", "0"),
    ("scrape_classic_histograms", "false"),
    ("always_scrape_classic_histograms", "false"),
    ("convert_classic_histograms_to_nhcb", "false"),
];
const REMOTE_WRITE_DEFAULTS: &[(&str, &str)] = &[
    ("send_exemplars", "false"),
    ("send_native_histograms", "false"),
    ("follow_redirects", "true"),
    ("enable_http2", "*"),
    ("round_robin_dns", "false"),
    ("protobuf_message", "prometheus.WriteRequest"),
];

/// A key in `defaults` at its harmless value becomes a comment; true when handled.
fn default_only(ctx: &mut Ctx, t: &mut Table, e: &Entry, path: &str, defaults: &[(&str, &str)]) -> bool {
    let Some((_, default)) = defaults.iter().find(|(k, _)| *k == e.key) else { return false };
    let text = e.value.text().unwrap_or("");
    if *default == "*" || text.eq_ignore_ascii_case(default) {
        t.comment(&format!("{}: {} (outpost behaves so)", e.key, text_of(&e.value)));
    } else {
        ctx.left_out(t, e, path, &format!("outpost has no `{}` other than {default}", e.key));
    }
    true
}

/// basic_auth, authorization, bearer_token(_file), tls_config; true when `e` was one.
fn http_client(ctx: &mut Ctx, t: &mut Table, e: &Entry, path: &str) -> bool {
    match e.key.as_str() {
        "bearer_token_file" => ctx.path(t, e, path),
        "bearer_token" => match e.value.text() {
            Some(token) => t.set("authorization", inline(&[("credentials".into(), string(token))])),
            None => ctx.error(e.value.pos, path, "expected a string".into()),
        },
        "basic_auth" => {
            let v = ctx.inline_map(
                &e.value,
                path,
                &["username", "password"],
                &["username_file", "password_file"],
                &[],
            );
            t.set("basic_auth", v);
        }
        "authorization" => {
            let v = ctx.inline_map(&e.value, path, &["type", "credentials"], &["credentials_file"], &[]);
            t.set("authorization", v);
        }
        "tls_config" => {
            let v = ctx.inline_map(
                &e.value,
                path,
                &["ca", "cert", "key", "server_name"],
                &["ca_file", "cert_file", "key_file"],
                &["insecure_skip_verify"],
            );
            t.set("tls_config", v);
        }
        "oauth2" | "sigv4" | "azuread" | "google_iam" => {
            ctx.left_out(t, e, path, &format!("outpost has no {} authentication", e.key))
        }
        "proxy_url" | "proxy_from_environment" | "proxy_connect_header" | "no_proxy" => {
            ctx.left_out(t, e, path, "outpost has no HTTP proxy support")
        }
        _ => return false,
    }
    true
}

fn static_config(ctx: &mut Ctx, sc: &Node, path: &str) -> Table {
    let mut t = Table::new("scrape_configs.static_configs", true);
    for e in entries(sc) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "targets" => ctx.string_list(&mut t, e, &p, false),
            "labels" => ctx.labels(&mut t, e, &p),
            other => ctx.left_out(&mut t, e, &p, &format!("outpost has no `{other}` in static_configs")),
        }
    }
    t
}

fn file_sd(ctx: &mut Ctx, sd: &Node, path: &str) -> Table {
    let mut t = Table::new("scrape_configs.file_sd_configs", true);
    for e in entries(sd) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "files" => ctx.string_list(&mut t, e, &p, true),
            "refresh_interval" => ctx.duration(&mut t, e, &p),
            other => ctx.left_out(&mut t, e, &p, &format!("outpost has no `{other}` in file_sd_configs")),
        }
    }
    t
}

fn http_sd(ctx: &mut Ctx, sd: &Node, path: &str) -> Table {
    let mut t = Table::new("scrape_configs.http_sd_configs", true);
    for e in entries(sd) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "url" => ctx.string(&mut t, e, &p),
            "refresh_interval" => ctx.duration(&mut t, e, &p),
            other => ctx.left_out(&mut t, e, &p, &format!("outpost has no `{other}` in http_sd_configs")),
        }
    }
    t
}

fn kubernetes_sd(ctx: &mut Ctx, sd: &Node, path: &str) -> Table {
    let mut t = Table::new("scrape_configs.kubernetes_sd_configs", true);
    for e in entries(sd) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "role" => match e.value.text() {
                Some(role @ ("pod" | "node" | "endpoints" | "endpointslice" | "service" | "ingress")) => {
                    t.set("role", string(role))
                }
                _ => ctx.left_out(
                    &mut t,
                    e,
                    &p,
                    &format!("outpost has no kubernetes role {:?}", text_of(&e.value)),
                ),
            },
            "api_server" => ctx.string(&mut t, e, &p),
            "kubeconfig_file" => ctx.path(&mut t, e, &p),
            "namespaces" => {
                let mut pairs = Vec::new();
                for f in entries(&e.value) {
                    let fp = format!("{p}.{}", f.key);
                    match f.key.as_str() {
                        "names" => pairs.push(("names".to_string(), ctx.list(f, &fp, false))),
                        "own_namespace" => {
                            let v = ctx.bool_value(f, &fp);
                            pairs.push(("own_namespace".to_string(), v));
                        }
                        other => ctx.note_left_out(f.key_pos, &fp, format!("outpost has no `{other}` here")),
                    }
                }
                t.set("namespaces", inline(&pairs));
            }
            "selectors" => {
                let mut list = Vec::new();
                for (i, s) in items(ctx, e, &p).into_iter().enumerate() {
                    list.push(ctx.inline_map(s, &format!("{p}[{i}]"), &["role", "label", "field"], &[], &[]));
                }
                t.set("selectors", format!("[{}]", list.join(", ")));
            }
            "attach_metadata" => {
                let v = ctx.inline_map(&e.value, &p, &[], &[], &["node", "namespace"]);
                t.set("attach_metadata", v);
            }
            _ => {
                if !http_client(ctx, &mut t, e, &p) && !default_only(ctx, &mut t, e, &p, SCRAPE_DEFAULTS) {
                    ctx.left_out(
                        &mut t,
                        e,
                        &p,
                        &format!("outpost has no `{}` in kubernetes_sd_configs", e.key),
                    );
                }
            }
        }
    }
    t
}

fn relabel(ctx: &mut Ctx, rule: &Node, header: &str, path: &str) -> Table {
    let mut t = Table::new(header, true);
    for e in entries(rule) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "source_labels" => ctx.string_list(&mut t, e, &p, false),
            "separator" | "target_label" | "regex" | "replacement" => ctx.string(&mut t, e, &p),
            "modulus" => ctx.integer(&mut t, e, &p),
            // Prometheus lowercases the action (relabel.Action's UnmarshalYAML).
            "action" => match e.value.text() {
                Some(a) => t.set("action", string(&a.to_lowercase())),
                None => ctx.error(e.value.pos, &p, format!("expected a string, found {}", e.value.kind())),
            },
            other => ctx.left_out(&mut t, e, &p, &format!("outpost has no `{other}` in a relabel rule")),
        }
    }
    t
}

fn remote_write(ctx: &mut Ctx, rw: &Node, path: &str) -> Table {
    let mut t = Table::new("remote_write", true);
    let mut subs = Vec::new();
    let mut queue = None;
    for e in entries(rw) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "url" | "name" => ctx.string(&mut t, e, &p),
            "remote_timeout" => ctx.duration(&mut t, e, &p),
            "headers" => ctx.labels(&mut t, e, &p),
            "write_relabel_configs" => {
                for (i, rule) in items(ctx, e, &p).into_iter().enumerate() {
                    subs.push(relabel(ctx, rule, "remote_write.write_relabel_configs", &format!("{p}[{i}]")));
                }
            }
            "queue_config" => queue = Some(queue_config(ctx, Some(&e.value), &p)),
            "metadata_config" => {
                let mut m = Table::new("remote_write.metadata_config", false);
                for f in entries(&e.value) {
                    let fp = format!("{p}.{}", f.key);
                    match f.key.as_str() {
                        "send" => ctx.boolean(&mut m, f, &fp),
                        "send_interval" => ctx.duration(&mut m, f, &fp),
                        "max_samples_per_send" => ctx.integer(&mut m, f, &fp),
                        other => ctx.left_out(
                            &mut m,
                            f,
                            &fp,
                            &format!("outpost has no `{other}` in metadata_config"),
                        ),
                    }
                }
                subs.push(m);
            }
            _ => {
                if !http_client(ctx, &mut t, e, &p)
                    && !default_only(ctx, &mut t, e, &p, REMOTE_WRITE_DEFAULTS)
                {
                    ctx.left_out(&mut t, e, &p, &format!("outpost has no `{}` in remote_write", e.key));
                }
            }
        }
    }
    let queue = queue.unwrap_or_else(|| queue_config(ctx, None, &format!("{path}.queue_config")));
    t.sub(queue);
    for sub in subs {
        t.sub(sub);
    }
    t
}

fn queue_config(ctx: &mut Ctx, node: Option<&Node>, path: &str) -> Table {
    let mut t = Table::new("remote_write.queue_config", false);
    for e in node.map_or(&[][..], entries) {
        let p = format!("{path}.{}", e.key);
        match e.key.as_str() {
            "max_samples_per_send" | "min_shards" | "max_shards" => ctx.integer(&mut t, e, &p),
            "batch_send_deadline" | "min_backoff" | "max_backoff" => ctx.duration(&mut t, e, &p),
            "retry_on_http_429" => ctx.boolean(&mut t, e, &p),
            "capacity" => t.comment(&format!(
                "capacity: {} (per-shard samples in Prometheus; outpost's backlog is [buffer])",
                text_of(&e.value)
            )),
            "sample_age_limit" if matches!(e.value.text(), Some("0" | "0s")) => {
                t.comment("sample_age_limit: 0 (Prometheus's default: none)")
            }
            other => ctx.left_out(&mut t, e, &p, &format!("outpost has no `{other}` in queue_config")),
        }
    }
    if node.and_then(|n| n.get("max_shards")).is_none() {
        t.set_noted("max_shards", PROMETHEUS_MAX_SHARDS.into(), "Prometheus's default; outpost's own is 1");
    }
    if node.and_then(|n| n.get("retry_on_http_429")).is_none() {
        t.set_noted("retry_on_http_429", "true".into(), "Prometheus's default, written out");
    }
    t
}
