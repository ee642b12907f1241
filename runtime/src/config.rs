//! Every variable of the environment that dlp reads, in one place and without side effects:
//! `DLP_BACKEND`, `DLP_THREADS`, `DLP_REPORT`, `DLP_TRACE`, `DLP_TIMEOUT`, `DLP_PROGRESS`, and
//! the MPI launchers' variables.
//! Nothing here starts MPI: the size of an MPI world is what the launcher says it started.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

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
    /// One MPI process per rank, started by `mpiexec` or `srun`. Needs the cargo feature
    /// `mpi`: a build without it never chooses this backend.
    Mpi,
}

impl Backend {
    const NAMES: &'static str = "serial, threads, mpi";
}

/// A `DLP_TIMEOUT` value: a number with a unit (`250ms`, `30s`, `5m`, `2h`; seconds without
/// one); `Some(None)` for no limit (`0`, `off`, `none`, empty), `None` for a value that is
/// neither.
fn duration(value: &str) -> Option<Option<Duration>> {
    let value = value.trim();
    if matches!(value, "" | "0" | "off" | "none") {
        return Some(None);
    }
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => number / 1e3,
        "" | "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    let duration = Duration::try_from_secs_f64(seconds).ok()?;
    Some((!duration.is_zero()).then_some(duration))
}

/// Whether this build has the MPI backend.
const MPI_BUILT: bool = cfg!(feature = "mpi");

/// Where the progress bars of the splits that ask for one are drawn: `DLP_PROGRESS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Progress {
    /// On stderr where it is a terminal (the default).
    #[default]
    Auto,
    /// On stderr whatever it is: under `mpiexec`, whose processes write to pipes that it
    /// forwards to the terminal it was started from.
    Always,
    /// Nowhere.
    Never,
}

impl Progress {
    fn from_value(value: Option<&str>) -> Result<Progress, ConfigError> {
        match value.map(str::trim) {
            None | Some("" | "auto") => Ok(Progress::Auto),
            Some("always" | "1" | "yes" | "on") => Ok(Progress::Always),
            Some("never" | "0" | "no" | "off") => Ok(Progress::Never),
            Some(other) => Err(ConfigError::BadProgress(other.to_owned())),
        }
    }

    /// What `DLP_PROGRESS` asks of this process; a bad value has stopped the world already.
    pub(crate) fn of_process() -> Progress {
        static FOUND: OnceLock<Progress> = OnceLock::new();
        *FOUND.get_or_init(|| {
            let value = std::env::var("DLP_PROGRESS").ok();
            Progress::from_value(value.as_deref()).unwrap_or_default()
        })
    }
}

/// A world's backend, size, and what to watch, as read from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) backend: Backend,
    /// The ranks of the world, over every process.
    pub(crate) size: usize,
    /// The rank-threads of each process: the size on threads, one on the serial backend, and
    /// `DLP_THREADS` (default 1) under MPI, where the world is the processes times this.
    pub(crate) threads: usize,
    pub(crate) watch: Watch,
}

/// What the environment asks to watch: `DLP_REPORT`, `DLP_TRACE` and `DLP_TIMEOUT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Watch {
    /// Print a per-rank load table after each split.
    pub(crate) report: bool,
    /// Write a Chrome/Perfetto timeline here when the world ends.
    pub(crate) trace: Option<PathBuf>,
    /// The longest a rank may wait in dlp before it ends the job with a report of where every
    /// rank is; `None`: no limit (the default).
    pub(crate) timeout: Option<Duration>,
}

impl Watch {
    /// Whether the observer is needed: reports or a timeline.
    pub(crate) fn any(&self) -> bool {
        self.report || self.trace.is_some()
    }

    fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<Watch, ConfigError> {
        let report = match var("DLP_REPORT").as_deref().map(str::trim) {
            None | Some("" | "0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(other) => return Err(ConfigError::BadReport(other.to_owned())),
        };
        let trace = var("DLP_TRACE")
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from);
        Progress::from_value(var("DLP_PROGRESS").as_deref())?;
        let timeout = match var("DLP_TIMEOUT") {
            None => None,
            Some(value) => duration(&value).ok_or(ConfigError::BadTimeout(value))?,
        };
        Ok(Watch {
            report,
            trace,
            timeout,
        })
    }

    /// What the process environment asks to watch, for worlds chosen in code.
    ///
    /// # Panics
    /// If `DLP_REPORT` has a value that is not a yes or a no.
    pub(crate) fn from_env() -> Watch {
        Watch::from_vars(&|name| std::env::var(name).ok())
            .unwrap_or_else(|error| panic!("dlp: {error}"))
    }
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
    /// `DLP_TIMEOUT` is not a duration.
    BadTimeout(String),
    /// `DLP_PROGRESS` is not `auto`, `always` or `never`.
    BadProgress(String),
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
            ConfigError::BadTimeout(value) => write!(
                f,
                "DLP_TIMEOUT={value:?} is not a duration: use a number with a unit, such as \
                 DLP_TIMEOUT=30s, 5m or 2h (seconds without one), or 0 (or unset it) to wait \
                 without limit"
            ),
            ConfigError::BadReport(value) => write!(
                f,
                "DLP_REPORT={value:?} is not a yes or a no: use DLP_REPORT=1 to print a load report \
                 after each split, or 0 (or unset it) for none"
            ),
            ConfigError::BadProgress(value) => write!(
                f,
                "DLP_PROGRESS={value:?} is not auto, always or never: use DLP_PROGRESS=always to \
                 draw progress bars on stderr even where it is not a terminal (under mpiexec), \
                 never for none, or auto (or unset it) to draw them on a terminal only"
            ),
            ConfigError::LaunchedByMpi {
                variable,
                processes,
            } => write!(
                f,
                "this program was started by an MPI launcher as {processes} processes \
                 ({variable}={processes}), but it was built without dlp's MPI backend, so each \
                 process would run the whole program on its own. {TURN_ON_MPI}; or start one \
                 process with DLP_THREADS={processes} to run {processes} ranks on threads"
            ),
            ConfigError::MpiNotBuilt => write!(
                f,
                "DLP_BACKEND=mpi, but this program was built without dlp's MPI backend. \
                 {TURN_ON_MPI}; or use DLP_BACKEND=threads or serial"
            ),
        }
    }
}

/// How a user turns the MPI backend on from their own crate, for the errors of a build without
/// it. The version is this crate's, which the facade `dlp` shares.
const TURN_ON_MPI: &str = concat!(
    "Turn the MPI backend on in your Cargo.toml: `dlp = { version = \"",
    env!("CARGO_PKG_VERSION_MAJOR"),
    ".",
    env!("CARGO_PKG_VERSION_MINOR"),
    "\", features = [\"mpi\"] }`, or forward a feature of your crate, `[features] mpi = ",
    "[\"dlp/mpi\"]`, and build with `--features mpi` (MPI installed)"
);

impl ConfigError {
    /// The exit code of a program that [`run`](crate::run) stops because of a bad
    /// configuration: distinct from a panic's 101 and from the 1 of an error returned by
    /// `#[dlp::main]`, so that scripts can tell a misconfigured launch from a failed run.
    ///
    /// ```
    /// assert_eq!(dlp::ConfigError::EXIT_CODE, 2);
    /// ```
    pub const EXIT_CODE: i32 = 2;
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration through `var`, which returns a variable's value if it is set.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let launch = Launch::from_vars(&var);
        let backend = backend(&var, launch.as_ref())?;
        // DLP_THREADS is checked even for the serial backend, so that a typo never goes unseen.
        let threads = match var("DLP_THREADS") {
            None => None,
            Some(value) => match value.trim().parse::<usize>() {
                Ok(threads) if threads > 0 => Some(threads),
                _ => return Err(ConfigError::BadThreads(value)),
            },
        };
        let (processes, threads) = match backend {
            Backend::Serial => (1, 1),
            Backend::Threads => (1, threads.unwrap_or_else(cores)),
            // Under MPI a rank is a process unless DLP_THREADS asks for more in each.
            Backend::Mpi => (
                launch.map_or(1, |launch| launch.processes),
                threads.unwrap_or(1),
            ),
        };
        let watch = Watch::from_vars(&var)?;
        Ok(Config {
            backend,
            size: processes * threads,
            threads,
            watch,
        })
    }
}

/// The backend that `DLP_BACKEND` and the launcher ask for.
fn backend(
    var: &impl Fn(&str) -> Option<String>,
    launch: Option<&Launch>,
) -> Result<Backend, ConfigError> {
    let backend = match var("DLP_BACKEND").as_deref().map(str::trim) {
        None | Some("") if launch.is_some() && MPI_BUILT => Backend::Mpi,
        None | Some("") | Some("threads") => Backend::Threads,
        Some("serial") => Backend::Serial,
        Some("mpi") if MPI_BUILT => Backend::Mpi,
        Some("mpi") => return Err(ConfigError::MpiNotBuilt),
        Some(other) => return Err(ConfigError::UnknownBackend(other.to_owned())),
    };
    // Several processes that each run a thread world would each do all the work.
    match launch {
        Some(launch) if launch.processes > 1 && backend != Backend::Mpi => {
            Err(ConfigError::LaunchedByMpi {
                variable: launch.variable,
                processes: launch.processes,
            })
        }
        _ => Ok(backend),
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

/// The variables by which the same launchers tell a process its rank in the job, in the order
/// of [`LAUNCHER_SIZES`].
const LAUNCHER_RANKS: [&str; 4] = [
    "PMI_RANK",
    "PMIX_RANK",
    "OMPI_COMM_WORLD_RANK",
    "SLURM_PROCID",
];

/// How an MPI launcher started this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Launch {
    /// The launcher's variable that gave the number of processes away.
    pub(crate) variable: &'static str,
    /// How many processes it started.
    pub(crate) processes: usize,
    /// This process's rank among them.
    pub(crate) rank: usize,
}

impl Launch {
    /// The launch read through `var`. The rank comes from the same launcher as the number of
    /// processes: a Slurm batch script's `SLURM_PROCID` must not give a rank to a job that its
    /// own `mpiexec` started.
    fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Option<Launch> {
        let number = |name: &str| var(name)?.trim().parse::<usize>().ok();
        let (launcher, processes) = LAUNCHER_SIZES
            .iter()
            .enumerate()
            .find_map(|(launcher, &name)| Some((launcher, number(name)?)))?;
        Some(Launch {
            variable: LAUNCHER_SIZES[launcher],
            processes,
            rank: number(LAUNCHER_RANKS[launcher]).unwrap_or(0),
        })
    }

    /// How an MPI launcher started this process, read once from the process environment;
    /// `None` for a process that no launcher started.
    pub(crate) fn of_this_process() -> Option<Launch> {
        static LAUNCH: OnceLock<Option<Launch>> = OnceLock::new();
        *LAUNCH.get_or_init(|| Launch::from_vars(&|name| std::env::var(name).ok()))
    }
}

/// This process's rank in the MPI job that started it; 0 for a process that no MPI launcher
/// started.
pub(crate) fn process_rank() -> usize {
    Launch::of_this_process().map_or(0, |launch| launch.rank)
}

/// How many processes the MPI launcher that started this process started; 1 for a process that
/// no MPI launcher started.
pub(crate) fn process_count() -> usize {
    Launch::of_this_process().map_or(1, |launch| launch.processes)
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
                size: cores(),
                threads: cores(),
                watch: Watch::default(),
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
                size: 1,
                threads: 1,
                watch: Watch::default(),
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

    #[test]
    fn dlp_progress_is_auto_always_or_never() {
        for (value, progress) in [
            ("auto", Progress::Auto),
            ("", Progress::Auto),
            ("always", Progress::Always),
            ("never", Progress::Never),
            ("0", Progress::Never),
        ] {
            assert_eq!(Progress::from_value(Some(value)), Ok(progress));
            assert!(config(&[("DLP_PROGRESS", value)]).is_ok());
        }
        let error = config(&[("DLP_PROGRESS", "sometimes")]).unwrap_err();
        assert_eq!(error, ConfigError::BadProgress("sometimes".into()));
        assert!(error.to_string().starts_with(
            "DLP_PROGRESS=\"sometimes\" is not auto, always or never: use DLP_PROGRESS=always"
        ));
    }

    #[test]
    fn the_mpi_backend_needs_the_mpi_feature() {
        if MPI_BUILT {
            return; // this build has it
        }
        let mpi = config(&[("DLP_BACKEND", "mpi")]).unwrap_err();
        assert!(mpi.to_string().contains("built without dlp's MPI backend"));
        says_how_to_turn_mpi_on(&mpi.to_string());
    }

    /// A user's crate turns MPI on through its dependency on `dlp`, or forwards a feature.
    fn says_how_to_turn_mpi_on(text: &str) {
        assert!(
            text.contains(r#"`dlp = { version = "0.1", features = ["mpi"] }`"#)
                && text.contains(r#"`[features] mpi = ["dlp/mpi"]`"#)
                && text.contains("--features mpi")
                && !text.contains('\n'),
            "{text}"
        );
    }

    #[test]
    fn a_launch_by_mpiexec_or_srun_is_an_error_without_mpi() {
        if MPI_BUILT {
            return; // with MPI, such a launch starts an MPI world
        }
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
            says_how_to_turn_mpi_on(&text);
        }
        // One process started by a launcher is an ordinary program.
        assert!(config(&[("PMI_SIZE", "1"), ("SLURM_NTASKS", "8")]).is_ok());
    }

    #[test]
    fn what_to_watch_is_read_through_var_too() {
        let watch = config(&[("DLP_REPORT", "yes"), ("DLP_TRACE", "out.json")])
            .unwrap()
            .watch;
        assert!(watch.report);
        assert_eq!(watch.trace, Some(PathBuf::from("out.json")));
        let error = config(&[("DLP_REPORT", "verbose")]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("DLP_REPORT=\"verbose\" is not a yes or a no")
        );
    }

    #[test]
    fn a_launch_is_read_without_starting_mpi() {
        let launched = [("PMI_SIZE", "4"), ("PMI_RANK", "2")];
        let launch = Launch::from_vars(&|name| {
            launched
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        });
        assert_eq!(
            launch,
            Some(Launch {
                variable: "PMI_SIZE",
                processes: 4,
                rank: 2
            })
        );
        // Another launcher's rank is not this job's: the batch step's, under an mpiexec of 2.
        let in_a_batch_script = [("SLURM_PROCID", "3"), ("PMI_SIZE", "2")];
        let launch = Launch::from_vars(&|name| {
            in_a_batch_script
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        });
        assert_eq!(launch.map(|launch| launch.rank), Some(0));
        match config(&launched) {
            Ok(config) => assert_eq!((config.backend, config.size), (Backend::Mpi, 4)),
            Err(error) => assert!(!MPI_BUILT && error.to_string().contains("as 4 processes")),
        }
        // DLP_THREADS under MPI: that many rank-threads in each process.
        let hybrid = [("PMI_SIZE", "4"), ("PMI_RANK", "2"), ("DLP_THREADS", "3")];
        match config(&hybrid) {
            Ok(config) => assert_eq!((config.size, config.threads), (12, 3)),
            Err(error) => assert!(!MPI_BUILT && error.to_string().contains("as 4 processes")),
        }
    }

    #[test]
    fn dlp_timeout_takes_a_duration_with_a_unit() {
        let timeout = |value: &str| config(&[("DLP_TIMEOUT", value)]).map(|c| c.watch.timeout);
        assert_eq!(timeout("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(timeout("5m"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(timeout("250ms"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(timeout("2h"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(timeout("1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(timeout("off"), Ok(None));
        assert_eq!(timeout("0"), Ok(None));
        assert_eq!(config(&[]).unwrap().watch.timeout, None);
        for bad in ["soon", "5 parsecs", "-3s", "s"] {
            let error = timeout(bad).unwrap_err();
            assert!(error.to_string().starts_with("DLP_TIMEOUT="), "{error}");
        }
    }
}
