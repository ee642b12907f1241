//! A rank that leaves a split early (`break`, `return`, `?`) never hangs the others, and the
//! items it leaves behind are accounted for exactly as documented.

mod common;

use common::{every_split, no_hang, sorted};
use dlp::{Split, World};

const ITEMS: u64 = 200;

/// Work long enough that every rank of a dynamic split gets items, whichever thread starts first.
fn work_on(_item: u64) {
    std::thread::sleep(std::time::Duration::from_micros(200));
}

/// Rank 1 breaks out of the loop on the fourth item it is given; returns per rank the items
/// processed and the item rank 1 broke on.
fn break_on_rank_one(split: Split) -> Vec<(Vec<u64>, Option<u64>)> {
    World::threads(4).run(move || {
        let mut processed = Vec::new();
        let mut broke_on = None;
        dlp::barrier();
        for item in split.over(0..ITEMS) {
            work_on(item);
            if dlp::rank() == 1 && processed.len() == 3 {
                broke_on = Some(item);
                break;
            }
            processed.push(item);
        }
        dlp::all_gather((processed, broke_on))
    })
}

#[test]
fn a_break_is_local_to_its_rank_for_every_split() {
    for (name, split) in every_split() {
        let ranks = no_hang(move || break_on_rank_one(split));
        let processed = sorted(ranks.iter().map(|(items, _)| items.clone()).collect());
        assert_eq!(
            ranks[1].0.len(),
            3,
            "{name}: rank 1 processed three items, then broke"
        );
        let broke_on = ranks[1].1.expect("rank 1 broke");
        // The static splits: rank 1's own later items stay unprocessed.
        let rank_one_share: Vec<u64> = {
            let shares = World::threads(4)
                .run(move || dlp::all_gather(split.over(0..ITEMS).collect::<Vec<_>>()));
            shares[1].clone()
        };
        match split.schedule() {
            dlp::Schedule::RoundRobin | dlp::Schedule::Block => {
                let skipped: Vec<u64> = rank_one_share[3..].to_vec();
                let expected: Vec<u64> =
                    (0..ITEMS).filter(|item| !skipped.contains(item)).collect();
                assert_eq!(processed, expected, "{name}");
            }
            _ => {
                // The dynamic splits: nothing is processed twice, nothing unclaimed is lost, and
                // what is missing is the item rank 1 broke on plus the rest of its chunk.
                let mut all = processed.clone();
                all.dedup();
                assert_eq!(
                    all.len(),
                    processed.len(),
                    "{name}: an item was processed twice"
                );
                let missing: Vec<u64> = (0..ITEMS)
                    .filter(|item| !processed.contains(item))
                    .collect();
                assert_eq!(missing.first(), Some(&broke_on), "{name}: {missing:?}");
                let chunk_rest = missing.len() - 1;
                assert!(
                    missing.windows(2).all(|pair| pair[1] == pair[0] + 1),
                    "{name}: one chunk: {missing:?}"
                );
                match split.chunk_size() {
                    Some(chunk) if split.schedule() == dlp::Schedule::Managed => {
                        assert!(chunk_rest < chunk, "{name}: {chunk_rest} skipped")
                    }
                    _ => assert!(
                        chunk_rest < ITEMS as usize / 2,
                        "{name}: {chunk_rest} skipped"
                    ),
                }
            }
        }
    }
}

#[test]
fn with_chunk_one_a_managed_break_skips_only_the_item_broken_on() {
    let ranks = no_hang(|| break_on_rank_one(Split::managed().chunk(1)));
    let broke_on = ranks[1].1.unwrap();
    let mut processed = sorted(ranks.into_iter().map(|(items, _)| items).collect());
    processed.push(broke_on);
    processed.sort();
    assert_eq!(processed, (0..ITEMS).collect::<Vec<_>>());
}

#[test]
fn a_rank_that_never_iterates_leaves_all_items_to_the_others() {
    let processed = no_hang(|| {
        World::threads(3).run(|| {
            let share = dlp::split_managed(0..ITEMS);
            let mine: Vec<u64> = if dlp::rank() == 2 {
                Vec::new()
            } else {
                share.collect()
            };
            dlp::gather(mine)
        })
    });
    assert_eq!(sorted(processed.unwrap()), (0..ITEMS).collect::<Vec<_>>());
}

fn first_ten_or_fail(split: Split) -> Result<Vec<u64>, String> {
    let mut done = Vec::new();
    dlp::barrier();
    for item in split.over(0..ITEMS) {
        work_on(item);
        if dlp::rank() == 2 && item >= 10 {
            return Err(format!("rank 2 gave up at {item}"));
        }
        done.push(item);
    }
    Ok(done)
}

#[test]
fn an_early_return_or_question_mark_does_not_hang_the_others() {
    for (name, split) in every_split() {
        let outcome = no_hang(move || {
            World::threads(3).run(move || {
                let outcome = (|| -> Result<usize, String> {
                    let done = first_ten_or_fail(split)?;
                    Ok(done.len())
                })();
                dlp::all_gather(outcome.is_ok())
            })
        });
        assert_eq!(outcome, vec![true, true, false], "{name}");
    }
}

#[test]
fn the_main_rank_may_stop_consuming_a_map_early() {
    let taken = no_hang(|| {
        World::threads(3).run(|| {
            let first: Vec<u64> = dlp::map_unordered(|x: u64| x + 1, 0..100_000)
                .take(5)
                .collect();
            dlp::barrier(); // the workers stopped computing and reached this barrier
            dlp::all_gather(first.len())
        })
    });
    assert_eq!(taken, vec![5, 0, 0]);
}

#[test]
fn a_split_called_on_some_ranks_only_is_an_error_not_a_hang() {
    let failure = no_hang(|| {
        World::threads(3)
            .try_run(|| {
                // Only the main rank starts the split; the others go on to the gather.
                if dlp::is_main() {
                    let _mine: u32 = dlp::split_managed(0..4u32).sum();
                }
                dlp::gather(dlp::rank())
            })
            .unwrap_err()
    });
    assert!(
        failure.message().contains("does not match across ranks"),
        "{failure}"
    );
}
