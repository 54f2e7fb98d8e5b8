//! One file per command: arguments in, engine calls, output through `crate::output`.

mod attach;
mod auto_update;
mod build;
mod commit;
pub mod completion;
pub(crate) mod container_filter;
mod container_inspect;
mod container_prune;
pub(crate) mod containers;
pub(crate) mod control;
mod cp;
pub(crate) mod create;
mod diff;
mod events;
mod exec;
mod exists;
mod export;
pub(crate) mod generate;
mod healthcheck;
mod history;
mod images;
mod info;
mod inspect;
pub(crate) mod isolation;
mod kill;
pub(crate) mod kube;
mod load;
mod login;
mod logs;
mod manifest;
mod overlay;
mod pause;
pub(crate) mod pod;
mod port;
mod ps;
pub(crate) mod pull;
mod push;
mod quadlet;
mod rename;
mod restart;
pub(crate) mod rm;
mod rmi;
pub(crate) mod run;
mod save;
mod search;
pub(crate) mod start;
pub(crate) mod stop;
mod system;
mod tag;
mod top;
mod tree;
mod unshare;
pub(crate) mod volume;
mod wait;

use std::io::Write;

use anyhow::Context as _;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand};
use crate::config::{self, StorageConf};
use crate::error::ExitStatus;
use crate::paths::{self, Overrides, StorePaths};
use crate::store::{LockMode, Store};

/// What every command needs from the global flags.
pub struct Context {
    pub flags: Overrides,
}

impl Context {
    pub fn new(cli: &Cli) -> Context {
        Context {
            flags: Overrides {
                root: cli.root.clone(),
                runroot: cli.runroot.clone(),
                driver: cli.storage_driver.clone(),
            },
        }
    }

    /// The store's paths from flags, coracle's storage.conf and the defaults.
    pub fn paths(&self) -> anyhow::Result<StorePaths> {
        let conf = StorageConf::load(&config::Env::process()).context("reading storage.conf")?;
        let conf = Overrides {
            root: conf.graphroot,
            runroot: conf.runroot,
            driver: conf.driver,
        };
        Ok(paths::resolve(&paths::Env::current(), &self.flags, &conf)?)
    }

    pub fn open_store(&self, mode: LockMode, purpose: &str) -> anyhow::Result<Store> {
        let paths = self.paths()?;
        let root = paths.graphroot.display().to_string();
        Store::open(paths, mode, purpose).with_context(|| format!("opening the store at {root}"))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let ctx = Context::new(&cli);
    if cli.version {
        out(&format!("coracle version {}\n", env!("CARGO_PKG_VERSION")))?;
        return Ok(ExitStatus::Success);
    }
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let help = Cli::command().render_help().to_string();
        out(&help)?;
        return Ok(ExitStatus::Code(ExitStatus::OWN_ERROR));
    };
    match command {
        Command::Images(a) => images::run(&ctx, &a),
        Command::Load(a) => load::load(&ctx, &a),
        Command::Pull(a) => pull::run(&ctx, &a),
        Command::Save(a) => save::run(&ctx, &a),
        Command::Push(a) => push::run(&ctx, &a),
        Command::Import(a) => load::import(&ctx, &a),
        Command::History(a) => history::run(&ctx, &a),
        Command::Diff(a) => diff::run(&ctx, &a),
        Command::Inspect(a) => inspect::run(&ctx, &a),
        Command::Tag(a) => tag::tag(&ctx, &a),
        Command::Untag(a) => tag::untag(&ctx, &a),
        Command::Rmi(a) => rmi::rmi(&ctx, &a),
        Command::Info(a) => info::info(&ctx, &a),
        Command::Version(a) => info::version(&a),
        Command::Run(a) => run::run(&ctx, &a),
        Command::Create(a) => create::run(&ctx, &a),
        Command::Events(a) => events::run(&ctx, &a),
        Command::Commit(a) => commit::run(&ctx, &a),
        Command::Build(a) => build::run(&ctx, &a),
        Command::Ps(a) => ps::run(&ctx, &a),
        Command::Rm(a) => rm::run(&ctx, &a),
        Command::Start(a) => start::run(&ctx, &a),
        Command::Attach(a) => attach::run(&ctx, &a),
        Command::Logs(a) => logs::run(&ctx, &a),
        Command::Exec(a) => exec::run(&ctx, &a),
        Command::Cp(a) => cp::run(&ctx, &a),
        Command::Export(a) => export::run(&ctx, &a),
        Command::Stop(a) => stop::run(&ctx, &a),
        Command::Kill(a) => kill::run(&ctx, &a),
        Command::Wait(a) => wait::run(&ctx, &a),
        Command::Restart(a) => restart::run(&ctx, &a),
        Command::Rename(a) => rename::run(&ctx, &a),
        Command::Top(a) => top::run(&ctx, &a),
        Command::Pause(a) => pause::pause(&ctx, &a),
        Command::Unpause(a) => pause::unpause(&ctx, &a),
        Command::Port(a) => port::run(&ctx, &a),
        Command::Container { command } => match command {
            ContainerCommand::List(a) => ps::run(&ctx, &a),
            ContainerCommand::Rm(a) => rm::run(&ctx, &a),
            ContainerCommand::Inspect(a) => inspect::container(&ctx, &a),
            ContainerCommand::Start(a) => start::run(&ctx, &a),
            ContainerCommand::Attach(a) => attach::run(&ctx, &a),
            ContainerCommand::Logs(a) => logs::run(&ctx, &a),
            ContainerCommand::Exec(a) => exec::run(&ctx, &a),
            ContainerCommand::Cp(a) => cp::run(&ctx, &a),
            ContainerCommand::Export(a) => export::run(&ctx, &a),
            ContainerCommand::Diff(a) => diff::container(&ctx, &a),
            ContainerCommand::Stop(a) => stop::run(&ctx, &a),
            ContainerCommand::Kill(a) => kill::run(&ctx, &a),
            ContainerCommand::Wait(a) => wait::run(&ctx, &a),
            ContainerCommand::Restart(a) => restart::run(&ctx, &a),
            ContainerCommand::Rename(a) => rename::run(&ctx, &a),
            ContainerCommand::Top(a) => top::run(&ctx, &a),
            ContainerCommand::Pause(a) => pause::pause(&ctx, &a),
            ContainerCommand::Unpause(a) => pause::unpause(&ctx, &a),
            ContainerCommand::Exists(a) => exists::run(&ctx, &a),
            ContainerCommand::Prune(a) => container_prune::run(&ctx, &a),
            ContainerCommand::Port(a) => port::run(&ctx, &a),
        },
        Command::Manifest { command } => manifest::run(&ctx, command),
        Command::Search(a) => search::run(&ctx, &a),
        Command::Login(a) => login::login(&a),
        Command::Logout(a) => login::logout(&a),
        Command::Unshare(a) => unshare::run(&ctx, &a),
        Command::System { command } => system::run(&ctx, &command),
        Command::Volume { command } => volume::run(&ctx, command),
        Command::Generate { command } => generate::run(&ctx, &command),
        Command::Quadlet(a) => quadlet::run(&a),
        Command::Pod { command } => pod::run(&ctx, &command),
        Command::Kube { command } => kube::run(&ctx, &command),
        Command::AutoUpdate(a) => auto_update::run(&ctx, &a),
        Command::Overlay(a) => overlay::run(&ctx, &a),
        Command::Healthcheck { command } => healthcheck::run(&ctx, &command),
        Command::HealthProbe(a) => healthcheck::probe(&a),
        Command::Completion(a) => completion::completion(&a),
        Command::GenerateMan(a) => completion::generate_man(&a),
        Command::Image { command } => match command {
            ImageCommand::List(a) => images::run(&ctx, &a),
            ImageCommand::Inspect(a) => inspect::run(&ctx, &a),
            ImageCommand::History(a) => history::run(&ctx, &a),
            ImageCommand::Build(a) => build::run(&ctx, &a),
            ImageCommand::Diff(a) => diff::run(&ctx, &a),
            ImageCommand::Tree(a) => tree::run(&ctx, &a),
            ImageCommand::Tag(a) => tag::tag(&ctx, &a),
            ImageCommand::Untag(a) => tag::untag(&ctx, &a),
            ImageCommand::Load(a) => load::load(&ctx, &a),
            ImageCommand::Pull(a) => pull::run(&ctx, &a),
            ImageCommand::Save(a) => save::run(&ctx, &a),
            ImageCommand::Push(a) => push::run(&ctx, &a),
            ImageCommand::Import(a) => load::import(&ctx, &a),
            ImageCommand::Rm(a) => rmi::rmi(&ctx, &a),
            ImageCommand::Prune(a) => rmi::prune(&ctx, &a),
            ImageCommand::Exists(a) => tag::exists(&ctx, &a),
        },
    }
}

/// Writes user output to stdout (a closed pipe is reported to `main`, which exits quietly).
pub fn out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}
