//! A panic on any rank ends the whole world: the others are woken wherever they wait, and the
//! failure names the rank and the item. A mismatch between ranks is an error, not a hang.

mod common;

use common::no_hang;
use dlp::{Failure, Split, World};

fn failure_of<R: Send + 'static>(
    ranks: usize,
    body: impl Fn() -> R + Sync + Send + 'static,
) -> Failure {
    common::failure_in(World::threads(ranks), body)
}

#[test]
fn a_panic_in_any_split_names_the_rank_and_item_and_wakes_the_others() {
    for split in [
        Split::round_robin(),
        Split::block(),
        Split::managed(),
        Split::managed().chunk(7),
        Split::guided(),
    ] {
        let failure = failure_of(4, move || {
            let mut mine = Vec::new();
            for item in split.over(0..500u64) {
                if item == 321 {
                    panic!("bad example {item}");
                }
                mine.push(item);
            }
            // The other ranks finish their share and wait here for a rank that never comes.
            dlp::gather(mine)
        });
        assert_eq!(failure.item(), Some(321), "{split:?}");
        assert_eq!(failure.message(), "bad example 321");
        if split == Split::round_robin() {
            assert_eq!(failure.rank(), 321 % 4);
        }
        if split == Split::block() {
            assert_eq!(failure.rank(), 2, "block 2 of 4 holds items 250..375");
        }
    }
}

#[test]
fn a_panic_with_items_of_unknown_length_names_the_item() {
    let failure = failure_of(3, || {
        for item in dlp::split_managed((0..).filter(|x| x % 3 == 0).take(100)) {
            assert_ne!(item, 150, "no good");
        }
    });
    assert_eq!(failure.item(), Some(50));
}

#[test]
fn ranks_waiting_in_any_collective_are_woken() {
    type Collective = fn();
    let collectives: [(&str, Collective); 6] = [
        ("barrier", || dlp::barrier()),
        ("broadcast", || {
            _ = dlp::broadcast(dlp::is_main().then_some(1u8))
        }),
        ("gather", || drop(dlp::gather(1u8))),
        ("all_gather", || drop(dlp::all_gather(1u8))),
        ("scatter", || {
            drop(dlp::scatter(dlp::is_main().then(|| vec![1u8; 4])))
        }),
        ("all_reduce", || _ = dlp::all_reduce(1u8, |a, b| a + b)),
    ];
    for (name, collective) in collectives {
        for failing_rank in [0, 2] {
            let failure = failure_of(3, move || {
                if dlp::rank() == failing_rank {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    panic!("lost the input file");
                }
                collective();
            });
            assert_eq!(
                failure.to_string(),
                format!("rank {failing_rank} panicked: lost the input file"),
                "{name}"
            );
        }
    }
}

#[test]
fn a_panic_in_a_map_stops_the_world_wherever_it_happens() {
    // On a worker, while the main rank waits for results.
    let failure = failure_of(3, || {
        dlp::Split::managed()
            .chunk(1)
            .map_unordered(
                |x: u64| {
                    if dlp::rank() == 1 && x > 3 {
                        panic!("worker failed on {x}");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    x
                },
                0..1000,
            )
            .count()
    });
    assert_eq!(failure.rank(), 1);
    assert_eq!(
        failure.message(),
        format!("worker failed on {}", failure.item().unwrap())
    );
    // On the main rank, while the workers compute. The main rank computes whenever no result is
    // waiting; slow workers make sure that happens.
    let failure = failure_of(3, || {
        dlp::map_ordered(
            |x: u64| {
                assert!(!dlp::is_main(), "main failed on {x}");
                std::thread::sleep(std::time::Duration::from_millis(1));
                x
            },
            0..1000,
        )
        .count()
    });
    assert_eq!(failure.rank(), 0);
    assert_eq!(
        failure.message(),
        format!("main failed on {}", failure.item().unwrap())
    );
}

#[test]
fn a_panic_after_an_inner_loop_names_the_outer_item() {
    let failure = failure_of(2, || {
        for outer in dlp::split_round_robin(0..4u32) {
            let inner_total: u32 = (0..3).sum();
            if outer == 3 {
                panic!("outer {outer}, inner {inner_total}");
            }
        }
    });
    assert_eq!((failure.rank(), failure.item()), (1, Some(3)));
}

#[test]
fn a_panic_outside_any_loop_names_only_the_rank() {
    let failure = failure_of(2, || {
        for _ in dlp::split_block(0..10) {}
        if dlp::rank() == 1 {
            panic!("after the loop");
        }
    });
    assert_eq!(failure.to_string(), "rank 1 panicked: after the loop");
}

#[test]
fn run_reraises_the_failure_as_a_panic_with_its_message() {
    let payload = no_hang(|| {
        std::panic::catch_unwind(|| {
            World::threads(2).run(|| {
                for item in dlp::split_round_robin(0..4) {
                    assert_ne!(item, 3, "three");
                }
            })
        })
        .unwrap_err()
    });
    let message = payload.downcast_ref::<String>().expect("a String payload");
    assert!(
        message.starts_with("rank 1 panicked at item 3: assertion `left != right` failed: three"),
        "{message}"
    );
}

#[test]
fn a_rank_that_skips_a_collective_is_an_error_not_a_hang() {
    let failure = failure_of(3, || {
        if dlp::rank() == 2 {
            return; // returns without the gather the others call
        }
        dlp::gather(dlp::rank());
    });
    assert_eq!(failure.rank(), 0);
    let message = failure.message();
    assert!(
        message.contains("rank 2 has already returned") && message.contains("gather"),
        "{message}"
    );
}

#[test]
fn a_rank_that_returns_while_another_goes_to_sleep_is_noticed() {
    // The waiting rank spins a while, then checks who has returned and sleeps: rank 1 returns
    // at every moment of that, from at once to well after the spin, so that some of its
    // returns fall between the waiter's last check and its sleep.
    let world = World::threads(2);
    no_hang(move || {
        for step in 0..4000u64 {
            let delay = std::time::Duration::from_nanos(step * 150);
            let failure = world
                .try_run(move || {
                    if dlp::rank() == 1 {
                        let start = std::time::Instant::now();
                        while start.elapsed() < delay {
                            std::hint::spin_loop();
                        }
                        return;
                    }
                    dlp::gather(dlp::rank());
                })
                .expect_err("rank 0 waits for a rank that has returned");
            assert!(
                failure.message().contains("rank 1 has already returned"),
                "after {delay:?}: {}",
                failure.message()
            );
        }
    });
}

#[test]
fn a_rank_that_returns_right_after_a_meeting_is_not_taken_for_absent() {
    // A barrier's or an all_reduce's ranks meet without the round's lock, so the round does not
    // list them: the last to arrive can leave and return before a rank that waited there looks
    // again, and that rank must find the meeting over, not a rank gone. Eight ranks on fewer
    // cores wait by yielding and sleeping, which opens that window.
    let world = World::threads(8);
    no_hang(move || {
        for run in 0..1500 {
            let total = world.try_run(|| {
                dlp::barrier();
                dlp::all_reduce(1u32, |a, b| a + b)
            });
            assert_eq!(
                total.map_err(|failure| failure.to_string()),
                Ok(8),
                "run {run}"
            );
        }
    });
}

#[test]
fn a_call_that_no_rank_waits_in_is_an_error_when_another_rank_skips_it() {
    // A gather's senders and a split's ranks do not wait for the others: the call is found
    // unfinished when the world ends, instead of the value being lost without a word.
    let gathered_by_one = failure_of(3, || {
        if dlp::rank() == 1 {
            dlp::gather(1);
        }
    });
    let message = gathered_by_one.message();
    assert_eq!(gathered_by_one.rank(), 1);
    assert!(
        message.starts_with("dlp: rank 1 called gather at tests/failures.rs:")
            && message.contains("but rank 0 returned from the world without calling it"),
        "{message}"
    );
    let split_by_one = failure_of(2, || {
        if dlp::is_main() {
            let _ = dlp::split_round_robin(0..4).count();
        }
    });
    assert!(
        split_by_one
            .message()
            .contains("called split_round_robin at")
            && split_by_one.message().contains("but rank 1 returned"),
        "{}",
        split_by_one.message()
    );
}

#[test]
fn a_map_is_named_as_a_map_in_its_errors() {
    // Its split is the map's: errors, reports, timelines and progress bars name the map.
    let failure = failure_of(2, || {
        dlp::map_unordered(|x: u32| x, 0..10 + dlp::rank() as u32).count()
    });
    let message = failure.message();
    assert!(
        message.contains("map_unordered at tests/failures.rs:")
            && !message.contains("split_managed"),
        "{message}"
    );
    let ordered = failure_of(2, || {
        dlp::map_ordered(|x: u32| x, 0..10 + dlp::rank() as u32).count()
    });
    assert!(
        ordered
            .message()
            .contains("map_ordered at tests/failures.rs:"),
        "{}",
        ordered.message()
    );
}

#[test]
fn different_collectives_at_the_same_point_are_an_error() {
    for ranks in 2..=4 {
        let failure = failure_of(ranks, || {
            if dlp::is_main() {
                dlp::gather(1u32);
            } else {
                dlp::broadcast::<u32>(None);
            }
        });
        let message = failure.message();
        assert!(
            message.contains("does not match across ranks")
                && message.contains("called broadcast at tests/failures.rs:")
                && message.contains("called gather at tests/failures.rs:"),
            "{message}"
        );
    }
}

#[test]
fn a_barrier_against_another_call_is_an_error_whichever_comes_first() {
    // A barrier checks its call without the round's lock: against a round that another
    // operation opened, and another operation against a round that a barrier opened.
    let others: [(&str, fn()); 4] = [
        ("gather", || _ = dlp::gather(1u32)),
        ("broadcast", || _ = dlp::broadcast(Some(1u32))),
        ("all_reduce", || _ = dlp::all_reduce(1u8, |a, b| a + b)),
        ("split_block", || _ = dlp::split_block(0..4).count()),
    ];
    for (name, other) in others {
        for barrier_first in [true, false] {
            let failure = failure_of(2, move || {
                let later = || std::thread::sleep(std::time::Duration::from_millis(20));
                if dlp::is_main() {
                    if !barrier_first {
                        later();
                    }
                    dlp::barrier();
                } else {
                    if barrier_first {
                        later();
                    }
                    other();
                }
            });
            let message = failure.message();
            assert!(
                message.contains("does not match across ranks")
                    && message.contains("called barrier at tests/failures.rs:")
                    && message.contains(&format!("called {name} at tests/failures.rs:")),
                "{name}, barrier first: {barrier_first}: {message}"
            );
        }
    }
}

#[test]
fn iterables_of_different_lengths_are_an_error() {
    for split in [
        Split::round_robin(),
        Split::block(),
        Split::managed(),
        Split::guided(),
    ] {
        let failure = failure_of(3, move || {
            let count = if dlp::rank() == 1 { 11 } else { 10 };
            split.over(0..count).count()
        });
        let message = failure.message();
        assert!(
            message.contains("differ between ranks")
                && message.contains("10 items")
                && message.contains("11 items"),
            "{split:?}: {message}"
        );
    }
}

#[test]
fn the_main_rank_must_pass_a_value_to_broadcast_and_scatter() {
    let failure = failure_of(2, || dlp::broadcast::<u8>(None));
    assert_eq!(failure.rank(), 0);
    assert!(
        failure.message().contains("main rank passed None"),
        "{}",
        failure.message()
    );
    let failure = failure_of(2, || dlp::scatter::<u8>(None));
    assert!(
        failure
            .message()
            .contains("scatter: the main rank passed None")
    );
}

#[test]
fn a_world_can_run_again_after_a_failure() {
    let _ = failure_of(2, || panic!("first world"));
    let sizes =
        no_hang(|| World::threads(2).run(|| dlp::all_gather(dlp::split_managed(0..10).count())));
    assert_eq!(sizes.iter().sum::<usize>(), 10);
}

#[test]
fn a_panic_while_consuming_map_results_names_the_result_item() {
    let failure = failure_of(2, || {
        for root in dlp::map_ordered(|x: u64| x * x, 0..50) {
            assert_ne!(root, 49 * 49, "consumer failed");
        }
    });
    assert_eq!((failure.rank(), failure.item()), (0, Some(49)));
}

#[test]
fn a_caught_panic_inside_a_loop_is_not_reported_for_a_later_one() {
    let failure = failure_of(2, || {
        let caught = std::panic::catch_unwind(|| {
            for item in dlp::split_round_robin(0..10) {
                assert_ne!(item, 4, "caught by the user");
            }
        });
        assert!(caught.is_err() == dlp::is_main());
        dlp::barrier();
        for _ in dlp::split_block(0..4) {}
        panic!("later, outside any loop");
    });
    assert_eq!(failure.item(), None, "{failure}");
}

#[test]
fn a_panic_inside_internal_iteration_names_the_item() {
    // `sum`, `for_each` and `fold` run through the share without calling `next`.
    for split in [
        Split::block(),
        Split::managed(),
        Split::round_robin().chunk(4),
    ] {
        let failure = failure_of(2, move || {
            split
                .over(0..10_000u64)
                .for_each(|item| assert_ne!(item, 7_777, "for_each"));
        });
        assert_eq!(failure.item(), Some(7_777), "{split:?}");
        let failure = failure_of(2, move || {
            split
                .over((0..).take_while(|&x| x < 10_000u64))
                .inspect(|&item| assert_ne!(item, 5_555, "sum"))
                .sum::<u64>()
        });
        assert_eq!(failure.item(), Some(5_555), "{split:?}");
    }
}
