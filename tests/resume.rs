//! Journals: a loop or map that was stopped (SIGTERM, SIGINT, SIGUSR1) or killed (SIGKILL)
//! picks up where it left off when the program runs again.
//!
//! This test has no libtest harness: it runs itself again as a child process (with
//! `DLP_TEST_CHILD` naming the scenario), on threads, and with `--features mpi` under `mpiexec`
//! too. Each item's body appends its index to a side file once it is done, so the checks count
//! how often every item finished over all the runs. Every child runs under the hang guard.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::runner::{self, Check, Outcome, check, expect};
use dlp::Split;

/// The items of every scenario, and how long each takes.
const ITEMS: usize = 60;
const ITEM_TIME: Duration = Duration::from_millis(5);

/// What a scenario reads from its environment.
struct Setup {
    journal: PathBuf,
    side: PathBuf,
    items: usize,
    split: Split,
}

impl Setup {
    fn from_env() -> Setup {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let split = match var("DLP_TEST_SPLIT").as_str() {
            "block" => Split::block(),
            "round_robin" => Split::round_robin(),
            "round_robin 3" => Split::round_robin().chunk(3),
            "guided" => Split::guided(),
            "managed 4" => Split::managed().chunk(4),
            _ => Split::managed(),
        };
        Setup {
            journal: var("DLP_TEST_JOURNAL").into(),
            side: var("DLP_TEST_SIDE").into(),
            items: var("DLP_TEST_ITEMS").parse().expect("a number of items"),
            split,
        }
    }
}

/// One item's work: a pause, then its index appended to the side file in one write.
fn process(side: &Path, item: usize) {
    std::thread::sleep(ITEM_TIME);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(side)
        .expect("the side file opens");
    file.write_all(format!("{item}\n").as_bytes())
        .expect("the side file takes a line");
}

/// Where each rank's process writes its PID, for the checks that signal one rank.
fn write_pid(setup: &Setup) {
    let file = setup.side.with_extension(format!("pid{}", dlp::rank()));
    std::fs::write(file, std::process::id().to_string()).expect("the PID file is written");
}

/// The loop of the `macro` scenario: a `#[par_for]` loop with a journal.
#[dlp::spmd]
fn journaled_loop(journal: &Path, side: &Path, items: usize) -> usize {
    let mut done = 0;
    #[par_for(split = "block", journal = journal)]
    for item in 0..items {
        process(side, item);
        done += 1;
    }
    done
}

/// A `#[worker_only]` loop with a journal: its first worker rank reads the journal for the
/// others.
#[dlp::worker_only]
fn workers_loop(journal: &Path, items: u32) -> usize {
    let mut done = 0;
    #[par_for(journal = journal)]
    for _item in 0..items {
        done += 1;
    }
    done
}

/// Runs `count` on 3 rank-threads twice, with one journal: how many items each run processed.
fn twice_with_a_journal(name: &str, count: fn(&Path) -> usize) -> (usize, usize) {
    let journal = scratch(name).join("journal");
    let run = || {
        let journal = journal.clone();
        common::no_hang(move || {
            dlp::World::threads(3).run(|| dlp::all_reduce(count(&journal), |a, b| a + b))
        })
    };
    (run(), run())
}

/// The program each scenario runs as a child.
fn child(scenario: &str) {
    let setup = Setup::from_env();
    let finished = dlp::run(|| {
        write_pid(&setup);
        let mine = match scenario {
            "loop" => {
                let share = setup.split.journal(&setup.journal).over(0..setup.items);
                share.map(|item| process(&setup.side, item)).count()
            }
            "macro" => journaled_loop(&setup.journal, &setup.side, setup.items),
            "map" => {
                let results: Vec<u64> = setup
                    .split
                    .journal(&setup.journal)
                    .map_ordered(|item| square_plus_one(&setup.side, item), 0..setup.items)
                    .collect();
                if dlp::is_main() {
                    println!("results {results:?}");
                }
                0
            }
            other => panic!("no scenario {other}"),
        };
        dlp::all_reduce(mine, |a, b| a + b)
    });
    println!("complete, {finished} items in this run");
}

fn square_plus_one(side: &Path, item: usize) -> u64 {
    process(side, item);
    (item * item + 1) as u64
}

/// A scratch directory of one check, empty.
fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir()
        .join(format!("dlp-resume-{}", std::process::id()))
        .join(name.replace([' ', '/', ','], "-"));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("the scratch directory is made");
    directory
}

/// A run of a scenario: where it keeps its journal and side file, and what it runs on.
struct Job {
    scenario: &'static str,
    split: &'static str,
    items: usize,
    directory: PathBuf,
    /// `None` for threads; the number of processes under `mpiexec`.
    processes: Option<usize>,
    threads: usize,
    /// Whether the exit status of a run is the processes' own: not where the launcher, which
    /// forwarded a signal, reports another.
    status_known: bool,
}

/// How a check interrupts a run, once the side file holds `after` lines.
#[derive(Clone, Copy)]
enum Interrupt {
    None,
    /// The signal to the process of rank `rank` (the only process on threads).
    Rank(i32, usize),
    /// The signal to the launcher (`mpiexec`), which forwards it.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Launcher(i32),
    /// SIGKILL to every process of the job.
    KillAll,
}

impl Job {
    fn new(name: &str, scenario: &'static str, split: &'static str) -> Job {
        Job {
            scenario,
            split,
            items: ITEMS,
            directory: scratch(name),
            processes: None,
            threads: 2,
            status_known: true,
        }
    }

    fn side(&self) -> PathBuf {
        self.directory.join("finished")
    }

    fn command(&self) -> Command {
        let me = std::env::current_exe().expect("the test binary's path");
        let mut command = match self.processes {
            None => {
                let mut command = Command::new(me);
                command.env("DLP_THREADS", self.threads.to_string());
                command
            }
            #[cfg(feature = "mpi")]
            Some(processes) => on_mpi::command(processes, self.threads, &me),
            #[cfg(not(feature = "mpi"))]
            Some(_) => unreachable!("MPI jobs only in a build with MPI"),
        };
        command
            .env_remove("DLP_BACKEND")
            .env_remove("RUST_BACKTRACE")
            .env(runner::CHILD_VAR, self.scenario)
            .env("DLP_TEST_JOURNAL", self.directory.join("journal"))
            .env("DLP_TEST_SIDE", self.side())
            .env("DLP_TEST_ITEMS", self.items.to_string())
            .env("DLP_TEST_SPLIT", self.split);
        command
    }

    /// Runs the job, interrupting it as `interrupt` says once `after` items have finished.
    fn run(&self, interrupt: Interrupt, after: usize) -> Outcome {
        let what = format!("scenario {} ({})", self.scenario, self.split);
        runner::run_child_while(&what, &mut self.command(), |child| {
            self.interrupt(child, interrupt, after)
        })
        .expect("the test binary starts")
    }

    fn interrupt(&self, child: &Child, interrupt: Interrupt, after: usize) {
        if matches!(interrupt, Interrupt::None) || !self.wait_for(after) {
            return;
        }
        let ranks = self.processes.unwrap_or(1);
        let pid_of = |rank: usize| {
            let file = self.side().with_extension(format!("pid{rank}"));
            let pid = std::fs::read_to_string(file).unwrap_or_default();
            pid.trim().parse::<i32>().ok()
        };
        let send = |pid: Option<i32>, signal: i32| {
            // SAFETY: `kill` sends a signal to a process; it reads and writes no memory.
            pid.map(|pid| unsafe { libc::kill(pid, signal) });
        };
        match interrupt {
            Interrupt::None => {}
            Interrupt::Rank(signal, rank) if self.processes.is_some() => send(pid_of(rank), signal),
            Interrupt::Rank(signal, _) | Interrupt::Launcher(signal) => {
                send(Some(child.id() as i32), signal)
            }
            Interrupt::KillAll => (0..ranks).for_each(|rank| match self.processes {
                Some(_) => send(pid_of(rank), libc::SIGKILL),
                None => send(Some(child.id() as i32), libc::SIGKILL),
            }),
        }
    }

    /// Waits until `lines` items have finished; false if they never do.
    fn wait_for(&self, lines: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.finished().values().sum::<usize>() >= lines {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// How many times each item has finished, over every run so far.
    fn finished(&self) -> BTreeMap<usize, usize> {
        let text = std::fs::read_to_string(self.side()).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            if let Ok(item) = line.parse() {
                *counts.entry(item).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Every item finished at least once, and which finished more often than once.
    fn twice(&self) -> Result<Vec<usize>, String> {
        let counts = self.finished();
        let missing: Vec<usize> = (0..self.items)
            .filter(|item| !counts.contains_key(item))
            .collect();
        if !missing.is_empty() {
            return Err(format!("items never finished: {missing:?}"));
        }
        Ok(counts
            .into_iter()
            .filter(|&(_, count)| count > 1)
            .map(|(item, _)| item)
            .collect())
    }
}

impl Interrupt {
    /// The signal it sends, with its name.
    fn signal(self) -> (i32, &'static str) {
        let signal = match self {
            Interrupt::Rank(signal, _) | Interrupt::Launcher(signal) => signal,
            Interrupt::None | Interrupt::KillAll => libc::SIGKILL,
        };
        let name = match signal {
            libc::SIGTERM => "SIGTERM",
            libc::SIGINT => "SIGINT",
            libc::SIGUSR1 => "SIGUSR1",
            _ => "SIGKILL",
        };
        (signal, name)
    }
}

impl Job {
    /// The exit status of a stop (where the launcher reports the processes' own), and one line:
    /// how many items are done, that running again resumes, and no other line.
    fn stopped_well(&self, outcome: &Outcome, interrupt: Interrupt) -> Result<(), String> {
        let (signal, name) = interrupt.signal();
        let code = self.status_known.then_some(128 + signal);
        let lines: Vec<&str> = outcome.stderr.lines().collect();
        expect(
            code.is_none_or(|code| outcome.code == Some(code))
                && lines.len() == 1
                && lines[0].starts_with(&format!("dlp: stopped by {name}: "))
                && lines[0].contains(&format!(" of {} items are done, ", self.items))
                && lines[0].contains("run the same command again to resume")
                && !outcome.stdout.contains("complete"),
            &format!("exit {code:?}, and one line: stopped by {name}, items done and left"),
            outcome,
        )
    }
}

/// The number of items the stop line says are done.
fn done_in(line: &str) -> Option<usize> {
    let after = line.split(": ").nth(2)?;
    after.split_whitespace().next()?.parse().ok()
}

/// A run that ends well, having processed `expected` items.
fn completed(outcome: &Outcome, expected: Option<usize>) -> Result<(), String> {
    let said = outcome
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("complete, "))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<usize>().ok());
    expect(
        outcome.code == Some(0)
            && outcome.stderr.is_empty()
            && said.is_some()
            && expected.is_none_or(|expected| said == Some(expected)),
        &format!("exit 0, nothing on stderr, and complete with {expected:?} items"),
        outcome,
    )
}

/// Stops `job` with `signal` sent as `interrupt`, then runs it again: the stop says how far it
/// got, and the second run processes the rest; over both, every item finished exactly once.
fn stop_and_resume(job: &Job, interrupt: Interrupt) -> Result<(), String> {
    stop_after_and_resume(job, 10, interrupt)
}

/// [`stop_and_resume`], stopping once `after` items have finished.
fn stop_after_and_resume(job: &Job, after: usize, interrupt: Interrupt) -> Result<(), String> {
    let stopped = job.run(interrupt, after);
    job.stopped_well(&stopped, interrupt)?;
    let done_before = job.finished().values().sum::<usize>();
    let said = done_in(stopped.stderr.trim());
    if said != Some(done_before) {
        return Err(format!(
            "the stop line says {said:?} items are done, the side file has {done_before}:\n{}",
            stopped.stderr
        ));
    }
    let resumed = job.run(Interrupt::None, 0);
    completed(&resumed, Some(job.items - done_before))?;
    let twice = job.twice()?;
    if !twice.is_empty() {
        return Err(format!("items finished twice after a stop: {twice:?}"));
    }
    Ok(())
}

/// Kills every process of `job`, then runs it again: every item finished, and only the items a
/// rank was on when it was killed (one run of items, here one item) finished twice.
fn kill_and_resume(job: &Job) -> Result<(), String> {
    kill_after_and_resume(job, 10)
}

/// [`kill_and_resume`], killing once `after` items have finished.
fn kill_after_and_resume(job: &Job, after: usize) -> Result<(), String> {
    let killed = job.run(Interrupt::KillAll, after);
    if killed.code == Some(0) {
        return Err(format!("the job was not killed:\n{}", killed.stdout));
    }
    let resumed = job.run(Interrupt::None, 0);
    completed(&resumed, None)?;
    let twice = job.twice()?;
    let ranks = job.processes.unwrap_or(job.threads);
    expect(
        twice.len() <= ranks,
        &format!("at most {ranks} items (one per rank) finished twice, not {twice:?}"),
        &resumed,
    )
}

/// The results of a map stopped and resumed, against the results of a run without a stop.
fn map_resumed(job: &Job, interrupt: Interrupt) -> Result<(), String> {
    let stopped = job.run(interrupt, 10);
    job.stopped_well(&stopped, interrupt)?;
    let resumed = job.run(Interrupt::None, 0);
    let expected: Vec<u64> = (0..job.items).map(|i| (i * i + 1) as u64).collect();
    let line = format!("results {expected:?}");
    expect(
        resumed.code == Some(0) && resumed.stdout.lines().any(|l| l == line),
        "the resumed map yields every result, in order, as a run without a stop",
        &resumed,
    )?;
    let twice = job.twice()?;
    if !twice.is_empty() {
        return Err(format!("items computed twice after a stop: {twice:?}"));
    }
    Ok(())
}

fn checks() -> Vec<Check> {
    let mut checks = Vec::new();
    for split in [
        "managed",
        "block",
        "round_robin",
        "round_robin 3",
        "guided",
        "managed 4",
    ] {
        checks.push(check(
            format!("threads: SIGTERM stops a {split} loop well, and it resumes"),
            move || {
                let job = Job::new(&format!("term {split}"), "loop", split);
                stop_and_resume(&job, Interrupt::Rank(libc::SIGTERM, 0))
            },
        ));
        checks.push(check(
            format!("threads: SIGKILL of a {split} loop, and it resumes"),
            move || kill_and_resume(&Job::new(&format!("kill {split}"), "loop", split)),
        ));
    }
    for (split, after) in [("managed", 1), ("managed", 45), ("block", 1), ("block", 45)] {
        checks.push(check(
            format!("threads: SIGTERM after {after} items of a {split} loop, and it resumes"),
            move || {
                let job = Job::new(&format!("term {split} {after}"), "loop", split);
                let term = Interrupt::Rank(libc::SIGTERM, 0);
                stop_after_and_resume(&job, after, term)
            },
        ));
        checks.push(check(
            format!("threads: SIGKILL after {after} items of a {split} loop, and it resumes"),
            move || {
                let job = Job::new(&format!("kill {split} {after}"), "loop", split);
                kill_after_and_resume(&job, after)
            },
        ));
    }
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGUSR1, "SIGUSR1")] {
        checks.push(check(
            format!("threads: {name} stops a loop of 3 ranks well"),
            move || {
                let mut job = Job::new(name, "loop", "managed");
                job.threads = 3;
                stop_and_resume(&job, Interrupt::Rank(signal, 0))
            },
        ));
    }
    checks.push(check("threads: a #[par_for(journal)] loop resumes", || {
        let job = Job::new("macro", "macro", "block");
        stop_and_resume(&job, Interrupt::Rank(libc::SIGTERM, 0))
    }));
    checks.push(check("serial: a stopped loop resumes", || {
        let mut job = Job::new("serial", "loop", "managed");
        job.threads = 1;
        stop_and_resume(&job, Interrupt::Rank(libc::SIGTERM, 0))
    }));
    checks.push(check(
        "threads: a stopped map_ordered yields every result once resumed",
        || {
            let job = Job::new("map", "map", "managed");
            map_resumed(&job, Interrupt::Rank(libc::SIGTERM, 0))
        },
    ));
    checks.push(check(
        "threads: a #[worker_only] loop resumes among the workers",
        || {
            let runs =
                twice_with_a_journal("workers", |journal| workers_loop(journal, 40).unwrap_or(0));
            (runs == (40, 0)).then_some(()).ok_or(format!(
                "items processed in two runs: {runs:?}, not (40, 0)"
            ))
        },
    ));
    checks.push(check(
        "threads: a journal of an iterable of unknown length",
        || {
            let runs = twice_with_a_journal("unknown length", |journal| {
                let items = (0..40u32).filter(|item| item % 2 == 0);
                Split::managed().journal(journal).over(items).count()
            });
            (runs == (20, 0)).then_some(()).ok_or(format!(
                "items processed in two runs: {runs:?}, not (20, 0)"
            ))
        },
    ));
    checks.push(check(
        "threads: a journal of another iterable is refused",
        || another_iterable(Job::new("another", "loop", "managed")),
    ));
    checks.push(check(
        "threads: a cut last record is redone, nothing else",
        || cut_last_record(Job::new("cut", "loop", "block")),
    ));
    #[cfg(feature = "mpi")]
    checks.extend(on_mpi::checks());
    checks
}

/// A journal of 60 items, given a loop of 61: one line that says so, and nothing processed.
fn another_iterable(mut job: Job) -> Result<(), String> {
    completed(&job.run(Interrupt::None, 0), Some(job.items))?;
    job.items += 1;
    let before = job.finished().values().sum::<usize>();
    let outcome = job.run(Interrupt::None, 0);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    expect(
        outcome.code == Some(101)
            && lines.len() == 1
            && lines[0].starts_with("dlp: the journal ")
            && lines[0].contains("was made for a loop over 60 items")
            && lines[0].contains("this is a loop over 61 items")
            && job.finished().values().sum::<usize>() == before,
        "exit 101, one line naming both iterables, and no item processed",
        &outcome,
    )
}

/// A journal whose last record lost its last bytes (as a process killed while writing leaves
/// it): the next run redoes that record's items only.
fn cut_last_record(job: Job) -> Result<(), String> {
    let term = Interrupt::Rank(libc::SIGTERM, 0);
    job.stopped_well(&job.run(term, 10), term)?;
    let journal = job.directory.join("journal");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&journal)
        .map_err(|error| error.to_string())?
        .map(|entry| entry.expect("an entry").path())
        .collect();
    segments.sort();
    let last = segments.last().ok_or("no segment written")?;
    let length = std::fs::metadata(last).map_err(|e| e.to_string())?.len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .map_err(|e| e.to_string())?;
    file.set_len(length - 3).map_err(|e| e.to_string())?;
    let resumed = job.run(Interrupt::None, 0);
    completed(&resumed, None)?;
    let twice = job.twice()?;
    expect(
        !twice.is_empty() && twice.len() <= job.items / 2,
        &format!("the cut record's items, and no others, ran again: {twice:?}"),
        &resumed,
    )
}

#[cfg(feature = "mpi")]
mod on_mpi {
    use super::*;
    use crate::common::launcher::Launcher;

    fn launcher() -> &'static Launcher {
        static LAUNCHER: std::sync::OnceLock<Launcher> = std::sync::OnceLock::new();
        LAUNCHER.get_or_init(Launcher::of_this_build)
    }

    /// A signal that the launcher passes on to every process: MPICH's `mpiexec` forwards SIGINT
    /// (and SIGUSR1); Open MPI's `mpirun` forwards SIGUSR1 only, and answers SIGINT and SIGTERM
    /// by ending the job itself.
    fn forwarded() -> i32 {
        match launcher().library.contains("Open MPI") {
            true => libc::SIGUSR1,
            false => libc::SIGINT,
        }
    }

    /// Whether the launcher's exit status says what the processes' was after it forwarded a
    /// signal. MPICH's `mpiexec` (Hydra 4.0) exits 0 now and then instead: one time in six for
    /// processes that are a shell script, `trap "exit 7" USR1; sleep 30 & wait`.
    fn launcher_keeps_the_status() -> bool {
        launcher().library.contains("Open MPI")
    }

    /// `processes` processes of `threads` rank-threads each.
    pub(super) fn command(processes: usize, threads: usize, me: &Path) -> Command {
        let mut command = launcher().command(processes, me);
        match threads {
            1 => command.env_remove("DLP_THREADS"),
            threads => command.env("DLP_THREADS", threads.to_string()),
        };
        command
    }

    fn on(processes: usize, name: &str, scenario: &'static str, split: &'static str) -> Job {
        let mut job = Job::new(name, scenario, split);
        job.processes = Some(processes);
        job.threads = 1;
        job
    }

    pub(super) fn checks() -> Vec<Check> {
        let mut checks = Vec::new();
        for processes in [2, 3] {
            let n = processes;
            checks.push(check(
                format!("mpi -n {n}: SIGTERM to rank 1 alone stops every rank well"),
                move || {
                    let job = on(n, &format!("mpi term {n}"), "loop", "managed");
                    stop_and_resume(&job, Interrupt::Rank(libc::SIGTERM, 1))
                },
            ));
            checks.push(check(
                format!("mpi -n {n}: a signal to the launcher stops a block loop well"),
                move || {
                    let mut job = on(n, &format!("mpi int {n}"), "loop", "block");
                    job.status_known = launcher_keeps_the_status();
                    stop_and_resume(&job, Interrupt::Launcher(forwarded()))
                },
            ));
            for after in [1, 30, 45] {
                checks.push(check(
                    format!("mpi -n {n}: SIGTERM to rank {} after {after} items", n - 1),
                    move || {
                        let job = on(n, &format!("mpi term {n} {after}"), "loop", "managed");
                        stop_after_and_resume(&job, after, Interrupt::Rank(libc::SIGTERM, n - 1))
                    },
                ));
                checks.push(check(
                    format!("mpi -n {n}: SIGKILL of every process after {after} items"),
                    move || {
                        let job = on(n, &format!("mpi kill {n} {after}"), "loop", "managed");
                        kill_after_and_resume(&job, after)
                    },
                ));
            }
            checks.push(check(
                format!("mpi -n {n}: a map stopped by SIGUSR1 on rank 0 resumes"),
                move || {
                    let job = on(n, &format!("mpi map {n}"), "map", "managed");
                    map_resumed(&job, Interrupt::Rank(libc::SIGUSR1, 0))
                },
            ));
        }
        checks.push(check(
            "mpi 2 processes x 2 threads: SIGTERM to the second process stops every rank well",
            || {
                let mut job = on(2, "mpi hybrid term", "loop", "managed");
                job.threads = 2;
                stop_and_resume(&job, Interrupt::Rank(libc::SIGTERM, 2))
            },
        ));
        checks.push(check(
            "mpi 2 processes x 2 threads: a map stopped by a signal to the launcher resumes",
            || {
                let mut job = on(2, "mpi hybrid map", "map", "managed");
                job.threads = 2;
                job.status_known = launcher_keeps_the_status();
                map_resumed(&job, Interrupt::Launcher(forwarded()))
            },
        ));
        checks
    }
}

fn main() {
    runner::main(child, checks);
}
