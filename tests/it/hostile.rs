//! Hostile and broken input: every message of the shared corpus, each cut
//! short at every 97th byte, and generated monsters go through the real
//! binary. Each exits 0 or 65, never panics, and the worst case's peak
//! memory stays under 4× its size (plus the program's own baseline).

use crate::util::run_measuring_memory;
use crate::util::{Env, Run};
use mailroom::report::Status;

/// Exit 0 (stored, possibly `unparsed`) or 65 (refused), no panic, and a
/// result that says which.
fn assert_survives(name: &str, r: &Run) {
    assert!(
        !r.stderr.contains("panicked") && r.code >= 0,
        "{name}: exit {} {}",
        r.code,
        r.stderr
    );
    assert!(
        r.code == 0 || r.code == 65,
        "{name}: exit {}: {}",
        r.code,
        r.stderr
    );
    for line in r.stdout.lines() {
        let report: mailroom::report::Report = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{name}: bad JSON ({e}): {line:.200}"));
        if r.code == 0 {
            assert_ne!(report.status, Status::Failed, "{name}: {:?}", report.reason);
        }
    }
}

/// Headers with a Message-ID of their own: a repeated one would make the
/// message a duplicate, never stored, and its memory would not count.
fn headers(extra: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!(
        "From: Mallory <mallory@evil.example>\r\nTo: crm+case@example.com\r\n\
         Subject: hostile\r\nMessage-ID: <monster-{n}@evil.example>\r\n{extra}"
    )
}

/// The generated cases: name and bytes.
fn monsters() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();

    let mut nul = headers("X-Nul: a\0b\r\n").into_bytes();
    nul.extend_from_slice(b"\r\nbody\0with\0NULs\0\r\n");
    nul.splice(6..6, *b"\0");
    out.push(("NUL bytes", nul));

    let depth = 10_000;
    let mut nested = headers("MIME-Version: 1.0\r\n");
    for i in 0..depth {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    nested.push_str("Content-Type: text/plain\r\n\r\ndeep down\r\n");
    for i in (0..depth).rev() {
        nested.push_str(&format!("--b{i}--\r\n"));
    }
    out.push(("10,000 nested multiparts", nested.into_bytes()));

    let mut nested_rfc822 = headers("MIME-Version: 1.0\r\n");
    for i in 0..2_000 {
        nested_rfc822.push_str(&format!(
            "Content-Type: message/rfc822\r\n\r\nFrom: n{i}@x.example\r\nSubject: level {i}\r\n"
        ));
    }
    nested_rfc822.push_str("\r\nbottom\r\n");
    out.push(("2,000 nested messages", nested_rfc822.into_bytes()));

    let to: Vec<String> = (0..100_000)
        .map(|i| format!("Person {i} <p{i}@many.example>"))
        .collect();
    out.push((
        "100,000-recipient To line",
        format!(
            "From: a@b.example\r\nTo: {}\r\nSubject: everyone\r\n\r\nhi\r\n",
            to.join(", ")
        )
        .into_bytes(),
    ));

    let mega = "x".repeat(1 << 20);
    out.push((
        "1 MB subject",
        format!(
            "{}X-Long: {mega}\r\nSubject: {mega}\r\n\r\nbody\r\n",
            headers("")
        )
        .into_bytes(),
    ));
    let ids: String = (0..40_000).map(|i| format!("<id{i}@x.example> ")).collect();
    out.push((
        "1 MB References",
        format!(
            "{}References: {ids}\r\nIn-Reply-To: {ids}\r\n\r\nbody\r\n",
            headers("")
        )
        .into_bytes(),
    ));
    let folded: String = (0..60_000).map(|i| format!(" fold{i}\r\n")).collect();
    out.push((
        "1 MB folded header",
        format!("{}X-Folded:\r\n{folded}\r\nbody\r\n", headers("")).into_bytes(),
    ));

    let mut bad_utf8 = headers("Content-Type: text/plain; charset=utf-8\r\n").into_bytes();
    bad_utf8.extend_from_slice(b"X-Bad: \xff\xfe\r\nSubject: caf\xe9 \xc3\x28 \xf0\x28\x8c\x28\r\n\r\n\xff\xfe\xfd body \xc0\xaf\r\n");
    out.push(("invalid UTF-8", bad_utf8));
    out.push((
        "unknown and broken charsets",
        format!(
            "{}Subject: =?x-unknown?Q?caf=E9?= =?utf-8?B?////?= =?utf-16?B?2D3eAA?= =?utf-7?Q?+AGEAYgBj-?= =?iso-2022-jp?B?GyRCJEg=?=\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"c\"\r\n\r\n\
             --c\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\nbody\r\n\
             --c\r\nContent-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n2D3e\r\n\
             --c\r\nContent-Type: text/html; charset=\"\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=FF=FE=\r\n=ZZ<b>x</b>\r\n\
             --c\r\nContent-Type: application/octet-stream; name*=bogus''%ZZ%\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64@@@\r\n\
             --c--\r\n",
            headers("")
        )
        .into_bytes(),
    ));
    out.push((
        "empty From",
        b"From: \r\nTo: crm+lead@example.com\r\nSubject: nobody\r\n\r\nbody\r\n".to_vec(),
    ));
    out.push((
        "From <>",
        b"From: <>\r\nTo: crm+lead@example.com\r\nSubject: nobody\r\n\r\nbody\r\n".to_vec(),
    ));
    out.push((
        "only headers",
        headers("X-Last: no blank line, no body").into_bytes(),
    ));
    out.push(("only a body", b"just some words\r\nand more\r\n".to_vec()));
    out.push(("a single colon", b":".to_vec()));
    out.push(("only a blank line then body", b"\r\n\r\nbody".to_vec()));

    let mut many_parts =
        headers("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n");
    for i in 0..10_000 {
        many_parts.push_str(&format!(
            "--p\r\nContent-Type: application/octet-stream; name=\"f{i}\"\r\n\r\n{i}\r\n"
        ));
    }
    many_parts.push_str("--p--\r\n");
    out.push(("10,000 attachments", many_parts.into_bytes()));

    out.push((
        "a 4 MB text body",
        format!(
            "{}\r\n{}",
            headers(""),
            "lorem ipsum dolor sit amet\r\n".repeat(150_000)
        )
        .into_bytes(),
    ));
    out
}

/// Every corpus message and every fixture, cut short at every 97th byte,
/// through the real binary (many files per invocation, so a panic on any
/// of them fails the run).
#[test]
fn every_message_cut_at_every_97th_byte_exits_0_or_65() {
    cut_everything(97, 0);
}

#[test]
#[ignore = "long: every 17th byte; run by .ci/run"]
fn every_message_cut_at_every_17th_byte_exits_0_or_65() {
    cut_everything(17, 0);
}

fn cut_everything(step: usize, seed: usize) {
    let mut sources = crate::util::corpus_files();
    let fixtures = crate::util::root().join("fixtures");
    let mut names: Vec<_> = [fixtures.clone(), fixtures.join("fuzz")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    sources.extend(names);
    let env = Env::with_example_config();
    let dir = env.path("cuts");
    std::fs::create_dir(&dir).expect("dir");
    let mut files = Vec::new();
    for (n, source) in sources.iter().enumerate() {
        let raw = std::fs::read(source).expect("read");
        for (k, at) in (seed % step..raw.len()).step_by(step).enumerate() {
            let path = dir.join(format!("{n}-{k}.eml"));
            std::fs::write(&path, &raw[..at]).expect("write");
            files.push(path.display().to_string());
        }
    }
    assert!(files.len() > 1000, "only {} cuts", files.len());
    for chunk in files.chunks(2000) {
        let mut args = vec!["process"];
        args.extend(chunk.iter().map(String::as_str));
        let r = env.run(&args, b"");
        assert_survives("cuts", &r);
        assert_eq!(r.stdout.lines().count(), chunk.len());
    }
    println!("{} cut messages filed", files.len());
}

/// Peak memory of the worst case stays under 4× its size above what the
/// program needs for a small message.
#[test]
fn generated_monsters_exit_0_or_65_within_bounded_memory() {
    let env = Env::with_example_config();
    let small = env.path("small.eml");
    std::fs::write(&small, crate::util::message(1)).expect("write");
    let (r, baseline) = run_measuring_memory(env.command(&["process"]), &small, env.dir.path());
    assert_survives("small", &r);
    if baseline.is_none() {
        crate::util::not_tested("peak memory", "/usr/bin/time is not installed");
    }

    let mut worst: Option<(&str, usize, u64, f64)> = None;
    let mut over = Vec::new();
    for (name, raw) in monsters() {
        let input = env.path("monster.eml");
        std::fs::write(&input, &raw).expect("write");
        let (r, peak) = run_measuring_memory(env.command(&["process"]), &input, env.dir.path());
        assert_survives(name, &r);
        if r.code == 0 {
            let status = r.report().status;
            assert!(
                status != Status::Duplicate,
                "{name}: a duplicate stores nothing and proves nothing"
            );
        }
        let (Some(peak), Some(baseline)) = (peak, baseline) else {
            continue;
        };
        let growth = peak.saturating_sub(baseline);
        let ratio = growth as f64 / raw.len() as f64;
        println!(
            "{name}: {} bytes in, exit {}, peak RSS {} KB ({} KB over baseline, {ratio:.2}x the input)",
            raw.len(),
            r.code,
            peak / 1024,
            growth / 1024
        );
        if raw.len() >= 100_000 && worst.is_none_or(|w| ratio > w.3) {
            worst = Some((name, raw.len(), peak, ratio));
        }
        // Small inputs may touch fixed costs (charset tables, the SQLite
        // page cache): a fixed 2 MB allowance on top of the 4x.
        if growth > 4 * raw.len() as u64 + 2 * 1024 * 1024 {
            over.push(format!(
                "{name}: peak RSS {peak} bytes is {growth} over the baseline {baseline}, more than 4x its {} bytes",
                raw.len()
            ));
        }
    }
    if let Some((name, len, peak, ratio)) = worst {
        println!(
            "worst case: {name}, {len} bytes, peak RSS {} KB, {ratio:.2}x the input over a baseline of {} KB",
            peak / 1024,
            baseline.unwrap_or(0) / 1024
        );
    }
    assert!(over.is_empty(), "{}", over.join("\n"));
}
