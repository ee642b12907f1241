//! The attributes' compile-time contract: what must compile (and run), and what must fail with
//! a message that points at the offending tokens (`ui-tests/`).
//!
//! The expected messages are pinned to the toolchain of the project's machines (Rust 1.95).
//! After a deliberate change of a message, refresh them with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff of `ui-tests/fail/*.stderr`.

#[test]
fn ui() {
    // The pass cases run as programs; give them a world of three ranks whatever the machine.
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe { std::env::set_var("DLP_THREADS", "3") };
    let cases = trybuild::TestCases::new();
    cases.pass("ui-tests/pass/*.rs");
    cases.compile_fail("ui-tests/fail/*.rs");
}
