//! `mailroom check`: every problem with file:line:column and its source line.

use crate::util::Env;

#[test]
fn the_example_config_is_clean() {
    let env = Env::with_example_config();
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("ok, 6 rule(s), 0 warning(s)"),
        "{}",
        r.stdout
    );
}

#[test]
fn every_problem_is_reported_with_its_position_and_source_line() {
    let env = Env::with_config(
        "mailroom:\n  handel: crm\nlimits:\n  message_bytes: lots\nactions:\n  - name: a\n    do: create_thing\n  - name: b\n    when: { subject: { regex: \"(unclosed\" } }\n    do: skip\n  - name: c\n    when: { colour: red }\n    do: archive\n  - name: d\n    do: create_record\n",
    );
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 78, "{}", r.stdout);
    let file = env.path("rules.yaml").display().to_string();
    for expected in [
        format!("{file}:2:3: unknown key `handel` in `mailroom`"),
        format!("{file}:4:3: `message_bytes` must be a size"),
        format!("{file}:7:5: rule `a`: unknown action `create_thing`"),
        // At the regex itself, not at its key.
        format!("{file}:9:31: rule `b`: invalid regex"),
        format!("{file}:12:13: unknown key `colour`"),
        format!("{file}:14:5: rule `d`: `create_record` needs `module:`"),
    ] {
        assert!(
            r.stdout.contains(&expected),
            "missing {expected:?} in\n{}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains("   7 |     do: create_thing"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("6 error(s)"), "{}", r.stdout);
}

#[test]
fn yaml_syntax_errors_name_line_and_column() {
    let env = Env::with_config("actions:\n  - name: a\n    do: [unclosed\n");
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 78);
    assert!(r.stdout.contains("invalid YAML"), "{}", r.stdout);
    assert!(r.stdout.contains("rules.yaml:"), "{}", r.stdout);
}

#[test]
fn shadowed_rules_are_warnings() {
    let env = Env::with_config(
        "actions:\n  - name: cases\n    when: { suffix: case }\n    do: create_case\n  - name: again\n    when: { suffix: case }\n    do: archive\n  - name: catch all\n    do: archive\n  - name: too late\n    when: { suffix: lead }\n    do: create_lead\n",
    );
    let r = env.run(&["check"], b"");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains(":5:5: warning: rule `again` can never match: rule `cases` before it has the same condition"), "{}", r.stdout);
    assert!(r.stdout.contains(":10:5: warning: rule `too late` can never match: rule `catch all` before it has no condition"), "{}", r.stdout);
    assert!(r.stdout.contains("2 warning(s)"));
}

#[test]
fn check_without_a_config_is_a_usage_error() {
    let env = Env::new();
    assert_eq!(env.run(&["check"], b"").code, 64);
}
