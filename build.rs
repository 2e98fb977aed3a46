//! Optionally links the `mailroom` executable at a fixed address.
//!
//! By default the executable is position-independent (PIE), as every
//! distribution builds programs that read input from strangers: its load
//! address is randomised. That costs start-up time: a PIE of this size
//! carries about 18,600 relative relocations, so at every start the
//! dynamic loader patches 340 KB of pointers, a copy-on-write page fault
//! for each of their 84 pages. A piped delivery is a whole process per
//! message, and the patching measured about 0.35 ms of its 6 to 7 ms
//! (`benches/pipe.py`, README "Pipe speed").
//!
//! Building with `MAILROOM_NO_PIE=1` (Linux with glibc only) links the
//! executable at a fixed address instead: the loader has nothing to patch,
//! and the executable image gives up address randomisation (libraries,
//! stack and heap keep it). The code itself stays position-independent.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let no_pie = std::env::var_os("MAILROOM_NO_PIE").is_some_and(|v| v == "1");
    if no_pie && os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MAILROOM_NO_PIE");
}
