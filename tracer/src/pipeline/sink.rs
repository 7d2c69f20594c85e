//! The live output's sink: lines go to stdout through a bounded queue and
//! a thread of their own, so that a stdout nobody reads (a stalled pipe,
//! a stopped terminal) never blocks the tracer — it stays responsive to
//! signals and keeps draining the ring buffer. What does not fit in the
//! queue is counted ([`Shared::dropped_lines`]), like the kernel's drops.
//!
//! At the end the report is queued whatever its size, and the caller
//! waits for it as long as it chooses ([`Output::wait`]).
//!
//! Stdout itself is written first without waiting (`RWF_NOWAIT`, where
//! its file takes that: pipes, /dev/null) while nothing is queued: the
//! usual case, a reader that keeps up, costs one write and no thread
//! switch. What stdout does not take at once goes to the thread.

use std::io::{self, Write};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Bytes of output in flight before lines are dropped: seconds of the
/// busiest live output, far more than any pipe buffers.
pub const QUEUE_BYTES: usize = 8 << 20;
/// A buffer's first capacity.
const BUF_BYTES: usize = 1 << 16;
/// A buffer this full at the end of a line is written: the next line
/// then still fits (a raw line is under 2 KiB), and it never grows.
const FULL_BYTES: usize = BUF_BYTES - (BUF_BYTES / 4);
/// Written buffers come back to be filled again, up to this many and
/// this size: a buffer that grows to a busy flush's size stays that size,
/// instead of a new one growing again (each growth a copy) every flush.
/// Small, so that what a storm's flushes grew is given back after it: with
/// 2 MiB spares the tracer stayed at 38 MiB after an unshare/setns storm
/// into a slow pipe, with 256 KiB at 26 MiB (as before spares).
const SPARES: usize = 2;
const SPARE_MAX_BYTES: usize = 256 << 10;

/// What the writer thread and the tracer both see.
#[derive(Debug, Default)]
pub struct Shared {
    queued: AtomicUsize,
    dropped: AtomicU64,
    /// Stdout is gone (EPIPE: `tracer | head`) or failed.
    closed: AtomicBool,
    /// From now on, queue whatever comes (the report at the end).
    unbounded: AtomicBool,
    error: Mutex<Option<io::Error>>,
}

impl Shared {
    /// Lines that could not be written because stdout did not keep up.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stdout's reader went away (or writing failed otherwise).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The write error that closed stdout, unless it was a broken pipe.
    pub fn error(&self) -> Option<String> {
        let e = self.error.lock().ok()?;
        e.as_ref()
            .filter(|e| e.kind() != io::ErrorKind::BrokenPipe)
            .map(|e| e.to_string())
    }

    /// Queue everything from now on: the end's report and counters.
    pub fn unbounded(&self) {
        self.unbounded.store(true, Ordering::Relaxed);
    }
}

/// The sink the pipeline writes into: a line buffer, handed to the queue
/// on every flush.
pub struct Queued {
    buf: Vec<u8>,
    tx: mpsc::Sender<Vec<u8>>,
    /// Written buffers, emptied, to fill again.
    spare: mpsc::Receiver<Vec<u8>>,
    shared: Arc<Shared>,
    /// The writer's fd, tried first without waiting (until it says it
    /// cannot be written so).
    direct: Option<RawFd>,
}

/// The writer thread, to wait for at the end.
pub struct Output {
    thread: JoinHandle<()>,
    pub shared: Arc<Shared>,
}

/// The tracer's stdout: written at once where it takes that without
/// waiting, else by a thread of its own.
pub fn stdout() -> io::Result<(Queued, Output)> {
    let (mut q, out) = queued(io::stdout())?;
    q.direct = Some(libc::STDOUT_FILENO);
    Ok((q, out))
}

/// A backlog this large, once written, is handed back to the kernel...
const TRIM_AFTER_BYTES: usize = 1 << 20;
/// ...once the queue has stayed empty this long: a trim takes 0.3–3 ms and
/// the allocator's lock, and a storm's backlogs come a few milliseconds
/// apart (one trim after each stalled both threads).
const TRIM_WHEN_QUIET: Duration = Duration::from_millis(20);

/// Hand the allocator's free memory back to the kernel. glibc keeps what a
/// backlog freed (the queue's buffers) resident: 53 MiB after an `--all`
/// storm into a slow reader, 20 MiB once trimmed. (musl, the release
/// image's libc, returns large blocks by itself.)
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A sink for `out`, written by a thread of its own.
pub fn queued<W: Write + Send + 'static>(mut out: W) -> io::Result<(Queued, Output)> {
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let (back, spare) = mpsc::sync_channel::<Vec<u8>>(SPARES);
    let s = Arc::clone(&shared);
    let thread = thread::Builder::new()
        .name("stdout".into())
        .spawn(move || {
            // The most that was queued since the queue last ran empty.
            let mut backlog = 0;
            // A backlog was written: trim once the queue stays empty.
            let mut trim = false;
            loop {
                let next = if trim {
                    rx.recv_timeout(TRIM_WHEN_QUIET)
                } else {
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                };
                let mut chunk = match next {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => {
                        release_free_memory();
                        trim = false;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                if !s.closed() {
                    let r = out.write_all(&chunk).and_then(|()| out.flush());
                    if let Err(e) = r {
                        s.closed.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = s.error.lock() {
                            *slot = Some(e);
                        }
                    }
                }
                let len = chunk.len();
                // Release: once nothing is queued, the tracer may write
                // the fd itself, after these bytes.
                let was = s.queued.fetch_sub(len, Ordering::Release);
                backlog = backlog.max(was);
                if chunk.capacity() <= SPARE_MAX_BYTES {
                    chunk.clear();
                    // Full (enough spares) or closed: dropped.
                    let _ = back.try_send(chunk);
                }
                if was == len {
                    trim |= backlog >= TRIM_AFTER_BYTES;
                    backlog = 0;
                }
            }
        })?;
    Ok((
        Queued {
            buf: Vec::with_capacity(BUF_BYTES),
            tx,
            spare,
            shared: Arc::clone(&shared),
            direct: None,
        },
        Output { thread, shared },
    ))
}

impl Write for Queued {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    /// As a `Vec`'s: one copy (renderers write a line in many pieces).
    /// A buffer full at the end of a line goes at once: a storm's drain of
    /// thousands of records otherwise grew it to megabytes, each growth a
    /// copy of all of it, and the spares would not keep it.
    /// Inline: a raw line is some forty pieces, each a call otherwise.
    #[inline]
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= FULL_BYTES && b.last() == Some(&b'\n') {
            self.flush()?;
        }
        Ok(())
    }

    /// Never blocks: the buffer is written at once (what the fd takes
    /// without waiting, while nothing is queued), the rest joins the
    /// queue, or its lines are counted as dropped when the queue is full
    /// (or stdout is gone).
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.shared.closed() {
            self.buf.clear();
            return Ok(());
        }
        let mut cut = false;
        if let Some(fd) = self.direct
            && self.shared.queued.load(Ordering::Acquire) == 0
        {
            match write_nowait(fd, &self.buf) {
                Ok(n) if n == self.buf.len() => {
                    self.buf.clear();
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.drain(..n);
                    cut = n > 0;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                // This file cannot be written without waiting (a
                // terminal, a regular file), or the kernel has no
                // pwritev2 / RWF_NOWAIT: the thread writes it all.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)
                    ) =>
                {
                    self.direct = None;
                }
                Err(e) => {
                    self.shared.closed.store(true, Ordering::Relaxed);
                    if let Ok(mut slot) = self.shared.error.lock() {
                        *slot = Some(e);
                    }
                    self.buf.clear();
                    return Ok(());
                }
            }
        }
        self.queue(cut);
        Ok(())
    }
}

impl Queued {
    /// The buffer to the thread; `cut`: it starts mid-line, after what was
    /// written at once, and is queued whatever the queue holds.
    fn queue(&mut self, cut: bool) {
        let s = &self.shared;
        let len = self.buf.len();
        if !cut
            && !s.unbounded.load(Ordering::Relaxed)
            && s.queued.load(Ordering::Relaxed) + len > QUEUE_BYTES
        {
            let lines = self.buf.iter().filter(|&&b| b == b'\n').count();
            s.dropped.fetch_add(lines as u64, Ordering::Relaxed);
            self.buf.clear();
            return;
        }
        s.queued.fetch_add(len, Ordering::Relaxed);
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUF_BYTES));
        let chunk = std::mem::replace(&mut self.buf, next);
        if self.tx.send(chunk).is_err() {
            s.queued.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

/// Write what `fd` takes without waiting (`pwritev2` with `RWF_NOWAIT`
/// at the current position): how many bytes.
fn write_nowait(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: one iovec over `buf`, which outlives the call; the kernel only reads it.
    let n = unsafe { libc::pwritev2(fd, &iov, 1, -1, libc::RWF_NOWAIT) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

impl Output {
    /// Everything queued has been written (the [`Queued`] must be dropped
    /// first: its end closes the queue).
    pub fn done(&self) -> bool {
        self.thread.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;
    use std::time::{Duration, Instant};

    /// A stdout that blocks until told to go on, then takes everything.
    struct Stalled(Receiver<()>, Arc<Mutex<Vec<u8>>>);

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            self.1.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stdout_never_blocks_and_what_does_not_fit_is_counted() {
        let (go, wait) = mpsc::channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (mut q, out) = queued(Stalled(wait, Arc::clone(&got))).unwrap();
        let line = [b'x'; 1023];
        let started = Instant::now();
        let n = 3 * QUEUE_BYTES / 1024;
        for _ in 0..n {
            q.write_all(&line).unwrap();
            q.write_all(b"\n").unwrap();
            q.flush().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "blocked");
        let dropped = out.shared.dropped_lines() as usize;
        assert!(dropped >= n / 2 && dropped < n, "{dropped} of {n}");
        // The end's report is queued whatever the size, then all is written.
        out.shared.unbounded();
        q.write_all(b"report\n").unwrap();
        q.flush().unwrap();
        drop(q);
        assert!(!out.done());
        for _ in 0..n {
            let _ = go.send(());
        }
        drop(go);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.done() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(out.done());
        let got = got.lock().unwrap();
        assert!(got.ends_with(b"report\n"));
        assert_eq!(got.len(), (n - dropped) * 1024 + 7);
    }

    fn pipe() -> (std::fs::File, std::fs::File) {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: room for the two fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: two new fds that nothing else owns.
        unsafe {
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        }
    }

    fn lines(n: usize) -> String {
        (0..n).map(|i| format!("{i:0100}\n")).collect()
    }

    /// A pipe with room takes the lines at once: the thread gets nothing.
    #[test]
    fn a_pipe_with_room_is_written_without_the_thread() {
        use std::os::fd::AsRawFd;
        let (r, w) = pipe();
        let thread_got = Arc::new(Mutex::new(Vec::new()));
        let (mut q, out) = queued(Recorder(Arc::clone(&thread_got))).unwrap();
        q.direct = Some(w.as_raw_fd());
        for line in lines(100).lines() {
            writeln!(q, "{line}").unwrap();
            q.flush().unwrap();
        }
        drop(q);
        while !out.done() {
            thread::sleep(Duration::from_millis(5));
        }
        drop(w);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut &r, &mut got).unwrap();
        assert_eq!(got, lines(100));
        assert!(thread_got.lock().unwrap().is_empty());
    }

    /// A full pipe: what it does not take goes through the thread, in
    /// order, and the tracer never waits.
    #[test]
    fn a_full_pipe_gets_the_rest_in_order_through_the_thread() {
        use std::os::fd::AsRawFd;
        let (r, w) = pipe();
        let fd = w.as_raw_fd();
        let (mut q, out) = queued(w).unwrap();
        q.direct = Some(fd);
        let want = lines(10_000);
        let started = Instant::now();
        for (i, line) in want.lines().enumerate() {
            writeln!(q, "{line}").unwrap();
            if i % 100 == 99 {
                q.flush().unwrap();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5), "blocked");
        assert!(out.shared.queued.load(Ordering::Relaxed) > 0);
        drop(q);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut &r, &mut got).unwrap();
        assert!(got == want, "{} bytes of {}", got.len(), want.len());
        assert_eq!(out.shared.dropped_lines(), 0);
    }

    /// A storm's drain renders thousands of lines before its flush: they
    /// leave in whole lines as the buffer fills, which never grows, and
    /// what a full queue drops is whole lines too.
    #[test]
    fn lines_between_flushes_leave_whole_from_a_buffer_that_never_grows() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (mut q, out) = queued(Recorder(Arc::clone(&got))).unwrap();
        let want = lines(20_000);
        for line in want.lines() {
            writeln!(q, "{line}").unwrap();
            assert_eq!(q.buf.capacity(), BUF_BYTES);
        }
        q.flush().unwrap();
        drop(q);
        while !out.done() {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(*got.lock().unwrap() == want.as_bytes());

        let (go, wait) = mpsc::channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (mut q, out) = queued(Stalled(wait, Arc::clone(&got))).unwrap();
        let n = 3 * QUEUE_BYTES / 101;
        for line in lines(n).lines() {
            writeln!(q, "{line}").unwrap();
        }
        q.flush().unwrap();
        drop(q);
        let dropped = out.shared.dropped_lines() as usize;
        assert!(dropped >= n / 2 && dropped < n, "{dropped} of {n}");
        drop(go);
        while !out.done() {
            thread::sleep(Duration::from_millis(5));
        }
        let got = got.lock().unwrap();
        assert_eq!(got.len(), (n - dropped) * 101);
        assert!(
            got.split(|&b| b == b'\n')
                .all(|l| l.len() == 100 || l.is_empty())
        );
    }

    struct Recorder(Arc<Mutex<Vec<u8>>>);

    impl Write for Recorder {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reader_that_went_away_closes_the_sink_quietly() {
        let (mut q, out) = queued(Gone).unwrap();
        q.write_all(b"line\n").unwrap();
        q.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !out.shared.closed() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(out.shared.closed());
        assert_eq!(out.shared.error(), None, "a broken pipe is no error");
        q.write_all(b"more\n").unwrap();
        q.flush().unwrap();
        assert_eq!(out.shared.dropped_lines(), 0, "nobody to lose them for");
    }
}
