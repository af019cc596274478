//! The GitHub App flow on both engines against the fake GitHub: install with proven ownership
//! (start → GitHub's redirect to the callback → bound account), every way a state or an
//! installation id can be misused, the repository list, target validation, and setup followed by
//! a reconcile that imports the repository's plugin through the GitHub REST API.

mod common;
#[path = "github_install/install.rs"]
mod install;
#[path = "github_install/repositories.rs"]
mod repositories;
#[path = "github_install/support.rs"]
mod support;
