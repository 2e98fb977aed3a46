//! Signal dispositions the MTA contract needs: a failure must become an
//! exit code, never a death by signal.

/// Ignores SIGXFSZ. An MTA may run us under a file-size limit (Postfix's
/// `local` and `pipe` do); past it the kernel would kill the process
/// mid-transaction. Ignored, the write fails with `EFBIG` instead, the store
/// rolls back, and `process` exits 75 so the mail is kept and retried.
pub fn ignore_file_size_limit() {
    // SAFETY: setting a signal to SIG_IGN installs no handler code and is
    // done once, before any thread is started.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
