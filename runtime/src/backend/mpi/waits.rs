//! Waiting with a limit (`DLP_TIMEOUT`) over MPI. Without one, dlp waits in MPI's blocking
//! calls. With one, a rank that waits polls instead, and meanwhile answers the other ranks'
//! questions of where it is; past the limit it asks every rank, and ends the job with a report
//! of where each is: the dlp call it waits in, or the item it runs, or that it did not answer
//! because it runs its own code.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpi::Tag;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::status::{RankStatus, TIMEOUT_EXIT_CODE, timeout_report};

/// The tags of the questions and the answers: above those of the maps (1 to 32,000).
const QUESTION: Tag = 32_100;
const ANSWER: Tag = 32_101;

/// How long a rank that timed out waits for the others' answers.
const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// How long the reporter may take, past collecting the answers, to print and end the job.
const LAST_WORDS: Duration = Duration::from_secs(3);

/// This process's rank's way to wait.
pub(super) struct Waits {
    comm: Arc<SimpleCommunicator>,
    status: Arc<RankStatus>,
    limit: Duration,
    /// Set once another rank has asked where this one is: that rank reports, not this one.
    asked: Cell<bool>,
}

thread_local! {
    /// The waits of the rank this thread runs, when it has a limit.
    static WAITS: RefCell<Option<Rc<Waits>>> = const { RefCell::new(None) };
}

/// Sets the limit of the rank that this thread runs, for as long as it runs.
pub(super) fn limit(
    comm: &Arc<SimpleCommunicator>,
    status: &Arc<RankStatus>,
    limit: Option<Duration>,
) {
    let waits = limit.map(|limit| {
        Rc::new(Waits {
            comm: Arc::clone(comm),
            status: Arc::clone(status),
            limit,
            asked: Cell::new(false),
        })
    });
    WAITS.with(|waits_here| *waits_here.borrow_mut() = waits);
}

/// The calling rank's waits, if it has a limit.
pub(super) fn current() -> Option<Rc<Waits>> {
    WAITS.with(|waits| waits.borrow().clone())
}

impl Waits {
    /// Calls `done` until it says the wait is over, answering the other ranks' questions in
    /// between; past the limit, ends the job with a report.
    pub(super) fn poll(&self, mut done: impl FnMut() -> bool) {
        let since = Instant::now();
        let mut marked = false;
        while !done() {
            self.answer_questions();
            if !marked {
                self.status.waiting(true);
                marked = true;
            }
            if since.elapsed() > self.limit {
                if self.asked.get() {
                    // Another rank reports and ends the job; this one answered it already.
                    super::agree::wait_for_the_end(ANSWER_WAIT + LAST_WORDS);
                }
                self.report_and_end();
            }
            std::thread::yield_now();
        }
        if marked {
            self.status.waiting(false);
        }
    }

    /// Answers every question that has arrived; returns the lowest rank that asked.
    fn answer_questions(&self) -> Option<usize> {
        let mut lowest: Option<usize> = None;
        let any = self.comm.any_process();
        while let Some(question) = any.immediate_matched_probe_with_tag(QUESTION) {
            let (_, asked) = question.matched_receive_vec::<u8>();
            let asker = asked.source_rank();
            let answer = self.status.describe();
            self.comm
                .process_at_rank(asker)
                .send_with_tag(answer.as_bytes(), ANSWER);
            lowest = Some(lowest.map_or(asker as usize, |lowest| lowest.min(asker as usize)));
            self.asked.set(true);
        }
        lowest
    }

    /// Asks every other rank where it is, and ends the job with what they answer. Where a lower
    /// rank asks too, it reports, and this one leaves the report to it.
    fn report_and_end(&self) -> ! {
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
                super::agree::wait_for_the_end(ANSWER_WAIT + LAST_WORDS);
            }
            self.take_answers(&mut answers);
            std::thread::sleep(Duration::from_millis(1));
        }
        let lines: Vec<String> = (0..size)
            .filter(|&other| other != me)
            .map(|other| {
                answers[other].take().unwrap_or_else(|| {
                    format!(
                        "rank {other}: no answer within {} s: it runs its own code, not dlp's",
                        ANSWER_WAIT.as_secs()
                    )
                })
            })
            .collect();
        let report = timeout_report(&self.status.describe(), self.limit, &lines);
        eprintln!("dlp: {report}");
        super::abort_job(TIMEOUT_EXIT_CODE)
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
