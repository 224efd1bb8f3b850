//! `orderflow`, the operator's tool: where is an order, what is on the topics, which dead
//! letters wait, where do the consumer groups stand.
//!
//! It reads the same layered settings as the services (`ORDERFLOW__KAFKA__*`,
//! `ORDERFLOW__REGISTRY__URL`, `ORDER__DATABASE__URL`, `PAYMENT__...`, `SHIPPING__...`), which
//! flags override, and defaults to the local stack of `make up`. Everything it decodes goes
//! through `platform`'s registry client and `schemas`' catalog, exactly as the services do.
//!
//! # Layout
//! - [`settings`]: connection settings (environment, then flags) and connecting with a
//!   deadline, so an unreachable Kafka, registry or database is an error naming its address.
//! - [`kafka`]: reading partitions by assignment (no consumer group, no commits), offsets for
//!   times, watermarks, topic discovery.
//! - [`record`]: one Kafka record decoded for display: headers, schema, value or the reason
//!   it could not be decoded.
//! - [`output`]: `--output table|json`, tables and progress bars.
//! - [`cmd`]: one file per subcommand.
//! - [`error`]: [`error::CliError`], what can go wrong, each naming what it concerns.

pub mod cmd;
pub mod error;
pub mod kafka;
pub mod output;
pub mod record;
pub mod settings;

use clap::{Parser, Subcommand};
pub use error::CliError;

/// Debug and operate orderflow: decode events, follow an order, manage consumer offsets and
/// dead letters.
#[derive(Debug, Parser)]
#[command(name = "orderflow", version)]
pub struct Cli {
    #[command(flatten)]
    pub connection: settings::ConnectionArgs,
    /// `table` (readable; the default on a terminal) or `json` (one JSON object per line; the
    /// default otherwise).
    #[arg(long, global = true, value_enum)]
    pub output: Option<output::Format>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and decode records of the contract topics and dead-letter topics.
    Events(cmd::events::EventsArgs),
    /// The whole story of one order: its events, read-model view, unpublished outbox rows,
    /// dead letters, and a verdict.
    Order(cmd::order::OrderArgs),
    /// Consumer groups' committed offsets, end offsets and lag; `offsets reset` moves a group.
    Offsets(cmd::offsets::OffsetsArgs),
    /// Dead letters: list, show, redrive.
    Dlq(cmd::dlq::DlqArgs),
    /// Rebuild the read model from the log into a shadow copy and compare it with the live one.
    Replay(cmd::replay::ReplayArgs),
}

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let out = output::Out::new(cli.output);
    let settings = settings::Settings::load(&cli.connection)?;
    match cli.command {
        Command::Events(args) => cmd::events::run(&settings, &out, args).await,
        Command::Order(args) => cmd::order::run(&settings, &out, args).await,
        Command::Offsets(args) => cmd::offsets::run(&settings, &out, args).await,
        Command::Dlq(args) => cmd::dlq::run(&settings, &out, args).await,
        Command::Replay(args) => cmd::replay::run(&settings, &out, args).await,
    }
}
