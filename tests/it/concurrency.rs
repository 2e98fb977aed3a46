//! Parallel deliveries, as a mail server makes them: many `mailroom
//! process` at once against one database. Every message is stored exactly
//! once, every exit is 0, nobody sees "database is locked", and a message
//! delivered twice at the same moment is filed once and reported
//! `duplicate` once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::{Env, Run};
use crate::util::{message, sqlite};
use mailroom::report::Status;

const WORKERS: usize = 16;

/// Delivers `jobs[i]` (a message number) with one `mailroom process`
/// each, `WORKERS` at a time; returns the runs by job index. With
/// `in_rounds`, the workers take jobs `WORKERS` at a time and start each
/// round together, so neighbouring jobs really overlap.
fn deliver(env: &Env, jobs: &[usize], in_rounds: bool) -> Vec<(usize, Run)> {
    let next = AtomicUsize::new(0);
    let barrier = Barrier::new(WORKERS);
    let rounds = jobs.len().div_ceil(WORKERS);
    let mut results: Vec<(usize, Run)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (next, barrier) = (&next, &barrier);
                s.spawn(move || {
                    let mut out = Vec::new();
                    if in_rounds {
                        for round in 0..rounds {
                            barrier.wait();
                            let i = round * WORKERS + w;
                            if let Some(&n) = jobs.get(i) {
                                out.push((i, env.process(&message(n))));
                            }
                        }
                    } else {
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(&n) = jobs.get(i) else { break };
                            out.push((i, env.process(&message(n))));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results
}

fn assert_clean(run: &Run) {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    assert!(!run.stdout.contains("locked"), "{}", run.stdout);
}

/// Runs one `mailroom process FILE...` per list, all at once; returns
/// each invocation's run and the message numbers in its order.
fn deliver_batches(env: &Env, lists: &[Vec<usize>]) -> Vec<(Vec<usize>, Run)> {
    for n in lists.iter().flatten() {
        let path = env.path(&format!("m{n}.eml"));
        if !path.exists() {
            std::fs::write(&path, message(*n)).expect("write message");
        }
    }
    let barrier = Barrier::new(lists.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = lists
            .iter()
            .map(|list| {
                let barrier = &barrier;
                s.spawn(move || {
                    let files: Vec<String> = list
                        .iter()
                        .map(|n| env.path(&format!("m{n}.eml")).display().to_string())
                        .collect();
                    let mut args = vec!["process"];
                    args.extend(files.iter().map(String::as_str));
                    let cmd = env.command(&args);
                    barrier.wait();
                    (list.clone(), crate::util::run(cmd, b""))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("invocation"))
            .collect()
    })
}

/// 1,000 distinct messages over 16 invocations that start together (one
/// fresh database, so they also race to create it).
#[test]
fn sixteen_parallel_invocations_store_a_thousand_messages_exactly_once() {
    let env = Env::with_example_config();
    let lists: Vec<Vec<usize>> = (0..WORKERS)
        .map(|w| (0..1000).filter(|n| n % WORKERS == w).collect())
        .collect();
    let runs = deliver_batches(&env, &lists);
    for (list, run) in &runs {
        assert_clean(run);
        let reports = run.reports();
        assert_eq!(reports.len(), list.len());
        assert!(reports.iter().all(|r| r.status == Status::Processed));
    }
    assert_stored_once(&env, 1000);
}

/// Invocations in pairs deliver the same messages in the same order, so
/// every message is delivered twice at the same moment.
#[test]
fn parallel_invocations_delivering_the_same_messages_store_each_once() {
    let env = Env::with_example_config();
    let per_pair = 40;
    let lists: Vec<Vec<usize>> = (0..WORKERS)
        .map(|w| {
            let pair = w / 2;
            (pair * per_pair..(pair + 1) * per_pair).collect()
        })
        .collect();
    let runs = deliver_batches(&env, &lists);
    let mut statuses: BTreeMap<usize, Vec<Status>> = BTreeMap::new();
    let mut ids: BTreeMap<usize, Vec<Option<i64>>> = BTreeMap::new();
    for (list, run) in &runs {
        assert_clean(run);
        for (n, report) in list.iter().zip(run.reports()) {
            statuses.entry(*n).or_default().push(report.status);
            ids.entry(*n).or_default().push(report.email_id);
        }
    }
    assert_each_once_and_duplicate_once(&statuses, &ids);
    assert_stored_once(&env, WORKERS / 2 * per_pair);
}

fn assert_stored_once(env: &Env, n: usize) {
    // About SQLite itself: many writers at once left the file intact.
    assert_eq!(sqlite::integrity_check(&env.db), "ok");
    let snapshot = env.snapshot();
    assert_eq!(snapshot.emails, n);
    assert_eq!(snapshot.half_filed, 0);
    // One case and one contact per message: no sender or case twice.
    let distinct = |module: &str, key: &str| -> (usize, usize) {
        let records = env.records(module);
        let keys: BTreeSet<String> = records.iter().map(|r| r[key].to_string()).collect();
        (records.len(), keys.len())
    };
    assert_eq!(distinct("cases", "number"), (n, n));
    assert_eq!(distinct("contacts", "email"), (n, n));
}

fn assert_each_once_and_duplicate_once(
    statuses: &BTreeMap<usize, Vec<Status>>,
    ids: &BTreeMap<usize, Vec<Option<i64>>>,
) {
    for (m, s) in statuses {
        let processed = s.iter().filter(|s| **s == Status::Processed).count();
        let duplicate = s.iter().filter(|s| **s == Status::Duplicate).count();
        assert_eq!((processed, duplicate), (1, 1), "message {m}: {s:?}");
        let ids = &ids[m];
        assert_eq!(ids[0], ids[1], "both report the same stored mail");
        assert!(ids[0].is_some());
    }
}

/// The long version: one `mailroom process` per message, as an MTA
/// delivers, 16 at a time (`cargo test -- --ignored`).
#[test]
#[ignore = "long: 1,000 separate invocations; run by .ci/run"]
fn sixteen_parallel_deliveries_of_one_message_each_store_every_message_once() {
    let env = Env::with_example_config();
    let jobs: Vec<usize> = (0..1000).collect();
    let runs = deliver(&env, &jobs, false);
    assert_eq!(runs.len(), jobs.len());
    for (_, run) in &runs {
        assert_clean(run);
        assert_eq!(run.report().status, Status::Processed, "{}", run.stdout);
    }
    assert_stored_once(&env, jobs.len());
}

#[test]
#[ignore = "long: 500 separate invocations; run by .ci/run"]
fn one_message_per_delivery_twice_at_once_is_stored_once() {
    let env = Env::with_example_config();
    let n = 250;
    // Each message twice in a row: the two copies start in the same round.
    let jobs: Vec<usize> = (0..n).flat_map(|m| [m, m]).collect();
    let runs = deliver(&env, &jobs, true);
    assert_eq!(runs.len(), jobs.len());
    let mut statuses: BTreeMap<usize, Vec<Status>> = BTreeMap::new();
    let mut ids: BTreeMap<usize, Vec<Option<i64>>> = BTreeMap::new();
    for (i, run) in &runs {
        assert_clean(run);
        let report = run.report();
        statuses.entry(jobs[*i]).or_default().push(report.status);
        ids.entry(jobs[*i]).or_default().push(report.email_id);
    }
    assert_each_once_and_duplicate_once(&statuses, &ids);
    assert_stored_once(&env, n);
}
