//! `attach`: this command's standard streams relayed to a running container through its
//! monitor's socket, until the container ends (its exit status is then this command's) or
//! the detach keys are typed.

use anyhow::Context as _;

use crate::cli::lifecycle::{AttachArgs, parse_detach_keys};
use crate::cmd::Context;
use crate::cmd::containers;
use crate::cmd::start::read_spec;
use crate::error::ExitStatus;
use crate::runtime::attach::{self, AttachOptions, ClientConfig, Frame, SessionEnd};
use crate::runtime::monitor;
use crate::runtime::spec;
use crate::store::LockMode;
use crate::store::containers::State;

pub fn run(ctx: &Context, args: &AttachArgs) -> anyhow::Result<ExitStatus> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    let store = ctx.open_store(LockMode::Shared, "attach")?;
    let views = containers::all(&store)?;
    let view = containers::find(&views, &args.container)?;
    if view.state != State::Running {
        anyhow::bail!(
            "you can only attach to running containers: container {} is {}",
            view.short_id(),
            view.state_name()
        );
    }
    let spec = read_spec(&store.containers().path(view.id()))?;
    drop(store);
    let paths = ctx.paths()?;
    let short = spec::short_id(&spec.id).to_string();
    let mut sock = attach::connect(&monitor::run_dir(&paths.runroot, &spec.id))
        .with_context(|| format!("attaching to container {short}: its monitor's socket"))?;
    let hello = AttachOptions {
        stdin: !args.no_stdin && spec.process.interactive,
        stdout: true,
        stderr: true,
    };
    attach::send(&mut sock, &Frame::Hello(hello))
        .with_context(|| format!("attaching to container {short}"))?;
    let cfg = ClientConfig {
        streams: hello,
        tty: spec.lifecycle.tty,
        detach_keys,
        sig_proxy: args.sig_proxy && !spec.lifecycle.tty,
    };
    let mut reports = Vec::new();
    let end = attach::relay(sock, attach::Decoder::default(), &cfg, |r| {
        reports.push(r.clone())
    })
    .with_context(|| format!("attaching to container {short}"))?;
    if end == SessionEnd::Detached {
        return Ok(ExitStatus::Success);
    }
    crate::cmd::run::outcome(&reports, &spec.process.args[0])
}
