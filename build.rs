//! Tells the tests whether the executable was linked at a fixed address.
//!
//! By default the executable is position-independent (PIE), as every
//! distribution builds programs that read input from strangers: its load
//! address is randomised. That costs start-up time: a PIE of this size
//! carries about 19,000 relative relocations, so at every start about 90
//! pages of pointers are patched, a copy-on-write page fault each. A piped
//! delivery is a whole process per message (README, "Pipe speed").
//!
//! An installation that values the start-up time over the executable's
//! address randomisation builds it with a fixed address:
//! `RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
//! cargo build --release --locked` (statically linked, as by default on
//! Linux with glibc) or `RUSTFLAGS="-C relocation-model=static"`
//! (dynamically linked). RUSTFLAGS reaches only the programs, not the
//! proc-macros, because `.cargo/config.toml` builds for the host as if
//! cross-compiling. This script sets `cfg(mailroom_fixed_address)` for
//! such a build, so `tests/cli.rs` checks the ELF type it should have.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mailroom_fixed_address)");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags
        .split('\x1f')
        .any(|flag| flag.ends_with("relocation-model=static"))
    {
        println!("cargo::rustc-cfg=mailroom_fixed_address");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
