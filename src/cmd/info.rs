//! `info` and `version`. Podman prints info as YAML and its templates use Go field names
//! (`{{.Store.GraphRoot}}`) while its JSON uses camelCase keys (`graphRoot`); each field here
//! is declared once with both names.

use serde_json::{Map, Value};

use crate::cli::FormatArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::oci::manifest;
use crate::output;
use crate::store::LockMode;

/// A value with a Go name (templates) and a JSON name (`--format json`, YAML).
struct Field(&'static str, &'static str, Node);

enum Node {
    Leaf(Value),
    Obj(Vec<Field>),
}

impl Node {
    fn go(&self) -> Value {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|Field(g, _, n)| (g.to_string(), n.go()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
    fn json(&self) -> Value {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|Field(_, j, n)| (j.to_string(), n.json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

fn leaf(v: impl Into<Value>) -> Node {
    Node::Leaf(v.into())
}

fn version_node() -> Node {
    Node::Obj(vec![
        Field("APIVersion", "APIVersion", leaf(env!("CARGO_PKG_VERSION"))),
        Field("Version", "Version", leaf(env!("CARGO_PKG_VERSION"))),
        Field("GoVersion", "GoVersion", leaf("")),
        Field("GitCommit", "GitCommit", leaf("")),
        Field("BuiltTime", "BuiltTime", leaf("")),
        Field("Built", "Built", leaf(0)),
        Field(
            "OsArch",
            "OsArch",
            leaf(format!("linux/{}", manifest::host_arch())),
        ),
        Field("Os", "Os", leaf("linux")),
    ])
}

pub fn version(args: &FormatArgs) -> anyhow::Result<ExitStatus> {
    let node = Node::Obj(vec![Field("Client", "Client", version_node())]);
    let text = match args.format.as_deref() {
        None => format!(
            "Client:       coracle\nVersion:      {v}\nAPI Version:  {v}\nOS/Arch:      linux/{a}\n",
            v = env!("CARGO_PKG_VERSION"),
            a = manifest::host_arch()
        ),
        Some(f) => {
            output::render_object(Some(f), &node.go(), &node.json(), output::JsonStyle::LIST)?
        }
    };
    out(&text)?;
    Ok(ExitStatus::Success)
}

pub fn info(ctx: &Context, args: &FormatArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "info")?;
    let images = store.images().list()?.len();
    let paths = store.paths().clone();
    let euid = rustix::process::geteuid().as_raw();
    let uname = rustix::system::uname();
    let kernel = uname.release().to_string_lossy().into_owned();
    let hostname = uname.nodename().to_string_lossy().into_owned();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let config_file = crate::config::StorageConf::path(&crate::config::Env::process())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let node = Node::Obj(vec![
        Field(
            "Host",
            "host",
            Node::Obj(vec![
                Field("Arch", "arch", leaf(manifest::host_arch())),
                Field("BuildahVersion", "buildahVersion", leaf("")),
                Field("CgroupManager", "cgroupManager", leaf("cgroupfs")),
                Field("Hostname", "hostname", leaf(hostname)),
                Field("Kernel", "kernel", leaf(kernel)),
                Field(
                    "OCIRuntime",
                    "ociRuntime",
                    Node::Obj(vec![
                        Field("Name", "name", leaf("coracle")),
                        Field("Package", "package", leaf("")),
                        Field("Path", "path", leaf(exe)),
                        Field(
                            "Version",
                            "version",
                            leaf(format!("coracle version {}", env!("CARGO_PKG_VERSION"))),
                        ),
                    ]),
                ),
                Field("OS", "os", leaf("linux")),
                Field(
                    "Security",
                    "security",
                    Node::Obj(vec![Field("Rootless", "rootless", leaf(euid != 0))]),
                ),
            ]),
        ),
        Field(
            "Store",
            "store",
            Node::Obj(vec![
                Field("ConfigFile", "configFile", leaf(config_file)),
                Field(
                    "GraphDriverName",
                    "graphDriverName",
                    leaf(paths.driver.clone()),
                ),
                Field(
                    "GraphRoot",
                    "graphRoot",
                    leaf(paths.graphroot.display().to_string()),
                ),
                Field(
                    "ImageStore",
                    "imageStore",
                    Node::Obj(vec![Field("Number", "number", leaf(images))]),
                ),
                Field(
                    "RunRoot",
                    "runRoot",
                    leaf(paths.runroot.display().to_string()),
                ),
            ]),
        ),
        Field("Version", "version", version_node()),
    ]);
    let text = match args.format.as_deref() {
        None => yaml(&node.json(), 0),
        Some(f) => {
            output::render_object(Some(f), &node.go(), &node.json(), output::JsonStyle::LIST)?
        }
    };
    out(&text)?;
    Ok(ExitStatus::Success)
}

/// A small YAML writer for info's nested maps of scalars, as Podman prints it.
fn yaml(value: &Value, indent: usize) -> String {
    let pad = "  ".repeat(indent);
    let mut text = String::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            match v {
                Value::Object(inner) if !inner.is_empty() => {
                    text.push_str(&format!("{pad}{k}:\n"));
                    text.push_str(&yaml(v, indent + 1));
                }
                Value::Object(_) => text.push_str(&format!("{pad}{k}: {{}}\n")),
                Value::String(s) if s.is_empty() => text.push_str(&format!("{pad}{k}: \"\"\n")),
                Value::String(s) => text.push_str(&format!("{pad}{k}: {s}\n")),
                other => text.push_str(&format!("{pad}{k}: {other}\n")),
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_and_json_names_differ_where_podman_s_do() {
        let node = Node::Obj(vec![Field(
            "OCIRuntime",
            "ociRuntime",
            Node::Obj(vec![Field("Name", "name", leaf("x"))]),
        )]);
        assert_eq!(node.go(), json!({"OCIRuntime": {"Name": "x"}}));
        assert_eq!(node.json(), json!({"ociRuntime": {"name": "x"}}));
        assert_eq!(yaml(&node.json(), 0), "ociRuntime:\n  name: x\n");
    }
}
