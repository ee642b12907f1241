//! Any sequence of collectives, splits and maps, many more than the threads backend keeps in
//! flight at once, gives every rank the right answer: rounds are matched by number whatever
//! mix of operations precedes them, and worlds started one after another on the same thread
//! (which reuse its rank-threads) start afresh.

mod common;

use common::{every_split, no_hang};
use proptest::prelude::*;

/// One step of a program, as every rank makes it.
#[derive(Clone, Debug)]
enum Step {
    Barrier,
    Gather(u64),
    AllGather(u64),
    Broadcast(u64),
    Scatter(usize),
    AllReduce(u64),
    /// A split (by its index in `every_split`) of `0..n`, summed and gathered.
    Split(usize, u64),
    MapOrdered(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Barrier),
        any::<u64>().prop_map(Step::Gather),
        any::<u64>().prop_map(Step::AllGather),
        any::<u64>().prop_map(Step::Broadcast),
        (0..12usize).prop_map(Step::Scatter),
        (0..1000u64).prop_map(Step::AllReduce),
        ((0..every_split().len()), 0..50u64).prop_map(|(split, n)| Step::Split(split, n)),
        (0..40u64).prop_map(Step::MapOrdered),
    ]
}

/// Runs `step` on the calling rank; panics where a rank sees a wrong answer.
fn run_step(step: &Step) {
    let (rank, size) = (dlp::rank() as u64, dlp::size() as u64);
    match *step {
        Step::Barrier => dlp::barrier(),
        Step::Gather(seed) => {
            let all = dlp::gather(seed ^ rank);
            let expected = (0..size).map(|r| seed ^ r).collect::<Vec<_>>();
            assert_eq!(all, dlp::is_main().then_some(expected));
        }
        Step::AllGather(seed) => {
            let all = dlp::all_gather(vec![seed, rank]);
            let expected = (0..size).map(|r| vec![seed, r]).collect::<Vec<_>>();
            assert_eq!(all, expected);
        }
        Step::Broadcast(seed) => {
            let value = dlp::broadcast(dlp::is_main().then(|| format!("{seed}")));
            assert_eq!(value, format!("{seed}"));
        }
        Step::Scatter(n) => {
            let mine = dlp::scatter(dlp::is_main().then(|| (0..n).collect::<Vec<_>>()));
            let all = dlp::all_gather(mine).concat();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
        Step::AllReduce(value) => {
            assert_eq!(
                dlp::all_reduce(value + rank, |a, b| a + b),
                value * size + size * (size - 1) / 2
            );
            // Folded in rank order on every rank, whichever rank arrives last.
            let joined = dlp::all_reduce(vec![value, rank], |mut a, b| {
                a.extend(b);
                a
            });
            let expected: Vec<u64> = (0..size).flat_map(|r| [value, r]).collect();
            assert_eq!(joined, expected);
            // Values of every size, some too long to travel beside the round's lock.
            let long = |rank: u64| vec![value + rank; rank as usize * 40];
            let joined = dlp::all_reduce(long(rank), |mut a, b| {
                a.extend(b);
                a
            });
            assert_eq!(joined, (0..size).flat_map(long).collect::<Vec<_>>());
        }
        Step::Split(split, n) => {
            let (_, split) = every_split().swap_remove(split);
            let mine: Vec<u64> = split.over(0..n).collect();
            let mut all = dlp::all_gather(mine).concat();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
        Step::MapOrdered(n) => {
            let results: Vec<u64> = dlp::map_ordered(|x: u64| x * x, 0..n).collect();
            if dlp::is_main() {
                assert_eq!(results, (0..n).map(|x| x * x).collect::<Vec<_>>());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_calls_gives_every_rank_the_right_answer(
        steps in prop::collection::vec(step(), 0..120),
        ranks in 1..=4usize,
    ) {
        no_hang(move || {
            // Twice on one thread: the second world reuses the first one's rank-threads.
            for _ in 0..2 {
                let done = dlp::World::threads(ranks).run(|| {
                    steps.iter().for_each(run_step);
                    dlp::all_reduce(1, |a: usize, b| a + b)
                });
                assert_eq!(done, ranks);
            }
        });
    }
}

#[test]
fn worlds_from_several_threads_and_inside_a_rank_each_have_their_own_team() {
    no_hang(|| {
        let starters: Vec<_> = (0..3)
            .map(|starter| {
                std::thread::spawn(move || {
                    (0..50)
                        .map(|round| {
                            dlp::World::threads(3).run(|| {
                                let name = std::thread::current().name().map(str::to_owned);
                                let names = dlp::all_gather(name);
                                // A world started inside a rank: that rank's own team.
                                let inner = dlp::World::threads(2)
                                    .run(|| dlp::all_reduce(dlp::rank() + round, |a, b| a + b));
                                let inners = dlp::all_gather(inner);
                                (names, inners, starter)
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for (starter, handle) in starters.into_iter().enumerate() {
            for (round, (names, inners, seen)) in handle.join().unwrap().into_iter().enumerate() {
                assert_eq!(seen, starter);
                assert_eq!(
                    &names[1..],
                    &[Some("dlp-rank-1".into()), Some("dlp-rank-2".into())]
                );
                assert_eq!(inners, vec![1 + 2 * round; 3]);
            }
        }
    });
}
