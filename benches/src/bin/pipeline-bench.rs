//! `pipeline-bench`: end-to-end benchmarks of the processor (catch-up
//! against a bare consumer, recovery, scaling, freshness, alert latency,
//! query latency, dead letters). See `pipeline-bench --help` and `benches::e2e`.

use clap::Parser;

use benches::e2e::{self, Options};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = Options::parse();
    let args: Vec<String> = std::env::args().skip(1).collect();
    options.command_line = Some(
        format!("pipeline-bench {}", args.join(" "))
            .trim()
            .to_owned(),
    );
    let outcome = e2e::run(options).await?;
    println!("{}", outcome.markdown());
    if !outcome.errors.is_empty() {
        anyhow::bail!("{} scenario(s) failed", outcome.errors.len());
    }
    Ok(())
}
