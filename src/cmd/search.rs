//! `search`: as Podman prints it (`NAME DESCRIPTION`, or `NAME TAG` with `--list-tags`), one
//! registry after another; a registry that fails is reported and skipped when another answered.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::cli::search::SearchArgs;
use crate::cmd::{Context, out};
use crate::config::Env;
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::registry::client::SearchResult;
use crate::registry::conf::RegistriesConf;
use crate::registry::connect;
use crate::registry::search::{self, DEFAULT_LIMIT, SearchFilter};

const SEARCH_FORMAT: ListFormat = ListFormat {
    default: "table {{.Name}}\t{{.Description}}",
    headers: &[],
    json: JsonStyle::LIST,
};

const TAGS_FORMAT: ListFormat = ListFormat {
    default: "table {{.Name}}\t{{.Tag}}",
    headers: &[],
    json: JsonStyle::LIST,
};

/// Podman cuts descriptions at this many characters unless `--no-trunc`.
const DESCRIPTION_MAX: usize = 44;

pub fn run(_ctx: &Context, args: &SearchArgs) -> anyhow::Result<ExitStatus> {
    let env = Env::process();
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    let (registry, term) = search::split_term(&args.term);
    let registries: Vec<String> = match registry {
        Some(r) => vec![r.to_string()],
        None => conf.search_registries().to_vec(),
    };
    if registries.is_empty() {
        bail!("no registries to search");
    }
    if args.list_tags {
        return list_tags(&env, args, registry, term);
    }
    let filter = SearchFilter::parse(&args.filters).map_err(anyhow::Error::msg)?;
    let limit = if args.limit > 0 {
        args.limit
    } else {
        DEFAULT_LIMIT
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for registry in &registries {
        let found = connect::registry_client(&env, &args.registry, registry)
            .map_err(anyhow::Error::from)
            .and_then(|client| Ok(search::search(&client, term, limit)?));
        match found {
            Ok(found) => rows.extend(
                found
                    .iter()
                    .filter(|r| filter.matches(r))
                    .map(|r| row(registry, r, args.no_trunc)),
            ),
            Err(e) => errors.push(e.context(format!("searching registry {registry:?}"))),
        }
    }
    if rows.is_empty()
        && let Some(first) = errors.into_iter().next()
    {
        return Err(first);
    }
    if rows.is_empty() {
        // Podman prints nothing at all, not even the header.
        return Ok(ExitStatus::Success);
    }
    let text = output::render_list(args.format.as_deref(), &SEARCH_FORMAT, &rows, false, || {
        Value::Array(rows.clone())
    })?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

fn row(registry: &str, r: &SearchResult, no_trunc: bool) -> Value {
    let mut description = r.description.replace('\n', " ");
    if !no_trunc && description.chars().count() > DESCRIPTION_MAX {
        description = description
            .chars()
            .take(DESCRIPTION_MAX)
            .collect::<String>()
            + "...";
    }
    let name = if registry == "docker.io" && !r.name.contains('/') {
        format!("docker.io/library/{}", r.name)
    } else {
        format!("{registry}/{}", r.name)
    };
    let ok = |b: bool| if b { "[OK]" } else { "" };
    json!({
        "Index": registry,
        "Name": name,
        "Description": description,
        "Stars": r.stars,
        "Official": ok(r.official),
        "Automated": ok(r.automated),
        "Tag": "",
    })
}

fn list_tags(
    env: &Env,
    args: &SearchArgs,
    registry: Option<&str>,
    term: &str,
) -> anyhow::Result<ExitStatus> {
    if !args.filters.is_empty() {
        bail!("filters are not applicable to list tags result");
    }
    let Some(registry) = registry else {
        bail!("reference {:?} must be a docker reference", args.term);
    };
    let reference = crate::oci::reference::normalize_docker(&args.term)
        .with_context(|| format!("reference {:?} must be a docker reference", args.term))?;
    let client = connect::registry_client(env, &args.registry, registry)?;
    let tags = client
        .tags(reference.path())
        .with_context(|| format!("listing the tags of {registry}/{term}"))?;
    let limit = if args.limit > 0 {
        args.limit.min(tags.len())
    } else {
        tags.len().min(DEFAULT_LIMIT)
    };
    let name = reference.name();
    let rows: Vec<Value> = tags[..limit]
        .iter()
        .map(|t| json!({"Index": "", "Name": name, "Description": "", "Stars": 0, "Official": "", "Automated": "", "Tag": t}))
        .collect();
    let text = output::render_list(
        args.format.as_deref(),
        &TAGS_FORMAT,
        &rows,
        false,
        || json!([{"Name": name, "Tags": tags[..limit]}]),
    )?;
    out(&text)?;
    Ok(ExitStatus::Success)
}
