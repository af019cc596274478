//! The `trove` command. Everything lives in the library so tests can link it.

fn main() -> std::process::ExitCode {
    trove::cli::main()
}
