//! Stand-alone load generator, for use before `openrtmp bench` exists (and by
//! `bench/compare.sh`): `cargo run --release -p openrtmp-bench --example loadgen -- --help`.

use clap::Parser;
use openrtmp_bench::BenchArgs;

/// RTMP load generator (same flags as `openrtmp bench`).
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the load generator is meant to be measured on one core (taskset).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(openrtmp_bench::run(cli.args))
}
