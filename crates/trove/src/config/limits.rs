//! Bounds on what one repository read may cost (`TROVE_SYNC_*`, `TROVE_GIT_MAX_FETCH_SIZE`,
//! `TROVE_GITHUB_MAX_ARCHIVE_SIZE`).
//!
//! The defaults suit marketplaces of thousands of plugins; a monorepo larger than that needs them
//! raised, and a shared host may want them lowered. A read that hits a bound fails (timeout, fetch
//! size, file size: that file gets a warning) or is marked incomplete (file count), and an
//! incomplete listing never tombstones anything.

use std::time::Duration;

use clap::Args;

/// The bounds, as flags and environment variables.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Repository limits")]
pub struct SourceLimitSettings {
    /// Longest one repository read may take: resolving a branch, or fetching and listing a commit
    /// (`90s`, `5m`, `1h`; plain numbers are seconds).
    #[arg(long, env = "TROVE_SYNC_TIMEOUT", default_value = "2m", value_parser = trove_core::time::parse_duration, global = true)]
    pub sync_timeout: Duration,

    /// Most entries (files, folders, links) listed in one commit; past it the listing is
    /// incomplete, and nothing missing from it is deleted.
    #[arg(long, env = "TROVE_SYNC_MAX_FILES", default_value = "250000", value_parser = parse_count, global = true)]
    pub sync_max_files: usize,

    /// Largest file read from a repository (`512KiB`, `32MiB`, `1GiB`; plain numbers are bytes).
    /// A larger one is skipped with a warning.
    #[arg(long, env = "TROVE_SYNC_MAX_FILE_SIZE", default_value = "32MiB", value_parser = parse_size, global = true)]
    pub sync_max_file_size: u64,

    /// Most pack data one git fetch may download (`512MiB`, `4GiB`). A repository whose history
    /// at the branch is larger fails to sync with an error naming this setting.
    #[arg(long, env = "TROVE_GIT_MAX_FETCH_SIZE", default_value = "512MiB", value_parser = parse_size, global = true)]
    pub git_max_fetch_size: u64,

    /// Most bytes of listed files a GitHub snapshot reads from the commit's tarball, one download,
    /// instead of one blob request per file (`64MiB`, `1GiB`). A commit listing more reads every
    /// file through the blobs API, which costs a request each against the App's rate limit.
    #[arg(long, env = "TROVE_GITHUB_MAX_ARCHIVE_SIZE", default_value = "64MiB", value_parser = parse_size, global = true)]
    pub github_max_archive_size: u64,
}

impl SourceLimitSettings {
    /// The git source's limits.
    pub fn git(&self) -> trove_sources::GitLimits {
        trove_sources::GitLimits {
            timeout: self.sync_timeout,
            max_pack_bytes: self.git_max_fetch_size,
            max_entries: self.sync_max_files,
            max_blob_bytes: self.sync_max_file_size,
            ..trove_sources::GitLimits::default()
        }
    }

    /// The GitHub REST source's limits.
    pub fn github(&self) -> trove_sources::GitHubSourceLimits {
        trove_sources::GitHubSourceLimits {
            timeout: self.sync_timeout,
            max_entries: self.sync_max_files,
            max_blob_bytes: self.sync_max_file_size,
            archive_bytes: self.github_max_archive_size,
            ..trove_sources::GitHubSourceLimits::default()
        }
    }
}

/// A size such as `512KiB`, `32MiB`, `4GiB` (or `KB`, `MB`, `GB`, also powers of 1024, as git
/// counts them); a plain number is bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n = digits
        .parse::<u64>()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit (use KiB, MiB or GiB)"
            ));
        }
    };
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes == 0 {
        return Err("must be more than zero".into());
    }
    Ok(bytes)
}

/// A positive whole number (`_` may group digits: `1_000_000`).
fn parse_count(text: &str) -> Result<usize, String> {
    let digits: String = text.trim().chars().filter(|c| *c != '_').collect();
    match digits.parse::<usize>() {
        Ok(0) => Err("must be more than zero".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_in_powers_of_1024() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("32mb"), Ok(32 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1TiB").unwrap_err().contains("unknown unit"));
        assert!(
            parse_size("99999999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn counts_are_positive_whole_numbers() {
        assert_eq!(parse_count("250000"), Ok(250_000));
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("many").is_err());
    }

    #[test]
    fn the_defaults_are_the_sources_own() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            limits: SourceLimitSettings,
        }
        let cli = Cli::try_parse_from(["trove"]).unwrap();
        let (git, defaults) = (cli.limits.git(), trove_sources::GitLimits::default());
        assert_eq!(git.timeout, defaults.timeout);
        assert_eq!(git.max_pack_bytes, defaults.max_pack_bytes);
        assert_eq!(git.max_entries, defaults.max_entries);
        assert_eq!(git.max_blob_bytes, defaults.max_blob_bytes);
        let (github, defaults) = (
            cli.limits.github(),
            trove_sources::GitHubSourceLimits::default(),
        );
        assert_eq!(github.timeout, defaults.timeout);
        assert_eq!(github.max_entries, defaults.max_entries);
        assert_eq!(github.max_blob_bytes, defaults.max_blob_bytes);
        assert_eq!(github.archive_bytes, defaults.archive_bytes);

        let cli = Cli::try_parse_from([
            "trove",
            "--sync-timeout",
            "10m",
            "--sync-max-files",
            "1_000_000",
            "--sync-max-file-size",
            "64MiB",
            "--git-max-fetch-size",
            "4GiB",
            "--github-max-archive-size",
            "1GiB",
        ])
        .unwrap();
        let git = cli.limits.git();
        assert_eq!(git.timeout, Duration::from_secs(600));
        assert_eq!(git.max_entries, 1_000_000);
        assert_eq!(git.max_blob_bytes, 64 << 20);
        assert_eq!(git.max_pack_bytes, 4 << 30);
        assert_eq!(cli.limits.github().max_entries, 1_000_000);
        assert_eq!(cli.limits.github().archive_bytes, 1 << 30);
    }
}
