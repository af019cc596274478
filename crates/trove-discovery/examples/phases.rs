//! Times the phases of discovery over a folder (listing, discovery over the folder, discovery
//! over an in-memory copy): `cargo run --release --example phases -- <dir>`.
use std::time::Instant;
use trove_discovery::{DirSnapshot, EntryKind, MemSnapshot, Snapshot, discover};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let root = std::path::Path::new(&dir);
    for _ in 0..3 {
        let t = Instant::now();
        let snap = DirSnapshot::open(root).expect("open");
        let list = t.elapsed();
        let t = Instant::now();
        let d = discover(&snap);
        let disc = t.elapsed();
        let mut mem = MemSnapshot::new();
        for e in snap.entries() {
            if e.kind == EntryKind::Blob {
                mem.add_file(&e.path, snap.read(&e.path, usize::MAX).unwrap_or_default());
            }
        }
        let t = Instant::now();
        let d2 = discover(&mem);
        let cpu = t.elapsed();
        println!(
            "list {list:?}  discover(dir) {disc:?}  discover(mem) {cpu:?}  plugins {} {}",
            d.plugins.len(),
            d2.plugins.len()
        );
    }
}
