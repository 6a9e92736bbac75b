//! The crate's only `unsafe` code: two libc calls the standard library does not wrap.
//!
//! Kept here, behind safe functions, rather than behind a crate: no maintained crate
//! offers `malloc_trim`, and one `getrlimit`/`setrlimit` pair does not justify another
//! dependency. The crate denies `unsafe_code`; this module alone allows it.
//!
//! Safety argument, for every block below: each call takes plain integers or a pointer
//! to a `libc::rlimit` that lives on our stack for the whole call and that the kernel
//! only reads or fills in; none keeps a pointer past its return, none touches memory
//! Rust owns otherwise, and all are thread-safe (`malloc_trim` takes glibc's arena locks).
#![allow(unsafe_code)]

/// The open-files limit after [`raise_open_files_limit`]: `before` and `now` are soft
/// limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub before: libc::rlim_t,
    pub now: libc::rlim_t,
}

/// Raise the soft open-files limit (`RLIMIT_NOFILE`) to the hard limit, as Go programs
/// such as dockerd do. `None` when the limit cannot be read.
pub fn raise_open_files_limit() -> Option<OpenFiles> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: see the module documentation; `lim` outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above; the kernel only reads `lim`.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            lim.rlim_cur = before;
        }
    }
    Some(OpenFiles {
        before,
        now: lim.rlim_cur,
    })
}

/// Give the memory glibc's allocator holds free back to the system (`malloc_trim(0)`).
/// `Some(released)` with glibc, `None` elsewhere.
pub fn release_free_memory() -> Option<bool> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: see the module documentation; no arguments but an integer.
        Some(unsafe { libc::malloc_trim(0) } != 0)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let raised = raise_open_files_limit().expect("RLIMIT_NOFILE is readable");
        assert!(raised.now >= raised.before);
        // A second call finds the soft limit already at the hard one.
        let again = raise_open_files_limit().unwrap();
        assert_eq!(again.before, again.now);
        assert_eq!(again.now, raised.now);
    }

    #[test]
    fn releasing_memory_is_harmless() {
        let v: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 << 10]).collect();
        drop(v);
        let released = release_free_memory();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(released.is_some());
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        assert!(released.is_none());
    }
}
