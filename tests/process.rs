//! What a user sees from a real program: exit codes and messages on stderr.
//!
//! This test has no libtest harness: it runs itself again as a child process (with
//! `DLP_TEST_CHILD` naming the scenario) whose `main` calls `dlp::run` like a user's program.

mod common;

use common::returns_early_on_rank_one;
use common::runner::{self, Check, Outcome, check, expect};
use std::process::{Command, Stdio};

/// The program each scenario runs as a child.
fn child(scenario: &str) {
    match scenario {
        "sum" => {
            let sum = dlp::run(|| {
                let mine: u64 = dlp::split_managed(0..100u64).sum();
                dlp::reduce(mine, |a, b| a + b)
            });
            println!(
                "size {} sum {}",
                dlp::World::from_env().unwrap().size(),
                sum.unwrap()
            );
        }
        "panic" => dlp::run(|| {
            let mut mine = Vec::new();
            for item in dlp::split_round_robin(0..9) {
                if item == 5 {
                    panic!("broken example");
                }
                mine.push(item);
            }
            dlp::gather(mine);
        }),
        "skipped-collective" => dlp::run(|| {
            if !dlp::is_main() {
                return;
            }
            dlp::barrier();
        }),
        "worker-error" => {
            if let Err(error) = returns_an_error_on_rank_one() {
                panic!("the main rank returned {error}, but it succeeded");
            }
            println!("main returned Ok");
        }
        "watched" => {
            // Two splits of 1000 items, the second with a progress bar, long enough (0.5 s on
            // two ranks) for the bar to appear.
            let counts = dlp::run(|| {
                let first = dlp::split_round_robin(0..1000u32).count();
                let second = dlp::Split::managed()
                    .chunk(7)
                    .progress()
                    .over(0..1000u32)
                    .inspect(|_| std::thread::sleep(std::time::Duration::from_millis(1)))
                    .count();
                dlp::all_reduce((first, second), |a, b| (a.0 + b.0, a.1 + b.1))
            });
            println!("{counts:?}");
        }
        "printing" => {
            // Lines printed while a progress bar is drawn (0.5 s on two ranks; the bar appears
            // after 0.2 s).
            dlp::run(|| {
                dlp::Split::managed()
                    .chunk(1)
                    .progress()
                    .over(0..500u32)
                    .for_each(|item| {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        if item % 20 == 0 {
                            println!("line {item}");
                        }
                    });
            });
            println!("done");
        }
        "outside" => println!("{} {} {}", dlp::rank(), dlp::size(), dlp::is_main()),
        "early-error" => {
            if let Err(error) = returns_early_on_rank_one() {
                println!("main rank returned {error}");
            }
        }
        "stuck" => dlp::run(|| {
            for item in dlp::split_round_robin(0..9u32) {
                if item == 5 {
                    // Rank 2 never comes back from its own code.
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(1));
                    }
                }
            }
            dlp::gather(dlp::rank());
        }),
        "loud" => {
            // Far more than a pipe holds (64 KiB), on both streams, interleaved: a runner that
            // reads the pipes only after the exit would leave this child blocked on a write.
            let (stdout, stderr) = (loud_text("stdout"), loud_text("stderr"));
            for (out, err) in stdout.lines().zip(stderr.lines()) {
                println!("{out}");
                eprintln!("{err}");
            }
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// What the "loud" scenario prints on `stream`: 1 MiB in lines of 64 bytes.
fn loud_text(stream: &str) -> String {
    (0..16 * 1024)
        .map(|line| format!("{stream} line {line:>14} of the loud scenario, 64 bytes long.\n"))
        .collect()
}

/// A `#[dlp::main]` function whose rank 1 fails: the process must not exit 0.
#[dlp::main]
fn returns_an_error_on_rank_one() -> Result<(), String> {
    let mut mine = 0;
    #[par_for]
    for item in 0..10 {
        mine += item;
    }
    let total = dlp::all_reduce(mine, |a, b| a + b);
    if dlp::rank() == 1 {
        return Err(format!("no input file on rank 1 (total {total})"));
    }
    Ok(())
}

/// Runs this test binary as a child on `scenario`, with `env` over a clean dlp environment.
fn run_scenario(scenario: &str, env: &[(&str, &str)]) -> Outcome {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .env(runner::CHILD_VAR, scenario)
        .env_remove("DLP_THREADS")
        .env_remove("DLP_BACKEND")
        .env_remove("RUST_BACKTRACE")
        .env_remove("DLP_REPORT")
        .env_remove("DLP_TRACE")
        .env_remove("DLP_TIMEOUT")
        .env_remove("DLP_PROGRESS")
        .envs(env.iter().copied());
    runner::run_child(&format!("scenario {scenario}"), &mut command).expect("the child starts")
}

/// Runs `scenario` on a pseudo-terminal, as a user's shell would, with `env`: what the terminal
/// shows is `script`'s stdout. `None`, with a note, where there is no `script`.
fn on_terminal(scenario: &str, env: &[(&str, &str)]) -> Option<Outcome> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new("script");
    command
        .args([
            "-qec",
            &format!("{} {scenario}", exe.display()),
            "/dev/null",
        ])
        .env(runner::CHILD_VAR, scenario)
        .env_remove("DLP_REPORT")
        .env_remove("DLP_TRACE")
        .env_remove("DLP_PROGRESS")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let outcome = runner::run_child(&format!("scenario {scenario} on a terminal"), &mut command);
    if outcome.is_err() {
        println!("    (no `script` here to give the child a terminal; skipped that part)");
    }
    outcome.ok()
}

/// The checks that run on every build.
fn checks() -> Vec<Check> {
    let mut checks = vec![
        check(
            "an early error on one rank ends the world, the user's error first",
            || {
                for ranks in ["2", "3", "4"] {
                    let started = std::time::Instant::now();
                    let outcome = run_scenario("early-error", &[("DLP_THREADS", ranks)]);
                    let stderr = &outcome.stderr;
                    let error =
                        stderr.find("dlp: rank 1 returned an error: \"no input file on rank 1\"");
                    let explained = stderr.find("but rank 1 has already returned from the world");
                    expect(
                        outcome.code.is_some_and(|code| code != 0)
                            && started.elapsed() < std::time::Duration::from_secs(10)
                            && matches!((error, explained), (Some(error), Some(explained)) if error < explained),
                        "a non-zero exit within 10 s, the user's error, then why rank 0 stopped",
                        &outcome,
                    )?;
                }
                Ok(())
            },
        ),
        check(
            "a rank stuck in its own code ends the job after DLP_TIMEOUT, with where every rank is",
            || {
                let started = std::time::Instant::now();
                let outcome = run_scenario("stuck", &[("DLP_THREADS", "3"), ("DLP_TIMEOUT", "1s")]);
                let stderr = &outcome.stderr;
                expect(
                    outcome.code == Some(124)
                        && started.elapsed() < std::time::Duration::from_secs(10)
                        && stderr.contains("waited in dlp longer than DLP_TIMEOUT=1.0 s")
                        && stderr.contains("rank 0: waits in gather at tests/process.rs:")
                        && stderr.contains("rank 1: has returned from the world")
                        && stderr.contains(
                            "rank 2: runs item 5 of the loop of the split at tests/process.rs:",
                        ),
                    "exit 124 within 10 s, naming the gather the ranks wait in and rank 2's item",
                    &outcome,
                )
            },
        ),
        check("a program runs on DLP_THREADS ranks and exits 0", || {
            let outcome = run_scenario("sum", &[("DLP_THREADS", "5")]);
            expect(
                outcome.code == Some(0) && outcome.stdout == "size 5 sum 4950\n",
                "size 5 sum 4950",
                &outcome,
            )
        }),
        check("DLP_BACKEND=serial runs one rank", || {
            let outcome = run_scenario("sum", &[("DLP_BACKEND", "serial"), ("DLP_THREADS", "4")]);
            expect(
                outcome.code == Some(0) && outcome.stdout == "size 1 sum 4950\n",
                "size 1 sum 4950",
                &outcome,
            )
        }),
        check(
            "a panicking rank ends the process non-zero, naming rank and item",
            || {
                let outcome = run_scenario("panic", &[("DLP_THREADS", "3")]);
                expect(
                    outcome.code == Some(101)
                        && outcome.stderr.contains("thread 'dlp-rank-2'")
                        && outcome.stderr.contains("broken example")
                        && outcome.stderr.contains(
                            "dlp: rank 2 panicked at item 5: broken example; stopping all 3 ranks",
                        ),
                    "exit 101, and rank 2 / item 5 on stderr",
                    &outcome,
                )
            },
        ),
        check("a bad DLP_THREADS is one line and exit code 2", || {
            let outcome = run_scenario("sum", &[("DLP_THREADS", "all")]);
            runner::expect_config_error(
                &outcome,
                "DLP_THREADS=\"all\" is not a number of ranks: use a whole number of at least 1",
            )
        }),
        check("a bad DLP_BACKEND is one line and exit code 2", || {
            let outcome = run_scenario("sum", &[("DLP_BACKEND", "cuda")]);
            runner::expect_config_error(
                &outcome,
                "DLP_BACKEND=\"cuda\" is not a backend: use one of serial, threads, mpi",
            )
        }),
        check(
            "an error returned by #[dlp::main] on a worker rank exits 1, naming the rank",
            || {
                let outcome = run_scenario("worker-error", &[("DLP_THREADS", "3")]);
                expect(
                    outcome.code == Some(1)
                        && outcome.stdout.is_empty()
                        && outcome.stderr.contains(
                            "dlp: rank 1 returned an error: \"no input file on rank 1 (total 45)\"",
                        ),
                    "exit 1 with the rank's error on stderr",
                    &outcome,
                )
            },
        ),
        check(
            "DLP_REPORT=1 prints a per-rank table after each split",
            || {
                let outcome = run_scenario("watched", &[("DLP_THREADS", "3"), ("DLP_REPORT", "1")]);
                let reports: Vec<&str> = outcome
                    .stderr
                    .lines()
                    .filter(|line| line.starts_with("dlp report: "))
                    .collect();
                let rows: Vec<Vec<&str>> = outcome
                    .stderr
                    .lines()
                    .map(|line| line.split_whitespace().collect::<Vec<_>>())
                    .filter(|cells| cells.len() == 5 && cells[4].ends_with('%'))
                    .collect();
                let round_robin_items: Vec<&str> = rows.iter().take(3).map(|row| row[1]).collect();
                let managed_items: usize = rows[3..]
                    .iter()
                    .map(|row| row[1].parse::<usize>().unwrap())
                    .sum();
                expect(
                    outcome.code == Some(0)
                        && outcome.stdout == "(1000, 1000)\n"
                        && reports.len() == 2
                        && reports[0]
                            .starts_with("dlp report: split_round_robin at tests/process.rs:")
                        && reports[0].ends_with(", 1000 items on 3 ranks")
                        && reports[1].starts_with("dlp report: split_managed at tests/process.rs:")
                        && reports[1].ends_with(", 1000 items on 3 ranks")
                        && rows.len() == 6
                        && round_robin_items == ["334", "333", "333"]
                        && managed_items == 1000,
                    "two reports of three ranks each, with the items of each rank",
                    &outcome,
                )
            },
        ),
        check(
            "DLP_TRACE writes a Chrome trace that covers every item once",
            || {
                let path =
                    std::env::temp_dir().join(format!("dlp-trace-{}.json", std::process::id()));
                let outcome = run_scenario(
                    "watched",
                    &[("DLP_THREADS", "3"), ("DLP_TRACE", path.to_str().unwrap())],
                );
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let _ = std::fs::remove_file(&path);
                let trace: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(trace) => trace,
                    Err(error) => return Err(format!("the trace does not parse: {error}\n{text}")),
                };
                let events = trace["traceEvents"].as_array().cloned().unwrap_or_default();
                let rows: Vec<String> = events
                    .iter()
                    .filter(|event| event["ph"] == "M")
                    .map(|event| event["args"]["name"].as_str().unwrap_or("").to_owned())
                    .collect();
                let mut seen = std::collections::BTreeMap::<String, Vec<u32>>::new();
                for event in events.iter().filter(|event| event["ph"] == "X") {
                    let first = event["args"]["first"].as_u64().unwrap() as u32;
                    let items = event["args"]["items"].as_u64().unwrap() as u32;
                    let tid = event["tid"].as_u64().unwrap();
                    let label = event["cat"].as_str().unwrap().to_owned();
                    let stride = if label.starts_with("split_round_robin") {
                        3
                    } else {
                        1
                    };
                    let indices = seen.entry(label).or_default();
                    indices.extend((0..items).map(|k| first + k * stride));
                    if tid > 2 || event["dur"].as_f64().is_none() || event["ts"].as_f64().is_none()
                    {
                        return Err(format!("a malformed event: {event}"));
                    }
                }
                let every_item_once = seen.len() == 2
                    && seen.values_mut().all(|indices| {
                        indices.sort();
                        *indices == (0..1000).collect::<Vec<u32>>()
                    });
                expect(
                    outcome.code == Some(0)
                        && rows == ["rank 0", "rank 1", "rank 2"]
                        && every_item_once,
                    "one row per rank, and every item of both splits in exactly one event",
                    &outcome,
                )
            },
        ),
        check(
            "a progress bar is drawn on a terminal, and nothing without one",
            || {
                let quiet = run_scenario("watched", &[("DLP_THREADS", "2")]);
                if !quiet.stderr.is_empty() {
                    return Err(format!("stderr is not a terminal, yet: {}", quiet.stderr));
                }
                let Some(drawn) = on_terminal("watched", &[("DLP_THREADS", "2")]) else {
                    return Ok(());
                };
                // `script` copies the terminal, bar included, to its stdout.
                expect(
                    drawn.code == Some(0)
                        && drawn.stdout.contains("split_managed at process.rs:")
                        && drawn.stdout.contains("1000/1000 items"),
                    "the bar, named after its split, at 1000/1000 items",
                    &drawn,
                )
            },
        ),
        check(
            "lines printed while a bar is drawn start lines of their own, none lost",
            || {
                let Some(drawn) = on_terminal("printing", &[("DLP_THREADS", "2")]) else {
                    return Ok(());
                };
                let screen = &drawn.stdout;
                // Each line is at the start of a line of the screen: after a newline, a carriage
                // return, or the bar's "clear line" (ESC [2K), never after the bar's text.
                let own_line = |at: usize| {
                    at == 0 || matches!(screen.as_bytes()[at - 1], b'\n' | b'\r' | b'K')
                };
                let every_line_once = (0..500).step_by(20).all(|item| {
                    let line = format!("line {item}\r\n");
                    let found: Vec<usize> = screen.match_indices(&line).map(|(at, _)| at).collect();
                    found.len() == 1 && own_line(found[0])
                });
                expect(
                    drawn.code == Some(0)
                        && screen.contains("items/s")
                        && every_line_once
                        && screen.contains("done"),
                    "the bar drawn, and each of the 25 lines once, at the start of a line",
                    &drawn,
                )
            },
        ),
        check(
            "DLP_PROGRESS=always draws a bar where stderr is a pipe, never draws none on a terminal",
            || {
                let piped = run_scenario(
                    "watched",
                    &[("DLP_THREADS", "2"), ("DLP_PROGRESS", "always")],
                );
                expect(
                    piped.code == Some(0) && piped.stderr.contains("1000/1000 items"),
                    "the bar on stderr, a pipe, at 1000/1000 items",
                    &piped,
                )?;
                let Some(never) = on_terminal(
                    "watched",
                    &[("DLP_THREADS", "2"), ("DLP_PROGRESS", "never")],
                ) else {
                    return Ok(());
                };
                expect(
                    never.code == Some(0) && !never.stdout.contains("items"),
                    "no bar on the terminal",
                    &never,
                )?;
                let bad = run_scenario("sum", &[("DLP_PROGRESS", "sometimes")]);
                expect(
                    bad.code == Some(2)
                        && bad.stderr.starts_with(
                            "dlp: DLP_PROGRESS=\"sometimes\" is not auto, always or never",
                        )
                        && bad.stderr.lines().count() == 1,
                    "exit 2 and one line naming DLP_PROGRESS",
                    &bad,
                )
            },
        ),
        check(
            "a rank waiting for one that returned is an error, not a hang",
            || {
                let outcome = run_scenario("skipped-collective", &[("DLP_THREADS", "2")]);
                expect(
                    outcome.code == Some(101)
                        && outcome
                            .stderr
                            .contains("rank 0 waits in barrier at tests/process.rs:")
                        && outcome
                            .stderr
                            .contains("(collective #0), but rank 1 has already returned"),
                    "exit 101 with the mismatch explained",
                    &outcome,
                )
            },
        ),
        check(
            "a child that prints 1 MiB on stdout and on stderr is read while it runs, not hung",
            || {
                let outcome = run_scenario("loud", &[]);
                let (stdout, stderr) = (loud_text("stdout"), loud_text("stderr"));
                // Not `expect`: its message would carry the whole 2 MiB.
                if outcome.code == Some(0) && outcome.stdout == stdout && outcome.stderr == stderr {
                    Ok(())
                } else {
                    Err(format!(
                        "exit 0 and {} bytes on each stream\n  exit code: {:?}\n  stdout: {} bytes\n  stderr: {} bytes",
                        stdout.len(),
                        outcome.code,
                        outcome.stdout.len(),
                        outcome.stderr.len()
                    ))
                }
            },
        ),
        check("a bad DLP_REPORT is one line and exit code 2", || {
            let outcome = run_scenario("watched", &[("DLP_REPORT", "verbose")]);
            runner::expect_config_error(&outcome, "DLP_REPORT=\"verbose\" is not a yes or a no")
        }),
        check(
            "outside any world, rank and size are the launcher's: rank < size",
            || {
                let alone = run_scenario("outside", &[]);
                let launched = run_scenario("outside", &[("PMI_SIZE", "4"), ("PMI_RANK", "1")]);
                expect(
                    alone.stdout == "0 1 true\n" && launched.stdout == "1 4 false\n",
                    "0 1 true alone, and 1 4 false as process 1 of 4",
                    &launched,
                )
            },
        ),
    ];
    if !cfg!(feature = "mpi") {
        checks.extend(without_mpi_checks());
    }
    checks
}

/// What a build without the MPI backend says when it is asked for MPI.
fn without_mpi_checks() -> Vec<Check> {
    vec![
        check(
            "mpiexec -n 4 of a build without MPI: process 0 says how to turn MPI on, once",
            || {
                let outcome = run_scenario("sum", &[("PMI_SIZE", "4"), ("PMI_RANK", "0")]);
                runner::expect_config_error(
                    &outcome,
                    "this program was started by an MPI launcher as 4 processes (PMI_SIZE=4)",
                )?;
                runner::expect_config_error(
                    &outcome,
                    r#"`dlp = { version = "0.1", features = ["mpi"] }`, or forward a feature of your crate, `[features] mpi = ["dlp/mpi"]`"#,
                )
            },
        ),
        check(
            "mpiexec -n 4 of a build without MPI: the other processes exit 2 silently",
            || {
                let outcome = run_scenario("sum", &[("PMI_SIZE", "4"), ("PMI_RANK", "1")]);
                expect(
                    outcome.code == Some(dlp::ConfigError::EXIT_CODE)
                        && outcome.stdout.is_empty()
                        && outcome.stderr.is_empty(),
                    "exit 2, and nothing printed",
                    &outcome,
                )
            },
        ),
        check(
            "DLP_BACKEND=mpi without MPI is one line and exit code 2",
            || {
                let outcome = run_scenario("sum", &[("DLP_BACKEND", "mpi")]);
                runner::expect_config_error(&outcome, "built without dlp's MPI backend")
            },
        ),
    ]
}

fn main() {
    runner::main(child, checks);
}
