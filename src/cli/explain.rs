//! Renders a routing decision for people (`explain`) or as JSON
//! (`explain --json`).

use serde_json::json;

use crate::cli::output::printable;
use crate::report::Report;
use crate::route::plan::{Plan, Target};
use crate::rules::condition::Trace;

pub fn json(plan: Option<&Plan>, report: &Report) -> String {
    let value = json!({ "plan": plan, "result": report });
    format!("{value:#}\n")
}

pub fn text(plan: Option<&Plan>, report: &Report) -> String {
    let mut out = String::new();
    let Some(plan) = plan else {
        out.push_str(&format!(
            "not routed: {:?}{}\n",
            report.status,
            report
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
        return out;
    };
    out.push_str(&format!("class: {}\n", plan.class));
    if plan.trace.is_empty() {
        out.push_str("rules: not consulted\n");
    } else {
        out.push_str("rules:\n");
    }
    for (i, r) in plan.trace.iter().enumerate() {
        let line = if r.line > 0 {
            format!(" (line {})", r.line)
        } else {
            " (built-in)".into()
        };
        out.push_str(&format!(
            "  {}. {}{line}: {}\n",
            i + 1,
            printable(&r.rule),
            if r.matched {
                "MATCH, evaluation stops here"
            } else {
                "no match"
            }
        ));
        match &r.condition {
            None => out.push_str("       (no condition: matches every mail)\n"),
            Some(t) => trace(&mut out, t, 7),
        }
    }
    if !plan.thread_search.is_empty() {
        out.push_str("thread evidence:\n");
        for t in &plan.thread_search {
            out.push_str(&format!("  - {}\n", printable(t)));
        }
    }
    out.push_str(&format!(
        "decision: {} (action {}){}\n",
        match plan.outcome {
            crate::route::plan::Outcome::Processed => "processed",
            crate::route::plan::Outcome::Skipped => "skipped",
        },
        plan.action.as_deref().unwrap_or("none"),
        plan.reason
            .as_deref()
            .map(|r| format!(": {}", printable(r)))
            .unwrap_or_default()
    ));
    out.push_str("plan:\n");
    if plan.creates.is_empty() && plan.links.is_empty() {
        out.push_str("  nothing to write\n");
    }
    for (i, c) in plan.creates.iter().enumerate() {
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={:?}", short(&printable(v))))
            .collect();
        out.push_str(&format!(
            "  create #{} {} email={} {}\n",
            i + 1,
            c.module,
            c.email.as_deref().unwrap_or("-"),
            fields.join(" ")
        ));
    }
    let name = |t: &Target| match t {
        Target::Existing(id) => format!("record {id}"),
        Target::New(i) => format!("new #{}", i + 1),
    };
    for l in &plan.links {
        out.push_str(&format!("  link mail -> {} ({:?})\n", name(&l.target), l.op).to_lowercase());
    }
    for r in &plan.relations {
        out.push_str(&format!(
            "  relate {} -> {} as {}\n",
            name(&r.from),
            name(&r.to),
            printable(&r.kind)
        ));
    }
    for id in &plan.reopen {
        out.push_str(&format!("  reopen record {id}\n"));
    }
    for w in &plan.warnings {
        out.push_str(&format!("warning: {}\n", printable(w)));
    }
    out
}

/// Long field values (a description is the whole body) cut for the trace.
fn short(s: &str) -> String {
    const MAX: usize = 50;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn trace(out: &mut String, t: &Trace, indent: usize) {
    let values = if t.values.is_empty() {
        String::new()
    } else {
        format!(
            " <- {}",
            t.values
                .iter()
                .map(|v| format!("{:?}", printable(v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out.push_str(&format!(
        "{}{} {}{values}\n",
        " ".repeat(indent),
        if t.result { "true " } else { "false" },
        printable(&t.condition)
    ));
    for c in &t.children {
        trace(out, c, indent + 2);
    }
}
