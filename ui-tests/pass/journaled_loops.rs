//! `#[par_for(journal = ..)]` with a literal path and with an expression; the second loop over
//! the same journal finds every item done.

#[dlp::main]
fn main() {
    let journal = std::env::temp_dir().join(format!("dlp-ui-journal-{}", std::process::id()));
    let mut first = 0;
    #[par_for(split = "block", journal = &journal)]
    for _item in 0..20u32 {
        first += 1;
    }
    let mut again = 0;
    #[par_for(split = "block", journal = journal.as_path())]
    for _item in 0..20u32 {
        again += 1;
    }
    assert_eq!(dlp::all_reduce((first, again), |a, b| (a.0 + b.0, a.1 + b.1)), (20, 0));
    if dlp::is_main() {
        let _ = std::fs::remove_dir_all("target/dlp-ui-journal-literal"); // an earlier run's
    }
    dlp::barrier();
    let mut literal = 0;
    #[par_for(journal = "target/dlp-ui-journal-literal")]
    for _item in 0..5u32 {
        literal += 1;
    }
    let literal = dlp::all_reduce(literal, |a, b| a + b);
    dlp::barrier();
    if dlp::is_main() {
        std::fs::remove_dir_all(&journal).unwrap();
        std::fs::remove_dir_all("target/dlp-ui-journal-literal").unwrap();
    }
    assert_eq!(literal, 5);
}
