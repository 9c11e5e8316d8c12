//! `fn main() {}`: what starting a Rust binary built like the hook costs (benchmark floor).

fn main() {}
