//! The C allocator's settings for this process.
//!
//! glibc's `malloc` maps blocks above a threshold (128 KiB at start) with `mmap` and returns
//! them to the system when freed, but each time a mapped block is freed it raises the
//! threshold to that block's size (up to 32 MiB). After the first picture-sized buffer is
//! freed, blocks of up to that size come from the heap arenas instead, and the codecs'
//! worker threads (libaom, x265, libde265, dav1d, the metric's scoring thread) each
//! allocate in an arena of their own, where freed memory stays resident and is not reused
//! by the other threads. An imageSlim search, which allocates and frees pictures and
//! encoders in turn, then holds far more than it uses: a 12 MP HEIC search used 129 MB at
//! its peak and held 270 MiB.
//!
//! `mogr` fixes the threshold at [`MMAP_THRESHOLD`] when it starts (which also stops the
//! raising), so large blocks are mapped and given back. Fixing it also fixes the trim
//! threshold (the free memory at the top of the heap that is kept rather than returned),
//! which glibc otherwise raises with the mmap threshold: left at 128 KiB it made the JPEG
//! searches 5% slower (the heap given back and faulted in again), so it is set to
//! [`TRIM_THRESHOLD`]. That 12 MP HEIC search then holds 192 MiB, the JPEG searches take the
//! time they took before. An operator who set either (`GLIBC_TUNABLES` with
//! `glibc.malloc.mmap_threshold` or `glibc.malloc.trim_threshold`, or the older
//! `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_`) keeps theirs. A program using the
//! `mogr` library chooses its own allocator settings (benches/README.md, "imageSlim memory:
//! HEIF grids and the allocator's thresholds", has the figures).

/// Blocks of this many bytes and more are mapped, and unmapped when freed.
pub(crate) const MMAP_THRESHOLD: usize = 2 << 20;
/// Free memory at the top of the heap up to this much is kept for the next allocations.
pub(crate) const TRIM_THRESHOLD: usize = 8 << 20;

/// Whether the environment sets glibc's mmap or trim threshold (`GLIBC_TUNABLES`, given as
/// the variable's value, or the older variables, `legacy` when either is set).
fn set_by_environment(tunables: Option<&str>, legacy: bool) -> bool {
    legacy
        || tunables.is_some_and(|t| {
            t.contains("glibc.malloc.mmap_threshold") || t.contains("glibc.malloc.trim_threshold")
        })
}

/// Fixes glibc's mmap and trim thresholds unless the environment sets them.
pub(crate) fn configure() {
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    let legacy = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some();
    if !set_by_environment(tunables.as_deref(), legacy) {
        set_thresholds();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() {
    // SAFETY: mallopt only changes malloc's parameters; it is called at the start of main,
    // before any thread of this program exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
    }
}

/// Other C libraries manage their heaps their own way.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_threshold_is_kept() {
        assert!(!set_by_environment(None, false));
        assert!(!set_by_environment(Some("glibc.malloc.arena_max=2"), false));
        assert!(set_by_environment(
            Some("glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"),
            false
        ));
        assert!(set_by_environment(
            Some("glibc.malloc.trim_threshold=1048576"),
            false
        ));
        assert!(set_by_environment(None, true));
    }
}
