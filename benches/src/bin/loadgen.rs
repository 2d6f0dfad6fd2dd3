//! `loadgen`: generate campaign traffic, write its expected figures, produce
//! it to Kafka. See `loadgen --help` and `benches::loadgen`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use benches::loadgen::{self, Args};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let summary = loadgen::run(&args)?;
    println!("{summary}");
    Ok(())
}
