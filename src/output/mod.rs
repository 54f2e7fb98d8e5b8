//! Provisional stub until the output module lands.
pub mod units {
    use chrono::{DateTime, Utc};
    pub fn human_size(bytes: u64) -> String {
        format!("{bytes} B")
    }
    pub fn human_size_precision(bytes: u64, _p: usize) -> String {
        format!("{bytes}B")
    }
    pub fn created_since(created: DateTime<Utc>, now: DateTime<Utc>) -> String {
        format!("{} seconds ago", (now - created).num_seconds())
    }
}
#[derive(Debug, thiserror::Error)]
#[error("bad format")]
pub struct FormatError;
pub struct ListFormat {
    pub default: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
}
pub fn render_list(
    _format: Option<&str>,
    _spec: &ListFormat,
    rows: &[serde_json::Value],
    _noheading: bool,
    _json: impl FnOnce() -> serde_json::Value,
) -> Result<String, FormatError> {
    Ok(rows.iter().map(|r| format!("{r}\n")).collect())
}
pub fn render_object(
    _format: Option<&str>,
    _data: &serde_json::Value,
    json: &serde_json::Value,
) -> Result<String, FormatError> {
    Ok(format!("{json:#}\n"))
}
