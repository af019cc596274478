//! The `trove` binary's library: command-line interface, configuration and wiring.

pub mod cli;
pub mod config;
pub mod runtime;
