//! The `system` command group.

mod check;
pub mod df;
mod doctor;
pub mod prune;
mod reset;

use crate::cli::system::SystemCommand;
use crate::cmd::Context;
use crate::error::ExitStatus;

pub fn run(ctx: &Context, command: &SystemCommand) -> anyhow::Result<ExitStatus> {
    match command {
        SystemCommand::Doctor(a) => doctor::run(ctx, a),
        SystemCommand::Check(a) => check::run(ctx, a),
        SystemCommand::Reset(a) => reset::run(ctx, a),
        SystemCommand::Events(a) => crate::cmd::events::run(ctx, a),
        SystemCommand::Df(a) => df::run(ctx, a),
        SystemCommand::Prune(a) => prune::run(ctx, a),
    }
}
