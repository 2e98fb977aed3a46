//! Command-line conventions: help with examples, completions, man page,
//! version, verbosity.

mod common;

use common::{Env, fixture};

const SUBCOMMANDS: &[&[&str]] = &[
    &["process"],
    &["check"],
    &["explain"],
    &["emails", "list"],
    &["emails", "show"],
    &["emails", "attachment"],
    &["records", "list"],
    &["records", "show"],
    &["records", "add"],
    &["records", "update"],
    &["body-rule", "learn"],
    &["completions"],
    &["man"],
];

#[test]
fn help_has_examples_everywhere() {
    let env = Env::new();
    let r = env.run(&["--help"], b"");
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
    for cmd in SUBCOMMANDS {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = env.run(&args, b"");
        assert_eq!(r.code, 0, "{cmd:?}");
        assert!(
            r.stdout.contains("Examples:\n  mailroom "),
            "{cmd:?} has no examples:\n{}",
            r.stdout
        );
    }
}

#[test]
fn version_prints_the_crate_version() {
    let r = Env::new().run(&["--version"], b"");
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.trim(),
        format!("mailroom {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for (shell, marker) in [
        ("bash", "_mailroom()"),
        ("zsh", "#compdef mailroom"),
        ("fish", "complete -c mailroom"),
    ] {
        let r = env.run(&["completions", shell], b"");
        assert_eq!(r.code, 0, "{shell}");
        assert!(
            r.stdout.contains(marker),
            "{shell}: {}",
            &r.stdout[..r.stdout.len().min(200)]
        );
        assert!(r.stdout.contains("process"), "{shell}");
    }
    assert_eq!(env.run(&["completions", "tcsh"], b"").code, 64);
}

#[test]
fn the_man_page_comes_from_the_same_definition() {
    let r = Env::new().run(&["man"], b"");
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains(".TH mailroom 1"));
    assert!(
        r.stdout.contains("mailroom\\-process(1)") && r.stdout.contains("\\-\\-config"),
        "{}",
        r.stdout
    );
}

#[test]
fn verbose_and_quiet() {
    let env = Env::new();
    let r = env.run(&["process", "-v"], &fixture("lead-plus-address.eml"));
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains("mailroom: -: processed rule=lead action=create_lead"),
        "{}",
        r.stderr
    );
    let r = env.run(&["process", "-q"], b"");
    assert_eq!(r.code, 65);
    assert_eq!(r.stderr, "");
    let r = env.run(&["process"], b"");
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn postfix_original_recipient_is_the_envelope() {
    let env = Env::new();
    let mut cmd = env.command(&["process"]);
    // To says +lead; Postfix's local delivery says the mail came for +case.
    cmd.env("ORIGINAL_RECIPIENT", "crm+case@example.com");
    let r = common::run(cmd, &fixture("lead-plus-address.eml"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report().action.as_deref(), Some("create_case"));
}

#[test]
fn no_color_anywhere() {
    let env = Env::new();
    let mut cmd = env.command(&["--help"]);
    cmd.env("NO_COLOR", "1");
    let r = common::run(cmd, b"");
    assert!(!r.stdout.contains('\u{1b}'));
}

#[test]
fn maildir_quiet_still_reports_failures() {
    let env = Env::new();
    let missing = env.path("no-such-maildir");
    let r = env.run(
        &["maildir", "--quiet", missing.to_str().unwrap_or_default()],
        b"",
    );
    assert_eq!(r.code, 75);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("no-such-maildir"), "{}", r.stderr);
}

/// The executable is position-independent (ELF type DYN, 3), so its load
/// address is randomised, unless it was built with `-C
/// relocation-model=static` in RUSTFLAGS, which links it at a fixed
/// address (EXEC, 2) for a faster start (build.rs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_executable_is_position_independent_unless_built_otherwise() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_mailroom")).expect("read the executable");
    assert_eq!(&elf[..4], b"\x7fELF");
    let e_type = u16::from_le_bytes([elf[16], elf[17]]);
    let (want, what) = if cfg!(mailroom_fixed_address) {
        (2, "EXEC (built with relocation-model=static)")
    } else {
        (3, "DYN (position-independent)")
    };
    assert_eq!(e_type, want, "ELF type {e_type}: expected {what}");
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("--version")
        .output()
        .expect("run mailroom --version");
    assert!(version.status.success(), "the executable runs");
}

/// Built as `.cargo/config.toml` says (glibc linked in, `crt-static`), the
/// executable names no dynamic loader (no PT_INTERP program header): it
/// starts without loading libc, libm and libgcc_s. Built with
/// `RUSTFLAGS=` it is an ordinary dynamically linked program. The test
/// itself is built with the same flags as the executable.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_executable_needs_no_dynamic_loader_when_built_static() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_mailroom")).expect("read the executable");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&elf[32..40]);
    let (phoff, size, count) = (u64::from_le_bytes(phoff) as usize, u16_at(54), u16_at(56));
    assert!(
        count > 0 && phoff + size * count <= elf.len(),
        "program headers"
    );
    let interp = (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]]) == 3
    });
    if cfg!(target_feature = "crt-static") {
        assert!(!interp, "a crt-static build must not need ld.so");
    } else {
        assert!(interp, "a dynamically linked build names its loader");
    }
}
