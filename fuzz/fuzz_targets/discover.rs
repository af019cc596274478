//! Whole-snapshot discovery: the input describes a small tree (paths and contents separated by
//! NUL bytes), so the fuzzer explores listings with hostile paths as well as hostile files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_discovery::{MemSnapshot, discover};

fuzz_target!(|data: &[u8]| {
    let mut snap = MemSnapshot::new();
    let mut parts = data.split(|b| *b == 0);
    while let (Some(path), Some(contents)) = (parts.next(), parts.next()) {
        let path = String::from_utf8_lossy(path);
        snap.add_file(&path, contents);
    }
    let d = discover(&snap);
    for p in &d.plugins {
        assert!(!p.selected_by_default || p.supported);
    }
    let _ = serde_json::to_string(&d);
});
