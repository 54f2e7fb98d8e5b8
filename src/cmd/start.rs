//! `start`: a created or exited container started again from its `spec.json`.

use crate::cmd::Context;

/// Starts the container with ID `id` (created or exited) with its monitor detached, and
/// returns once the container's command runs (or failed to start). `start` and `restart`
/// use it.
#[allow(dead_code)] // until start and restart call it (issue 5, in progress)
pub fn start_detached(_ctx: &Context, id: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "starting container {}: starting an existing container is not supported yet",
        crate::runtime::spec::short_id(id)
    )
}
