//! The backends, one folder each, behind the traits of [`comm`](crate::comm): `solo` (a world
//! of one rank), `threads` (rank-threads of one process) and `mpi` (MPI processes, cargo
//! feature `mpi`). This is the one place that knows them all: it starts a world on the backend
//! its configuration names.
//!
//! A new backend is a folder here with a `launch` that enters a
//! [`RankContext`](crate::context::RankContext) holding its [`Comm`](crate::comm::Comm) on
//! every rank and runs the body, and one arm in [`launch`].

#[cfg(feature = "mpi")]
mod mpi;
mod solo;
mod threads;

pub(crate) use solo::team_of_one;

use crate::config::{Backend, Config};
use crate::failure::Failure;

/// Runs `body` on every rank of the world that `config` describes; returns the main rank's
/// result, or the first rank's failure.
pub(crate) fn launch<R>(config: &Config, body: &(impl Fn() -> R + Sync)) -> Result<R, Failure> {
    log::debug!(
        "dlp: starting a world of {} ranks on {:?}",
        config.size,
        config.backend
    );
    let outcome = match config.backend {
        Backend::Serial => solo::launch(&config.watch, body),
        Backend::Threads if config.size == 1 => solo::launch(&config.watch, body),
        Backend::Threads => threads::launch(config.size, &config.watch, body),
        #[cfg(feature = "mpi")]
        Backend::Mpi => mpi::launch(config.threads, &config.watch, body),
        #[cfg(not(feature = "mpi"))]
        Backend::Mpi => unreachable!("the configuration chooses MPI only in a build with it"),
    };
    // The next world starts without a stop; one that no rank took is acted on now.
    let stopped = matches!(&outcome, Err(failure) if failure.stop_signal().is_some());
    crate::stop::disarm(stopped);
    log::debug!("dlp: the world of {} ranks has ended", config.size);
    outcome
}
