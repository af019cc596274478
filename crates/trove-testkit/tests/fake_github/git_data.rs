//! Repository content as GitHub serves it: ETag/304 on the branch head, trees equal to
//! `git ls-tree` (modes, SHAs, sizes), raw and base64 blobs, refs, renames and tarballs.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use trove_testkit::github::FakeGitHub;

use super::{bearer, get, git, mint, world};

#[tokio::test]
async fn etags_answer_304_without_spending_the_rate_limit() {
    let (gh, inst, repo) = world().await;
    let token = mint(&gh, inst).await;
    let sha_media = ("accept", "application/vnd.github.sha");
    let first = get(
        &gh,
        "/repos/acme/plugins/commits/main",
        bearer(&token),
        &[sha_media],
    )
    .await;
    assert_eq!(first.status, 200);
    let head = String::from_utf8(first.bytes.clone()).unwrap();
    assert_eq!(Some(head.clone()), gh.head(&repo, "main"));
    let etag = first.header("etag").to_owned();
    assert!(!etag.is_empty());
    let remaining: u32 = first.header("x-ratelimit-remaining").parse().unwrap();

    let again = get(
        &gh,
        "/repos/acme/plugins/commits/main",
        bearer(&token),
        &[sha_media, ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.bytes.is_empty());
    assert_eq!(
        again
            .header("x-ratelimit-remaining")
            .parse::<u32>()
            .unwrap(),
        remaining
    );

    let moved = gh.commit(
        &repo,
        "main",
        &[("README.md", Some(b"changed\n"))],
        "change",
    );
    let after = get(
        &gh,
        "/repos/acme/plugins/commits/main",
        bearer(&token),
        &[sha_media, ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(
        (
            after.status,
            String::from_utf8(after.bytes.clone()).unwrap()
        ),
        (StatusCode::OK, moved)
    );
    assert_eq!(
        after
            .header("x-ratelimit-remaining")
            .parse::<u32>()
            .unwrap(),
        remaining - 1
    );
    let recorded: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/commits/main"))
        .collect();
    assert_eq!(
        recorded.iter().map(|r| r.not_modified).collect::<Vec<_>>(),
        [false, true, false]
    );
}

#[tokio::test]
async fn trees_equal_git_ls_tree_and_blobs_come_raw_or_base64() {
    let gh = FakeGitHub::start().await;
    let inst = gh.add_installation("acme", "Organization", &[]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("plugins/one/skills/deep")).unwrap();
    std::fs::write(root.join("plugins/one/skills/deep/SKILL.md"), "deep\n").unwrap();
    std::fs::write(root.join("plugins/one/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        root.join("plugins/one/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("plugins/one/run.sh", root.join("link")).unwrap();
    let binary: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    std::fs::write(root.join("blob.bin"), &binary).unwrap();
    let repo = gh.repo_from_dir(inst, "acme/tree", root);
    // A submodule entry, written with plumbing since no fixture API makes one.
    let index = dir.path().join("scratch-index");
    let env = [("GIT_INDEX_FILE", index.as_path())];
    let base = gh.head(&repo, "main").unwrap();
    git(&repo.path, &["read-tree", &base], &env);
    git(
        &repo.path,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{base},vendor/sub"),
        ],
        &env,
    );
    let tree = git(&repo.path, &["write-tree"], &env).trim().to_owned();
    let ident = ["-c", "user.name=t", "-c", "user.email=t@t"];
    let commit = git(
        &repo.path,
        &[
            &ident[..],
            &["commit-tree", &tree, "-p", &base, "-m", "sub"],
        ]
        .concat(),
        &[],
    )
    .trim()
    .to_owned();
    git(&repo.path, &["update-ref", "refs/heads/main", &commit], &[]);

    let token = mint(&gh, inst).await;
    let git_commit = get(
        &gh,
        &format!("/repos/acme/tree/git/commits/{commit}"),
        bearer(&token),
        &[],
    )
    .await
    .json();
    assert_eq!(git_commit["tree"]["sha"], tree);
    assert_eq!(git_commit["parents"][0]["sha"], base);
    let commit_json = get(&gh, "/repos/acme/tree/commits/main", bearer(&token), &[])
        .await
        .json();
    assert_eq!(
        (
            commit_json["sha"].as_str(),
            commit_json["commit"]["tree"]["sha"].as_str()
        ),
        (Some(commit.as_str()), Some(tree.as_str()))
    );

    for (query, ls_args) in [
        ("?recursive=1", vec!["ls-tree", "-r", "-t", "-l"]),
        ("", vec!["ls-tree", "-l"]),
    ] {
        let listing = get(
            &gh,
            &format!("/repos/acme/tree/git/trees/{tree}{query}"),
            bearer(&token),
            &[],
        )
        .await
        .json();
        assert_eq!(listing["truncated"], false);
        let ours: Vec<String> = listing["tree"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let size = e["size"].as_u64().map_or("-".to_owned(), |s| s.to_string());
                format!(
                    "{} {} {} {}\t{}",
                    e["mode"].as_str().unwrap(),
                    e["type"].as_str().unwrap(),
                    e["sha"].as_str().unwrap(),
                    size,
                    e["path"].as_str().unwrap()
                )
            })
            .collect();
        let theirs: Vec<String> = git(
            &repo.path,
            &[&ls_args[..], &[commit.as_str()]].concat(),
            &[],
        )
        .lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            format!(
                "{}\t{path}",
                meta.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
        assert_eq!(ours, theirs, "{query}");
        if !query.is_empty() {
            for mode in [
                "100644 blob",
                "100755 blob",
                "120000 blob",
                "040000 tree",
                "160000 commit",
            ] {
                assert!(ours.iter().any(|l| l.starts_with(mode)), "{mode}");
            }
        }
    }

    let blob_sha = git(
        &repo.path,
        &["rev-parse", &format!("{commit}:blob.bin")],
        &[],
    )
    .trim()
    .to_owned();
    let path = format!("/repos/acme/tree/git/blobs/{blob_sha}");
    let json_blob = get(&gh, &path, bearer(&token), &[]).await.json();
    assert_eq!(
        (json_blob["encoding"].as_str(), json_blob["size"].as_u64()),
        (Some("base64"), Some(1000))
    );
    let content = json_blob["content"].as_str().unwrap();
    assert!(content.lines().all(|l| l.len() <= 60) && content.ends_with('\n'));
    assert_eq!(STANDARD.decode(content.replace('\n', "")).unwrap(), binary);
    let raw = get(
        &gh,
        &path,
        bearer(&token),
        &[("accept", "application/vnd.github.raw")],
    )
    .await;
    assert_eq!(raw.bytes, binary);
    assert_eq!(
        get(
            &gh,
            &format!("/repos/acme/tree/git/blobs/{}", "0".repeat(40)),
            bearer(&token),
            &[]
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn refs_resolve_and_unknown_ones_are_422() {
    let (gh, inst, repo) = world().await;
    let token = mint(&gh, inst).await;
    let sha_media = [("accept", "application/vnd.github.sha")];
    let feature = gh.commit(&repo, "feature/x", &[("skills/a/SKILL.md", None)], "drop a");
    let answer = get(
        &gh,
        "/repos/acme/plugins/commits/feature/x",
        bearer(&token),
        &sha_media,
    )
    .await;
    assert_eq!(String::from_utf8(answer.bytes).unwrap(), feature);
    let short = get(
        &gh,
        &format!("/repos/acme/plugins/commits/{}", &feature[..10]),
        bearer(&token),
        &sha_media,
    )
    .await;
    assert_eq!(String::from_utf8(short.bytes).unwrap(), feature);
    let tree = get(
        &gh,
        "/repos/acme/plugins/git/trees/feature?recursive=1",
        bearer(&token),
        &[],
    )
    .await;
    assert_eq!(
        tree.status, 404,
        "a name with a slash is not one path segment"
    );
    let listing = get(
        &gh,
        &format!("/repos/acme/plugins/git/trees/{feature}?recursive=1"),
        bearer(&token),
        &[],
    )
    .await
    .json();
    let paths: Vec<_> = listing["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["README.md"]);

    gh.delete_branch(&repo, "feature/x");
    for rev in [
        "feature/x",
        "nope",
        "0123456789012345678901234567890123456789",
    ] {
        let missing = get(
            &gh,
            &format!("/repos/acme/plugins/commits/{rev}"),
            bearer(&token),
            &sha_media,
        )
        .await;
        assert_eq!(missing.status, 422, "{rev}");
    }
    assert_eq!(
        get(
            &gh,
            "/repos/acme/nothing/commits/main",
            bearer(&token),
            &sha_media
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn renamed_repositories_redirect_and_tarballs_download() {
    let (gh, inst, repo) = world().await;
    let token = mint(&gh, inst).await;
    let renamed = gh.rename_repo(&repo, "acme/renamed");
    assert_eq!(
        (renamed.id, renamed.full_name.as_str()),
        (repo.id, "acme/renamed")
    );
    let moved = get(&gh, "/repos/acme/plugins/commits/main", bearer(&token), &[]).await;
    assert_eq!(moved.status, 301);
    let location = moved.header("location").to_owned();
    assert_eq!(
        location,
        format!("{}/repositories/{}/commits/main", gh.url(), repo.id)
    );
    let followed = get(&gh, &location, bearer(&token), &[]).await;
    assert_eq!(
        followed.json()["sha"].as_str(),
        gh.head(&renamed, "main").as_deref()
    );

    let tarball = get(&gh, "/repos/acme/renamed/tarball/main", bearer(&token), &[]).await;
    assert_eq!(tarball.status, 302);
    let archive = get(&gh, tarball.header("location"), None, &[]).await;
    assert_eq!(archive.status, 200);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &archive.bytes).unwrap();
    let listing = Command::new("tar")
        .arg("tzf")
        .arg(file.path())
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let short = &gh.head(&renamed, "main").unwrap()[..7];
    assert!(
        listing.contains(&format!("acme-renamed-{short}/skills/a/SKILL.md")),
        "{listing}"
    );
}
