use clap::Parser;

/// Campaign analytics query API. The HTTP service arrives with the query API
/// issue; the read model it will serve is in the library (`query_api::read`).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {}

fn main() -> anyhow::Result<()> {
    let _args = Args::parse();
    anyhow::bail!("the query API's HTTP service is not built yet (see the query API issue)")
}
