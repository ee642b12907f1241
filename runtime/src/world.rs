//! Starting a world: `run` and the `World` builder.

use std::panic::resume_unwind;

use crate::backend;
use crate::config::{self, Backend, Config, ConfigError, Watch};
use crate::context;
use crate::failure::Failure;

/// A world to start: a backend and a number of ranks.
///
/// [`run`] is what most programs want: it reads the environment. `World` starts a world chosen
/// in code, which tests and libraries that need a fixed size use.
///
/// ```
/// let squares = dlp::World::threads(4).run(|| {
///     let mine: Vec<u64> = dlp::split_block(0..8u64).map(|x| x * x).collect();
///     dlp::gather(mine).map(|all| all.concat())
/// });
/// assert_eq!(squares, Some(vec![0, 1, 4, 9, 16, 25, 36, 49]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    config: Config,
}

impl World {
    /// The world the environment asks for: `DLP_BACKEND` (`serial`, `threads`, `mpi`; default
    /// `threads`, or `mpi` in a process that `mpiexec` or `srun` started, with the cargo feature
    /// `mpi`) and `DLP_THREADS` (the number of rank-threads; default one per core).
    ///
    /// `DLP_THREADS` is checked even when `DLP_BACKEND=serial`, so that a typo never goes
    /// unseen; the error names the variable, the value and what it accepts. `DLP_REPORT` and
    /// `DLP_TRACE` say what to watch (see the crate's guide). Reading the environment has no
    /// side effect: MPI starts when the world does.
    ///
    /// ```
    /// match dlp::World::from_env() {
    ///     Ok(world) => println!("{} ranks on {:?}", world.size(), world.backend()),
    ///     Err(error) => eprintln!("{error}"),
    /// }
    /// ```
    pub fn from_env() -> Result<World, ConfigError> {
        World::from_env_vars(|name| std::env::var(name).ok())
    }

    /// Like [`World::from_env`], reading every variable through `var` instead of the process
    /// environment.
    ///
    /// ```
    /// let world = dlp::World::from_env_vars(|name| match name {
    ///     "DLP_THREADS" => Some("3".to_owned()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(world.size(), 3);
    /// ```
    pub fn from_env_vars(var: impl Fn(&str) -> Option<String>) -> Result<World, ConfigError> {
        Config::from_vars(var).map(|config| World { config })
    }

    /// A world of one rank, the calling thread. What to watch comes from `DLP_REPORT` and
    /// `DLP_TRACE`, as for every world.
    ///
    /// # Panics
    /// If `DLP_REPORT` is neither a yes nor a no.
    ///
    /// ```
    /// assert_eq!(dlp::World::serial().run(dlp::size), 1);
    /// ```
    pub fn serial() -> World {
        World {
            config: Config {
                backend: Backend::Serial,
                size: 1,
                threads: 1,
                watch: Watch::from_env(),
            },
        }
    }

    /// A world of `ranks` rank-threads; rank 0 is the calling thread.
    ///
    /// # Panics
    /// If `ranks` is 0, or if `DLP_REPORT` is neither a yes nor a no.
    ///
    /// ```
    /// assert_eq!(dlp::World::threads(5).run(|| dlp::all_gather(dlp::rank())), vec![0, 1, 2, 3, 4]);
    /// ```
    pub fn threads(ranks: usize) -> World {
        assert!(ranks > 0, "dlp: a world needs at least one rank, not 0");
        World {
            config: Config {
                backend: Backend::Threads,
                size: ranks,
                threads: ranks,
                watch: Watch::from_env(),
            },
        }
    }

    /// The backend the world runs on.
    ///
    /// ```
    /// assert_eq!(dlp::World::threads(2).backend(), dlp::Backend::Threads);
    /// ```
    pub fn backend(&self) -> Backend {
        self.config.backend
    }

    /// The number of ranks.
    ///
    /// ```
    /// assert_eq!(dlp::World::threads(6).size(), 6);
    /// ```
    pub fn size(&self) -> usize {
        self.config.size
    }

    /// Runs `body` on every rank and returns the main rank's result.
    ///
    /// # Panics
    /// If any rank panics: every rank is stopped, and the panic is re-raised on the calling
    /// thread with the message of its [`Failure`], `rank R panicked at item I: ...`.
    ///
    /// # Exits
    /// If the ranks stopped on a signal in a journaled split (see
    /// [`Journaled`](crate::Journaled)): after one line that says how many items are done,
    /// with status 128 + the signal's number.
    pub fn run<R>(&self, body: impl Fn() -> R + Sync) -> R {
        self.try_run(body)
            .unwrap_or_else(|failure| match failure.stop_signal() {
                Some(signal) => crate::journal::exit_stopped(signal),
                None => resume_unwind(Box::new(failure.to_string())),
            })
    }

    /// Runs `body` on every rank; returns the main rank's result, or the first rank's panic.
    ///
    /// The failing rank's panic message is printed as usual, followed by a line that names the
    /// rank and item; the other ranks are stopped at their next call into dlp.
    ///
    /// ```
    /// let failure = dlp::World::threads(2).try_run(|| {
    ///     if dlp::rank() == 1 { panic!("no data on this node"); }
    ///     dlp::barrier(); // rank 0 is woken out of the barrier, not left hanging
    /// });
    /// assert_eq!(failure.unwrap_err().to_string(), "rank 1 panicked: no data on this node");
    /// ```
    pub fn try_run<R>(&self, body: impl Fn() -> R + Sync) -> Result<R, Failure> {
        backend::launch(&self.config, &body)
    }
}

/// Runs `body` on every rank of the world the environment asks for, and returns the main rank's
/// result. This is what `#[dlp::main]` expands to.
///
/// Every rank runs the same code (SPMD); rank 0 is the main rank. See [`World::from_env`] for
/// the environment variables. Called from inside a world, `run` just calls `body` on the current
/// rank.
///
/// # Exits
/// If the environment is misconfigured, `run` prints one line, `dlp: ` and the
/// [`ConfigError`] (which names the variable and what it accepts), and exits the process with
/// [`ConfigError::EXIT_CODE`] (2), without a panic or a backtrace. In a job that an MPI launcher
/// started, only the process of rank 0 prints it: every process finds the same error, and one
/// line says it. A program that handles the error itself calls [`World::from_env`].
///
/// # Panics
/// If any rank panics (see [`World::run`]).
///
/// ```
/// let total = dlp::run(|| {
///     let mut mine = Vec::new();
///     for x in dlp::split_managed(0..1000u64) {
///         mine.push(x * x);
///     }
///     dlp::gather(mine).map(|all| all.concat().len())
/// });
/// assert_eq!(total, Some(1000));
/// ```
pub fn run<R>(body: impl Fn() -> R + Sync) -> R {
    if context::current().is_some() {
        return match context::body() {
            Some(_) => backend::team_of_one(body),
            None => body(),
        };
    }
    let world = World::from_env().unwrap_or_else(|error| exit_misconfigured(&error));
    world.run(body)
}

/// Ends the process because of `error`, saying so once per job.
fn exit_misconfigured(error: &ConfigError) -> ! {
    // The launcher's rank tells the processes of a job apart without starting MPI.
    if config::process_rank() == 0 {
        eprintln!("dlp: {error}");
    } else if config::process_count() > 1 {
        // Open MPI's mpirun ends the job when a process exits non-zero, and a line that rank 0
        // wrote but mpirun had not read yet is lost: the others leave rank 0 time to go first.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    std::process::exit(ConfigError::EXIT_CODE)
}
