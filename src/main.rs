//! The `hangscan` binary: parse arguments, run, exit with the status.

use clap::Parser;

fn main() {
    let args = hangscan::cli::Args::parse();
    std::process::exit(hangscan::app::run(args.into_config()));
}
