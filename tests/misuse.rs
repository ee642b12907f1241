//! What a user can get wrong inside a loop body, on every world size: a split or a region
//! nested in a body runs on that rank alone (every item once, the right answer), and a
//! collective called in a body is an error that names both places, before any communication.

mod common;

use common::no_hang;
use dlp::{Failure, Split, World};

/// Every world a test runs on: serial, and 1 to 4 rank-threads.
fn worlds() -> Vec<World> {
    let mut worlds = vec![World::serial()];
    worlds.extend((1..=4).map(World::threads));
    worlds
}

fn failure_of(world: World, body: impl Fn() + Sync + Send + 'static) -> Failure {
    no_hang(move || match world.try_run(body) {
        Ok(()) => panic!("the world was expected to fail"),
        Err(failure) => failure,
    })
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
        let failure = failure_of(world, || {
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
        let failure = failure_of(World::threads(3), move || {
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
    let failure = failure_of(World::threads(2), || {
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
