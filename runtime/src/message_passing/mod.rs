//! The MPI backend: every rank is an MPI process, as started by `mpiexec` or `srun`.
//!
//! The world is a duplicate of `MPI_COMM_WORLD`, so that dlp's messages never meet the
//! program's own. Collectives map onto MPI's (bcast, gatherv, allgatherv, scatterv); numbers
//! travel as their bytes and other values through postcard (`wire`). The dynamic splits claim
//! chunks from a counter in an MPI window on the main rank (`counter`), so that every rank works
//! and none waits on a manager. Maps send their results to the main rank (`map`).

mod collectives;
mod counter;
mod map;
mod wire;

use std::rc::Rc;
use std::sync::Once;

use mpi::collective::CommunicatorCollectives;
use mpi::topology::{Color, Communicator, SimpleCommunicator};

pub(crate) use collectives::*;
pub(crate) use counter::RemoteCounter;
pub(crate) use map::MpiResults;

use crate::context::{self, Link, RankContext};
use crate::failure::{Failure, run_guarded};
use crate::observe::{Observer, Settings};
use crate::ranks::Ranks;

/// This process's rank in the world of MPI processes.
pub(crate) struct MpiWorld {
    pub(crate) comm: SimpleCommunicator,
    /// The ranks but the main one, for the loops of `#[worker_only]` functions; `None` on the
    /// main rank.
    workers: Option<SimpleCommunicator>,
    pub(crate) rank: usize,
    pub(crate) size: usize,
}

impl MpiWorld {
    /// The communicator of `members`, on a rank that is one of them.
    pub(crate) fn group(&self, members: Ranks) -> &SimpleCommunicator {
        match members {
            Ranks::All | Ranks::Main => &self.comm,
            Ranks::Workers => self
                .workers
                .as_ref()
                .expect("only worker ranks run the loops of #[worker_only] functions"),
        }
    }

    /// Ends the whole job: every process of the world, wherever it is.
    pub(crate) fn abort(&self) -> ! {
        self.comm.abort(101)
    }
}

static INIT: Once = Once::new();

/// Initializes MPI once per process, and finalizes it when the process exits.
fn initialize() {
    INIT.call_once(|| {
        let Some((universe, _threading)) =
            mpi::initialize_with_threading(mpi::Threading::Serialized)
        else {
            return; // initialized by the program itself; it finalizes too
        };
        // The world lives as long as the process: finalize at exit, after `main` returns.
        std::mem::forget(universe);
        extern "C" fn finalize() {
            // SAFETY: MPI was initialized above and is finalized once, at exit.
            unsafe {
                mpi::ffi::MPI_Finalize();
            }
        }
        // SAFETY: registering a plain `extern "C" fn` with the C runtime.
        unsafe {
            libc::atexit(finalize);
        }
    });
}

/// The number of ranks of the MPI world, initializing MPI if needed.
pub(crate) fn world_size() -> usize {
    initialize();
    SimpleCommunicator::world().size() as usize
}

/// Runs `body` as this process's rank and returns its result; a panic is reported with its
/// rank and item and ends the whole job (`MPI_Abort`), so that no rank is left waiting. What
/// `settings` asks to watch is sent to the main rank when the world ends.
pub(crate) fn launch<R>(settings: Settings, body: &impl Fn() -> R) -> Result<R, Failure> {
    initialize();
    let comm = SimpleCommunicator::world().duplicate();
    let rank = comm.rank();
    let workers = comm.split_by_color(if rank == 0 {
        Color::undefined()
    } else {
        Color::with_value(1)
    });
    // Every process starts its clock here, after the others arrived, so that the timelines of
    // all ranks share one origin.
    comm.barrier();
    let world = Rc::new(MpiWorld {
        rank: rank as usize,
        size: comm.size() as usize,
        comm,
        workers,
    });
    let observer = Observer::for_process(settings, world.size);
    let _rank = context::enter(RankContext::new(
        world.rank,
        world.size,
        Link::Mpi(Rc::clone(&world)),
        observer.clone(),
    ));
    let result = match run_guarded(world.rank, world.size, body) {
        Ok(result) => result,
        Err(Some(_reported)) => world.abort(),
        Err(None) => unreachable!("an MPI rank is stopped by MPI_Abort, never by unwinding"),
    };
    if let Some(observer) = observer {
        let seen = gather(&world.comm, observer.export(), "the end of the world");
        if let Some(all) = seen {
            observer.finish_job(all);
        }
    }
    Ok(result)
}
