//! The README is the manual: its JSON contract and its examples must match
//! the program.

use std::collections::BTreeSet;

use crate::util::{Env, fixture, root};

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The first-column names of the table under `## JSON result`.
fn documented_fields() -> BTreeSet<String> {
    let text = readme();
    let section = text
        .split("\n## JSON result")
        .nth(1)
        .expect("a JSON result section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_result_field_is_documented_and_nothing_else() {
    let env = Env::with_example_config();
    let r = env.process(&fixture("support-request.eml"));
    let value: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("json");
    let actual: BTreeSet<String> = value.as_object().expect("object").keys().cloned().collect();
    assert_eq!(actual, documented_fields());
}

#[test]
fn the_readme_example_result_is_what_the_first_command_prints() {
    let env = Env::with_example_config();
    let r = env.process(&fixture("support-request.eml"));
    let text = readme();
    let section = text.split("\n## JSON result").nth(1).expect("section");
    let example = section
        .split("```json\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("a json example");
    assert_eq!(example.trim(), r.stdout.trim());
}

#[test]
fn the_readme_opens_with_the_two_commands() {
    let text = readme();
    let first_block = text
        .split("```sh\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a sh block");
    assert!(first_block.contains("process") && first_block.contains("rules.example.yaml"));
    assert!(first_block.contains("cargo test --locked"));
}

#[test]
fn the_example_rules_pass_check() {
    let env = Env::with_example_config();
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn the_readme_explain_example_is_what_explain_prints() {
    let env = Env::with_example_config();
    let path = crate::util::fixture_path("support-request.eml");
    let r = env.run(&["explain", path.to_str().unwrap_or_default()], b"");
    let text = readme();
    let section = text.split("\n## Seeing why").nth(1).expect("section");
    let example = section
        .split("```text\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a text example");
    assert_eq!(example, r.stdout);
}
