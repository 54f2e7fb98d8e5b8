//! User-facing output: the [`Printer`], Podman's tables and `--format` templates, JSON as
//! Podman writes it, and human-readable sizes and ages.
//!
//! Commands build their rows as `serde_json::Value` objects keyed by Podman's Go field names
//! (`ID`, `Repository`, `CreatedSince`...) and hand them to [`render_list`] or
//! [`render_object`]; the returned string goes to the [`Printer`]. Nothing here writes to a
//! terminal by itself.

pub mod filters;
mod gofmt;
mod gotmpl;
mod json;
mod printer;
mod table;
mod template;
mod units;

pub use json::{JsonStyle, to_json};
pub use printer::{Printer, eprint, is_broken_pipe};
pub use table::{TabWriter, align};
pub use template::{
    FormatError, ListFormat, is_json, normalize_format, render_inspect, render_list, render_object,
};
pub use units::{created_since, human_duration, human_size, human_size_precision};
