//! The post of one communicator: every collective of dlp over MPI is point-to-point messages on
//! one tag, each a [`Record`] that starts with the call it belongs to; where every rank of the
//! communicator is on this node, the records travel through shared memory instead (`lanes.rs`).
//! Both keep the records of one sender to one receiver in order, so a rank reads each other
//! rank's records in the order that rank made its calls: a record of another call than the one expected is a mismatch,
//! found where it is read, and no rank takes another call's data for its own. Nothing is
//! exchanged to check a call before it runs: a broadcast's root and a gather's senders send and
//! go on, as they do with MPI's own collectives.
//!
//! A rank waits only in [`Post::receive`], which takes in every record that arrives, from any
//! rank. Ranks whose calls differ can wait on each other without either sending (a gather's
//! root for a rank that waits as a broadcast's receiver): a rank that has waited
//! [`NOTE_AFTER`] tells the rank it waits for, with a note of its call, and a rank that reads a
//! note that does not fit its own calls reports the mismatch. A rank whose body has returned
//! sends an end record to every other rank (`end.rs`).

use std::collections::VecDeque;
use std::ffi::c_void;
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mpi::Tag;
use mpi::ffi;
use mpi::point_to_point::{MatchedReceiveVec, Source};
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};

use super::lanes::{Lanes, Ring, Rings, Taken};
use super::record::{Kind, Record};
use super::waits;
use crate::comm::Call;
use crate::comm::call::{calls_differ, never_completed};
use crate::failure::{misuse, stop_well};
use crate::ranks::Ranks;

/// The tag of every record: above the maps' (1 to 32,000) and the waits' questions.
const TAG: Tag = 32_200;

/// How long a rank waits for another before it sends that rank a note of its call.
const NOTE_AFTER: Duration = Duration::from_millis(2);

/// The numbers of the calls made once every rank has ended, where no call can differ: a rank
/// that waits in one sends no note, which could outlive the process it is for.
pub(crate) const AFTER_THE_END: u64 = u64::MAX - 16;

/// How often a waiting rank reads the clock, in polls of MPI.
const POLLS_PER_LOOK_AT_THE_CLOCK: u32 = 64;

/// How long a rank that found a mismatch leaves a lower rank, which may have found it too, to
/// report it first.
pub(super) const REPORT_TIME: Duration = Duration::from_secs(3);

/// How many sends under way a rank lets gather before it looks for the complete ones.
const SENDS_BEFORE_A_LOOK: usize = 16;

/// The calls of its own that a rank remembers, to name the one that a late record belongs to.
const HISTORY: usize = 64;

/// A call this rank made, as it remembers it.
struct Made {
    number: u64,
    operation: &'static str,
    site: &'static Location<'static>,
}

/// A send under way, with the record whose bytes MPI reads until it is complete.
struct Sending {
    request: ffi::MPI_Request,
    _held: Held,
}

/// The record of a send: its own, or one that several sends share (a broadcast's children), so
/// that its bytes are not copied for each.
enum Held {
    Own(Record),
    Shared(Arc<Record>),
}

impl Held {
    fn bytes(&self) -> &[u8] {
        match self {
            Held::Own(record) => record.bytes(),
            Held::Shared(record) => record.bytes(),
        }
    }
}

/// What a rank knows of the messages of one communicator.
struct Mailbox {
    /// The records that arrived from each rank and were not read yet, in order.
    arrived: Vec<VecDeque<Record>>,
    sending: VecDeque<Sending>,
    /// For each rank, the number of the last call in which this rank sent it a record.
    last_sent: Vec<Option<u64>>,
    /// This rank's last calls, the newest last.
    made: VecDeque<Made>,
    /// The rings to and from the other ranks, where they are all on this node.
    lanes: Option<Lanes>,
}

/// One communicator of dlp's collectives, and its mailbox.
pub(crate) struct Post {
    comm: Arc<SimpleCommunicator>,
    /// The group whose calls travel here, to name its ranks by their world rank.
    group: Ranks,
    rank: usize,
    size: usize,
    mailbox: Mutex<Mailbox>,
}

// SAFETY: the communicator's handle is written once, when it is made; the mailbox's requests
// and buffers are reached only under its lock. A process whose ranks are several threads calls
// MPI from any of them only under MPI_THREAD_MULTIPLE (the hybrid world is made only then).
unsafe impl Send for Post {}
// SAFETY: as above.
unsafe impl Sync for Post {}

/// How a record read from a rank fits the call that reads it.
enum Fit {
    /// It is that call's.
    Yes,
    /// A note that asks nothing of this call: read on.
    Skip,
}

impl Post {
    /// The post of `comm`, the communicator of `group`'s calls; a collective call.
    pub(crate) fn new(comm: Arc<SimpleCommunicator>, group: Ranks) -> Post {
        let rank = comm.rank() as usize;
        let size = comm.size() as usize;
        let lanes = Rings::of(&comm, group).map(|rings| Lanes::new(rings, rank));
        Post {
            comm,
            group,
            rank,
            size,
            mailbox: Mutex::new(Mailbox {
                arrived: (0..size).map(|_| VecDeque::new()).collect(),
                sending: VecDeque::new(),
                last_sent: vec![None; size],
                made: VecDeque::with_capacity(HISTORY),
                lanes,
            }),
        }
    }

    pub(crate) fn comm(&self) -> &Arc<SimpleCommunicator> {
        &self.comm
    }

    /// This rank's index in the communicator.
    pub(crate) fn rank(&self) -> usize {
        self.rank
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `record`, a part of `call`, to rank `to`, without waiting for it to arrive.
    pub(crate) fn send(&self, to: usize, record: Record, call: &Call) {
        self.send_held(to, Held::Own(record), call);
    }

    /// Sends `record`, a part of `call`, to rank `to`, sharing its bytes with other sends.
    pub(crate) fn send_shared(&self, to: usize, record: &Arc<Record>, call: &Call) {
        self.send_held(to, Held::Shared(Arc::clone(record)), call);
    }

    fn send_held(&self, to: usize, held: Held, call: &Call) {
        let mut mailbox = self.mailbox();
        mailbox.remember(call);
        mailbox.last_sent[to] = Some(call.number);
        mailbox.post(&self.comm, to, held);
    }

    /// Sends this rank's end record to every other rank.
    pub(crate) fn send_end(&self, end: Record) {
        let end = Arc::new(end);
        let mut mailbox = self.mailbox();
        for to in (0..self.size).filter(|&to| to != self.rank) {
            mailbox.post(&self.comm, to, Held::Shared(Arc::clone(&end)));
        }
    }

    /// The next record of `call` from rank `from`. A record of another call, a note that does
    /// not fit this rank's calls, or the end of `from`'s body is reported instead.
    pub(crate) fn receive(&self, from: usize, call: &Call) -> Record {
        let mut mailbox = self.mailbox();
        mailbox.remember(call);
        let mut found = None;
        let mut since: Option<Instant> = None;
        let mut polls = 0u32;
        let mut done = || loop {
            if let Some(end) =
                (mailbox.arrived[from].front()).filter(|r| r.kind() == Some(Kind::End))
            {
                // Left in place: this rank's own end reads up to it.
                let end = end.clone();
                self.ended(&mut mailbox, from, call, &end)
            }
            if let Some(record) = mailbox.arrived[from].pop_front() {
                match self.fit(&mut mailbox, from, call, &record) {
                    Fit::Yes => {
                        found = Some(record);
                        return true;
                    }
                    Fit::Skip => continue,
                }
            }
            if self.take_in(&mut mailbox, call) {
                continue;
            }
            // The clock is read once every so many polls: reading it costs as much as a poll.
            polls += 1;
            if !polls.is_multiple_of(POLLS_PER_LOOK_AT_THE_CLOCK) {
                return false;
            }
            let since = since.get_or_insert_with(Instant::now);
            if since.elapsed() > NOTE_AFTER && call.number < AFTER_THE_END {
                // Once per wait: a note sent resets the clock far into the future.
                *since += Duration::from_secs(3600 * 24 * 365);
                let note = Record::new(Kind::Note, call, 0, &[]);
                mailbox.post(&self.comm, from, Held::Own(note));
            }
            return false;
        };
        wait_until(&mut done);
        found.expect("waited until found")
    }

    /// Takes in one record that has arrived, if any: a note is looked at at once, any other
    /// record joins its sender's queue. Returns whether one arrived.
    fn take_in(&self, mailbox: &mut Mailbox, call: &Call) -> bool {
        let Some((from, record)) = self.next_arrival(mailbox) else {
            return false;
        };
        let Some(record) = record else {
            return true;
        };
        if record.kind() == Some(Kind::Note) && record.number() <= call.number {
            self.look_at_note(mailbox, from, call, &record);
        } else {
            mailbox.arrived[from].push_back(record);
        }
        true
    }

    /// How `record`, the next from rank `from`, fits `call`; reports a mismatch.
    fn fit(&self, mailbox: &mut Mailbox, from: usize, call: &Call, record: &Record) -> Fit {
        match record.kind() {
            Some(Kind::Call) if record.fits(call) => Fit::Yes,
            Some(Kind::Note) if record.number() <= call.number => {
                self.look_at_note(mailbox, from, call, record);
                Fit::Skip
            }
            Some(_) if record.number() > call.number => {
                self.report(mailbox, from, self.went_on(from, call, record))
            }
            _ => {
                let mine = mailbox.made_as(record.number(), call);
                self.report(mailbox, from, self.differ(mine, from, record))
            }
        }
    }

    /// A note that rank `from` waits for this rank in a call of number at most `call`'s.
    fn look_at_note(&self, mailbox: &mut Mailbox, from: usize, call: &Call, note: &Record) {
        let number = note.number();
        let answered = mailbox.last_sent[from].is_some_and(|sent| sent >= number);
        if note.fits(call) || (number < call.number && answered) {
            return;
        }
        let mine = mailbox.made_as(number, call);
        self.report(mailbox, from, self.differ(mine, from, note))
    }

    /// Rank `from` has returned: a rank that stopped well stops this one too; otherwise it is
    /// absent from `call`.
    fn ended(&self, mailbox: &mut Mailbox, from: usize, call: &Call, end: &Record) -> ! {
        if end.extra() != 0 {
            stop_well(end.extra() as i32)
        }
        let error = Some(end.operation()).filter(|error| !error.is_empty());
        let (me, absent) = (self.world_rank(self.rank), self.world_rank(from));
        // Every rank that waits for the absent one finds it: the lowest of them reports.
        let lower = me > 1 || (me == 1 && absent != 0);
        self.report_unless_lower(mailbox, lower, call.absent(absent, error))
    }

    /// The world rank of the rank at `index` of this communicator.
    pub(crate) fn world_rank(&self, index: usize) -> usize {
        super::first_rank_of(self.group, index)
    }

    /// The message for this rank's call `mine` and another call of the same number that rank
    /// `from` made.
    fn differ(&self, mine: MadeCall, from: usize, theirs: &Record) -> String {
        let me = (self.world_rank(self.rank), mine.describe());
        let them = (self.world_rank(from), theirs.describe());
        calls_differ(theirs.number(), (me.0, &me.1), (them.0, &them.1))
    }

    /// The message for `call`, a record of rank `from` that this rank read only at its end:
    /// its own call of that number differs, or it never made one.
    pub(crate) fn unmatched(&self, from: usize, call: &Record) -> String {
        let mine = self.mailbox().made_before(call.number());
        match mine {
            MadeCall::Known(..) => self.differ(mine, from, call),
            MadeCall::Forgotten => {
                let absent = self.world_rank(self.rank);
                never_completed(
                    self.world_rank(from),
                    &call.describe(),
                    call.number(),
                    absent,
                )
            }
        }
    }

    /// The message for rank `from`, which went on to a later call without its part of `call`.
    fn went_on(&self, from: usize, call: &Call, later: &Record) -> String {
        let mine = format!("{} at {}", call.operation, call.site);
        let theirs = format!(
            "another operation there and went on to {} (collective #{})",
            later.describe(),
            later.number()
        );
        let me = self.world_rank(self.rank);
        calls_differ(call.number, (me, &mine), (self.world_rank(from), &theirs))
    }

    /// Reports a mismatch with rank `other`: the lower of the two at once; the higher leaves
    /// the lower time to, since both may have found it.
    fn report(&self, mailbox: &mut Mailbox, other: usize, message: String) -> ! {
        self.report_unless_lower(mailbox, self.rank > other, message)
    }

    /// Reports `message` at once, or, where `lower` says a lower rank may report the same
    /// thing, after giving it the time to; takes in what arrives meanwhile, so that no send to
    /// this rank is held up.
    fn report_unless_lower(&self, mailbox: &mut Mailbox, lower: bool, message: String) -> ! {
        let deadline = Instant::now() + REPORT_TIME;
        while lower && Instant::now() < deadline {
            while self.next_arrival(mailbox).is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
        misuse(message)
    }

    /// Reads every record of rank `from` up to its end record, which it returns; `unmatched`
    /// gets the first record of a call this rank never made. Notes are old news here.
    pub(crate) fn read_to_end(&self, from: usize, unmatched: &mut Option<Record>) -> Record {
        let mut mailbox = self.mailbox();
        let mut end = None;
        let mut done = || loop {
            let Some(record) = mailbox.arrived[from].pop_front() else {
                if !self.take_in_any(&mut mailbox) {
                    return false;
                }
                continue;
            };
            match record.kind() {
                Some(Kind::End) => {
                    end = Some(record);
                    return true;
                }
                Some(Kind::Call) if unmatched.is_none() => *unmatched = Some(record),
                _ => {}
            }
        };
        wait_until(&mut done);
        end.expect("waited until the end")
    }

    fn take_in_any(&self, mailbox: &mut Mailbox) -> bool {
        mailbox.take_in_any(&self.comm)
    }

    /// The next message that has arrived from any rank, with its sender, if one has.
    fn next_arrival(&self, mailbox: &mut Mailbox) -> Option<(usize, Option<Record>)> {
        mailbox.next_arrival(&self.comm)
    }

    /// Returns once every send of this rank has arrived: its last call, before MPI_Finalize.
    pub(crate) fn finish_sends(&self) {
        let mut mailbox = self.mailbox();
        let mut done = || {
            mailbox.complete_sends();
            mailbox.sending.is_empty()
        };
        wait_until(&mut done);
    }
}

impl Drop for Post {
    /// MPI reads a send's bytes until the send is complete, which may be after the call that
    /// made it has returned, and after this post's last call (the gather of what was watched,
    /// at the end of the world): its records are freed only once it is.
    fn drop(&mut self) {
        self.finish_sends();
    }
}

/// The next record by MPI from `source`, with its sender, if one has arrived.
fn by_mpi(source: impl Source) -> Option<(usize, Option<Record>)> {
    let message = source.immediate_matched_probe_with_tag(TAG)?;
    let (bytes, status) = message.matched_receive_vec::<u8>();
    Some((status.source_rank() as usize, Record::from_bytes(bytes)))
}

/// Calls `done` until it says the wait is over: polled with the rank's limit where it has one
/// (`DLP_TIMEOUT`), else spinning, and yielding the core now and then to a process that shares
/// it.
fn wait_until(done: &mut dyn FnMut() -> bool) {
    if let Some(waits) = waits::current() {
        return waits.poll(done);
    }
    let mut polls = 0u32;
    while !done() {
        polls += 1;
        if polls.is_multiple_of(256) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

impl Mailbox {
    /// Remembers that this rank makes `call`, to name it if a record of it arrives late.
    fn remember(&mut self, call: &Call) {
        if self
            .made
            .back()
            .is_some_and(|made| made.number == call.number)
        {
            return;
        }
        if self.made.len() == HISTORY {
            self.made.pop_front();
        }
        self.made.push_back(Made {
            number: call.number,
            operation: call.operation,
            site: call.site,
        });
    }

    /// Sends `held` to rank `to` of `comm`: through its ring where the ranks share a node and
    /// it fits a slot, else by MPI (with a marker in the ring that keeps its place).
    fn post(&mut self, comm: &SimpleCommunicator, to: usize, held: Held) {
        if self.lanes.is_none() {
            return self.post_by_mpi(comm, to, held);
        }
        if Ring::carries(held.bytes().len()) {
            return self.write_to_ring(comm, to, Some(held.bytes()));
        }
        self.post_by_mpi(comm, to, held);
        self.write_to_ring(comm, to, None);
    }

    /// Writes `record` (a marker where `None`) into the ring to rank `to`, once it has room;
    /// takes in what arrives meanwhile, so that a rank that waits for room in this one's ring
    /// goes on too.
    fn write_to_ring(&mut self, comm: &SimpleCommunicator, to: usize, record: Option<&[u8]>) {
        let lanes = self.lanes.as_mut().expect("a post with lanes");
        if lanes.try_send(to, record) {
            return;
        }
        let mut done = || {
            let lanes = self.lanes.as_mut().expect("a post with lanes");
            lanes.try_send(to, record) || {
                self.take_in_any(comm);
                false
            }
        };
        wait_until(&mut done);
    }

    /// Takes in one record that has arrived, if any, into its sender's queue.
    fn take_in_any(&mut self, comm: &SimpleCommunicator) -> bool {
        let Some((from, record)) = self.next_arrival(comm) else {
            return false;
        };
        self.arrived[from].extend(record);
        true
    }

    /// The next message that has arrived from any rank, with its sender, if one has; bytes
    /// that are no record (none of dlp's ranks sends such) and the marker of a record that
    /// follows by MPI are `None`.
    fn next_arrival(&mut self, comm: &SimpleCommunicator) -> Option<(usize, Option<Record>)> {
        if self.lanes.is_none() {
            return by_mpi(comm.any_process());
        }
        // A large record goes by MPI, which moves it on only while its sender calls MPI: a
        // sender that polls only its rings would leave its receiver waiting for it forever.
        if !self.sending.is_empty() {
            self.complete_sends();
        }
        let lanes = self.lanes.as_mut().expect("a post with lanes");
        let awaited =
            (lanes.awaited_by_mpi()).find_map(|from| by_mpi(comm.process_at_rank(from as i32)));
        if let Some((from, record)) = awaited {
            lanes.arrived_by_mpi(from);
            return Some((from, record));
        }
        match lanes.take()? {
            (from, Taken::Bytes(bytes)) => Some((from, Record::from_bytes(bytes))),
            (from, Taken::ByMpi) => Some((from, None)),
        }
    }

    /// Starts sending `held` to rank `to` of `comm` by MPI; its bytes stay here until the send
    /// is complete.
    fn post_by_mpi(&mut self, comm: &SimpleCommunicator, to: usize, held: Held) {
        let bytes = held.bytes();
        let count = i32::try_from(bytes.len()).unwrap_or_else(|_| {
            misuse(format!(
                "a message of {} bytes is over MPI's 2 GiB limit for one message; send it in parts",
                bytes.len()
            ))
        });
        let mut request = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: `bytes` are the `count` bytes of a record, which nothing writes once made (a
        // record hands out no `&mut`), and they stay, unmoved on the heap, in `sending` (the
        // record, or a share of it, moved in below) until MPI_Test finds the send complete
        // (`complete_sends`, which a post's drop waits for); `comm` is a live communicator, `to`
        // one of its ranks, and MPI writes the request's handle.
        let request = unsafe {
            ffi::MPI_Isend(
                bytes.as_ptr().cast::<c_void>(),
                count,
                ffi::RSMPI_UINT8_T,
                to as i32,
                TAG,
                comm.as_raw(),
                request.as_mut_ptr(),
            );
            request.assume_init()
        };
        self.sending.push_back(Sending {
            request,
            _held: held,
        });
        // Small sends are complete at once: looking at a few at a time costs fewer MPI calls.
        if self.sending.len() >= SENDS_BEFORE_A_LOOK {
            self.complete_sends();
        }
    }

    /// Forgets the sends that are complete, oldest first.
    fn complete_sends(&mut self) {
        while let Some(sending) = self.sending.front_mut() {
            let mut done: i32 = 0;
            // SAFETY: the request is a send started by `post`, tested until complete
            // and dropped then, with its bytes.
            unsafe {
                ffi::MPI_Test(&mut sending.request, &mut done, ffi::RSMPI_STATUS_IGNORE);
            }
            if done == 0 {
                return;
            }
            self.sending.pop_front();
        }
    }

    /// This rank's call of `number`, as it made it: `call` itself, or one it remembers.
    fn made_as(&self, number: u64, call: &Call) -> MadeCall {
        if number == call.number {
            return MadeCall::Known(call.operation, call.site);
        }
        self.made_before(number)
    }

    /// This rank's earlier call of `number`, if it remembers one.
    fn made_before(&self, number: u64) -> MadeCall {
        match self.made.iter().find(|made| made.number == number) {
            Some(made) => MadeCall::Known(made.operation, made.site),
            None => MadeCall::Forgotten,
        }
    }
}

/// A call of this rank, named in a message.
enum MadeCall {
    Known(&'static str, &'static Location<'static>),
    Forgotten,
}

impl MadeCall {
    fn describe(&self) -> String {
        match self {
            MadeCall::Known(operation, site) => format!("{operation} at {site}"),
            MadeCall::Forgotten => "another collective".to_owned(),
        }
    }
}
