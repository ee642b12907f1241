//! The MPI backend on real MPI: this test runs itself, and the examples, under `mpiexec` with 1
//! to 4 processes, and checks what a user sees: the same output as on threads, every item once,
//! no hang when a rank leaves a loop early, panics or is killed, and clear errors.
//!
//! Needs `--features mpi`, an MPI installation with `mpiexec` on the PATH, and the examples
//! built with the feature first: `cargo build --examples --features mpi && cargo test --features
//! mpi --test mpi` (what `.ci/run` does). Without the feature this test is empty.

#[cfg(feature = "mpi")]
mod common;

#[cfg(feature = "mpi")]
mod on_mpi {
    use crate::common::launcher::Launcher;
    use crate::common::runner::{self, Check, Outcome, check, expect};
    use crate::common::{every_split, returns_early_on_rank_one};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::Duration;

    use dlp::Split;

    /// What a scenario prints; run by every rank of an MPI job.
    /// Collectives of values that travel inside the ranks' agreement (up to 32 bytes), of
    /// values that do not, and of a mix of both in one call, on every rank.
    fn small_and_large_values() -> bool {
        let (rank, size) = (dlp::rank(), dlp::size());
        let small = dlp::all_gather(rank as u8) == (0..size).map(|r| r as u8).collect::<Vec<_>>();
        let large = dlp::all_gather(vec![rank as u64; 100])
            == (0..size).map(|r| vec![r as u64; 100]).collect::<Vec<_>>();
        let seeds = dlp::broadcast(dlp::is_main().then(|| vec![7u64; 100])) == vec![7u64; 100]
            && dlp::broadcast(dlp::is_main().then_some(7u16)) == 7;
        // 0, 20, 40, ... bytes: values of different sizes from different ranks.
        let mixed = dlp::gather(vec![rank as u8; rank * 20]);
        let mixed_ok = mixed
            .is_none_or(|all| all == (0..size).map(|r| vec![r as u8; r * 20]).collect::<Vec<_>>());
        let gathered = dlp::gather(rank as u16);
        let gathered_ok = gathered.is_none_or(|all| all == (0..size as u16).collect::<Vec<_>>());
        let sum = dlp::all_reduce(vec![rank as u64; 8], |a, b| {
            a.iter().zip(&b).map(|(x, y)| x + y).collect()
        });
        let sum_ok = sum == vec![(size * (size - 1) / 2) as u64; 8];
        // Hundreds of kilobytes each: MPI sends these by rendezvous, not eagerly, and every
        // rank of an all-gather sends before it receives.
        const BIG: usize = 40_000;
        let of_rank = |all: &[Vec<u64>]| {
            all.len() == size
                && (all.iter().enumerate())
                    .all(|(r, v)| v.len() == BIG && v.iter().all(|&x| x == r as u64))
        };
        let big_all = of_rank(&dlp::all_gather(vec![rank as u64; BIG]));
        let big_gathered = dlp::gather(vec![rank as u64; BIG]).is_none_or(|all| of_rank(&all));
        let big_seed = dlp::broadcast(dlp::is_main().then(|| vec![9u64; BIG])) == vec![9u64; BIG];
        // More calls in a row than the memory between two ranks of a node holds, while the
        // main rank is late, with large values among them: the others wait for room, and every
        // value arrives in its own call.
        if dlp::is_main() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let ran_ahead = (0..200u64)
            .map(|call| {
                let (length, value) = (if call % 50 == 7 { BIG } else { 1 }, call * 100);
                let all = dlp::gather(vec![value + rank as u64; length]);
                all.is_none_or(|all| {
                    (all.iter().enumerate())
                        .all(|(r, v)| v.len() == length && v.iter().all(|&x| x == value + r as u64))
                })
            })
            // Every call made on every rank, whatever one finds: no short cut.
            .collect::<Vec<bool>>()
            .into_iter()
            .all(|ok| ok);
        let verdicts = [
            ran_ahead,
            small,
            large,
            seeds,
            mixed_ok,
            gathered_ok,
            sum_ok,
            big_all,
            big_gathered,
            big_seed,
        ];
        dlp::all_reduce(verdicts.iter().all(|&ok| ok), |a, b| a && b)
    }

    /// Every process builds the same map, whose order is its own.
    #[dlp::spmd]
    fn keys_of_a_hash_map() -> Option<usize> {
        let map: std::collections::HashMap<String, f64> =
            (0..1000).map(|key| (format!("key {key}"), 0.5)).collect();
        let mut mine = Vec::new();
        #[par_for]
        for (key, _value) in &map {
            mine.push(key.clone());
        }
        dlp::gather(mine).map(|all| all.concat().len())
    }

    /// Whether this process runs dlp's claim server, the thread that serves the dynamic
    /// splits of ranks on other nodes: seen from outside, by its thread's name.
    fn claim_server_runs() -> bool {
        let threads =
            std::fs::read_dir("/proc/self/task").expect("Linux lists a process's threads");
        threads.flatten().any(|thread| {
            std::fs::read_to_string(thread.path().join("comm"))
                .is_ok_and(|name| name.trim() == "dlp-claims")
        })
    }

    /// The worker ranks share `items` twice: dynamically, and in blocks.
    #[dlp::worker_only]
    fn on_workers(items: &[u32]) -> Vec<u32> {
        let mut seen = Vec::new();
        #[par_for(split = "managed")]
        for item in items {
            seen.push(*item);
        }
        #[par_for(split = "block")]
        for item in items {
            seen.push(1000 + *item);
        }
        seen
    }

    pub fn child(scenario: &str) {
        match scenario {
            "exactly-once" => {
                let lines = dlp::run(|| {
                    let mut lines = Vec::new();
                    for (name, split) in every_split() {
                        for count in [0u64, 1, 7, 1000] {
                            let mine: Vec<(usize, u64)> =
                                split.over(0..count).with_index().collect();
                            let unknown: Vec<u64> =
                                split.over((0..).take_while(|&x| x < count)).collect();
                            let all = dlp::gather((mine, unknown));
                            if let Some(all) = all {
                                let mut seen: Vec<u64> = all
                                    .iter()
                                    .flat_map(|(mine, _)| mine.iter().map(|p| p.1))
                                    .collect();
                                let mut unknown: Vec<u64> = all
                                    .iter()
                                    .flat_map(|(_, unknown)| unknown.clone())
                                    .collect();
                                seen.sort();
                                unknown.sort();
                                let ok = seen == (0..count).collect::<Vec<_>>() && unknown == seen;
                                lines.push(format!(
                                    "{name} {count}: {}",
                                    if ok { "ok" } else { "WRONG" }
                                ));
                            }
                        }
                    }
                    let items = dlp::is_main().then(|| (0..1000u32).collect::<Vec<_>>());
                    let block = dlp::scatter(items);
                    if let Some(lengths) = dlp::gather(block.len()) {
                        lines.push(format!("scatter {lengths:?}"));
                    }
                    let total = dlp::all_reduce(dlp::rank() as u64 + 1, |a, b| a + b);
                    let seed = dlp::broadcast(dlp::is_main().then(|| String::from("seed")));
                    lines.push(format!("all_reduce {total} broadcast {seed}"));
                    lines
                        .extend(small_and_large_values().then(|| "values of every size ok".into()));
                    let mut squares: Vec<u64> = dlp::map_ordered(|x: u64| x * x, 0..100).collect();
                    if dlp::is_main() {
                        lines.push(format!(
                            "map_ordered {}",
                            squares == (0..100).map(|x| x * x).collect::<Vec<_>>()
                        ));
                    }
                    // Slow items, so that workers finish at different times and some last
                    // messages carry no result.
                    let slow_square = |x: u64| {
                        std::thread::sleep(Duration::from_micros(300 * (x % 3)));
                        x * x
                    };
                    squares = dlp::map_unordered(slow_square, 0..100).collect();
                    squares.sort();
                    if dlp::is_main() {
                        lines.push(format!(
                            "map_unordered {}",
                            squares == (0..100).map(|x| x * x).collect::<Vec<_>>()
                        ));
                    }
                    lines
                });
                if dlp::is_main() {
                    for line in lines {
                        println!("{line}");
                    }
                    if claim_server_runs() {
                        println!("claims served by the main rank's process");
                    }
                }
            }
            "break" => {
                let lines = dlp::run(|| {
                    let mut lines = Vec::new();
                    // Each split with and without a progress bar, whose ranks meet at its end.
                    let splits = every_split()
                        .into_iter()
                        .flat_map(|(name, split)| [(name, split), (name, split.progress())]);
                    for (name, split) in splits {
                        let mut processed = Vec::new();
                        for item in split.over(0..200u64) {
                            std::thread::sleep(Duration::from_micros(100));
                            if dlp::rank() == 1 && processed.len() == 3 {
                                break;
                            }
                            processed.push(item);
                        }
                        if let Some(all) = dlp::gather(processed) {
                            let mut all: Vec<u64> = all.concat();
                            let before = all.len();
                            all.sort();
                            all.dedup();
                            lines.push(format!("{name}: no duplicates {}", all.len() == before));
                        }
                    }
                    lines
                });
                if dlp::is_main() {
                    for line in lines {
                        println!("{line}");
                    }
                }
            }
            "share-outlives-world" => {
                // A watched managed split returned out of its world: its counters keep their
                // communicator, and every process drops the share at the same point.
                let share = dlp::run(|| dlp::Split::managed().progress().over(0..100u32));
                println!("process {} took {}", dlp::rank(), share.count());
            }
            "early-return" => {
                /// Rank 1 returns from inside the loop at its first item; the others go on.
                fn first_multiple_of_seven(split: Split) -> Option<u64> {
                    for item in split.over(1..500u64) {
                        if dlp::rank() == 1 {
                            return Some(item);
                        }
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    None
                }
                let found = dlp::run(|| {
                    let mine: Vec<bool> = every_split()
                        .into_iter()
                        .map(|(_, split)| first_multiple_of_seven(split).is_some())
                        .collect();
                    dlp::gather(mine)
                });
                if let Some(found) = found {
                    println!(
                        "rank 1 returned early in every split: {}",
                        found[1].iter().all(|&f| f)
                    );
                }
            }
            "different-collectives" => dlp::run(|| {
                if dlp::is_main() {
                    dlp::gather(1u8);
                } else {
                    dlp::barrier();
                }
            }),
            // Neither call waits: the root of a broadcast and a gather's sender go on.
            "broadcast-against-gather" => dlp::run(|| {
                if dlp::is_main() {
                    dlp::broadcast(Some(7u64));
                } else {
                    dlp::gather(7u64);
                }
            }),
            // Both calls wait, each for the other: a gather's root and a broadcast's receiver.
            "gather-against-broadcast" => dlp::run(|| {
                if dlp::is_main() {
                    dlp::gather(7u64);
                } else {
                    dlp::broadcast(None::<u64>);
                }
            }),
            // Calls that differ and go on, then the same call again: the sum must never print.
            "mismatch-then-all-reduce" => {
                let sum = dlp::run(|| {
                    if dlp::is_main() {
                        dlp::broadcast(Some(7u64));
                    } else {
                        dlp::gather(7u64);
                    }
                    dlp::all_reduce(1u64, |a, b| a + b)
                });
                println!("sum {sum}");
            }
            "collective-in-body" => dlp::run(|| {
                for _ in dlp::split_managed(0..10u32) {
                    dlp::barrier();
                }
            }),
            "workers" => {
                let every_once = dlp::run(|| {
                    let items: Vec<u32> = (0..500).collect();
                    let before = dlp::all_reduce(1u32, |a, b| a + b);
                    let share = on_workers(&items).unwrap_or_default();
                    let after = dlp::broadcast(dlp::is_main().then_some(before));
                    let all = dlp::gather(share)?;
                    let mut all = all.concat();
                    all.sort();
                    let mut expected: Vec<u32> = (0..500).chain(1000..1500).collect();
                    if dlp::size() == 1 {
                        expected.clear(); // no workers
                    }
                    Some(all == expected && after == dlp::size() as u32)
                });
                if let Some(every_once) = every_once {
                    println!("the worker ranks' splits took every item once: {every_once}");
                }
            }
            "workers-early-return" => dlp::run(|| {
                // Rank 1 leaves before the worker ranks' split; the others make it.
                if dlp::rank() == 1 {
                    return;
                }
                let items: Vec<u32> = (0..50).collect();
                on_workers(&items);
                dlp::barrier();
            }),
            "nested" => {
                let pairs = dlp::run(|| {
                    let mut mine = Vec::new();
                    for i in dlp::split_round_robin(0..10u32) {
                        for j in dlp::split_managed(0..10u32) {
                            mine.push((i, j));
                        }
                    }
                    dlp::gather(mine).map(|all| all.concat())
                });
                if let Some(mut pairs) = pairs {
                    pairs.sort();
                    let every: Vec<(u32, u32)> =
                        (0..10).flat_map(|i| (0..10).map(move |j| (i, j))).collect();
                    println!("every pair once: {}", pairs == every);
                }
            }
            "stuck" => dlp::run(|| {
                for item in dlp::split_round_robin(0..9u32) {
                    if item == 5 {
                        // Rank 2 never comes back from its own code.
                        loop {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
                dlp::gather(dlp::rank());
            }),
            "hash-map" => {
                if let Some(keys) = keys_of_a_hash_map() {
                    println!("{keys} keys");
                }
            }
            "early-error" => {
                if let Err(error) = returns_early_on_rank_one() {
                    println!("main rank returned {error}");
                }
            }
            "panic" => dlp::run(|| {
                for item in dlp::split_round_robin(0..9) {
                    if item == 5 {
                        panic!("broken example");
                    }
                }
                dlp::barrier();
            }),
            "kill" => dlp::run(|| {
                if dlp::rank() == 1 {
                    // SAFETY: raising a signal at this process.
                    unsafe { libc::raise(libc::SIGKILL) };
                }
                dlp::barrier();
            }),
            "slow-bar" => dlp::run(|| {
                // 0.4 s on two ranks: the bar appears after 0.2 s.
                let count = dlp::Split::managed()
                    .chunk(1)
                    .progress()
                    .over(0..400u32)
                    .inspect(|_| std::thread::sleep(Duration::from_millis(2)))
                    .count();
                assert_eq!(dlp::all_reduce(count, |a, b| a + b), 400);
            }),
            "watched" => dlp::run(|| {
                let first = dlp::split_round_robin(0..1000u32).count();
                let second = dlp::Split::managed()
                    .chunk(7)
                    .progress()
                    .over(0..1000u32)
                    .count();
                dlp::all_reduce((first, second), |a, b| (a.0 + b.0, a.1 + b.1));
            }),
            "outside" => println!("{} {} {}", dlp::rank(), dlp::size(), dlp::is_main()),
            "mismatch" => dlp::run(|| {
                let count = if dlp::rank() == 1 { 11 } else { 10 };
                dlp::split_managed(0..count).for_each(drop);
            }),
            other => panic!("unknown scenario {other}"),
        };
    }

    /// The launcher of the MPI this test links.
    fn launcher() -> &'static Launcher {
        static LAUNCHER: OnceLock<Launcher> = OnceLock::new();
        LAUNCHER.get_or_init(Launcher::of_this_build)
    }

    /// Runs `program` under `mpiexec -n ranks`, failing the check if it does not end in time.
    pub fn mpiexec(ranks: usize, program: &Path, env: &[(&str, &str)]) -> Outcome {
        launch(launcher(), ranks, program, env)
    }

    /// Runs `program` as `ranks` processes started by `launcher`, failing the check if it does
    /// not end in time.
    fn launch(launcher: &Launcher, ranks: usize, program: &Path, env: &[(&str, &str)]) -> Outcome {
        let mut command = launcher.command(ranks, program);
        command
            .env_remove("DLP_THREADS")
            .env_remove("DLP_BACKEND")
            .env_remove("RUST_BACKTRACE")
            .envs(env.iter().copied());
        let what = match env.iter().find(|(name, _)| *name == runner::CHILD_VAR) {
            Some((_, scenario)) => {
                format!(
                    "scenario {scenario} on {ranks} ranks by {}",
                    launcher.program()
                )
            }
            None => format!(
                "{} on {ranks} ranks by {}",
                program.display(),
                launcher.program()
            ),
        };
        runner::run_child(&what, &mut command).unwrap_or_else(|error| {
            panic!(
                "{} does not start ({error}): is {} installed?",
                launcher.program(),
                launcher.library
            )
        })
    }

    pub fn example(name: &str) -> PathBuf {
        let mut path = std::env::current_exe().expect("the test binary's path");
        path.pop();
        path.pop();
        path.push("examples");
        path.push(name);
        assert!(
            path.exists(),
            "{} is missing: build the examples first (cargo build --examples --features mpi)",
            path.display()
        );
        path
    }

    /// Runs an example on threads (`ranks` rank-threads), for the output to compare with.
    pub fn on_threads(name: &str, ranks: usize) -> String {
        let mut command = Command::new(example(name));
        command
            .env("DLP_THREADS", ranks.to_string())
            .env_remove("DLP_BACKEND");
        let what = format!("example {name} on {ranks} threads");
        let outcome = runner::run_child(&what, &mut command).expect("the example runs");
        assert!(outcome.code == Some(0), "{name} on threads failed");
        outcome.stdout
    }

    /// The checks, in the order they run: the examples, then this test's own scenarios.
    pub fn checks() -> Vec<Check> {
        let mut checks = example_checks();
        checks.extend(scenario_checks());
        checks.extend(processes_times_threads_checks());
        checks.extend(slurm_checks());
        checks
    }

    /// Under Slurm's `srun`, where a Slurm cluster answers (`.ci/run` starts one on its
    /// machine): examples print what they print on threads, every item once, and a panic ends
    /// the job with dlp's line.
    fn slurm_checks() -> Vec<Check> {
        static SLURM: OnceLock<Option<Launcher>> = OnceLock::new();
        if SLURM.get_or_init(Launcher::slurm).is_none() {
            println!(
                "not checked: jobs started by Slurm's srun; no Slurm cluster answers sinfo here"
            );
            return Vec::new();
        }
        let srun = || {
            SLURM
                .get()
                .and_then(Option::as_ref)
                .expect("a Slurm cluster")
        };
        let mut checks = Vec::new();
        for (name, ranks) in [("quickstart", 2), ("dlp_mpi_map_unordered", 3)] {
            checks.push(check(
                format!("under srun -n {ranks}, example {name} prints what it prints on threads"),
                move || {
                    let outcome = launch(srun(), ranks, &example(name), &[]);
                    let expected = on_threads(name, ranks);
                    expect(
                        outcome.code == Some(0) && outcome.stdout == expected,
                        &format!("exit 0 and the output on threads:\n{expected}"),
                        &outcome,
                    )
                },
            ));
        }
        checks.push(check(
            "under srun -n 3, every split, collective and map processes every item once",
            move || {
                let env = [(runner::CHILD_VAR, "exactly-once")];
                let outcome = launch(srun(), 3, &me(), &env);
                let splits_ok = outcome
                    .stdout
                    .lines()
                    .filter(|line| line.ends_with(": ok"))
                    .count();
                expect(
                    outcome.code == Some(0) && splits_ok == 28,
                    "exit 0 and 28 splits ok",
                    &outcome,
                )
            },
        ));
        checks.push(check(
            "under srun -n 2 with DLP_THREADS=2, every item once in a world of 4 ranks",
            move || {
                let env = [(runner::CHILD_VAR, "exactly-once"), ("DLP_THREADS", "2")];
                let outcome = launch(srun(), 2, &me(), &env);
                let lines: Vec<&str> = outcome.stdout.lines().collect();
                let splits_ok = lines.iter().filter(|line| line.ends_with(": ok")).count();
                expect(
                    outcome.code == Some(0)
                        && splits_ok == 28
                        && lines.contains(&"all_reduce 10 broadcast seed"),
                    "exit 0, 28 splits ok, and all_reduce of 4 ranks",
                    &outcome,
                )
            },
        ));
        checks.push(check(
            "under srun -n 3, a panic on one rank ends the job with dlp's line",
            move || {
                let outcome = launch(srun(), 3, &me(), &[(runner::CHILD_VAR, "panic")]);
                expect(
                    outcome.code != Some(0)
                        && outcome.stderr.contains(
                            "dlp: rank 2 panicked at item 5: broken example; stopping all 3 ranks",
                        ),
                    "a non-zero exit and dlp's line",
                    &outcome,
                )
            },
        ));
        checks
    }

    /// The examples print the same on 1 to 4 MPI processes as on as many threads.
    fn example_checks() -> Vec<Check> {
        let examples = [
            "quickstart",
            "dlp_mpi_split_managed",
            "dlp_mpi_map_unordered",
            "mcutils_run_job",
            "mcutils_map_applier",
            "mcutils_sample_program",
            "adparallelengine_batches",
            "shared_table",
        ];
        let mut checks = Vec::new();
        for name in examples {
            for ranks in 1..=4 {
                checks.push(check(
                    format!(
                        "example {name} on {ranks} MPI ranks prints what it prints on {ranks} threads"
                    ),
                    move || {
                        let outcome = mpiexec(ranks, &example(name), &[]);
                        let expected = on_threads(name, ranks);
                        expect(
                            outcome.code == Some(0) && outcome.stdout == expected,
                            &format!("exit 0 and the output on threads:\n{expected}"),
                            &outcome,
                        )
                    },
                ));
            }
        }
        checks
    }

    /// How many lines of dlp's own an outcome's stderr holds.
    fn dlp_lines(outcome: &Outcome) -> usize {
        let lines = outcome.stderr.lines();
        lines.filter(|line| line.starts_with("dlp: ")).count()
    }

    /// Runs this test binary's `scenario` under `mpiexec -n processes`, with `env` as well.
    fn scenario_with(processes: usize, scenario: &str, env: &[(&str, &str)]) -> Outcome {
        let env = [env, &[(runner::CHILD_VAR, scenario)]].concat();
        mpiexec(processes, &me(), &env)
    }

    /// The break scenario on `processes` processes, with `env`: every split ends, no item twice.
    fn break_on(processes: usize, env: &[(&str, &str)]) -> Result<(), String> {
        let outcome = scenario_with(processes, "break", env);
        expect(
            outcome.code == Some(0)
                && outcome.stdout.lines().count() == 14
                && outcome
                    .stdout
                    .lines()
                    .all(|line| line.ends_with("no duplicates true")),
            "exit 0 and 14 lines of no duplicates",
            &outcome,
        )
    }

    /// The early-return scenario on `processes` processes, with `env`.
    fn early_return_on(processes: usize, env: &[(&str, &str)]) -> Result<(), String> {
        let outcome = scenario_with(processes, "early-return", env);
        expect(
            outcome.code == Some(0)
                && outcome.stdout == "rank 1 returned early in every split: true\n",
            "exit 0, rank 1 returned early in every split",
            &outcome,
        )
    }

    /// The rank-threads of each process that `env` asks for (`DLP_THREADS`).
    fn threads_in(env: &[(&str, &str)]) -> usize {
        let threads = env.iter().find(|(name, _)| *name == "DLP_THREADS");
        threads.map_or(1, |(_, threads)| {
            threads.parse().expect("a number of threads")
        })
    }

    /// The exactly-once scenario on `processes` processes, with `env`; `served` says whether
    /// the dynamic splits must claim from the main rank's claim server (ranks on several nodes,
    /// or threads in several processes) or not.
    fn exactly_once(processes: usize, env: &[(&str, &str)], served: bool) -> Result<(), String> {
        let ranks = processes * threads_in(env);
        let outcome = scenario_with(processes, "exactly-once", env);
        let lines: Vec<&str> = outcome.stdout.lines().collect();
        let splits_ok = lines.iter().filter(|line| line.ends_with(": ok")).count() == 28;
        let scatter = scatter_line(ranks);
        let total = ranks * (ranks + 1) / 2;
        let claims_served = lines.contains(&"claims served by the main rank's process");
        expect(
            outcome.code == Some(0)
                && splits_ok
                && lines.contains(&scatter.as_str())
                && lines.contains(&format!("all_reduce {total} broadcast seed").as_str())
                && lines.contains(&"values of every size ok")
                && lines.contains(&"map_ordered true")
                && lines.contains(&"map_unordered true")
                && claims_served == (served && processes > 1),
            "exit 0, 28 splits ok, and the lines of scatter, all_reduce, values of every size \
             and maps; claims served by the main rank's process only across nodes",
            &outcome,
        )
    }

    /// Runs this test binary's `scenario` under `mpiexec -n ranks`.
    fn scenario(ranks: usize, scenario: &str) -> Outcome {
        mpiexec(ranks, &me(), &[(runner::CHILD_VAR, scenario)])
    }

    /// Runs scenario `name` on 2 and 3 ranks, each within 10 s; `holds` is what it must show,
    /// `what` says so.
    fn on_2_and_3(name: &str, what: &str, holds: impl Fn(&Outcome) -> bool) -> Result<(), String> {
        for ranks in [2, 3] {
            let outcome = timed_scenario(ranks, name)?;
            expect(holds(&outcome), what, &outcome)?;
        }
        Ok(())
    }

    /// Whether `outcome` failed with one message about a mismatch between `one` on rank 0
    /// and `other` on another rank, each with its call site.
    fn one_mismatch(outcome: &Outcome, one: &str, other: &str) -> bool {
        let stderr = &outcome.stderr;
        let mismatches = stderr.matches("does not match across ranks").count()
            + stderr.matches("never completed").count();
        outcome.code.is_some_and(|code| code != 0)
            && mismatches == 1
            && stderr.contains(&format!("{one} at tests/mpi.rs:"))
            && stderr.contains(&format!("{other} at tests/mpi.rs:"))
    }

    /// A scenario that must end within 10 s, as a misuse must: an error past that.
    fn timed_scenario(ranks: usize, name: &str) -> Result<Outcome, String> {
        let started = std::time::Instant::now();
        let outcome = scenario(ranks, name);
        let took = started.elapsed();
        if took > Duration::from_secs(10) {
            return Err(format!("{name} on {ranks} ranks took {took:?}, over 10 s"));
        }
        Ok(outcome)
    }

    fn me() -> PathBuf {
        std::env::current_exe().expect("the test binary's path")
    }

    fn scenario_checks() -> Vec<Check> {
        let mut checks: Vec<Check> = (1..=4)
            .map(|ranks| {
                check(
                    format!(
                        "every split, collective and map processes every item once on {ranks} ranks"
                    ),
                    move || exactly_once(ranks, &[], false),
                )
            })
            .collect();
        // MPICH's MPIR_CVAR_NOLOCAL makes every process act as if it were on a node of its own:
        // the dynamic splits claim from the main rank's process, by message.
        if launcher().library.contains("MPICH") {
            checks.extend([2, 3].map(|ranks| {
                check(
                    format!(
                        "across nodes (MPIR_CVAR_NOLOCAL=1), every split, collective and map \
                         processes every item once on {ranks} ranks"
                    ),
                    move || exactly_once(ranks, &[("MPIR_CVAR_NOLOCAL", "1")], true),
                )
            }));
            checks.extend([
                check(
                    "across nodes (MPIR_CVAR_NOLOCAL=1), a break on one rank hangs no split, and \
                     no item is processed twice",
                    || break_on(3, &[("MPIR_CVAR_NOLOCAL", "1")]),
                ),
                check(
                    "across nodes (MPIR_CVAR_NOLOCAL=1), an early return from a split hangs \
                     nothing",
                    || early_return_on(3, &[("MPIR_CVAR_NOLOCAL", "1")]),
                ),
                check(
                    "across nodes (MPIR_CVAR_NOLOCAL=1), 3 processes x 2 threads: every item \
                     once, and no hang at a break or early return",
                    || {
                        let env = [("MPIR_CVAR_NOLOCAL", "1"), ("DLP_THREADS", "2")];
                        exactly_once(3, &env, true)?;
                        break_on(3, &env)?;
                        early_return_on(3, &env)
                    },
                ),
            ]);
        } else {
            println!(
                "not checked: dynamic splits across nodes, emulated with MPICH's MPIR_CVAR_NOLOCAL; \
                 {} has no such setting",
                launcher().library
            );
        }
        checks.extend([
            check(
                "a break on one rank hangs no split, and no item is processed twice",
                || break_on(3, &[]),
            ),
            check("a split's iterator outliving its world still works", || {
                let outcome = scenario(2, "share-outlives-world");
                let taken: u32 = outcome
                    .stdout
                    .lines()
                    .filter_map(|line| line.rsplit(' ').next()?.parse::<u32>().ok())
                    .sum();
                expect(
                    outcome.code == Some(0) && outcome.stdout.lines().count() == 2 && taken == 100,
                    "exit 0, and the two processes took the 100 items between them",
                    &outcome,
                )
            }),
            check("an early return from a split hangs nothing", || {
                early_return_on(3, &[])
            }),
            check(
                "a panic on one rank ends the job with dlp's line last, and no MPI noise",
                || {
                    let outcome = scenario(3, "panic");
                    let dlp_line =
                        "dlp: rank 2 panicked at item 5: broken example; stopping all 3 ranks";
                    expect(
                        outcome.code == Some(101)
                            && outcome.stderr.contains("broken example")
                            && outcome.stderr.trim_end().ends_with(dlp_line)
                            && outcome.stdout.is_empty()
                            && !outcome.stderr.contains("Abort(")
                            && !outcome.stderr.contains("BAD TERMINATION")
                            && !outcome.stderr.contains("==== backtrace")
                            && !outcome.stderr.contains("stack backtrace")
                            && !outcome.stderr.contains("Assertion"),
                        "exit 101, rank 2 / item 5 on stderr as its last line, and nothing from \
                         MPI or mpiexec",
                        &outcome,
                    )
                },
            ),
            check(
                "a bad DLP_THREADS under mpiexec -n 3 is one line for the job, exit code 2",
                || {
                    let outcome = mpiexec(
                        3,
                        &me(),
                        &[(runner::CHILD_VAR, "watched"), ("DLP_THREADS", "x")],
                    );
                    runner::expect_config_error(&outcome, "DLP_THREADS=\"x\" is not a number")
                },
            ),
            check(
                "outside any world, rank and size are the job's: 0 2 true and 1 2 false",
                || {
                    let outcome = scenario(2, "outside");
                    let mut lines: Vec<&str> = outcome.stdout.lines().collect();
                    lines.sort();
                    expect(
                        outcome.code == Some(0) && lines == ["0 2 true", "1 2 false"],
                        "exit 0, and the lines 0 2 true and 1 2 false",
                        &outcome,
                    )
                },
            ),
            check(
                "different collectives at one point are an error naming both, once",
                || {
                    on_2_and_3(
                        "different-collectives",
                        "non-zero, one message naming gather and barrier",
                        |outcome| {
                            let stderr = &outcome.stderr;
                            outcome.code != Some(0)
                                && stderr.matches("does not match across ranks").count() == 1
                                && stderr.contains("rank 0 called gather at tests/mpi.rs:")
                                && stderr.contains("called barrier at tests/mpi.rs:")
                        },
                    )
                },
            ),
            check(
                "calls that differ where no rank waits are an error naming both, once",
                || {
                    on_2_and_3(
                        "broadcast-against-gather",
                        "non-zero, one message naming the broadcast and the gather",
                        |outcome| one_mismatch(outcome, "broadcast", "gather"),
                    )
                },
            ),
            check(
                "calls that differ where each rank waits for the other are an error, no hang",
                || {
                    on_2_and_3(
                        "gather-against-broadcast",
                        "non-zero, one message naming the gather and the broadcast",
                        |outcome| one_mismatch(outcome, "gather", "broadcast"),
                    )
                },
            ),
            check(
                "calls that differ and go on are caught before a later result is used",
                || {
                    on_2_and_3(
                        "mismatch-then-all-reduce",
                        "non-zero, no sum printed, one message naming both calls",
                        |outcome| {
                            !outcome.stdout.contains("sum")
                                && one_mismatch(outcome, "broadcast", "gather")
                        },
                    )
                },
            ),
            check(
                "a HashMap iterated in a loop is caught, not a silent loss of keys",
                || {
                    on_2_and_3(
                        "hash-map",
                        "a non-zero exit, and one message about the order",
                        |outcome| {
                            outcome.code != Some(0)
                                && outcome.stderr.matches("come in another order").count() == 1
                        },
                    )
                },
            ),
            check(
                "a rank stuck in its own code ends the job after DLP_TIMEOUT, with a report",
                || {
                    let started = std::time::Instant::now();
                    let outcome = mpiexec(
                        3,
                        &me(),
                        &[(runner::CHILD_VAR, "stuck"), ("DLP_TIMEOUT", "1s")],
                    );
                    let stderr = &outcome.stderr;
                    expect(
                        outcome.code == Some(124)
                            && started.elapsed() < Duration::from_secs(10)
                            && stderr
                                .matches("waited in dlp longer than DLP_TIMEOUT=1.0 s")
                                .count()
                                == 1
                            && stderr.contains("waits in gather at tests/mpi.rs:")
                            && stderr
                                .contains("rank 2: no answer within 2 s: it runs its own code"),
                        "exit 124 within 10 s, one report naming the gather and the silent rank 2",
                        &outcome,
                    )
                },
            ),
            check("a collective in a loop body is an error", || {
                on_2_and_3(
                    "collective-in-body",
                    "a non-zero exit, and the barrier and the loop named",
                    |outcome| {
                        outcome.code != Some(0)
                            && outcome.stderr.contains("barrier at tests/mpi.rs:")
                            && outcome.stderr.contains("inside the body of the loop")
                    },
                )
            }),
            check(
                "a split nested in a loop body gives every pair once",
                || {
                    on_2_and_3("nested", "exit 0 and every pair once", |outcome| {
                        outcome.code == Some(0) && outcome.stdout == "every pair once: true\n"
                    })
                },
            ),
            check(
                "an early error on one rank ends the job, the user's error first",
                || {
                    on_2_and_3(
                        "early-error",
                        "non-zero, the user's error, then why rank 0 stopped",
                        |outcome| {
                            let stderr = &outcome.stderr;
                            let error = stderr.find("no input file on rank 1");
                            let explained =
                                stderr.find("rank 1 has already returned from the world");
                            outcome.code != Some(0)
                                && error
                                    .zip(explained)
                                    .is_some_and(|(error, explained)| error < explained)
                        },
                    )
                },
            ),
            check("a rank killed with SIGKILL ends the job", || {
                let outcome = scenario(3, "kill");
                expect(outcome.code != Some(0), "a non-zero exit", &outcome)
            }),
            check(
                "DLP_REPORT and DLP_TRACE over MPI: the main rank reports every rank's items",
                report_and_trace,
            ),
            check(
                "DLP_PROGRESS=always draws the bar under mpiexec, auto does not",
                progress_under_mpiexec,
            ),
            check("iterables of different lengths are an error", || {
                let outcome = scenario(3, "mismatch");
                expect(
                    outcome.code != Some(0)
                        && outcome.stderr.contains("differ between ranks")
                        && outcome.stderr.contains("11 items")
                        && outcome.stderr.contains("10 items"),
                    "a non-zero exit, naming both lengths",
                    &outcome,
                )
            }),
        ]);
        checks
    }

    /// DLP_PROGRESS=always: the main rank draws the bar on its stderr, a pipe to mpiexec, which
    /// forwards it; auto draws none there.
    fn progress_under_mpiexec() -> Result<(), String> {
        let always = mpiexec(
            2,
            &me(),
            &[(runner::CHILD_VAR, "slow-bar"), ("DLP_PROGRESS", "always")],
        );
        expect(
            always.code == Some(0) && always.stderr.contains("400/400 items"),
            "exit 0 and the bar at 400/400 items on stderr",
            &always,
        )?;
        let auto = mpiexec(2, &me(), &[(runner::CHILD_VAR, "slow-bar")]);
        expect(
            auto.code == Some(0) && !auto.stderr.contains("items"),
            "exit 0 and no bar",
            &auto,
        )
    }

    fn report_and_trace() -> Result<(), String> {
        report_and_trace_on(3, &[])
    }

    /// The reports and the timeline of a world of `processes` processes, with `env`: every
    /// rank's items, whichever process runs it.
    fn report_and_trace_on(processes: usize, env: &[(&str, &str)]) -> Result<(), String> {
        let ranks = processes * threads_in(env);
        let trace = std::env::temp_dir().join(format!("dlp-mpi-trace-{}.json", std::process::id()));
        let watched = [
            ("DLP_REPORT", "1"),
            ("DLP_TRACE", trace.to_str().expect("a UTF-8 temporary path")),
        ];
        let outcome = scenario_with(processes, "watched", &[env, &watched[..]].concat());
        let reports: Vec<&str> = outcome
            .stderr
            .lines()
            .filter(|line| line.starts_with("dlp report: "))
            .collect();
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let _ = std::fs::remove_file(&trace);
        let events: Vec<serde_json::Value> = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|trace| trace["traceEvents"].as_array().cloned())
            .unwrap_or_default();
        let items_of = |split: &str| -> u64 {
            events
                .iter()
                .filter(|event| {
                    event["ph"] == "X"
                        && event["cat"].as_str().is_some_and(|c| c.starts_with(split))
                })
                .map(|event| event["args"]["items"].as_u64().unwrap_or(0))
                .sum()
        };
        let rows: Vec<u64> = events
            .iter()
            .filter(|event| event["ph"] == "X")
            .filter_map(|event| event["tid"].as_u64())
            .collect();
        expect(
            outcome.code == Some(0)
                && reports.len() == 2
                && reports
                    .iter()
                    .all(|line| line.ends_with(&format!(", 1000 items on {ranks} ranks")))
                && items_of("split_round_robin") == 1000
                && items_of("split_managed") == 1000
                && (0..ranks as u64).all(|rank| rows.contains(&rank)),
            &format!(
                "exit 0, two reports of 1000 items on {ranks} ranks, and a trace of every rank's \
                 items"
            ),
            &outcome,
        )
    }

    /// One world of P processes × T rank-threads (`mpiexec -n P` with `DLP_THREADS=T`), for
    /// P and T from 1 to 3: every item once in every split, collective and map, in the whole
    /// world and among the worker ranks; no hang when a rank breaks out, returns early, returns
    /// an error or panics.
    fn processes_times_threads_checks() -> Vec<Check> {
        let grid = (1..=3).flat_map(|processes| (1..=3).map(move |threads| (processes, threads)));
        let mut checks: Vec<Check> = grid
            .map(|(processes, threads)| {
                check(
                    format!(
                        "{processes} processes x {threads} threads: every item once, every \
                         collective, and no hang at a break, early return, error or panic"
                    ),
                    move || processes_times_threads(processes, threads),
                )
            })
            .collect();
        checks.push(check(
            "2 processes x 2 threads: DLP_REPORT and DLP_TRACE show every rank's items",
            || report_and_trace_on(2, &[("DLP_THREADS", "2")]),
        ));
        checks.push(check(
            "3 processes x 2 threads: a rank stuck in its own code ends the job after \
             DLP_TIMEOUT, with one report of where each of the 6 ranks is",
            || {
                let started = std::time::Instant::now();
                let env = [
                    (runner::CHILD_VAR, "stuck"),
                    ("DLP_TIMEOUT", "1s"),
                    ("DLP_THREADS", "2"),
                ];
                let outcome = mpiexec(3, &me(), &env);
                let stderr = &outcome.stderr;
                let ranks_named = (0..6)
                    .filter(|rank| stderr.contains(&format!("\n  rank {rank}: ")))
                    .count();
                expect(
                    outcome.code == Some(124)
                        && started.elapsed() < Duration::from_secs(10)
                        && stderr.matches("longer than DLP_TIMEOUT=1.0 s").count() == 1
                        && stderr.contains("rank 5: runs item 5 of the loop")
                        && ranks_named == 6,
                    "exit 124 within 10 s, one report naming the 6 ranks and rank 5's item",
                    &outcome,
                )
            },
        ));
        checks
    }

    fn processes_times_threads(processes: usize, threads: usize) -> Result<(), String> {
        let threads_text = threads.to_string();
        let env = [("DLP_THREADS", threads_text.as_str())];
        let ranks = processes * threads;
        // The claim server serves the ranks of several processes that run threads, even on one
        // node.
        exactly_once(processes, &env, threads > 1)?;
        break_on(processes, &env)?;
        for name in ["quickstart", "mcutils_sample_program", "shared_table"] {
            let outcome = mpiexec(processes, &example(name), &env);
            let expected = on_threads(name, ranks);
            expect(
                outcome.code == Some(0) && outcome.stdout == expected,
                &format!("example {name}: exit 0 and the output on {ranks} threads:\n{expected}"),
                &outcome,
            )?;
        }
        let run = |scenario| scenario_with(processes, scenario, &env);
        let outcome = run("workers");
        expect(
            outcome.code == Some(0)
                && outcome.stdout == "the worker ranks' splits took every item once: true\n",
            "exit 0, and the worker ranks' splits took every item once",
            &outcome,
        )?;
        let outcome = run("nested");
        expect(
            outcome.code == Some(0) && outcome.stdout == "every pair once: true\n",
            "exit 0 and every pair once",
            &outcome,
        )?;
        let outcome = run("panic");
        let line = format!("panicked at item 5: broken example; stopping all {ranks} ranks");
        expect(
            outcome.code == Some(101)
                && (ranks == 1 || outcome.stderr.contains(&line))
                && dlp_lines(&outcome) == 1,
            "exit 101 and one line of dlp's that names the panic",
            &outcome,
        )?;
        if ranks == 1 {
            return Ok(()); // no rank 1 to return early
        }
        early_return_on(processes, &env)?;
        let started = std::time::Instant::now();
        let outcome = run("workers-early-return");
        expect(
            outcome.code == Some(101)
                && started.elapsed() < Duration::from_secs(10)
                && outcome
                    .stderr
                    .contains("but rank 1 has already returned from the world")
                && dlp_lines(&outcome) == 1,
            "within 10 s, exit 101 and one line: rank 1 returned before the worker ranks' split",
            &outcome,
        )?;
        let outcome = run("early-error");
        let stderr = &outcome.stderr;
        let error = stderr.find("no input file on rank 1");
        let explained = stderr.find("rank 1 has already returned from the world");
        expect(
            outcome.code != Some(0)
                && error
                    .zip(explained)
                    .is_some_and(|(error, explained)| error < explained),
            "non-zero, the user's error, then why another rank stopped",
            &outcome,
        )
    }

    /// The line of the exactly-once scenario that shows scatter's blocks of 1000 items.
    fn scatter_line(ranks: usize) -> String {
        let (base, longer) = (1000 / ranks, 1000 % ranks);
        let lengths: Vec<usize> = (0..ranks)
            .map(|rank| base + usize::from(rank < longer))
            .collect();
        format!("scatter {lengths:?}")
    }
}

#[cfg(feature = "mpi")]
fn main() {
    common::runner::main(on_mpi::child, on_mpi::checks);
}

#[cfg(not(feature = "mpi"))]
fn main() {
    println!("the MPI tests need `--features mpi`; none ran");
}
