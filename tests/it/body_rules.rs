//! Body rules: `Label: value` lines become record fields.

use crate::util::{Env, fixture, fixture_path};
use mailroom::report::Report;

const AGENCY: &str = "mailroom:\n  handle: crm\n  own_addresses: [\"*@example.com\"]\nactions:\n  - name: agency leads\n    when: { from: { domain: agency.example } }\n    do: create_lead\n    set: { source: agency, company: unknown }\n    body_rule:\n      fields:\n        \"Company name\": company\n        \"Contact first name\": first_name\n        \"Contact last name\": last_name\n        \"Job title\": title\n        \"Best Phone\": { field: phone, type: phone }\n        \"Email\": { field: email, type: email }\n        \"City\": city\n        \"Address\": address\n        \"Meeting date\": { field: meeting, type: date }\n        \"Budget\": { field: budget, type: number }\n";

fn lead(env: &Env, r: &Report) -> serde_json::Value {
    let id = r
        .records
        .iter()
        .find(|x| x.module == "leads")
        .and_then(|x| x.id)
        .expect("a lead");
    env.record(id)["record"].clone()
}

#[test]
fn the_plain_example_becomes_fields() {
    let env = Env::with_config(AGENCY);
    let r = env.file(&fixture("agency-lead.eml"));
    let l = lead(&env, &r);
    assert_eq!(
        l["email"], "john@applibase.example",
        "the body's email, not the agency's"
    );
    let f = &l["fields"];
    assert_eq!(f["company"], "Applibase", "the body overrides set:");
    assert_eq!(f["source"], "agency", "set: presets stay");
    assert_eq!(f["first_name"], "John");
    assert_eq!(f["last_name"], "Smith");
    assert_eq!(f["title"], "President & CEO");
    assert_eq!(f["phone"], "2133444234");
    assert_eq!(f["city"], "Newport Beach");
    assert!(
        f.get("name").is_none(),
        "the agency's display name is not the lead's"
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("`Address` (field `address`) not found")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn an_html_table_form_counts_rows_as_lines() {
    let env = Env::with_config(&AGENCY.replace(
        "from: { domain: agency.example }",
        "from: { domain: webform.example }",
    ));
    let r = env.file(&fixture("agency-lead-html.eml"));
    let l = lead(&env, &r);
    assert_eq!(l["email"], "maria@bluegreen.example");
    assert_eq!(l["fields"]["company"], "Blue & Green Ltd");
    assert_eq!(l["fields"]["last_name"], "García");
    assert_eq!(l["fields"]["phone"], "+442079460958");
}

#[test]
fn a_value_continues_on_indented_lines_and_labels_ignore_spacing() {
    let env = Env::with_config(&AGENCY.replace(
        "\"Company name\": company",
        "\"  company   NAME \": company",
    ));
    let r = env.file(&fixture("agency-lead-multiline.eml"));
    let l = lead(&env, &r);
    assert_eq!(
        l["fields"]["address"],
        "507 - 20th Ave. E.\nApt. 2A\nSeattle, WA 98122"
    );
    assert_eq!(l["fields"]["company"], "Northwind   Traders");
}

#[test]
fn bad_values_are_kept_as_text_and_reported() {
    let env = Env::with_config(AGENCY);
    let r = env.file(&fixture("agency-lead-bad-values.eml"));
    let l = lead(&env, &r);
    assert_eq!(l["fields"]["email"], "not-an-address", "kept as text");
    assert_eq!(
        l["email"], "leads@agency.example",
        "the sender fills the primary email"
    );
    assert_eq!(l["fields"]["meeting"], "31.02.2027");
    assert_eq!(l["fields"]["budget"], "lots");
    let w = r.warnings.join("\n");
    assert!(
        w.contains("`Email` for field `email`: `not-an-address` is not an email address"),
        "{w}"
    );
    assert!(w.contains("`Meeting date` for field `meeting`"), "{w}");
    assert!(w.contains("`Budget` for field `budget`"), "{w}");
    assert!(
        w.contains("label `Favourite colour` is not configured"),
        "{w}"
    );
    assert!(
        w.contains("label `City` (field `city`) not found in the body"),
        "{w}"
    );
}

#[test]
fn always_create_on_and_off_for_the_same_sender() {
    let second = String::from_utf8(fixture("agency-lead-bad-values.eml"))
        .expect("utf8")
        .replace("<agency-lead-3@", "<agency-lead-4@")
        .replace("Contoso", "Fabrikam");
    // Off (the default): the sender repeats, so the lead is linked again.
    let env = Env::with_config(AGENCY);
    env.file(&fixture("agency-lead-bad-values.eml"));
    let r = env.file(second.as_bytes());
    assert_eq!(r.records[0].op, mailroom::route::plan::Op::Linked);
    assert_eq!(env.records("leads").len(), 1);
    // On: one lead per mail.
    let env = Env::with_config(&format!("{AGENCY}      always_create: true\n"));
    env.file(&fixture("agency-lead-bad-values.eml"));
    let r = env.file(second.as_bytes());
    assert_eq!(r.records[0].op, mailroom::route::plan::Op::Created);
    assert_eq!(env.records("leads").len(), 2);
}

const LOOKUP: &str = "actions:\n  - name: leads\n    when: { from: { domain: agency.example } }\n    do: create_lead\n    body_rule:\n      always_create: true\n      fields:\n        \"Contact first name\": first_name\n        \"Company name\": { field: organization, module: organizations, match_on: name, on_missing: MISSING }\n";

#[test]
fn a_lookup_finds_the_existing_record() {
    let env = Env::with_config(&LOOKUP.replace("MISSING", "create"));
    let org = env.add("organizations", &["name=APPLIBASE"]);
    let r = env.file(&fixture("agency-lead.eml"));
    assert_eq!(env.records("organizations").len(), 1);
    let l = lead(&env, &r);
    let shown = env.record(l["id"].as_i64().expect("id"));
    let rel: Vec<_> = shown["relations"]
        .as_array()
        .expect("rel")
        .iter()
        .map(|x| (x["kind"].clone(), x["id"].as_i64()))
        .collect();
    assert_eq!(rel, vec![(serde_json::json!("organization"), Some(org))]);
}

#[test]
fn a_lookup_creates_the_missing_record() {
    let env = Env::with_config(&LOOKUP.replace("MISSING", "create"));
    let r = env.file(&fixture("agency-lead.eml"));
    let orgs = env.records("organizations");
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["fields"]["name"], "Applibase");
    assert!(
        r.records
            .iter()
            .any(|x| x.module == "organizations" && x.op == mailroom::route::plan::Op::Created)
    );
    // The next mail naming it finds it.
    let again = String::from_utf8(fixture("agency-lead.eml"))
        .expect("utf8")
        .replace("<agency-lead-1@", "<agency-lead-9@");
    env.file(again.as_bytes());
    assert_eq!(env.records("organizations").len(), 1);
}

#[test]
fn a_lookup_skips_or_refuses_as_configured() {
    let env = Env::with_config(&LOOKUP.replace("MISSING", "skip"));
    let r = env.file(&fixture("agency-lead.eml"));
    assert!(
        r.warnings.iter().any(|w| w
            .contains("no organizations with name `Applibase`; field `organization` left empty")),
        "{:?}",
        r.warnings
    );
    assert!(lead(&env, &r)["fields"].get("organization").is_none());
    assert_eq!(env.records("organizations").len(), 0);

    let env = Env::with_config(&LOOKUP.replace("MISSING", "error"));
    let r = env.file(&fixture("agency-lead.eml"));
    assert_eq!(r.status, mailroom::report::Status::Skipped);
    assert!(
        r.reason
            .as_deref()
            .unwrap_or_default()
            .contains("on_missing: error")
    );
    assert_eq!(env.records("leads").len(), 0);
}

#[test]
fn several_lookup_matches_follow_the_policy() {
    let cfg = LOOKUP.replace("MISSING", "create");
    let env = Env::with_config(&cfg);
    let first = env.add("organizations", &["name=Applibase"]);
    env.add("organizations", &["name=applibase"]);
    let r = env.file(&fixture("agency-lead.eml"));
    assert!(
        r.warnings
            .iter()
            .any(|w| w
                .contains("2 organizations with name `Applibase` match; used the first (record")),
        "{:?}",
        r.warnings
    );
    let shown = env.record(lead(&env, &r)["id"].as_i64().expect("id"));
    assert_eq!(shown["relations"][0]["id"], first);

    let env = Env::with_config(&cfg.replace(
        "on_missing: create",
        "on_missing: create, on_multiple: error",
    ));
    env.add("organizations", &["name=Applibase"]);
    env.add("organizations", &["name=applibase"]);
    let r = env.file(&fixture("agency-lead.eml"));
    assert_eq!(r.status, mailroom::report::Status::Skipped);
}

#[test]
fn body_rules_work_for_every_creating_action() {
    for (action, module) in [
        ("create_lead", "leads"),
        ("create_contact", "contacts"),
        ("create_organization", "organizations"),
        ("create_case", "cases"),
        ("create_opportunity", "opportunities"),
        ("create_record\n    module: signups", "signups"),
    ] {
        let env = Env::with_config(&format!(
            "actions:\n  - name: r\n    do: {action}\n    body_rule:\n      fields: {{ \"Company name\": company, \"City\": city }}\n"
        ));
        let r = env.file(&fixture("agency-lead.eml"));
        let id = r
            .records
            .iter()
            .find(|x| x.module == module)
            .and_then(|x| x.id)
            .unwrap_or_else(|| panic!("{action}: {r:?}"));
        let rec = env.record(id);
        assert_eq!(rec["record"]["fields"]["company"], "Applibase", "{action}");
        assert_eq!(rec["record"]["fields"]["city"], "Newport Beach", "{action}");
    }
}

#[test]
fn learn_prints_labels_and_a_block_that_round_trips() {
    let env = Env::new();
    let sample = fixture_path("agency-lead.eml");
    let r = env.run(
        &["body-rule", "learn", sample.to_str().unwrap_or_default()],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("#   Job title: President & CEO"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("    \"Contact first name\": contact_first_name\n"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("A new lead for you"),
        "a heading without value is no label"
    );
    // Paste the block into a rule: the same fields come out.
    let block: String = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("    {l}\n"))
        .collect();
    let env = Env::with_config(&format!(
        "actions:\n  - name: learned\n    do: create_lead\n{block}"
    ));
    let check = env.run(&["check"], b"");
    assert_eq!(check.code, 0, "{}", check.stdout);
    let r = env.file(&fixture("agency-lead.eml"));
    let l = lead(&env, &r);
    let f = &l["fields"];
    assert_eq!(f["company_name"], "Applibase");
    assert_eq!(f["contact_first_name"], "John");
    assert_eq!(f["contact_last_name"], "Smith");
    assert_eq!(f["job_title"], "President & CEO");
    assert_eq!(f["best_phone"], "213-344-4234");
    assert_eq!(f["city"], "Newport Beach");
    assert_eq!(l["email"], "john@applibase.example");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn learn_reads_plain_text_with_another_delimiter() {
    let env = Env::new();
    let path = env.path("sample.txt");
    std::fs::write(&path, "Name = Ann\nCity = Oslo\n").expect("write");
    let r = env.run(
        &[
            "body-rule",
            "learn",
            path.to_str().unwrap_or_default(),
            "--delimiter",
            "=",
        ],
        b"",
    );
    assert!(r.stdout.contains("  delimiter: \"=\"\n"), "{}", r.stdout);
    assert!(r.stdout.contains("    \"City\": city\n"), "{}", r.stdout);
}
