//! The launcher of the MPI that this build links, for the tests and benchmarks that start MPI
//! jobs.
//!
//! Debian installs MPICH and Open MPI side by side and points the plain `mpiexec` at one of
//! them, which need not be the one the `mpi` crate was built against (it follows
//! `MPI_PKG_CONFIG`, then `mpicc`); a job started by the other MPI's launcher runs every process
//! as a world of its own. `DLP_MPIEXEC` names another launcher. Where a Slurm cluster answers,
//! [`Launcher::slurm`] starts jobs with `srun` instead.

use std::path::Path;
use std::process::Command;

/// How to start a job of this build's MPI.
pub struct Launcher {
    program: String,
    /// Whether the program is Slurm's `srun`.
    srun: bool,
    /// Which MPI this build links, as `MPI_Get_library_version` names it.
    pub library: String,
    open_mpi: bool,
}

impl Launcher {
    /// The launcher of the MPI that this build links.
    pub fn of_this_build() -> Self {
        // MPI_Get_library_version is one of the few calls allowed before MPI_Init.
        let library = mpi::environment::library_version().unwrap_or_default();
        // The first line, up to its first comma: "MPICH Version: 4.0.2", "Open MPI v4.1.4".
        let first_line = library.lines().next().unwrap_or_default();
        let name = first_line.split(',').next().unwrap_or_default();
        let library = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let open_mpi = library.contains("Open MPI");
        let program = std::env::var("DLP_MPIEXEC").unwrap_or_else(|_| {
            let own = if open_mpi {
                "mpirun.openmpi"
            } else {
                "mpiexec.mpich"
            };
            let on_path = |name: &str| {
                std::env::var_os("PATH").is_some_and(|path| {
                    std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
                })
            };
            if on_path(own) { own } else { "mpiexec" }.to_string()
        });
        Launcher {
            program,
            srun: false,
            library,
            open_mpi,
        }
    }

    /// Slurm's `srun`, where a Slurm cluster with a partition up answers `sinfo`.
    pub fn slurm() -> Option<Self> {
        let sinfo = Command::new("sinfo")
            .args(["--noheader", "--format=%a"])
            .output()
            .ok()?;
        let up = sinfo.status.success() && String::from_utf8_lossy(&sinfo.stdout).contains("up");
        up.then(|| Launcher {
            program: "srun".into(),
            srun: true,
            ..Launcher::of_this_build()
        })
    }

    /// The command that runs `program` as `ranks` processes.
    pub fn command(&self, ranks: usize, program: &Path) -> Command {
        let mut command = Command::new(&self.program);
        if self.srun {
            // More tasks than the node's cores, and the PMI that each MPI speaks: MPICH's own
            // PMI-2, Open MPI's PMIx.
            let pmi = if self.open_mpi { "pmix" } else { "pmi2" };
            command.args(["--overcommit", &format!("--mpi={pmi}")]);
        } else if self.open_mpi {
            // The tests start more processes than this machine has cores; Open MPI refuses that
            // unless asked, and refuses to run as root (a CI container) unless told twice. Its
            // launcher prints banners of its own when a job aborts or a process exits non-zero,
            // which no process can silence: `--quiet` does, as the README tells users.
            command.args(["--oversubscribe", "--quiet"]);
            command.env("OMPI_ALLOW_RUN_AS_ROOT", "1");
            command.env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        command.arg("-n").arg(ranks.to_string()).arg(program);
        command
    }

    /// The launcher's name, for messages.
    pub fn program(&self) -> &str {
        &self.program
    }
}
