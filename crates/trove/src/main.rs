//! The `trove` command. Everything lives in the library so tests can link it.

// A server that builds and drops many small strings per request and per listing: mimalloc's
// thread-local free lists cost a fraction of the system allocator's consolidation passes here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    trove::cli::main()
}
