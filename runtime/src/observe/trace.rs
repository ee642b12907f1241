//! The timeline of `DLP_TRACE`: Chrome's and Perfetto's trace-event format, a complete event
//! ("X") per run of items, one row (thread) per rank.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{EventOnWire, from_micros, micros};

/// One item run of one rank; times since the world's epoch.
pub(super) struct Event {
    pub(super) label: Arc<str>,
    pub(super) rank: usize,
    pub(super) start: Duration,
    pub(super) end: Duration,
    pub(super) first: usize,
    pub(super) items: usize,
}

impl Event {
    pub(super) fn to_wire(&self) -> EventOnWire {
        let label = self.label.to_string();
        let (start, end) = (micros(self.start), micros(self.end));
        (label, self.rank, start, end, self.first, self.items)
    }

    pub(super) fn from_wire((label, rank, start, end, first, items): EventOnWire) -> Self {
        Event {
            label: label.into(),
            rank,
            start: from_micros(start),
            end: from_micros(end),
            first,
            items,
        }
    }
}

/// Writes the timeline of `events` in a world of `size` ranks to `path`.
pub(super) fn write(path: &Path, events: &[Event], size: usize) {
    match std::fs::write(path, chrome_trace(events, size)) {
        Ok(()) => log::info!(
            "dlp: wrote {} trace events to {}",
            events.len(),
            path.display()
        ),
        Err(error) => eprintln!(
            "dlp: could not write the trace to {}: {error}",
            path.display()
        ),
    }
}

fn chrome_trace(events: &[Event], size: usize) -> String {
    let mut trace_events: Vec<serde_json::Value> = (0..size)
        .map(|rank| {
            serde_json::json!({
                "name": "thread_name", "ph": "M", "pid": 0, "tid": rank,
                "args": { "name": format!("rank {rank}") }
            })
        })
        .collect();
    trace_events.extend(events.iter().map(|event| {
        let last = event.first + event.items.saturating_sub(1);
        serde_json::json!({
            "name": format!("{} items {}..={last}", event.label, event.first),
            "cat": &*event.label,
            "ph": "X",
            "pid": 0,
            "tid": event.rank,
            "ts": micros(event.start),
            "dur": (micros(event.end) - micros(event.start)).max(0.0),
            "args": { "first": event.first, "items": event.items }
        })
    }));
    serde_json::json!({ "traceEvents": trace_events, "displayTimeUnit": "ms" }).to_string()
}
