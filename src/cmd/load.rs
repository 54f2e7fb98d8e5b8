//! `load` and `import`.

use std::io::IsTerminal;

use anyhow::{Context as _, bail};

use crate::cli::{ImportArgs, LoadArgs};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::events::Event;
use crate::oci::reference;
use crate::store::LockMode;
use crate::transfer::import::{self, ImportOptions};
use crate::transfer::load::{self, LoadSource};

pub fn load(ctx: &Context, args: &LoadArgs) -> anyhow::Result<ExitStatus> {
    let source = LoadSource::parse(args.input.as_deref());
    if source == LoadSource::Stdin && std::io::stdin().is_terminal() {
        bail!("cannot read from terminal, use command-line redirection or the --input flag");
    }
    let what = args.input.clone().unwrap_or_else(|| "stdin".into());
    let mut store = ctx.open_store(LockMode::Shared, "load")?;
    let loaded = load::load(&mut store, &source).with_context(|| format!("loading {what}"))?;
    // Podman prints these even with -q, which only silences progress.
    let mut text = String::new();
    for l in &loaded {
        store
            .events()
            .record(&Event::image("loadFromArchive", l.record.id.hex(), &what));
        if l.names.is_empty() {
            text.push_str(&format!("Loaded image: {}\n", l.record.id));
        }
        for n in &l.names {
            text.push_str(&format!("Loaded image: {n}\n"));
        }
    }
    out(&text)?;
    Ok(ExitStatus::Success)
}

pub fn import(ctx: &Context, args: &ImportArgs) -> anyhow::Result<ExitStatus> {
    let name = match &args.reference {
        Some(r) => Some(
            reference::normalize_local(r)
                .with_context(|| format!("importing as {r}"))?
                .to_string(),
        ),
        None => None,
    };
    let opts = ImportOptions {
        name,
        changes: args.changes.clone(),
        message: args.message.clone(),
        created: None,
    };
    let mut store = ctx.open_store(LockMode::Shared, "import")?;
    let record = if args.file == "-" {
        if std::io::stdin().is_terminal() {
            bail!("cannot read from terminal, use command-line redirection");
        }
        import::import(&mut store, std::io::stdin().lock(), "stdin", &opts)
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?;
        import::import(
            &mut store,
            std::io::BufReader::with_capacity(1 << 20, file),
            &args.file,
            &opts,
        )
    }
    .with_context(|| format!("importing {}", args.file))?;
    let name = record.names.first().cloned().unwrap_or_default();
    store
        .events()
        .record(&Event::image("import", record.id.hex(), &name));
    out(&format!("{}\n", record.id))?;
    Ok(ExitStatus::Success)
}
