//! The items a resumed split still has to process, numbered from 0: a split shares out these
//! positions as it would the items of a fresh one, and each rank turns the positions it gets
//! into the indices of the items.

use std::ops::Range;

/// The unfinished indices of an iterable, as sorted runs, with the position of each run's first.
#[derive(Debug)]
pub(crate) struct Remaining {
    runs: Vec<Range<usize>>,
    /// `firsts[i]`: the position of `runs[i].start`.
    firsts: Vec<usize>,
    count: Option<usize>,
}

impl Remaining {
    /// The indices below `length` (every index, where the length is unknown) that are not in
    /// `finished`, which is sorted and merged.
    pub(crate) fn new(length: Option<usize>, finished: &[Range<u64>]) -> Remaining {
        let end = length.unwrap_or(usize::MAX);
        let mut runs = Vec::with_capacity(finished.len() + 1);
        let mut from = 0;
        for done in finished {
            let (start, stop) = (clamp(done.start, end), clamp(done.end, end));
            if from < start {
                runs.push(from..start);
            }
            from = from.max(stop);
        }
        if from < end {
            runs.push(from..end);
        }
        let mut firsts = Vec::with_capacity(runs.len());
        let mut position = 0usize;
        for run in &runs {
            firsts.push(position);
            position = position.saturating_add(run.len());
        }
        Remaining {
            runs,
            firsts,
            count: length.map(|_| position),
        }
    }

    /// How many items are left, where the length is known.
    pub(crate) fn count(&self) -> Option<usize> {
        self.count
    }

    /// Whether every index is left: nothing to translate.
    pub(crate) fn is_everything(&self) -> bool {
        matches!(self.runs.as_slice(), [only] if only.start == 0)
    }

    /// The indices at `positions`, as runs in increasing order, appended to `out`.
    pub(crate) fn indices(&self, positions: Range<usize>, out: &mut Vec<Range<usize>>) {
        if positions.is_empty() || self.runs.is_empty() {
            return;
        }
        let mut at = self
            .firsts
            .partition_point(|&first| first <= positions.start)
            - 1;
        let mut position = positions.start;
        while position < positions.end && at < self.runs.len() {
            let run = &self.runs[at];
            let offset = position - self.firsts[at];
            let take = (positions.end - position).min(run.len() - offset);
            let start = run.start + offset;
            out.push(start..start + take);
            position += take;
            at += 1;
        }
    }
}

fn clamp(index: u64, end: usize) -> usize {
    usize::try_from(index).unwrap_or(usize::MAX).min(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_skip_the_finished_indices() {
        let remaining = Remaining::new(Some(10), &[0..2, 4..5, 8..20]);
        assert_eq!(remaining.count(), Some(5)); // 2, 3, 5, 6, 7
        let mut out = Vec::new();
        remaining.indices(1..4, &mut out);
        assert_eq!(out, vec![3..4, 5..7]);
        out.clear();
        remaining.indices(0..5, &mut out);
        assert_eq!(out, vec![2..4, 5..8]);
        assert!(!remaining.is_everything());
    }

    #[test]
    fn an_unknown_length_leaves_the_rest_open() {
        let first_three = [0..3u64, 3..3];
        let remaining = Remaining::new(None, &first_three);
        assert_eq!(remaining.count(), None);
        let mut out = Vec::new();
        remaining.indices(0..2, &mut out);
        assert_eq!(out, vec![3..5]);
        assert!(Remaining::new(None, &[]).is_everything());
    }

    #[test]
    fn every_position_maps_to_one_index() {
        let finished = [1..3, 6..7, 9..10];
        let remaining = Remaining::new(Some(12), &finished);
        let mut out = Vec::new();
        for position in 0..remaining.count().unwrap() {
            remaining.indices(position..position + 1, &mut out);
        }
        let indices: Vec<usize> = out.into_iter().flatten().collect();
        assert_eq!(indices, vec![0, 3, 4, 5, 7, 8, 10, 11]);
    }
}
