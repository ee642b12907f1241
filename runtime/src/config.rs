//! Which backend and how many ranks a world gets, from `DLP_BACKEND` and `DLP_THREADS`.

use std::fmt;

/// Where the ranks of a world run.
///
/// ```
/// assert_eq!(dlp::World::threads(4).backend(), dlp::Backend::Threads);
/// assert_eq!(dlp::World::serial().backend(), dlp::Backend::Serial);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// One rank, the calling thread.
    Serial,
    /// One OS thread per rank, in this process.
    Threads,
    /// One MPI process per rank, started by `mpiexec` or `srun` (cargo feature `mpi`).
    #[cfg(feature = "mpi")]
    Mpi,
}

impl Backend {
    const NAMES: &'static str = "serial, threads, mpi";
}

/// A world's backend and size, as read from the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) backend: Backend,
    pub(crate) size: usize,
}

/// A bad value in the environment that configures a world.
///
/// Its `Display` names the variable, the value found and the values accepted.
///
/// ```
/// let error = dlp::World::from_env_vars(|name| (name == "DLP_THREADS").then(|| "many".into()))
///     .unwrap_err();
/// assert!(error.to_string().starts_with("DLP_THREADS=\"many\" is not a number of ranks"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `DLP_BACKEND` is not one of the backends' names.
    UnknownBackend(String),
    /// `DLP_THREADS` is not a positive whole number.
    BadThreads(String),
    /// `DLP_BACKEND=mpi`, in a build without MPI support.
    MpiNotBuilt,
    /// `DLP_REPORT` is not a yes or a no.
    BadReport(String),
    /// An MPI launcher (`mpiexec`, `srun`) started several processes, in a build without MPI
    /// support: each would run the whole program on its own.
    LaunchedByMpi {
        /// The launcher's variable that gave it away.
        variable: &'static str,
        /// How many processes it started.
        processes: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownBackend(value) => write!(
                f,
                "DLP_BACKEND={value:?} is not a backend: use one of {}, or unset it to run on \
                 threads",
                Backend::NAMES
            ),
            ConfigError::BadThreads(value) => write!(
                f,
                "DLP_THREADS={value:?} is not a number of ranks: use a whole number of at least 1 \
                 (such as DLP_THREADS=4), or unset it to run one rank per core"
            ),
            ConfigError::BadReport(value) => write!(
                f,
                "DLP_REPORT={value:?} is not a yes or a no: use DLP_REPORT=1 to print a load report \
                 after each split, or 0 (or unset it) for none"
            ),
            ConfigError::LaunchedByMpi {
                variable,
                processes,
            } => write!(
                f,
                "this program was started by an MPI launcher as {processes} processes \
                 ({variable}={processes}), but it runs without MPI, so each process would run the \
                 whole program on its own. Build it with the MPI backend (`cargo build --release \
                 --features mpi`, with MPI installed) and leave DLP_BACKEND unset, or start one \
                 process with DLP_THREADS={processes} to run {processes} ranks on threads"
            ),
            ConfigError::MpiNotBuilt => write!(
                f,
                "DLP_BACKEND=mpi, but this program was built without the MPI backend: build it \
                 with `--features mpi` (MPI installed), or use DLP_BACKEND=threads or serial"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration through `var`, which returns a variable's value if it is set.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let launch = mpi_launch(&var);
        let backend = match var("DLP_BACKEND").as_deref().map(str::trim) {
            None | Some("") if launch.is_some() => launched_backend(),
            None | Some("") | Some("threads") => Backend::Threads,
            Some("serial") => Backend::Serial,
            Some("mpi") => mpi_backend()?,
            Some(other) => return Err(ConfigError::UnknownBackend(other.to_owned())),
        };
        // Several processes that each run a thread world would each do all the work.
        if let Some((variable, processes)) = launch
            && processes > 1
            && !is_mpi(backend)
        {
            return Err(ConfigError::LaunchedByMpi {
                variable,
                processes,
            });
        }
        // DLP_THREADS is checked even for the serial backend, so that a typo never goes unseen.
        let threads = match var("DLP_THREADS") {
            None => None,
            Some(value) => match value.trim().parse::<usize>() {
                Ok(threads) if threads > 0 => Some(threads),
                _ => return Err(ConfigError::BadThreads(value)),
            },
        };
        let size = match backend {
            Backend::Serial => 1,
            Backend::Threads => threads.unwrap_or_else(cores),
            #[cfg(feature = "mpi")]
            Backend::Mpi => crate::message_passing::world_size(),
        };
        Ok(Config { backend, size })
    }
}

/// The backend of a process that an MPI launcher started: MPI when it is built in.
fn launched_backend() -> Backend {
    #[cfg(feature = "mpi")]
    {
        Backend::Mpi
    }
    #[cfg(not(feature = "mpi"))]
    {
        Backend::Threads
    }
}

/// `DLP_BACKEND=mpi`.
fn mpi_backend() -> Result<Backend, ConfigError> {
    #[cfg(feature = "mpi")]
    {
        Ok(Backend::Mpi)
    }
    #[cfg(not(feature = "mpi"))]
    {
        Err(ConfigError::MpiNotBuilt)
    }
}

fn is_mpi(backend: Backend) -> bool {
    #[cfg(feature = "mpi")]
    {
        backend == Backend::Mpi
    }
    #[cfg(not(feature = "mpi"))]
    {
        let _ = backend;
        false
    }
}

/// The variables by which MPI launchers tell a process how many processes they started: MPICH's
/// Hydra (PMI), PMIx, Open MPI and Slurm's `srun`. Not `SLURM_NTASKS`: a batch script that runs
/// the program directly has it too, for one process.
const LAUNCHER_SIZES: [&str; 4] = [
    "PMI_SIZE",
    "PMIX_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "SLURM_STEP_NUM_TASKS",
];

/// The launcher variable and the number of processes, when an MPI launcher started this one.
fn mpi_launch(var: &impl Fn(&str) -> Option<String>) -> Option<(&'static str, usize)> {
    LAUNCHER_SIZES.iter().find_map(|&name| {
        let processes = var(name)?.trim().parse::<usize>().ok()?;
        Some((name, processes))
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn threads_is_the_default_with_one_rank_per_core() {
        assert_eq!(
            config(&[]),
            Ok(Config {
                backend: Backend::Threads,
                size: cores()
            })
        );
    }

    #[test]
    fn dlp_threads_sets_the_number_of_ranks() {
        assert_eq!(config(&[("DLP_THREADS", "6")]).unwrap().size, 6);
        assert_eq!(config(&[("DLP_THREADS", " 3 ")]).unwrap().size, 3);
    }

    #[test]
    fn serial_has_one_rank() {
        let serial = config(&[("DLP_BACKEND", "serial"), ("DLP_THREADS", "4")]).unwrap();
        assert_eq!(
            serial,
            Config {
                backend: Backend::Serial,
                size: 1
            }
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_accepted() {
        for bad in ["0", "-2", "four", "2.5", ""] {
            let error = config(&[("DLP_THREADS", bad)]).unwrap_err();
            assert_eq!(error, ConfigError::BadThreads(bad.to_owned()));
            let text = error.to_string();
            assert!(
                text.contains("DLP_THREADS") && text.contains("at least 1"),
                "{text}"
            );
        }
        let error = config(&[("DLP_BACKEND", "gpu")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "DLP_BACKEND=\"gpu\" is not a backend: use one of serial, \
            threads, mpi, or unset it to run on threads"
        );
    }

    #[cfg(not(feature = "mpi"))]
    #[test]
    fn the_mpi_backend_needs_the_mpi_feature() {
        let mpi = config(&[("DLP_BACKEND", "mpi")]).unwrap_err();
        assert!(mpi.to_string().contains("built without the MPI backend"));
        assert!(mpi.to_string().contains("--features mpi"));
    }

    #[cfg(not(feature = "mpi"))]
    #[test]
    fn a_launch_by_mpiexec_or_srun_is_an_error_without_mpi() {
        for variable in LAUNCHER_SIZES {
            let error = config(&[(variable, "8")]).unwrap_err();
            assert_eq!(
                error,
                ConfigError::LaunchedByMpi {
                    variable,
                    processes: 8
                }
            );
            let text = error.to_string();
            assert!(
                text.contains("as 8 processes") && text.contains("DLP_THREADS=8"),
                "{text}"
            );
        }
        // One process started by a launcher is an ordinary program.
        assert!(config(&[("PMI_SIZE", "1"), ("SLURM_NTASKS", "8")]).is_ok());
    }
}
