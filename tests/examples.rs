//! The example programs, run as a user runs them (the binaries `cargo test` builds), on several
//! numbers of ranks: each prints what the program it translates prints.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// Runs example `name` on `ranks` rank-threads (`None`: the serial backend) and returns its
/// standard output; fails on a non-zero exit.
fn run_example(name: &str, ranks: Option<usize>) -> String {
    let mut path: PathBuf = std::env::current_exe().expect("the test binary's path");
    path.pop(); // deps/
    path.pop();
    path.push("examples");
    path.push(name);
    let mut command = Command::new(&path);
    command.env_remove("DLP_THREADS").env_remove("DLP_BACKEND");
    match ranks {
        Some(ranks) => command.env("DLP_THREADS", ranks.to_string()),
        None => command.env("DLP_BACKEND", "serial"),
    };
    let output = common::no_hang(move || command.output()).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (`cargo test` builds the examples)",
            path.display()
        )
    });
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(
        output.status.success(),
        "{name} on {ranks:?} ranks: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

const RANKS: [Option<usize>; 4] = [None, Some(1), Some(3), Some(8)];

#[test]
fn the_three_dlp_mpi_columns_print_the_same_results() {
    assert_eq!(run_example("dlp_mpi_serial", None), "45\n");
    let expected = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n45\n";
    for ranks in RANKS {
        assert_eq!(run_example("dlp_mpi_split_managed", ranks), expected);
        assert_eq!(run_example("dlp_mpi_map_unordered", ranks), expected);
    }
}

#[test]
fn the_shared_table_gives_one_checksum_on_any_number_of_ranks() {
    let serial = run_example("shared_table", None);
    assert!(serial.starts_with("16 MB table, checksum "), "{serial}");
    for ranks in RANKS {
        assert_eq!(run_example("shared_table", ranks), serial);
    }
}

#[test]
fn the_quickstart_sums_the_ten_examples() {
    for ranks in RANKS {
        assert_eq!(run_example("quickstart", ranks), "45\n");
    }
}

#[test]
fn run_job_scatters_near_even_blocks() {
    assert_eq!(
        run_example("mcutils_run_job", Some(15)),
        "[67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 66, 66, 66, 66, 66]\n1000\n"
    );
    assert_eq!(
        run_example("mcutils_run_job", Some(3)),
        "[334, 333, 333]\n1000\n"
    );
    assert_eq!(run_example("mcutils_run_job", None), "[1000]\n1000\n");
}

#[test]
fn map_applier_adds_one_to_each_item_in_order() {
    for ranks in RANKS {
        assert_eq!(
            run_example("mcutils_map_applier", ranks),
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        );
    }
}

#[test]
fn the_sample_program_gives_the_same_values_on_any_number_of_ranks() {
    let serial = run_example("mcutils_sample_program", None);
    assert!(serial.ends_with("round trip exact: true\n"), "{serial}");
    assert_eq!(serial.lines().next().unwrap().split(", ").count(), 10);
    for ranks in RANKS {
        assert_eq!(run_example("mcutils_sample_program", ranks), serial);
    }
}

#[test]
fn batches_of_a_generator_come_back_flattened_in_order() {
    for ranks in RANKS {
        let output = run_example("adparallelengine_batches", ranks);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], "32 values");
        assert!(
            lines[1].starts_with("[1, 3, 3, 5, 7, 11, 17, 27, "),
            "{output}"
        );
        assert_eq!(lines[2], "same as serial: true");
    }
}

#[test]
fn the_driver_kernel_sums_agree_between_serial_and_parallel() {
    for ranks in [Some(1), Some(3)] {
        let output = run_example("driver_kernel", ranks);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 2, "{output}");
        for (line, items) in lines.iter().zip(["65536", "1048576"]) {
            assert!(line.contains(&format!("= {items} items")), "{line}");
            let number_after = |label: &str| -> f64 {
                let start = line.find(label).expect(label) + label.len();
                line[start..].split(' ').next().unwrap().parse().unwrap()
            };
            let (serial, parallel) = (number_after("serial "), number_after("parallel "));
            assert!((serial - parallel).abs() <= 1e-9 * serial, "{line}");
            assert!(line.contains("speed-up"), "{line}");
        }
    }
}
