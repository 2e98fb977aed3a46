//! PostgreSQL itself: what several mail servers filing into one database
//! need and SQLite never meets. Each test takes a fresh schema on the
//! server at `MAILROOM_TEST_POSTGRES` (NOT TESTED, a failure under CI,
//! without it), whichever store the rest of the suite runs on.
//!
//! - two hosts delivering at once, the same mail to both at the same
//!   moment and a new sender's two messages to both: each filed once, one
//!   contact per sender;
//! - a delivery waits only for the deliveries it shares a sender, a
//!   thread or a looked-up value with, and one whose lookup finds its key
//!   held waits its turn; other writers wait for every delivery;
//! - the server gone in the middle of a Maildir run, a closed port, a
//!   read-only server: exit 75, mail kept, and filed once when it is back;
//! - a transaction that loses a race runs again; one that always loses
//!   gives up with 75;
//! - a schema newer than the program is refused;
//! - TLS as `sslmode` says;
//! - `migrate-store` both ways, keeping ids, numbers, links and raw bytes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use crate::util::{Env, Run, fill_maildir, fixture, message, names_in, postgres_server};
use mailroom::report::Status;

fn example_in_schema(server: &str) -> Env {
    let mut env = Env::in_schema(server);
    env.config = Some(crate::util::root().join("rules.example.yaml"));
    env
}

/// A support request from `sender@client.example`, with its own
/// Message-ID.
fn from_sender(sender: &str, n: usize) -> Vec<u8> {
    format!(
        "From: {sender} <{sender}@client.example>\r\nTo: crm+case@example.com\r\n\
         Subject: Question {n}\r\nMessage-ID: <{sender}-{n}@client.example>\r\n\r\nQuestion {n}.\r\n"
    )
    .into_bytes()
}

/// The server's URL with `schema`'s search path and `extra` parameters.
fn url_with(env: &Env, extra: &str) -> String {
    format!("{}&{extra}", env.db.display())
}

/// 16 deliveries at a time, alternating between two hosts, each pair of
/// neighbours in the same round: 40 messages each delivered to both hosts
/// at once, and 37 new senders whose two different messages reach the
/// two hosts at once (each sender must get one contact, not two).
#[test]
fn two_hosts_delivering_at_once_file_each_mail_once() {
    let Some(server) = postgres_server() else {
        return;
    };
    let a = example_in_schema(&server);
    let b = a.second_host();
    let mut jobs: Vec<Vec<u8>> = (0..40).flat_map(|n| [message(n), message(n)]).collect();
    jobs.extend((0..37).flat_map(|n| {
        let sender = format!("sender{n}");
        [from_sender(&sender, 1), from_sender(&sender, 2)]
    }));
    let workers = 16;
    let barrier = Barrier::new(workers);
    let runs: Vec<(usize, Run)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (barrier, jobs, a, b) = (&barrier, &jobs, &a, &b);
                s.spawn(move || {
                    let mut out = Vec::new();
                    for round in 0..jobs.len().div_ceil(workers) {
                        barrier.wait();
                        let i = round * workers + w;
                        if let Some(raw) = jobs.get(i) {
                            let host = if i % 2 == 0 { a } else { b };
                            out.push((i, host.process(raw)));
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
    let mut statuses: BTreeMap<usize, Vec<Status>> = BTreeMap::new();
    for (i, run) in &runs {
        assert_eq!(run.code, 0, "delivery {i}: {}", run.stderr);
        assert!(run.stderr.is_empty(), "delivery {i}: {}", run.stderr);
        statuses.entry(i / 2).or_default().push(run.report().status);
    }
    for (pair, s) in &statuses {
        let mut s = s.clone();
        s.sort_by_key(|s| format!("{s:?}"));
        let want: &[Status] = if *pair < 40 {
            &[Status::Duplicate, Status::Processed]
        } else {
            &[Status::Processed, Status::Processed]
        };
        assert_eq!(s, want, "pair {pair}");
    }
    let snapshot = a.snapshot();
    assert_eq!(snapshot.emails, 40 + 2 * 37);
    assert_eq!(snapshot.half_filed, 0);
    let contacts = a.records("contacts");
    assert_eq!(contacts.len(), 40 + 37, "one contact per sender");
    let cases = a.records("cases");
    assert_eq!(cases.len(), 40 + 2 * 37);
    let numbers: std::collections::BTreeSet<String> =
        cases.iter().map(|r| r["number"].to_string()).collect();
    assert_eq!(numbers.len(), cases.len(), "no case number given out twice");
}

/// 20 conversations, each a customer's mail and a colleague's reply to it
/// delivered to two hosts at the same moment: whichever is filed first,
/// the other finds its case (by References, or the reply filed before the
/// mail it answers), so each conversation is one case.
#[test]
fn a_mail_and_its_reply_at_once_make_one_case() {
    let Some(server) = postgres_server() else {
        return;
    };
    let a = example_in_schema(&server);
    let b = a.second_host();
    a.file(&fixture("support-request.eml")); // the schema exists
    let conversation = |n: usize| {
        let root = format!(
            "From: Customer {n} <customer{n}@client.example>\r\nTo: crm+case@example.com\r\n\
             Subject: Printer {n}\r\nMessage-ID: <root-{n}@client.example>\r\n\r\nIt broke.\r\n"
        );
        let reply = format!(
            "From: Colleague {n} <colleague{n}@client.example>\r\nTo: crm+case@example.com\r\n\
             Subject: Re: Printer {n}\r\nMessage-ID: <reply-{n}@client.example>\r\n\
             In-Reply-To: <root-{n}@client.example>\r\nReferences: <root-{n}@client.example>\r\n\r\n\
             Same here.\r\n"
        );
        [root.into_bytes(), reply.into_bytes()]
    };
    let pairs = 20;
    let barrier = Barrier::new(2 * pairs);
    std::thread::scope(|s| {
        for n in 0..pairs {
            for (i, raw) in conversation(n).into_iter().enumerate() {
                let (barrier, host) = (&barrier, if i == 0 { &a } else { &b });
                s.spawn(move || {
                    barrier.wait();
                    let run = host.process(&raw);
                    assert_eq!(run.code, 0, "conversation {n}: {}", run.stderr);
                });
            }
        }
    });
    assert_eq!(a.emails().len(), 1 + 2 * pairs);
    assert_eq!(
        a.records("cases").len(),
        1 + pairs,
        "one case per conversation"
    );
}

/// 16 leads from 16 agency addresses at once, each naming one company
/// (written three ways) that a body rule looks up and creates when it is
/// missing: one organization, not several.
#[test]
fn one_looked_up_value_at_once_makes_one_record() {
    let Some(server) = postgres_server() else {
        return;
    };
    let mut env = Env::in_schema(&server);
    let config = env.path("rules.yaml");
    std::fs::write(
        &config,
        "actions:\n  - name: leads\n    when: { from: { domain: agency.example } }\n    do: create_lead\n    \
         body_rule:\n      always_create: true\n      fields:\n        \"Company name\": \
         { field: organization, module: organizations, match_on: name, on_missing: create }\n",
    )
    .expect("config");
    env.config = Some(config);
    env.add("contacts", &["email=nobody@client.example"]); // the schema exists
    let lead = String::from_utf8(fixture("agency-lead.eml")).expect("utf-8");
    let leads: Vec<Vec<u8>> = (0..16)
        .map(|n| {
            let company = ["Applibase", "APPLIBASE", " applibase "][n % 3];
            lead.replace("leads@agency.example", &format!("agent{n}@agency.example"))
                .replace("<agency-lead-1@", &format!("<agency-lead-{n}@"))
                .replace(
                    "Company name: Applibase",
                    &format!("Company name: {company}"),
                )
                .into_bytes()
        })
        .collect();
    let barrier = Barrier::new(leads.len());
    std::thread::scope(|s| {
        for raw in &leads {
            let (barrier, env) = (&barrier, &env);
            s.spawn(move || {
                barrier.wait();
                let run = env.process(raw);
                assert_eq!(run.code, 0, "{}", run.stderr);
            });
        }
    });
    assert_eq!(env.records("leads").len(), 16);
    assert_eq!(env.records("organizations").len(), 1, "one organization");
}

/// Locks `key` ([`mailroom::store::claim`]) in `session`'s transaction as
/// a delivery does, until that transaction ends.
fn hold_key(session: &mut postgres::Transaction, key: &str) {
    session
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ' ' || $1, 0))",
            &[&key],
        )
        .expect("hold the key");
}

/// A delivery waits only for what it shares with another: while a sender
/// is held, mail from another sender files, and the held sender's waits
/// (here past its busy timeout: 75, nothing filed). A writer that holds
/// the store (`records add`) waits for every delivery under way.
#[test]
fn a_delivery_waits_only_for_what_it_shares_with_another() {
    let Some(server) = postgres_server() else {
        return;
    };
    let env = example_in_schema(&server);
    env.file(&fixture("support-request.eml")); // the schema exists
    let impatient = |args: &[&str], raw: &[u8]| {
        let mut cmd = env.command(args);
        cmd.env("MAILROOM_BUSY_TIMEOUT_MS", "500");
        crate::util::run(cmd, raw)
    };
    let mut client = env.schema.as_ref().expect("a schema").connect();
    let mut session = client.transaction().expect("begin");
    hold_key(
        &mut session,
        &mailroom::store::claim::address("held@client.example"),
    );

    let other = impatient(&["process"], &from_sender("other", 1));
    assert_eq!(
        other.code, 0,
        "another sender files at once: {}",
        other.stderr
    );
    let held = impatient(&["process"], &from_sender("held", 1));
    assert_eq!(held.code, 75, "{}", held.stderr);
    assert!(held.stderr.contains("lock timeout"), "{}", held.stderr);
    assert_eq!(env.emails().len(), 2, "nothing of the held sender filed");

    // As a delivery under way holds the store: shared.
    session
        .execute(
            "SELECT pg_advisory_xact_lock_shared(1836216173, hashtext(current_schema()))",
            &[],
        )
        .expect("hold the store shared");
    let add = impatient(
        &["records", "add", "contacts", "email=x@client.example"],
        b"",
    );
    assert_eq!(
        add.code, 75,
        "records add waits for deliveries: {}",
        add.stderr
    );
    assert_eq!(env.records("contacts").len(), 2);

    session.rollback().expect("release");
    let held = env.process(&from_sender("held", 1));
    assert_eq!(held.code, 0, "{}", held.stderr);
    assert_eq!(held.report().status, Status::Processed);
    env.add("contacts", &["email=x@client.example"]);
    assert_eq!(env.records("contacts").len(), 4);
}

/// A key a lookup asks for that another delivery holds (here the To
/// address an archived mail is looked up by): the delivery runs again,
/// claiming it first, waits its turn, and files once when it is free.
#[test]
fn a_lookup_that_finds_its_key_held_waits_its_turn() {
    let Some(server) = postgres_server() else {
        return;
    };
    let env = example_in_schema(&server);
    let ann = env.add("contacts", &["email=ann@customer.example", "name=Ann"]);
    let mut client = env.schema.as_ref().expect("a schema").connect();
    let mut session = client.transaction().expect("begin");
    hold_key(
        &mut session,
        &mailroom::store::claim::address("ann@customer.example"),
    );
    let run = std::thread::scope(|s| {
        let delivery = s.spawn(|| env.process(&fixture("archive-to-contact.eml")));
        // Until the delivery waits for the key (or ends, which fails below).
        let mut watch = env.schema.as_ref().expect("a schema").connect();
        let key = mailroom::store::claim::address("ann@customer.example");
        loop {
            let waiting: i64 = watch
                .query_one(
                    "SELECT count(*) FROM pg_locks,
                       LATERAL (SELECT hashtextextended(current_schema() || ' ' || $1, 0) AS h) AS k
                     WHERE locktype = 'advisory' AND NOT granted
                       AND classid = ((k.h >> 32) & 4294967295)::oid
                       AND objid = (k.h & 4294967295)::oid",
                    &[&key],
                )
                .expect("pg_locks")
                .get(0);
            if waiting > 0 || delivery.is_finished() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            !delivery.is_finished(),
            "the delivery did not wait for the key"
        );
        session.rollback().expect("release");
        delivery.join().expect("delivery")
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report.status, Status::Processed);
    assert_eq!(
        report.records.iter().map(|r| r.id).collect::<Vec<_>>(),
        [Some(ann)],
        "archived to the contact"
    );
    assert_eq!(env.emails().len(), 1);
}

/// A TCP relay to the server that can be cut: every connection through it
/// is shut down, and new ones are closed at once, until it is up again.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    /// Connections stay open, nothing passes: a server that stopped
    /// answering.
    frozen: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(server_port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, frozen2, open2) = (up.clone(), frozen.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", server_port)) else {
                    continue;
                };
                let mut list = open2.lock().expect("lock");
                for s in [&client, &upstream] {
                    list.extend(s.try_clone().ok());
                }
                for (from, to) in [
                    (client.try_clone(), upstream.try_clone()),
                    (upstream.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(f, t)| Some((f.ok()?, t.ok()?)))
                {
                    // A server farther away: long enough a run to cut it
                    // in the middle.
                    let delay = std::time::Duration::from_millis(1);
                    let frozen = frozen2.clone();
                    std::thread::spawn(move || {
                        let closing = to.try_clone();
                        forward(from, to, delay, &frozen);
                        if let Ok(s) = closing {
                            let _ = s.shutdown(Shutdown::Both);
                        }
                    });
                }
            }
        });
        Relay {
            port,
            up,
            frozen,
            open,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Thawed after a minute at the latest: a program that waits for
    /// ever then gets its answer late and fails the test, rather than
    /// hanging it.
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        let frozen = self.frozen.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(60));
            frozen.store(false, Ordering::SeqCst);
        });
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.frozen.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` into `to` until either ends, after `delay` a read, and
/// holding what it read while `frozen`.
fn forward(
    mut from: impl Read,
    mut to: impl Write,
    delay: std::time::Duration,
    frozen: &AtomicBool,
) {
    let mut buf = [0u8; 16384];
    while let Ok(n) = from.read(&mut buf) {
        std::thread::sleep(delay);
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// The port and the URL's rest (`user:password@host:port/db?...`) of a
/// `postgres://` URL, to point it at another port.
fn through_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (auth, rest) = rest
        .split_once('@')
        .expect("user@host in MAILROOM_TEST_POSTGRES");
    let (_, path) = rest.split_once('/').expect("a database");
    format!("{scheme}://{auth}@127.0.0.1:{port}/{path}")
}

fn server_port(url: &str) -> u16 {
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    host.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(5432)
}

fn maildir(env: &Env, dir: &Path) -> Run {
    env.run(&["maildir", dir.to_str().expect("utf-8")], b"")
}

/// How a test takes the server away.
#[derive(Clone, Copy, PartialEq)]
enum Loss {
    /// Every connection cut, new ones refused.
    Cut,
    /// Connections kept, nothing answered (a stopped server process, a
    /// hung proxy): no TCP timeout fires, mailroom's own deadline must.
    Silence,
}

/// The server goes away while a Maildir run files 120 messages: the run
/// exits 75, what was filed is in `cur/` and the rest still in `new/`;
/// a piped delivery meanwhile is deferred; with the server back, a second
/// run files the rest, each mail once.
fn lost_in_the_middle_of_a_run(loss: Loss) {
    let Some(server) = postgres_server() else {
        return;
    };
    let base = example_in_schema(&server);
    base.file(&fixture("support-request.eml")); // the schema exists
    let relay = Relay::to(server_port(&server));
    let mut env = base.second_host();
    // Short deadlines for a silent server: 1 s to connect, 1 s busy.
    env.db = format!(
        "{}&connect_timeout=1",
        through_port(&base.db.display().to_string(), relay.port)
    )
    .into();
    let run = |args: &[&str], stdin: &[u8]| {
        let mut cmd = env.command(args);
        cmd.env("MAILROOM_BUSY_TIMEOUT_MS", "1000");
        crate::util::run(cmd, stdin)
    };
    let md = env.path("Maildir");
    let md_arg = md.to_str().expect("utf-8").to_string();
    // 12 MB: three batches (a batch is at most 4 MB).
    let messages: Vec<Vec<u8>> = (0..120)
        .map(|n| crate::util::message_with_attachments(n, 1, 100_000))
        .collect();
    let names = fill_maildir(&md, &messages, messages.len());
    let first = std::thread::scope(|s| {
        let first = s.spawn(|| run(&["maildir", &md_arg], b""));
        while names_in(&md, "cur").len() < 20 && !first.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        match loss {
            Loss::Cut => relay.cut(),
            Loss::Silence => relay.freeze(),
        }
        first.join().expect("run")
    });
    assert_eq!(first.code, 75, "{}", first.stderr);
    if loss == Loss::Silence {
        assert!(
            first.stderr.contains("no answer from the server"),
            "{}",
            first.stderr
        );
    }
    let filed = names_in(&md, "cur").len();
    assert!(filed >= 20 && filed < names.len(), "{filed} filed");
    relay.cut(); // the silent one's held statements go too
    relay.restore();
    assert_eq!(base.emails().len(), 1 + filed, "what is in cur/ is filed");

    // Gone again: a piped delivery is deferred too, and says why.
    match loss {
        Loss::Cut => relay.cut(),
        Loss::Silence => relay.freeze(),
    }
    let piped = run(&["process"], &message(1));
    assert_eq!(piped.code, 75, "{}", piped.stderr);
    assert_eq!(piped.stderr.lines().count(), 1, "{}", piped.stderr);
    assert!(!piped.stderr.contains(":mailroom@"), "no password shown");

    relay.cut();
    relay.restore();
    let again = run(&["maildir", &md_arg], b"");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(names_in(&md, "new").is_empty());
    let snapshot = base.snapshot();
    assert_eq!(snapshot.half_filed, 0);
    let distinct: std::collections::BTreeSet<_> = base
        .emails()
        .into_iter()
        .map(|e| e.message_id.unwrap_or_default())
        .collect();
    assert_eq!(snapshot.emails, distinct.len(), "no mail filed twice");
    assert_eq!(names_in(&md, "cur").len(), names.len());
}

#[test]
fn the_server_gone_in_the_middle_of_a_run_keeps_the_rest_for_the_next() {
    lost_in_the_middle_of_a_run(Loss::Cut);
}

#[test]
fn a_server_that_stops_answering_defers_instead_of_hanging() {
    lost_in_the_middle_of_a_run(Loss::Silence);
}

/// Nobody listening: 75, one line naming the server and the refusal
/// (a refused connection is not retried).
#[test]
fn a_closed_port_defers_at_once() {
    let Some(server) = postgres_server() else {
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port(); // dropped: nothing listens there now
    let mut env = Env::new().on_sqlite();
    env.db = through_port(&server, port).into();
    let run = env.process(&fixture("support-request.eml"));
    assert_eq!(run.code, 75, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
}

/// A server (or role) that allows no writes: 75, nothing changed.
#[test]
fn a_read_only_server_defers_and_changes_nothing() {
    let Some(server) = postgres_server() else {
        return;
    };
    let env = example_in_schema(&server);
    env.file(&fixture("support-request.eml"));
    let mut ro = env.second_host();
    ro.db = url_with(&env, "options=-cdefault_transaction_read_only%3Don").into();
    // Both `options`: the search path's and this one.
    ro.db = ro
        .db
        .display()
        .to_string()
        .replace("&options=-c", "%20-c")
        .into();
    let run = ro.process(&fixture("lead-plus-address.eml"));
    assert_eq!(run.code, 75, "{}", run.stderr);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    assert_eq!(env.emails().len(), 1);
}

/// A trigger that fails the first inserts with a serialization failure
/// (SQLSTATE 40001), as a lost race does: the delivery runs again and
/// files the mail once; one that always fails gives up with 75.
#[test]
fn a_transaction_that_loses_a_race_runs_again() {
    let Some(server) = postgres_server() else {
        return;
    };
    let env = example_in_schema(&server);
    env.file(&fixture("support-request.eml"));
    let schema = env.schema.as_ref().expect("a schema");
    // A counter a rolled-back transaction cannot undo: a sequence.
    schema
        .connect()
        .batch_execute(
            "CREATE SEQUENCE attempts;
             CREATE TABLE losing (upto bigint); INSERT INTO losing VALUES (3);
             CREATE FUNCTION lose() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF nextval('attempts') <= (SELECT upto FROM losing) THEN
                 RAISE EXCEPTION 'lost a race (test)' USING ERRCODE = '40001';
               END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER lose BEFORE INSERT ON emails FOR EACH ROW EXECUTE FUNCTION lose();",
        )
        .expect("trigger");
    let won = env.process(&fixture("lead-plus-address.eml"));
    assert_eq!(won.code, 0, "{}", won.stderr);
    assert_eq!(won.report().status, Status::Processed);
    assert_eq!(env.emails().len(), 2);
    let attempts: i64 = schema
        .connect()
        .query_one("SELECT last_value FROM attempts", &[])
        .expect("attempts")
        .get(0);
    assert_eq!(attempts, 4, "three lost, the fourth won");

    schema
        .connect()
        .batch_execute("UPDATE losing SET upto = 1000000")
        .expect("always lose");
    let lost = env.process(&fixture("deal-original.eml"));
    assert_eq!(lost.code, 75, "{}", lost.stderr);
    assert!(
        lost.stderr.contains("gave up after 6 attempts"),
        "{}",
        lost.stderr
    );
    assert_eq!(env.emails().len(), 2);
}

#[test]
fn a_schema_newer_than_this_program_is_refused() {
    let Some(server) = postgres_server() else {
        return;
    };
    let env = example_in_schema(&server);
    env.file(&fixture("support-request.eml"));
    env.schema
        .as_ref()
        .expect("a schema")
        .connect()
        .batch_execute("UPDATE mailroom_schema SET version = version + 1")
        .expect("newer");
    for args in [&["process"][..], &["emails", "list"]] {
        let run = env.run(args, &fixture("lead-plus-address.eml"));
        assert_eq!(run.code, 75, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("newer than this mailroom"),
            "{}",
            run.stderr
        );
    }
}

/// `sslmode=require` encrypts without checking the certificate (Debian's
/// self-signed one); `verify-full` checks it against `sslrootcert`: the
/// system's roots refuse it, the certificate itself as root accepts it
/// for the name it was made for.
#[test]
fn tls_is_used_as_sslmode_says() {
    let Some(server) = postgres_server() else {
        return;
    };
    // Debian's server certificate (package ssl-cert), made for `localhost`.
    let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    if !Path::new(snakeoil).exists() {
        return crate::util::not_tested(
            "TLS",
            "no /etc/ssl/certs/ssl-cert-snakeoil.pem (apt-get install ssl-cert)",
        );
    }
    let env = example_in_schema(&server);
    let mut other = env.second_host();
    let mut n = 0;
    let mut with = |params: &str, host: &str| {
        n += 1;
        other.db = url_with(&env, params)
            .replace("@127.0.0.1:", &format!("@{host}:"))
            .into();
        let raw =
            crate::util::with_message_id(&fixture("support-request.eml"), &format!("tls-{n}@x"));
        other.process(&raw)
    };
    let refused = |run: &Run, why: &str| {
        assert_eq!(run.code, 75, "{}", run.stderr);
        assert!(run.stderr.contains(why), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    };
    let ok = |run: &Run| assert_eq!(run.code, 0, "{}", run.stderr);
    // Encrypted, certificate taken as it is.
    ok(&with("sslmode=require", "127.0.0.1"));
    // The chain against the system's CAs: not one of theirs.
    refused(
        &with("sslmode=verify-full&sslrootcert=system", "localhost"),
        "certificate",
    );
    refused(
        &with("sslmode=verify-ca&sslrootcert=system", "localhost"),
        "certificate",
    );
    // The certificate itself as the root: verify-ca takes it whatever the
    // host is called; verify-full only for the name it was made for.
    let root = format!("sslrootcert={snakeoil}");
    ok(&with(&format!("sslmode=verify-ca&{root}"), "127.0.0.1"));
    refused(
        &with(&format!("sslmode=verify-full&{root}"), "127.0.0.1"),
        "certificate",
    );
    ok(&with(&format!("sslmode=verify-full&{root}"), "localhost"));
    assert_eq!(env.emails().len(), 3);
}

/// Two Maildir runs on two hosts at once, sharing half their messages.
#[test]
fn two_maildir_runs_on_two_hosts_file_each_mail_once() {
    let Some(server) = postgres_server() else {
        return;
    };
    let a = example_in_schema(&server);
    let b = a.second_host();
    let messages: Vec<Vec<u8>> = (0..120).map(message).collect();
    let (ma, mb) = (a.path("Maildir"), b.path("Maildir"));
    for (dir, range) in [(&ma, 0..80), (&mb, 40..120)] {
        crate::util::make_maildir(dir);
        for n in range {
            let name = format!("{}.M{n}P1.test", 1_700_000_000 + n);
            std::fs::write(dir.join("new").join(name), &messages[n]).expect("deliver");
        }
    }
    let (ra, rb) = std::thread::scope(|s| {
        let ra = s.spawn(|| maildir(&a, &ma));
        let rb = s.spawn(|| maildir(&b, &mb));
        (ra.join().expect("a"), rb.join().expect("b"))
    });
    assert_eq!(ra.code, 0, "{}", ra.stderr);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(names_in(&ma, "cur").len(), 80);
    assert_eq!(names_in(&mb, "cur").len(), 80);
    let snapshot = a.snapshot();
    assert_eq!(snapshot.emails, 120);
    assert_eq!(snapshot.half_filed, 0);
    assert_eq!(a.records("contacts").len(), 120);
}

/// Everything a SQLite store holds moves to PostgreSQL and back with the
/// same ids, numbers, links and bytes; the next record gets an id above
/// a deleted one; a store that holds something is not filled, and a
/// missing one is not read.
#[test]
fn migrate_store_moves_everything_both_ways() {
    let Some(server) = postgres_server() else {
        return;
    };
    let mut sqlite = Env::new().on_sqlite();
    sqlite.config = Some(crate::util::root().join("rules.example.yaml"));
    for name in [
        "support-request.eml",
        "lead-plus-address.eml",
        "deal-original.eml",
        "deal-reply.eml",
    ] {
        sqlite.file(&fixture(name));
    }
    let last = sqlite.add("organizations", &["name=Gone Ltd"]);
    let r = sqlite.run(&["records", "delete", &last.to_string()], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);

    let pg = example_in_schema(&server);
    let from = sqlite.db.display().to_string();
    let to = pg.db.display().to_string();
    let moved = sqlite.run(&["migrate-store", &from, &to], b"");
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    let counts = &moved.json()["moved"];
    assert_eq!(counts["emails"], 4);
    assert_eq!(counts["highest_record_id"], last);
    assert!(!moved.stdout.contains(":mailroom@"), "no password shown");

    let same = |args: &[&str]| {
        let a = sqlite.run(args, b"");
        let b = pg.run(args, b"");
        assert_eq!(
            (a.code, b.code),
            (0, 0),
            "{args:?}: {} {}",
            a.stderr,
            b.stderr
        );
        let values = |run: &Run| -> Vec<serde_json::Value> {
            serde_json::Deserializer::from_str(&run.stdout)
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("JSON")
        };
        assert_eq!(values(&a), values(&b), "{args:?}");
    };
    same(&["emails", "list", "--json"]);
    same(&["records", "list", "--json"]);
    for id in 1..=4 {
        let id = id.to_string();
        same(&["emails", "show", &id, "--json"]);
        let raw = |env: &Env| env.run(&["emails", "raw", &id], b"").stdout;
        assert_eq!(raw(&sqlite), raw(&pg), "mail {id}");
    }
    let next = pg.add("organizations", &["name=New Ltd"]);
    assert!(next > last, "record id {last} was given out before");

    // Back again, into a new SQLite file.
    let back = sqlite.path("back.db").display().to_string();
    let r = sqlite.run(&["migrate-store", &to, &back], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json()["moved"]["records"],
        counts["records"].as_u64().unwrap_or(0) + 1
    );

    // Refusals: a store that holds something, a missing one.
    let full = sqlite.run(&["migrate-store", &from, &to], b"");
    assert_eq!(full.code, 65, "{}", full.stderr);
    assert!(full.stderr.contains("already holds"), "{}", full.stderr);
    assert_eq!(pg.emails().len(), 4, "nothing written");
    let missing = sqlite.path("missing.db").display().to_string();
    let r = sqlite.run(&["migrate-store", &missing, &back], b"");
    assert_eq!(r.code, 66, "{}", r.stderr);
}

/// A server on a Unix socket (here a relay to the test server): reached
/// with `host=DIR`, and without TLS whatever `sslmode` says, as libpq
/// does (TLS over a socket fails for want of a host name).
#[test]
fn a_unix_socket_is_reached_without_tls() {
    use std::os::unix::net::UnixListener;
    let Some(server) = postgres_server() else {
        return;
    };
    let env = example_in_schema(&server);
    let dir = env.path("socket");
    std::fs::create_dir(&dir).expect("socket dir");
    let port = server_port(&server);
    let listener = UnixListener::bind(dir.join(format!(".s.PGSQL.{port}"))).expect("bind");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let pairs: [(Box<dyn Read + Send>, Box<dyn Write + Send>); 2] = [
                (
                    Box::new(client.try_clone().expect("clone")),
                    Box::new(upstream.try_clone().expect("clone")),
                ),
                (Box::new(upstream), Box::new(client)),
            ];
            for (from, to) in pairs {
                let never = AtomicBool::new(false);
                std::thread::spawn(move || forward(from, to, std::time::Duration::ZERO, &never));
            }
        }
    });
    let (auth, rest) = server
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .expect("user@host");
    let (_, db) = rest.split_once('/').expect("a database");
    let db = db.split('?').next().unwrap_or_default();
    let schema = &env.schema.as_ref().expect("a schema").name;
    let mut socket = env.second_host();
    for sslmode in ["prefer", "require"] {
        socket.db = format!(
            "postgres://{auth}@/{db}?host={}&port={port}&sslmode={sslmode}&options=-csearch_path%3D{schema}",
            dir.display()
        )
        .into();
        let raw =
            crate::util::with_message_id(&fixture("support-request.eml"), &format!("{sslmode}@x"));
        let run = socket.process(&raw);
        assert_eq!(run.code, 0, "sslmode={sslmode}: {}", run.stderr);
    }
    assert_eq!(env.emails().len(), 2);
}
