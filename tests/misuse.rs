//! What a user can get wrong inside a loop body, on every world size: a split or a region
//! nested in a body runs on that rank alone (every item once, the right answer), and a
//! collective called in a body is an error that names both places, before any communication.

mod common;

use common::{failure_in, no_hang};
use dlp::{Split, World};

/// Every world a test runs on: serial, and 1 to 4 rank-threads.
fn worlds() -> Vec<World> {
    let mut worlds = vec![World::serial()];
    worlds.extend((1..=4).map(World::threads));
    worlds
}

/// An SPMD function with a loop of its own and a collective at its end.
#[dlp::spmd]
fn sum_of_squares(items: Vec<u64>) -> u64 {
    let mut mine = 0;
    #[par_for]
    for item in items {
        mine += item * item;
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

#[test]
fn a_split_nested_in_a_loop_body_gives_every_pair_once() {
    for world in worlds() {
        for outer in [Split::round_robin(), Split::managed(), Split::block()] {
            for inner in [Split::managed(), Split::round_robin().chunk(3)] {
                let pairs = no_hang({
                    let world = world.clone();
                    move || {
                        world.run(move || {
                            let mut mine = Vec::new();
                            for i in outer.over(0..10u32) {
                                for j in inner.over(0..10u32) {
                                    mine.push((i, j));
                                }
                            }
                            dlp::all_gather(mine).concat()
                        })
                    }
                });
                let mut pairs = pairs;
                pairs.sort();
                let every: Vec<(u32, u32)> =
                    (0..10).flat_map(|i| (0..10).map(move |j| (i, j))).collect();
                assert_eq!(pairs, every, "{world:?} {outer:?} {inner:?}");
            }
        }
    }
}

#[test]
fn a_region_called_in_a_loop_body_is_a_team_of_one() {
    for world in worlds() {
        let sums = no_hang(move || {
            world.run(|| {
                let mut mine = Vec::new();
                for n in dlp::split_managed(1..=6u64) {
                    // Inside a body the rank is alone: the region's loop and its all_reduce
                    // are this rank's, and so is the answer.
                    mine.push((n, sum_of_squares((1..=n).collect()), dlp::rank()));
                }
                dlp::gather(mine).map(|all| all.concat())
            })
        });
        let mut sums = sums.expect("the main rank gathers");
        sums.sort();
        let expected: Vec<u64> = (1..=6).map(|n| n * (n + 1) * (2 * n + 1) / 6).collect();
        let found: Vec<u64> = sums.iter().map(|(_, sum, _)| *sum).collect();
        assert_eq!(found, expected);
    }
}

#[test]
fn a_map_inside_a_map_is_computed_where_its_item_is() {
    for world in worlds() {
        let totals = no_hang(move || {
            world.run(|| {
                let row_sum = |row: u64| dlp::map_ordered(|x: u64| row * x, 0..5).sum::<u64>();
                dlp::map_ordered(row_sum, 0..8u64).collect::<Vec<u64>>()
            })
        });
        assert_eq!(totals, (0..8u64).map(|row| row * 10).collect::<Vec<_>>());
    }
}

#[test]
fn a_collective_in_a_loop_body_is_an_error_naming_both_places() {
    for world in worlds() {
        let failure = failure_in(world, || {
            for item in dlp::split_round_robin(0..6u32) {
                dlp::barrier();
                let _ = item;
            }
        });
        let message = failure.message();
        assert!(
            message.contains("barrier at tests/misuse.rs:")
                && message.contains("inside the body of the loop of the split at tests/misuse.rs:")
                && message.contains("call it after the loop"),
            "{message}"
        );
    }
}

#[test]
fn every_collective_is_refused_in_a_loop_body() {
    let collectives: [(&str, fn()); 6] = [
        ("gather", || {
            dlp::gather(1u8);
        }),
        ("all_gather", || {
            dlp::all_gather(1u8);
        }),
        ("broadcast", || {
            dlp::broadcast(Some(1u8));
        }),
        ("scatter", || {
            dlp::scatter(Some(vec![1u8; 8]));
        }),
        ("reduce", || {
            dlp::reduce(1u8, |a, b| a + b);
        }),
        ("all_reduce", || {
            dlp::all_reduce(1u8, |a, b| a + b);
        }),
    ];
    for (name, collective) in collectives {
        let failure = failure_in(World::threads(3), move || {
            for _ in dlp::split_managed(0..9u32) {
                collective();
            }
        });
        assert!(
            failure.message().contains("inside the body of the loop"),
            "{name}: {}",
            failure.message()
        );
    }
}

#[test]
fn an_unfinished_split_iterator_counts_as_a_running_loop() {
    let failure = failure_in(World::threads(2), || {
        let mut mine = dlp::split_round_robin(0..10u32);
        let first = mine.next();
        dlp::gather(first);
    });
    assert!(
        failure.message().contains("left unfinished"),
        "{}",
        failure.message()
    );
    // Once it has run out, or is dropped, collectives are fine again.
    let total = World::threads(2).run(|| {
        let mut mine = dlp::split_round_robin(0..10u32);
        let first = mine.next().unwrap_or(0);
        drop(mine);
        let rest: u32 = dlp::split_round_robin(0..10u32).sum();
        dlp::all_reduce(first + rest, |a, b| a + b)
    });
    assert_eq!(total, 45 + 1);
}

/// Every rank builds the same map, but each map has hash keys of its own, so each iterates
/// in its own order.
fn same_map_on_every_rank() -> std::collections::HashMap<String, Vec<f64>> {
    (0..1000)
        .map(|key| (format!("key {key}"), vec![f64::from(key)]))
        .collect()
}

#[dlp::spmd]
fn keys_of_a_hash_map() -> Option<Vec<String>> {
    let map = same_map_on_every_rank();
    let mut mine = Vec::new();
    #[par_for(split = "round_robin")]
    for (key, _values) in &map {
        mine.push(key.clone());
    }
    dlp::gather(mine).map(|all| all.concat())
}

#[test]
fn a_hash_map_in_a_loop_is_caught_every_time_instead_of_losing_keys() {
    for ranks in 1..=4 {
        for _ in 0..10 {
            let outcome = no_hang(move || World::threads(ranks).try_run(keys_of_a_hash_map));
            match outcome {
                Ok(keys) => {
                    assert_eq!(ranks, 1, "{ranks} ranks ran on different orders unnoticed");
                    let mut keys = keys.expect("the main rank gathers");
                    keys.sort();
                    keys.dedup();
                    assert_eq!(keys.len(), 1000);
                }
                Err(failure) => {
                    let message = failure.message();
                    assert!(
                        message.contains("split_round_robin at tests/misuse.rs:")
                            && message.contains("come in another order")
                            && message.contains("BTreeMap"),
                        "{message}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_sorted_copy_of_the_map_runs_and_gives_every_key_once() {
    let keys = World::threads(3).run(|| {
        let mut entries: Vec<_> = same_map_on_every_rank().into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut mine = Vec::new();
        for (key, _) in dlp::split_managed(entries) {
            mine.push(key);
        }
        dlp::gather(mine).map(|all| all.concat())
    });
    let mut keys = keys.expect("the main rank gathers");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 1000);
}

#[test]
fn a_hash_map_given_to_a_split_by_hand_is_refused() {
    let failure = failure_in(World::threads(2), || {
        let map = same_map_on_every_rank();
        let _count = dlp::split_managed(&map).count();
    });
    let message = failure.message();
    assert!(
        message.contains("split_managed at tests/misuse.rs:")
            && message.contains("iterates a HashMap or HashSet"),
        "{message}"
    );
}

/// Items that are neither `Hash` nor `Debug` still split (unchecked), and a generic function
/// compiles: the fingerprint is picked where the item type is known.
#[dlp::spmd]
fn count_generic<I: IntoIterator + Clone + Sync>(items: I) -> usize {
    let mut mine = 0;
    #[par_for]
    for _item in items {
        mine += 1;
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

#[test]
fn items_without_hash_or_debug_still_split() {
    #[derive(Clone)]
    struct Opaque;
    assert_eq!(count_generic(vec![Opaque; 17]), 17);
    assert_eq!(count_generic(0..40u8), 40);
}
