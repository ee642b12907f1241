//! `#[par_for]` loops nested in blocks, `if`s, closures and other loops, in both spellings; the
//! body keeps `continue`, labelled `break` and `continue`.

#[dlp::main]
fn main() {
    let mut seen = Vec::new();
    {
        #[par_for]
        for item in 0..20u32 {
            if item % 5 == 4 {
                continue;
            }
            seen.push(item);
        }
    }
    if dlp::size() > 0 {
        #[dlp::par_for(split = "round_robin", progress)]
        for item in 100..110u32 {
            seen.push(item);
        }
    }
    let mut collect = |seen: &mut Vec<u32>| {
        #[par_for(split = "block", progress = false)]
        for item in 200..210u32 {
            seen.push(item);
        }
    };
    collect(&mut seen);
    for round in 0..2u32 {
        #[par_for(split = "guided", chunk = 2)]
        'items: for item in 0..10u32 {
            for divisor in 2..item {
                if item % divisor == 0 {
                    continue 'items; // not a prime
                }
            }
            seen.push(1000 * (round + 1) + item);
        }
    }
    if let Some(all) = dlp::gather(seen) {
        let mut all: Vec<u32> = all.concat();
        all.sort();
        let mut expected: Vec<u32> = (0..20).filter(|item| item % 5 != 4).collect();
        expected.extend(100..110);
        expected.extend(200..210);
        for round in 1..=2 {
            expected.extend([0, 1, 2, 3, 5, 7].map(|prime| 1000 * round + prime));
        }
        assert_eq!(all, expected);
    }
}
