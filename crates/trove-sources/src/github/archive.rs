//! A snapshot's files from one tarball instead of one request per blob.
//!
//! A cold import reads nearly every file of a repository. Through the blobs API that is one
//! request per file: 10,000 for a 10,000-file repository, twice an installation's hourly rate
//! limit. So once a snapshot has read [`ARCHIVE_AFTER_BLOBS`] blobs one by one, and its listing
//! names at least [`ARCHIVE_MIN_BLOBS`] files, its reader downloads the commit's tarball once
//! (`GET .../tarball/{sha}`, which GitHub redirects to a download link) and answers the remaining
//! reads from it. A run that reads only a few files (a push that changed a few) never downloads it.
//!
//! Files are matched by content, never by path: the git blob id of each archived file is
//! computed, and the file is kept only when the listing names that id. A file whose archived bytes
//! differ from its blob (`export-subst`, line endings converted by `.gitattributes`) or that the
//! archive leaves out (`export-ignore`) is then simply not found, and is read through the blobs
//! API; names inside the archive (its top folder, long-name records) are never interpreted.
//!
//! Bounded: the listed files must fit in [`GitHubSourceLimits::archive_bytes`] (else the blobs
//! API serves them all), the download is cut at twice that, and unpacking stops after eight times
//! that many bytes, so a hostile archive costs bounded memory and time. Any failure falls back to
//! the blobs API; none fails a read.
//!
//! [`GitHubSourceLimits::archive_bytes`]: super::config::GitHubSourceLimits::archive_bytes

use std::collections::{HashMap, HashSet};
use std::io::Read;

use trove_discovery::{Entry, EntryKind};

use super::api::encode_segment;
use super::app::GitHubApp;

/// Blobs read one by one from a snapshot before its tarball is fetched.
pub(crate) const ARCHIVE_AFTER_BLOBS: usize = 16;

/// Fewest listed files for which the tarball is worth fetching.
pub(crate) const ARCHIVE_MIN_BLOBS: usize = 64;

/// The files of a listing the archive may serve: their blob ids, and how many bytes they hold.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    ids: HashSet<String>,
    bytes: u64,
}

impl Wanted {
    /// The regular files of `entries` no larger than `max_blob_bytes` (larger ones are never read).
    pub(crate) fn of(entries: &[Entry], max_blob_bytes: u64) -> Self {
        let mut wanted = Wanted::default();
        for entry in entries {
            if entry.kind != EntryKind::Blob || entry.size > max_blob_bytes {
                continue;
            }
            if let Some(id) = &entry.oid
                && wanted.ids.insert(id.to_ascii_lowercase())
            {
                wanted.bytes += entry.size;
            }
        }
        wanted
    }

    /// How many distinct files.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// How many bytes they hold together.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Where the tarball of commit `sha` of `repo` is asked for. Any media type: GitHub answers with
/// a redirect to a download link, which sends the gzipped tar.
pub(crate) fn tarball_url(app: &GitHubApp, repo: &str, sha: &str) -> String {
    format!(
        "{}/repos/{repo}/tarball/{}",
        app.api_url(),
        encode_segment(sha)
    )
}

/// The files of gzipped tar `archive` that `wanted` names, by blob id. Reads at most
/// `max_unpacked` bytes of file content; a file over `max_file` bytes is passed over.
pub(crate) fn unpack(
    archive: &[u8],
    wanted: &Wanted,
    max_file: u64,
    max_unpacked: u64,
) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut files = HashMap::with_capacity(wanted.len());
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut unpacked = 0u64;
    let entries = tar.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let size = entry.size();
        if size > max_file {
            continue;
        }
        unpacked += size;
        if unpacked > max_unpacked {
            break;
        }
        // The header's size is the archive's word: read no more than it, and drop a short file.
        let mut data = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut data)
            .map_err(|e| e.to_string())?;
        if data.len() as u64 != size {
            continue;
        }
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, &data)
            .map_err(|e| e.to_string())?
            .to_hex()
            .to_string();
        if wanted.ids.contains(&id) {
            files.insert(id, data);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_id(data: &[u8]) -> String {
        gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
            .unwrap()
            .to_hex()
            .to_string()
    }

    fn entry(path: &str, data: &[u8]) -> Entry {
        Entry {
            path: path.to_owned(),
            kind: EntryKind::Blob,
            size: data.len() as u64,
            mode: 0o100_644,
            link_target: None,
            oid: Some(blob_id(data)),
        }
    }

    fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn files_are_matched_by_content_not_by_name() {
        let listed = [
            entry("a.md", b"alpha"),
            entry("b.md", b"beta"),
            entry("c.md", b"gamma"),
        ];
        let wanted = Wanted::of(&listed, 1 << 20);
        assert_eq!((wanted.len(), wanted.bytes()), (3, 14));
        let archive = tarball(&[
            // Any top folder and any name: only the content counts.
            ("acme-plugins-abc1234/elsewhere/a.md", b"alpha"),
            ("acme-plugins-abc1234/b.md", b"beta, converted on export"),
            ("acme-plugins-abc1234/unlisted.md", b"not in the listing"),
        ]);
        let files = unpack(&archive, &wanted, 1 << 20, 1 << 20).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[&blob_id(b"alpha")], b"alpha");
    }

    #[test]
    fn unpacking_is_bounded() {
        let big = vec![b'x'; 5000];
        let listed = [entry("big", &big), entry("small", b"small")];
        let wanted = Wanted::of(&listed, 1 << 20);
        let archive = tarball(&[("t/big", &big), ("t/small", b"small")]);
        // A file over the per-file limit is passed over.
        let files = unpack(&archive, &wanted, 4096, 1 << 20).unwrap();
        assert_eq!(files.len(), 1);
        // Past the total, unpacking stops.
        let files = unpack(&archive, &wanted, 1 << 20, 1000).unwrap();
        assert!(files.is_empty());
        // Files over the source's limit are not wanted at all.
        assert_eq!(Wanted::of(&listed, 4096).len(), 1);
    }

    #[test]
    fn a_damaged_archive_is_an_error_not_a_panic() {
        let wanted = Wanted::of(&[entry("a", b"a")], 1 << 20);
        assert!(unpack(b"not gzip at all", &wanted, 1 << 20, 1 << 20).is_err());
        let mut archive = tarball(&[("t/a", b"a")]);
        archive.truncate(archive.len() / 2);
        assert!(unpack(&archive, &wanted, 1 << 20, 1 << 20).is_err());
    }
}
