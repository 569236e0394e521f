use super::*;

fn addresses(g: &Group) -> Vec<&str> {
    g.targets.iter().map(|t| t.get("__address__").unwrap_or("")).collect()
}

#[test]
fn prometheus_format_with_sources_and_filepath() {
    let text = r#"[
        {"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod"}},
        {"targets": ["10.0.0.3:9100"]}
    ]"#;
    let groups = parse(text, "/etc/sd/a.json").expect("valid");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, "/etc/sd/a.json:0");
    assert_eq!(groups[1].source, "/etc/sd/a.json:1");
    assert_eq!(addresses(&groups[0]), ["10.0.0.1:9100", "10.0.0.2:9100"]);
    assert_eq!(
        groups[0].labels,
        Labels::from_pairs([("__meta_filepath", "/etc/sd/a.json"), ("env", "prod")])
    );
    assert_eq!(groups[1].labels, Labels::from_pairs([("__meta_filepath", "/etc/sd/a.json")]));
}

#[test]
fn what_prometheus_accepts_as_empty() {
    // Go's decoder: a missing key is empty, `null` is no groups.
    let groups = parse(r#"[{"labels": {"a": "b"}}]"#, "f.json").expect("missing targets is empty");
    assert_eq!(groups.len(), 1);
    assert!(groups[0].targets.is_empty());
    assert_eq!(parse("[]", "f.json"), Ok(vec![]));
    assert_eq!(parse("null", "f.json"), Ok(vec![]));
}

#[test]
fn bad_files_are_errors_with_a_position() {
    let cases = [
        ("", "EOF while parsing a value at line 1 column 0"),
        ("   \n", "EOF while parsing a value at line 2 column 0"),
        ("[{\"targets\": [\"a:1\"]", "EOF while parsing an object at line 1 column 20"),
        ("[{\"targets\": [\"a:1\",]}]", "trailing comma at line 1 column 21"),
        ("{\"targets\": [\"a:1\"]}", "invalid type: map, expected a sequence at line 1 column 0"),
        (
            "[{\"target\": [\"a:1\"]}]",
            "unknown field `target`, expected `targets` or `labels` at line 1 column 10",
        ),
        ("[{\"targets\": \"a:1\"}]", "invalid type: string \"a:1\", expected a sequence at line 1 column 18"),
        ("[{\"targets\": [1]}]", "invalid type: integer `1`, expected a string at line 1 column 15"),
        (
            "[{\"targets\": [], \"labels\": {\"a\": 1}}]",
            "invalid type: integer `1`, expected a string at line 1 column 34",
        ),
        ("[null]", "group 0: null target group"),
        (
            "[{}, {\"labels\": {\"1a\": \"x\"}}]",
            "group 1: invalid label name \"1a\": must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            "[{\"labels\": {\"a-b\": \"x\"}}]",
            "group 0: invalid label name \"a-b\": must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            "[{\"labels\": {\"\": \"x\"}}]",
            "group 0: invalid label name \"\": must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(text, want)| parse(text, "f.json") != Err(want.to_string()))
        .map(|(text, _)| format!("{text:?} -> {:?}", parse(text, "f.json")))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn wildcards_match_as_go_filepath_match() {
    let cases = [
        ("*.json", "a.json", true),
        ("*.json", ".json", true),
        ("*.json", "a.json.bak", false),
        ("*.json", "a.yml", false),
        ("a*b*.json", "axxbyy.json", true),
        ("a*b*.json", "ab.json", true),
        ("a*b*.json", "ba.json", false),
        ("node-?.json", "node-1.json", true),
        ("node-?.json", "node-12.json", false),
        ("node-*", "node-", true),
        ("exact.json", "exact.json", true),
        ("exact.json", "exact.jsonx", false),
        ("*", "anything", true),
        ("**x", "x", true),
        ("é*.json", "été.json", true),
    ];
    for (pattern, name, want) in cases {
        assert_eq!(matches(pattern, name), want, "{pattern} ~ {name}");
    }
}

fn reads(files: &[(&str, Result<&str, &str>)]) -> Read {
    files.iter().map(|(p, r)| (PathBuf::from(p), r.map(str::to_owned).map_err(str::to_owned))).collect()
}

#[test]
fn refresh_sends_changes_keeps_bad_files_and_removes_gone_ones() {
    let mut state = State::default();
    let a1 = r#"[{"targets": ["a:1"]}, {"targets": ["a:2"]}]"#;
    let b1 = r#"[{"targets": ["b:1"]}]"#;
    let first = state.refresh(reads(&[("a.json", Ok(a1)), ("b.json", Ok(b1))]));
    assert_eq!(
        first.iter().map(|g| g.source.as_str()).collect::<Vec<_>>(),
        ["a.json:0", "a.json:1", "b.json:0"]
    );

    assert!(state.refresh(reads(&[("a.json", Ok(a1)), ("b.json", Ok(b1))])).is_empty(), "nothing changed");

    // a.json loses its second group; b.json is broken: kept, nothing sent for it.
    let a2 = r#"[{"targets": ["a:1"]}]"#;
    let changed = state.refresh(reads(&[("a.json", Ok(a2)), ("b.json", Ok("[{"))]));
    assert_eq!(changed.len(), 1);
    assert_eq!((changed[0].source.as_str(), changed[0].targets.len()), ("a.json:1", 0));
    assert_eq!(state.files[&PathBuf::from("b.json")].len(), 1, "previous targets kept");
    assert!(state.errors[&PathBuf::from("b.json")].contains("EOF"));

    // Unreadable is like unparsable.
    assert!(state.refresh(reads(&[("a.json", Ok(a2)), ("b.json", Err("permission denied"))])).is_empty());

    // b.json is gone: its source is emptied.
    let changed = state.refresh(reads(&[("a.json", Ok(a2))]));
    assert_eq!(changed.len(), 1);
    assert_eq!((changed[0].source.as_str(), changed[0].targets.len()), ("b.json:0", 0));
    assert!(state.errors.is_empty());

    // A changed group is sent whole.
    let changed = state.refresh(reads(&[("a.json", Ok(r#"[{"targets": ["a:1", "a:3"]}]"#))]));
    assert_eq!(changed.len(), 1);
    assert_eq!(addresses(&changed[0]), ["a:1", "a:3"]);
}

#[test]
fn list_expands_patterns_in_the_last_element() {
    let dir = std::env::temp_dir().join(format!("outpost-file-sd-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub.json")).expect("mkdir");
    for name in ["a.json", "b.json", "c.yml", "node-1.json"] {
        std::fs::write(dir.join(name), "[]").expect("write");
    }
    let found =
        list(&[dir.join("*.json"), dir.join("node-?.json"), dir.join("missing.json"), dir.join("c.yml")]);
    let names: Vec<String> =
        found.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    // Sorted, once each, directories left out, a missing plain path left out.
    assert_eq!(names, ["a.json", "b.json", "c.yml", "node-1.json"]);
    assert!(list(&[dir.join("nowhere/*.json")]).is_empty());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn yaml_files_read_as_prometheus_writes_them() {
    let text = "# targets of site 7\n- targets: ['10.0.0.1:9100', \"10.0.0.2:9100\"]\n  labels:\n    env: prod\n- targets:\n  - 10.0.0.3:9100\n";
    for path in ["/etc/sd/a.yml", "/etc/sd/a.YAML"] {
        let groups = parse(text, path).expect("valid YAML");
        assert_eq!(groups.len(), 2, "{path}");
        assert_eq!(groups[1].source, format!("{path}:1"));
        assert_eq!(addresses(&groups[0]), ["10.0.0.1:9100", "10.0.0.2:9100"]);
        assert_eq!(addresses(&groups[1]), ["10.0.0.3:9100"]);
        assert_eq!(groups[0].labels, Labels::from_pairs([("__meta_filepath", path), ("env", "prod")]));
    }
    // The same document as JSON is not JSON.
    assert!(parse(text, "/etc/sd/a.json").is_err());
    // JSON is YAML: a .yml file may hold it.
    let groups = parse(r#"[{"targets": ["a:1"]}]"#, "f.yml").expect("JSON in a .yml file");
    assert_eq!(addresses(&groups[0]), ["a:1"]);
}

#[test]
fn bad_yaml_files_are_errors_with_a_position() {
    let cases = [
        ("- targets: [a:1\n", "line 2"),
        ("- target: ['a:1']\n", "unknown field `target`, expected `targets` or `labels`"),
        ("targets: ['a:1']\n", "invalid type: map, expected a sequence"),
        ("- targets: ['a:1']\n  labels: {a-b: x}\n", "group 0: invalid label name \"a-b\""),
        ("- targets: ['a:1']\n  labels: {a: [1]}\n", "expected a string"),
        ("- null\n", "group 0: null target group"),
    ];
    for (text, want) in cases {
        let err = parse(text, "f.yaml").expect_err(text);
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn an_empty_yaml_file_has_no_targets() {
    // Go's yaml.UnmarshalStrict leaves the groups nil for an empty document.
    assert_eq!(parse("", "f.yml"), Ok(vec![]));
    assert_eq!(parse("# nothing yet\n", "f.yml"), Ok(vec![]));
}
