fn main() -> std::process::ExitCode {
    keep_large_allocations_mapped();
    chiiki::cli::main()
}

/// Large allocations (a layer's columns, a generation's views) are mmapped
/// and so go back to the operating system when freed. glibc would otherwise
/// raise its mmap threshold after the first large free and serve later ones
/// from heaps that never shrink, and a service that reloads its data all
/// day would keep every generation's memory.
fn keep_large_allocations_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's thresholds; it is called
    // before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
