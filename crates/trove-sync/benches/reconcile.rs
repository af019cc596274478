//! Reconcile benchmarks (G7–G9); see the crate's tests for correctness.

fn main() {
    println!("reconcile benchmarks: not written yet");
}
