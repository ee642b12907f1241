//! The harness of the tests that run child processes (`process`, `mpi`): a test binary that runs
//! itself as a child per scenario, a hang guard on every child, and a list of named checks that
//! ends with the line `N passed, N failed` (what CI reads).

use std::any::Any;
use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The variable that makes the test binary run a scenario as a child instead of its checks.
pub const CHILD_VAR: &str = "DLP_TEST_CHILD";

/// How long a child may run before it counts as hung. Generous: CI machines are shared, and an
/// MPI job of 4 ranks on 2 cores is slow to start.
pub const CHILD_HANG_LIMIT: Duration = Duration::from_secs(60);

/// The entry point of a harness-less test: in a child (`DLP_TEST_CHILD` set) runs that scenario,
/// otherwise runs the checks, which start such children.
pub fn main(child: fn(&str), checks: fn() -> Vec<Check>) {
    match std::env::var(CHILD_VAR) {
        Ok(scenario) => child(&scenario),
        Err(_) => run_checks(checks()),
    }
}

/// What a child did: its exit code (`None` if a signal ended it) and what it printed.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `Ok` if `condition` holds, otherwise an error saying what was expected and what the child did.
pub fn expect(condition: bool, what: &str, outcome: &Outcome) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(format!(
            "{what}\n  exit code: {:?}\n  stdout: {}\n  stderr: {}",
            outcome.code, outcome.stdout, outcome.stderr
        ))
    }
}

/// `Ok` if the child stopped on a configuration error as a user must see it: the exit code of
/// one ([`dlp::ConfigError::EXIT_CODE`]), nothing on stdout, and one line on stderr, `dlp: `
/// and a message that contains `says`, without a panic.
pub fn expect_config_error(outcome: &Outcome, says: &str) -> Result<(), String> {
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    expect(
        outcome.code == Some(dlp::ConfigError::EXIT_CODE)
            && outcome.stdout.is_empty()
            && lines.len() == 1
            && lines[0].starts_with("dlp: ")
            && lines[0].contains(says)
            && !outcome.stderr.contains("panicked at"),
        &format!(
            "exit {}, and one line on stderr: `dlp: ` and a message with {says:?}, no panic",
            dlp::ConfigError::EXIT_CODE
        ),
        outcome,
    )
}

/// Runs `command` to its end with its stdout and stderr captured, and panics, naming `what`
/// (the scenario), if it has not ended within [`CHILD_HANG_LIMIT`]: the hung child is killed.
/// `Err` only if the command cannot start.
///
/// Both pipes are drained while the child runs: a child that prints more than a pipe holds
/// (64 KiB on Linux) would otherwise block on its write and look hung.
pub fn run_child(what: &str, command: &mut Command) -> io::Result<Outcome> {
    run_child_while(what, command, |_| {})
}

/// [`run_child`], calling `meanwhile` with the child once it has started (to signal it, say),
/// under the same hang guard.
pub fn run_child_while(
    what: &str,
    command: &mut Command,
    meanwhile: impl FnOnce(&Child),
) -> io::Result<Outcome> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + CHILD_HANG_LIMIT;
    let stdout = drain(child.stdout.take().expect("a piped stdout"));
    let stderr = drain(child.stderr.take().expect("a piped stderr"));
    meanwhile(&child);
    let status = wait_until(&mut child, deadline).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} hung: no exit within {CHILD_HANG_LIMIT:?}; killed it")
    });
    // A grandchild that outlives the child could keep a pipe open: that is a hang too.
    let collect = |pipe: Receiver<Vec<u8>>, name: &str| {
        // At least a moment, for a child that exited just before the deadline.
        let left = deadline.saturating_duration_since(Instant::now());
        let left = left.max(Duration::from_secs(1));
        let bytes = pipe.recv_timeout(left).unwrap_or_else(|_| {
            panic!("{what} hung: its {name} stayed open after it exited, past {CHILD_HANG_LIMIT:?}")
        });
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Outcome {
        code: status.code(),
        stdout: collect(stdout, "stdout"),
        stderr: collect(stderr, "stderr"),
    })
}

/// Reads `pipe` to its end on a thread of its own; the bytes arrive on the returned channel.
fn drain(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error ends the output early; what was read so far is what the child printed.
        let _ = pipe.read_to_end(&mut bytes);
        let _ = send.send(bytes);
    });
    receive
}

/// The child's exit status, or `None` if it is still running at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A named check; `Err` explains what was seen instead.
pub struct Check {
    name: String,
    body: Box<dyn FnOnce() -> Result<(), String>>,
}

pub fn check(
    name: impl Into<String>,
    body: impl FnOnce() -> Result<(), String> + 'static,
) -> Check {
    Check {
        name: name.into(),
        body: Box::new(body),
    }
}

/// Runs the checks in order, prints each result and the closing `N passed, N failed`, and exits
/// non-zero if any failed. A check that panics (a hung child, a missing example) fails alone:
/// the others still run.
///
/// As with libtest, `cargo test --test NAME -- TEXT` runs only the checks whose name contains
/// `TEXT`.
pub fn run_checks(checks: Vec<Check>) {
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let chosen = |check: &Check| filter.as_ref().is_none_or(|text| check.name.contains(text));
    let mut passed = 0;
    let mut failed = 0;
    for Check { name, body } in checks.into_iter().filter(chosen) {
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(Ok(())) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Ok(Err(why)) => {
                failed += 1;
                println!("test {name} ... FAILED\n{why}");
            }
            Err(panic) => {
                failed += 1;
                println!(
                    "test {name} ... FAILED\n  panicked: {}",
                    panic_message(&*panic)
                );
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "(a panic without a message)"
    }
}
