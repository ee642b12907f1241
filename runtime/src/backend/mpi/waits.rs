//! Waiting with a limit (`DLP_TIMEOUT`) over MPI. Without one, dlp waits in MPI's blocking
//! calls. With one, a rank that waits polls instead, and meanwhile answers the other ranks'
//! questions of where it is; past the limit it asks every rank, and ends the job with a report
//! of where each is: the dlp call it waits in, or the item it runs, or that it did not answer
//! because it runs its own code.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mpi::Tag;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::backend::threads::OtherProcesses;
use crate::ranks::Ranks;
use crate::status::{RankStatus, TIMEOUT_EXIT_CODE, timeout_report};

/// The tags of the questions and the answers: above those of the maps (1 to 32,000).
const QUESTION: Tag = 32_100;
const ANSWER: Tag = 32_101;

/// How long a rank that timed out waits for the others' answers.
const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// How long the reporter may take, past collecting the answers, to print and end the job.
const LAST_WORDS: Duration = Duration::from_secs(3);

/// What the ranks of one process share about waiting: where each of them is, and whether another
/// process has asked (that process reports, not this one).
pub(super) struct ProcessWaits {
    comm: Arc<SimpleCommunicator>,
    /// The ranks of this process.
    here: Vec<Arc<RankStatus>>,
    limit: Duration,
    asked: AtomicBool,
    /// Set by the first rank here that reports: the others leave it to that one.
    reporting: AtomicBool,
}

// SAFETY: the communicator's handle is written once, when it is made; a process whose ranks
// are several threads calls MPI from any of them only under MPI_THREAD_MULTIPLE (the hybrid
// world is made only then), and a process of one rank calls it from that rank's thread alone.
unsafe impl Send for ProcessWaits {}
// SAFETY: as above; the rest is atomics and `Arc`s of them.
unsafe impl Sync for ProcessWaits {}

impl ProcessWaits {
    /// The waits of this process's ranks, `here`, if they have a limit.
    pub(super) fn new(
        comm: &Arc<SimpleCommunicator>,
        here: Vec<Arc<RankStatus>>,
        limit: Option<Duration>,
    ) -> Option<Arc<ProcessWaits>> {
        Some(Arc::new(ProcessWaits {
            comm: Arc::clone(comm),
            here,
            limit: limit?,
            asked: AtomicBool::new(false),
            reporting: AtomicBool::new(false),
        }))
    }

    /// Answers every question that has arrived, with where every rank of this process is;
    /// returns the lowest process that asked.
    pub(super) fn answer_questions(&self) -> Option<usize> {
        let mut lowest: Option<usize> = None;
        let any = self.comm.any_process();
        while let Some(question) = any.immediate_matched_probe_with_tag(QUESTION) {
            let (_, asked) = question.matched_receive_vec::<u8>();
            let asker = asked.source_rank();
            let answer: Vec<String> = self.here.iter().map(|status| status.describe()).collect();
            self.comm
                .process_at_rank(asker)
                .send_with_tag(answer.join("\n").as_bytes(), ANSWER);
            lowest = Some(lowest.map_or(asker as usize, |lowest| lowest.min(asker as usize)));
            self.asked.store(true, Ordering::Relaxed);
        }
        lowest
    }

    /// `waiter` waited past the limit: asks every other process where its ranks are, and ends
    /// the job with what they answer. Where another process asked already, or a lower one asks
    /// meanwhile, or another rank here reports, that one reports, and this one leaves the
    /// report to it.
    pub(super) fn report_and_end(&self, waiter: &RankStatus) -> ! {
        if self.asked.load(Ordering::Relaxed) || self.reporting.swap(true, Ordering::AcqRel) {
            self.leave_the_report();
        }
        let me = self.comm.rank() as usize;
        let size = self.comm.size() as usize;
        for other in (0..size).filter(|&other| other != me) {
            self.comm
                .process_at_rank(other as i32)
                .send_with_tag(&[0u8][..], QUESTION);
        }
        let mut answers: Vec<Option<String>> = vec![None; size];
        let deadline = Instant::now() + ANSWER_WAIT;
        while Instant::now() < deadline && answers.iter().filter(|a| a.is_some()).count() < size - 1
        {
            if self.answer_questions().is_some_and(|asker| asker < me) {
                self.leave_the_report();
            }
            self.take_answers(&mut answers);
            std::thread::sleep(Duration::from_millis(1));
        }
        let here = (self.here.iter())
            .filter(|status| !is(status, waiter))
            .map(|status| status.describe());
        let elsewhere = (0..size).filter(|&other| other != me).flat_map(|other| {
            let answer = answers[other]
                .take()
                .unwrap_or_else(|| silent(other, self.here.len()));
            answer.lines().map(str::to_owned).collect::<Vec<_>>()
        });
        let lines: Vec<String> = here.chain(elsewhere).collect();
        let report = timeout_report(&waiter.describe(), self.limit, &lines);
        eprintln!("dlp: {report}");
        super::abort_job(TIMEOUT_EXIT_CODE)
    }

    /// Leaves the report to a process that asked: answers the others that ask meanwhile (more
    /// than one process may time out at once), and ends this process if the reporter has not
    /// ended the job in time.
    fn leave_the_report(&self) -> ! {
        let deadline = Instant::now() + ANSWER_WAIT + LAST_WORDS;
        while Instant::now() < deadline {
            self.answer_questions();
            std::thread::sleep(Duration::from_millis(1));
        }
        super::end::wait_for_the_end(Duration::ZERO)
    }

    fn take_answers(&self, answers: &mut [Option<String>]) {
        let any = self.comm.any_process();
        while let Some(answer) = any.immediate_matched_probe_with_tag(ANSWER) {
            let (text, from) = answer.matched_receive_vec::<u8>();
            answers[from.source_rank() as usize] =
                Some(String::from_utf8_lossy(&text).into_owned());
        }
    }
}

/// Whether `status` is `waiter`'s.
fn is(status: &Arc<RankStatus>, waiter: &RankStatus) -> bool {
    std::ptr::eq(Arc::as_ptr(status), waiter)
}

/// The line for process `process`, of `threads` ranks, that did not answer.
fn silent(process: usize, threads: usize) -> String {
    let first = super::first_rank_of(Ranks::All, process);
    let within = ANSWER_WAIT.as_secs();
    match threads {
        1 => format!("rank {first}: no answer within {within} s: it runs its own code, not dlp's"),
        _ => format!(
            "ranks {first} to {}: no answer within {within} s: they run their own code, not \
             dlp's",
            first + threads - 1
        ),
    }
}

/// One rank's way to wait: its status, and its process's waits.
pub(super) struct Waits {
    process: Arc<ProcessWaits>,
    status: Arc<RankStatus>,
}

thread_local! {
    /// The waits of the rank this thread runs, when it has a limit.
    static WAITS: RefCell<Option<Rc<Waits>>> = const { RefCell::new(None) };
}

/// Sets the waits of the rank that this thread runs, `status`, for as long as it runs.
pub(super) fn limit(process: Option<&Arc<ProcessWaits>>, status: &Arc<RankStatus>) {
    let waits = process.map(|process| {
        Rc::new(Waits {
            process: Arc::clone(process),
            status: Arc::clone(status),
        })
    });
    WAITS.with(|waits_here| *waits_here.borrow_mut() = waits);
}

/// The calling rank's waits, if it has a limit.
pub(super) fn current() -> Option<Rc<Waits>> {
    WAITS.with(|waits| waits.borrow().clone())
}

impl Waits {
    /// Calls `done` until it says the wait is over, answering the other processes' questions
    /// in between; past the limit, ends the job with a report.
    pub(super) fn poll(&self, mut done: impl FnMut() -> bool) {
        let since = Instant::now();
        let mut marked = false;
        while !done() {
            self.process.answer_questions();
            if !marked {
                self.status.waiting(true);
                marked = true;
            }
            if since.elapsed() > self.process.limit {
                self.process.report_and_end(&self.status);
            }
            std::thread::yield_now();
        }
        if marked {
            self.status.waiting(false);
        }
    }
}

impl OtherProcesses for ProcessWaits {
    fn answer(&self) {
        self.answer_questions();
    }

    fn report(&self, waiter: &RankStatus) -> ! {
        self.report_and_end(waiter)
    }
}
