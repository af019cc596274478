//! Prints the discovery of a directory: `cargo run --example discover -- <dir> [--json]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| ".".into());
    let json = args.any(|a| a == "--json");
    let snap = match trove_discovery::DirSnapshot::open(std::path::Path::new(&dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{dir}: {e}");
            std::process::exit(2);
        }
    };
    let d = trove_discovery::discover(&snap);
    if json {
        println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
    } else {
        print!("{}", trove_discovery::render_summary(&d));
    }
}
