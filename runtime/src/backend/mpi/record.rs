//! A record: one message of dlp's collectives over MPI. Eight words (what it is, the call's
//! number, the iterable's length and order, a number of the operation's own, the call site's
//! line and column, the lengths of the two names), then the names of the operation and of the
//! call site's file, then the bytes it carries.

use crate::comm::Call;

/// What a record says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A part of a call: the call, then the bytes it carries.
    Call = 1,
    /// The sender has waited for this rank in the call it names.
    Note = 2,
    /// The sender's body has returned: the error it returned, if any, as its operation, and
    /// the signal of the stop it took (0 for none) as its number of its own.
    End = 3,
}

/// The words that start a record.
pub(super) const WORDS: usize = 8;
const UNKNOWN: u64 = u64::MAX;
/// The number of an end record's call.
const END: u64 = u64::MAX;

/// One message of the collectives' tag.
#[derive(Clone)]
pub(crate) struct Record(Vec<u8>);

impl Record {
    /// The record of `call` on its way, with `extra` (a number of the operation's own) and the
    /// bytes it carries.
    pub(crate) fn new(kind: Kind, call: &Call, extra: u64, payload: &[u8]) -> Record {
        let site = call.site;
        let position = (u64::from(site.line()) << 32) | u64::from(site.column());
        let words = [
            kind as u64,
            call.number,
            call.length.map_or(UNKNOWN, |length| length as u64),
            call.order.unwrap_or(UNKNOWN),
            extra,
            position,
            call.operation.len() as u64,
            site.file().len() as u64,
        ];
        Record::of(&words, call.operation, site.file(), payload)
    }

    /// The end of a rank's body, with the error it returned and the signal of its stop.
    pub(crate) fn end(error: Option<&str>, stopped: u64) -> Record {
        let error = error.unwrap_or_default();
        let words = [
            Kind::End as u64,
            END,
            UNKNOWN,
            UNKNOWN,
            stopped,
            0,
            error.len() as u64,
            0,
        ];
        Record::of(&words, error, "", &[])
    }

    fn of(words: &[u64; WORDS], operation: &str, file: &str, payload: &[u8]) -> Record {
        let mut bytes =
            Vec::with_capacity(WORDS * 8 + operation.len() + file.len() + payload.len());
        for word in words {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes.extend_from_slice(operation.as_bytes());
        bytes.extend_from_slice(file.as_bytes());
        bytes.extend_from_slice(payload);
        Record(bytes)
    }

    fn word(&self, index: usize) -> u64 {
        let bytes = self.0[index * 8..index * 8 + 8]
            .try_into()
            .expect("8 bytes");
        u64::from_le_bytes(bytes)
    }

    /// A record as it arrived; `None` for bytes too short to be one.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Option<Record> {
        let record = Record(bytes);
        let whole = record.0.len() >= WORDS * 8
            && (record.texts() as u64) <= (record.0.len() - WORDS * 8) as u64;
        whole.then_some(record)
    }

    /// How many bytes the names of the operation and the file take.
    fn texts(&self) -> usize {
        self.word(6).saturating_add(self.word(7)) as usize
    }

    pub(crate) fn kind(&self) -> Option<Kind> {
        match self.word(0) {
            1 => Some(Kind::Call),
            2 => Some(Kind::Note),
            3 => Some(Kind::End),
            _ => None,
        }
    }

    pub(crate) fn number(&self) -> u64 {
        self.word(1)
    }

    pub(crate) fn length(&self) -> Option<usize> {
        Some(self.word(2))
            .filter(|&length| length != UNKNOWN)
            .map(|length| length as usize)
    }

    pub(crate) fn order(&self) -> Option<u64> {
        Some(self.word(3)).filter(|&order| order != UNKNOWN)
    }

    pub(crate) fn extra(&self) -> u64 {
        self.word(4)
    }

    fn text(&self, start: usize, length: u64) -> &str {
        std::str::from_utf8(&self.0[start..start + length as usize]).unwrap_or("?")
    }

    pub(crate) fn operation(&self) -> &str {
        self.text(WORDS * 8, self.word(6))
    }

    fn file(&self) -> &str {
        self.text(WORDS * 8 + self.word(6) as usize, self.word(7))
    }

    /// The bytes the record carries.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.0[WORDS * 8 + self.texts()..]
    }

    /// The whole record, as it travels.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is a part of `call`: the same number, operation and call site.
    pub(super) fn fits(&self, call: &Call) -> bool {
        let site = call.site;
        let position = (u64::from(site.line()) << 32) | u64::from(site.column());
        let (operation, file) = (call.operation.as_bytes(), site.file().as_bytes());
        let texts = &self.0[WORDS * 8..];
        self.number() == call.number
            && self.word(5) == position
            && self.word(6) == operation.len() as u64
            && self.word(7) == file.len() as u64
            && texts.starts_with(operation)
            && texts[operation.len()..].starts_with(file)
    }

    /// The call, as a message names it: `gather at src/main.rs:10:5`.
    pub(crate) fn describe(&self) -> String {
        let position = self.word(5);
        format!(
            "{} at {}:{}:{}",
            self.operation(),
            self.file(),
            position >> 32,
            position & 0xffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::*;
    use crate::ranks::Ranks;

    #[track_caller]
    fn call(number: u64, operation: &'static str, length: Option<usize>) -> Call {
        Call {
            ranks: Ranks::All,
            number,
            operation,
            rank: 0,
            length,
            site: Location::caller(),
            order: Some(42),
        }
    }

    #[test]
    fn a_record_reads_back_what_was_written() {
        let gather = call(7, "gather", Some(10));
        let record = Record::new(Kind::Call, &gather, 99, b"payload");
        let record = Record::from_bytes(record.bytes().to_vec()).expect("a whole record");
        assert_eq!(record.kind(), Some(Kind::Call));
        assert_eq!(record.number(), 7);
        assert_eq!(record.length(), Some(10));
        assert_eq!(record.order(), Some(42));
        assert_eq!(record.extra(), 99);
        assert_eq!(record.operation(), "gather");
        assert_eq!(record.payload(), b"payload");
        assert_eq!(record.describe(), format!("gather at {}", gather.site));
        assert!(record.fits(&gather));
    }

    #[test]
    fn a_record_fits_only_its_own_call() {
        let gather = call(7, "gather", None);
        let record = Record::new(Kind::Call, &gather, 0, &[]);
        assert!(!record.fits(&call(8, "gather", None)), "another number");
        assert!(!record.fits(&call(7, "barrier", None)), "another operation");
        // The same number and operation at another line of this file.
        assert!(!record.fits(&call(7, "gather", None)), "another call site");
    }

    #[test]
    fn an_end_record_carries_the_error_and_the_signal() {
        let end = Record::end(Some("no input file"), 15);
        let end = Record::from_bytes(end.bytes().to_vec()).expect("a whole record");
        assert_eq!(end.kind(), Some(Kind::End));
        assert_eq!(end.operation(), "no input file");
        assert_eq!(end.extra(), 15);
        assert_eq!(Record::end(None, 0).operation(), "");
    }

    #[test]
    fn bytes_cut_short_are_no_record() {
        let record = Record::new(Kind::Call, &call(1, "broadcast", None), 0, b"12345678");
        let bytes = record.bytes();
        let header_and_names = bytes.len() - 8;
        for cut in [0, 7, WORDS * 8 - 1, header_and_names - 1] {
            assert!(
                Record::from_bytes(bytes[..cut].to_vec()).is_none(),
                "cut at {cut}"
            );
        }
        let without_payload = Record::from_bytes(bytes[..header_and_names].to_vec());
        assert_eq!(
            without_payload.map(|record| record.payload().len()),
            Some(0)
        );
    }
}
