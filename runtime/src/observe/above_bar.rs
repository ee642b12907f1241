//! While a progress bar is drawn, what the program prints to stdout goes above the bar, a line
//! at a time, instead of onto the bar's line.
//!
//! The bar sits on stderr with the cursor at its end: a line printed to stdout would start
//! there, glued to the bar, and stay glued to a stale copy of it once the bar is drawn again
//! below. So while a bar is drawn, this process's stdout (file descriptor 1, where Rust's
//! `println!` and C's `printf` both write) is a pipe; a thread reads it and writes each whole
//! line to the real stdout with the bar cleared, then draws the bar again. One bar at a time
//! does this: a second bar, drawn while the first is, leaves stdout alone.

use std::fs::File;
use std::io::{PipeReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::thread::JoinHandle;

use indicatif::ProgressBar;

/// The real stdout and the thread that forwards to it, while a bar has stdout; `None` otherwise.
/// Process-wide, so that a process that exits while a bar is drawn gives stdout back first.
static ACTIVE: Mutex<Option<Forwarding>> = Mutex::new(None);

struct Forwarding {
    /// The real stdout, while descriptor 1 is the pipe.
    real: OwnedFd,
    reader: JoinHandle<()>,
}

/// Sends this process's stdout above `bar` until [`give_back`]; returns false, doing nothing,
/// if another bar has it or the descriptors cannot be rearranged (lines then land where they
/// always did).
pub(super) fn take_for(bar: &ProgressBar) -> bool {
    let mut active = active();
    if active.is_some() {
        return false;
    }
    *active = forward_above(bar);
    let taken = active.is_some();
    if taken {
        give_back_at_exit();
    }
    taken
}

/// Gives stdout back, once every line printed so far has been written above the bar.
pub(super) fn give_back() {
    let taken = active().take();
    let Some(Forwarding { real, reader }) = taken else {
        return;
    };
    // What Rust's stdout holds goes into the pipe, before the pipe is closed.
    let _ = std::io::stdout().flush();
    // SAFETY: dup2 makes descriptor 1 refer to the real stdout again, which `real` keeps open;
    // that closes the pipe's last writing end, so the reader reaches its end and returns.
    unsafe {
        libc::dup2(real.as_raw_fd(), libc::STDOUT_FILENO);
    }
    let _ = reader.join(); // a reader that panicked has lost nothing it could still write
}

fn active() -> std::sync::MutexGuard<'static, Option<Forwarding>> {
    // What it guards is replaced whole: a panic elsewhere cannot have left it half made.
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn forward_above(bar: &ProgressBar) -> Option<Forwarding> {
    let _ = std::io::stdout().flush();
    let (reading, writing) = std::io::pipe().ok()?;
    // SAFETY: dup returns a new descriptor for the real stdout, which nothing else owns, or -1.
    let real = unsafe { libc::dup(libc::STDOUT_FILENO) };
    if real < 0 {
        return None;
    }
    // SAFETY: `real` was just returned by dup, open, and owned by nothing else.
    let real = unsafe { OwnedFd::from_raw_fd(real) };
    let out = File::from(real.try_clone().ok()?);
    let bar = bar.clone();
    let reader = std::thread::Builder::new()
        .name("dlp-stdout".into())
        .spawn(move || forward_lines(reading, out, &bar))
        .ok()?;
    // SAFETY: dup2 makes descriptor 1 refer to the pipe's writing end; `writing` is open. Where it
    // fails, descriptor 1 is unchanged, dropping `writing` ends the reader, and nothing moved.
    if unsafe { libc::dup2(writing.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
        drop(writing);
        let _ = reader.join();
        return None;
    }
    // Descriptor 1 is now the pipe's only writing end.
    drop(writing);
    Some(Forwarding { real, reader })
}

/// Writes each whole line that arrives through `pipe` to `out` with `bar` cleared, until the
/// pipe's writing end is closed; then what is left.
fn forward_lines(mut pipe: PipeReader, mut out: File, bar: &ProgressBar) {
    let mut pending = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(read @ 1..) = pipe.read(&mut buffer) {
        pending.extend_from_slice(&buffer[..read]);
        if let Some(last_newline) = pending.iter().rposition(|&byte| byte == b'\n') {
            let lines: Vec<u8> = pending.drain(..=last_newline).collect();
            bar.suspend(|| write_out(&mut out, &lines));
        }
    }
    if !pending.is_empty() {
        bar.suspend(|| write_out(&mut out, &pending));
    }
}

fn write_out(out: &mut File, bytes: &[u8]) {
    // Nowhere to report a failure to write stdout: the program's own println! would panic, and
    // this thread must not.
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// Registers, once, an exit hook that gives stdout back: a program that exits while a bar is
/// drawn loses none of its lines.
fn give_back_at_exit() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        extern "C" fn at_exit() {
            give_back();
        }
        // SAFETY: registering a plain `extern "C" fn` with the C runtime.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}
