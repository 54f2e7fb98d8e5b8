//! The `system` command group.

mod doctor;

use crate::cli::system::SystemCommand;
use crate::cmd::Context;
use crate::error::ExitStatus;

pub fn run(ctx: &Context, command: &SystemCommand) -> anyhow::Result<ExitStatus> {
    match command {
        SystemCommand::Doctor(a) => doctor::run(ctx, a),
    }
}
