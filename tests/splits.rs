//! Properties of the splits and collectives over every world size 1..=8, item counts 0..1000
//! and chunk sizes: each item processed exactly once, on the rank its schedule promises.

mod common;

use dlp::{Schedule, Split, World};
use proptest::prelude::*;

fn schedules() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        Just(Schedule::RoundRobin),
        Just(Schedule::Block),
        Just(Schedule::Managed),
        Just(Schedule::Guided),
    ]
}

fn split_of(schedule: Schedule, chunk: Option<usize>) -> Split {
    let split = Split::with_schedule(schedule);
    match chunk {
        Some(chunk) if schedule != Schedule::Block => split.chunk(chunk),
        _ => split,
    }
}

/// Every rank's share, as `(index, item)` pairs in the order the rank saw them.
fn shares(size: usize, split: Split, count: u64, known_length: bool) -> Vec<Vec<(usize, u64)>> {
    World::threads(size).run(|| {
        let mine: Vec<(usize, u64)> = if known_length {
            split.over(0..count).with_index().collect()
        } else {
            // No exact size hint: the split cannot know the length up front.
            split
                .over((0..).take_while(|&x| x < count))
                .with_index()
                .collect()
        };
        dlp::all_gather(mine)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_item_is_processed_exactly_once(
        size in 1usize..=8,
        count in 0u64..1000,
        schedule in schedules(),
        chunk in proptest::option::of(1usize..40),
        known_length in any::<bool>(),
    ) {
        let split = split_of(schedule, chunk);
        let shares = shares(size, split, count, known_length);
        prop_assert_eq!(shares.len(), size);
        for share in &shares {
            prop_assert!(share.iter().all(|&(index, item)| index as u64 == item));
            prop_assert!(share.windows(2).all(|pair| pair[0].0 < pair[1].0), "a share goes forward");
        }
        let all: Vec<u64> = common::sorted(shares).into_iter().map(|(_, item)| item).collect();
        prop_assert_eq!(all, (0..count).collect::<Vec<_>>());
    }

    #[test]
    fn next_then_collect_map_or_fold_gives_each_rank_its_share(
        size in 1usize..=8,
        count in 0u64..1000,
        schedule in schedules(),
        chunk in proptest::option::of(1usize..40),
        known_length in any::<bool>(),
        taken in 0usize..20,
        finish in 0usize..3,
    ) {
        // `collect`, `map(..).collect()` and `fold` run whole runs at a time, after a rank has
        // taken a few items one by one: every item still once, in order, on its promised rank.
        let split = split_of(schedule, chunk);
        let by_next: Vec<Vec<u64>> = shares(size, split, count, known_length)
            .into_iter()
            .map(|share| share.into_iter().map(|(_, item)| item).collect())
            .collect();
        let by_runs = World::threads(size).run(|| {
            let items: Box<dyn Iterator<Item = u64>> = match known_length {
                true => Box::new(0..count),
                false => Box::new((0..).take_while(|&x| x < count)),
            };
            let mut share = split.over(items);
            let mut mine: Vec<u64> = share.by_ref().take(taken).collect();
            let rest: Vec<u64> = match finish {
                0 => share.collect(),
                1 => share.map(|x| x).collect(),
                _ => share.fold(Vec::new(), |mut rest, x| { rest.push(x); rest }),
            };
            mine.extend(rest);
            dlp::all_gather(mine)
        });
        for share in &by_runs {
            prop_assert!(share.windows(2).all(|pair| pair[0] < pair[1]), "a share goes forward");
        }
        if matches!(schedule, Schedule::RoundRobin | Schedule::Block) {
            prop_assert_eq!(&by_runs, &by_next);
        }
        prop_assert_eq!(common::sorted(by_runs), (0..count).collect::<Vec<_>>());
    }

    #[test]
    fn static_splits_put_each_item_on_its_promised_rank(
        size in 1usize..=8,
        count in 0u64..1000,
        chunk in 1usize..40,
        known_length in any::<bool>(),
    ) {
        let dealt = shares(size, Split::round_robin().chunk(chunk), count, known_length);
        for (rank, share) in dealt.iter().enumerate() {
            prop_assert!(share.iter().all(|&(index, _)| index / chunk % size == rank));
        }
        let blocks = shares(size, Split::block(), count, known_length);
        let (base, longer) = (count as usize / size, count as usize % size);
        let mut start = 0;
        for (rank, block) in blocks.iter().enumerate() {
            let length = base + usize::from(rank < longer);
            let expected: Vec<usize> = (start..start + length).collect();
            prop_assert_eq!(block.iter().map(|&(index, _)| index).collect::<Vec<_>>(), expected);
            start += length;
        }
    }

    #[test]
    fn size_hints_bracket_what_is_left_at_every_step(
        size in 1usize..=8,
        count in 0u64..300,
        schedule in schedules(),
        chunk in proptest::option::of(1usize..40),
        known_length in any::<bool>(),
    ) {
        let split = split_of(schedule, chunk);
        let violations = World::threads(size).run(|| {
            let mut share = if known_length {
                Box::new(split.over(0..count)) as Box<dyn Iterator<Item = u64>>
            } else {
                Box::new(split.over((0..).take_while(|&x| x < count)))
            };
            let mut hints = vec![share.size_hint()];
            let mut yielded = 0;
            while share.next().is_some() {
                yielded += 1;
                hints.push(share.size_hint());
            }
            // hints[k] was taken when k items had been yielded.
            let bad: Vec<String> = hints
                .iter()
                .enumerate()
                .filter(|&(k, &(lower, upper))| {
                    let left = yielded - k;
                    lower > left || upper.is_some_and(|upper| upper < left)
                })
                .map(|(k, hint)| format!("after {k} of {yielded}: {hint:?}"))
                .collect();
            dlp::all_gather(bad)
        });
        prop_assert!(violations.iter().all(Vec::is_empty), "{violations:?}");
    }

    #[test]
    fn scatter_cuts_near_even_blocks_in_rank_order(size in 1usize..=8, count in 0usize..1000) {
        let blocks = World::threads(size).run(|| {
            let items = dlp::is_main().then(|| (0..count).collect::<Vec<_>>());
            dlp::all_gather(dlp::scatter(items))
        });
        let lengths: Vec<usize> = blocks.iter().map(Vec::len).collect();
        let longest = lengths.iter().copied().max().unwrap_or(0);
        prop_assert!(lengths.iter().all(|&length| longest - length <= 1));
        prop_assert!(lengths.windows(2).all(|pair| pair[0] >= pair[1]), "longer blocks first");
        prop_assert_eq!(blocks.concat(), (0..count).collect::<Vec<_>>());
    }

    #[test]
    fn gather_is_in_rank_order_and_only_on_main(size in 1usize..=8, payload in ".{0,20}") {
        let gathered = World::threads(size).run(|| {
            let mine = format!("{}:{}", dlp::rank(), payload);
            let on_this_rank = dlp::gather(mine);
            dlp::all_gather(on_this_rank)
        });
        let expected: Vec<String> = (0..size).map(|rank| format!("{rank}:{payload}")).collect();
        prop_assert_eq!(&gathered[0], &Some(expected));
        prop_assert!(gathered[1..].iter().all(Option::is_none));
    }

    #[test]
    fn broadcast_gives_every_rank_the_main_value(size in 1usize..=8, value in any::<Vec<(u32, String)>>()) {
        let main_value = value.clone();
        let received = World::threads(size).run(move || {
            let mine = dlp::is_main().then(|| main_value.clone());
            dlp::all_gather(dlp::broadcast(mine))
        });
        prop_assert!(received.iter().all(|copy| *copy == value));
    }

    #[test]
    fn reduce_folds_in_rank_order(size in 1usize..=8) {
        // String concatenation is not commutative: the order of the fold shows.
        let (reduced, everywhere) = World::threads(size).run(|| {
            let concatenate = |a: String, b: String| a + &b;
            let reduced = dlp::reduce(dlp::rank().to_string(), concatenate);
            let everywhere = dlp::all_gather(dlp::all_reduce(dlp::rank().to_string(), concatenate));
            (reduced, everywhere)
        });
        let expected: String = (0..size).map(|rank| rank.to_string()).collect();
        prop_assert_eq!(reduced, Some(expected.clone()));
        prop_assert_eq!(everywhere, vec![expected; size]);
    }

    #[test]
    fn maps_return_every_result_on_main(
        size in 1usize..=8,
        count in 0u64..400,
        schedule in schedules(),
        chunk in proptest::option::of(1usize..20),
    ) {
        let split = split_of(schedule, chunk);
        let results = World::threads(size).run(|| {
            let unordered: Vec<u64> = split.map_unordered(|x: u64| x * 3, 0..count).collect();
            let ordered: Vec<u64> =
                split.map_ordered(|x: u64| x * 3, (0..).take_while(|&x| x < count)).collect();
            dlp::all_gather((unordered, ordered))
        });
        let expected: Vec<u64> = (0..count).map(|x| x * 3).collect();
        let (main_unordered, main_ordered) = &results[0];
        prop_assert_eq!(common::sorted(vec![main_unordered.clone()]), expected.clone());
        prop_assert_eq!(main_ordered, &expected);
        for (other_unordered, other_ordered) in &results[1..] {
            prop_assert!(other_unordered.is_empty() && other_ordered.is_empty());
        }
    }
}

/// A loop over a journal right after another loop over it finds every item done, even where a
/// rank finishes the first loop last: the journal is read once every rank has written to it.
#[test]
fn a_second_loop_over_a_journal_finds_every_item_of_the_first_done() {
    let journal = std::env::temp_dir().join(format!("dlp-splits-journal-{}", std::process::id()));
    for round in 0..10 {
        let _ = std::fs::remove_dir_all(&journal);
        let again = World::threads(4).run(|| {
            for _ in Split::block().journal(&journal).over(0..40u32) {
                if dlp::rank() == 3 {
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
            }
            let again = Split::block().journal(&journal).over(0..40u32).count();
            dlp::all_reduce(again, |a, b| a + b)
        });
        assert_eq!(again, 0, "items processed again in round {round}");
    }
    let _ = std::fs::remove_dir_all(&journal);
}

/// A dynamic split takes again what an earlier one of its rank shared once nobody holds it:
/// splits one after another, of every length, known or not, and two alive at once, each still
/// give every item exactly once. The same world runs twice, as a kept world does.
#[test]
fn dynamic_splits_one_after_another_each_give_every_item_once() {
    /// A round on one rank: the length, and the rank's items of the three splits.
    type Round = (u64, Vec<u64>, Vec<u64>, Vec<u64>);
    common::no_hang(|| {
        for size in [2, 3, 5] {
            let world = World::threads(size);
            for _ in 0..2 {
                let shares = world.run(|| {
                    let mut shares = Vec::new();
                    for round in 0..60u64 {
                        let count = round * 7 % 23 + round % 3;
                        let split = match round % 3 {
                            0 => Split::managed(),
                            1 => Split::managed().chunk(1 + round as usize % 4),
                            _ => Split::guided(),
                        };
                        let one: Vec<u64> = if round % 2 == 0 {
                            split.over(0..count).collect()
                        } else {
                            split.over((0..).take_while(|&x| x < count)).collect()
                        };
                        // The first still held while the second starts: they share nothing.
                        let first = Split::managed().over(0..count);
                        let second = Split::guided().over(0..count + 5);
                        let (first, second): (Vec<u64>, Vec<u64>) =
                            (first.collect(), second.collect());
                        shares.push((count, one, first, second));
                    }
                    dlp::all_gather(shares)
                });
                for round in 0..60 {
                    let count = shares[0][round].0;
                    let union = |pick: fn(&Round) -> &Vec<u64>| {
                        common::sorted(
                            shares
                                .iter()
                                .map(|rank| pick(&rank[round]).clone())
                                .collect(),
                        )
                    };
                    assert_eq!(
                        union(|s| &s.1),
                        (0..count).collect::<Vec<_>>(),
                        "round {round}"
                    );
                    assert_eq!(
                        union(|s| &s.2),
                        (0..count).collect::<Vec<_>>(),
                        "round {round}"
                    );
                    assert_eq!(
                        union(|s| &s.3),
                        (0..count + 5).collect::<Vec<_>>(),
                        "round {round}"
                    );
                }
            }
        }
    });
}
